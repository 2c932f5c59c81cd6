/*
 * cowvm/cowvm.h - libcowvm, fork for whole VMs: boot a guest once, let it
 * snapshot itself warm, then run clones of the snapshot, each answering a
 * request. The one public header of the installed library (docs/library.md):
 *
 *   cc -o host host.c $(pkg-config --cflags --libs cowvm)
 *
 *   cowvm_config_new(&c); cowvm_config_set_guest_file(c, "fn.elf");
 *   cowvm_vm_create(c, &vm); cowvm_vm_run(vm);     end COWVM_END_SNAPSHOT
 *   cowvm_snapshot_take(vm, &snap);  cowvm_snapshot_save(snap, "fn.snap");
 *   ...
 *   cowvm_snapshot_load("fn.snap", &snap); cowvm_pool_create(4, &pool);
 *   cowvm_clone(pool, snap, &clone); cowvm_vm_request(clone, req, n);
 *   cowvm_vm_run(clone); cowvm_vm_response(clone, buf, size, &len);
 *   cowvm_release(clone);  ... cowvm_pool_destroy(pool); cowvm_snapshot_put(snap);
 *
 * Handles are opaque; everything is read through functions. Errors: every
 * function returning int returns 0 (or a count, where said) on success and
 * a negative errno value on failure, and then leaves a one-line message
 * for the calling thread in cowvm_last_error(). Nothing exits, aborts or
 * prints (except the guest's console, which goes to stdout unless a
 * console function is set). Threads: different VMs, snapshots and pools
 * may be used from different threads at once; one VM is used by one thread
 * at a time; a snapshot and a pool may be shared by threads cloning at
 * once. Console functions are called from the VM's vCPU threads.
 */
#ifndef COWVM_COWVM_H
#define COWVM_COWVM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ------------------------------------------------------------
 * The header's version; cowvm_version() is the version of the library
 * actually linked (compare the two to detect a mismatch). */
#define COWVM_VERSION_MAJOR 0
#define COWVM_VERSION_MINOR 1
#define COWVM_VERSION_PATCH 0
#define COWVM_VERSION_STRING "0.1.0"
#define COWVM_MAKE_VERSION(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#define COWVM_VERSION COWVM_MAKE_VERSION(COWVM_VERSION_MAJOR, COWVM_VERSION_MINOR, COWVM_VERSION_PATCH)
unsigned cowvm_version(void);
const char *cowvm_version_string(void);

/* ---- errors ---------------------------------------------------------------
 * The message of the last failed call in this thread ("" if none yet):
 * valid until the next failing call in this thread. */
const char *cowvm_last_error(void);

typedef struct cowvm_config cowvm_config;
typedef struct cowvm_vm cowvm_vm;
typedef struct cowvm_snapshot cowvm_snapshot;
typedef struct cowvm_pool cowvm_pool;

/* Guest console bytes (the guest's cg_printf / cg_write). */
typedef void (*cowvm_console_fn)(void *ctx, const char *buf, size_t len);

/* ---- configuration of a booted VM ----------------------------------------- */
int cowvm_config_new(cowvm_config **out);
void cowvm_config_free(cowvm_config *c);          /* NULL is fine */
/* Guest RAM: a multiple of 2 MiB, 4 MiB..64 GiB (default 64 MiB). */
int cowvm_config_set_memory(cowvm_config *c, uint64_t bytes);
/* vCPUs, 1..16 (default 1). */
int cowvm_config_set_vcpus(cowvm_config *c, unsigned n);
/* Stop each run after ms milliseconds (COWVM_END_TIMEOUT); 0 = never (default). */
int cowvm_config_set_timeout_ms(cowvm_config *c, uint64_t ms);
/* The guest: a static x86_64 ELF built on the guest SDK (docs/guest-sdk.md),
 * read from a regular file of at most 64 MiB; its name (what the guest
 * reads with cg_name, what a snapshot records) is the file's basename.
 * Without a guest, the built-in guest-stub runs. */
