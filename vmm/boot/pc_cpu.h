/*
 * pc_cpu.h - x86 CPU state of a PC guest (Linux) before its first KVM_RUN:
 * the boot GDT, the 64-bit entry state of the Linux boot protocol
 * (Documentation/arch/x86/boot.rst, "64-bit BOOT PROTOCOL"), CPUID per vCPU
 * (APIC IDs), the boot MSRs and the local APIC's LINT pins. Pure functions
 * over KVM's structs: vm/linux_vm.c issues the ioctls.
 */
#ifndef COWVM_PC_CPU_H
#define COWVM_PC_CPU_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "guest_mem.h"

/* Selectors the boot protocol requires (boot.rst: __BOOT_CS, __BOOT_DS). */
#define PC_SEL_BOOT_CS 0x10
#define PC_SEL_BOOT_DS 0x18
#define PC_SEL_BOOT_TSS 0x20

/* CPUID leaves and fields (SDM Vol. 2A, CPUID; AMD APM Vol. 3, E.4). */
#define CPUID_LEAF_FEATURES     0x1
#define CPUID1_EBX_APIC_ID_SHIFT 24
#define CPUID1_EBX_LCOUNT_SHIFT  16
#define CPUID1_ECX_HYPERVISOR   (1u << 31)
#define CPUID1_EDX_HTT          (1u << 28)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_LEAF_TOPOLOGY     0xb     /* EDX = x2APIC ID */
#define CPUID_LEAF_TOPOLOGY_V2  0x1f
#define CPUID_LEAF_AMD_EXT_APIC 0x8000001e /* EAX = extended APIC ID */

/* MSRs set at boot (SDM Vol. 4, table 2-2). */
#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE  0x1a0
#define MISC_ENABLE_FAST_STRING (1ull << 0)
#define MSR_MTRR_DEF_TYPE     0x2ff
#define MTRR_DEF_TYPE_E       (1ull << 11) /* MTRRs enabled */
#define MTRR_TYPE_WRBACK      6ull
#define MSR_STAR              0xc0000081
#define MSR_LSTAR             0xc0000082
#define MSR_CSTAR             0xc0000083
#define MSR_SYSCALL_MASK      0xc0000084
#define MSR_KERNEL_GS_BASE    0xc0000102
#define PC_BOOT_MSRS          9

/* Local APIC registers (SDM Vol. 3A 11.5.1): LVT LINT0/LINT1 and their
 * delivery-mode field (bits 10:8). */
#define APIC_REG_LVT_LINT0 0x350
#define APIC_REG_LVT_LINT1 0x360
#define APIC_LVT_DM_MASK   (7u << 8)
#define APIC_LVT_DM_NMI    (4u << 8)
#define APIC_LVT_DM_EXTINT (7u << 8)

/* GDT at PC_GPA_GDT: null, null, __BOOT_CS (64-bit code), __BOOT_DS, and a
 * TSS descriptor (VM entry needs a usable TR; the kernel loads its own). */
int pc_write_boot_gdt(struct guest_mem *mem, struct vmm_err *e);
/* Long mode, paging on with cr3 (the identity map), flat boot segments. */
void pc_init_sregs(struct kvm_sregs *s, uint64_t cr3);
/* RIP = entry, RSI = zero page, a boot stack, interrupts off. */
void pc_init_regs(struct kvm_regs *r, uint64_t entry, uint64_t zero_page);
/* A copy of KVM's supported CPUID for vCPU `cpu` of `ncpus`: APIC ID in
 * leaves 0x1, 0xb, 0x1f and 0x8000001e, the logical count in leaf 0x1, the
 * hypervisor bit set, and the TSC-deadline timer bit when KVM emulates it
 * (KVM_CAP_TSC_DEADLINE_TIMER: KVM_GET_SUPPORTED_CPUID leaves the bit to
 * the VMM). With hardware-reduced ACPI Linux has no PIT or HPET timer: its
 * clock events come from the local APIC timer. Caller frees *out. */
int pc_cpuid_for_vcpu(const struct kvm_cpuid2 *supported, unsigned cpu, unsigned ncpus,
                      bool tsc_deadline, struct kvm_cpuid2 **out, struct vmm_err *e);
/* The boot MSRs (what a firmware leaves: SYSCALL/SYSENTER zeroed, fast
 * strings on, MTRRs enabled with write-back default); `m` holds
 * PC_BOOT_MSRS entries. */
void pc_boot_msrs(struct kvm_msrs *m);
/* Virtual-wire mode as a BIOS leaves it: LINT0 = ExtINT (the 8259's
 * output), LINT1 = NMI. regs is struct kvm_lapic_state's register page. */
void pc_lapic_virtual_wire(struct kvm_lapic_state *l);

#endif
