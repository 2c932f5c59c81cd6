/*
 * sysprog_exec.c - sysprog_run: the calls of a parsed system-call program
 * through struct sysprog_sys, each first checked by the policy
 * (sysprog_check, documented in sysprog.h) that keeps a program from ending,
 * replacing, signalling or wrecking the agent that runs it. x86_64 numbers
 * (SYS_* of <sys/syscall.h>).
 */
#include <errno.h>
#include <sys/syscall.h>

#include "sysprog.h"

#if !defined(__x86_64__)
#error "sysprog programs carry x86_64 system-call numbers"
#endif

/* Argument values the policy names (uapi: asm-generic/mman-common.h,
 * linux/shm.h, asm-generic/fcntl.h, asm-generic/signal.h). */
#define POL_MAP_FIXED 0x10L
#define POL_SHM_REMAP 040000L
#define POL_F_SETSIG  10L
#define POL_SIGKILL   9L
#define POL_SIGSTOP   19L

/* Refused whatever the arguments: nr -> reason. */
static const char *always_refused(long nr)
{
	switch (nr) {
	case SYS_exit: case SYS_exit_group: case SYS_execve: case SYS_execveat:
	case SYS_fork: case SYS_vfork: case SYS_clone: case SYS_clone3:
		return "ends or replaces the agent";
	case SYS_kill: case SYS_tkill: case SYS_tgkill: case SYS_rt_sigqueueinfo:
	case SYS_rt_tgsigqueueinfo: case SYS_pidfd_send_signal: case SYS_rt_sigaction:
	case SYS_rt_sigprocmask: case SYS_rt_sigreturn: case SYS_sigaltstack: case SYS_pause:
	case SYS_rt_sigsuspend:
		return "signals or signal state";
	case SYS_munmap: case SYS_mremap: case SYS_mprotect: case SYS_pkey_mprotect:
	case SYS_madvise: case SYS_process_madvise: case SYS_brk: case SYS_remap_file_pages:
	case SYS_process_vm_writev:
		return "the agent's memory";
	case SYS_arch_prctl: case SYS_prctl: case SYS_seccomp: case SYS_personality:
	case SYS_setrlimit: case SYS_prlimit64: case SYS_unshare: case SYS_setns: case SYS_rseq:
	case SYS_iopl: case SYS_ioperm: case SYS_ptrace:
		return "the agent's process state";
	case SYS_reboot: case SYS_vhangup: case SYS_kexec_load: case SYS_kexec_file_load:
	case SYS_init_module: case SYS_finit_module: case SYS_delete_module:
		return "the machine";
	case SYS_io_uring_setup: case SYS_io_uring_enter: case SYS_io_uring_register:
		return "io_uring bypasses the policy";
	default:
		return NULL;
	}
}

/* fd as the kernel reads it (unsigned int) at or above fd_min. */
static bool reserved(long fd, long fd_min)
{
	return fd_min >= 0 && (unsigned long)(unsigned int)fd >= (unsigned long)fd_min;
}

const char *sysprog_check(long nr, const long args[SYSPROG_MAX_ARGS], long fd_min)
{
	const char *why = always_refused(nr);
	if (why)
		return why;
	switch (nr) {
	case SYS_mmap:
		return args[3] & POL_MAP_FIXED ? "MAP_FIXED over the agent's memory" : NULL;
	case SYS_shmat:
		return args[2] & POL_SHM_REMAP ? "SHM_REMAP over the agent's memory" : NULL;
	case SYS_fcntl:
		if (reserved(args[0], fd_min))
			return "reserved fd";
		if ((int)args[1] == POL_F_SETSIG &&
		    ((int)args[2] == POL_SIGKILL || (int)args[2] == POL_SIGSTOP))
			return "F_SETSIG with SIGKILL/SIGSTOP";
		return NULL;
	case SYS_close: case SYS_ioctl:
		return reserved(args[0], fd_min) ? "reserved fd" : NULL;
	case SYS_close_range:
		return reserved(args[1], fd_min) ? "reserved fd" : NULL;
	case SYS_dup2: case SYS_dup3:
		return reserved(args[1], fd_min) ? "reserved fd" : NULL;
	default:
		return NULL;
	}
}

void sysprog_args(const struct sysprog *p, unsigned i, const int64_t *results,
                  long args[SYSPROG_MAX_ARGS])
{
	const struct sysprog_call *c = &p->calls[i];
	for (unsigned a = 0; a < SYSPROG_MAX_ARGS; a++) {
		const struct sysprog_arg *x = &c->args[a];
		if (a >= c->nargs) {
			args[a] = 0;
			continue;
		}
		switch (x->kind) {
		case SYSPROG_ARG_INT:
			args[a] = (long)x->val;
			break;
		case SYSPROG_ARG_BUF:
		case SYSPROG_ARG_OUT:
			args[a] = (long)(uintptr_t)(p->data + x->off);
			break;
		case SYSPROG_ARG_RES: /* parse checked index < i */
			args[a] = x->val < i ? (long)results[x->val] : 0;
			break;
		default:
			args[a] = 0;
		}
	}
}

int sysprog_run(const struct sysprog *p, const struct sysprog_sys *sys, int64_t *results)
{
	int ran = 0;
	for (unsigned i = 0; i < p->ncalls && i < SYSPROG_MAX_CALLS; i++) {
		long args[SYSPROG_MAX_ARGS];
		sysprog_args(p, i, results, args);
		long nr = p->calls[i].nr;
		if (sysprog_check(nr, args, sys->fd_min)) {
			results[i] = -EPERM;
			continue;
		}
		results[i] = sys->call(sys->ctx, nr, args);
		ran++;
	}
	return ran;
}

long sysprog_raw_call(void *ctx, long nr, const long args[SYSPROG_MAX_ARGS])
{
	(void)ctx;
	register long r10 __asm__("r10") = args[3];
	register long r8 __asm__("r8") = args[4];
	register long r9 __asm__("r9") = args[5];
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(nr), "D"(args[0]), "S"(args[1]), "d"(args[2]), "r"(r10), "r"(r8),
	                   "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}