int cowvm_config_set_guest_file(cowvm_config *c, const char *path);
/* The same from memory (copied); name NULL = "guest". */
int cowvm_config_set_guest_image(cowvm_config *c, const void *elf, size_t len, const char *name);
/* "NAME[:k=v,...]": with a guest, its name and arguments (any, syntax
 * checked); without, a workload of the built-in guest-stub (checked). */
int cowvm_config_set_workload(cowvm_config *c, const char *spec);
/* One more argument (cg_arg in the guest): key of letters, digits and
 * ,._+?#- (at most 31 bytes), value at most 63 bytes, at most 8 in all. */
int cowvm_config_add_arg(cowvm_config *c, const char *key, const char *value);
/* Whether the guest's snapshot call ends the run with COWVM_END_SNAPSHOT
 * (default 1); with 0 the guest hears -ENOSYS and runs on. */
int cowvm_config_set_snapshots(cowvm_config *c, int enable);
/* Where console bytes go (default: stdout). */
int cowvm_config_set_console(cowvm_config *c, cowvm_console_fn fn, void *ctx);

/* ---- VMs: booted ones and clones ------------------------------------------ */
enum cowvm_end {
	COWVM_END_NONE = 0,      /* not run yet */
	COWVM_END_EXIT,          /* the guest exited: cowvm_vm_exit_status */
	COWVM_END_EXCEPTION,     /* a guest exception (the message says which) */
	COWVM_END_TIMEOUT,       /* the timeout stopped it */
	COWVM_END_SHUTDOWN,      /* triple fault */
	COWVM_END_SNAPSHOT,      /* the guest asked for a snapshot: take it, run on */
	COWVM_END_ABORT,         /* the guest's fuzz target aborted */
	COWVM_END_ERROR,         /* a KVM or VMM failure (the message says what) */
};

/* Boot a VM from c (c may be freed afterwards). Bad input (a bad guest
 * image, bad arguments) is -EINVAL or -ENOEXEC; no /dev/kvm is -ENOENT or
 * -EACCES. */
int cowvm_vm_create(const cowvm_config *c, cowvm_vm **out);
/* Run until the guest ends this run; 0 whatever the end (read it with the
 * functions below), -errno only if the run could not start. After
 * COWVM_END_SNAPSHOT (and cowvm_snapshot_take), run again to let the guest
 * go on as the original: its snapshot call returns 0 there. */
int cowvm_vm_run(cowvm_vm *vm);
/* How the last run ended (enum cowvm_end). */
int cowvm_vm_end(const cowvm_vm *vm);
/* The guest's exit status for COWVM_END_EXIT (0..200), else the code
 * `cowvm run` exits with for that end: 201 exception or abort, 202
 * timeout, 203 triple fault, 204 error; -1 before any run. */
int cowvm_vm_exit_status(const cowvm_vm *vm);
/* One line describing the end ("" before any run). */
const char *cowvm_vm_end_message(const cowvm_vm *vm);
/* The values the guest reported in the last run (cg_report), in order. */
unsigned cowvm_vm_report_count(const cowvm_vm *vm);
int cowvm_vm_report_at(const cowvm_vm *vm, unsigned i, const char **key, uint64_t *value);
/* The value reported under key (the last one, if reported again): 0, or
 * -ENOENT. */
int cowvm_vm_report(const cowvm_vm *vm, const char *key, uint64_t *value);
/* The clone's number (1, 2, ...: what the guest's snapshot call returned
 * in it); 0 for a booted VM. */
uint64_t cowvm_vm_clone_number(const cowvm_vm *vm);
/* The guest's input and output buffers (cg_input, cg_output): sizes, and
 * bytes written into the input or read from the output between runs;
 * offset + len must lie inside the buffer (-EINVAL). */
size_t cowvm_vm_input_size(const cowvm_vm *vm);
size_t cowvm_vm_output_size(const cowvm_vm *vm);
int cowvm_vm_write_input(cowvm_vm *vm, size_t offset, const void *data, size_t len);
int cowvm_vm_read_output(cowvm_vm *vm, size_t offset, void *buf, size_t len);
/* A request message into the input buffer (the guest's cg_request): at
 * most COWVM_VM_MSG_MAX bytes (-E2BIG). */
