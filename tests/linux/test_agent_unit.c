/*
 * test_agent_unit.c - cowvm-agent's pure parts, natively (suite 'unit'):
 * argument parsing, the info page's checks, request and response framing,
 * the entropy buffer, the hypercall layer and the serve/info/report/exit
 * commands over the mock window of agent_mock.c, and the request runner
 * (real /bin/sh children). The real transport (/dev/mem, iopl, OUT to port
 * 0x500) and the real entropy/clock actions are not linked in: nothing here
 * touches host hardware or the host's clock. Last, the built agent itself
 * (COWVM_AGENT) must be a static x86_64 executable.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_mock.h"

static struct agent_mock *new_mock(void)
{
	struct agent_mock *m = calloc(1, sizeof(*m));
	cr_assert(m);
	mock_init(m);
	memset(&mock_sys_rec, 0, sizeof(mock_sys_rec));
	return m;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- arguments ------------------------------------------------------------------ */
#define PARSE(...)                                                                    \
	({                                                                                \
		char *const v_[] = { "cowvm-agent", __VA_ARGS__, NULL };                      \
		agent_parse_args((int)(sizeof(v_) / sizeof(v_[0])) - 1, v_, &a, err, sizeof(err)); \
	})

Test(agent_args, serve_defaults_and_options)
{
	struct agent_args a;
	char err[200];
	cr_assert_eq(PARSE("serve"), 0);
	cr_assert_eq(a.cmd, AGENT_CMD_SERVE);
	cr_assert_eq(a.warm_mib, 0);
	cr_assert_eq(a.timeout_s, 60);
	cr_assert_eq(PARSE("serve", "--warm-mib", "16", "--timeout", "5"), 0);
	cr_assert_eq(a.warm_mib, 16);
	cr_assert_eq(a.timeout_s, 5);
	cr_assert_eq(PARSE("serve", "--warm-mib=0x20", "--timeout=1"), 0);
	cr_assert_eq(a.warm_mib, 32);
	cr_assert_eq(a.timeout_s, 1);
	cr_assert_eq(PARSE("serve", "--warm-mib", "1048576"), 0);
	cr_assert_eq(a.warm_mib, AGENT_WARM_MIB_MAX);
}

Test(agent_args, serve_refusals)
{
	struct agent_args a;
	char err[200];
	cr_assert_eq(PARSE("serve", "--warm-mib"), -EINVAL);
	cr_assert_str_eq(err, "serve: --warm-mib needs a number");
	cr_assert_eq(PARSE("serve", "--warm-mib", "16M"), -EINVAL);
	cr_assert_str_eq(err, "serve: --warm-mib '16M' is not a number");
	cr_assert_eq(PARSE("serve", "--warm-mib", "1048577"), -EINVAL);
	cr_assert_str_eq(err, "serve: --warm-mib 1048577 is over 1048576");
	cr_assert_eq(PARSE("serve", "--warm-mib", "-1"), -EINVAL);
	cr_assert_eq(PARSE("serve", "--timeout", "0"), -EINVAL);
	cr_assert_str_eq(err, "serve: --timeout 0 is not in 1..86400");
	cr_assert_eq(PARSE("serve", "--timeout", "86401"), -EINVAL);
	cr_assert_eq(PARSE("serve", "--warm"), -EINVAL);
	cr_assert_str_eq(err, "serve: unknown argument '--warm'");
	cr_assert_eq(PARSE("serve", "--warm-mibs=3"), -EINVAL);
	cr_assert_eq(PARSE("serve", "extra"), -EINVAL);
}

