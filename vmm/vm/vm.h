/*
 * vm.h - the VM object: every per-VM datum (KVM fds, guest RAM, vCPUs, page
 * tables, devices, results) lives here, passed explicitly; there is no
 * file-level VM state, so clones are just more objects.
 */
#ifndef COWVM_VM_H
#define COWVM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cowvm_abi.h"
#include "dirty_log.h"
#include "elf_loader.h"
#include "err.h"
#include "guest_mem.h"
#include "guest_paging.h"
#include "vcpu.h"
#include "vcpu_state.h"
#include "workload_spec.h"

struct gpt;
struct snapshot;
struct pc_machine;

#define VM_MEM_MIN (4ull << 20)
#define VM_MEM_MAX (64ull << 30)
#define VM_MAX_REPORTS 32

/* Where guest console bytes go (COM1 and COWVM_HC_WRITE). */
typedef void (*vm_console_fn)(void *ctx, const char *buf, size_t len);

struct vm_config {
	uint64_t mem_size;          /* bytes, multiple of 2 MiB, VM_MEM_MIN..VM_MEM_MAX */
	unsigned nvcpus;            /* 1..COWVM_MAX_VCPUS */
	struct wl_request workload; /* validated by wl_parse() */
	const void *guest_image;    /* ELF bytes; NULL = the built-in guest-stub */
	size_t guest_image_len;
	uint64_t timeout_ms;        /* 0 = none */
	vm_console_fn console;      /* NULL = write to stdout */
	void *console_ctx;
	/* A guest snapshot request (COWVM_HC_SNAPSHOT) ends the run with
	 * VM_END_SNAPSHOT so the caller can take it (snapshot.h); when false
	 * the guest gets -ENOSYS and runs on as the original. */
	bool snapshots;
	/* Bytes of fuzzing coverage map the guest is told about (boot info);
	 * the map itself is attached with vm_map_coverage(). 0 = none. */
	uint64_t coverage_size;
	/* Polled by the run supervisor (at least every 10 ms): true ends the
	 * run as VM_END_TIMEOUT (the fuzzer killed what it thinks is the child). */
	bool (*should_stop)(void *ctx);
	void *should_stop_ctx;
	/* Clones: private pages in a 2 MiB chunk from which reset drops the
	 * chunk (MADV_DONTNEED) instead of copying pages back (clone.h). */
	unsigned reset_remap_min;
	/* A Linux guest (vm_create boots a PC, vm/linux_vm.c) when `kernel` is
	 * set: a bzImage, an optional initramfs and the command line (NULL =
	 * PC_DEFAULT_CMDLINE). guest_image and workload are then unused. */
	const void *kernel;
	size_t kernel_len;
	const void *initrd;
	size_t initrd_len;
	const char *cmdline;
};

enum vm_end {
	VM_END_EXIT,       /* guest called COWVM_HC_EXIT: status */
	VM_END_EXCEPTION,  /* guest reported an exception: exc */
	VM_END_TIMEOUT,
	VM_END_SHUTDOWN,   /* triple fault */
	VM_END_ERROR,      /* KVM/VMM failure or guest misbehaviour: msg */
	VM_END_SNAPSHOT,   /* guest asked for a snapshot (cfg.snapshots): take it */
	VM_END_ABORT,      /* the guest's fuzz target aborted (COWVM_FUZZ_ABORT) */
	VM_END_POWEROFF,   /* PC guest: ACPI power-off (S5) */
	VM_END_REBOOT,     /* PC guest: reset (i8042 0xfe, ACPI reset register) */
	VM_END_HALT,       /* PC guest: every vCPU halted with interrupts off */
};

struct vm_exception {
	uint64_t vector, error_code, rip, cr2, rflags;
};

struct vm_report {
	char key[COWVM_HC_KEY_MAX];
	uint64_t value;
};

struct vm_result {
	enum vm_end end;
	int status;                 /* VM_END_EXIT */
	struct vm_exception exc;    /* VM_END_EXCEPTION */
	char msg[256];              /* one-line description of the end */
	unsigned nreports;
	struct vm_report reports[VM_MAX_REPORTS];
};

/* Where the guest's buffers are (the boot info told it). */
struct vm_layout {
	uint64_t heap_base, heap_size;
	uint64_t in_base, in_size, out_base, out_size;
};

struct vm {
	int kvm_fd, vm_fd;
	struct guest_mem mem;
	struct vm_layout layout;
	struct dirty_log dlog;      /* DIRTY_OFF for a booted VM, on for clones */
	struct msr_list msrs;       /* MSRs a snapshot saves */
	struct guest_paging paging;
	struct elf_image image;
	unsigned nvcpus;
	struct vcpu vcpus[COWVM_MAX_VCPUS];
	struct kvm_cpuid2 *cpuid;
	struct vm_config cfg;
	uint64_t bootinfo_gpa;
	/* The PC devices of a Linux guest (vm/linux_vm.c); NULL for guest-stub
	 * VMs, which have only the devices of devices.c. */
	struct pc_machine *pc;

