/*
 * test_pc_cpu.c - the CPU state and clock of a PC (Linux) guest, without
 * KVM: the boot GDT words, the 64-bit entry registers, CPUID per vCPU,
 * the boot MSRs, the local APIC's virtual-wire LINT pins, and the CMOS
 * clock's registers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmos_rtc.h"
#include "pc_cpu.h"
#include "pc_layout.h"
#include "x86_setup.h"

static struct guest_mem ram(uint64_t size)
{
	struct guest_mem m = { .host = calloc(1, size), .size = size };
	cr_assert(m.host);
	return m;
}

Test(pc_cpu, boot_gdt_words)
{
	struct guest_mem m = ram(1 << 20);
	memset(m.host + PC_GPA_GDT, 0xaa, 0x1000);
	struct vmm_err e = { 0 };
	cr_assert_eq(pc_write_boot_gdt(&m, &e), 0);
	uint64_t *gdt = (uint64_t *)(m.host + PC_GPA_GDT);
	cr_assert_eq(gdt[0], 0);
	cr_assert_eq(gdt[1], 0);
	cr_assert_eq(gdt[PC_SEL_BOOT_CS >> 3], 0x00af9b000000ffffull, "CS %#lx", gdt[2]);
	cr_assert_eq(gdt[PC_SEL_BOOT_DS >> 3], 0x00cf93000000ffffull, "DS %#lx", gdt[3]);
	cr_assert_eq(gdt[PC_SEL_BOOT_TSS >> 3], 0x00008b0000000067ull);
	cr_assert_eq(gdt[(PC_SEL_BOOT_TSS >> 3) + 1], 0);
	cr_assert_eq(gdt[6], 0, "the rest of the page is cleared");
	free(m.host);
}

Test(pc_cpu, boot_gdt_needs_ram)
{
	struct guest_mem m = ram(0x1000); /* page 0 only */
	struct vmm_err e = { 0 };
	cr_assert_eq(pc_write_boot_gdt(&m, &e), -EINVAL);
	cr_assert(strstr(e.msg, "GDT"));
	free(m.host);
}

Test(pc_cpu, entry_sregs_are_long_mode_with_boot_selectors)
{
	struct kvm_sregs s;
	memset(&s, 0x55, sizeof(s));
	pc_init_sregs(&s, 0x10000);
	cr_assert_eq(s.cs.selector, 0x10);
	cr_assert_eq(s.cs.l, 1);
	cr_assert_eq(s.cs.db, 0);
	cr_assert_eq(s.cs.type, 0xb);
	cr_assert_eq(s.ds.selector, 0x18);
	cr_assert_eq(s.ss.selector, 0x18);
	cr_assert_eq(s.es.selector, 0x18);
	cr_assert_eq(s.ds.type, 0x3);
	cr_assert_eq(s.ds.dpl, 0);
	cr_assert_eq(s.tr.selector, PC_SEL_BOOT_TSS);
	cr_assert_eq(s.tr.type, 0xb);
	cr_assert_eq(s.gdt.base, PC_GPA_GDT);
	cr_assert_eq(s.gdt.limit, 0x2f);
	cr_assert_eq(s.cr3, 0x10000);
	cr_assert_eq(s.cr0, X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG);
	cr_assert_eq(s.cr4, X86_CR4_PAE);
	cr_assert_eq(s.efer, X86_EFER_LME | X86_EFER_LMA);
}

Test(pc_cpu, entry_regs)
{
	struct kvm_regs r;
	memset(&r, 0x55, sizeof(r));
	pc_init_regs(&r, 0x1000200, PC_GPA_ZERO_PAGE);
	cr_assert_eq(r.rip, 0x1000200);
	cr_assert_eq(r.rsi, PC_GPA_ZERO_PAGE);
	cr_assert_eq(r.rflags, 2, "interrupts off, reserved bit 1");
	cr_assert_eq(r.rsp, PC_BOOT_STACK_TOP);
	cr_assert_eq(r.rax, 0);
	cr_assert_eq(r.rdi, 0);
}

static struct kvm_cpuid2 *fake_cpuid(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 5 * sizeof(c->entries[0]));
	c->nent = 5;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 0x1, .eax = 0x800f12, .ebx = 0xff00abcd,
	                                          .ecx = 0x1234, .edx = 0x5678 };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0, .edx = 0xff };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1, .edx = 0xff };
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = 0x8000001e, .eax = 0xff, .ebx = 7 };
	c->entries[4] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b };
	return c;
}

