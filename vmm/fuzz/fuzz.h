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
 *
 * A Linux guest (config.kernel set, docs/fuzzing.md "Fuzzing the Linux
 * kernel"): the kernel boots with the initramfs, whose guest agent
 * (`cowvm-agent fuzz`) turns KCOV on, maps the AFL map from the info page
 * and asks for the snapshot; each input is a system-call program the agent
 * runs after the reset. A kernel oops ends the input as a reboot
 * (oops=panic panic=-1), reported as a crash with the console text kept.
 * Reset modes: cow, fresh, and boot (a cold boot per input: the baseline).
 */
#ifndef COWVM_FUZZ_H
#define COWVM_FUZZ_H

#include <stdbool.h>
#include <stdint.h>

#include "clone.h"

enum fuzz_reset { FUZZ_RESET_COW, FUZZ_RESET_FRESH, FUZZ_RESET_COPY, FUZZ_RESET_BOOT };

/* A Linux guest's command line unless the caller gives one: an oops or
 * BUG panics, and a panic reboots at once (cowvm sees a reset: a crash);
 * loglevel=5 prints warnings (a WARN, a KASAN or UBSAN report), which the
 * console hook turns into a crash (fuzz_kernel_report). Not panic_on_warn:
 * under nested QEMU the kernel WARNs once while booting (docs/fuzzing.md). */
#define FUZZ_LINUX_CMDLINE "console=ttyS0 loglevel=5 panic=-1 oops=panic pci=off"
/* Console bytes kept per input (the first ones: an oops report's head). */
#define FUZZ_CONSOLE_MAX 65536u

/* fuzz_config.timeout_ms: no time limit of our own; the caller's watcher
 * (should_stop) ends a hang. Under AFL++ that is AFL's own timer, which
 * must be the one that fires (docs/fuzzing.md, "Hangs"). */
#define FUZZ_TIMEOUT_NONE UINT64_MAX

struct fuzz_config {
	const char *target;         /* parser | warm | syscall; NULL with kernel */
	/* A Linux guest instead of a guest-stub target (not owned; needed
	 * until fuzz_close: the boot reset mode boots it per input). */
	const void *kernel;
	size_t kernel_len;
	const void *initrd;
	size_t initrd_len;
	const char *cmdline;        /* NULL: FUZZ_LINUX_CMDLINE */
	uint64_t mem_size;          /* 0: 64 MiB, 512 MiB for warm, 256 MiB for Linux */
	uint64_t mib;               /* warm state size (warm target), 0: 256 */
	enum fuzz_reset reset;
	uint64_t timeout_ms;        /* per input, 0: 1000 (Linux: 10000), FUZZ_TIMEOUT_NONE: none */
	uint64_t boot_timeout_ms;   /* boot to the snapshot, 0: 120 s (Linux: 600 s) */
	uint8_t *cov;               /* coverage map, 4 KiB aligned */
	uint64_t cov_size;          /* multiple of 4 KiB, <= COWVM_COVERAGE_MAX */
	bool (*should_stop)(void *ctx); /* polled while an input runs */
	void *should_stop_ctx;
	vm_console_fn console;      /* NULL: drop the guest's console (it is
	                             * kept per input either way: fuzz_console) */
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
/* The first line of a kernel crash report ("BUG: ", "WARNING: CPU: ",
 * "Oops: ", "general protection fault", "kernel BUG at ", "UBSAN: ",
 * "Kernel panic - not syncing": the kernel's own shapes) in the last
 * input's console of a Linux guest, copied into out; NULL if there is none
 * (or the guest is a guest-stub target). A Linux input
 * that ended normally with one is reported as a crash (VM_END_ABORT,
 * SIGABRT: the console hook). */
const char *fuzz_kernel_report(const struct fuzz *f, char *out, size_t n);
/* The same over any console text (len bytes at con). */
const char *fuzz_report_line(const char *con, size_t len, char *out, size_t n);
/* A kernel crash's kind, from its console text: a hash of the report line
 * without numbers and hex letters, and of the function in the first "RIP:"
 * line; 0 if the text has no report. A Linux crash adds two edges from it
 * to the coverage map (AFL keeps a crash only if its map is new). */
uint64_t fuzz_crash_signature(const char *con, size_t len);
/* Is c a Linux guest (kernel set)? */
static inline bool fuzz_is_linux(const struct fuzz_config *c) { return c->kernel != NULL; }
/* Run one input (truncated to what the input buffer holds) and reset. */
int fuzz_exec(struct fuzz *f, const void *data, uint64_t len, struct vm_result *res, struct vmm_err *e);
void fuzz_close(struct fuzz *f);
/* Largest input the guest receives. */
uint64_t fuzz_max_input(const struct fuzz *f);
/* The console bytes of the last fuzz_exec (or of the boot, after a failed
 * fuzz_open: none then, f is NULL), at most FUZZ_CONSOLE_MAX; *truncated
 * says more were dropped. */
const char *fuzz_console(const struct fuzz *f, size_t *len, bool *truncated);

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
 * a Linux guest's reboot (its kernel panicked) -> SIGSEGV, its halt or
 * power-off (the agent did not finish the input) -> SIGABRT,
 * VMM-detected guest misbehaviour -> SIGSYS). */
int fuzz_wait_status(const struct vm_result *res);
int fuzz_parse_reset(const char *s, enum fuzz_reset *out);
const char *fuzz_reset_name(enum fuzz_reset r);

#endif