Test(agent_args, report_exit_info_help)
{
	struct agent_args a;
	char err[200];
	cr_assert_eq(PARSE("report", "k", "42"), 0);
	cr_assert_eq(a.cmd, AGENT_CMD_REPORT);
	cr_assert_str_eq(a.key, "k");
	cr_assert_eq(a.value, 42);
	cr_assert_eq(PARSE("report", "k", "0xFFffFFffFFffFFff"), 0);
	cr_assert_eq(a.value, UINT64_MAX);
	cr_assert_eq(PARSE("report", "k", "-1"), 0);
	cr_assert_eq(a.value, UINT64_MAX);
	cr_assert_eq(PARSE("report", "k", "-9223372036854775808"), 0);
	cr_assert_eq(a.value, 1ull << 63);
	cr_assert_eq(PARSE("report", "k", "-9223372036854775809"), -EINVAL);
	cr_assert_eq(PARSE("report", "k", "18446744073709551616"), -EINVAL);
	cr_assert_str_eq(err, "report: VALUE '18446744073709551616' is not a 64-bit number");
	char key63[64], key64[65];
	memset(key63, 'k', 63);
	key63[63] = 0;
	memset(key64, 'k', 64);
	key64[64] = 0;
	cr_assert_eq(PARSE("report", key63, "1"), 0);
	cr_assert_eq(PARSE("report", key64, "1"), -EINVAL);
	cr_assert_str_eq(err, "report: KEY must be 1..63 bytes (got 64)");
	cr_assert_eq(PARSE("report", "", "1"), -EINVAL);
	cr_assert_eq(PARSE("report", "k"), -EINVAL);
	cr_assert_str_eq(err, "report needs KEY VALUE");

	cr_assert_eq(PARSE("exit", "255"), 0);
	cr_assert_eq(a.cmd, AGENT_CMD_EXIT);
	cr_assert_eq(a.status, 255);
	cr_assert_eq(PARSE("exit", "0"), 0);
	cr_assert_eq(a.status, 0);
	cr_assert_eq(PARSE("exit", "256"), -EINVAL);
	cr_assert_str_eq(err, "exit: STATUS '256' is not in 0..255");
	cr_assert_eq(PARSE("exit", "-1"), -EINVAL);
	cr_assert_eq(PARSE("exit", "1", "2"), -EINVAL);

	cr_assert_eq(PARSE("info"), 0);
	cr_assert_eq(a.cmd, AGENT_CMD_INFO);
	cr_assert_eq(PARSE("info", "x"), -EINVAL);
	cr_assert_eq(PARSE("--help"), 0);
	cr_assert_eq(a.cmd, AGENT_CMD_HELP);
	cr_assert_eq(PARSE("-h"), 0);
	cr_assert_eq(a.cmd, AGENT_CMD_HELP);
	cr_assert_eq(PARSE("bogus"), -EINVAL);
	cr_assert_str_eq(err, "unknown command 'bogus' (serve, fuzz, info, report, exit, help)");
	char *const none[] = { "cowvm-agent", NULL };
	cr_assert_eq(agent_parse_args(1, none, &a, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "a command is missing (serve, fuzz, info, report, exit, help)");
}

Test(agent_args, strict_u64)
{
	uint64_t v = 7;
	cr_assert_eq(agent_parse_u64("18446744073709551615", &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	cr_assert_eq(agent_parse_u64("18446744073709551616", &v), -ERANGE);
	cr_assert_eq(agent_parse_u64("0x10000000000000000", &v), -ERANGE);
	cr_assert_eq(agent_parse_u64("0x1f", &v), 0);
	cr_assert_eq(v, 31);
	cr_assert_eq(agent_parse_u64("0x", &v), -EINVAL);
	cr_assert_eq(agent_parse_u64("", &v), -EINVAL);
	cr_assert_eq(agent_parse_u64(" 1", &v), -EINVAL);
	cr_assert_eq(agent_parse_u64("1 ", &v), -EINVAL);
	cr_assert_eq(agent_parse_u64("+1", &v), -EINVAL);
	cr_assert_eq(agent_parse_u64("1f", &v), -EINVAL);
	cr_assert_eq(v, 31, "a refused string leaves the output alone");
}

/* ---- the info page -------------------------------------------------------------- */
static struct cowvm_agent_info good_info(void)
{
	struct cowvm_agent_info i = { .magic = COWVM_AGENT_MAGIC, .version = COWVM_AGENT_VERSION,
		.in_gpa = COWVM_AGENT_IN_GPA, .in_size = COWVM_IOBUF_SIZE,
		.out_gpa = COWVM_AGENT_OUT_GPA, .out_size = COWVM_IOBUF_SIZE };
	return i;
}

Test(agent_frame, info_check)
{
	char err[200];
	struct cowvm_agent_info i = good_info();
	cr_assert_eq(agent_info_check(&i, err, sizeof(err)), 0);
	cr_assert_str_eq(err, "");
	i.in_size = 0; /* no input at all is fine */
	cr_assert_eq(agent_info_check(&i, err, sizeof(err)), 0);

	i = good_info();
	i.magic = 0xffffffffffffffffull; /* what VGA memory under QEMU may read as */
	cr_assert_eq(agent_info_check(&i, err, sizeof(err)), -ENODEV);
	cr_assert_str_eq(err, "not running under cowvm (no agent info page at 0xa0000: magic 0xffffffffffffffff)");
	i = good_info();
	i.version = 1;
	cr_assert_eq(agent_info_check(&i, err, sizeof(err)), -EPROTO);
	cr_assert_str_eq(err, "agent info page version 1, this agent speaks 2");

	i = good_info();
	i.in_gpa = COWVM_AGENT_HCALL_GPA; /* over the hypercall page */
	cr_assert_eq(agent_info_check(&i, err, sizeof(err)), -ERANGE);
	cr_assert_str_eq(err, "input buffer [0xa1000, +0x10000) is not inside the agent window");
	i = good_info();
	i.in_gpa = COWVM_AGENT_HCALL_GPA + 0x1000; /* right after it: fine */
	cr_assert_eq(agent_info_check(&i, err, sizeof(err)), 0);
	i.in_size = COWVM_IOBUF_SIZE + 1;
	cr_assert_eq(agent_info_check(&i, err, sizeof(err)), -ERANGE);
	i = good_info();
	i.out_gpa = COWVM_AGENT_END - 0x1000; /* runs past the window's end */
	cr_assert_eq(agent_info_check(&i, err, sizeof(err)), -ERANGE);
	cr_assert_str_eq(err, "output buffer [0xc1000, +0x10000) is not inside the agent window");
	i.out_size = 0x1000; /* ends exactly at the end: fine */
	cr_assert_eq(agent_info_check(&i, err, sizeof(err)), 0);
	i = good_info();
	i.out_gpa = 0xfffffffffffff000ull; /* gpa + size wraps */
	i.out_size = 0x2000;
	cr_assert_eq(agent_info_check(&i, err, sizeof(err)), -ERANGE);
	i = good_info();
	i.in_gpa = COWVM_AGENT_END + 8;
	i.in_size = 0;
	cr_assert_eq(agent_info_check(&i, err, sizeof(err)), -ERANGE);
}

Test(agent_frame, request_parse)
{
	size_t len = 99;
	cr_assert_eq(agent_request_parse((const uint8_t *)"ls -l\0junk", 10, &len), 0);
	cr_assert_eq(len, 5);
	cr_assert_eq(agent_request_parse((const uint8_t *)"\0ls", 3, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_eq(agent_request_parse(NULL, 0, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_eq(agent_request_parse((const uint8_t *)"abc", 4, &len), 0, "NUL in the last byte");
	cr_assert_eq(len, 3);
	len = 99;
	cr_assert_eq(agent_request_parse((const uint8_t *)"abcd", 4, &len), -EBADMSG);
	cr_assert_eq(len, 99);
}

Test(agent_frame, response_frame)
{
	uint8_t f[32];
	size_t stored = 99;
	memset(f, 0xee, sizeof(f));
	cr_assert_eq(agent_response_frame("hello", 5, 32, f, &stored), 13);
	cr_assert_eq(stored, 5);
	static const uint8_t want[13] = { 'C', 'M', 'S', 'G', 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o' };
	cr_assert_arr_eq(f, want, 13);
	cr_assert_eq(f[13], 0xee, "nothing written past the frame");

	/* truncated to out_size - 8 */
	memset(f, 0xee, sizeof(f));
	cr_assert_eq(agent_response_frame("0123456789", 10, 12, f, &stored), 12);
	cr_assert_eq(stored, 4);
	static const uint8_t want2[12] = { 'C', 'M', 'S', 'G', 4, 0, 0, 0, '0', '1', '2', '3' };
	cr_assert_arr_eq(f, want2, 12);
	cr_assert_eq(f[12], 0xee);
	/* only the header fits */
	cr_assert_eq(agent_response_frame("x", 1, 8, f, &stored), 8);
	cr_assert_eq(stored, 0);
	cr_assert_eq(f[4], 0, "an empty message");
	/* not even that: nothing stored */
	memset(f, 0xee, sizeof(f));
	cr_assert_eq(agent_response_frame("x", 1, 7, f, &stored), 0);
	cr_assert_eq(stored, 0);
	cr_assert_eq(f[0], 0xee);
	/* a large length is little-endian */
	static uint8_t big[0x10000], fb[0x10000];
	cr_assert_eq(agent_response_frame(big, 0x1234, sizeof(fb), fb, &stored), 8 + 0x1234);
	static const uint8_t hdr[8] = { 'C', 'M', 'S', 'G', 0x34, 0x12, 0, 0 };
	cr_assert_arr_eq(fb, hdr, 8);
}

Test(agent_frame, entropy_buffer)
{
	struct cowvm_agent_info i = good_info();
	for (unsigned k = 0; k < COWVM_AGENT_RANDOM; k++)
		i.random[k] = (uint8_t)(0xa0 + k);
	i.generation = 0x0102030405060708ull;
	i.host_realtime_ns = 0x1122334455667788ll;
	uint32_t buf[32];
	memset(buf, 0xee, sizeof(buf));
	int n = agent_entropy_build(&i, 0x33, buf, sizeof(buf));
	cr_assert_eq(n, (int)(sizeof(struct rand_pool_info) + 56));
	struct rand_pool_info *p = (struct rand_pool_info *)buf;
	cr_assert_eq(p->entropy_count, 256);
	cr_assert_eq(p->buf_size, 56);
	const uint8_t *b = (const uint8_t *)p->buf;
	cr_assert_arr_eq(b, i.random, 32);
	static const uint8_t tail[24] = { 0x33, 0, 0, 0, 0, 0, 0, 0,
		8, 7, 6, 5, 4, 3, 2, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };
	cr_assert_arr_eq(b + 32, tail, 24);
	cr_assert_eq(((uint8_t *)buf)[n], 0xee, "nothing past the buffer");

	/* all-zero random bytes: mixed in but not credited */
	memset(i.random, 0, sizeof(i.random));
	cr_assert_eq(agent_entropy_build(&i, 1, buf, sizeof(buf)), n);
	cr_assert_eq(p->entropy_count, 0);
	cr_assert_eq(agent_entropy_build(&i, 1, buf, (size_t)n - 1), -ENOSPC);
	cr_assert_eq(agent_entropy_build(&i, 1, buf, (size_t)n), n);
}

/* ---- the hypercall layer --------------------------------------------------------- */
Test(agent_transport, hcall_block_and_ret)
{
	struct agent_mock *m = new_mock();
	uint64_t args[5] = { 1, 2, 3, 4, 5 };
	int64_t ret = 77;
	cr_assert_eq(agent_hcall(&m->t, 99, args, &ret), 0);
	cr_assert_eq(ret, -ENOSYS, "the mock VMM's answer to an unknown number");
	cr_assert_eq(m->ncalls, 1);
	cr_assert_eq(m->calls[0].nr, 99);
	cr_assert_arr_eq(m->calls[0].args, args, sizeof(args));
	struct cowvm_hcall hc;
	memcpy(&hc, mock_at(m, AGENT_BLOCK_GPA), sizeof(hc));
	cr_assert_eq(hc.nr, 99);
	cr_assert_eq(hc.ret, -ENOSYS);

	m->snapshot_ret = 5;
	cr_assert_eq(agent_hc_snapshot(&m->t), 5);
	cr_assert_eq(m->calls[1].nr, COWVM_HC_SNAPSHOT);

	/* nobody answers (no cowvm behind the port): -ENXIO, ret untouched */
	m->no_answer = 1;
	ret = 77;
	cr_assert_eq(agent_hcall(&m->t, COWVM_HC_EXIT, args, &ret), -ENXIO);
	cr_assert_eq(ret, 77);
	m->no_answer = 0;
	m->ring_error = -EPERM;
	cr_assert_eq(agent_hc_exit(&m->t, 3), -EPERM);
	cr_assert_eq(m->bad_access, 0);
	free(m);
}

Test(agent_transport, window_bounds)
{
	struct agent_mock *m = new_mock();
	uint8_t b[16];
	cr_assert_eq(agent_win_read(&m->t, COWVM_AGENT_END - 8, b, 8), 0);
	cr_assert_eq(agent_win_read(&m->t, COWVM_AGENT_END - 8, b, 9), -EFAULT);
	cr_assert_eq(agent_win_read(&m->t, COWVM_AGENT_GPA - 1, b, 1), -EFAULT);
	cr_assert_eq(agent_win_write(&m->t, COWVM_AGENT_END, b, 1), -EFAULT);
	cr_assert_eq(agent_win_write(&m->t, COWVM_AGENT_END, b, 0), 0);
	cr_assert_eq(agent_win_write(&m->t, 0xfffffffffffffff8ull, b, 16), -EFAULT);
	cr_assert_eq(agent_win_read(&m->t, COWVM_AGENT_GPA, b, SIZE_MAX), -EFAULT);
	cr_assert_eq(agent_hc_write_gpa(&m->t, COWVM_AGENT_END - 4, 5), -EFAULT);
	cr_assert_eq(m->ncalls, 0);
	cr_assert_eq(m->bad_access, 0, "refused before the transport saw them");
	free(m);
}

Test(agent_transport, report_key_in_window)
{
	struct agent_mock *m = new_mock();
	memset(mock_at(m, AGENT_KEY_GPA), 0xee, 80);
	cr_assert_eq(agent_hc_report(&m->t, "status", 0x1234), 0);
	cr_assert_eq(m->ncalls, 1);
	cr_assert_eq(m->calls[0].nr, COWVM_HC_REPORT);
	cr_assert_eq(m->calls[0].args[0], AGENT_KEY_GPA);
	cr_assert_eq(m->calls[0].args[1], 0x1234);
	cr_assert_str_eq(m->calls[0].key, "status");
	cr_assert_arr_eq(mock_at(m, AGENT_KEY_GPA), "status", 7);
	cr_assert_eq(*mock_at(m, AGENT_KEY_GPA + 7), 0xee);

	char k63[64], k64[65];
	memset(k63, 'a', 63);
	k63[63] = 0;
	memset(k64, 'a', 64);
	k64[64] = 0;
	cr_assert_eq(agent_hc_report(&m->t, k63, 1), 0);
	cr_assert_str_eq(m->calls[1].key, k63);
	cr_assert_eq(agent_hc_report(&m->t, k64, 1), -EINVAL);
	cr_assert_eq(agent_hc_report(&m->t, "", 1), -EINVAL);
	cr_assert_eq(m->ncalls, 2, "refused keys make no hypercall");
	free(m);
}

Test(agent_transport, console_chunks)
{
	struct agent_mock *m = new_mock();
	/* from the window: WRITE_MAX chunks */
	cr_assert_eq(agent_hc_write_gpa(&m->t, COWVM_AGENT_GPA, 2 * COWVM_IOBUF_SIZE + 5), 0);
	cr_assert_eq(m->ncalls, 3);
	cr_assert_eq(m->calls[0].args[0], COWVM_AGENT_GPA);
	cr_assert_eq(m->calls[0].args[1], COWVM_HC_WRITE_MAX);
	cr_assert_eq(m->calls[1].args[0], COWVM_AGENT_GPA + COWVM_HC_WRITE_MAX);
	cr_assert_eq(m->calls[1].args[1], COWVM_HC_WRITE_MAX);
	cr_assert_eq(m->calls[2].args[0], COWVM_AGENT_GPA + 2 * COWVM_HC_WRITE_MAX);
	cr_assert_eq(m->calls[2].args[1], 5);
	cr_assert_eq(m->console_len, 2 * COWVM_IOBUF_SIZE + 5);
	cr_assert_eq(agent_hc_write_gpa(&m->t, COWVM_AGENT_GPA, 0), 0);
	cr_assert_eq(m->ncalls, 3, "nothing to write: no call");

	/* from agent memory: through the text area */
	m->ncalls = 0;
	m->console_len = 0;
	static char text[5000];
	for (unsigned i = 0; i < sizeof(text); i++)
		text[i] = (char)('a' + i % 26);
	cr_assert_eq(agent_hc_print(&m->t, text, sizeof(text)), 0);
	cr_assert_eq(m->ncalls, 2);
	cr_assert_eq(m->calls[0].args[0], AGENT_TEXT_GPA);
	cr_assert_eq(m->calls[0].args[1], AGENT_TEXT_MAX);
	cr_assert_eq(m->calls[1].args[1], sizeof(text) - AGENT_TEXT_MAX);
	cr_assert_eq(m->console_len, sizeof(text));
	cr_assert_arr_eq(m->console, text, sizeof(text));
	cr_assert_eq(m->bad_access, 0);
	free(m);
}

/* ---- the request runner ------------------------------------------------------- */
Test(agent_run, status_and_output)
{
	uint8_t out[256];
	struct agent_run_result r;
	cr_assert_eq(agent_run("/bin/sh", "echo hello; echo oops >&2; exit 3", 5000, out, sizeof(out), &r), 0);
	cr_assert_eq(r.status, 3);
	cr_assert_eq(r.len, 11);
	cr_assert_eq(r.total, 11);
	cr_assert_arr_eq(out, "hello\noops\n", 11);
	cr_assert_eq(agent_run("/bin/sh", "cat; echo end", 5000, out, sizeof(out), &r), 0);
	cr_assert_eq(r.status, 0, "stdin is /dev/null: cat ends at once");
	cr_assert_eq(r.len, 4);
	cr_assert_arr_eq(out, "end\n", 4);
	cr_assert_eq(agent_run("/bin/sh", "kill -9 $$", 5000, out, sizeof(out), &r), 0);
	cr_assert_eq(r.status, 128 + 9);
	cr_assert_eq(agent_run("/nonexistent/sh", "true", 5000, out, sizeof(out), &r), 0);
	cr_assert_eq(r.status, AGENT_STATUS_NOSH);
	cr_assert_eq(r.len, 0);
}

Test(agent_run, truncation_keeps_draining)
{
	uint8_t out[4];
	struct agent_run_result r;
	cr_assert_eq(agent_run("/bin/sh", "printf 0123456789", 5000, out, sizeof(out), &r), 0);
	cr_assert_eq(r.status, 0);
	cr_assert_eq(r.len, 4);
	cr_assert_eq(r.total, 10);
	cr_assert_arr_eq(out, "0123", 4);
	/* more than a pipe holds: the writer is never blocked by our cap */
	static uint8_t small[1000];
	cr_assert_eq(agent_run("/bin/sh", "head -c 300000 /dev/zero; exit 4", 10000, small, sizeof(small), &r), 0);
	cr_assert_eq(r.status, 4);
	cr_assert_eq(r.len, 1000);
	cr_assert_eq(r.total, 300000);
}

Test(agent_run, time_limit_and_background)
{
	uint8_t out[64];
	struct agent_run_result r;
	double t0 = now_s();
	cr_assert_eq(agent_run("/bin/sh", "echo start; exec sleep 20", 300, out, sizeof(out), &r), 0);
	double dt = now_s() - t0;
	cr_assert_eq(r.status, AGENT_STATUS_TIMEOUT);
	cr_assert(dt >= 0.29 && dt < 5, "took %.3f s", dt);
	cr_assert_eq(r.len, 6);
	cr_assert_arr_eq(out, "start\n", 6);

	/* a background child holding the pipe does not hold the response */
	t0 = now_s();
	cr_assert_eq(agent_run("/bin/sh", "sleep 20 & echo done", 10000, out, sizeof(out), &r), 0);
	dt = now_s() - t0;
	cr_assert_eq(r.status, 0);
	cr_assert(dt < 5, "took %.3f s", dt);
	cr_assert_eq(r.len, 5);
	cr_assert_arr_eq(out, "done\n", 5);
	/* a shell that closed its output still ends at the time limit */
	cr_assert_eq(agent_run("/bin/sh", "exec >&- 2>&-; sleep 20", 300, out, sizeof(out), &r), 0);
	cr_assert_eq(r.status, AGENT_STATUS_TIMEOUT);
}

/* ---- warm state ------------------------------------------------------------------ */
Test(agent_warm, build_and_check)
{
	uint8_t *w = (uint8_t *)1;
	cr_assert_eq(agent_warm_build(0, &w), 0);
	cr_assert_null(w);
	cr_assert_eq(agent_warm_check(NULL, 0), 0);
	cr_assert_eq(agent_warm_build(AGENT_WARM_MIB_MAX + 1, &w), -EINVAL);
	cr_assert_eq(agent_warm_build(2, &w), 0);
	for (uint64_t page = 0; page < 512; page++) {
		uint64_t q[2];
		memcpy(q, w + page * 4096, 8);
		memcpy(q + 1, w + page * 4096 + 4088, 8);
		cr_assert_eq(q[0], agent_warm_word(page));
		cr_assert_eq(q[1], agent_warm_word(page));
	}
	cr_assert_neq(agent_warm_word(0), agent_warm_word(1));
	cr_assert_eq(agent_warm_check(w, 2), 0);
	w[8 * 4096 + 100] ^= 1; /* page 8: sampled (stride 512 / 64 = 8) */
	cr_assert_eq(agent_warm_check(w, 2), -EIO);
	free(w);
}

/* ---- the commands over the mock ----------------------------------------------- */
struct cmd_env {
	struct agent_mock *m;
	struct agent_ctx c;
	char *logbuf;
	size_t loglen;
};

static void env_init(struct cmd_env *e)
{
	e->m = new_mock();
	e->c.t = &e->m->t;
	e->c.sys = &mock_sys;
	e->c.sh = "/bin/sh";
	e->c.log = open_memstream(&e->logbuf, &e->loglen);
	cr_assert(e->c.log);
}

static const char *env_log(struct cmd_env *e)
{
	fflush(e->c.log);
	return e->logbuf;
}

static void env_fini(struct cmd_env *e)
{
	fclose(e->c.log);
	free(e->logbuf);
	free(e->m);
}

static void set_request(struct agent_mock *m, const char *cmd)
{
	memset(mock_at(m, COWVM_AGENT_IN_GPA), 0, COWVM_IOBUF_SIZE);
	memcpy(mock_at(m, COWVM_AGENT_IN_GPA), cmd, strlen(cmd) + 1);
}

/* The clone's info page as cowvm writes it when it resumes clone 3. */
static void become_clone3(struct agent_mock *m)
{
	struct cowvm_agent_info *i = mock_info(m);
	i->clone_id = 3;
	i->generation = 4;
	i->host_realtime_ns = 1764614400123456789ll;
	for (unsigned k = 0; k < COWVM_AGENT_RANDOM; k++)
		i->random[k] = (uint8_t)(k * 7 + 1);
}

/* The response's length (struct cowvm_msg), or UINT64_MAX without its magic. */
static uint64_t out_len(struct agent_mock *m)
{
	struct cowvm_msg h;
	memcpy(&h, mock_at(m, COWVM_AGENT_OUT_GPA), sizeof(h));
	return h.magic == COWVM_MSG_MAGIC ? h.len : UINT64_MAX;
}

Test(agent_serve, original_reports_and_exits)
{
	struct cmd_env e;
	env_init(&e);
	struct agent_args a = { .cmd = AGENT_CMD_SERVE, .timeout_s = 5 };
	set_request(e.m, "echo must-not-run");
	e.m->snapshot_ret = 0;
	cr_assert_eq(agent_cmd_serve(&e.c, &a), AGENT_EXIT_OK);
	cr_assert_eq(e.m->ncalls, 3);
	cr_assert_eq(e.m->calls[0].nr, COWVM_HC_SNAPSHOT);
	cr_assert_eq(e.m->calls[1].nr, COWVM_HC_REPORT);
	cr_assert_str_eq(e.m->calls[1].key, "agent_original");
	cr_assert_eq(e.m->calls[1].args[1], 1);
	cr_assert_eq(e.m->calls[2].nr, COWVM_HC_EXIT);
	cr_assert_eq(e.m->calls[2].args[0], 0);
	cr_assert_eq(mock_sys_rec.entropy_calls + mock_sys_rec.clock_calls, 0);
	cr_assert_eq(out_len(e.m), UINT64_MAX, "no response written");
	cr_assert_eq(e.m->console_len, 0);
	env_fini(&e);
}

Test(agent_serve, clone_answers_one_request)
{
	struct cmd_env e;
	env_init(&e);
	struct agent_args a = { .cmd = AGENT_CMD_SERVE, .timeout_s = 5, .warm_mib = 1 };
	set_request(e.m, "echo hi from $((1+2)); exit 7");
	e.m->snapshot_ret = 3;
	e.m->on_snapshot = become_clone3;
	cr_assert_eq(agent_cmd_serve(&e.c, &a), 7);
	/* response: length then bytes, and the same bytes on the console */
	cr_assert_eq(out_len(e.m), 10);
	cr_assert_arr_eq(mock_at(e.m, COWVM_AGENT_OUT_GPA + 8), "hi from 3\n", 10);
	cr_assert_eq(e.m->console_len, 10, "%s", e.m->console);
	cr_assert_arr_eq(e.m->console, "hi from 3\n", 10);
	/* the hypercalls in order */
	static const uint64_t want_nr[] = { COWVM_HC_SNAPSHOT, COWVM_HC_WRITE, COWVM_HC_REPORT,
		COWVM_HC_REPORT, COWVM_HC_REPORT, COWVM_HC_EXIT };
	cr_assert_eq(e.m->ncalls, 6);
	for (unsigned k = 0; k < 6; k++)
		cr_assert_eq(e.m->calls[k].nr, want_nr[k], "call %u", k);
	cr_assert_eq(e.m->calls[1].args[0], COWVM_AGENT_OUT_GPA + 8);
	cr_assert_eq(e.m->calls[1].args[1], 10);
	cr_assert_str_eq(e.m->calls[2].key, "warm_ok");
	cr_assert_eq(e.m->calls[2].args[1], 1);
	cr_assert_str_eq(e.m->calls[3].key, "clone");
	cr_assert_eq(e.m->calls[3].args[1], 3);
	cr_assert_str_eq(e.m->calls[4].key, "status");
	cr_assert_eq(e.m->calls[4].args[1], 7);
	cr_assert_eq(e.m->calls[5].args[0], 7);
	/* not twins: the clone's random bytes and number, its clock */
	cr_assert_eq(mock_sys_rec.entropy_calls, 1);
	cr_assert_eq(mock_sys_rec.entropy_len, sizeof(struct rand_pool_info) + 56);
	struct rand_pool_info p;
	memcpy(&p, mock_sys_rec.entropy, sizeof(p));
	cr_assert_eq(p.entropy_count, 256);
	cr_assert_eq(p.buf_size, 56);
	cr_assert_arr_eq(mock_sys_rec.entropy + sizeof(p), mock_info(e.m)->random, 32);
	cr_assert_eq(mock_sys_rec.entropy[sizeof(p) + 32], 3);
	cr_assert_eq(mock_sys_rec.entropy[sizeof(p) + 40], 4);
	cr_assert_eq(mock_sys_rec.clock_calls, 1);
	cr_assert_eq(mock_sys_rec.clock_ns, 1764614400123456789ll);
	cr_assert_str_eq(env_log(&e), "");
	cr_assert_eq(e.m->bad_access, 0);
	env_fini(&e);
}

Test(agent_serve, no_snapshots_serves_as_clone0)
{
	struct cmd_env e;
	env_init(&e);
	struct agent_args a = { .cmd = AGENT_CMD_SERVE, .timeout_s = 5 };
	set_request(e.m, "printf x");
	e.m->snapshot_ret = -ENOSYS;
	mock_info(e.m)->host_realtime_ns = 5;
	cr_assert_eq(agent_cmd_serve(&e.c, &a), 0);
	int f;
	cr_assert_eq(mock_report(e.m, "clone", &f), 0);
	cr_assert(f);
	cr_assert_eq(mock_report(e.m, "status", &f), 0);
	cr_assert(f);
	mock_report(e.m, "warm_ok", &f);
	cr_assert_not(f, "no warm state, no warm_ok");
	cr_assert_eq(out_len(e.m), 1);
	cr_assert_str_eq(env_log(&e),
		"cowvm-agent: no snapshot (Function not implemented): serving as clone 0\n"
		"cowvm-agent: the info page has no random bytes: nothing credited\n");
	cr_assert_eq(mock_sys_rec.entropy_calls, 1);
	cr_assert_eq(mock_sys_rec.entropy[0], 0, "entropy_count 0 when the random bytes are zero");
	env_fini(&e);
}

Test(agent_serve, empty_and_malformed_requests)
{
	struct cmd_env e;
	env_init(&e);
	struct agent_args a = { .cmd = AGENT_CMD_SERVE, .timeout_s = 5 };
	e.m->snapshot_ret = 1;
	memset(mock_at(e.m, COWVM_AGENT_OUT_GPA), 0xee, 16);
	set_request(e.m, "");
	cr_assert_eq(agent_cmd_serve(&e.c, &a), 0);
	cr_assert_eq(out_len(e.m), 0);
	cr_assert_eq(*mock_at(e.m, COWVM_AGENT_OUT_GPA + 8), 0xee, "only the length written");
	cr_assert_eq(mock_count(e.m, COWVM_HC_WRITE), 0, "nothing for the console");
	env_fini(&e);

	env_init(&e);
	e.m->snapshot_ret = 1;
	memset(mock_at(e.m, COWVM_AGENT_IN_GPA), 'A', COWVM_IOBUF_SIZE); /* no NUL anywhere */
	cr_assert_eq(agent_cmd_serve(&e.c, &a), AGENT_STATUS_NOEXEC);
	static const char msg[] = "cowvm-agent: bad request: no NUL in the input buffer\n";
	cr_assert_eq(out_len(e.m), sizeof(msg) - 1);
	cr_assert_arr_eq(mock_at(e.m, COWVM_AGENT_OUT_GPA + 8), msg, sizeof(msg) - 1);
	int f;
	cr_assert_eq(mock_report(e.m, "status", &f), AGENT_STATUS_NOEXEC);
	cr_assert_eq(e.m->calls[e.m->ncalls - 1].nr, COWVM_HC_EXIT);
	cr_assert_eq(e.m->calls[e.m->ncalls - 1].args[0], AGENT_STATUS_NOEXEC);
	env_fini(&e);
}

Test(agent_serve, small_buffers_and_signal_status)
{
	struct cmd_env e;
	env_init(&e);
	struct agent_args a = { .cmd = AGENT_CMD_SERVE, .timeout_s = 5 };
	e.m->snapshot_ret = 2;
	struct cowvm_agent_info *i = mock_info(e.m);
	i->in_size = 32;
	i->out_size = 24; /* 16 response bytes */
	memset(mock_at(e.m, COWVM_AGENT_OUT_GPA), 0xee, 64);
	/* the command fills the 32-byte input exactly, NUL last */
	set_request(e.m, "printf abcdefghijklmnopqrstu;:;");
	cr_assert_eq(strlen((char *)mock_at(e.m, COWVM_AGENT_IN_GPA)), 31);
	cr_assert_eq(agent_cmd_serve(&e.c, &a), 0);
	cr_assert_eq(out_len(e.m), 16);
	cr_assert_arr_eq(mock_at(e.m, COWVM_AGENT_OUT_GPA + 8), "abcdefghijklmnop", 16);
	cr_assert_eq(*mock_at(e.m, COWVM_AGENT_OUT_GPA + 24), 0xee, "nothing past out_size");
	cr_assert_eq(e.m->console_len, 16);
	env_fini(&e);

	/* the NUL one byte past in_size does not count */
	env_init(&e);
	e.m->snapshot_ret = 2;
	mock_info(e.m)->in_size = 4;
	set_request(e.m, "true");
	cr_assert_eq(agent_cmd_serve(&e.c, &a), AGENT_STATUS_NOEXEC);
	env_fini(&e);

	env_init(&e);
	e.m->snapshot_ret = 2;
	set_request(e.m, "kill -9 $$");
	cr_assert_eq(agent_cmd_serve(&e.c, &a), 137);
	int f;
	cr_assert_eq(mock_report(e.m, "status", &f), 137);
	env_fini(&e);
}

static void break_info(struct agent_mock *m)
{
	mock_info(m)->in_size = COWVM_IOBUF_SIZE * 2;
}

Test(agent_serve, refusals_make_no_port_io)
{
	struct cmd_env e;
	struct agent_args a = { .cmd = AGENT_CMD_SERVE, .timeout_s = 5 };
	env_init(&e);
	mock_info(e.m)->magic = 0;
	cr_assert_eq(agent_cmd_serve(&e.c, &a), AGENT_EXIT_NOT_COWVM);
	cr_assert_eq(e.m->ncalls, 0);
	cr_assert_str_eq(env_log(&e), "cowvm-agent: not running under cowvm (no agent info page at 0xa0000: magic 0)\n");
	env_fini(&e);

	env_init(&e);
	mock_info(e.m)->version = 9;
	cr_assert_eq(agent_cmd_serve(&e.c, &a), AGENT_EXIT_FAIL);
	cr_assert_eq(e.m->ncalls, 0);
	env_fini(&e);

	/* a clone whose info page is bad: nothing after the snapshot call */
	env_init(&e);
	e.m->snapshot_ret = 1;
	e.m->on_snapshot = break_info;
	set_request(e.m, "echo no");
	cr_assert_eq(agent_cmd_serve(&e.c, &a), AGENT_EXIT_FAIL);
	cr_assert_eq(e.m->ncalls, 1);
	cr_assert_eq(out_len(e.m), UINT64_MAX, "no response written");
	cr_assert_eq(mock_sys_rec.entropy_calls, 0);
	env_fini(&e);

	struct agent_args ar = { .cmd = AGENT_CMD_REPORT, .key = "k" }, ae = { .cmd = AGENT_CMD_EXIT };
	env_init(&e);
	mock_info(e.m)->magic = 0x544741564d574f44ull;
	cr_assert_eq(agent_cmd_report(&e.c, &ar), AGENT_EXIT_NOT_COWVM);
	cr_assert_eq(agent_cmd_exit(&e.c, &ae), AGENT_EXIT_NOT_COWVM);
	cr_assert_eq(e.m->ncalls, 0);
	env_fini(&e);
}

Test(agent_cmds, info_without_cowvm)
{
	struct cmd_env e;
	env_init(&e);
	memset(e.m->win, 0xff, 0x1000); /* what QEMU's VGA memory reads as */
	char *txt = NULL;
	size_t tlen = 0;
	FILE *out = open_memstream(&txt, &tlen);
	cr_assert_eq(agent_cmd_info(&e.c, out), AGENT_EXIT_NOT_COWVM);
	fclose(out);
	cr_assert_str_eq(txt,
		"magic            0xffffffffffffffff\n"
		"version          4294967295\n"
		"ncpus            4294967295\n"
		"input            0xffffffffffffffff + 0xffffffffffffffff\n"
		"output           0xffffffffffffffff + 0xffffffffffffffff\n"
		"clone_id         18446744073709551615\n"
		"generation       18446744073709551615\n"
		"host_realtime_ns -1\n"
		"random           ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n"
		"coverage         0xffffffffffffffff + 0xffffffffffffffff\n"
		"transport        mock\n");
	free(txt);
	cr_assert_str_eq(env_log(&e),
		"cowvm-agent: not running under cowvm (no agent info page at 0xa0000: magic 0xffffffffffffffff)\n");
	cr_assert_eq(e.m->ncalls, 0);
	env_fini(&e);
}

Test(agent_serve, warm_state_failure_is_reported)
{
	struct cmd_env e;
	env_init(&e);
	struct agent_args a = { .cmd = AGENT_CMD_SERVE, .timeout_s = 5, .warm_mib = AGENT_WARM_MIB_MAX + 1 };
	cr_assert_eq(agent_cmd_serve(&e.c, &a), AGENT_EXIT_FAIL);
	cr_assert_eq(e.m->ncalls, 0, "no snapshot without the warm state");
	cr_assert_str_eq(env_log(&e), "cowvm-agent: cannot build 1048577 MiB of warm state: Invalid argument\n");
	env_fini(&e);
}

Test(agent_cmds, info_report_exit)
{
	struct cmd_env e;
	env_init(&e);
	become_clone3(e.m);
	char *txt = NULL;
	size_t tlen = 0;
	FILE *out = open_memstream(&txt, &tlen);
	cr_assert_eq(agent_cmd_info(&e.c, out), 0);
	fclose(out);
	cr_assert_str_eq(txt,
		"magic            0x544741564d574f43\n"
		"version          2\n"
		"ncpus            2\n"
		"input            0xa2000 + 0x10000\n"
		"output           0xb2000 + 0x10000\n"
		"clone_id         3\n"
		"generation       4\n"
		"host_realtime_ns 1764614400123456789\n"
		"random           01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da\n"
		"coverage         0 + 0\n"
		"transport        mock\n");
	free(txt);
	cr_assert_eq(e.m->ncalls, 0);

	struct agent_args a = { .cmd = AGENT_CMD_REPORT, .key = "answer", .value = 42 };
	cr_assert_eq(agent_cmd_report(&e.c, &a), 0);
	cr_assert_eq(e.m->ncalls, 1);
	cr_assert_str_eq(e.m->calls[0].key, "answer");
	cr_assert_eq(e.m->calls[0].args[1], 42);
	struct agent_args x = { .cmd = AGENT_CMD_EXIT, .status = 200 };
	cr_assert_eq(agent_cmd_exit(&e.c, &x), 200);
	cr_assert_eq(e.m->calls[1].nr, COWVM_HC_EXIT);
	cr_assert_eq(e.m->calls[1].args[0], 200);
	e.m->ring_error = -EPERM;
	cr_assert_eq(agent_cmd_report(&e.c, &a), AGENT_EXIT_FAIL);
	cr_assert_eq(agent_cmd_exit(&e.c, &x), AGENT_EXIT_FAIL);
	cr_assert_str_eq(env_log(&e), "cowvm-agent: report answer: Operation not permitted\n"
		"cowvm-agent: exit: Operation not permitted\n");
	env_fini(&e);
}

/* ---- the built agent ---------------------------------------------------------- */
Test(agent_binary, static_x86_64_executable)
{
	const char *path = getenv("COWVM_AGENT");
	if (!path)
		cr_skip_test("COWVM_AGENT is not set (run through meson test)");
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "cannot open %s", path);
	Elf64_Ehdr eh;
	cr_assert_eq(pread(fd, &eh, sizeof(eh), 0), (ssize_t)sizeof(eh));
	cr_assert_arr_eq(eh.e_ident, ELFMAG, SELFMAG);
	cr_assert_eq(eh.e_ident[EI_CLASS], ELFCLASS64);
	cr_assert_eq(eh.e_machine, EM_X86_64);
	cr_assert_eq(eh.e_type, ET_EXEC, "not a fixed-address executable");
	cr_assert_eq(eh.e_phentsize, sizeof(Elf64_Phdr));
	unsigned loads = 0;
	for (unsigned k = 0; k < eh.e_phnum; k++) {
		Elf64_Phdr ph;
		cr_assert_eq(pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + k * sizeof(ph))), (ssize_t)sizeof(ph));
		cr_assert_neq(ph.p_type, PT_INTERP, "%s asks for a dynamic loader", path);
		cr_assert_neq(ph.p_type, PT_DYNAMIC, "%s has dynamic sections", path);
		loads += ph.p_type == PT_LOAD;
	}
	cr_assert_gt(loads, 0);
	close(fd);
}

/* ---- kernel fuzzing: edges and input framing (agent_cov.c) ------------------------ */
/* The id of a PC, written out independently of agent_cov.c (Murmur3's
 * 64-bit finaliser, as its comment says). */
static uint64_t spec_id(uint64_t x, uint64_t size)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x % size;
}

#define COV_SIZE 65536u
static uint8_t covmap[COV_SIZE + 64];

static unsigned nonzero(const uint8_t *m, size_t n)
{
	unsigned k = 0;
	for (size_t i = 0; i < n; i++)
		k += m[i] != 0;
	return k;
}

Test(agent_cov, one_pc_is_one_edge_from_zero)
{
	memset(covmap, 0, sizeof(covmap));
	uint64_t pc = 0xffffffff81234567ull;
	agent_cov_edges(&pc, 1, covmap, COV_SIZE);
	cr_assert_eq(nonzero(covmap, sizeof(covmap)), 1);
	cr_assert_eq(covmap[spec_id(pc, COV_SIZE)], 1);
}

Test(agent_cov, edges_follow_afl_prev_shift)
{
	memset(covmap, 0, sizeof(covmap));
	uint64_t a = 0xffffffff81000010ull, b = 0xffffffff81000020ull;
	uint64_t ab[] = { a, b }, ba[] = { b, a };
	agent_cov_edges(ab, 2, covmap, COV_SIZE);
	uint64_t ia = spec_id(a, COV_SIZE), ib = spec_id(b, COV_SIZE);
	cr_assert_eq(covmap[ia], 1);
	cr_assert_eq(covmap[ib ^ (ia >> 1)], 1);
	cr_assert_eq(nonzero(covmap, sizeof(covmap)), 2);
	/* B then A: other edges (the direction counts). */
	agent_cov_edges(ba, 2, covmap, COV_SIZE);
	cr_assert_eq(covmap[ib], 1);
	cr_assert_eq(covmap[ia ^ (ib >> 1)], 1);
	cr_assert_eq(nonzero(covmap, sizeof(covmap)), 4);
}

Test(agent_cov, counters_wrap_like_afls)
{
	memset(covmap, 0, sizeof(covmap));
	uint64_t pc = 0xffffffff81000abcull;
	for (int i = 0; i < 257; i++)
		agent_cov_edges(&pc, 1, covmap, COV_SIZE);
	cr_assert_eq(covmap[spec_id(pc, COV_SIZE)], 1);
}

Test(agent_cov, odd_map_size_stays_inside)
{
	memset(covmap, 0, sizeof(covmap));
	uint64_t pcs[4096];
	for (unsigned i = 0; i < 4096; i++)
		pcs[i] = 0xffffffff81000000ull + 13ull * i;
	size_t size = 12288; /* 3 pages: AFL_MAP_SIZE need not be a power of two */
	agent_cov_edges(pcs, 4096, covmap, size);
	cr_assert_eq(nonzero(covmap + size, sizeof(covmap) - size), 0, "a store past the map");
	cr_assert_gt(nonzero(covmap, size), 1000);
	agent_cov_edges(pcs, 4096, covmap, 0); /* no map: nothing, no division by 0 */
}

Test(agent_cov, fuzz_input_framing)
{
	uint8_t buf[64] = { 0 };
	const uint8_t *d;
	size_t len;
	uint64_t n = 56;
	memcpy(buf, &n, 8);
	cr_assert_eq(agent_fuzz_input(buf, sizeof(buf), &d, &len), 0);
	cr_assert_eq(d, buf + 8);
	cr_assert_eq(len, 56);
	n = 57;
	memcpy(buf, &n, 8);
	cr_assert_eq(agent_fuzz_input(buf, sizeof(buf), &d, &len), -EBADMSG);
	n = UINT64_MAX;
	memcpy(buf, &n, 8);
	cr_assert_eq(agent_fuzz_input(buf, sizeof(buf), &d, &len), -EBADMSG);
	cr_assert_eq(agent_fuzz_input(buf, 7, &d, &len), -EMSGSIZE);
	n = 0;
	memcpy(buf, &n, 8);
	cr_assert_eq(agent_fuzz_input(buf, 8, &d, &len), 0);
	cr_assert_eq(len, 0);
}

Test(agent_args, fuzz_takes_no_arguments)
{
	struct agent_args a;
	char err[200];
	char *ok[] = { "cowvm-agent", "fuzz", NULL };
	cr_assert_eq(agent_parse_args(2, ok, &a, err, sizeof(err)), 0);
	cr_assert_eq(a.cmd, AGENT_CMD_FUZZ);
	char *bad[] = { "cowvm-agent", "fuzz", "x", NULL };
	cr_assert_eq(agent_parse_args(3, bad, &a, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "fuzz takes no arguments");
}
