/*
 * guest.h (native) - what guest-stub/fuzz_targets.c needs from the guest
 * SDK, for a host build of that same file as an ordinary AFL++ target
 * (harness.c, bench/fuzz_native.sh). The build compiles a copy of
 * fuzz_targets.c so that this header, not guest-stub/guest.h, is found.
 */
#ifndef COWVM_NATIVE_GUEST_H
#define COWVM_NATIVE_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "cowvm_abi.h"

struct workload_env {
	uint64_t cpu, ncpus;
	uint64_t heap_base, heap_size;
	uint64_t in_base, in_size, out_base, out_size;
	uint64_t cov_base, cov_size;
};

const char *wl_arg(const struct workload_env *env, const char *key);
uint64_t wl_arg_u64(const struct workload_env *env, const char *key, uint64_t dflt, int *bad);
int cg_streq(const char *a, const char *b);
void cg_print(const char *s);
int cg_report(const char *key, uint64_t value);
int64_t cg_snapshot(void);
void fuzz_cov_init(uint64_t base, uint64_t size); /* AFL++'s own instrumentation instead */
void fuzz_abort(void) __attribute__((noreturn)); /* abort(): SIGABRT, as the VMM reports it */

int fuzz_target_prepare(const struct workload_env *env);
int fuzz_target_input(const struct workload_env *env);

#endif