#define COWVM_VM_MSG_MAX 65528u
int cowvm_vm_request(cowvm_vm *vm, const void *data, size_t len);
/* The response message the guest left in the output buffer (cg_respond):
 * copies it to buf and returns its length (>= 0); -ENOMSG if there is
 * none, -ENOBUFS if it is longer than cap (nothing copied; the length is
 * in *len if len is not NULL). */
int cowvm_vm_response(cowvm_vm *vm, void *buf, size_t cap, size_t *len);
/* Where this VM's console bytes go from now on (a clone's default is
 * its pool's). */
int cowvm_vm_set_console(cowvm_vm *vm, cowvm_console_fn fn, void *ctx);
/* A clone only: back to its snapshot (memory, vCPUs, clone number) in
 * time proportional to the pages it wrote, ready to run again. -EINVAL for
 * a booted VM. */
int cowvm_vm_reset(cowvm_vm *vm);
/* Destroy a VM (booted or clone) and free the handle. NULL is fine. */
void cowvm_vm_destroy(cowvm_vm *vm);

/* ---- snapshots ---------------------------------------------------------------
 * Take one from a VM whose run ended with COWVM_END_SNAPSHOT (a root from
 * a booted VM, a layer from a clone); the VM may run on. A snapshot handle
 * holds one reference: cowvm_snapshot_put drops it; clones keep their own,
 * so a snapshot may be put while its clones live. */
int cowvm_snapshot_take(cowvm_vm *vm, cowvm_snapshot **out);
/* Write to path (atomically: a temporary file renamed over path, which
 * must be absent or a regular file). A layer's parent must be saved first. */
int cowvm_snapshot_save(const cowvm_snapshot *s, const char *path);
/* Load a snapshot file (a layer loads its parents). A bad file is -EINVAL,
 * -EBADMSG, -ENOTSUP (another format version), -ESTALE or -ELOOP. */
int cowvm_snapshot_load(const char *path, cowvm_snapshot **out);
void cowvm_snapshot_put(cowvm_snapshot *s);        /* NULL is fine */
uint64_t cowvm_snapshot_memory(const cowvm_snapshot *s);   /* guest RAM, bytes */
unsigned cowvm_snapshot_vcpus(const cowvm_snapshot *s);
/* The guest's name (its file's basename, or its workload name). */
const char *cowvm_snapshot_name(const cowvm_snapshot *s);

/* ---- pools and clones ----------------------------------------------------------
 * A pool keeps up to max_idle released KVM shells, so a clone usually costs
 * no new KVM VM. Clones made through it run with its timeout and console. */
int cowvm_pool_create(unsigned max_idle, cowvm_pool **out);
/* Destroy the pool and its idle shells; its live clones must be released
 * or destroyed first. NULL is fine. */
void cowvm_pool_destroy(cowvm_pool *p);
/* Per run of each clone, 0 = none (default 10000 ms). */
int cowvm_pool_set_timeout_ms(cowvm_pool *p, uint64_t ms);
int cowvm_pool_set_console(cowvm_pool *p, cowvm_console_fn fn, void *ctx);
/* At most max_live clones alive at once and max_memory bytes of their
 * guest RAM (0 = no limit); cowvm_clone beyond a limit fails with -EAGAIN. */
int cowvm_pool_set_limits(cowvm_pool *p, unsigned max_live, uint64_t max_memory);
/* A runnable clone of s: it resumes right after the guest's snapshot call,
 * which returns the clone's number there. */
int cowvm_clone(cowvm_pool *p, cowvm_snapshot *s, cowvm_vm **out);
/* Give a clone back to its pool (reset, kept for the next clone) and free
 * the handle; a booted VM is destroyed. NULL is fine. */
void cowvm_release(cowvm_vm *vm);

#ifdef __cplusplus
}
#endif

#endif
