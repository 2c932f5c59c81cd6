/* pc_cpu.c - CPU state of a PC (Linux) guest at its 64-bit entry (see pc_cpu.h). */
#include "pc_cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pc_layout.h"
#include "x86_setup.h"

/* Segment descriptors (SDM Vol. 3A 3.4.5): G=1, P=1, base 0, limit 0xfffff. */
#define GDT_BOOT_CS  0x00af9b000000ffffull /* L=1, DPL 0, execute/read, accessed */
#define GDT_BOOT_DS  0x00cf93000000ffffull /* D/B=1, DPL 0, read/write, accessed */
#define GDT_BOOT_TSS 0x00008b0000000067ull /* 64-bit TSS (busy), base 0, limit 0x67 (SDM 8.2.3) */
#define TSS_TYPE_BUSY 0xb
#define TSS_LIMIT 0x67

int pc_write_boot_gdt(struct guest_mem *mem, struct vmm_err *e)
{
	uint64_t *gdt = gpa_ptr(mem, PC_GPA_GDT, 0x1000);
	if (!gdt)
		return vmm_fail(e, -EINVAL, "guest RAM too small for the boot GDT");
	memset(gdt, 0, 0x1000);
	gdt[PC_SEL_BOOT_CS >> 3] = GDT_BOOT_CS;
	gdt[PC_SEL_BOOT_DS >> 3] = GDT_BOOT_DS;
	gdt[PC_SEL_BOOT_TSS >> 3] = GDT_BOOT_TSS; /* upper half (base 63:32) stays 0 */
	return 0;
}

static struct kvm_segment flat(uint16_t sel, uint8_t type, int code)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type, .present = 1,
		.dpl = 0, .db = code ? 0 : 1, .s = 1, .l = code ? 1 : 0, .g = 1,
	};
}

void pc_init_sregs(struct kvm_sregs *s, uint64_t cr3)
{
	s->cs = flat(PC_SEL_BOOT_CS, 0xb, 1);
	s->ds = s->es = s->fs = s->gs = s->ss = flat(PC_SEL_BOOT_DS, 0x3, 0);
	s->tr = (struct kvm_segment){ .base = 0, .limit = TSS_LIMIT, .selector = PC_SEL_BOOT_TSS,
	                              .type = TSS_TYPE_BUSY, .present = 1 };
	s->ldt = (struct kvm_segment){ .unusable = 1 };
	s->gdt.base = PC_GPA_GDT;
	s->gdt.limit = PC_SEL_BOOT_TSS + 16 - 1;
	s->idt.base = 0;
	s->idt.limit = 0; /* interrupts are off until the kernel loads its IDT */
	s->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
	s->cr3 = cr3;
	s->cr4 = X86_CR4_PAE;
	s->efer = X86_EFER_LME | X86_EFER_LMA;
}

void pc_init_regs(struct kvm_regs *r, uint64_t entry, uint64_t zero_page)
{
	memset(r, 0, sizeof(*r));
	r->rip = entry;
	r->rsi = zero_page;
	r->rsp = r->rbp = PC_BOOT_STACK_TOP;
	r->rflags = X86_RFLAGS_RESERVED1; /* IF = 0 */
}

int pc_cpuid_for_vcpu(const struct kvm_cpuid2 *supported, unsigned cpu, unsigned ncpus,
                      bool tsc_deadline, struct kvm_cpuid2 **out, struct vmm_err *e)
{
	*out = NULL;
	if (!ncpus || cpu >= ncpus || ncpus > 255)
		return vmm_fail(e, -EINVAL, "vCPU %u of %u: no such APIC ID", cpu, ncpus);
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return vmm_fail(e, -ENOMEM, "out of memory for CPUID");
	memcpy(c, supported, sz);
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *x = &c->entries[i];
		switch (x->function) {
		case CPUID_LEAF_FEATURES:
			x->ebx = (x->ebx & 0x0000ffffu) | (cpu << CPUID1_EBX_APIC_ID_SHIFT) |
			         ((ncpus & 0xff) << CPUID1_EBX_LCOUNT_SHIFT);
			x->ecx |= CPUID1_ECX_HYPERVISOR | (tsc_deadline ? CPUID1_ECX_TSC_DEADLINE : 0);
			if (ncpus > 1)
				x->edx |= CPUID1_EDX_HTT; /* the logical count field is valid */
			break;
		case CPUID_LEAF_TOPOLOGY:
		case CPUID_LEAF_TOPOLOGY_V2:
			x->edx = cpu;
			break;
		case CPUID_LEAF_AMD_EXT_APIC:
			x->eax = cpu;
			break;
		}
	}
	*out = c;
	return 0;
}

void pc_boot_msrs(struct kvm_msrs *m)
{
	static const struct { uint32_t index; uint64_t data; } boot[PC_BOOT_MSRS] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 }, { MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 }, { MSR_LSTAR, 0 }, { MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_TYPE_WRBACK },
	};
	m->nmsrs = PC_BOOT_MSRS;
	m->pad = 0;
	for (unsigned i = 0; i < PC_BOOT_MSRS; i++)
		m->entries[i] = (struct kvm_msr_entry){ .index = boot[i].index, .data = boot[i].data };
}

static uint32_t apic_reg(const struct kvm_lapic_state *l, unsigned off)
{
	uint32_t v;
	memcpy(&v, l->regs + off, 4);
	return v;
}

static void apic_set(struct kvm_lapic_state *l, unsigned off, uint32_t v)
{
	memcpy(l->regs + off, &v, 4);
}

void pc_lapic_virtual_wire(struct kvm_lapic_state *l)
{
	apic_set(l, APIC_REG_LVT_LINT0, (apic_reg(l, APIC_REG_LVT_LINT0) & ~APIC_LVT_DM_MASK) | APIC_LVT_DM_EXTINT);
	apic_set(l, APIC_REG_LVT_LINT1, (apic_reg(l, APIC_REG_LVT_LINT1) & ~APIC_LVT_DM_MASK) | APIC_LVT_DM_NMI);
}
