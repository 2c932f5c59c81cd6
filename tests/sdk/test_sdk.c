/*
 * test_sdk.c - guests built on the guest SDK (libcowguest, tests/sdk/guests)
 * run through `cowvm run` / `cowvm clone`: formatted output byte for byte,
 * arguments and names from --guest/--arg/--workload, the heap, exit
 * statuses, exceptions, secondary vCPUs, the ring-0 gate, snapshot and
 * clones, and that the SDK's internal names never clash with a guest's.
 * Paths come from meson ($COWVM_BIN, $SDK_PROBE, $SDK_MIN, $SDK_NAMES).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cowvm_abi.h"
#include "spawn.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);
	cr_assert_not_null(v, "$%s is not set (run through meson test)", name);
	return v;
}

static void need_kvm(void)
{
	if (access("/dev/kvm", R_OK | W_OK))
		cr_skip_test("KVM test skipped: /dev/kvm is missing or not usable");
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Run cowvm with args (without argv[0]) to its end; the caller frees. */
static struct spawn *cowvm(const char *const args[])
{
	const char *argv[40] = { env("COWVM_BIN") };
	unsigned n = 1;
	for (; args[n - 1]; n++) {
		cr_assert_lt(n, 39u);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;
	struct spawn *s = calloc(1, sizeof(*s));
	cr_assert_not_null(s);
	cr_assert_eq(spawn_start(s, argv), 0, "cannot start %s", argv[0]);
	cr_assert_eq(spawn_wait_exit(s, 120), 0, "cowvm did not end in 120 s");
	spawn_end(s);
	return s;
}

static int exit_code(const struct spawn *s)
{
	cr_assert(WIFEXITED(s->status), "cowvm did not exit normally (status %#x)", s->status);
	return WEXITSTATUS(s->status);
}

static void expect_run(struct spawn *s, int code, const char *out, const char *what)
{
	cr_expect_eq(exit_code(s), code, "%s: exit %d, expected %d; stderr '%s'", what, exit_code(s), code,
	             s->err);
	if (out)
		cr_expect_str_eq(s->out, out, "%s: stdout differs", what);
	free(s);
}

Test(sdk, printf_formats_exactly, .timeout = 60)
{
	need_kvm();
	const char *want =
	        "d=42 i=-7 neg=-2147483648 u=4000000000\n"
	        "x=beef X=BEEF o=10 p=0x1000\n"
	        "ll=-9223372036854775808 llu=18446744073709551615 llx=123456789abcdef\n"
	        "z=12345 hh=44 h=4464\n"
	        "[   42] [42   ] [00042] [+42] [ 42] [007] [     0ab]\n"
	        "[abc] [     abc] [abc     ] [ab] [   x] [Q] [%] [(null)]\n"
	        "snprintf n=13 buf=truncat\n"
	        "snprintf n=8 buf=00000abc\n";
	expect_run(cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--arg", "mode=printf")), 0, want, "printf");
}

Test(sdk, args_in_order_and_name_is_the_file, .timeout = 60)
{
	need_kvm();
	struct spawn *s = cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--arg", "mode=args", "--arg",
	                             "key.with_chars-1=v=x,y z", "--arg", "num=0x10"));
	expect_run(s, 0,
	           "name=sdk_probe.elf count=3\n"
	           "arg 0: mode=args\n"
	           "arg 1: key.with_chars-1=v=x,y z\n"
	           "arg 2: num=0x10\n"
	           "past the end: -1; missing: NULL; num: 0 16\n",
	           "--arg");
}

Test(sdk, workload_names_a_foreign_guest_unchecked, .timeout = 60)
{
	need_kvm();
	/* --workload with --guest: any name and keys; --arg adds to them. */
	struct spawn *s = cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--workload", "myapp:mode=args,n=3",
	                             "--arg", "num=zz"));
	expect_run(s, 0,
	           "name=myapp count=3\n"
	           "arg 0: mode=args\n"
	           "arg 1: n=3\n"
	           "arg 2: num=zz\n"
	           "past the end: -1; missing: NULL; num: -1 5\n",
	           "--workload myapp");
}

