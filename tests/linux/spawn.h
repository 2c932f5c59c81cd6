/*
 * spawn.h - run `cowvm` as a child with its stdin, stdout and stderr on
 * pipes, for the Linux-guest tests: wait for a string on the console
 * (stdout), type into the guest (stdin), wait for the exit status. Every
 * wait has a deadline; the child is killed (by its pid) when the deadline
 * passes or the test ends.
 */
#ifndef COWVM_TESTS_LINUX_SPAWN_H
#define COWVM_TESTS_LINUX_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#define SPAWN_CAP (256 * 1024) /* console bytes kept (the newest, when more arrive) */

struct spawn {
	pid_t pid;        /* 0 once reaped */
	int fd_in, fd_out, fd_err; /* our ends of the pipes, -1 when closed */
	int status;       /* waitpid status once reaped */
	int killed;       /* we killed it at a deadline */
	double t0;        /* start, seconds (CLOCK_MONOTONIC) */
	double t_exit;    /* when it was reaped */
	size_t outlen, errlen, dropped;
	char out[SPAWN_CAP + 1], err[SPAWN_CAP + 1];
};

double spawn_now(void);

/* Starts argv[0] with argv (NULL-terminated); the child has only the three
 * pipes open. Returns 0 or -errno. */
int spawn_start(struct spawn *s, const char *const argv[]);

/* Reads the child's output until `needle` is in stdout (returns 1), the
 * child has exited and its pipes are drained (0), or `secs` have passed
 * (-1; the child keeps running). */
int spawn_wait_for(struct spawn *s, const char *needle, double secs);

/* Like spawn_wait_for, but also waits for the end of the line holding
 * `needle` and copies that line (from `needle` to before its "\r\n") into
 * line[n]. Returns 1 found (the line may be cut short if the child exited),
 * 0 not found and the child exited, -1 time is up. */
int spawn_wait_line(struct spawn *s, const char *needle, double secs, char *line, size_t n);

/* Writes all of `text` to the child's stdin. Returns 0 or -errno. */
int spawn_type(struct spawn *s, const char *text);

/* Reads output until the child exits; kills it (SIGKILL) after `secs`.
 * Returns 0 if it exited by itself, -1 if it was killed. */
int spawn_wait_exit(struct spawn *s, double secs);

/* Kills a child still running and closes the pipes (idempotent). */
void spawn_end(struct spawn *s);

/* "exit 205", "killed by signal 9", "killed at the test's deadline"... */
const char *spawn_how(const struct spawn *s, char *buf, size_t n);

/* The last `n` bytes of stdout, then of stderr, for failure messages:
 * non-printable bytes as '.', so the text is safe to print. */
const char *spawn_tail(const struct spawn *s, char *buf, size_t n);

/* A Linux test's cowvm: one per test, killed when the test ends, failed or
 * not (TestSuite(..., .fini = spawn_test_end)). spawn_test_new skips the
 * test (visibly) when /dev/kvm is missing, and fails it if out of memory. */
struct spawn *spawn_test_new(void);
void spawn_test_end(void);

#endif