	/* Run state. `stopping` is set once by whoever ends the run (first
	 * writer wins under `lock`) and read by every vCPU loop. */
	pthread_mutex_t lock;       /* protects result, parked */
	atomic_int stopping;
	unsigned parked;
	struct vm_result result;
	atomic_ullong mmio_exits, unknown_io; /* ignored accesses, for diagnostics */

	/* Snapshot request of the last run (VM_END_SNAPSHOT): the guest address
	 * of the hypercall block whose `ret` tells original from clone. */
	uint64_t snap_hc_gpa;

	/* Clone state (clone.c); NULL/0 for a booted VM. `gpt` is this VM's
	 * guest-physical table, a gpt_clone of snap->gpt; guest writes reach it
	 * through the dirty log (vm_mark_dirty). */
	struct snapshot *snap;
	struct gpt *gpt;
	uint64_t clone_id;
	uint64_t generation;        /* PC guests: restores so far (agent info page) */
	struct snapshot *clean_for; /* pooled shell: window equals this snapshot */
	uint64_t coverage_size;     /* bytes of memslot 1 (vm_map_coverage), 0 = none */
	struct vm_pool *pool;       /* the pool that counts this clone (limits) */
	atomic_ullong dirty_seen;   /* pages harvested from the dirty log */
	/* First GPT failure while harvesting (-errno), 0 if none. Written by
	 * any vCPU thread (dirty-ring-full exits): first writer wins (CAS). */
	atomic_int gpt_error;
};

/* Create a VM ready to run: KVM VM, RAM memslot, guest image, page tables,
 * boot info, vCPUs in long mode at the entry point. */
int vm_create(const struct vm_config *cfg, struct vm **out, struct vmm_err *e);
/* Run all vCPUs until the VM ends; *res says how. -errno only if the run
 * could not be started (threads); a KVM failure is VM_END_ERROR. */
int vm_run(struct vm *vm, struct vm_result *res, struct vmm_err *e);
void vm_destroy(struct vm *vm);

/* A bare KVM VM ("shell"): /dev/kvm, VM, vCPUs, dirty tracking `dm` and a
 * RAM memslot over a MAP_PRIVATE mapping of file `fd` (fd < 0: anonymous
 * RAM). No guest is loaded and no vCPU state is set. */
int vm_create_shell(uint64_t mem_size, unsigned nvcpus, enum dirty_mode dm, int fd,
                    struct vm **out, struct vmm_err *e);

/* vm_create_shell, or with `pc` a PC shell: KVM's irqchip and PIT, CPUID
 * with per-vCPU APIC IDs (a Linux guest's machine, vm/linux_vm.c). */
int vm_create_machine(uint64_t mem_size, unsigned nvcpus, enum dirty_mode dm, int fd, bool pc,
                      struct vm **out, struct vmm_err *e);

/* Attach a fuzzing coverage map (host memory, e.g. the AFL++ shm; size a
 * multiple of 4 KiB, <= COWVM_COVERAGE_MAX) at COWVM_GPA_COVERAGE as memslot
 * 1: guest stores go straight into the map. It is not guest RAM: the GPT
 * has no entry for it and a reset leaves it alone (the caller clears it). */
int vm_map_coverage(struct vm *vm, void *host, uint64_t size, struct vmm_err *e);

/* Harvest the dirty log into the GPT (vCPUs stopped). */
int vm_harvest_dirty(struct vm *vm, struct vmm_err *e);
/* Apply one written guest frame to the GPT (dirty-log callback). */
int vm_mark_dirty(void *vm, uint64_t gfn);
/* Host writes into guest RAM (input buffers, hypercall results): bounds
 * checked, and recorded in the GPT as writes so reset restores them. */
int vm_guest_write(struct vm *vm, uint64_t gpa, const void *data, uint64_t len, struct vmm_err *e);
int vm_guest_read(struct vm *vm, uint64_t gpa, void *data, uint64_t len, struct vmm_err *e);

/* Value of report `key` from the last run, or -ENOENT. */
int vm_result_report(const struct vm_result *r, const char *key, uint64_t *value);
/* Human name of an exception vector ("#PF (page fault)"). */
const char *vm_vector_name(uint64_t vector);

/* Internal: device dispatch (devices.c), used by the run loop. */
enum vm_action { VM_CONTINUE, VM_STOP, VM_PARK };
enum vm_action vm_handle_io(struct vm *vm, struct vcpu *v, const struct vcpu_exit *x);
enum vm_action vm_handle_mmio(struct vm *vm, struct vcpu *v, const struct vcpu_exit *x);
/* Guest console bytes to cfg.console, or stdout. */
void vm_console_write(struct vm *vm, const char *buf, size_t len);
/* End the run with `end` unless it already ended; kicks every vCPU. */
void vm_stop(struct vm *vm, enum vm_end end, int status, const struct vm_exception *exc,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
