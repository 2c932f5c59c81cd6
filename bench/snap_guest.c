/*
 * snap_guest.c - the benchmark's own ring-3 workload, linked into a copy of
 * the guest-stub built only for snap-bench (bench/meson.build). The stock
 * guest-stub sources are used unchanged: `user_main` is wrapped with
 * `-Wl,--wrap=user_main`, so this file sees the boot first, runs
 * `snapbench` itself and hands every other workload to the real user_main.
 *
 * snapbench mib=M per=K chunks=C read=R
 *   Fill M MiB (default 2) starting at the first 2 MiB-aligned guest address
 *   of the heap (one non-zero qword per page, so the snapshot holds real
 *   pages), then ask for a snapshot. Each clone then writes the first qword
 *   of K pages (default 0) spread evenly (stride 512/K) over each of the
 *   first C 2 MiB chunks of the buffer (default all), with R=1 reads the
 *   first qword of every page of those chunks, and exits 0.
 *   K=0: the clone exits at once: its first exit after the snapshot point is
 *   the exit hypercall (clone-latency measurements).
 */
#include "guest.h"

#define PAGE 4096ull
#define CHUNK (2ull << 20)
#define QW_PER_PAGE (PAGE / 8)
#define PAGES_PER_CHUNK (CHUNK / PAGE)

int __real_user_main(uint64_t fdt, uint64_t cpu);
int __wrap_user_main(uint64_t fdt_addr, uint64_t cpu);

static volatile uint64_t sink;

static int snapbench(const struct workload_env *env)
{
	int bad = 0;
	uint64_t mib = wl_arg_u64(env, "mib", 2, &bad);
	uint64_t per = wl_arg_u64(env, "per", 0, &bad);
	uint64_t read = wl_arg_u64(env, "read", 0, &bad);
	uint64_t base = (env->heap_base + CHUNK - 1) & ~(CHUNK - 1);
	uint64_t end = env->heap_base + env->heap_size;
	uint64_t npages = mib << 8;
	uint64_t nchunks = (npages + PAGES_PER_CHUNK - 1) / PAGES_PER_CHUNK;
	uint64_t chunks = wl_arg_u64(env, "chunks", nchunks, &bad);
	if (bad || !mib || base >= end || mib > (end - base) >> 20 || per > PAGES_PER_CHUNK ||
	    chunks > nchunks || (per && chunks * PAGES_PER_CHUNK > npages)) {
		print("snapbench: bad arguments\n");
		return 3;
	}
	volatile uint64_t *buf = (volatile uint64_t *)(uintptr_t)base;
	for (uint64_t p = 0; p < npages; p++)
		buf[p * QW_PER_PAGE] = p * 0x9e3779b97f4a7c15ull | 1;
	int64_t id = hcall(COWVM_HC_SNAPSHOT, 0, 0, 0, 0);
	if (id < 0)
		return 5;
	if (id == 0)
		return 0; /* the original */
	if (per) {
		uint64_t stride = PAGES_PER_CHUNK / per;
		for (uint64_t c = 0; c < chunks; c++)
			for (uint64_t j = 0; j < per; j++) {
				uint64_t p = c * PAGES_PER_CHUNK + j * stride;
				buf[p * QW_PER_PAGE] = p ^ (uint64_t)id;
			}
	}
	if (read) {
		uint64_t s = 0;
		for (uint64_t p = 0; p < chunks * PAGES_PER_CHUNK && p < npages; p++)
			s += buf[p * QW_PER_PAGE];
		sink = s;
	}
	return 0;
}

int __wrap_user_main(uint64_t fdt_addr, uint64_t cpu)
{
	struct fdt_view fdt;
	if (cpu != 0 || fdt_open(&fdt, fdt_addr))
		return __real_user_main(fdt_addr, cpu);
	const char *name = fdt_string(&fdt, "/chosen", COWVM_FDT_WORKLOAD);
	if (!name || !streq(name, "snapbench"))
		return __real_user_main(fdt_addr, cpu);
	struct workload_env env = { .fdt = &fdt, .cpu = cpu, .ncpus = 1 };
	if (fdt_u64_pair(&fdt, "/chosen", COWVM_FDT_HEAP, &env.heap_base, &env.heap_size) ||
	    fdt_u64_pair(&fdt, "/chosen", COWVM_FDT_INPUT, &env.in_base, &env.in_size) ||
	    fdt_u64_pair(&fdt, "/chosen", COWVM_FDT_OUTPUT, &env.out_base, &env.out_size)) {
		print("snapbench: boot info lacks heap/input/output\n");
		return 121;
	}
	return snapbench(&env);
}
