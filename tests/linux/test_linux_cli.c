/*
 * test_linux_cli.c - `cowvm run --kernel` refuses bad input before any VM
 * starts, natively (no Linux boot, no nested QEMU): a kernel that is not a
 * bzImage (random bytes, an ELF, empty, a directory, missing), a bzImage
 * cut short, a missing initrd, a command line longer than the guest's
 * command-line area (64 KiB, PC_CMDLINE_MAX). Each must exit 2 with one
 * stderr line starting "cowvm" that names what is wrong, and print nothing
 * on stdout (no guest console ever ran), within seconds.
 *
 * Environment (tests/linux/meson.build): COWVM_BIN; LINUX_KERNEL and
 * LINUX_INITRD from tools/linux_guest.sh (the truncated bzImages are cut
 * from LINUX_KERNEL; the initrd and command-line cases pass the real
 * kernel, so that only the initrd or the command line is wrong). Without
 * those files the cases that need them skip, visibly.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cowvm_abi.h"
#include "spawn.h"

#define LIMIT_SECS 20.0 /* a refusal is immediate; ASan builds are slower */

static const char *cowvm_bin(void)
{
	const char *b = getenv("COWVM_BIN");
	cr_assert(b && *b, "COWVM_BIN is not set (run through meson test)");
	cr_assert_eq(access(b, X_OK), 0, "COWVM_BIN '%s' is not executable", b);
	return b;
}

/* LINUX_KERNEL or LINUX_INITRD, or a visible skip without it. */
static const char *guest_file(const char *var)
{
	const char *p = getenv(var);
	if (!p || !*p || access(p, R_OK))
		cr_skip_test("%s ('%s') is missing: run tools/linux_guest.sh BUILD/linux-guest first", var,
		             p ? p : "unset");
	return p;
}

static char tmpdir[64];

static void mk_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cowvm-linux-cli.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char cmd[128];
	if (!tmpdir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	tmpdir[0] = 0;
}

TestSuite(linux_cli, .init = mk_tmpdir, .fini = rm_tmpdir);

/* tmpdir/name with `len` bytes: the first `len` of `src` (a file), or
 * pseudo-random bytes from a fixed seed if src is NULL. */
static const char *make_file(const char *name, const char *src, size_t len)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unsigned char *buf = malloc(len ? len : 1);
	cr_assert_not_null(buf);
	if (src) {
		int fd = open(src, O_RDONLY);
		cr_assert_geq(fd, 0, "cannot open %s", src);
		size_t off = 0;
		while (off < len) {
			ssize_t n = read(fd, buf + off, len - off);
			cr_assert_gt(n, 0, "%s is shorter than %zu bytes", src, len);
			off += (size_t)n;
		}
		close(fd);
	} else {
		unsigned long long x = 0x9e3779b97f4a7c15ull;
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[i] = (unsigned char)(x >> 24);
		}
		/* not a bzImage by accident: no "HdrS" at 0x202 (boot.rst) */
		if (len >= 0x206)
			cr_assert(memcmp(buf + 0x202, "HdrS", 4), "the random bytes hold the bzImage magic");
	}
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	free(buf);
	return path;
}

static off_t file_size(const char *p)
{
	struct stat st;
	cr_assert_eq(stat(p, &st), 0, "stat %s", p);
	return st.st_size;
}

/* Does text hold one of the '|'-separated words of `any`? */
static int mentions(const char *text, const char *any)
{
	char w[256];
	while (*any) {
		size_t k = strcspn(any, "|");
		cr_assert_lt(k, sizeof(w));
		memcpy(w, any, k);
		w[k] = 0;
		if (strstr(text, w))
			return 1;
		any += k + (any[k] == '|');
	}
	return 0;
}

/* Runs cowvm with args and checks a refusal: exit 2, nothing on stdout,
 * one stderr line "cowvm..." naming each of `names` (e.g. the offending
 * path; "a|b": either) and not an "unknown option" complaint. */
