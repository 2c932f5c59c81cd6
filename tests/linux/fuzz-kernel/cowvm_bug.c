// SPDX-License-Identifier: GPL-2.0
/*
 * cowvm_bug.c - the planted bug of cowvm's fuzzing kernel (issue 15): a
 * NULL pointer dereference behind a two-step condition that a coverage-
 * guided fuzzer can find and a blind one hardly can. tools/fuzz_kernel.sh
 * copies this file into Debian's linux-source-6.1 tree as
 * kernel/cowvm_bug.c (built in when CONFIG_PROC_FS=y; no module).
 *
 * /proc/cowvm_bug, writable by everyone (0222). Each write(2):
 *   - armed, and the data's first byte is '!' (0x21): cowvm_bug_trigger()
 *     writes through a NULL pointer -> "BUG: kernel NULL pointer
 *     dereference" oops naming cowvm_bug_trigger; with `oops=panic
 *     panic=-1` the kernel resets the machine at once;
 *   - else, the data begins with the 3 bytes "COW": armed;
 *   - else (any other data, an empty write, or a buffer that faults):
 *     disarmed.
 * The write returns its byte count (or -EFAULT if the buffer faulted).
 *
 * A second, separate plant for the tests of cowvm's console hook: a write of
 * exactly the 10 bytes "cowvm:WARN" WARNs (a kernel warning that does not
 * panic without panic_on_warn) and changes nothing else. It is compared
 * with memcmp, all at once, so a fuzzer does not stumble on it.
 * "COW" is compared byte by byte in nested ifs with a compiler barrier
 * between them, so every byte that matches reaches a new basic block: a new
 * KCOV edge for the fuzzer to keep. The armed state is one static variable
 * in kernel memory, so a VM reset to a snapshot restores it.
 */
#include <linux/compiler.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/minmax.h>
#include <linux/proc_fs.h>
#include <linux/string.h>
#include <linux/types.h>
#include <linux/uaccess.h>

#define COWVM_BUG_ARM_LEN 3   /* "COW" */
#define COWVM_BUG_FIRE    '!' /* 0x21 */

static bool cowvm_bug_armed;

/* Not inlined, so the oops' RIP line names it. */
static noinline void cowvm_bug_trigger(void)
{
	int *volatile p = NULL; /* volatile: the compiler cannot see the NULL */

	WRITE_ONCE(*p, COWVM_BUG_FIRE);
}

#define COWVM_BUG_WARN "cowvm:WARN"

static ssize_t cowvm_bug_write(struct file *file, const char __user *buf,
			       size_t count, loff_t *ppos)
{
	char b[COWVM_BUG_ARM_LEN] = { 0 };
	char w[sizeof(COWVM_BUG_WARN) - 1];
	size_t n = min_t(size_t, count, sizeof(b));

	if (count == sizeof(w) && !copy_from_user(w, buf, sizeof(w)) &&
	    !memcmp(w, COWVM_BUG_WARN, sizeof(w))) {
		WARN(1, "cowvm_bug: the planted warning");
		return count;
	}

	if (n && copy_from_user(b, buf, n)) {
		WRITE_ONCE(cowvm_bug_armed, false);
		return -EFAULT;
	}
	if (READ_ONCE(cowvm_bug_armed) && n >= 1 && b[0] == COWVM_BUG_FIRE) {
		cowvm_bug_trigger();
		return count;
	}
	if (n >= 1 && b[0] == 'C') {
		barrier();
		if (n >= 2 && b[1] == 'O') {
			barrier();
			if (n >= 3 && b[2] == 'W') {
				WRITE_ONCE(cowvm_bug_armed, true);
				return count;
			}
		}
	}
	WRITE_ONCE(cowvm_bug_armed, false);
	return count;
}

static const struct proc_ops cowvm_bug_ops = {
	.proc_write = cowvm_bug_write,
	.proc_lseek = noop_llseek,
};

static int __init cowvm_bug_init(void)
{
	if (!proc_create("cowvm_bug", 0222, NULL, &cowvm_bug_ops))
		return -ENOMEM;
	return 0;
}
device_initcall(cowvm_bug_init);
