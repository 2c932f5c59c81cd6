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
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
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

/* How to start cowvm besides its arguments (all optional). */
struct spawn_opts {
	int keep_fd;            /* > 0: this fd is passed on as fd 3 (a pipe for /dev/fd/3) */
	rlim_t nofile;          /* > 0: RLIMIT_NOFILE, to make the VMM run out of fds */
	int no_kvm;             /* a private mount namespace with an empty /dev */
};

/* The child: stdin /dev/null, stdout/stderr to the pipes, no other fds
 * (so RLIMIT_NOFILE means what it says), then exec. Never returns. */
static void child(const struct spawn_opts *o, int out, int err, const char *bin, char *const argv[])
{
	int in = open("/dev/null", O_RDONLY);
	if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(120);
	if (o->keep_fd > 0 && dup2(o->keep_fd, 3) < 0)
		_exit(121);
	syscall(SYS_close_range, o->keep_fd > 0 ? 4 : 3, ~0u, 0);
	if (o->no_kvm && (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	                  mount("none", "/dev", "tmpfs", 0, "size=16k")))
		_exit(122);
	struct rlimit rl = { o->nofile, o->nofile };
	if (o->nofile && setrlimit(RLIMIT_NOFILE, &rl))
		_exit(123);
	execve(bin, argv, environ);
	_exit(124);
}

/* Run cowvm with args (NULL-terminated, without argv[0]). */
static struct run *run_cowvm_opts(double timeout_s, const struct spawn_opts *o, const char *const args[])
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
	double t0 = now();
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (!pid)
		child(o, po[1], pe[1], bin, (char *const *)argv);
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
	cr_assert(!WIFEXITED(r->status) || WEXITSTATUS(r->status) < 120 || WEXITSTATUS(r->status) > 124,
	          "starting cowvm failed in the child (exit %d)", WEXITSTATUS(r->status));
	return r;
}

static struct run *run_cowvm(double timeout_s, const char *const args[])
{
	static const struct spawn_opts none;
	return run_cowvm_opts(timeout_s, &none, args);
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

	unlink(snap);
	unlink(req);
	rmdir(dir);
}

/* ---- --snapshot-out targets: only a regular file or a new name in a folder
 * we can write; everything else is refused before the guest runs --------- */

static void make_tmpdir(char *dir, size_t n)
{
	snprintf(dir, n, "/tmp/cowvm-cli-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static unsigned count_entries(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	unsigned n = 0;
	cr_assert_eq(fscanf(p, "%u", &n), 1);
	pclose(p);
	return n;
}

static void rm_tree(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* warm asks for a snapshot and reports before and after it: with --reports
 * a guest that ran leaves "report ..." lines. Refused: exit 2, one stderr
 * line naming the reason, nothing on stdout, no report. */
static void expect_target_refused(const char *target, const char *want)
{
	char what[300];
	snprintf(what, sizeof(what), "run --snapshot-out %s", target);
	struct run *r = run_cowvm(30, ARGS("run", "--workload", "warm:mib=4", "--reports",
	                                   "--snapshot-out", target));
	expect_exit(r, COWVM_EXIT_USAGE, what);
	expect_one_stderr_line(r, what);
	cr_expect_eq(r->outlen, 0u, "%s: stdout '%s'", what, r->out);
	cr_expect_null(strstr(r->err, "report "), "%s: the guest ran: '%s'", what, r->err);
	cr_expect_not_null(strstr(r->err, want), "%s: stderr '%s' lacks '%s'", what, r->err, want);
	free(r);
}

Test(cli_snapshot_out, device_node_is_refused_and_left_alone, .timeout = 60)
{
	char dir[64], node[96];
	make_tmpdir(dir, sizeof(dir));
	snprintf(node, sizeof(node), "%s/null", dir);
	if (mknod(node, S_IFCHR | 0666, makedev(1, 3))) {
		rm_tree(dir);
		cr_skip_test("mknod: %s (needs root)", strerror(errno));
	}
	expect_target_refused(node, "a character device");
	struct stat st;
	cr_assert_eq(lstat(node, &st), 0);
	cr_expect(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3), "%s is no longer the 1:3 device", node);
	cr_expect_eq(count_entries(dir), 1u, "a temporary file was left in %s", dir);
	rm_tree(dir);
}

Test(cli_snapshot_out, fifo_is_refused, .timeout = 60)
{
	char dir[64], p[96];
	make_tmpdir(dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/fifo", dir);
	cr_assert_eq(mkfifo(p, 0600), 0);
	expect_target_refused(p, "a FIFO");
	struct stat st;
	cr_assert_eq(lstat(p, &st), 0);
	cr_expect(S_ISFIFO(st.st_mode), "%s is no longer a FIFO", p);
	cr_expect_eq(count_entries(dir), 1u);
	rm_tree(dir);
}

Test(cli_snapshot_out, socket_is_refused, .timeout = 60)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir));
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/sock", dir);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
	expect_target_refused(a.sun_path, "a socket");
	struct stat st;
	cr_assert_eq(lstat(a.sun_path, &st), 0);
	cr_expect(S_ISSOCK(st.st_mode), "%s is no longer a socket", a.sun_path);
	close(s);
	rm_tree(dir);
}

