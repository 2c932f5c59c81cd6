/*
 * test_cli.c - the `cowvm` command line as a user sees it: runs the built
 * binary (path in $COWVM_BIN) and checks exit codes, stdout and stderr.
 * Usage errors must exit 2 with exactly one stderr line starting "cowvm";
 * the KVM tests (hello, a guest exception, a timeout) skip without /dev/kvm.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cowvm_abi.h"
#include "guest_blob.h"

extern char **environ;

#define CAP 65536

struct run {
	int status;           /* waitpid status */
	int timed_out;        /* killed by us after the deadline */
	double secs;          /* wall time until exit */
	char out[CAP], err[CAP];
	size_t outlen, errlen;
};

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *cowvm_bin(void)
{
	const char *b = getenv("COWVM_BIN");
	cr_assert_not_null(b, "COWVM_BIN is not set (run through meson test)");
	cr_assert_eq(access(b, X_OK), 0, "COWVM_BIN '%s' is not executable", b);
	return b;
}

static void drain(int *fd, char *buf, size_t *len)
{
	char tmp[4096];
	ssize_t n = read(*fd, tmp, sizeof(tmp));
	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return;
	}
	size_t room = CAP - 1 - *len;
	size_t k = (size_t)n < room ? (size_t)n : room;
	memcpy(buf + *len, tmp, k);
	*len += k;
	buf[*len] = 0;
}

