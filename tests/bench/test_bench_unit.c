/*
 * test_bench_unit.c - the harness of `cowvm bench` itself, without KVM:
 * statistics (median, p99, slope on known data), the JSON writer (escaping,
 * numbers, the schema of the result store's lines), plot scripts, and the
 * command line (defaults, suites, sizes, argument errors: exit 2 with one
 * line on stderr, also through the real binary in $COWVM_BIN).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_int.h"
#include "cowbench.h"
#include "json.h"
#include "jsonl.h"
#include "plot.h"
#include "schema.h"
#include "stats.h"

/* ---- statistics -------------------------------------------------------------- */

Test(stats, median_odd_even_and_order_independent)
{
	double a[] = { 5, 1, 4, 2, 3 };
	struct bstat s = bstat_of(a, 5);
	cr_expect_eq(s.n, 5);
	cr_expect_float_eq(s.median, 3, 1e-12);
	cr_expect_float_eq(s.min, 1, 1e-12);
	cr_expect_float_eq(s.max, 5, 1e-12);
	cr_expect_float_eq(s.mean, 3, 1e-12);
	cr_expect_float_eq(a[0], 5, 0, "bstat_of must not reorder its input");
	double b[] = { 10, 2, 8, 4 };
	cr_expect_float_eq(bstat_of(b, 4).median, 6, 1e-12, "even count: mean of the middle two");
	double one = 7;
	s = bstat_of(&one, 1);
	cr_expect_float_eq(s.median, 7, 0);
	cr_expect_float_eq(s.p99, 7, 0);
	s = bstat_of(NULL, 0);
	cr_expect_eq(s.n, 0);
	cr_expect_float_eq(s.median, 0, 0);
}

Test(stats, p99_is_nearest_rank)
{
	double v[1000];
	for (int i = 0; i < 1000; i++)
		v[999 - i] = i + 1; /* 1..1000, reversed */
	cr_expect_float_eq(bstat_of(v, 1000).p99, 990, 0, "ceil(0.99 * 1000) = 990th value");
	cr_expect_float_eq(bstat_of(v, 100).p99, 999, 0, "100 samples 1000..901: 99th smallest is 999");
	double w[100];
	for (int i = 0; i < 100; i++)
		w[i] = i + 1;
	cr_expect_float_eq(bstat_of(w, 100).p99, 99, 0, "0.99 * 100 must not round up to the 100th");
	cr_expect_float_eq(bstat_of(w, 10).p99, 10, 0, "10 samples: p99 is the max");
	cr_expect_float_eq(bstat_of(w, 3).p99, 3, 0);
	double x[] = { 1, 2 };
	cr_expect_float_eq(bstat_rank(x, 2, 0.5), 1, 0);
	cr_expect_float_eq(bstat_rank(x, 2, 1.0), 2, 0);
}

Test(stats, samples_grow)
{
	struct bsamples s = { 0 };
	for (int i = 0; i < 10000; i++)
		cr_assert_eq(bs_add(&s, i), 0);
	struct bstat st = bs_stat(&s);
	cr_expect_eq(st.n, 10000);
	cr_expect_float_eq(st.median, 4999.5, 1e-9);
	cr_expect_float_eq(st.p99, 9899, 0);
	bs_free(&s);
	cr_expect_eq(s.n, 0);
	cr_expect_null(s.v);
}

Test(stats, slope_of_a_line_and_of_noisy_points)
{
	double x[] = { 0.0625, 0.25, 0.5, 1, 4 }, y[5];
	for (int i = 0; i < 5; i++)
		y[i] = 70 + 8.5 * x[i];
	double sl, ic, r2;
	cr_assert_eq(bfit_line(x, y, 5, &sl, &ic, &r2), 0);
	cr_expect_float_eq(sl, 8.5, 1e-9);
	cr_expect_float_eq(ic, 70, 1e-9);
	cr_expect_float_eq(r2, 1, 1e-12);
	/* least squares by hand: x = 1,2,3, y = 1,2,4: slope 1.5, intercept -2/3 */
	double a[] = { 1, 2, 3 }, b[] = { 1, 2, 4 };
	cr_assert_eq(bfit_line(a, b, 3, &sl, &ic, &r2), 0);
	cr_expect_float_eq(sl, 1.5, 1e-12);
	cr_expect_float_eq(ic, -2.0 / 3, 1e-12);
	cr_expect_float_eq(r2, 1.5 * 1.5 * 2 / (14.0 / 3), 1e-12);
	/* flat: slope 0, r2 1 */
	double f[] = { 5, 5, 5 };
	cr_assert_eq(bfit_line(a, f, 3, &sl, &ic, &r2), 0);
	cr_expect_float_eq(sl, 0, 1e-12);
	cr_expect_float_eq(r2, 1, 0);
	/* degenerate */
	cr_expect_lt(bfit_line(a, b, 1, &sl, &ic, &r2), 0, "one point has no slope");
	double same[] = { 2, 2, 2 };
	cr_expect_lt(bfit_line(same, b, 3, &sl, &ic, &r2), 0, "all x equal has no slope");
}

