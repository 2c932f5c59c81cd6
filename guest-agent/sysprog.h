/*
 * sysprog.h - parse and run a system-call program (abi/cowvm_sysprog.h, the
 * format; docs/sysprog.md). Pure C, no malloc, no libc beyond memcpy /
 * memset / snprintf: it builds into the static guest agent and natively
 * into the unit tests and the host tool.
 *
 *   sysprog.c       sysprog_parse: bytes -> struct sysprog (+ the data area)
 *   sysprog_exec.c  sysprog_run: the calls through struct sysprog_sys, under
 *                   the policy below
 *
 * Use (the fuzzing agent):
 *     static struct sysprog prog;
 *     uint8_t *data = <SYSPROG_DATA_MAX bytes, ideally with a PROT_NONE
 *                      guard page on each side>;
 *     int64_t res[SYSPROG_MAX_CALLS];
 *     if (sysprog_parse(in->data, in->len, SYSPROG_LENIENT, &prog, data, NULL, 0) == 0)
 *             sysprog_run(&prog, &sys, res);
 *
 * THE POLICY (sysprog_check). The agent runs a program in its own process
 * (no fork; the VM is reset after every input, so only the current input
 * matters). A call that would end, replace, stop or signal the agent, or
 * wreck its memory, signal state or file descriptors is refused: it does not
 * reach sys->call, its result is -EPERM, and sysprog_run does not count it.
 * Refused, whatever the arguments (x86_64 numbers, SYS_*):
 *   process end/replace: exit exit_group execve execveat fork vfork clone
 *     clone3
 *   signals: kill tkill tgkill rt_sigqueueinfo rt_tgsigqueueinfo
 *     pidfd_send_signal rt_sigaction rt_sigprocmask rt_sigreturn sigaltstack
 *     pause rt_sigsuspend
 *   memory: munmap mremap mprotect pkey_mprotect madvise process_madvise brk
 *     remap_file_pages process_vm_writev
 *   process state: arch_prctl prctl seccomp personality setrlimit prlimit64
 *     unshare setns rseq iopl ioperm (the agent's hypercall port access)
 *     ptrace
 *   machine: reboot vhangup kexec_load kexec_file_load init_module
 *     finit_module delete_module
 *   io_uring_setup io_uring_enter io_uring_register (its requests would
 *     close / replace fds and touch memory behind the policy's back)
 * Refused with these arguments:
 *   mmap with MAP_FIXED (0x10) in flags (arg 3): it would replace the
 *     agent's mappings (MAP_FIXED_NOREPLACE is allowed)
 *   shmat with SHM_REMAP (040000) in flags (arg 2)
 *   fcntl(fd, F_SETSIG, SIGKILL or SIGSTOP): a fd event would deliver it
 *   reserved fds (sys->fd_min: the agent keeps its own fds at >= fd_min;
 *   fd_min < 0: none reserved):
 *     close(fd) with fd >= fd_min
 *     close_range(first, last, flags) with last >= fd_min (as unsigned int)
 *     dup2(old, new) and dup3(old, new, flags) with new >= fd_min
 *     fcntl(fd, ...) and ioctl(fd, ...) with fd >= fd_min
 *   fd arguments are compared as the kernel reads them (unsigned int:
 *   close(-1) is fd 4294967295, refused when fd_min >= 0 like any fd past
 *   fd_min; the kernel would say EBADF anyway).
 * Not covered (the agent's setup or the VM's job): signals the kernel
 * raises itself (SIGPIPE, SIGIO, SIGALRM, SIGXFSZ...; the agent blocks
 * every blockable signal before running programs, and the policy keeps the
 * mask), hangs (the host's timeout), memory exhaustion, INT arguments that
 * happen to be addresses inside the agent (build it static-pie), and
 * anything done to the kernel itself (that is the point).
 */
#ifndef COWVM_SYSPROG_AGENT_H
#define COWVM_SYSPROG_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cowvm_sysprog.h"

enum sysprog_mode {
	SYSPROG_STRICT = 0,
	SYSPROG_LENIENT = 1,
};

struct sysprog_arg {
	uint8_t kind;       /* enum sysprog_arg_kind */
	uint16_t len;       /* BUF, OUT: bytes */
	uint32_t off;       /* BUF, OUT: offset in the data area */
	uint64_t val;       /* INT: the value; RES: the call index */
};

struct sysprog_call {
	uint16_t nr;
	uint8_t nargs;
	uint8_t flags;
	uint32_t pos;       /* byte offset of the record in the input */
	struct sysprog_arg args[SYSPROG_MAX_ARGS];
};

struct sysprog {
	unsigned ncalls;    /* calls parsed (LENIENT: the valid prefix) */
	unsigned declared;  /* the header's ncalls */
	size_t used;        /* input bytes consumed: header + the parsed records */
	size_t data_used;   /* bytes of the data area taken (aligned) */
	uint8_t *data;      /* the caller's data area (SYSPROG_DATA_MAX bytes) */
	struct sysprog_call calls[SYSPROG_MAX_CALLS];
};

/* Parses len bytes at buf into *p; BUF bytes are copied into `data` (at least
 * SYSPROG_DATA_MAX bytes, which p->data then points at) and OUT buffers are
 * zeroed there, as is the padding after each buffer (bytes past data_used
 * are left as they were). Returns:
 *   0            the program (STRICT: all of it; LENIENT: the valid prefix,
 *                p->ncalls calls, maybe 0)
 *   -EBADMSG     malformed (STRICT: anywhere; LENIENT: only a header shorter
 *                than 8 bytes or a bad magic)
 *   -EPROTO      a version other than SYSPROG_VERSION (both modes)
 * On an error p->ncalls is 0 (running it does nothing). err (errlen bytes,
 * may be NULL) gets a one-line reason, "offset N: problem"; in LENIENT mode
 * also for a parse that stopped early (with return 0), else "". */
int sysprog_parse(const uint8_t *buf, size_t len, enum sysprog_mode mode, struct sysprog *p,
                  uint8_t *data, char *err, size_t errlen);

/* How the calls are made. */
struct sysprog_sys {
	/* Makes system call nr with six arguments; returns what the raw
	 * syscall returns (negative errno on failure). Real: syscall(2)'s
	 * raw form; tests: a mock. */
	long (*call)(void *ctx, long nr, const long args[SYSPROG_MAX_ARGS]);
	void *ctx;
	/* The agent's own fds are >= fd_min (the policy's reserved fds);
	 * negative: none reserved. */
	long fd_min;
};

/* The real call: the x86_64 `syscall` instruction with nr and the six
 * arguments, returning the kernel's raw value (-errno on failure; no libc
 * errno). ctx is unused. */
long sysprog_raw_call(void *ctx, long nr, const long args[SYSPROG_MAX_ARGS]);

/* The policy for one call with its six argument values (as passed).
 * NULL: allowed; else a short reason ("ends the agent", "reserved fd", ...). */
const char *sysprog_check(long nr, const long args[SYSPROG_MAX_ARGS], long fd_min);

/* The six argument values of call i (BUF/OUT: addresses in p->data; RES:
 * results[index]; missing: 0). */
void sysprog_args(const struct sysprog *p, unsigned i, const int64_t *results,
                  long args[SYSPROG_MAX_ARGS]);

/* Runs p's calls in order; results[i] = call i's return value (refused:
 * -EPERM). results holds at least p->ncalls entries. Returns the number of
 * calls that reached sys->call (p->ncalls minus the refused ones). */
int sysprog_run(const struct sysprog *p, const struct sysprog_sys *sys, int64_t *results);

#endif