/* Run cowvm with args (NULL-terminated, without argv[0]). */
static struct run *run_cowvm(double timeout_s, const char *const args[])
{
	struct run *r = calloc(1, sizeof(*r));
	cr_assert_not_null(r);
	const char *bin = cowvm_bin();
	const char *argv[64] = { "cowvm" };
	unsigned n = 1;
	for (; args[n - 1]; n++) {
		cr_assert_lt(n, 63u);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;

	int po[2], pe[2];
	cr_assert_eq(pipe2(po, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pe, O_CLOEXEC), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	pid_t pid;
	double t0 = now();
	int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(rc, 0, "posix_spawn(%s): %s", bin, strerror(rc));
	close(po[1]);
	close(pe[1]);

	int fo = po[0], fe = pe[0];
	double deadline = t0 + timeout_s;
	while (fo >= 0 || fe >= 0) {
		double left = deadline - now();
		if (left <= 0) {
			kill(pid, SIGKILL); /* our own child only */
			r->timed_out = 1;
			break;
		}
		struct pollfd p[2] = { { .fd = fo, .events = POLLIN }, { .fd = fe, .events = POLLIN } };
		int k = poll(p, 2, (int)(left * 1000) + 1);
		if (k < 0 && errno == EINTR)
			continue;
		cr_assert_geq(k, 0, "poll: %s", strerror(errno));
		if (fo >= 0 && p[0].revents)
			drain(&fo, r->out, &r->outlen);
		if (fe >= 0 && p[1].revents)
			drain(&fe, r->err, &r->errlen);
	}
	if (fo >= 0)
		close(fo);
	if (fe >= 0)
		close(fe);
	while (waitpid(pid, &r->status, 0) < 0)
		cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
	r->secs = now() - t0;
	return r;
}

static unsigned count_lines(const char *s, size_t len)
{
	unsigned n = 0;
	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

static void expect_exit(const struct run *r, int code, const char *what)
{
	cr_assert_not(r->timed_out, "%s: did not exit in time", what);
	cr_assert(WIFEXITED(r->status), "%s: died of signal %d (stderr: %s)", what,
	          WIFSIGNALED(r->status) ? WTERMSIG(r->status) : -1, r->err);
	cr_expect_eq(WEXITSTATUS(r->status), code, "%s: exit %d, expected %d (stderr: %s)", what,
	             WEXITSTATUS(r->status), code, r->err);
}

/* stderr is exactly one newline-terminated line starting with "cowvm". */
static void expect_one_stderr_line(const struct run *r, const char *what)
{
	cr_expect_eq(count_lines(r->err, r->errlen), 1u, "%s: stderr has %u lines: '%s'", what,
	             count_lines(r->err, r->errlen), r->err);
	cr_expect(r->errlen > 0 && r->err[r->errlen - 1] == '\n', "%s: stderr not one full line: '%s'",
	          what, r->err);
	cr_expect_eq(strncmp(r->err, "cowvm", 5), 0, "%s: stderr does not start with cowvm: '%s'",
	             what, r->err);
}

static void describe(char *buf, size_t sz, const char *const args[])
{
	size_t off = 0;
	buf[0] = 0;
	for (unsigned i = 0; args[i] && off < sz; i++)
		off += (size_t)snprintf(buf + off, sz - off, "%s%s", i ? " " : "cowvm ", args[i]);
}

static void expect_usage_error(const char *const args[])
{
	char what[512];
	describe(what, sizeof(what), args);
	struct run *r = run_cowvm(20, args);
	expect_exit(r, COWVM_EXIT_USAGE, what);
	expect_one_stderr_line(r, what);
	cr_expect_eq(r->outlen, 0u, "%s: unexpected stdout '%s'", what, r->out);
	free(r);
}

/* ---- help -------------------------------------------------------------------- */

static const char *const options[] = { "--mem", "--vcpus", "--timeout", "--workload", "--guest" };
static const char *const workloads[] = { "hello", "memtouch", "fault", "spin" };

/* w occurs in text as a whole word (so "fault" is not found in "default"). */
static int has_word(const char *text, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = strstr(text, w); p; p = strstr(p + 1, w)) {
		int before = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
		int after = !(isalnum((unsigned char)p[n]) || p[n] == '_');
		if (before && after)
			return 1;
	}
	return 0;
}

static void expect_full_help(const char *const args[])
{
	char what[512];
	describe(what, sizeof(what), args);
	struct run *r = run_cowvm(20, args);
	expect_exit(r, 0, what);
	cr_expect_eq(r->errlen, 0u, "%s: stderr '%s'", what, r->err);
	for (unsigned i = 0; i < 5; i++)
		cr_expect_not_null(strstr(r->out, options[i]), "%s: help does not mention %s", what,
		                   options[i]);
	for (unsigned i = 0; i < 4; i++)
		cr_expect(has_word(r->out, workloads[i]), "%s: help does not mention workload %s",
		                   what, workloads[i]);
	free(r);
}

Test(cli_help, run_help_option)   { expect_full_help(ARGS("run", "--help")); }
Test(cli_help, run_h_option)      { expect_full_help(ARGS("run", "-h")); }
Test(cli_help, help_run)          { expect_full_help(ARGS("help", "run")); }
Test(cli_help, dash_dash_help)    { expect_full_help(ARGS("--help")); }
Test(cli_help, help_command)      { expect_full_help(ARGS("help")); }

Test(cli_help, top_level_help_lists_commands)
{
	struct run *r = run_cowvm(20, ARGS("help"));
	expect_exit(r, 0, "cowvm help");
	cr_expect_not_null(strstr(r->out, "run"));
	cr_expect_not_null(strstr(r->out, "help run"));
	free(r);
}

Test(cli_usage, no_arguments)
{
	struct run *r = run_cowvm(20, ARGS(NULL));
	expect_exit(r, COWVM_EXIT_USAGE, "cowvm");
	cr_expect_gt(r->errlen, 0u, "usage expected on stderr");
	cr_expect_not_null(strstr(r->err, "usage"), "stderr: '%s'", r->err);
	cr_expect_eq(r->outlen, 0u, "stdout '%s'", r->out);
	free(r);
}

Test(cli_usage, unknown_command)
{
	expect_usage_error(ARGS("frobnicate"));
	struct run *r = run_cowvm(20, ARGS("frobnicate"));
	cr_expect_not_null(strstr(r->err, "frobnicate"), "stderr '%s'", r->err);
	free(r);
}

/* ---- `cowvm run` argument errors (rejected before a guest runs) --------------- */

Test(cli_run_errors, mem_zero)          { expect_usage_error(ARGS("run", "--mem", "0")); }
Test(cli_run_errors, mem_not_2m)        { expect_usage_error(ARGS("run", "--mem", "3M")); }
Test(cli_run_errors, mem_too_big)       { expect_usage_error(ARGS("run", "--mem", "128G")); }
Test(cli_run_errors, mem_too_small)     { expect_usage_error(ARGS("run", "--mem", "2M")); }
Test(cli_run_errors, mem_garbage)       { expect_usage_error(ARGS("run", "--mem", "abc")); }
Test(cli_run_errors, mem_overflow)      { expect_usage_error(ARGS("run", "--mem", "17179869184G")); }
Test(cli_run_errors, mem_missing_value) { expect_usage_error(ARGS("run", "--mem")); }
Test(cli_run_errors, vcpus_zero)        { expect_usage_error(ARGS("run", "--vcpus", "0")); }
Test(cli_run_errors, vcpus_17)          { expect_usage_error(ARGS("run", "--vcpus", "17")); }
Test(cli_run_errors, vcpus_negative)    { expect_usage_error(ARGS("run", "--vcpus", "-1")); }
Test(cli_run_errors, timeout_zero)      { expect_usage_error(ARGS("run", "--timeout", "0")); }
Test(cli_run_errors, timeout_garbage)   { expect_usage_error(ARGS("run", "--timeout", "x")); }
Test(cli_run_errors, workload_unknown)  { expect_usage_error(ARGS("run", "--workload", "nosuch")); }
Test(cli_run_errors, workload_bad_enum)
{
	expect_usage_error(ARGS("run", "--workload", "memtouch:mode=zig"));
}
Test(cli_run_errors, guest_missing)     { expect_usage_error(ARGS("run", "--guest", "/nonexistent")); }
Test(cli_run_errors, guest_not_elf)     { expect_usage_error(ARGS("run", "--guest", "/etc/passwd")); }
Test(cli_run_errors, guest_directory)   { expect_usage_error(ARGS("run", "--guest", "/")); }
Test(cli_run_errors, unknown_option)    { expect_usage_error(ARGS("run", "--bogus")); }
Test(cli_run_errors, stray_positional)  { expect_usage_error(ARGS("run", "extra")); }
Test(cli_run_errors, stray_positional_after_options)
{
	expect_usage_error(ARGS("run", "--workload", "hello", "extra"));
}

/* A truncated copy of the real guest-stub ELF. */
static void truncated_guest(size_t len)
{
	cr_assert_lt(len, guest_stub_elf_len);
	char path[] = "/tmp/cowvm-test-truncated-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	cr_assert_eq(write(fd, guest_stub_elf, len), (ssize_t)len);
	close(fd);
	expect_usage_error(ARGS("run", "--guest", path));
	struct run *r = run_cowvm(20, ARGS("run", "--guest", path));
	if (access("/dev/kvm", R_OK | W_OK) == 0)
		cr_expect_not_null(strstr(r->err, "invalid guest ELF"), "stderr '%s'", r->err);
	free(r);
	unlink(path);
}

Test(cli_run_errors, guest_truncated_in_program_headers) { truncated_guest(100); }
Test(cli_run_errors, guest_truncated_in_segment_data) { truncated_guest(guest_stub_elf_len / 2); }
/* Cut one byte short of the end of the last PT_LOAD's file data. */
Test(cli_run_errors, guest_truncated_in_last_segment)
{
	Elf64_Ehdr eh;
	memcpy(&eh, guest_stub_elf, sizeof(eh));
	size_t end = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, guest_stub_elf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_filesz && ph.p_offset + ph.p_filesz > end)
			end = ph.p_offset + ph.p_filesz;
	}
	cr_assert_gt(end, 0u);
	truncated_guest(end - 1);
}