/* ---- JSON -------------------------------------------------------------------- */

Test(json, escaping)
{
	char out[128];
	cr_expect_eq(json_escape("plain", out, sizeof(out)), 5);
	cr_expect_str_eq(out, "plain");
	json_escape("a\"b\\c", out, sizeof(out));
	cr_expect_str_eq(out, "a\\\"b\\\\c");
	json_escape("t\tn\nr\rb\bf\f", out, sizeof(out));
	cr_expect_str_eq(out, "t\\tn\\nr\\rb\\bf\\f");
	json_escape("\x01\x1f\x7f", out, sizeof(out));
	cr_expect_str_eq(out, "\\u0001\\u001f\\u007f");
	json_escape("µs 1%", out, sizeof(out));
	cr_expect_str_eq(out, "µs 1%", "UTF-8 and %% pass through");
	/* truncation reports the length needed, like snprintf */
	char small[4];
	cr_expect_eq(json_escape("\"\"\"", small, sizeof(small)), 6);
	cr_expect_str_eq(small, "\\\"\\");
}

static char *write_line(void (*fill)(struct jw *w))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	struct jw w;
	jw_begin(&w, f);
	fill(&w);
	jw_end(&w);
	fclose(f);
	return buf;
}

static void fill_all(struct jw *w)
{
	jw_str(w, "s", "quote \" backslash \\ newline \n tab \t");
	jw_num(w, "int", 42);
	jw_num(w, "frac", 0.125);
	jw_num(w, "neg", -3.5e-7);
	jw_num(w, "big", 1e300);
	jw_num(w, "nan", NAN);
	jw_num(w, "inf", INFINITY);
	jw_u64(w, "u", 18446744073709551615ull);
	jw_bool(w, "t", true);
	jw_bool(w, "f", false);
	jw_null(w, "z");
	jw_str(w, "nullstr", NULL);
}

Test(json, writer_output_parses_back)
{
	char *line = write_line(fill_all);
	cr_expect_eq(line[strlen(line) - 1], '\n', "one object per line");
	cr_expect_null(strchr(line, '\n') == line + strlen(line) - 1 ? NULL : line, "no newline inside");
	struct jobj o;
	char err[128];
	cr_assert_eq(jsonl_parse(line, &o, err, sizeof(err)), 0, "%s: %s", line, err);
	cr_expect_eq(o.n, 12);
	cr_expect_str_eq(jobj_get(&o, "s")->str, "quote \" backslash \\ newline \n tab \t");
	cr_expect_float_eq(jobj_get(&o, "int")->num, 42, 0);
	cr_expect_float_eq(jobj_get(&o, "frac")->num, 0.125, 0);
	cr_expect_float_eq(jobj_get(&o, "neg")->num, -3.5e-7, 1e-16);
	cr_expect_float_eq(jobj_get(&o, "big")->num, 1e300, 1e291);
	cr_expect_eq(jobj_get(&o, "nan")->type, JV_NULL, "NaN is not JSON: null");
	cr_expect_eq(jobj_get(&o, "inf")->type, JV_NULL);
	cr_expect(strstr(line, "\"u\":18446744073709551615") != NULL);
	cr_expect_eq(jobj_get(&o, "t")->type, JV_BOOL);
	cr_expect(jobj_get(&o, "t")->b);
	cr_expect(!jobj_get(&o, "f")->b);
	cr_expect_eq(jobj_get(&o, "z")->type, JV_NULL);
	cr_expect_eq(jobj_get(&o, "nullstr")->type, JV_NULL);
	free(line);
}

Test(json, the_test_parser_rejects_bad_lines)
{
	static const char *const bad[] = {
		"", "[]", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}",
		"{\"a\":NaN}", "{\"a\":\"x\ty\"}", "{\"a\":\"\\q\"}", "{\"a\":1}x", "{\"a\":1,\"a\":2}", "{a:1}",
		"{\"a\":tru}",
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct jobj o;
		char err[128];
		cr_expect_eq(jsonl_parse(bad[i], &o, err, sizeof(err)), -1, "accepted: %s", bad[i]);
	}
}