Test(cli_snapshot_out, directory_is_refused, .timeout = 60)
{
	char dir[64], d[96];
	make_tmpdir(dir, sizeof(dir));
	snprintf(d, sizeof(d), "%s/d", dir);
	cr_assert_eq(mkdir(d, 0700), 0);
	expect_target_refused(d, "a directory");
	struct stat st;
	cr_assert_eq(lstat(d, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	cr_expect_eq(count_entries(dir), 1u);
	rm_tree(dir);
}

/* rename() would replace the link itself, not write through it. */
Test(cli_snapshot_out, symlink_is_refused, .timeout = 60)
{
	char dir[64], real[96], link[96];
	make_tmpdir(dir, sizeof(dir));
	snprintf(real, sizeof(real), "%s/real", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	FILE *f = fopen(real, "w");
	cr_assert_not_null(f);
	fputs("keep", f);
	fclose(f);
	cr_assert_eq(symlink(real, link), 0);
	expect_target_refused(link, "a symbolic link");
	struct stat st;
	cr_assert_eq(lstat(link, &st), 0);
	cr_expect(S_ISLNK(st.st_mode));
	cr_assert_eq(stat(real, &st), 0);
	cr_expect_eq(st.st_size, 4, "the link's target was written");
	rm_tree(dir);
}

Test(cli_snapshot_out, missing_folder_is_refused, .timeout = 60)
{
	char dir[64], p[160], nope[96];
	make_tmpdir(dir, sizeof(dir));
	snprintf(nope, sizeof(nope), "%s/nope", dir);
	snprintf(p, sizeof(p), "%s/x.snap", nope);
	expect_target_refused(p, "cannot create a file in its folder");
	cr_expect_neq(access(nope, F_OK), 0, "%s was created", nope);
	rm_tree(dir);
}

/* sysfs: access(W_OK) says yes to root, creating a file there fails. */
Test(cli_snapshot_out, unwritable_sysfs_folder_is_refused, .timeout = 60)
{
	if (access("/sys/kernel", F_OK))
		cr_skip_test("no sysfs");
	expect_target_refused("/sys/cowvm-test.snap", "cannot create a file in its folder");
	cr_expect_neq(access("/sys/cowvm-test.snap", F_OK), 0);
}

/* A read-only mount (root: a tmpfs mounted read-only in this test's own
 * mount namespace, gone when the test process ends; as another user a
 * mode-0555 folder is honestly unwritable). */
Test(cli_snapshot_out, read_only_folder_is_refused, .timeout = 60)
{
	char dir[64], ro[96], p[160];
	make_tmpdir(dir, sizeof(dir));
	snprintf(ro, sizeof(ro), "%s/ro", dir);
	snprintf(p, sizeof(p), "%s/x.snap", ro);
	cr_assert_eq(mkdir(ro, 0700), 0);
	int mounted = 0;
	if (geteuid() == 0) {
		cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare: %s", strerror(errno));
		cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
		cr_assert_eq(mount("none", ro, "tmpfs", MS_RDONLY, "size=64k"), 0, "mount: %s", strerror(errno));
		mounted = 1;
	} else {
		cr_assert_eq(chmod(ro, 0555), 0);
	}
	expect_target_refused(p, "Read-only file system");
	if (mounted)
		umount(ro);
	rm_tree(dir);
}

Test(cli_snapshot_out, existing_regular_file_is_replaced, .timeout = 60)
{
	need_kvm();
	char dir[64], p[96];
	make_tmpdir(dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/old.snap", dir);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("an old file", f);
	fclose(f);
	struct run *r = run_cowvm(30, ARGS("run", "--workload", "warm:mib=4", "--snapshot-out", p));
	expect_exit(r, 0, "run --snapshot-out over a regular file");
	free(r);
	char magic[8] = { 0 };
	f = fopen(p, "r");
	cr_assert_not_null(f);
	cr_expect_eq(fread(magic, 1, 8, f), 8u);
	fclose(f);
	cr_expect_eq(memcmp(magic, "COWVMSNP", 8), 0, "%s does not hold a snapshot", p);
	cr_expect_eq(count_entries(dir), 1u);
	rm_tree(dir);
}

/* ---- input files: a FIFO, a pipe or a device never blocks and is refused -- */

enum input_kind { IN_FIFO, IN_ZERO, IN_PIPE };

/* An input path of that kind; for a pipe, *o passes its read end as fd 3
 * and we keep the write end open (a reader would wait for ever). */
struct input {
	char dir[64], path[96];
	int wr;
	struct spawn_opts o;
};

static void input_make(struct input *in, enum input_kind k)
{
	memset(in, 0, sizeof(*in));
	in->wr = -1;
	make_tmpdir(in->dir, sizeof(in->dir));
	if (k == IN_FIFO) {
		snprintf(in->path, sizeof(in->path), "%s/fifo", in->dir);
		cr_assert_eq(mkfifo(in->path, 0600), 0);
	} else if (k == IN_ZERO) {
		snprintf(in->path, sizeof(in->path), "/dev/zero");
	} else {
		int p[2];
		cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
		in->o.keep_fd = p[0];
		in->wr = p[1];
		snprintf(in->path, sizeof(in->path), "/dev/fd/3");
	}
}

static void input_free(struct input *in)
{
	if (in->o.keep_fd > 0)
		close(in->o.keep_fd);
	if (in->wr >= 0)
		close(in->wr);
	rm_tree(in->dir);
}

static const char *const kind_word[] = { "a FIFO or pipe", "a character device", "a FIFO or pipe" };

/* args with "@" standing for the input path. */
static void expect_input_refused(enum input_kind k, const char *const args[])
{
	struct input in;
	input_make(&in, k);
	const char *a[16];
	unsigned n = 0;
	for (; args[n]; n++) {
		cr_assert_lt(n, 15u);
		a[n] = strcmp(args[n], "@") ? args[n] : in.path;
	}
	a[n] = NULL;
	char what[512];
	describe(what, sizeof(what), a);
	struct run *r = run_cowvm_opts(20, &in.o, a);
	expect_exit(r, COWVM_EXIT_USAGE, what);
	expect_one_stderr_line(r, what);
	cr_expect_not_null(strstr(r->err, "not a regular file"), "%s: stderr '%s'", what, r->err);
	cr_expect_not_null(strstr(r->err, kind_word[k]), "%s: stderr '%s' lacks '%s'", what, r->err,
	                   kind_word[k]);
	cr_expect_eq(r->outlen, 0u, "%s: stdout '%s'", what, r->out);
	free(r);
	input_free(&in);
}

#define GUEST_ARGS ARGS("run", "--guest", "@")
#define INPUT_ARGS ARGS("clone", "--from", "/etc/passwd", "--input", "@")
#define REPLAY_ARGS ARGS("replay", "--target", "parser", "@")
#define FUZZ_ARGS ARGS("fuzz-target", "--target", "parser", "@")

Test(cli_inputs, run_guest_fifo, .timeout = 30)   { expect_input_refused(IN_FIFO, GUEST_ARGS); }
Test(cli_inputs, run_guest_zero, .timeout = 30)   { expect_input_refused(IN_ZERO, GUEST_ARGS); }
Test(cli_inputs, run_guest_pipe, .timeout = 30)   { expect_input_refused(IN_PIPE, GUEST_ARGS); }
Test(cli_inputs, clone_input_fifo, .timeout = 30) { expect_input_refused(IN_FIFO, INPUT_ARGS); }
Test(cli_inputs, clone_input_zero, .timeout = 30) { expect_input_refused(IN_ZERO, INPUT_ARGS); }
Test(cli_inputs, clone_input_pipe, .timeout = 30) { expect_input_refused(IN_PIPE, INPUT_ARGS); }
Test(cli_inputs, replay_fifo, .timeout = 30)      { need_kvm(); expect_input_refused(IN_FIFO, REPLAY_ARGS); }
Test(cli_inputs, replay_zero, .timeout = 30)      { need_kvm(); expect_input_refused(IN_ZERO, REPLAY_ARGS); }
Test(cli_inputs, replay_pipe, .timeout = 30)      { need_kvm(); expect_input_refused(IN_PIPE, REPLAY_ARGS); }
Test(cli_inputs, fuzz_target_fifo, .timeout = 30) { need_kvm(); expect_input_refused(IN_FIFO, FUZZ_ARGS); }
Test(cli_inputs, fuzz_target_zero, .timeout = 30) { need_kvm(); expect_input_refused(IN_ZERO, FUZZ_ARGS); }

/* ---- the README's exit-code table, one case per row --------------------- */

static void expect_code(struct run *r, int code, const char *what, const char *want)
{
	expect_exit(r, code, what);
	if (want)
		cr_expect_not_null(strstr(r->err, want), "%s: stderr '%s' lacks '%s'", what, r->err, want);
	free(r);
}

static const struct spawn_opts few_fds = { .nofile = 4 }; /* the VMM runs out of descriptors */

/* run: the guest's own status (warm exits 3 on bad arguments). */
Test(cli_exit_codes, run_guest_status, .timeout = 60)
{
	need_kvm();
	struct run *r = run_cowvm(30, ARGS("run", "--workload", "warm:mib=100000"));
	cr_expect_not_null(strstr(r->out, "warm: bad arguments"), "stdout '%s'", r->out);
	expect_code(r, 3, "run warm:mib=100000", NULL);
}

Test(cli_exit_codes, run_triple_fault, .timeout = 60)
{
	need_kvm();
	struct run *r = run_cowvm(30, ARGS("run", "--workload", "chaos:mode=triple"));
	expect_one_stderr_line(r, "chaos:mode=triple");
	expect_code(r, COWVM_EXIT_SHUTDOWN, "run chaos:mode=triple", "triple fault");
}

Test(cli_exit_codes, run_without_dev_kvm, .timeout = 60)
{
	if (geteuid())
		cr_skip_test("needs root for a mount namespace");
	static const struct spawn_opts o = { .no_kvm = 1 };
	struct run *r = run_cowvm_opts(30, &o, ARGS("run"));
	expect_one_stderr_line(r, "run without /dev/kvm");
	expect_code(r, COWVM_EXIT_USAGE, "run without /dev/kvm", "/dev/kvm");
}

Test(cli_exit_codes, run_vmm_failure, .timeout = 60)
{
	need_kvm();
	struct run *r = run_cowvm_opts(30, &few_fds, ARGS("run"));
	expect_one_stderr_line(r, "run with 4 fds");
	expect_code(r, COWVM_EXIT_VMM_ERROR, "run with 4 fds", "Too many open files");
}

Test(cli_exit_codes, bench_bad_argument) { expect_usage_error(ARGS("bench", "--bogus")); }
Test(cli_exit_codes, bench_vmm_failure, .timeout = 60)
{
	need_kvm();
	struct run *r = run_cowvm_opts(30, &few_fds, ARGS("bench", "clone", "--sizes", "64M", "--repeat", "1"));
	expect_code(r, COWVM_EXIT_VMM_ERROR, "bench with 4 fds", "Too many open files");
}

/* A snapshot file of warm:mib=4 in dir; returns its bytes. */
static uint8_t *make_snapshot(const char *dir, char *snap, size_t n, size_t *len)
{
	snprintf(snap, n, "%s/w.snap", dir);
	struct run *r = run_cowvm(30, ARGS("run", "--workload", "warm:mib=4", "--snapshot-out", snap));
	expect_exit(r, 0, "run --snapshot-out");
	free(r);
	FILE *f = fopen(snap, "rb");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	uint8_t *b = malloc(*len);
	cr_assert_not_null(b);
	cr_assert_eq(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(b, 1, n, f), n);
	fclose(f);
}

/* clone and stats: a truncated or corrupt snapshot file is bad input (2),
 * running out of descriptors is a VMM failure (204). */
Test(cli_exit_codes, bad_snapshot_files_and_vmm_failures, .timeout = 120)
{
	need_kvm();
	char dir[64], snap[96], bad[96];
	make_tmpdir(dir, sizeof(dir));
	size_t len;
	uint8_t *b = make_snapshot(dir, snap, sizeof(snap), &len);
	snprintf(bad, sizeof(bad), "%s/bad.snap", dir);
	static const char *const cmds[] = { "clone", "stats" };
	for (unsigned c = 0; c < 2; c++) {
		char what[64];
		snprintf(what, sizeof(what), "%s: header cut short", cmds[c]);
		write_bytes(bad, b, 100);
		struct run *r = run_cowvm(30, ARGS(cmds[c], "--from", bad));
		expect_one_stderr_line(r, what);
		expect_code(r, COWVM_EXIT_USAGE, what, "truncated");
		snprintf(what, sizeof(what), "%s: half the file", cmds[c]);
		write_bytes(bad, b, len / 2);
		expect_code(run_cowvm(30, ARGS(cmds[c], "--from", bad)), COWVM_EXIT_USAGE, what, "truncated");
		snprintf(what, sizeof(what), "%s: page data byte flipped", cmds[c]);
		b[len - 10] ^= 1;
		write_bytes(bad, b, len);
		b[len - 10] ^= 1;
		expect_code(run_cowvm(30, ARGS(cmds[c], "--from", bad)), COWVM_EXIT_USAGE, what,
		            "checksum mismatch");
		snprintf(what, sizeof(what), "%s with 4 fds", cmds[c]);
		expect_code(run_cowvm_opts(30, &few_fds, ARGS(cmds[c], "--from", snap)), COWVM_EXIT_VMM_ERROR,
		            what, "Too many open files");
	}
	free(b);
	rm_tree(dir);
}

Test(cli_exit_codes, fuzz_target_mem_too_big)
{
	expect_usage_error(ARGS("fuzz-target", "--target", "parser", "--mem", "1T"));
	expect_usage_error(ARGS("replay", "--target", "parser", "--mem", "1T", "/etc/passwd"));
	expect_usage_error(ARGS("fuzz-target", "--target", "parser", "--mem", "3M"));
}

Test(cli_exit_codes, fuzz_target_warm_state_larger_than_memory)
{
	expect_usage_error(ARGS("fuzz-target", "--target", "warm", "--mib", "600"));
	expect_usage_error(ARGS("fuzz-target", "--target", "warm", "--mem", "64M", "--mib", "64"));
}

/* fuzz-target FILE outside AFL: the target's status, 128 + the signal of a
 * crash, 204 on a VMM failure; replay: 0, 1 if an input crashed, 204. */
Test(cli_exit_codes, fuzz_target_and_replay, .timeout = 120)
{
	need_kvm();
	char dir[64], ok[96], crash[96];
	make_tmpdir(dir, sizeof(dir));
	snprintf(ok, sizeof(ok), "%s/ok", dir);
	snprintf(crash, sizeof(crash), "%s/crash", dir);
	write_bytes(ok, "FUZZ", 4);
	write_bytes(crash, "FUZZDIV0", 8);
	struct run *r = run_cowvm(30, ARGS("fuzz-target", "--target", "parser", ok));
	cr_expect_str_eq(r->out, "exit 0\n");
	expect_code(r, 0, "fuzz-target ok", NULL);
	r = run_cowvm(30, ARGS("fuzz-target", "--target", "parser", crash));
	cr_expect_not_null(strstr(r->out, "CRASH FPE"), "stdout '%s'", r->out);
	expect_code(r, 128 + SIGFPE, "fuzz-target crash", NULL);
	expect_code(run_cowvm_opts(30, &few_fds, ARGS("fuzz-target", "--target", "parser", ok)),
	            COWVM_EXIT_VMM_ERROR, "fuzz-target with 4 fds", "Too many open files");
	expect_code(run_cowvm(30, ARGS("replay", "--target", "parser", ok, ok)), 0, "replay ok", NULL);
	expect_code(run_cowvm(30, ARGS("replay", "--target", "parser", ok, crash)), 1, "replay crash", NULL);
	expect_code(run_cowvm_opts(30, &few_fds, ARGS("replay", "--target", "parser", ok)),
	            COWVM_EXIT_VMM_ERROR, "replay with 4 fds", "Too many open files");
	r = run_cowvm(30, ARGS("replay", "--target", "parser", ok, "/nonexistent"));
	cr_expect_not_null(strstr(r->out, "exit 0"), "the readable input still ran: '%s'", r->out);
	expect_one_stderr_line(r, "replay of a missing file");
	expect_code(r, COWVM_EXIT_USAGE, "replay of a missing file", "/nonexistent");
	rm_tree(dir);
}

/* ---- run --reports --snapshot-out: the reports of both phases ---------- */

Test(cli_kvm, reports_before_and_after_the_snapshot, .timeout = 60)
{
	need_kvm();
	char dir[64], snap[96];
	make_tmpdir(dir, sizeof(dir));
	snprintf(snap, sizeof(snap), "%s/w.snap", dir);
	struct run *r = run_cowvm(30, ARGS("run", "--workload", "warm:mib=4", "--reports", "--snapshot-out", snap));
	expect_exit(r, 0, "run --reports --snapshot-out");
	/* warm reports warm.slots before its snapshot, warm.clone and
	 * warm.status after it (4 MiB: 2^18 slots). */
	const char *slots = strstr(r->err, "report warm.slots=262144 ");
	const char *clone = strstr(r->err, "report warm.clone=0 ");
	cr_expect_not_null(slots, "the report made before the snapshot is lost: '%s'", r->err);
	cr_expect_not_null(clone, "stderr '%s'", r->err);
	cr_expect_not_null(strstr(r->err, "report warm.status=0 "), "stderr '%s'", r->err);
	cr_expect(slots && clone && slots < clone, "reports out of order: '%s'", r->err);
	free(r);
	rm_tree(dir);
}
