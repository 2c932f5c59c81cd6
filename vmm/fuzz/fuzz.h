/*
 * fuzz.h - the fuzzing front end's engine: boot a fuzz target of the
 * guest-stub, let it warm up and snapshot itself, then run one input per
 * call, bringing the guest back to the snapshot between inputs in one of
 * three ways (the comparison the benchmark makes):
 *   cow    vm_reset: copy back only the pages the input dirtied (clone.h)
 *   fresh  a new KVM VM + MAP_PRIVATE window per input (vm_clone, no pool)
 *   copy   copy all of guest RAM back from the snapshot per input
 * Coverage goes straight from the guest into the map given here (the AFL++
 * shared memory), attached as guest memory (vm_map_coverage).
 */
#ifndef COWVM_FUZZ_H
#define COWVM_FUZZ_H

#include <stdbool.h>
#include <stdint.h>

#include "clone.h"

enum fuzz_reset { FUZZ_RESET_COW, FUZZ_RESET_FRESH, FUZZ_RESET_COPY };

/* fuzz_config.timeout_ms: no time limit of our own; the caller's watcher
 * (should_stop) ends a hang. Under AFL++ that is AFL's own timer, which
 * must be the one that fires (docs/fuzzing.md, "Hangs"). */
#define FUZZ_TIMEOUT_NONE UINT64_MAX

struct fuzz_config {
	const char *target;         /* parser | warm | syscall */
	uint64_t mem_size;          /* 0: 64 MiB, or 512 MiB for warm */
	uint64_t mib;               /* warm state size (warm target), 0: 256 */
	enum fuzz_reset reset;
	uint64_t timeout_ms;        /* per input, 0: 1000, FUZZ_TIMEOUT_NONE: none */
	uint8_t *cov;               /* coverage map, 4 KiB aligned */
	uint64_t cov_size;          /* multiple of 4 KiB, <= COWVM_COVERAGE_MAX */
	bool (*should_stop)(void *ctx); /* polled while an input runs */
	void *should_stop_ctx;
	vm_console_fn console;      /* NULL: drop the guest's console */
	void *console_ctx;
	/* Measurements only: the per-input path before issue 13 (clone_opts
	 * old_path; cowvm fuzz-target: COWVM_FUZZ_OLD_PATH=1). */
	bool old_path;
};

struct fuzz;

/* Fill in c's defaults (memory, warm-state size, timeout) and check what
 * the guest would refuse before its snapshot (a warm state that does not
 * fit in guest memory): -EINVAL with a message. fuzz_open does it too; the
 * CLI calls it first to tell bad arguments from failures. */
int fuzz_config_resolve(struct fuzz_config *c, struct vmm_err *e);
/* Boot the target, run it to its snapshot, take it, prepare the first VM. */
int fuzz_open(const struct fuzz_config *c, struct fuzz **out, struct vmm_err *e);
/* Run one input (truncated to what the input buffer holds) and reset. */
int fuzz_exec(struct fuzz *f, const void *data, uint64_t len, struct vm_result *res, struct vmm_err *e);
void fuzz_close(struct fuzz *f);
/* Largest input the guest receives. */
uint64_t fuzz_max_input(const struct fuzz *f);

/* Where the time of fuzz_exec goes (docs/fuzzing.md, "Cost per input"). */
struct fuzz_stats {
	uint64_t inputs;
	uint64_t vcpus_fast, vcpus_full; /* vCPU restores by path (vcpu_fast.h) */
	uint64_t ns_input;          /* the input into guest RAM (and a new clone: fresh) */
	uint64_t ns_run;            /* vm_run */
	uint64_t ns_reset_machine;  /* vCPUs, clock (cow); the whole reset (copy, fresh) */
	uint64_t ns_reset_memory;   /* memory and GPT (cow) */
	uint64_t ns_reset_rest;     /* the rest of vm_reset */
};
void fuzz_get_stats(const struct fuzz *f, struct fuzz_stats *st);

/* The wait(2)-style status a forkserver reports for a run: exit status
 * << 8, or a signal for a crash (#PF/#GP -> SIGSEGV, #UD -> SIGILL, #DE ->
 * SIGFPE, abort -> SIGABRT, timeout -> SIGKILL, triple fault -> SIGSEGV,
 * VMM-detected guest misbehaviour -> SIGSYS). */
int fuzz_wait_status(const struct vm_result *res);
int fuzz_parse_reset(const char *s, enum fuzz_reset *out);
const char *fuzz_reset_name(enum fuzz_reset r);

#endif
