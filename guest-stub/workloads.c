/*
 * workloads.c - ring-3 workloads of the guest-stub, selected by boot info:
 * hello, memtouch (the seed's memory microbenchmarks), fault (deliberate
 * exceptions), spin.
 */
#include "guest.h"

#define PAGE 4096ull

int wl_hello(const struct workload_env *env)
{
	(void)env;
	cg_print("Hello from the cowvm guest-stub!\n");
	return 0;
}

/*
 * memtouch mode=seq|rand op=read|write mib=N iters=N seed=N
 * Touches the first qword of every page of an N MiB heap buffer, in order
 * (seq) or in xorshift order (rand, npages accesses per iteration). op=write
 * stores cowvm_memtouch_value(page, iter); op=read folds what it reads. The
 * checksum folds the first qword of every page after the run (write) or every
 * value read (read): the host test models the buffer and compares.
 */
int wl_memtouch(const struct workload_env *env)
{
	int bad = 0;
	const char *mode = wl_arg(env, "mode"), *op = wl_arg(env, "op");
	int rnd = mode && cg_streq(mode, "rand");
	int wr = op && cg_streq(op, "write");
	uint64_t mib = wl_arg_u64(env, "mib", 16, &bad);
	uint64_t iters = wl_arg_u64(env, "iters", 1, &bad);
	uint64_t seed = wl_arg_u64(env, "seed", 1, &bad);
	if (bad)
		return 3;
	if ((mode && !rnd && !cg_streq(mode, "seq")) || (op && !wr && !cg_streq(op, "read"))) {
		cg_print("memtouch: mode must be seq|rand, op must be read|write\n");
		return 3;
	}
	uint64_t base = (env->heap_base + PAGE - 1) & ~(PAGE - 1);
	uint64_t avail = env->heap_size - (base - env->heap_base);
	if (!mib || mib > avail / (1ull << 20)) {
		cg_printf("memtouch: mib must be 1..%llu (heap size)\n", (unsigned long long)(avail >> 20));
		return 3;
	}
	uint64_t npages = mib << 8;
	volatile uint64_t *buf = (volatile uint64_t *)(uintptr_t)base;
	uint64_t h = COWVM_FOLD_INIT, s = seed ? seed : 1;
	uint64_t t0 = __builtin_ia32_rdtsc();
	for (uint64_t it = 0; it < iters; it++) {
		for (uint64_t i = 0; i < npages; i++) {
			uint64_t p = rnd ? cowvm_xorshift64(&s) % npages : i;
			volatile uint64_t *w = buf + p * (PAGE / 8);
			if (wr)
				*w = cowvm_memtouch_value(p, it);
			else
				h = cowvm_fold(h, *w);
		}
	}
	uint64_t t1 = __builtin_ia32_rdtsc();
	if (wr)
		for (uint64_t p = 0; p < npages; p++)
			h = cowvm_fold(h, buf[p * (PAGE / 8)]);
	cg_report("memtouch.checksum", h);
	cg_report("memtouch.tsc", t1 - t0);
	cg_printf("memtouch: mode=%s op=%s mib=%llu iters=%llu checksum=0x%016llx\n", rnd ? "rand" : "seq",
	          wr ? "write" : "read", (unsigned long long)mib, (unsigned long long)iters, (unsigned long long)h);
	return 0;
}

/*
 * fault kind=pf|de|wp|ud [addr=N]: take one deliberate exception from ring 3.
 * pf reads addr (default 0, the NULL guard page); wp writes into this code
 * (mapped read-only); de divides by zero; ud executes UD2.
 */
int wl_fault(const struct workload_env *env)
{
	const char *kind = wl_arg(env, "kind");
	const char *a = wl_arg(env, "addr");
	uint64_t addr = 0;
	if (a && cg_parse_u64(a, &addr)) {
		cg_print("fault: bad addr\n");
		return 3;
	}
	if (!kind || cg_streq(kind, "pf")) {
		uint64_t v = *(volatile uint64_t *)(uintptr_t)addr;
		cg_report("fault.unexpected", v);
	} else if (cg_streq(kind, "wp")) {
		*(volatile uint8_t *)(uintptr_t)&wl_fault = 0xcc;
	} else if (cg_streq(kind, "de")) {
		volatile uint64_t zero = 0, one = 1;
		cg_report("fault.unexpected", one / zero);
	} else if (cg_streq(kind, "ud")) {
		__asm__ volatile("ud2");
	} else {
		cg_print("fault: kind must be pf|de|wp|ud\n");
		return 3;
	}
	cg_print("fault: no exception happened\n");
	return 4;
}

int wl_spin(const struct workload_env *env)
{
	(void)env;
	for (;;)
		__asm__ volatile("pause");
}