Test(sdk, argument_limits_refused_before_the_guest, .timeout = 60)
{
	const char *g = env("SDK_PROBE");
	struct {
		const char *const *args;
		const char *msg;
	} cases[] = {
		{ ARGS("run", "--guest", g, "--arg", "bad key=1"), "may hold only letters" },
		{ ARGS("run", "--guest", g, "--arg", "noequals"), "is not key=value" },
		{ ARGS("run", "--guest", g, "--arg", "=v"), "is not key=value" },
		{ ARGS("run", "--guest", g, "--arg", "k="), "is not key=value" },
		{ ARGS("run", "--guest", g, "--arg", "k=1", "--arg", "k=2"), "argument 'k' given twice" },
		{ ARGS("run", "--guest", g, "--arg", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk=1"), "argument too long" },
		{ ARGS("run", "--guest", g, "--arg",
		       "k=vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"), "argument too long" },
		{ ARGS("run", "--guest", g, "--arg", "a=1", "--arg", "b=1", "--arg", "c=1", "--arg", "d=1", "--arg",
		       "e=1", "--arg", "f=1", "--arg", "g=1", "--arg", "h=1", "--arg", "i=1"), "too many arguments" },
		{ ARGS("run", "--guest", g, "--workload", "my app"), "may hold only printable" },
		{ ARGS("run", "--guest", g, "--workload", "a-name-of-thirty-two-bytes-long!"), "must be 1..31 bytes" },
		/* The built-in guest-stub still checks its workloads and keys. */
		{ ARGS("run", "--workload", "myapp"), "unknown workload 'myapp'" },
		{ ARGS("run", "--arg", "mib=4"), "workload hello: unknown argument 'mib'" },
		{ ARGS("run", "--workload", "memtouch", "--arg", "mib=x"), "mib=x is not a number" },
		{ ARGS("run", "--kernel", "/nonexistent", "--arg", "a=1"), "--arg" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spawn *s = cowvm(cases[i].args);
		cr_expect_eq(exit_code(s), COWVM_EXIT_USAGE, "case %zu: exit %d; stderr '%s'", i, exit_code(s),
		             s->err);
		cr_expect_not_null(strstr(s->err, cases[i].msg), "case %zu: stderr '%s' lacks '%s'", i, s->err,
		                   cases[i].msg);
		cr_expect_eq(s->outlen, 0u, "case %zu: the guest ran: '%s'", i, s->out);
		free(s);
	}
}

Test(sdk, eight_arguments_fit, .timeout = 60)
{
	need_kvm();
	struct spawn *s = cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--arg", "mode=args", "--arg", "b=1",
	                             "--arg", "c=2", "--arg", "d=3", "--arg", "e=4", "--arg", "f=5", "--arg",
	                             "g=6", "--arg",
	                             "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk="
	                             "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"));
	cr_expect_eq(exit_code(s), 0, "stderr '%s'", s->err);
	cr_expect_not_null(strstr(s->out, "count=8\n"), "stdout '%s'", s->out);
	cr_expect_not_null(strstr(s->out, "arg 7: kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk="
	                                  "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\n"),
	                   "stdout '%s'", s->out);
	free(s);
}

Test(sdk, heap_reports, .timeout = 60)
{
	need_kvm();
	struct spawn *s = cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--arg", "mode=heap", "--reports"));
	cr_expect_eq(exit_code(s), 0, "stderr '%s'", s->err);
	cr_expect_str_eq(s->out, "heap ok\n");
	/* Payloads of 100, 1000, 10 bytes: blocks of 128, 1024, 32 with a
	 * 16-byte header each. */
	cr_expect_str_eq(s->err,
	                 "report heap.used3=1136 (0x470)\n"
	                 "report heap.reuse=1 (0x1)\n"
	                 "report heap.calloc_zero=1 (0x1)\n"
	                 "report heap.realloc_kept=1 (0x1)\n"
	                 "report heap.too_big=1 (0x1)\n"
	                 "report heap.overflow=1 (0x1)\n"
	                 "report heap.used_end=0 (0)\n"
	                 "report heap.whole=1 (0x1)\n"
	                 "report heap.largest_fits=1 (0x1)\n");
	free(s);
}

Test(sdk, exit_statuses, .timeout = 60)
{
	need_kvm();
	const char *g = env("SDK_PROBE");
	expect_run(cowvm(ARGS("run", "--guest", g, "--arg", "mode=exit", "--arg", "status=77")), 77, "", "status 77");
	expect_run(cowvm(ARGS("run", "--guest", g, "--arg", "mode=exit", "--arg", "status=250")), 200, "",
	           "status 250 clamped");
	expect_run(cowvm(ARGS("run", "--guest", g, "--arg", "mode=nosuch")), 1, "unknown mode 'nosuch'\n",
	           "unknown mode");
	expect_run(cowvm(ARGS("run", "--guest", env("SDK_MIN"))), 5, "", "sdk_min");
}

Test(sdk, exception_in_main, .timeout = 60)
{
	need_kvm();
	struct spawn *s = cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--arg", "mode=fault"));
	cr_expect_eq(exit_code(s), COWVM_EXIT_EXCEPTION, "stderr '%s'", s->err);
	cr_expect_not_null(strstr(s->err, "#PF"), "stderr '%s'", s->err);
	cr_expect_not_null(strstr(s->err, "cr2=0x1 "), "stderr '%s'", s->err);
	free(s);
}

Test(sdk, secondary_vcpus_run_cg_ap_main, .timeout = 120)
{
	need_kvm();
	struct spawn *s = cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--vcpus", "3", "--arg", "mode=ap",
	                             "--reports"));
	cr_expect_eq(exit_code(s), 0, "stderr '%s'", s->err);
	cr_expect_str_eq(s->out, "ncpus=3 aps=2\n");
	cr_expect_not_null(strstr(s->err, "report ap.1=11 (0xb)\n"), "stderr '%s'", s->err);
	cr_expect_not_null(strstr(s->err, "report ap.2=21 (0x15)\n"), "stderr '%s'", s->err);
	free(s);
}

