/* x86_setup.c - GDT, TSS and long-mode register state (see x86_setup.h). */
#include "x86_setup.h"

#include <errno.h>
#include <string.h>

#include "cowvm_abi.h"

/* Segment descriptors (SDM Vol. 3A 3.4.5): G=1, P=1, base 0, limit 0xfffff. */
#define GDT_KCODE 0x00af9b000000ffffull /* L=1, DPL 0, execute/read, accessed */
#define GDT_KDATA 0x00cf93000000ffffull /* D/B=1, DPL 0, read/write, accessed */
#define GDT_UDATA 0x00cff3000000ffffull /* DPL 3 */
#define GDT_UCODE 0x00affb000000ffffull /* L=1, DPL 3 */
#define TSS_TYPE_BUSY 0xbull            /* 64-bit TSS, busy (SDM 8.2.2, 3.5) */
#define TSS_LIMIT 0x67ull               /* 104-byte TSS, no I/O bitmap */
#define TSS_RSP0_OFF 4
#define TSS_IOMAP_OFF 0x66

static uint64_t tss_base(unsigned cpu) { return COWVM_GPA_TSS + (uint64_t)cpu * COWVM_TSS_SLOT; }
static uint64_t kstack_top(unsigned cpu) { return COWVM_GPA_KSTACKS + (uint64_t)(cpu + 1) * COWVM_KSTACK_SIZE; }

int x86_write_gdt_tss(struct guest_mem *mem, unsigned ncpus)
{
	if (!ncpus || ncpus > COWVM_MAX_VCPUS)
		return -EINVAL;
	uint64_t *gdt = gpa_ptr(mem, COWVM_GPA_GDT, 0x1000);
	uint8_t *tss = gpa_ptr(mem, COWVM_GPA_TSS, (uint64_t)ncpus * COWVM_TSS_SLOT);
	if (!gdt || !tss)
		return -EINVAL;
	memset(gdt, 0, 0x1000);
	gdt[COWVM_SEL_KCODE >> 3] = GDT_KCODE;
	gdt[COWVM_SEL_KDATA >> 3] = GDT_KDATA;
	gdt[COWVM_SEL_UDATA >> 3] = GDT_UDATA;
	gdt[COWVM_SEL_UCODE >> 3] = GDT_UCODE;
	for (unsigned c = 0; c < ncpus; c++) {
		uint64_t b = tss_base(c);
		/* 16-byte system descriptor (SDM 8.2.3). */
		gdt[(COWVM_SEL_TSS(c) >> 3)] = (TSS_LIMIT & 0xffff) | ((b & 0xffffff) << 16) |
		                              (TSS_TYPE_BUSY << 40) | (1ull << 47) |
		                              (((TSS_LIMIT >> 16) & 0xf) << 48) | (((b >> 24) & 0xff) << 56);
		gdt[(COWVM_SEL_TSS(c) >> 3) + 1] = b >> 32;
		uint8_t *t = tss + (uint64_t)c * COWVM_TSS_SLOT;
		memset(t, 0, COWVM_TSS_SLOT);
		uint64_t rsp0 = kstack_top(c);
		memcpy(t + TSS_RSP0_OFF, &rsp0, 8);
		uint16_t iomap = (uint16_t)(TSS_LIMIT + 1); /* beyond the limit: no bitmap */
		memcpy(t + TSS_IOMAP_OFF, &iomap, 2);
	}
	return 0;
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, int code, int dpl)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = (uint8_t)dpl, .db = code ? 0 : 1, .s = 1,
		.l = code ? 1 : 0, .g = 1,
	};
}

void x86_init_sregs(struct kvm_sregs *s, uint64_t cr3, unsigned cpu, unsigned ncpus)
{
	s->cs = seg(COWVM_SEL_KCODE, 0xb, 1, 0);
	s->ds = s->es = s->fs = s->gs = s->ss = seg(COWVM_SEL_KDATA, 0x3, 0, 0);
	s->tr = (struct kvm_segment){
		.base = tss_base(cpu), .limit = (uint32_t)TSS_LIMIT, .selector = COWVM_SEL_TSS(cpu),
		.type = (uint8_t)TSS_TYPE_BUSY, .present = 1,
	};
	s->gdt.base = COWVM_GPA_GDT;
	s->gdt.limit = (uint16_t)(COWVM_SEL_TSS(ncpus) - 1);
	s->idt.base = 0;
	s->idt.limit = 0; /* the guest kernel installs its IDT first thing */
	s->cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	s->cr3 = cr3;
	s->cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	s->efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
}

void x86_init_regs(struct kvm_regs *r, uint64_t entry, uint64_t bootinfo, unsigned cpu)
{
	memset(r, 0, sizeof(*r));
	r->rip = entry;
	r->rsp = kstack_top(cpu);
	r->rdi = bootinfo;
	r->rsi = cpu;
	r->rflags = X86_RFLAGS_RESERVED1 | X86_RFLAGS_IOPL3;
}
