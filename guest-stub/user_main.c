/*
 * user_main.c - ring-3 start of the guest-stub: read the boot info, pick the
 * workload named there and run it. vCPUs other than 0 have nothing to do yet
 * and halt (the VMM parks them).
 */
#include "guest.h"

const char *wl_arg(const struct workload_env *env, const char *key)
{
	return fdt_string(env->fdt, "/chosen/" COWVM_FDT_ARGS_NODE, key);
}

uint64_t wl_arg_u64(const struct workload_env *env, const char *key, uint64_t dflt, int *bad)
{
	const char *s = wl_arg(env, key);
	uint64_t v;
	if (!s)
		return dflt;
	if (parse_u64(s, &v)) {
		print("guest: bad number for ");
		print(key);
		print("\n");
		*bad = 1;
		return dflt;
	}
	return v;
}

static const struct {
	const char *name;
	int (*run)(const struct workload_env *);
} workloads[] = {
	{ "hello", wl_hello },
	{ "memtouch", wl_memtouch },
	{ "fault", wl_fault },
	{ "spin", wl_spin },
	{ "snaptest", wl_snaptest },
	{ "warm", wl_warm },
	{ "fuzz", wl_fuzz },
	{ "chaos", wl_chaos },
	{ "bench", wl_bench },
};

int user_main(uint64_t fdt_addr, uint64_t cpu)
{
	struct fdt_view fdt;
	struct workload_env env = { .fdt = &fdt, .cpu = cpu };
	if (fdt_open(&fdt, fdt_addr)) {
		print("guest: bad boot info\n");
		return 120;
	}
	uint32_t len;
	const uint8_t *n = fdt_prop(&fdt, "/chosen", COWVM_FDT_NCPUS, &len);
	env.ncpus = (n && len == 4) ? ((uint32_t)n[0] << 24 | n[1] << 16 | n[2] << 8 | n[3]) : 1;
	if (fdt_u64_pair(&fdt, "/chosen", COWVM_FDT_HEAP, &env.heap_base, &env.heap_size) ||
	    fdt_u64_pair(&fdt, "/chosen", COWVM_FDT_INPUT, &env.in_base, &env.in_size) ||
	    fdt_u64_pair(&fdt, "/chosen", COWVM_FDT_OUTPUT, &env.out_base, &env.out_size)) {
		print("guest: boot info lacks heap/input/output\n");
		return 121;
	}
	if (fdt_u64_pair(&fdt, "/chosen", COWVM_FDT_COVERAGE, &env.cov_base, &env.cov_size))
		env.cov_base = env.cov_size = 0; /* optional: no fuzzer */
	if (cpu != 0) {
		/* Secondary vCPUs have no work except in snaptest with aps=1
		 * (which returns at once otherwise); HLT from ring 3 would be a
		 * #GP, so ask the VMM to park this vCPU. */
		const char *name = fdt_string(&fdt, "/chosen", COWVM_FDT_WORKLOAD);
		if (name && streq(name, "snaptest"))
			wl_snaptest_ap(&env);
		hcall(COWVM_HC_PARK, 0, 0, 0, 0);
		for (;;)
			__asm__ volatile("pause");
	}
	const char *name = fdt_string(&fdt, "/chosen", COWVM_FDT_WORKLOAD);
	if (!name) {
		print("guest: no workload in boot info\n");
		return 122;
	}
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (streq(name, workloads[i].name))
			return workloads[i].run(&env);
	print("guest: unknown workload: ");
	print(name);
	print("\n");
	return 123;
}
