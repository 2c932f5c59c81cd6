/*
 * test_fuzz_unit.c - the fuzz engine's pure parts (no KVM): kernel crash
 * reports found in console text, the status AFL gets for each way a run
 * ends, the reset modes and which guest each is for.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "fuzz.h"

static const char *report(const char *text, char *out, size_t n)
{
	return fuzz_report_line(text, strlen(text), out, n);
}

Test(fuzz_report, earliest_kernel_report_line_wins)
{
	char out[200];
	cr_assert_str_eq(report("boot\r\nfoo\r\nBUG: kernel NULL pointer dereference, address: 0\r\n"
	                        "Oops: 0002 [#1] SMP\r\nKernel panic - not syncing: Fatal exception\r\n",
	                        out, sizeof(out)),
	                 "BUG: kernel NULL pointer dereference, address: 0");
	cr_assert_str_eq(report("x\nWARNING: CPU: 0 PID: 1 at kernel/cowvm_bug.c:61 cowvm_bug_write+0x1/0x2\nBUG: y\n",
	                        out, sizeof(out)),
	                 "WARNING: CPU: 0 PID: 1 at kernel/cowvm_bug.c:61 cowvm_bug_write+0x1/0x2");
	cr_assert_str_eq(report("general protection fault, probably for non-canonical address", out, sizeof(out)),
	                 "general protection fault, probably for non-canonical address");
	cr_assert_str_eq(report("a\nkernel BUG at mm/slub.c:1!\n", out, sizeof(out)), "kernel BUG at mm/slub.c:1!");
	cr_assert_str_eq(report("UBSAN: shift-out-of-bounds in x.c:1:2\n", out, sizeof(out)),
	                 "UBSAN: shift-out-of-bounds in x.c:1:2");
}

Test(fuzz_report, not_a_report)
{
	char out[200] = "untouched";
	/* Words a program or a boot prints that are not the kernel's report
	 * shapes: no "WARNING: CPU: ", no "BUG: " with its space. */
	cr_assert_null(report("WARNING: something\nBUG:x\nOopsie\nKernel panic? no\ncowvm-agent: fuzz: ok\n", out,
	                      sizeof(out)));
	cr_assert_null(report("", out, sizeof(out)));
	cr_assert_str_eq(out, "untouched");
}

Test(fuzz_report, bounded_by_the_length_and_the_buffer)
{
	char out[8];
	const char text[] = "BUG: abcdefghij\nmore";
	cr_assert_str_eq(fuzz_report_line(text, strlen(text), out, sizeof(out)), "BUG: ab");
	/* The length, not the NUL, ends the text: a report cut by the
	 * console buffer ends with the text. */
	char big[32];
	cr_assert_str_eq(fuzz_report_line(text, 9, big, sizeof(big)), "BUG: abcd");
	cr_assert_null(fuzz_report_line(text, 4, big, sizeof(big)));
}

Test(fuzz_status, each_end_as_afl_sees_it)
{
	struct vm_result r = { .end = VM_END_EXIT, .status = 125 };
	cr_assert(WIFEXITED(fuzz_wait_status(&r)) && WEXITSTATUS(fuzz_wait_status(&r)) == 125);
	r.end = VM_END_REBOOT;
	cr_assert_eq(fuzz_wait_status(&r), SIGSEGV);
	r.end = VM_END_SHUTDOWN;
	cr_assert_eq(fuzz_wait_status(&r), SIGSEGV);
	r.end = VM_END_HALT;
	cr_assert_eq(fuzz_wait_status(&r), SIGABRT);
	r.end = VM_END_POWEROFF;
	cr_assert_eq(fuzz_wait_status(&r), SIGABRT);
	r.end = VM_END_ABORT;
	cr_assert_eq(fuzz_wait_status(&r), SIGABRT);
	r.end = VM_END_TIMEOUT;
	cr_assert_eq(fuzz_wait_status(&r), SIGKILL);
	r.end = VM_END_ERROR;
	cr_assert_eq(fuzz_wait_status(&r), SIGSYS);
}