Test(sdk, ring0_gate_calls_the_guests_handler, .timeout = 60)
{
	need_kvm();
	expect_run(cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--arg", "mode=ring0")), 0,
	           "ring0 returned 7042 at cpl 0\n", "ring0");
}

Test(sdk, no_request_without_input, .timeout = 60)
{
	need_kvm();
	expect_run(cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--arg", "mode=msg")), 9, "no request\n", "msg");
}

Test(sdk, internal_names_do_not_clash, .timeout = 60)
{
	need_kvm();
	expect_run(cowvm(ARGS("run", "--guest", env("SDK_NAMES"))), 0, "11 22 33 44 55 66 77 abcdefg copies=1\n",
	           "sdk_names");
}

Test(sdk, snapshot_and_clones_keep_warm_heap, .timeout = 120)
{
	need_kvm();
	char snap[] = "/tmp/cowvm-sdk-snap-XXXXXX";
	int fd = mkstemp(snap);
	cr_assert_geq(fd, 0);
	close(fd);
	struct spawn *s = cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--arg", "mode=snap", "--arg", "n=50000",
	                             "--snapshot-out", snap));
	cr_expect_eq(exit_code(s), 0, "stderr '%s'", s->err);
	cr_expect_str_eq(s->out, "original: 0\n");
	free(s);
	/* Each clone checks the table the snapshot holds and scribbles over
	 * it; the next clone on the same (reset) shell must find it intact. */
	s = cowvm(ARGS("clone", "--from", snap, "-n", "5", "--jobs", "1"));
	cr_expect_eq(exit_code(s), 0, "stderr '%s'", s->err);
	cr_expect_not_null(strstr(s->out, "5 ok, 0 failed"), "stdout '%s'", s->out);
	free(s);
	s = cowvm(ARGS("stats", "--from", snap));
	cr_expect_eq(exit_code(s), 0, "stderr '%s'", s->err);
	cr_expect_not_null(strstr(s->out, "workload sdk_probe.elf\n"), "stdout '%s'", s->out);
	free(s);
	unlink(snap);
}

/* ---- cowvm clone --reports / --json / --request ------------------------- */

/* A snapshot of sdk_probe's snap mode (extra arguments appended); the
 * caller unlinks path. */
static void make_snap(char *path, const char *then)
{
	strcpy(path, "/tmp/cowvm-sdk-snap-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	struct spawn *s = then ? cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--arg", "mode=snap", "--arg",
	                                    "n=1000", "--arg", then, "--snapshot-out", path))
	                       : cowvm(ARGS("run", "--guest", env("SDK_PROBE"), "--arg", "mode=snap", "--arg",
	                                    "n=1000", "--snapshot-out", path));
	cr_assert_eq(exit_code(s), 0, "making the snapshot: stderr '%s'", s->err);
	free(s);
}

