/*
 * vcpu_state.h - the complete architectural state of one vCPU as a snapshot
 * needs it: general and system registers, FPU/XSAVE, XCRs, the MSRs KVM
 * reports as saveable, pending events, debug registers, MP state.
 * Fixed size (no pointers), so it can be written to a snapshot file as is.
 */
#ifndef COWVM_VCPU_STATE_H
#define COWVM_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define VCPU_STATE_MAX_MSRS 128
#define VCPU_XSAVE_SIZE 4096 /* struct kvm_xsave; KVM_CAP_XSAVE2 larger -> -ENOTSUP */

struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_mp_state mp_state;
	uint32_t nmsrs;
	uint32_t pad;
	struct kvm_msr_entry msrs[VCPU_STATE_MAX_MSRS];
	/* PC guests (KVM's in-kernel irqchip): the local APIC's register page,
	 * restored after SREGS and before the MSRs (an IA32_TSC_DEADLINE write
	 * only sticks once the LAPIC is in TSC-deadline mode), and the TSC
	 * frequency (KVM_GET_TSC_KHZ), set again where it differs. */
	uint32_t has_lapic;
	uint32_t tsc_khz;          /* 0: not saved */
	struct kvm_lapic_state lapic;
};

/* The MSR indices to save, from KVM_GET_MSR_INDEX_LIST (on the /dev/kvm fd). */
struct msr_list {
	uint32_t n;
	uint32_t index[VCPU_STATE_MAX_MSRS];
};
int msr_list_get(int kvm_fd, struct msr_list *l, struct vmm_err *e);

/* Save/restore. The vCPU must be out of KVM_RUN with any pending I/O
 * completed (vcpu_drain_io in vcpu.h). `pc`: the VM has KVM's irqchip, so
 * the LAPIC and TSC frequency are saved too (has_lapic, tsc_khz). Restore checks every count KVM returns
 * (KVM_SET_MSRS may stop early: the rest are retried one by one). */
int vcpu_state_save(int vcpu_fd, const struct msr_list *msrs, bool pc, struct vcpu_state *s,
                    struct vmm_err *e);
int vcpu_state_restore(int vcpu_fd, const struct vcpu_state *s, struct vmm_err *e);
/* KVM takes a host write of IA32_TSC that lies within a second of the
 * vCPU's running TSC as a synchronisation and keeps the running value
 * (kvm_synchronize_tsc), so vcpu_state_restore's MSR write alone lets a
 * clone's TSC run on across resets. This sets the vCPU's TSC offset
 * (KVM_VCPU_TSC_OFFSET, Linux 5.16+: only where vcpu.tsc_offset_attr) so
 * the guest TSC reads s's value now (cowvm sets no TSC frequency, so no
 * scaling). Call it after vcpu_state_restore. */
int vcpu_state_restore_tsc(int vcpu_fd, const struct vcpu_state *s, struct vmm_err *e);

#endif