/* The result store's lines: build one of each kind, write, parse, check. */
Test(json, result_lines_follow_the_schema)
{
	struct bench_opts o = { .repeat = 3 };
	struct bctx c = { .o = &o };
	struct bsamples s = { 0 };
	bs_add(&s, 3);
	bs_add(&s, 1);
	bs_add(&s, 2);
	struct brow *r = res_latency(&c, "clone", "cowvm", 64 << 20, &s);
	row_extra(r, "extra_field", 1.5);
	r = res_latency(&c, "reset", "cowvm reset", 512 << 20, &s);
	row_param(r, "dirty", 16, NULL);
	r = res_latency(&c, "fault", "uffd-wp", 1ull << 30, &s);
	row_param(r, "pattern", 0, "seq");
	res_na(&c, "clone", "uffd-wp registration", 64 << 20, "no \"WP\" here");
	r = res_memory(&c, "memory", "cowvm", 1ull << 30);
	row_param(r, "state", 0, "after clone");
	row_extra(r, "rss_bytes", 4096);
	row_extra(r, "table_bytes", 16384);
	res_ratio(&c, "clone", "cowvm / fork @512M", 0.01, "<= 0.0625", 1);
	res_ratio(&c, "clone", "no target", 2, NULL, -1);
	res_slope(&c, "cowvm", 1.5, 60, 0.9, 5);
	bs_free(&s);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	res_write_json(&c, f);
	fclose(f);
	unsigned lines = 0, kinds[5] = { 0 };
	for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct jobj ob;
		char err[160];
		cr_assert_eq(jsonl_parse(line, &ob, err, sizeof(err)), 0, "%s: %s", line, err);
		cr_expect_eq(bench_schema_check(&ob, err, sizeof(err)), 0, "%s: %s", line, err);
		const char *k = jobj_get(&ob, "kind")->str;
		kinds[!strcmp(k, "latency") ? 0 : !strcmp(k, "memory") ? 1 : !strcmp(k, "ratio") ? 2 : !strcmp(k, "slope") ? 3 : 4]++;
		if (strstr(line, "\"dirty\""))
			cr_expect(strstr(line, "\"dirty\":16,") != NULL, "%s", line);
		if (strstr(line, "\"pattern\""))
			cr_expect(strstr(line, "\"pattern\":\"seq\"") != NULL, "%s", line);
		if (strstr(line, "unavailable"))
			cr_expect(strstr(line, "\"n\":0,\"median_us\":null") != NULL, "%s", line);
		if (strstr(line, "\"method\":\"cowvm\",\"size\":67108864"))
			cr_expect(strstr(line, "\"n\":3,\"median_us\":2,\"p99_us\":3,\"min_us\":1,\"max_us\":3,\"mean_us\":2") != NULL,
			          "%s", line);
		lines++;
	}
	cr_expect_eq(lines, 8);
	cr_expect_eq(kinds[0], 4);
	cr_expect_eq(kinds[1], 1);
	cr_expect_eq(kinds[2], 2);
	cr_expect_eq(kinds[3], 1);
	free(buf);
	res_free(&c.res);
}

Test(json, schema_rejects_broken_lines)
{
	static const char *const bad[] = {
		"{\"kind\":\"latency\"}",
		"{\"suite\":\"clone\",\"kind\":\"latency\",\"method\":\"m\",\"size\":1,\"n\":2,\"median_us\":2,"
		"\"p99_us\":1,\"min_us\":1,\"max_us\":3,\"mean_us\":2}", /* p99 < median */
		"{\"suite\":\"clone\",\"kind\":\"latency\",\"method\":\"m\",\"size\":1,\"n\":0,\"median_us\":null,"
		"\"p99_us\":null,\"min_us\":null,\"max_us\":null,\"mean_us\":null}", /* n 0 without a reason */
		"{\"suite\":\"clone\",\"kind\":\"latency\",\"method\":\"m\",\"size\":0,\"n\":1,\"median_us\":1,"
		"\"p99_us\":1,\"min_us\":1,\"max_us\":1,\"mean_us\":1}", /* size 0 */
		"{\"suite\":\"memory\",\"kind\":\"memory\",\"method\":\"m\",\"size\":1,\"n\":1,\"state\":\"x\"}",
		"{\"suite\":\"clone\",\"kind\":\"ratio\",\"name\":\"r\",\"value\":1,\"target\":\"<= 1\"}",
		"{\"suite\":\"clone\",\"kind\":\"what\",\"method\":\"m\",\"size\":1,\"n\":1}",
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct jobj o;
		char err[160];
		cr_assert_eq(jsonl_parse(bad[i], &o, err, sizeof(err)), 0, "%s: %s", bad[i], err);
		cr_expect_eq(bench_schema_check(&o, err, sizeof(err)), -1, "schema accepted %s", bad[i]);
	}
}

