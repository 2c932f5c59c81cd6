/*
 * vcpu.h - one KVM vCPU: creation, register setup, and one KVM_RUN turned
 * into a small exit enum that the layer above dispatches.
 */
#ifndef COWVM_VCPU_H
#define COWVM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "dirty_log.h"
#include "err.h"

enum vcpu_exit_kind {
	VCPU_EXIT_IO,             /* port I/O: io.* valid */
	VCPU_EXIT_MMIO,           /* access to guest-physical memory with no RAM */
	VCPU_EXIT_HLT,            /* HLT with no interrupt source (no irqchip) */
	VCPU_EXIT_SHUTDOWN,       /* triple fault */
	VCPU_EXIT_FAIL_ENTRY,     /* VM entry failed: hw_reason */
	VCPU_EXIT_INTERNAL_ERROR, /* KVM could not emulate: suberror */
	VCPU_EXIT_INTR,           /* KVM_RUN returned EINTR/EAGAIN (a kick) */
	VCPU_EXIT_DIRTY_RING_FULL, /* this vCPU's dirty ring must be harvested */
	VCPU_EXIT_UNKNOWN,        /* anything else: raw_reason */
};

struct vcpu_exit {
	enum vcpu_exit_kind kind;
	uint32_t raw_reason;
	union {
		struct {
			uint16_t port;
			uint8_t size;     /* 1, 2 or 4 */
			uint8_t out;      /* 1 = guest wrote */
			uint32_t count;   /* string I/O repeat count */
			uint8_t *data;    /* size * count bytes inside kvm_run */
		} io;
		struct {
			uint64_t gpa;
			uint32_t len;
			uint8_t write;
			uint8_t *data;
		} mmio;
		uint64_t hw_reason;   /* FAIL_ENTRY */
		uint32_t suberror;    /* INTERNAL_ERROR */
	};
};

struct vcpu_fast_plan;

/* The kvm_run register sets the fast reset needs (KVM_CAP_SYNC_REGS). */
#define VCPU_SYNC_REGS_NEEDED (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS)

struct vcpu {
	int fd;
	unsigned index;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	struct dirty_ring ring;   /* DIRTY_RING mode: this vCPU's dirty ring */
	bool parked;              /* asked to park (COWVM_HC_PARK): not run again */
	/* PC guests: monotonic ns since this vCPU was first seen halted with
	 * interrupts off, 0 if it was not at its last look (vm_run.c). */
	_Atomic long long halted_since;
	/* The last KVM_RUN ended in an IO or MMIO exit: KVM holds the
	 * instruction half-done and finishes it (writing registers, moving
	 * RIP) at the start of the next KVM_RUN. Cleared by any later
	 * KVM_RUN that returns. vcpu_drain_io completes it without running
	 * guest code. Touched only by the thread that runs the vCPU, or with
	 * the vCPU stopped. */
	bool io_pending;
	/* KVM has the vCPU TSC-offset attribute (probed once at creation):
	 * restores set the TSC through it (vcpu_state_restore_tsc). */
	bool tsc_offset_attr;
	/* KVM_CAP_SYNC_REGS covers REGS, SREGS and EVENTS (probed at creation):
	 * the fast reset hands them over in kvm_run (vcpu_fast.h). */
	bool sync_regs;
	/* Does KVM's view of this vCPU's TSC follow KVM_VCPU_TSC_OFFSET?
	 * 0: not probed yet, 1: yes, 2: no (vcpu_fast.c, first fast reset). */
	uint8_t tsc_follows_offset;

	/* Fast-reset bookkeeping (clone.c, vcpu_fast.h), touched with the
	 * vCPU stopped or by the thread that runs it:
	 * `restored` is the state this vCPU was last restored to in full
	 * (NULL: unknown); `tainted`: since then a run ended in a way the fast
	 * reset cannot vouch for (triple fault, failed entry, emulation error:
	 * vm_run.c); `old_path`: always restore in full, a timer per run, no
	 * deferred completion (the pre-issue-13 path, for measurements). */
	const void *restored;
	atomic_bool tainted;
	bool old_path;
	struct vcpu_fast_plan *plan;  /* cached proof for `restored` (malloc'd) */

	/* Inline runs (vm_run.c): a periodic timer aimed at the thread that
	 * runs this vCPU, created on first use and armed per run. tick_owner
	 * names that thread (a per-thread number that is never reused, unlike
	 * thread ids). */
	timer_t tick_timer;
	bool has_tick_timer;
	uint64_t tick_owner;
};

/* Create vCPU `index` of vm_fd and map its kvm_run area (run_size from
 * KVM_GET_VCPU_MMAP_SIZE, checked >= sizeof(struct kvm_run)). */
int vcpu_create(struct vcpu *v, int vm_fd, unsigned index, size_t run_size,
                const struct kvm_cpuid2 *cpuid, struct vmm_err *e);
void vcpu_destroy(struct vcpu *v);
/* One KVM_RUN. Returns 0 with *x filled, or -errno (other than EINTR/EAGAIN). */
int vcpu_run(struct vcpu *v, struct vcpu_exit *x, struct vmm_err *e);
/* Finish a pending IO/MMIO exit (io_pending), and apply registers handed
 * over in kvm_run (kvm_dirty_regs, vcpu_fast.h), without running guest code:
 * KVM_RUN with immediate_exit, repeated while KVM asks for more (a
 * multi-fragment MMIO access or string I/O exits once per fragment). Those
 * later fragments are answered as unbacked memory: reads see all-ones,
 * writes are dropped; no device sees them. Must run before any vCPU state
 * is saved or restored: KVM_SET_REGS does not cancel the completion, which
 * would otherwise overwrite restored registers at the next KVM_RUN. */
int vcpu_drain_io(struct vcpu *v, struct vmm_err *e);
/* Name of an exit kind, for messages. */
const char *vcpu_exit_name(enum vcpu_exit_kind k);

#endif
