/*
 * linux_fuzz.c - kernel fuzzing throughput, three ways, in the same run
 * (docs/fuzzing.md, "Fuzzing the Linux kernel"): the same system-call
 * programs (the seeds) executed by the fuzzing kernel's agent with
 *   cow     the warm guest reset to its snapshot after every input (what
 *           `cowvm fuzz-target --kernel` does under AFL);
 *   fresh   a fresh KVM VM per input from the snapshot (MAP_PRIVATE memory,
 *           vCPUs and devices restored: the Firecracker way);
 *   boot    the kernel booted afresh per input (TriforceAFL's cost without
 *           its fork: every input pays the boot).
 * Prints execs/s and each as a ratio to boot. Absolute numbers under
 * nested QEMU mean little; the ratios are the result.
 *
 *   linux-fuzz [KERNEL INITRD SEED... ]
 * Without arguments: LINUX_FUZZ_KERNEL, LINUX_INITRD and FUZZ_SEED_0..2
 * (how tools/qemu_test.sh --suite linux-bench runs it).
 * Environment: LINUX_FUZZ_ROUNDS (cow rounds over the seeds, default 20),
 * LINUX_FUZZ_BOOTS (boot-mode inputs, default 2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "fuzz.h"

#define MAP 65536u
#define MAX_SEEDS 16

struct input {
	void *data;
	size_t len;
};

static unsigned env_count(const char *name, unsigned def)
{
	const char *v = getenv(name);
	return v && atoi(v) > 0 ? (unsigned)atoi(v) : def;
}

/* Runs n inputs (cycling over the seeds) in mode m; execs/s, or -1. */
static double measure(struct fuzz_config c, enum fuzz_reset m, const struct input *in, unsigned nin,
                      unsigned n, double *open_s)
{
	c.reset = m;
	struct fuzz *f;
	struct vmm_err e = { 0 };
	double t0 = now_s();
	if (fuzz_open(&c, &f, &e)) {
		fprintf(stderr, "linux-fuzz: %s: fuzz_open: %s\n", fuzz_reset_name(m), e.msg);
		return -1;
	}
	double t1 = now_s();
	*open_s = t1 - t0;
	unsigned crashes = 0;
	for (unsigned i = 0; i < n; i++) {
		struct vm_result res;
		memset(c.cov, 0, MAP);
		if (fuzz_exec(f, in[i % nin].data, in[i % nin].len, &res, &e)) {
			fprintf(stderr, "linux-fuzz: %s: input %u: %s\n", fuzz_reset_name(m), i, e.msg);
			fuzz_close(f);
			return -1;
		}
		crashes += res.end != VM_END_EXIT;
	}
	/* Boot mode boots the first input's VM inside fuzz_open: count it. */
	double dt = now_s() - (m == FUZZ_RESET_BOOT ? t0 : t1);
	fuzz_close(f);
	if (crashes)
		fprintf(stderr, "linux-fuzz: %s: %u of %u seed runs did not end normally\n", fuzz_reset_name(m),
		        crashes, n);
	return crashes ? -1 : n / dt;
}

int main(int argc, char **argv)
{
	const char *kpath = argc > 2 ? argv[1] : getenv("LINUX_FUZZ_KERNEL");
	const char *ipath = argc > 2 ? argv[2] : getenv("LINUX_INITRD");
	struct input in[MAX_SEEDS];
	unsigned nin = 0;
	for (int i = 3; i < argc && nin < MAX_SEEDS; i++, nin++)
		in[nin].data = slurp(argv[i], &in[nin].len);
	for (unsigned i = 0; argc <= 2 && i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "FUZZ_SEED_%u", i);
		const char *p = getenv(name);
		if (p) {
			in[nin].data = slurp(p, &in[nin].len);
			nin++;
		}
	}
	size_t klen = 0, ilen = 0;
	void *kernel = kpath ? slurp(kpath, &klen) : NULL, *initrd = ipath ? slurp(ipath, &ilen) : NULL;
	if (!kernel || !initrd || !nin) {
		fprintf(stderr, "usage: linux-fuzz KERNEL INITRD SEED... (or LINUX_FUZZ_KERNEL, LINUX_INITRD, FUZZ_SEED_0..2)\n");
		return 2;
	}
	for (unsigned i = 0; i < nin; i++)
		if (!in[i].data) {
			fprintf(stderr, "linux-fuzz: a seed file is unreadable\n");
			return 2;
		}
	uint8_t *map = aligned_alloc(4096, MAP);
	char cmdline[512];
	snprintf(cmdline, sizeof(cmdline), "%s cowvm.test=fuzz", FUZZ_LINUX_CMDLINE);
	struct fuzz_config c = { .kernel = kernel, .kernel_len = klen, .initrd = initrd, .initrd_len = ilen,
	                         .cmdline = cmdline, .cov = map, .cov_size = MAP, .timeout_ms = 60000 };
	unsigned rounds = env_count("LINUX_FUZZ_ROUNDS", 20), boots = env_count("LINUX_FUZZ_BOOTS", 2);
	double o_cow, o_fresh, o_boot;
	/* boot first: its inputs are few and slow; then the two snapshot modes. */
	double boot = measure(c, FUZZ_RESET_BOOT, in, nin, boots, &o_boot);
	double cow = measure(c, FUZZ_RESET_COW, in, nin, rounds * nin, &o_cow);
	double fresh = measure(c, FUZZ_RESET_FRESH, in, nin, nin * (rounds / 4 ? rounds / 4 : 1), &o_fresh);
	if (boot <= 0 || cow <= 0 || fresh <= 0)
		return 1;
	printf("kernel fuzzing, %u seed programs, one run (nested QEMU or not: see docs/fuzzing.md)\n", nin);
	printf("| reset per input | inputs | execs/s | vs boot | boot to snapshot (s) |\n|---|---|---|---|---|\n");
	printf("| boot (cold boot per input) | %u | %.3f | 1 | %.1f |\n", boots, boot, o_boot);
	printf("| fresh (new VM from the snapshot) | %u | %.2f | %.0f | %.1f |\n", nin * (rounds / 4 ? rounds / 4 : 1),
	       fresh, fresh / boot, o_fresh);
	printf("| cow (cowvm reset) | %u | %.2f | %.0f | %.1f |\n", rounds * nin, cow, cow / boot, o_cow);
	printf("cow / fresh = %.1f\n", cow / fresh);
	free(map);
	free(kernel);
	free(initrd);
	for (unsigned i = 0; i < nin; i++)
		free(in[i].data);
	return 0;
}