/* ---- plots ------------------------------------------------------------------- */

Test(plot, quoting)
{
	char out[64];
	plot_quote("a \"b\" \\c\nd", out, sizeof(out));
	cr_expect_str_eq(out, "a \\\"b\\\" \\\\c d");
}

Test(plot, scripts_and_pngs)
{
	char dir[] = "/tmp/cowbench-plot-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	double x[] = { 64, 256, 1024 }, y1[] = { 70, 71, 72 }, y2[] = { 1000, NAN, 16000 };
	struct plot_series s[] = { { "cowvm \"pooled\"", 3, x, y1 }, { "fork", 3, x, y2 } };
	struct plot_axes a = { "t", "x", "y", true, true };
	char err[256] = "";
	int r = plot_lines(dir, "lines", &a, s, 2, err, sizeof(err));
	char p[256];
	snprintf(p, sizeof(p), "%s/lines.gp", dir);
	cr_expect_eq(access(p, R_OK), 0, "the script is written even without gnuplot");
	snprintf(p, sizeof(p), "%s/lines.dat", dir);
	FILE *f = fopen(p, "r");
	cr_assert_not_null(f);
	char data[512];
	size_t n = fread(data, 1, sizeof(data) - 1, f);
	data[n] = 0;
	fclose(f);
	cr_expect(strstr(data, "256 71\n") != NULL, "%s", data);
	cr_expect(strstr(data, "nan") == NULL && strstr(data, "256 nan") == NULL, "NaN points are left out: %s", data);
	static const char *const groups[] = { "seq", "rand" }, *const series[] = { "a", "b" };
	double y[] = { 1, 2, NAN, 4 };
	int r2 = plot_bars(dir, "bars", &a, groups, 2, series, 2, y, err, sizeof(err));
	if (!plot_have_gnuplot()) {
		cr_expect_neq(r, 0);
		cr_skip_test("gnuplot is not installed (apt-get install gnuplot-nox): PNGs not checked");
	}
	cr_expect_eq(r, 0, "%s", err);
	cr_expect_eq(r2, 0, "%s", err);
	static const char *const names[] = { "lines", "bars" };
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s.png", dir, names[i]);
		f = fopen(p, "rb");
		cr_assert_not_null(f, "%s was not made", p);
		unsigned char magic[8] = { 0 };
		cr_expect_eq(fread(magic, 1, 8, f), 8);
		fclose(f);
		cr_expect(!memcmp(magic, "\x89PNG\r\n\x1a\n", 8), "%s is not a PNG", p);
	}
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/* ---- command line ------------------------------------------------------------ */

static int parse(char *line, struct bench_opts *o, char *err)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = "bench";
	for (char *save, *t = strtok_r(line, " ", &save); t && argc < 31; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	return bench_parse_args(argc, argv, o, err, 256);
}

Test(args, defaults)
{
	struct bench_opts o;
	char err[256], l1[] = "";
	cr_assert_eq(parse(l1, &o, err), 0, "%s", err);
	for (int s = 0; s < BENCH_NSUITES; s++)
		cr_expect(o.suite[s], "every suite by default");
	cr_expect_eq(o.nsizes, 5);
	cr_expect_eq(o.sizes[0], 64ull << 20);
	cr_expect_eq(o.sizes[4], 4ull << 30);
	cr_expect_eq(o.repeat, 20);
	cr_expect(!o.quick);
	cr_expect_null(o.json_path);
	cr_expect_null(o.plot_dir);
	char l2[] = "--quick";
	cr_assert_eq(parse(l2, &o, err), 0);
	cr_expect(o.quick);
	cr_expect_eq(o.nsizes, 2);
	cr_expect_eq(o.sizes[1], 256ull << 20);
	cr_expect_eq(o.repeat, 5);
}

