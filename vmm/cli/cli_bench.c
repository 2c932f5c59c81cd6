/*
 * cli_bench.c - `cowvm bench`: the benchmark suites of docs/benchmarks.md
 * (bench/libcowbench). Exit status 0; 2 on bad arguments (one line on
 * stderr) or without /dev/kvm; 204 when a VMM operation fails.
 */
#include <stdio.h>

#include "cli.h"
#include "cowbench.h"
#include "cowvm_abi.h"

void cli_bench_usage(FILE *f)
{
	bench_usage(f);
}

int cli_bench(int argc, char **argv)
{
	struct bench_opts o;
	char err[256];
	int r = bench_parse_args(argc, argv, &o, err, sizeof(err));
	if (r == 1)
		return 0;
	if (r) {
		fprintf(stderr, "%s\n", err);
		return COWVM_EXIT_USAGE;
	}
	return bench_run(&o);
}
