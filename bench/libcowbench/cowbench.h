/*
 * cowbench.h - `cowvm bench`: the benchmark suites of docs/benchmarks.md as a
 * library (bench/libcowbench), linked into the cowvm executable
 * (vmm/cli/cli_bench.c) and into snap-bench.
 *
 *   cowvm bench [SUITE...] [--sizes 64M,256M,512M,1G,4G] [--repeat N]
 *               [--json FILE] [--plot DIR] [--quick]
 *
 * Suites: clone (clone latency vs guest size, six methods, slope in us/GiB),
 * fault (per-access write latency after a clone), memory (RSS and table
 * bytes of snapshot holder and clone: the seed's VmRSS/VmPTE table), reset
 * (reset latency vs dirty pages). Every figure is a ratio against a
 * baseline measured in the same run; nothing asserts a time.
 */
#ifndef COWBENCH_H
#define COWBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum bench_suite { SUITE_CLONE, SUITE_FAULT, SUITE_MEMORY, SUITE_RESET, BENCH_NSUITES };

#define BENCH_MAX_SIZES 8
#define BENCH_MAX_REPEAT 100000u

struct bench_opts {
	bool suite[BENCH_NSUITES];  /* all false after parsing = all suites */
	uint64_t sizes[BENCH_MAX_SIZES]; /* clone suite guest sizes (bytes, ascending) */
	unsigned nsizes;
	unsigned repeat;            /* cheap measurements; costly ones use fewer */
	bool quick;                 /* CI smoke: small sizes, few repeats, < 2 minutes */
	const char *json_path;      /* NULL: no JSON; "-": stdout */
	const char *plot_dir;       /* NULL: no plots */
};

/* Parse `cowvm bench` arguments (argv[0] is "bench"). Returns 0 (run),
 * 1 (--help: usage printed to stdout, exit 0) or 2 (bad usage: a one-line
 * message without newline in err; exit 2). Fills the defaults. */
int bench_parse_args(int argc, char **argv, struct bench_opts *o, char *err, size_t errlen);
void bench_usage(FILE *f);
/* Suite names, "clone" ... ; NULL past the end. */
const char *bench_suite_name(enum bench_suite s);

/* Run the suites: tables on stdout, progress on stderr, JSON lines and
 * PNG plots where asked. Returns the exit status: 0, 2 (no usable
 * /dev/kvm, bad output path), 204 (a VMM failure; message on stderr). */
int bench_run(const struct bench_opts *o);

#endif
