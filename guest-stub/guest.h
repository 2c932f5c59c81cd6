/*
 * guest.h - internal interface of the guest-stub (ring-3 runtime and
 * workloads). Freestanding: no libc.
 */
#ifndef COWVM_GUEST_H
#define COWVM_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "cowvm_abi.h"

/* ring 3 entry (user_rt.S): aligns the stack, calls user_main, exits. */
void user_entry(void);
int user_main(uint64_t fdt, uint64_t cpu);

/* hypercalls (hcall.c) */
int64_t hcall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);
void hc_exit(int status) __attribute__((noreturn));
void hc_report(const char *key, uint64_t value);
void print(const char *s);
void print_n(const char *s, size_t n);
void print_hex(uint64_t v);
void print_dec(uint64_t v);
void com1_puts(const char *s);

/* string helpers (lib.c); gcc may emit calls to memset/memcpy. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s);
int streq(const char *a, const char *b);
/* parse a decimal or 0x-hex number; returns 0 on success */
int parse_u64(const char *s, uint64_t *out);

/* boot info (fdt.c): minimal bounds-checked FDT reader. */
struct fdt_view {
	const uint8_t *base;
	uint32_t size, struct_off, struct_size, strings_off, strings_size;
};
int fdt_open(struct fdt_view *v, uint64_t addr);
/* Property `name` of the node at `path` ("/chosen", "/chosen/workload-args");
 * returns a pointer and length, or NULL. */
const void *fdt_prop(const struct fdt_view *v, const char *path, const char *name, uint32_t *len);
const char *fdt_string(const struct fdt_view *v, const char *path, const char *name);
int fdt_u64_pair(const struct fdt_view *v, const char *path, const char *name, uint64_t *a, uint64_t *b);

/* workloads (workloads.c) */
struct workload_env {
	const struct fdt_view *fdt;
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

/* snapshot of the whole guest here: 0 original, N clone N, < 0 none */
int64_t hc_snapshot(void);

/* fuzzing runtime (fuzz_rt.c, not instrumented) */
void fuzz_cov_init(uint64_t base, uint64_t size);
void fuzz_abort(void) __attribute__((noreturn));
/* ring-0 system calls of the stub kernel (kernel_syscall.c, int $0x80) */
int64_t kernel_syscall(uint64_t nr, uint64_t arg);

#endif
