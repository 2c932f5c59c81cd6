/*
 * agent_fuzz.c - `cowvm-agent fuzz`: the guest half of kernel fuzzing with
 * `cowvm fuzz-target --kernel` (docs/fuzzing.md, "Fuzzing the Linux kernel").
 *
 * Before the snapshot, once:
 *   1. check the info page (cowvm is there, it gave an AFL map: cov_size);
 *   2. KCOV for this thread: open /sys/kernel/debug/kcov, KCOV_INIT_TRACE
 *      with AGENT_KCOV_WORDS words, mmap the buffer, KCOV_ENABLE(TRACE_PC).
 *      It stays enabled: the snapshot holds it enabled, so no run pays the
 *      two ioctls, and KCOV records only this task's kernel code (not
 *      interrupts), so what the agent does between runs adds nothing;
 *   3. map the AFL map (cov_gpa, a memslot that is AFL's shared memory)
 *      from /dev/mem, write-back cached (no O_SYNC: it is memory, and the
 *      agent writes many bytes of it per run);
 *   4. close every fd it opened (KCOV keeps tracing, the mappings stay),
 *      point 0, 1 and 2 at /dev/null (a program's prints must not reach
 *      the console, where cowvm looks for kernel reports), and block every
 *      signal (a program's write to a closed pipe must not kill the agent
 *      with SIGPIPE). The policy still keeps programs off fds >= 900;
 *      the agent has none there by then;
 *   5. COWVM_HC_SNAPSHOT.
 * After it (in every clone, after every reset; also when the VMM takes no
 * snapshot, -ENOSYS, or runs on as the original, 0):
 *   6. the input buffer's struct cowvm_fuzz_input is parsed as a system-call
 *      program (sysprog.h, lenient: the longest valid prefix runs);
 *   7. KCOV's count is zeroed, the program runs, the PCs it collected become
 *      AFL edges in the map (agent_cov_edges). Page faults the program
 *      causes in the agent (its data area, the results) count as its
 *      coverage: the same after every reset;
 *   8. COWVM_HC_EXIT(0). A kernel oops ends the VM first (oops=panic,
 *      panic=-1: a reboot), which cowvm reports to AFL as a crash.
 */
#include "agent.h"
#include "sysprog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcov.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KCOV_PATH "/sys/kernel/debug/kcov"

static struct sysprog prog;                 /* large: not on the stack */
static uint8_t input[COWVM_IOBUF_SIZE];
static int64_t results[SYSPROG_MAX_CALLS];

static int fail(struct agent_ctx *c, const char *what, int err)
{
	fprintf(c->log, "cowvm-agent: fuzz: %s: %s\n", what, strerror(err));
	return AGENT_EXIT_FAIL;
}