Test(args, suites_sizes_and_options)
{
	struct bench_opts o;
	char err[256], l[] = "reset clone --sizes 1G,64M,512M --repeat 7 --json out.json --plot=pl --quick";
	cr_assert_eq(parse(l, &o, err), 0, "%s", err);
	cr_expect(o.suite[SUITE_CLONE] && o.suite[SUITE_RESET]);
	cr_expect(!o.suite[SUITE_FAULT] && !o.suite[SUITE_MEMORY]);
	cr_expect_eq(o.nsizes, 3);
	cr_expect_eq(o.sizes[0], 64ull << 20, "sizes are sorted");
	cr_expect_eq(o.sizes[1], 512ull << 20);
	cr_expect_eq(o.sizes[2], 1ull << 30);
	cr_expect_eq(o.repeat, 7, "--repeat wins over --quick's default");
	cr_expect_str_eq(o.json_path, "out.json");
	cr_expect_str_eq(o.plot_dir, "pl");
	cr_expect_str_eq(bench_suite_name(SUITE_MEMORY), "memory");
	cr_expect_null(bench_suite_name(BENCH_NSUITES));
}

static void parse_bad(const char *line, const char *substr)
{
	struct bench_opts o;
	char err[256], buf[256];
	snprintf(buf, sizeof(buf), "%s", line);
	int r = parse(buf, &o, err);
	cr_expect_eq(r, 2, "'%s' gave %d", line, r);
	cr_expect(strstr(err, substr) != NULL, "'%s': message '%s' lacks '%s'", line, err, substr);
	cr_expect_null(strchr(err, '\n'), "one line: '%s'", err);
	cr_expect(!strncmp(err, "cowvm bench: ", 13), "'%s'", err);
}

Test(args, errors)
{
	parse_bad("nosuch", "unknown suite 'nosuch'");
	parse_bad("clone forks", "unknown suite 'forks'");
	parse_bad("--sizes 64X", "bad --sizes entry '64X'");
	parse_bad("--sizes 8M", "bad --sizes entry '8M'");
	parse_bad("--sizes 65M", "bad --sizes entry '65M'");
	parse_bad("--sizes 128G", "bad --sizes entry '128G'");
	parse_bad("--sizes 64M,,1G", "empty entry");
	parse_bad("--sizes 64M,64M", "given twice");
	parse_bad("--sizes 64M,128M,192M,256M,320M,384M,448M,512M,576M", "at most 8");
	parse_bad("--repeat 0", "bad --repeat '0'");
	parse_bad("--repeat -3", "bad --repeat '-3'");
	parse_bad("--repeat 2x", "bad --repeat '2x'");
	parse_bad("--repeat 100001", "bad --repeat");
	parse_bad("--repeat", "--repeat needs a value");
	parse_bad("--sizes", "--sizes needs a value");
	parse_bad("--json", "--json needs a value");
	parse_bad("--frobnicate", "unknown option '--frobnicate'");
	parse_bad("--frob=1", "unknown option '--frob=1'");
	parse_bad("-x", "unknown option '-x'");
}

/* The binary: exit 2, exactly one line on stderr, nothing on stdout. */
static void cli_bad(const char *args, const char *substr)
{
	const char *bin = getenv("COWVM_BIN");
	cr_assert_not_null(bin, "COWVM_BIN is not set (run through meson test)");
	char cmd[512], out[] = "/tmp/cowbench-args-XXXXXX";
	int fd = mkstemp(out);
	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s bench %s >%s.out 2>%s", bin, args, out, out);
	int st = system(cmd);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "'%s': status %d", args, st);
	char buf[1024] = "";
	FILE *f = fopen(out, "r");
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	cr_expect(n > 0 && strchr(buf, '\n') == buf + n - 1, "'%s': stderr must be one line: '%s'", args, buf);
	cr_expect(strstr(buf, substr) != NULL, "'%s': '%s' lacks '%s'", args, buf, substr);
	char outp[64];
	snprintf(outp, sizeof(outp), "%s.out", out);
	struct stat sb;
	cr_expect(stat(outp, &sb) == 0 && sb.st_size == 0, "'%s': stdout must stay empty", args);
	unlink(out);
	unlink(outp);
}

Test(args, binary_exit_2_one_line)
{
	cli_bad("nosuch", "unknown suite 'nosuch'");
	cli_bad("--sizes 1X", "bad --sizes entry '1X'");
	cli_bad("--sizes 64M,3M", "bad --sizes entry '3M'");
	cli_bad("--repeat 0", "bad --repeat '0'");
	cli_bad("clone --repeat", "--repeat needs a value");
	cli_bad("--bogus", "unknown option '--bogus'");
}

Test(args, binary_help)
{
	const char *bin = getenv("COWVM_BIN");
	cr_assert_not_null(bin);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s help bench | grep -q -- '--sizes' && %s bench --help | grep -q 'suites'", bin, bin);
	cr_expect_eq(system(cmd), 0, "help bench / bench --help must describe the options");
}
