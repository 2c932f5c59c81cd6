/*
 * user_main.c - main() of the guest-stub (a guest like any other, built on
 * the guest SDK): pick the workload the boot info names and run it on
 * vCPU 0; the secondary vCPUs have work only in snaptest (cg_ap_main).
 */
#include "guest.h"

const char *wl_arg(const struct workload_env *env, const char *key)
{
	(void)env;
	return cg_arg(key);
}

uint64_t wl_arg_u64(const struct workload_env *env, const char *key, uint64_t dflt, int *bad)
{
	uint64_t v;
	(void)env;
	if (cg_arg_u64(key, dflt, &v)) {
		cg_printf("guest: bad number for %s\n", key);
		*bad = 1;
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

static void read_env(struct workload_env *env, uint64_t cpu)
{
	size_t n;
	env->cpu = cpu;
	env->ncpus = cg_ncpus();
	env->heap_base = (uint64_t)(uintptr_t)cg_heap_region(&n);
	env->heap_size = n;
	env->in_base = (uint64_t)(uintptr_t)cg_input(&n);
	env->in_size = n;
	env->out_base = (uint64_t)(uintptr_t)cg_output(&n);
	env->out_size = n;
	/* The fuzzing coverage map, when a fuzzer attached one (size 0: none). */
	if (cg_boot_pair(COWVM_FDT_COVERAGE, &env->cov_base, &env->cov_size))
		env->cov_base = env->cov_size = 0;
}

/* Secondary vCPUs: only snaptest with aps=1 has work for them (it returns
 * at once otherwise); the SDK parks them afterwards. */
void cg_ap_main(unsigned cpu)
{
	struct workload_env env;
	read_env(&env, cpu);
	if (cg_streq(cg_name(), "snaptest"))
		wl_snaptest_ap(&env);
}

int main(void)
{
	struct workload_env env;
	read_env(&env, 0);
	const char *name = cg_name();
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (cg_streq(name, workloads[i].name))
			return workloads[i].run(&env);
	cg_printf("guest: unknown workload: %s\n", name);
	return 123;
}
