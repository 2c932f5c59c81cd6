/*
 * test_linux_fuzz_kernel.c - `cowvm run --kernel` boots the fuzzing kernel
 * of tools/fuzz_kernel.sh (Debian's linux-source-6.1, tinyconfig +
 * tests/linux/fuzz-kernel/fuzz.config: KCOV, no ACPI, no KASLR, and the
 * planted bug /proc/cowvm_bug) with the busybox initramfs of
 * tools/linux_guest.sh (init: tests/linux/init.sh), and checks:
 *   - kcov: the kernel reaches the init on cowvm's PC, has
 *     /sys/kernel/debug/kcov, the agent maps its window and doorbell from
 *     /dev/mem, and `reboot -f` ends cowvm with 205;
 *   - bug: "COW" then "!" written to /proc/cowvm_bug oopses the kernel in
 *     cowvm_bug_trigger, and `oops=panic panic=-1` resets the machine at
 *     once: cowvm exits 205 and the init never prints that it survived.
 *
 * Environment (tests/linux/meson.build): COWVM_BIN, LINUX_FUZZ_KERNEL,
 * LINUX_INITRD. Each test boots one kernel. These machines' KVM cannot run
 * a Linux kernel, so the suite ('linux') runs inside QEMU with nested KVM
 * (tools/qemu_test.sh).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cowvm_abi.h"
#include "spawn.h"

/* cowvm's own limit on the guest, and the test's limits around it. */
#define GUEST_TIMEOUT_MS "240000"
#define BOOT_SECS        250.0 /* until the marker */
#define STEP_SECS        60.0  /* one marker after the first */
#define EXIT_SECS        270.0 /* until cowvm exits, from the marker */
#define TEST_SECS        600   /* Criterion's limit for one test */
/* The fuzzing command line: `oops=panic panic=-1` turn any oops into an
 * immediate reset (the fuzzer's crash signal: cowvm exit 205); `nokaslr`
 * only documents it (the kernel is not relocatable); no `pci=off` (no PCI
 * in this kernel). */
#define FUZZ_CMDLINE     "console=ttyS0 quiet panic=-1 oops=panic nokaslr"
#define MARKER           "COWVM-LINUX-UP"
#define TAIL             6000

static const char *need_file(const char *var, const char *how)
{
	const char *p = getenv(var);
	if (!p || !*p)
		cr_assert_fail("%s is not set (run through meson test)", var);
	if (access(p, R_OK))
		cr_assert_fail("%s='%s' is missing: %s", var, p, how);
	return p;
}

TestSuite(linux_fuzz_kernel, .fini = spawn_test_end);

/* Starts `cowvm run --kernel FUZZ --initrd I --mem 256M --vcpus 1
 * --timeout T --cmdline "FUZZ_CMDLINE cowvm.test=ACTION"`. */
static struct spawn *boot(const char *action)
{
	struct spawn *s = spawn_test_new();
	static char cmdline[256];
	snprintf(cmdline, sizeof(cmdline), "%s cowvm.test=%s", FUZZ_CMDLINE, action);
	const char *const argv[] = {
		need_file("COWVM_BIN", "build cowvm first"), "run",
		"--kernel", need_file("LINUX_FUZZ_KERNEL", "run tools/fuzz_kernel.sh BUILD/linux-fuzz first"),
		"--initrd", need_file("LINUX_INITRD", "run tools/linux_guest.sh BUILD/linux-guest first"),
		"--mem", "256M", "--vcpus", "1", "--timeout", GUEST_TIMEOUT_MS,
		"--cmdline", cmdline, NULL
	};
	int rc = spawn_start(s, argv);
	cr_assert_eq(rc, 0, "cannot start cowvm: %s", strerror(-rc));
	return s;
}

/* Waits for the line holding `needle` (within `secs`) and checks it is
 * exactly `want`. */
