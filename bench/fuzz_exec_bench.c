/*
 * fuzz_exec_bench.c - where the time of one fuzz input goes, without AFL:
 * fuzz_exec() in a loop on a guest-stub fuzz target, with today's path and
 * the old one (fuzz_config.old_path: every vCPU register set restored by
 * ioctl, a timer per run; the path before issue 13), in alternating rounds
 * of one run so both see the same machine. Prints the median per-input
 * time of each phase (fuzz_stats), the ratio, and one JSON line per path.
 * A benchmark: nothing is asserted.
 *
 *   fuzz-exec-bench [--target parser|warm|syscall] [--mib N] [--inputs N]
 *                   [--rounds R] [--input STRING]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"

#define MAP 65536u
#define MAX_ROUNDS 64

struct sample {
	double total, input, run, machine, memory, rest; /* us per input */
	double fast;                                     /* share of fast vCPU restores */
};

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const struct sample *s, unsigned n, size_t off)
{
	double v[MAX_ROUNDS];
	for (unsigned i = 0; i < n; i++)
		v[i] = *(const double *)((const char *)&s[i] + off);
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "fuzz-exec-bench: %s: %s\n", what, msg);
	exit(1);
}

static struct sample round_of(struct fuzz *f, const char *input, unsigned n)
{
	struct fuzz_stats a, b;
	struct vm_result res;
	struct vmm_err err = { 0 };
	fuzz_get_stats(f, &a);
	double t0 = now_us();
	for (unsigned i = 0; i < n; i++)
		if (fuzz_exec(f, input, strlen(input), &res, &err))
			die("fuzz_exec", err.msg);
	double t1 = now_us();
	fuzz_get_stats(f, &b);
	struct sample s = {
		.total = (t1 - t0) / n,
		.input = (double)(b.ns_input - a.ns_input) / 1e3 / n,
		.run = (double)(b.ns_run - a.ns_run) / 1e3 / n,
		.machine = (double)(b.ns_reset_machine - a.ns_reset_machine) / 1e3 / n,
		.memory = (double)(b.ns_reset_memory - a.ns_reset_memory) / 1e3 / n,
		.rest = (double)(b.ns_reset_rest - a.ns_reset_rest) / 1e3 / n,
	};
	uint64_t fast = b.vcpus_fast - a.vcpus_fast, full = b.vcpus_full - a.vcpus_full;
	s.fast = fast + full ? (double)fast / (double)(fast + full) : 0;
	return s;
}

int main(int argc, char **argv)
{
	const char *target = "parser", *input = "FUZZ";
	unsigned inputs = 3000, rounds = 7;
	uint64_t mib = 0;
	static const struct option lo[] = { { "target", required_argument, 0, 't' }, { "mib", required_argument, 0, 'm' },
		                            { "inputs", required_argument, 0, 'n' }, { "rounds", required_argument, 0, 'r' },
		                            { "input", required_argument, 0, 'i' },  { 0, 0, 0, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 't': target = optarg; break;
		case 'm': mib = strtoull(optarg, NULL, 0); break;
		case 'n': inputs = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': rounds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'i': input = optarg; break;
		default:
			fprintf(stderr, "usage: fuzz-exec-bench [--target T] [--mib N] [--inputs N] [--rounds R] [--input S]\n");
			return 2;
		}
	}
	if (!inputs || !rounds || rounds > MAX_ROUNDS)
		die("arguments", "--inputs must be > 0, --rounds 1..64");
	struct fuzz *f[2];
	uint8_t *map[2];
	for (int p = 0; p < 2; p++) {
		map[p] = aligned_alloc(4096, MAP);
		if (!map[p])
			die("map", "out of memory");
		memset(map[p], 0, MAP);
		struct fuzz_config cfg = { .target = target, .mib = mib, .cov = map[p], .cov_size = MAP,
		                           .old_path = p == 1 };
		if (!strcmp(target, "warm") && mib)
			cfg.mem_size = ((mib * 2 + 63) / 64 * 64) << 20;
		struct vmm_err err = { 0 };
		if (fuzz_open(&cfg, &f[p], &err))
			die("fuzz_open", err.msg);
		round_of(f[p], input, inputs / 10 + 1); /* warm up: first reset, faults */
	}
	struct sample s[2][MAX_ROUNDS];
	for (unsigned r = 0; r < rounds; r++)
		for (int p = 0; p < 2; p++)
			s[p][r] = round_of(f[p], input, inputs);
	static const char *const names[2] = { "new", "old" };
	printf("fuzz-exec-bench: target %s, input \"%s\", %u inputs x %u rounds per path, medians (us per input)\n",
	       target, input, inputs, rounds);
	printf("%-5s %8s %8s %8s %9s %8s %8s %6s\n", "path", "total", "input", "run", "vcpu+clk", "memory", "rest", "fast");
	double tot[2];
	for (int p = 0; p < 2; p++) {
		tot[p] = median(s[p], rounds, offsetof(struct sample, total));
		printf("%-5s %8.1f %8.1f %8.1f %9.1f %8.1f %8.1f %5.0f%%\n", names[p], tot[p],
		       median(s[p], rounds, offsetof(struct sample, input)), median(s[p], rounds, offsetof(struct sample, run)),
		       median(s[p], rounds, offsetof(struct sample, machine)),
		       median(s[p], rounds, offsetof(struct sample, memory)), median(s[p], rounds, offsetof(struct sample, rest)),
		       100 * median(s[p], rounds, offsetof(struct sample, fast)));
	}
	printf("old / new: %.2fx\n", tot[1] / tot[0]);
	for (int p = 0; p < 2; p++)
		printf("{\"bench\":\"fuzz-exec\",\"target\":\"%s\",\"path\":\"%s\",\"inputs\":%u,\"rounds\":%u,"
		       "\"us_per_input\":%.2f,\"run_us\":%.2f,\"vcpu_clock_us\":%.2f,\"memory_us\":%.2f}\n",
		       target, names[p], inputs, rounds, tot[p], median(s[p], rounds, offsetof(struct sample, run)),
		       median(s[p], rounds, offsetof(struct sample, machine)), median(s[p], rounds, offsetof(struct sample, memory)));
	for (int p = 0; p < 2; p++) {
		fuzz_close(f[p]);
		free(map[p]);
	}
	return 0;
}