Test(fuzz_modes, names_round_trip)
{
	const char *names[] = { "cow", "fresh", "copy", "boot" };
	for (int i = 0; i < 4; i++) {
		enum fuzz_reset m;
		cr_assert_eq(fuzz_parse_reset(names[i], &m), 0);
		cr_assert_str_eq(fuzz_reset_name(m), names[i]);
	}
	enum fuzz_reset m;
	cr_assert_eq(fuzz_parse_reset("Boot", &m), -EINVAL);
}

Test(fuzz_modes, each_guest_its_modes_and_defaults)
{
	static const char k[] = "not parsed here";
	struct vmm_err e;
	struct fuzz_config c = { .kernel = k, .kernel_len = sizeof(k) };
	cr_assert_eq(fuzz_config_resolve(&c, &e), 0, "%s", e.msg);
	cr_assert_eq(c.mem_size, 256ull << 20);
	cr_assert_eq(c.timeout_ms, 10000);
	cr_assert_eq(c.boot_timeout_ms, 600000);
	cr_assert_str_eq(c.cmdline, FUZZ_LINUX_CMDLINE);

	c = (struct fuzz_config){ .kernel = k, .kernel_len = sizeof(k), .reset = FUZZ_RESET_COPY };
	cr_assert_eq(fuzz_config_resolve(&c, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "reset mode copy is for guest-stub targets (a kernel: cow, fresh or boot)");
	c = (struct fuzz_config){ .kernel = k, .kernel_len = sizeof(k), .target = "parser" };
	cr_assert_eq(fuzz_config_resolve(&c, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "a kernel and a guest-stub target ('parser') cannot be fuzzed together");
	c = (struct fuzz_config){ .target = "parser", .reset = FUZZ_RESET_BOOT };
	cr_assert_eq(fuzz_config_resolve(&c, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "reset mode boot is for kernels (a guest-stub target: cow, fresh or copy)");
	c = (struct fuzz_config){ 0 };
	cr_assert_eq(fuzz_config_resolve(&c, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "nothing to fuzz: give a target or a kernel");
	c = (struct fuzz_config){ .target = "parser" };
	cr_assert_eq(fuzz_config_resolve(&c, &e), 0);
	cr_assert_eq(c.mem_size, 64ull << 20);
	cr_assert_eq(c.timeout_ms, 1000);
	cr_assert_null(c.cmdline);
}

static uint64_t sig(const char *text) { return fuzz_crash_signature(text, strlen(text)); }

Test(fuzz_report, crash_signature_is_the_kind_of_crash)
{
	const char *a = "x\nBUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	                "CPU: 0 PID: 28 Comm: cowvm-agent\nRIP: 0010:cowvm_bug_trigger+0x15/0x20\nmore\n";
	const char *b = "BUG: kernel NULL pointer dereference, address: 0000000000000008\r\n"
	                "CPU: 0 PID: 31 Comm: cowvm-agent\r\nRIP: 0010:cowvm_bug_trigger+0x19/0x20\r\n";
	const char *c = "BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	                "RIP: 0010:pipe_write+0x15/0x20\n";
	const char *d = "BUG: unable to handle page fault for address: ffffffff81234567\n"
	                "RIP: 0010:cowvm_bug_trigger+0x15/0x20\n";
	cr_assert_neq(sig(a), 0);
	cr_assert_eq(sig(a), sig(b), "the same crash at another address / PID / offset");
	cr_assert_neq(sig(a), sig(c), "another function");
	cr_assert_neq(sig(a), sig(d), "another report");
	cr_assert_eq(sig("no report here\nRIP: 0010:x+1\n"), 0);
	/* A RIP line cut by the end of the text: no read past it. */
	char cut[] = "BUG: x\nRIP: 0010:abcdef";
	cr_assert_neq(fuzz_crash_signature(cut, strlen(cut) - 3), fuzz_crash_signature(cut, strlen(cut)));
}