static void expect_line(struct spawn *s, const char *action, const char *needle, const char *want, double secs)
{
	char line[256], how[128], tail[TAIL];
	int r = spawn_wait_line(s, needle, secs, line, sizeof(line));
	if (r != 1) {
		if (r < 0)
			spawn_wait_exit(s, 0); /* kills it: the tail shows how far it got */
		cr_assert_fail("cowvm.test=%s: no '%s' line on the console %s (cowvm %s)%s", action, needle,
		               r < 0 ? "in time" : "before cowvm exited", spawn_how(s, how, sizeof(how)),
		               spawn_tail(s, tail, sizeof(tail)));
	}
	cr_assert_str_eq(line, want, "cowvm.test=%s: line '%s', expected '%s'%s", action, line, want,
	                 spawn_tail(s, tail, sizeof(tail)));
	fprintf(stderr, "linux-fuzz-kernel: cowvm.test=%s: '%s' after %.1f s\n", action, want, spawn_now() - s->t0);
}

/* Waits for cowvm to exit and checks its status. */
static void expect_exit(struct spawn *s, const char *action, int code)
{
	char how[128], tail[TAIL];
	spawn_wait_exit(s, EXIT_SECS);
	spawn_how(s, how, sizeof(how));
	int ok = !s->killed && WIFEXITED(s->status) && WEXITSTATUS(s->status) == code;
	cr_assert(ok, "cowvm.test=%s: expected cowvm to exit %d, got: %s%s", action, code, how,
	          spawn_tail(s, tail, sizeof(tail)));
	fprintf(stderr, "linux-fuzz-kernel: cowvm.test=%s: %s, %zu console bytes\n", action, how, s->outlen);
}

/* The kernel boots on cowvm's PC without ACPI, KCOV's debugfs file is
 * there, the agent reaches cowvm through /dev/mem (the window in the ISA
 * hole mapped, and the doorbell at 64 GiB), and `reboot -f` resets through
 * the i8042: exit 205, no panic on the way. */
Test(linux_fuzz_kernel, boots_with_kcov_and_devmem, .timeout = TEST_SECS)
{
	char tail[TAIL];
	struct spawn *s = boot("kcov");
	expect_line(s, "kcov", MARKER, MARKER " cpus=1 test=kcov", BOOT_SECS);
	expect_line(s, "kcov", "COWVM-KCOV", "COWVM-KCOV ok", STEP_SECS);
	expect_line(s, "kcov", "COWVM-DEVMEM", "COWVM-DEVMEM mmap+doorbell", STEP_SECS);
	expect_exit(s, "kcov", COWVM_EXIT_REBOOT);
	cr_assert_null(strstr(s->out, "Kernel panic"), "cowvm.test=kcov: the guest kernel panicked%s",
	               spawn_tail(s, tail, sizeof(tail)));
}

/* The planted bug: the init arms /proc/cowvm_bug with "COW" and fires it
 * with "!". The NULL write in cowvm_bug_trigger oopses, oops=panic panics,
 * panic=-1 resets at once (exit 205), so the init's COWVM-BUG-SURVIVED
 * line never comes. */
Test(linux_fuzz_kernel, planted_bug_oopses_and_resets, .timeout = TEST_SECS)
{
	char tail[TAIL];
	struct spawn *s = boot("bug");
	expect_line(s, "bug", MARKER, MARKER " cpus=1 test=bug", BOOT_SECS);
	expect_exit(s, "bug", COWVM_EXIT_REBOOT);
	spawn_tail(s, tail, sizeof(tail));
	cr_assert_not_null(strstr(s->out, "BUG: kernel NULL pointer dereference, address: 0000000000000000"),
	                   "cowvm.test=bug: no NULL-dereference oops on the console%s", tail);
	cr_assert_not_null(strstr(s->out, "RIP: 0010:cowvm_bug_trigger+"),
	                   "cowvm.test=bug: the oops does not name cowvm_bug_trigger in RIP%s", tail);
	cr_assert_not_null(strstr(s->out, "Kernel panic - not syncing: Fatal exception"),
	                   "cowvm.test=bug: the oops did not panic (oops=panic)%s", tail);
	cr_assert_null(strstr(s->out, "COWVM-BUG-SURVIVED"), "cowvm.test=bug: the kernel survived the bug%s", tail);
}