static void expect_refusal(const char *const args[], const char *const names[])
{
	const char *argv[24] = { cowvm_bin() };
	unsigned n = 1;
	for (; args[n - 1]; n++) {
		cr_assert_lt(n, 23u);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;
	struct spawn *s = calloc(1, sizeof(*s));
	char how[128], tail[4096];
	cr_assert_not_null(s);
	int rc = spawn_start(s, argv);
	cr_assert_eq(rc, 0, "cannot start cowvm: %s", strerror(-rc));
	spawn_wait_exit(s, LIMIT_SECS);
	spawn_how(s, how, sizeof(how));
	spawn_tail(s, tail, sizeof(tail));

	cr_assert(!s->killed && WIFEXITED(s->status) && WEXITSTATUS(s->status) == COWVM_EXIT_USAGE,
	          "expected exit %d, got %s%s", COWVM_EXIT_USAGE, how, tail);
	cr_assert_eq(s->outlen, 0, "a refused run printed %zu bytes on stdout (a guest ran?)%s", s->outlen, tail);
	cr_assert_eq(strncmp(s->err, "cowvm", 5), 0, "stderr does not start with 'cowvm'%s", tail);
	size_t len = strlen(s->err);
	cr_assert(len > 0 && s->err[len - 1] == '\n' && !memchr(s->err, '\n', len - 1),
	          "stderr is not exactly one line%s", tail);
	cr_assert(!strstr(s->err, "unknown option") && !strstr(s->err, "unknown or incomplete option"),
	          "the option itself was refused%s", tail);
	for (const char *const *w = names; *w; w++)
		cr_assert(mentions(s->err, *w), "the message does not name '%s'%s", *w, tail);
	spawn_end(s);
	free(s);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* The documented options exist (until `run --kernel` is there, every
 * refusal below could pass as an "unknown option" error; they check for
 * that too). */
Test(linux_cli, help_lists_the_linux_options)
{
	struct spawn *s = calloc(1, sizeof(*s));
	char how[128], tail[4096];
	cr_assert_not_null(s);
	int rc = spawn_start(s, ARGS(cowvm_bin(), "help", "run"));
	cr_assert_eq(rc, 0);
	spawn_wait_exit(s, LIMIT_SECS);
	cr_assert(!s->killed && WIFEXITED(s->status) && WEXITSTATUS(s->status) == 0, "help run: %s%s",
	          spawn_how(s, how, sizeof(how)), spawn_tail(s, tail, sizeof(tail)));
	const char *all = s->outlen ? s->out : s->err;
	for (const char *const *o = ARGS("--kernel", "--initrd", "--cmdline"); *o; o++)
		cr_assert_not_null(strstr(all, *o), "`cowvm help run` does not mention %s", *o);
	spawn_end(s);
	free(s);
}

Test(linux_cli, kernel_missing)
{
	const char *k = "/nonexistent/vmlinuz";
	expect_refusal(ARGS("run", "--kernel", k), ARGS(k));
}

Test(linux_cli, kernel_is_a_directory)
{
	expect_refusal(ARGS("run", "--kernel", tmpdir), ARGS(tmpdir));
}

Test(linux_cli, kernel_empty)
{
	const char *k = make_file("empty", NULL, 0);
	expect_refusal(ARGS("run", "--kernel", k), ARGS(k));
}

Test(linux_cli, kernel_random_bytes)
{
	const char *k = make_file("random", NULL, 64 * 1024);
	expect_refusal(ARGS("run", "--kernel", k), ARGS(k));
}

/* An ELF (cowvm itself): only bzImages are booted. */
Test(linux_cli, kernel_is_an_elf)
{
	const char *b = cowvm_bin();
	expect_refusal(ARGS("run", "--kernel", b), ARGS(b));
}

/* The boot sector and part of the setup code: the setup header is there
 * (setup_sects, "HdrS"), the protected-mode kernel is not. */
Test(linux_cli, kernel_truncated_in_setup)
{
	const char *k = make_file("vmlinuz-4k", guest_file("LINUX_KERNEL"), 4096);
	expect_refusal(ARGS("run", "--kernel", k), ARGS(k));
}

/* Half a kernel: the header promises more (syssize) than the file holds. */
Test(linux_cli, kernel_truncated_in_payload)
{
	const char *real = guest_file("LINUX_KERNEL");
	const char *k = make_file("vmlinuz-half", real, (size_t)file_size(real) / 2);
	expect_refusal(ARGS("run", "--kernel", k), ARGS(k));
}

/* bzImage header fields (Documentation/arch/x86/boot.rst, "The real-mode
 * kernel header"): the setup is (setup_sects + 1) * 512 bytes (0 means 4),
 * then syssize 16-byte paragraphs of protected-mode kernel. Debian's signed
 * kernels carry an Authenticode signature after those. */
#define BZ_SETUP_SECTS 0x1f1 /* u8 */
#define BZ_SYSSIZE     0x1f4 /* u32 */

static size_t declared_size(const char *path)
{
	unsigned char h[0x200 + 8];
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(read(fd, h, sizeof(h)), (ssize_t)sizeof(h));
	close(fd);
	size_t sects = h[BZ_SETUP_SECTS] ? h[BZ_SETUP_SECTS] : 4;
	uint32_t sys;
	memcpy(&sys, h + BZ_SYSSIZE, 4);
	size_t n = (sects + 1) * 512 + (size_t)sys * 16;
	cr_assert_leq(n, (size_t)file_size(path), "%s is shorter than its header says", path);
	return n;
}

/* One byte short of what the header declares. */
Test(linux_cli, kernel_one_byte_short_of_syssize)
{
	const char *real = guest_file("LINUX_KERNEL");
	const char *k = make_file("vmlinuz-short", real, declared_size(real) - 1);
	expect_refusal(ARGS("run", "--kernel", k), ARGS(k));
}

/* The controls: the real kernel with the real initrd, and the same kernel
 * cut to exactly its declared size (signature gone), are accepted: the VM
 * starts. How it ends natively depends on the host's KVM: where it runs a
 * stock kernel the init powers off (0); this machine's KVM cannot (see
 * docs/nested-qemu.md), so --timeout (202) or a KVM failure (204) ends it.
 * Whatever the end, it is an exit of cowvm and not 2 (bad input). */
static void expect_accepted(const char *kernel)
{
	const char *i = guest_file("LINUX_INITRD");
	if (access("/dev/kvm", R_OK | W_OK))
		cr_skip_test("/dev/kvm is missing: the accepted-kernel control needs a VM");
	const char *argv[] = { cowvm_bin(), "run", "--kernel", kernel, "--initrd", i, "--mem", "256M",
	                       "--timeout", "3000", "--cmdline", "console=ttyS0 quiet panic=-1 cowvm.test=poweroff",
	                       NULL };
	struct spawn *s = calloc(1, sizeof(*s));
	char how[128], tail[4096];
	cr_assert_not_null(s);
	cr_assert_eq(spawn_start(s, argv), 0);
	spawn_wait_exit(s, 60);
	spawn_how(s, how, sizeof(how));
	int code = !s->killed && WIFEXITED(s->status) ? WEXITSTATUS(s->status) : -1;
	cr_assert(code >= 0 && code != COWVM_EXIT_USAGE,
	          "a good kernel + initrd was refused or did not end by itself (--timeout 3000): %s%s", how,
	          spawn_tail(s, tail, sizeof(tail)));
	fprintf(stderr, "linux_cli: a good kernel natively: %s\n", how);
	spawn_end(s);
	free(s);
}

Test(linux_cli, real_kernel_is_accepted, .timeout = 90) { expect_accepted(guest_file("LINUX_KERNEL")); }

Test(linux_cli, kernel_cut_to_declared_size_is_accepted, .timeout = 90)
{
	const char *real = guest_file("LINUX_KERNEL");
	expect_accepted(make_file("vmlinuz-exact", real, declared_size(real)));
}

Test(linux_cli, initrd_missing)
{
	const char *k = guest_file("LINUX_KERNEL");
	const char *i = "/nonexistent/initramfs.cpio.gz";
	expect_refusal(ARGS("run", "--kernel", k, "--initrd", i), ARGS(i));
}

Test(linux_cli, initrd_is_a_directory)
{
	const char *k = guest_file("LINUX_KERNEL");
	expect_refusal(ARGS("run", "--kernel", k, "--initrd", tmpdir), ARGS(tmpdir));
}

/* 70000 bytes: more than the 64 KiB command-line area (PC_CMDLINE_MAX)
 * and than any cmdline_size a kernel header allows. */
static void long_cmdline(size_t len)
{
	const char *k = guest_file("LINUX_KERNEL");
	char *c = malloc(len + 1);
	cr_assert_not_null(c);
	memset(c, 'x', len);
	memcpy(c, "console=ttyS0 ", 14);
	c[len] = 0;
	expect_refusal(ARGS("run", "--kernel", k, "--cmdline", c), ARGS("cmdline|command line"));
	free(c);
}

Test(linux_cli, cmdline_70000_bytes) { long_cmdline(70000); }

/* ---- fuzz-target / replay --kernel (issue 15): refused before any VM ---- */
Test(linux_cli, fuzz_kernel_without_initrd)
{
	expect_refusal(ARGS("fuzz-target", "--kernel", guest_file("LINUX_KERNEL")), ARGS("--initrd"));
}

Test(linux_cli, fuzz_kernel_and_target_together)
{
	expect_refusal(ARGS("fuzz-target", "--target", "parser", "--kernel", guest_file("LINUX_KERNEL"), "--initrd",
	                    guest_file("LINUX_INITRD")),
	               ARGS("--target"));
}

Test(linux_cli, fuzz_initrd_without_kernel)
{
	expect_refusal(ARGS("replay", "--target", "parser", "--initrd", guest_file("LINUX_INITRD"), "in"),
	               ARGS("--kernel"));
}

Test(linux_cli, fuzz_kernel_missing)
{
	expect_refusal(ARGS("replay", "--kernel", "/nonexistent/bzImage", "--initrd", guest_file("LINUX_INITRD"), "in"),
	               ARGS("/nonexistent/bzImage"));
}

Test(linux_cli, fuzz_kernel_copy_mode)
{
	expect_refusal(ARGS("fuzz-target", "--kernel", guest_file("LINUX_KERNEL"), "--initrd", guest_file("LINUX_INITRD"),
	                    "--reset-mode", "copy"),
	               ARGS("copy"));
}

Test(linux_cli, fuzz_target_boot_mode)
{
	expect_refusal(ARGS("fuzz-target", "--target", "parser", "--reset-mode", "boot"), ARGS("boot"));
}

Test(linux_cli, fuzz_console_dir_not_a_folder)
{
	const char *f = make_file("plain", NULL, 16);
	expect_refusal(ARGS("fuzz-target", "--kernel", guest_file("LINUX_KERNEL"), "--initrd", guest_file("LINUX_INITRD"),
	                    "--console-dir", f),
	               ARGS(f));
}

Test(linux_cli, replay_has_no_console_dir)
{
	expect_refusal(ARGS("replay", "--target", "parser", "--console-dir", tmpdir, "in"), ARGS("fuzz-target"));
}