/* ---- running guests (needs /dev/kvm) ------------------------------------------ */

static void need_kvm(void)
{
	if (access("/dev/kvm", R_OK | W_OK))
		cr_skip_test("no /dev/kvm: KVM test skipped");
}

Test(cli_kvm, hello)
{
	need_kvm();
	struct run *r = run_cowvm(20, ARGS("run", "--workload", "hello"));
	expect_exit(r, 0, "cowvm run --workload hello");
	cr_expect_str_eq(r->out, "Hello from the cowvm guest-stub!\n");
	cr_expect_eq(r->errlen, 0u, "stderr '%s'", r->err);
	free(r);
}

Test(cli_kvm, hello_is_default)
{
	need_kvm();
	struct run *r = run_cowvm(20, ARGS("run"));
	expect_exit(r, 0, "cowvm run");
	cr_expect_str_eq(r->out, "Hello from the cowvm guest-stub!\n");
	free(r);
}

Test(cli_kvm, divide_error)
{
	need_kvm();
	struct run *r = run_cowvm(20, ARGS("run", "--workload", "fault:kind=de"));
	expect_exit(r, COWVM_EXIT_EXCEPTION, "cowvm run --workload fault:kind=de");
	expect_one_stderr_line(r, "fault:kind=de");
	cr_expect_not_null(strstr(r->err, "#DE"), "stderr '%s'", r->err);
	cr_expect_not_null(strstr(r->err, "vector=0"), "stderr '%s'", r->err);
	free(r);
}

Test(cli_kvm, spin_timeout)
{
	need_kvm();
	struct run *r = run_cowvm(5, ARGS("run", "--workload", "spin", "--timeout", "200"));
	expect_exit(r, COWVM_EXIT_TIMEOUT, "cowvm run --workload spin --timeout 200");
	cr_expect_lt(r->secs, 5.0, "took %.2f s", r->secs);
	cr_expect_geq(r->secs, 0.2, "ended after %.3f s, before the 200 ms timeout", r->secs);
	expect_one_stderr_line(r, "spin timeout");
	free(r);
}

/* ---- snapshots: run --snapshot-out, clone, stats ------------------------------- */

