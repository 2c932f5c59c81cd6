/*
 * pc_state.h - the machine-level state of a PC (Linux) guest that a
 * snapshot needs beyond guest RAM and the vCPUs (vcpu_state.h holds each
 * vCPU's LAPIC and TSC frequency): KVM's two 8259 PICs, IOAPIC and PIT,
 * and cowvm's own devices (COM1, the ACPI/i8042 power block, the CMOS
 * index). Fixed size, no pointers. Also the per-clone parts of a PC
 * guest: the agent info page and KVM_KVMCLOCK_CTRL.
 */
#ifndef COWVM_PC_STATE_H
#define COWVM_PC_STATE_H

#include <linux/kvm.h>

#include "cmos_rtc.h"
#include "pc_power.h"
#include "uart_16550.h"
#include "vm.h"

struct pc_state {
	struct kvm_irqchip pic_master, pic_slave, ioapic; /* KVM_GET_IRQCHIP */
	struct kvm_pit_state2 pit;                        /* KVM_GET_PIT2 */
	struct uart_16550_state com1;
	struct pc_power power;
	struct cmos_rtc rtc;
};

/* Save vm's machine state (its vCPUs stopped, pending I/O completed). */
int pc_state_save(struct vm *vm, struct pc_state *s, struct vmm_err *e);
/* Restore it: before any vCPU state (the LAPICs then find the IOAPIC and
 * PICs as they were). */
int pc_state_restore(struct vm *vm, const struct pc_state *s, struct vmm_err *e);
/* After the vCPUs are restored and before they run: tell KVM every vCPU
 * was paused (KVM_KVMCLOCK_CTRL), so the guest's soft-lockup and RCU-stall
 * watchdogs do not count the time a snapshot slept. A vCPU whose guest has
 * not enabled kvmclock is skipped (KVM says EINVAL). */
int pc_kvmclock_paused(struct vm *vm, struct vmm_err *e);
/* Fill the agent info page (abi/cowvm_abi.h, struct cowvm_agent_info):
 * buffers and CPU count, and the per-clone fields (clone number, a new
 * generation, the host's wall-clock time, fresh randomness). Recorded as a
 * host write, so a reset restores the snapshot's page first. */
int pc_agent_info_write(struct vm *vm, uint64_t clone_id, uint64_t generation, struct vmm_err *e);

#endif