static void write_file(char *path, const void *data, size_t len)
{
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Check one JSON line: exactly `head` + "<number>,\"run_us\":<number>" +
 * `tail` (the latencies vary). Returns the start of the next line. */
static const char *expect_json_line(const char *p, const char *head, const char *tail)
{
	const char *nl = strchr(p, '\n');
	cr_assert_not_null(nl, "no JSON line left; got '%s'", p);
	size_t hl = strlen(head), tl = strlen(tail), n = (size_t)(nl - p);
	cr_assert(n > hl + tl && !strncmp(p, head, hl) && !strncmp(nl - tl, tail, tl),
	          "JSON line '%.*s'\nexpected '%s<us>,\"run_us\":<us>%s'", (int)n, p, head, tail);
	const char *mid = p + hl;
	char *end;
	cr_expect_geq(strtod(mid, &end), 0.0);
	cr_assert(end > mid && !strncmp(end, ",\"run_us\":", 10), "clone_us in '%.*s'", (int)n, p);
	mid = end + 10;
	cr_expect_gt(strtod(mid, &end), 0.0);
	cr_assert(end > mid && end == nl - tl, "run_us in '%.*s'", (int)n, p);
	return nl + 1;
}

/* A JSON line with a message: `head`, the message, then `mid` (from the
 * message's closing quote to "clone_us":), the latencies, `tail`. */
static void expect_json_message(const char *p, const char *head, const char *mid, const char *tail)
{
	const char *nl = strchr(p, '\n');
	cr_assert_not_null(nl, "no JSON line in '%s'", p);
	cr_assert(!strncmp(p, head, strlen(head)), "JSON line '%.*s' does not start with '%s'", (int)(nl - p), p, head);
	const char *m = strstr(p, mid);
	cr_assert(m && m < nl, "JSON line '%.*s' lacks '%s'", (int)(nl - p), p, mid);
	expect_json_line(m, mid, tail);
}

Test(clone_output, reports_lines_with_request_and_response, .timeout = 120)
{
	need_kvm();
	char snap[] = "/tmp/cowvm-sdk-snap-XXXXXX", req[] = "/tmp/cowvm-sdk-req-XXXXXX";
	make_snap(snap, NULL);
	write_file(req, "ping me", 7);
	struct spawn *s = cowvm(ARGS("clone", "--from", snap, "-n", "2", "--jobs", "1", "--reports", "--request", req));
	cr_expect_eq(exit_code(s), 0, "stderr '%s'", s->err);
	/* sum of i*i for i < 1000 = 332833500 */
	const char *want = "clone 1: exit 0\n"
	                   "  report snap.clone=1 (0x1)\n"
	                   "  report snap.ok=1 (0x1)\n"
	                   "  response \"clone 1 sum 332833500: PING ME\"\n"
	                   "clone 2: exit 0\n"
	                   "  report snap.clone=2 (0x2)\n"
	                   "  report snap.ok=1 (0x1)\n"
	                   "  response \"clone 2 sum 332833500: PING ME\"\n"
	                   "snapshot ";
	cr_expect(!strncmp(s->out, want, strlen(want)), "stdout '%s'\nexpected to start with '%s'", s->out, want);
	cr_expect_not_null(strstr(s->out, "2 ok, 0 failed"), "stdout '%s'", s->out);
	free(s);
	unlink(snap);
	unlink(req);
}

Test(clone_output, json_to_stdout_holds_only_json, .timeout = 120)
{
	need_kvm();
	char snap[] = "/tmp/cowvm-sdk-snap-XXXXXX", req[] = "/tmp/cowvm-sdk-req-XXXXXX";
	make_snap(snap, NULL);
	/* Quote, backslash, a control byte and a non-ASCII byte: escaped. */
	write_file(req, "a\"b\\c\x01\xe9", 7);
	struct spawn *s = cowvm(ARGS("clone", "--from", snap, "-n", "2", "--jobs", "1", "--json", "-", "--request", req));
	cr_expect_eq(exit_code(s), 0, "stderr '%s'", s->err);
	const char *p = expect_json_line(s->out,
	        "{\"clone\":1,\"end\":\"exit\",\"status\":0,\"reports\":{\"snap.clone\":1,\"snap.ok\":1},\"clone_us\":",
	        ",\"response\":\"clone 1 sum 332833500: A\\\"B\\\\C\\u0001\\u00e9\"}");
	p = expect_json_line(p,
	        "{\"clone\":2,\"end\":\"exit\",\"status\":0,\"reports\":{\"snap.clone\":2,\"snap.ok\":1},\"clone_us\":",
	        ",\"response\":\"clone 2 sum 332833500: A\\\"B\\\\C\\u0001\\u00e9\"}");
	cr_expect_str_eq(p, "", "stdout holds more than the JSON lines");
	cr_expect_not_null(strstr(s->err, "2 ok, 0 failed"), "the summary is not on stderr: '%s'", s->err);
	free(s);
	unlink(snap);
	unlink(req);
}

Test(clone_output, json_file_failed_clones, .timeout = 120)
{
	need_kvm();
	char snap[] = "/tmp/cowvm-sdk-snap-XXXXXX", json[] = "/tmp/cowvm-sdk-json-XXXXXX";
	make_snap(snap, "then=fault");
	int fd = mkstemp(json);
	cr_assert_geq(fd, 0);
	struct spawn *s = cowvm(ARGS("clone", "--from", snap, "-n", "1", "--json", json, "--reports"));
	cr_expect_eq(exit_code(s), 1, "a clone failed: exit 1; stderr '%s'", s->err);
	const char *line1 = "clone 1: exception (201): guest exception #PF (page fault) vector=14 on vCPU 0: ";
	cr_expect(!strncmp(s->out, line1, strlen(line1)), "stdout '%s'", s->out);
	char buf[4096] = { 0 };
	cr_assert_gt(read(fd, buf, sizeof(buf) - 1), 0);
	close(fd);
	expect_json_message(buf,
	        "{\"clone\":1,\"end\":\"exception\",\"status\":201,\"message\":\"guest exception #PF (page fault) "
	        "vector=14 on vCPU 0: ",
	        "\",\"reports\":{\"snap.clone\":1,\"snap.ok\":1},\"clone_us\":",
	        ",\"response\":\"clone 1 sum 332833500\"}");
	cr_expect_not_null(strstr(buf, "cr2=0x30 "), "json '%s'", buf); /* 3 arguments * 16 */
	free(s);
	unlink(snap);

	make_snap(snap, "then=spin");
	s = cowvm(ARGS("clone", "--from", snap, "-n", "1", "--timeout", "300", "--json", "-"));
	cr_expect_eq(exit_code(s), 1, "stderr '%s'", s->err);
	expect_json_message(s->out, "{\"clone\":1,\"end\":\"timeout\",\"status\":202,\"message\":\"",
	                    "\",\"reports\":{\"snap.clone\":1,\"snap.ok\":1},\"clone_us\":",
	                    ",\"response\":\"clone 1 sum 332833500\"}");
	free(s);
	unlink(snap);

	make_snap(snap, "then=exit3");
	s = cowvm(ARGS("clone", "--from", snap, "-n", "1", "--json", "-"));
	cr_expect_eq(exit_code(s), 1, "stderr '%s'", s->err);
	expect_json_line(s->out, "{\"clone\":1,\"end\":\"exit\",\"status\":3,\"reports\":{\"snap.clone\":1,\"snap.ok\":1},"
	                 "\"clone_us\":", ",\"response\":\"clone 1 sum 332833500\"}");
	free(s);
	unlink(snap);
	unlink(json);
}

Test(clone_output, bad_options_refused, .timeout = 60)
{
	char req[] = "/tmp/cowvm-sdk-req-XXXXXX", fifo[] = "/tmp/cowvm-sdk-fifo-XXXXXX";
	static char big[COWVM_MSG_MAX + 1];
	write_file(req, big, sizeof(big));
	cr_assert_not_null(mkdtemp(fifo));
	char fifo_path[64];
	snprintf(fifo_path, sizeof(fifo_path), "%s/f", fifo);
	cr_assert_eq(mkfifo(fifo_path, 0600), 0);
	struct {
		const char *const *args;
		const char *msg;
	} cases[] = {
		{ ARGS("clone", "--from", "/etc/passwd", "--input", "/etc/passwd", "--request", "/etc/passwd"),
		  "--input and --request both" },
		{ ARGS("clone", "--from", "/etc/passwd", "--request", req), "larger than 65528 bytes" },
		{ ARGS("clone", "--from", "/etc/passwd", "--request", "/nonexistent"), "cannot use request" },
		/* Never opened for reading (it would block): refused at once. */
		{ ARGS("clone", "--from", "/etc/passwd", "--request", fifo_path), "a FIFO or pipe, not a regular file" },
		{ ARGS("clone", "--from", "/etc/passwd", "--json"), "unknown or incomplete option" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spawn *s = cowvm(cases[i].args);
		cr_expect_eq(exit_code(s), COWVM_EXIT_USAGE, "case %zu: exit %d; stderr '%s'", i, exit_code(s), s->err);
		cr_expect_not_null(strstr(s->err, cases[i].msg), "case %zu: stderr '%s' lacks '%s'", i, s->err,
		                   cases[i].msg);
		free(s);
	}
	unlink(req);
	unlink(fifo_path);
	rmdir(fifo);
}

Test(clone_output, json_file_unwritable, .timeout = 60)
{
	need_kvm();
	char snap[] = "/tmp/cowvm-sdk-snap-XXXXXX";
	make_snap(snap, NULL);
	struct spawn *s = cowvm(ARGS("clone", "--from", snap, "--json", "/nonexistent-dir/x.json"));
	cr_expect_eq(exit_code(s), COWVM_EXIT_USAGE, "stderr '%s'", s->err);
	cr_expect_not_null(strstr(s->err, "cannot write --json file '/nonexistent-dir/x.json'"), "stderr '%s'", s->err);
	free(s);
	unlink(snap);
}