Test(pc_cpu, cpuid_carries_each_vcpus_apic_id)
{
	struct kvm_cpuid2 *sup = fake_cpuid(), *c;
	struct vmm_err e = { 0 };
	cr_assert_eq(pc_cpuid_for_vcpu(sup, 3, 4, true, &c, &e), 0);
	cr_assert_eq(c->nent, 5);
	cr_assert_eq(c->entries[0].ebx, 0x0304abcdu, "leaf 1 EBX %#x", c->entries[0].ebx);
	cr_assert_eq(c->entries[0].ecx, 0x1234u | CPUID1_ECX_HYPERVISOR | CPUID1_ECX_TSC_DEADLINE);
	cr_assert_eq(c->entries[0].edx, 0x5678u | CPUID1_EDX_HTT);
	cr_assert_eq(c->entries[0].eax, 0x800f12u, "other fields untouched");
	cr_assert_eq(c->entries[1].edx, 3);
	cr_assert_eq(c->entries[2].edx, 3);
	cr_assert_eq(c->entries[3].eax, 3);
	cr_assert_eq(c->entries[3].ebx, 7);
	cr_assert_eq(c->entries[4].ebx, 0x4b4d564b, "KVM signature leaf kept");
	cr_assert_eq(sup->entries[0].ebx, 0xff00abcd, "the supported set is not modified");
	free(c);
	cr_assert_eq(pc_cpuid_for_vcpu(sup, 0, 1, false, &c, &e), 0);
	cr_assert_eq(c->entries[0].ebx, 0x0001abcdu);
	cr_assert_eq(c->entries[0].edx, 0x5678u, "no HTT for one CPU");
	cr_assert_eq(c->entries[0].ecx, 0x1234u | CPUID1_ECX_HYPERVISOR, "no TSC deadline unless KVM has it");
	free(c);
	cr_assert_eq(pc_cpuid_for_vcpu(sup, 4, 4, false, &c, &e), -EINVAL);
	cr_assert_null(c);
	free(sup);
}

Test(pc_cpu, boot_msrs)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry ent[PC_BOOT_MSRS];
	} m;
	memset(&m, 0x55, sizeof(m));
	pc_boot_msrs(&m.h);
	cr_assert_eq(m.h.nmsrs, PC_BOOT_MSRS);
	bool seen_mtrr = false, seen_lstar = false;
	for (unsigned i = 0; i < PC_BOOT_MSRS; i++) {
		cr_assert_eq(m.ent[i].reserved, 0);
		if (m.ent[i].index == MSR_MTRR_DEF_TYPE) {
			cr_assert_eq(m.ent[i].data, 0x806);
			seen_mtrr = true;
		} else {
			cr_assert_eq(m.ent[i].data, 0, "MSR %#x", m.ent[i].index);
		}
		seen_lstar |= m.ent[i].index == MSR_LSTAR;
	}
	cr_assert(seen_mtrr && seen_lstar);
}

Test(pc_cpu, lapic_virtual_wire)
{
	struct kvm_lapic_state l;
	memset(&l, 0, sizeof(l));
	uint32_t lint0 = 0x00010000 | (2u << 8), lint1 = 0x00010000; /* masked, SMI / fixed */
	memcpy(l.regs + APIC_REG_LVT_LINT0, &lint0, 4);
	memcpy(l.regs + APIC_REG_LVT_LINT1, &lint1, 4);
	pc_lapic_virtual_wire(&l);
	memcpy(&lint0, l.regs + APIC_REG_LVT_LINT0, 4);
	memcpy(&lint1, l.regs + APIC_REG_LVT_LINT1, 4);
	cr_assert_eq(lint0, 0x00010700u, "LINT0 %#x", lint0);
	cr_assert_eq(lint1, 0x00010400u, "LINT1 %#x", lint1);
}

static uint8_t cmos(struct cmos_rtc *c, uint8_t reg, time_t t)
{
	uint8_t v = reg;
	cr_assert(cmos_rtc_io(c, CMOS_PORT_INDEX, true, &v, t));
	cr_assert(cmos_rtc_io(c, CMOS_PORT_DATA, false, &v, t));
	return v;
}

Test(pc_cpu, cmos_clock_shows_utc_in_bcd)
{
	struct cmos_rtc c = { 0 };
	time_t t = 1796145605; /* 2026-12-01 17:20:05 UTC, a Tuesday */
	cr_assert_eq(cmos(&c, CMOS_SECONDS, t), 0x05);
	cr_assert_eq(cmos(&c, CMOS_MINUTES, t), 0x20);
	cr_assert_eq(cmos(&c, CMOS_HOURS, t), 0x17);
	cr_assert_eq(cmos(&c, CMOS_WEEKDAY, t), 0x03);
	cr_assert_eq(cmos(&c, CMOS_DAY, t), 0x01);
	cr_assert_eq(cmos(&c, CMOS_MONTH, t), 0x12);
	cr_assert_eq(cmos(&c, CMOS_YEAR, t), 0x26);
	cr_assert_eq(cmos(&c, CMOS_CENTURY, t), 0x20);
	cr_assert_eq(cmos(&c, CMOS_STATUS_A, t), 0x26, "no update in progress");
	cr_assert_eq(cmos(&c, CMOS_STATUS_B, t), 0x02, "24-hour BCD");
	cr_assert_eq(cmos(&c, CMOS_STATUS_D, t), 0x80, "valid RAM and time");
	cr_assert_eq(cmos(&c, CMOS_STATUS_C, t), 0x00);
	/* the NMI-disable bit of the index port is not part of the index */
	uint8_t v = 0x80 | CMOS_HOURS;
	cmos_rtc_io(&c, CMOS_PORT_INDEX, true, &v, t);
	cmos_rtc_io(&c, CMOS_PORT_INDEX, false, &v, t);
	cr_assert_eq(v, CMOS_HOURS);
	v = 0x99; /* a data write does not change the clock */
	cr_assert(cmos_rtc_io(&c, CMOS_PORT_DATA, true, &v, t));
	cr_assert_eq(cmos(&c, CMOS_HOURS, t), 0x17);
	cr_assert_not(cmos_rtc_io(&c, 0x72, false, &v, t));
}
