/*
 * spawn.c - a child process on three pipes, with deadlines (see spawn.h).
 */
#include "spawn.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

double spawn_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int spawn_start(struct spawn *s, const char *const argv[])
{
	int pi[2], po[2], pe[2];
	memset(s, 0, sizeof(*s));
	s->fd_in = s->fd_out = s->fd_err = -1;
	/* a guest that powered off closes its stdin under our feet */
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(pi, O_CLOEXEC))
		return -errno;
	if (pipe2(po, O_CLOEXEC)) {
		int e = -errno;
		close(pi[0]), close(pi[1]);
		return e;
	}
	if (pipe2(pe, O_CLOEXEC)) {
		int e = -errno;
		close(pi[0]), close(pi[1]), close(po[0]), close(po[1]);
		return e;
	}
	s->t0 = spawn_now();
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(pi[0]), close(pi[1]), close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
		return e;
	}
	if (!pid) {
		if (dup2(pi[0], 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(120);
		syscall(SYS_close_range, 3u, ~0u, 0u);
		/* dies with the test process, even if that one crashes */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
			_exit(121);
		execve(argv[0], (char *const *)argv, environ);
		_exit(127);
	}
	close(pi[0]), close(po[1]), close(pe[1]);
	s->pid = pid;
	s->fd_in = pi[1];
	s->fd_out = po[0];
	s->fd_err = pe[0];
	return 0;
}

/* Appends to a buffer that keeps the newest SPAWN_CAP bytes. */
static void keep(char *buf, size_t *len, size_t *dropped, const char *d, size_t n)
{
	if (n > SPAWN_CAP) {
		*dropped += *len + n - SPAWN_CAP;
		d += n - SPAWN_CAP;
		n = SPAWN_CAP;
		*len = 0;
	} else if (*len + n > SPAWN_CAP) {
		size_t cut = *len + n - SPAWN_CAP;
		memmove(buf, buf + cut, *len - cut);
		*len -= cut;
		*dropped += cut;
	}
	memcpy(buf + *len, d, n);
	*len += n;
	buf[*len] = 0;
}

static void reap(struct spawn *s, int flags)
{
	if (!s->pid)
		return;
	pid_t r;
	do
		r = waitpid(s->pid, &s->status, flags);
	while (r < 0 && errno == EINTR);
	if (r == s->pid) {
		s->pid = 0;
		s->t_exit = spawn_now();
	}
}

/* One poll round of at most `ms`: reads what the pipes hold. */
static void pump(struct spawn *s, int ms)
{
	struct pollfd p[2] = { { .fd = s->fd_out, .events = POLLIN }, { .fd = s->fd_err, .events = POLLIN } };
	if (s->fd_out < 0 && s->fd_err < 0) {
		/* both pipes closed: only the exit is left to wait for */
		if (s->pid)
			usleep((useconds_t)(ms > 0 ? ms : 1) * 1000u);
		reap(s, WNOHANG);
		return;
	}
	if (poll(p, 2, ms) <= 0)
		return;
	char tmp[4096];
	for (int i = 0; i < 2; i++) {
		int *fd = i ? &s->fd_err : &s->fd_out;
		if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = read(*fd, tmp, sizeof(tmp));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			close_fd(fd);
			continue;
		}
		if (i)
			keep(s->err, &s->errlen, &s->dropped, tmp, (size_t)n);
		else
			keep(s->out, &s->outlen, &s->dropped, tmp, (size_t)n);
	}
}

static int done(const struct spawn *s)
{
	return s->fd_out < 0 && s->fd_err < 0 && !s->pid;
}

int spawn_wait_for(struct spawn *s, const char *needle, double secs)
{
	double deadline = spawn_now() + secs;
	for (;;) {
		if (strstr(s->out, needle))
			return 1;
		if (done(s))
			return 0;
		double left = deadline - spawn_now();
		if (left <= 0)
			return -1;
		pump(s, left > 0.2 ? 200 : (int)(left * 1000) + 1);
		if (s->fd_out < 0 && s->fd_err < 0)
			reap(s, WNOHANG);
	}
}

