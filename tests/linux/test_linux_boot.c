/*
 * test_linux_boot.c - `cowvm run --kernel` boots Debian's kernel with the
 * busybox initramfs of tools/linux_guest.sh (init: tests/linux/init.sh) and
 * the test checks what a user would: the init's marker on the console
 * (stdout), typed input reaching the guest's shell (stdin), and cowvm's
 * exit status for power-off (0), reboot (205) and halt (206).
 *
 * Environment (tests/linux/meson.build): COWVM_BIN, LINUX_KERNEL,
 * LINUX_INITRD. Each test boots one kernel. These machines' KVM cannot run
 * a stock kernel, so `make test` runs this suite ('linux') inside QEMU with
 * nested KVM (tools/qemu_test.sh), where one boot takes 17-30 s.
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
#define STEP_SECS        60.0  /* one typed command */
#define EXIT_SECS        270.0 /* until cowvm exits, from the marker */
#define TEST_SECS        600   /* Criterion's limit for one test */
#define BASE_CMDLINE     "console=ttyS0 quiet panic=-1"
#define MARKER           "COWVM-LINUX-UP"
#define TAIL             6000

static const char *need_file(const char *var, int exec)
{
	const char *p = getenv(var);
	if (!p || !*p)
		cr_assert_fail("%s is not set (run through meson test)", var);
	if (access(p, exec ? X_OK : R_OK))
		cr_assert_fail("%s='%s' is missing: run tools/linux_guest.sh %s first%s", var, p,
		         "BUILD/linux-guest", exec ? " (or build cowvm)" : "");
	return p;
}

TestSuite(linux, .fini = spawn_test_end);

/* Starts `cowvm run --kernel K --initrd I --mem 256M --vcpus N --timeout T
 * --cmdline "console=ttyS0 quiet panic=-1 cowvm.test=ACTION"`. */
static struct spawn *boot(const char *action, const char *vcpus)
{
	struct spawn *s = spawn_test_new();
	static char cmdline[256];
	snprintf(cmdline, sizeof(cmdline), "%s cowvm.test=%s", BASE_CMDLINE, action);
	const char *const argv[] = {
		need_file("COWVM_BIN", 1), "run",
		"--kernel", need_file("LINUX_KERNEL", 0),
		"--initrd", need_file("LINUX_INITRD", 0),
		"--mem", "256M", "--vcpus", vcpus, "--timeout", GUEST_TIMEOUT_MS,
		"--cmdline", cmdline, NULL
	};
	int rc = spawn_start(s, argv);
	cr_assert_eq(rc, 0, "cannot start cowvm: %s", strerror(-rc));
	return s;
}

/* Waits for the init's marker line and returns it. */
static const char *wait_marker(struct spawn *s, const char *action, char *line, size_t n)
{
	char how[128], tail[TAIL];
	int r = spawn_wait_line(s, MARKER, BOOT_SECS, line, n);
	if (r != 1) {
		if (r < 0)
			spawn_wait_exit(s, 0); /* kills it: the tail shows how far it got */
		cr_assert_fail("cowvm.test=%s: no '%s' line on the console %s (cowvm %s)%s", action, MARKER,
		         r < 0 ? "within the boot limit" : "before cowvm exited",
		         spawn_how(s, how, sizeof(how)), spawn_tail(s, tail, sizeof(tail)));
	}
	fprintf(stderr, "linux: cowvm.test=%s: marker after %.1f s\n", action, spawn_now() - s->t0);
	return line;
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
	cr_assert_null(strstr(s->out, "Kernel panic"), "cowvm.test=%s: the guest kernel panicked%s", action,
	               spawn_tail(s, tail, sizeof(tail)));
	fprintf(stderr, "linux: cowvm.test=%s: %s, %zu console bytes\n", action, how, s->outlen);
}

static void expect_marker(const char *line, const char *action, const char *cpus)
{
	char want[64];
	snprintf(want, sizeof(want), MARKER " cpus=%s test=%s", cpus, action);
	cr_assert_str_eq(line, want, "marker line '%s', expected '%s'", line, want);
}

/* Two vCPUs, an interactive shell: the kernel brings both CPUs up, typed
 * input reaches the shell and is evaluated in the guest, and the shell's
 * `poweroff -f` (ACPI S5) ends cowvm with exit 0. */
Test(linux, shell_two_vcpus_typed_input_poweroff, .timeout = TEST_SECS)
{
	char line[256], how[128], tail[TAIL];
	struct spawn *s = boot("shell", "2");
	expect_marker(wait_marker(s, "shell", line, sizeof(line)), "shell", "2");

	cr_assert_eq(spawn_wait_for(s, "cowvm-sh# ", STEP_SECS), 1, "no shell prompt 'cowvm-sh# ' (cowvm %s)%s",
	             spawn_how(s, how, sizeof(how)), spawn_tail(s, tail, sizeof(tail)));
	/* the echo of the typed line holds "typed-$((6*7))"; only the guest's
	 * shell can turn it into "typed-42" */
	cr_assert_eq(spawn_type(s, "echo typed-$((6*7))\n"), 0, "writing to cowvm's stdin failed");
	cr_assert_eq(spawn_wait_for(s, "typed-42", STEP_SECS), 1,
	             "typed 'echo typed-$((6*7))' but 'typed-42' never came back (cowvm %s)%s",
	             spawn_how(s, how, sizeof(how)), spawn_tail(s, tail, sizeof(tail)));
	cr_assert_eq(spawn_type(s, "poweroff -f\n"), 0, "writing to cowvm's stdin failed");
	expect_exit(s, "shell", COWVM_EXIT_OK);
}

/* `reboot -f`: the kernel resets the machine (ACPI reset register or the
 * i8042); cowvm does not restart it but exits 205. */
Test(linux, reboot_exits_205, .timeout = TEST_SECS)
{
	char line[256];
	struct spawn *s = boot("reboot", "1");
	expect_marker(wait_marker(s, "reboot", line, sizeof(line)), "reboot", "1");
	expect_exit(s, "reboot", COWVM_EXIT_REBOOT);
}

/* `halt -f`: every CPU stops with interrupts off; cowvm exits 206. */
Test(linux, halt_exits_206, .timeout = TEST_SECS)
{
	char line[256];
	struct spawn *s = boot("halt", "1");
	expect_marker(wait_marker(s, "halt", line, sizeof(line)), "halt", "1");
	expect_exit(s, "halt", COWVM_EXIT_HALT);
}