int agent_cmd_fuzz(struct agent_ctx *c)
{
	struct cowvm_agent_info info;
	int r = agent_check_window(c, &info);
	if (r)
		return r;
	if (!info.cov_size || info.cov_size > COWVM_COVERAGE_MAX) {
		fprintf(c->log, "cowvm-agent: fuzz: cowvm gave no coverage map (cov_size %#" PRIx64 "): "
		                "run the guest with `cowvm fuzz-target --kernel`\n", info.cov_size);
		return AGENT_EXIT_FAIL;
	}
	if (info.in_size > sizeof(input))
		return fail(c, "input buffer larger than the agent's", EMSGSIZE);

	int kfd = open(KCOV_PATH, O_RDWR | O_CLOEXEC);
	if (kfd < 0)
		return fail(c, "cannot open " KCOV_PATH " (a kernel with CONFIG_KCOV and debugfs mounted)", errno);
	if (ioctl(kfd, KCOV_INIT_TRACE, (unsigned long)AGENT_KCOV_WORDS))
		return fail(c, "KCOV_INIT_TRACE", errno);
	volatile uint64_t *kcov = mmap(NULL, AGENT_KCOV_WORDS * sizeof(uint64_t), PROT_READ | PROT_WRITE,
	                               MAP_SHARED, kfd, 0);
	if (kcov == MAP_FAILED)
		return fail(c, "mmap of the KCOV buffer", errno);
	int mfd = open("/dev/mem", O_RDWR | O_CLOEXEC);
	if (mfd < 0)
		return fail(c, "cannot open /dev/mem for the coverage map", errno);
	volatile uint8_t *map = mmap(NULL, info.cov_size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd,
	                             (off_t)info.cov_gpa);
	if (map == MAP_FAILED)
		return fail(c, "mmap of the coverage map from /dev/mem", errno);
	/* The mapping holds the memory; the fd is not needed again. */
	close(mfd);
	/* Every blockable signal stays pending instead of ending the agent
	 * (the policy refuses rt_sigprocmask, so a program cannot unblock). */
	sigset_t all;
	sigfillset(&all);
	if (sigprocmask(SIG_BLOCK, &all, NULL))
		return fail(c, "blocking signals", errno);
	/* The programs' BUF/OUT area, a PROT_NONE page on each side. */
	uint8_t *area = mmap(NULL, SYSPROG_DATA_MAX + 2 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || mprotect(area + 4096, SYSPROG_DATA_MAX, PROT_READ | PROT_WRITE))
		return fail(c, "the program data area", errno);
	uint8_t *pdata = area + 4096;
	if (ioctl(kfd, KCOV_ENABLE, KCOV_TRACE_PC))
		return fail(c, "KCOV_ENABLE", errno);
	/* KCOV stays enabled for this task without its fd (the task and the
	 * mapping hold references); closed, no program can reach it. */
	close(kfd);
	fprintf(c->log, "cowvm-agent: fuzz: KCOV on (%u words), coverage map %#" PRIx64 " bytes; snapshot\n",
	        AGENT_KCOV_WORDS, info.cov_size);
	fflush(c->log);
	/* No fd of the agent stays open for a program to use: /dev/mem's is
	 * closed (both of its windows are mapped), and 0, 1 and 2 are
	 * /dev/null, so a program cannot print text that the host's console
	 * hook would read as a kernel report. */
	if (agent_devmem_close_fd(c->t))
		return fail(c, "/dev/mem's windows are not both mapped", EBUSY);
	int nul = open("/dev/null", O_RDWR);
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
		return fail(c, "stdin, stdout and stderr to /dev/null", errno);
	if (nul > 2)
		close(nul);

	int64_t s = agent_hc_snapshot(c->t);
	/* From here on every run starts: nothing may print (a console byte is
	 * an exit per byte) and nothing but the program may enter the kernel. */
	if (s < 0 && s != -ENOSYS)
		return fail(c, "the snapshot call", (int)-s);
	const uint8_t *data;
	size_t len;
	struct sysprog_sys sys = { .call = sysprog_raw_call, .ctx = NULL, .fd_min = AGENT_FD_RESERVED };
	int st = 0;
	if (agent_win_read(c->t, info.in_gpa, input, info.in_size) ||
	    agent_fuzz_input(input, info.in_size, &data, &len)) {
		st = AGENT_STATUS_NOEXEC; /* not cowvm's framing: say so in the status */
	} else {
		sysprog_parse(data, len, SYSPROG_LENIENT, &prog, pdata, NULL, 0);
		kcov[0] = 0;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		sysprog_run(&prog, &sys, results);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		uint64_t n = kcov[0];
		if (n > AGENT_KCOV_WORDS - 1)
			n = AGENT_KCOV_WORDS - 1;
		agent_cov_edges((const uint64_t *)kcov + 1, (size_t)n, map, info.cov_size);
	}
	agent_hc_exit(c->t, (unsigned)st);
	return st ? AGENT_EXIT_FAIL : AGENT_EXIT_OK;
}