int spawn_wait_line(struct spawn *s, const char *needle, double secs, char *line, size_t n)
{
	double deadline = spawn_now() + secs;
	for (;;) {
		const char *p = strstr(s->out, needle);
		if (p && (strchr(p, '\n') || done(s))) {
			size_t k = strcspn(p, "\r\n");
			if (n) {
				k = k < n - 1 ? k : n - 1;
				memcpy(line, p, k);
				line[k] = 0;
			}
			return 1;
		}
		if (done(s))
			return 0;
		double left = deadline - spawn_now();
		if (left <= 0)
			return -1;
		pump(s, left > 0.2 ? 200 : (int)(left * 1000) + 1);
		if (s->fd_out < 0 && s->fd_err < 0)
			reap(s, WNOHANG);
	}
}

int spawn_type(struct spawn *s, const char *text)
{
	size_t n = strlen(text), off = 0;
	if (s->fd_in < 0)
		return -EPIPE;
	while (off < n) {
		ssize_t w = write(s->fd_in, text + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		off += (size_t)w;
	}
	return 0;
}

int spawn_wait_exit(struct spawn *s, double secs)
{
	double deadline = spawn_now() + secs;
	while (!done(s)) {
		if (spawn_now() >= deadline) {
			if (s->pid) {
				kill(s->pid, SIGKILL); /* our own child, by pid */
				s->killed = 1;
				reap(s, 0);
			}
			close_fd(&s->fd_out);
			close_fd(&s->fd_err);
			return -1;
		}
		pump(s, 200);
		if (s->fd_out < 0 && s->fd_err < 0)
			reap(s, WNOHANG);
	}
	return 0;
}

void spawn_end(struct spawn *s)
{
	if (s->pid) {
		kill(s->pid, SIGKILL);
		s->killed = 1;
		reap(s, 0);
	}
	close_fd(&s->fd_in);
	close_fd(&s->fd_out);
	close_fd(&s->fd_err);
}

const char *spawn_how(const struct spawn *s, char *buf, size_t n)
{
	if (s->pid)
		snprintf(buf, n, "still running");
	else if (s->killed)
		snprintf(buf, n, "killed at the test's deadline after %.0f s", s->t_exit - s->t0);
	else if (WIFEXITED(s->status))
		snprintf(buf, n, "exit %d after %.1f s", WEXITSTATUS(s->status), s->t_exit - s->t0);
	else if (WIFSIGNALED(s->status))
		snprintf(buf, n, "killed by signal %d after %.1f s", WTERMSIG(s->status), s->t_exit - s->t0);
	else
		snprintf(buf, n, "wait status %#x", s->status);
	return buf;
}

static size_t tail_of(char *dst, size_t room, const char *src, size_t len, size_t want)
{
	size_t from = len > want ? len - want : 0, k = 0;
	for (size_t i = from; i < len && k + 1 < room; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c == '\r')
			continue; /* the serial console's CRLF */
		dst[k++] = (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) ? (char)c : '.';
	}
	dst[k] = 0;
	return k;
}

const char *spawn_tail(const struct spawn *s, char *buf, size_t n)
{
	size_t half = n / 2, k;
	int w = snprintf(buf, n, "\n--- console (stdout), last bytes of %zu ---\n", s->outlen);
	k = w > 0 && (size_t)w < n ? (size_t)w : 0;
	k += tail_of(buf + k, n - k, s->out, s->outlen, half > 200 ? half - 200 : half);
	w = snprintf(buf + k, n - k, "\n--- cowvm stderr (%zu bytes) ---\n", s->errlen);
	k += w > 0 && (size_t)w < n - k ? (size_t)w : 0;
	k += tail_of(buf + k, n - k, s->err, s->errlen, n > k + 1 ? n - k - 1 : 0);
	return buf;
}

static struct spawn *test_child;

struct spawn *spawn_test_new(void)
{
	if (access("/dev/kvm", R_OK | W_OK))
		cr_skip_test("/dev/kvm is missing: cannot boot Linux under cowvm here");
	spawn_test_end();
	test_child = calloc(1, sizeof(*test_child));
	cr_assert_not_null(test_child);
	return test_child;
}

void spawn_test_end(void)
{
	if (test_child) {
		spawn_end(test_child);
		free(test_child);
		test_child = NULL;
	}
}