Test(cli_clone_errors, no_from)          { expect_usage_error(ARGS("clone")); }
Test(cli_clone_errors, n_zero)           { expect_usage_error(ARGS("clone", "--from", "/x", "-n", "0")); }
Test(cli_clone_errors, n_garbage)        { expect_usage_error(ARGS("clone", "--from", "/x", "-n", "many")); }
Test(cli_clone_errors, jobs_too_many)    { expect_usage_error(ARGS("clone", "--from", "/x", "--jobs", "65")); }
Test(cli_clone_errors, timeout_zero)     { expect_usage_error(ARGS("clone", "--from", "/x", "--timeout", "0")); }
Test(cli_clone_errors, unknown_option)   { expect_usage_error(ARGS("clone", "--bogus")); }
Test(cli_clone_errors, stray_positional) { expect_usage_error(ARGS("clone", "--from", "/x", "extra")); }
Test(cli_clone_errors, missing_file)     { expect_usage_error(ARGS("clone", "--from", "/nonexistent.snap")); }
Test(cli_clone_errors, not_a_snapshot)   { expect_usage_error(ARGS("clone", "--from", "/etc/passwd")); }
Test(cli_clone_errors, directory)        { expect_usage_error(ARGS("clone", "--from", "/")); }
Test(cli_clone_errors, input_missing)
{
	expect_usage_error(ARGS("clone", "--from", "/etc/passwd", "--input", "/nonexistent"));
}
Test(cli_clone_errors, input_too_big)
{
	char path[] = "/tmp/cowvm-big-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, COWVM_IOBUF_SIZE + 1), 0);
	close(fd);
	expect_usage_error(ARGS("clone", "--from", "/etc/passwd", "--input", path));
	unlink(path);
}
Test(cli_stats_errors, no_from)          { expect_usage_error(ARGS("stats")); }
Test(cli_stats_errors, not_a_snapshot)   { expect_usage_error(ARGS("stats", "--from", "/etc/passwd")); }
Test(cli_stats_errors, unknown_option)   { expect_usage_error(ARGS("stats", "-x")); }

Test(cli_help, clone_and_stats_help)
{
	struct run *r = run_cowvm(20, ARGS("help", "clone"));
	expect_exit(r, 0, "cowvm help clone");
	cr_expect_not_null(strstr(r->out, "--from FILE"));
	cr_expect_not_null(strstr(r->out, "--jobs"));
	free(r);
	r = run_cowvm(20, ARGS("stats", "--help"));
	expect_exit(r, 0, "cowvm stats --help");
	cr_expect_not_null(strstr(r->out, "VmRSS/VmPTE"));
	free(r);
}

Test(cli_kvm, snapshot_out_clone_and_stats)
{
	need_kvm();
	char dir[] = "/tmp/cowvm-cli-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char snap[64], req[64];
	snprintf(snap, sizeof(snap), "%s/warm.snap", dir);
	snprintf(req, sizeof(req), "%s/req.bin", dir);
	struct run *r = run_cowvm(30, ARGS("run", "--workload", "warm:mib=4", "--snapshot-out", snap));
	expect_exit(r, 0, "cowvm run --snapshot-out");
	cr_expect_not_null(strstr(r->err, "snapshot saved to"), "stderr '%s'", r->err);
	free(r);

	/* A request for keys 1, 2, 3 (struct cowvm_request). */
	uint64_t q[5] = { COWVM_REQ_MAGIC, 3, 1, 2, 3 };
	FILE *f = fopen(req, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(q, sizeof(q), 1, f), 1u);
	fclose(f);
	r = run_cowvm(60, ARGS("clone", "--from", snap, "-n", "20", "--jobs", "2", "--input", req));
	expect_exit(r, 0, "cowvm clone -n 20");
	cr_expect_not_null(strstr(r->out, "20 ok, 0 failed"), "stdout '%s'", r->out);
	cr_expect_not_null(strstr(r->out, "clone (vm_clone)"), "stdout '%s'", r->out);
	free(r);

	/* A request for a key out of range makes every clone exit 2. */
	q[2] = 1ull << 40;
	f = fopen(req, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(q, sizeof(q), 1, f), 1u);
	fclose(f);
	r = run_cowvm(60, ARGS("clone", "--from", snap, "-n", "3", "--input", req));
	expect_exit(r, 1, "cowvm clone with a bad key");
	cr_expect_not_null(strstr(r->out, "0 ok, 3 failed"), "stdout '%s'", r->out);
	free(r);

	r = run_cowvm(30, ARGS("stats", "--from", snap));
	expect_exit(r, 0, "cowvm stats");
	cr_expect_not_null(strstr(r->out, "(root)"), "stdout '%s'", r->out);
	cr_expect_not_null(strstr(r->out, "after clone"), "stdout '%s'", r->out);
	free(r);

	/* An unwritable output path: a VMM error, after the guest asked. */
	r = run_cowvm(30, ARGS("run", "--workload", "warm:mib=4", "--snapshot-out", "/nonexistent/dir/x.snap"));
	expect_exit(r, COWVM_EXIT_VMM_ERROR, "cowvm run --snapshot-out /nonexistent/...");
	free(r);
	unlink(snap);
	unlink(req);
	rmdir(dir);
}
