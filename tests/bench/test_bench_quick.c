/*
 * test_bench_quick.c - the CI smoke run of the benchmarks: `cowvm bench
 * --quick --json F --plot D` on real KVM (skipped, visibly, without
 * /dev/kvm). Checks that it exits 0, that every JSON line is well formed
 * and follows the schema (schema.h), that every suite and every method
 * of the issue is there, and that the PNG plots exist. Times are never
 * checked: only their shape (min <= median <= p99 <= max).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jsonl.h"
#include "schema.h"

static int kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int has_row(const struct jobj *rows, unsigned n, const char *suite, const char *method)
{
	for (unsigned i = 0; i < n; i++) {
		const struct jv *s = jobj_get(&rows[i], "suite"), *m = jobj_get(&rows[i], "method");
		if (s && m && !strcmp(s->str, suite) && !strcmp(m->str, method))
			return 1;
	}
	return 0;
}

Test(bench, quick_run_json_and_plots, .timeout = 600)
{
	if (!kvm_usable())
		cr_skip_test("KVM test skipped: /dev/kvm is missing or not usable");
	const char *bin = getenv("COWVM_BIN");
	cr_assert_not_null(bin, "COWVM_BIN is not set (run through meson test)");
	char dir[] = "/tmp/cowbench-quick-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s bench --quick --json %s/b.json --plot %s/plots >%s/out.txt 2>%s/err.txt", bin, dir,
	         dir, dir, dir);
	int st = system(cmd);
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		snprintf(cmd, sizeof(cmd), "tail -5 %s/err.txt >&2", dir);
		if (system(cmd)) {
		}
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "cowvm bench --quick exited with %d", st);

	char path[256];
	snprintf(path, sizeof(path), "%s/b.json", dir);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "no JSON written");
	static struct jobj rows[2048];
	unsigned n = 0, envs = 0;
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		char err[200];
		cr_assert(n < 2048, "too many lines");
		cr_assert_eq(jsonl_parse(line, &rows[n], err, sizeof(err)), 0, "line %u: %s: %s", n + 1, err, line);
		cr_expect_eq(bench_schema_check(&rows[n], err, sizeof(err)), 0, "line %u: %s: %s", n + 1, err, line);
		envs += !strcmp(jobj_get(&rows[n], "kind")->str, "env");
		n++;
	}
	fclose(f);
	cr_expect_eq(envs, 1, "one env line");
	cr_expect_gt(n, 50, "only %u lines", n);
	static const char *const clone_m[] = { "cowvm", "fresh VM + MAP_PRIVATE", "eager copy (THP)", "eager copy (4 KiB)",
	                                       "fork (page-table copy)", "uffd-wp registration", "uffd-copy registration" };
	for (unsigned i = 0; i < sizeof(clone_m) / sizeof(clone_m[0]); i++)
		cr_expect(has_row(rows, n, "clone", clone_m[i]), "clone suite lacks '%s'", clone_m[i]);
	static const char *const fault_m[] = { "cowvm (pooled shell)", "cowvm (new shell)", "fresh VM + MAP_PRIVATE",
	                                       "eager copy", "uffd-wp", "uffd-copy" };
	for (unsigned i = 0; i < sizeof(fault_m) / sizeof(fault_m[0]); i++)
		cr_expect(has_row(rows, n, "fault", fault_m[i]), "fault suite lacks '%s'", fault_m[i]);
	cr_expect(has_row(rows, n, "memory", "cowvm") && has_row(rows, n, "memory", "fork"), "memory suite rows");
	static const char *const reset_m[] = { "cowvm reset", "fresh VM", "copy-back" };
	for (unsigned i = 0; i < sizeof(reset_m) / sizeof(reset_m[0]); i++)
		cr_expect(has_row(rows, n, "reset", reset_m[i]), "reset suite lacks '%s'", reset_m[i]);
	/* the clone suite: one latency row per method and size (64M, 256M), a slope per method */
	unsigned cowvm_rows = 0, slopes = 0;
	for (unsigned i = 0; i < n; i++) {
		const char *k = jobj_get(&rows[i], "kind")->str;
		const struct jv *m = jobj_get(&rows[i], "method");
		if (!strcmp(k, "latency") && !strcmp(jobj_get(&rows[i], "suite")->str, "clone") && !strcmp(m->str, "cowvm"))
			cowvm_rows++;
		if (!strcmp(k, "slope"))
			slopes++;
	}
	cr_expect_eq(cowvm_rows, 2, "cowvm clone rows for the two --quick sizes");
	cr_expect_geq(slopes, 7);

	static const char *const pngs[] = { "clone_latency", "fault_latency", "memory", "reset_latency" };
	if (access("/usr/bin/gnuplot", X_OK)) {
		cr_skip_test("gnuplot is not installed (apt-get install gnuplot-nox): plots not checked");
	}
	for (unsigned i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/plots/%s.png", dir, pngs[i]);
		cr_expect_eq(access(path, R_OK), 0, "%s missing", path);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}
