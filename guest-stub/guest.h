/*
 * guest.h - internal interface of the guest-stub, the built-in guest of
 * cowvm: its workloads, built on the guest SDK (cowguest.h, libcowguest)
 * like any other guest. Freestanding: no libc.
 */
#ifndef COWVM_GUEST_H
#define COWVM_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "cowguest.h"

/* workloads (workloads.c): what the boot info says, read once by main()
 * (user_main.c) through the SDK. */
struct workload_env {
	uint64_t cpu, ncpus;
	uint64_t heap_base, heap_size;
	uint64_t in_base, in_size, out_base, out_size;
	uint64_t cov_base, cov_size;   /* fuzzing coverage map (size 0: none) */
};
/* value of argument `key` of the selected workload, or NULL */
const char *wl_arg(const struct workload_env *env, const char *key);
/* numeric argument `key` (decimal or 0x hex), dflt if absent; a bad number
 * prints a message and sets *bad */
uint64_t wl_arg_u64(const struct workload_env *env, const char *key, uint64_t dflt, int *bad);
int wl_hello(const struct workload_env *env);
int wl_memtouch(const struct workload_env *env);
int wl_fault(const struct workload_env *env);
int wl_spin(const struct workload_env *env);
int wl_snaptest(const struct workload_env *env);
void wl_snaptest_ap(const struct workload_env *env); /* secondary vCPUs */
int wl_warm(const struct workload_env *env);
int wl_fuzz(const struct workload_env *env);
int wl_chaos(const struct workload_env *env);
int wl_bench(const struct workload_env *env);

/* fuzzing runtime (fuzz_rt.c, not instrumented) */
void fuzz_cov_init(uint64_t base, uint64_t size);
void fuzz_abort(void) __attribute__((noreturn));
/* ring-0 system calls of the stub kernel (kernel_syscall.c), reached
 * through the SDK's gate (cg_ring0_call, ring0_ops.c) */
int64_t kernel_syscall(uint64_t nr, uint64_t arg);

#endif
