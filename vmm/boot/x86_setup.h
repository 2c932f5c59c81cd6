/*
 * x86_setup.h - x86_64 CPU state the VMM sets up before the first KVM_RUN:
 * GDT and per-vCPU TSS in guest RAM, long-mode control registers, segment
 * state and the entry registers (docs/architecture.md, "Boot path").
 */
#ifndef COWVM_X86_SETUP_H
#define COWVM_X86_SETUP_H

#include <linux/kvm.h>
#include <stdint.h>

#include "guest_mem.h"

/* Control-register bits (SDM Vol. 3A 2.5, 2.2.1). */
#define X86_CR0_PE (1ull << 0)
#define X86_CR0_MP (1ull << 1)
#define X86_CR0_ET (1ull << 4)
#define X86_CR0_NE (1ull << 5)
#define X86_CR0_WP (1ull << 16)
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define X86_CR4_OSFXSR (1ull << 9)
#define X86_CR4_OSXMMEXCPT (1ull << 10)
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_LMA (1ull << 10)
#define X86_EFER_NXE (1ull << 11)
#define X86_RFLAGS_RESERVED1 (1ull << 1)
#define X86_RFLAGS_IOPL3 (3ull << 12)

/* Write the GDT (with one TSS descriptor per vCPU) and the TSSs (RSP0 = the
 * vCPU's ring-0 stack). -EINVAL if ncpus is out of range. */
int x86_write_gdt_tss(struct guest_mem *mem, unsigned ncpus);
/* Long mode, paging with cr3, flat segments, TR = this vCPU's TSS. */
void x86_init_sregs(struct kvm_sregs *s, uint64_t cr3, unsigned cpu, unsigned ncpus);
/* RIP = entry, RSP = ring-0 stack top, RDI = boot info, RSI = vCPU index. */
void x86_init_regs(struct kvm_regs *r, uint64_t entry, uint64_t bootinfo, unsigned cpu);

#endif
