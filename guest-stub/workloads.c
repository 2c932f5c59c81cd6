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
	print("Hello from the cowvm guest-stub!\n");
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
	int rnd = mode && streq(mode, "rand");
	int wr = op && streq(op, "write");
	uint64_t mib = wl_arg_u64(env, "mib", 16, &bad);
	uint64_t iters = wl_arg_u64(env, "iters", 1, &bad);
	uint64_t seed = wl_arg_u64(env, "seed", 1, &bad);
	if (bad)
		return 3;
	if ((mode && !rnd && !streq(mode, "seq")) || (op && !wr && !streq(op, "read"))) {
		print("memtouch: mode must be seq|rand, op must be read|write\n");
		return 3;
	}
	uint64_t base = (env->heap_base + PAGE - 1) & ~(PAGE - 1);
	uint64_t avail = env->heap_size - (base - env->heap_base);
	if (!mib || mib > avail / (1ull << 20)) {
		print("memtouch: mib must be 1..");
		print_dec(avail >> 20);
		print(" (heap size)\n");
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
	hc_report("memtouch.checksum", h);
	hc_report("memtouch.tsc", t1 - t0);
	print("memtouch: mode=");
	print(rnd ? "rand" : "seq");
	print(" op=");
	print(wr ? "write" : "read");
	print(" mib=");
	print_dec(mib);
	print(" iters=");
	print_dec(iters);
	print(" checksum=");
	print_hex(h);
	print("\n");
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
	if (a && parse_u64(a, &addr)) {
		print("fault: bad addr\n");
		return 3;
	}
	if (!kind || streq(kind, "pf")) {
		uint64_t v = *(volatile uint64_t *)(uintptr_t)addr;
		hc_report("fault.unexpected", v);
	} else if (streq(kind, "wp")) {
		*(volatile uint8_t *)(uintptr_t)&wl_fault = 0xcc;
	} else if (streq(kind, "de")) {
		volatile uint64_t zero = 0, one = 1;
		hc_report("fault.unexpected", one / zero);
	} else if (streq(kind, "ud")) {
		__asm__ volatile("ud2");
	} else {
		print("fault: kind must be pf|de|wp|ud\n");
		return 3;
	}
	print("fault: no exception happened\n");
	return 4;
}

int wl_spin(const struct workload_env *env)
{
	(void)env;
	for (;;)
		__asm__ volatile("pause");
}
