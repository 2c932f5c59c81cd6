/*
 * test_vcpu_fast.c - the fast reset's proof (vmm/kvm/vcpu_fast.c) on
 * hand-built guest memory, no KVM: a ring-3 state with a kernel that
 * keeps its tables, TSS and stack to itself is eligible and watches the
 * right pages; every way to open ring 0 or to move its stack without a
 * watched write makes it ineligible, with the reason; hostile tables
 * (cycles, tables outside RAM) end the scan; and a written page voids the
 * proof exactly when it should (Accessed/Dirty updates on a table do not).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "pt.h"
#include "vcpu_fast.h"

#define PAGE 4096ull
#define NPAGES 1024 /* 4 MiB of guest RAM */
#define PML4 0x1000ull
#define PDPT 0x2000ull
#define PD 0x3000ull
#define PT 0x4000ull
#define TSS 0x5000ull
#define KSTACK_TOP 0x8000ull /* RSP0: the first push lands on page 0x7000 */
#define USER_LO 0x100000ull  /* user read-write from here to 2 MiB */
#define MSR_STAR 0xc0000081
#define MSR_SYSENTER_CS 0x174
#define MSR_TSC 0x10
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

static uint8_t ram[NPAGES][PAGE] __attribute__((aligned(4096)));

static const void *page_of(void *ctx, uint64_t gpa)
{
	(void)ctx;
	return gpa % PAGE == 0 && gpa / PAGE < NPAGES ? ram[gpa / PAGE] : NULL;
}

static uint64_t *entries(uint64_t table) { return (uint64_t *)ram[table / PAGE]; }

/* A guest-stub-like guest: identity map of the first 2 MiB with 4 KiB
 * pages, the kernel's part supervisor-only, the rest user read-write. */
static void build(struct vcpu_state *s)
{
	memset(ram, 0, sizeof(ram));
	memset(s, 0, sizeof(*s));
	entries(PML4)[0] = PDPT | PTE_P | PTE_RW | PTE_US | PTE_A;
	entries(PDPT)[0] = PD | PTE_P | PTE_RW | PTE_US | PTE_A;
	entries(PD)[0] = PT | PTE_P | PTE_RW | PTE_US | PTE_A;
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t user = i * PAGE >= USER_LO ? PTE_US : 0;
		if (i)
			entries(PT)[i] = i * PAGE | PTE_P | PTE_RW | user;
	}
	uint64_t rsp0 = KSTACK_TOP;
	memcpy(ram[TSS / PAGE] + 4, &rsp0, 8);
	s->sregs.cs = (struct kvm_segment){ .selector = 0x23, .dpl = 3, .present = 1, .l = 1, .s = 1, .type = 11 };
	s->sregs.ss = (struct kvm_segment){ .selector = 0x1b, .dpl = 3, .present = 1, .s = 1, .type = 3 };
	s->sregs.tr = (struct kvm_segment){ .base = TSS, .limit = 0x67, .type = 11, .present = 1 };
	s->sregs.cr0 = 0x80000011;
	s->sregs.cr4 = 1u << 5;
	s->sregs.cr3 = PML4;
	s->sregs.efer = EFER_LME | EFER_LMA;
	s->nmsrs = 3;
	s->msrs[0] = (struct kvm_msr_entry){ .index = MSR_SYSENTER_CS, .data = 0 };
	s->msrs[1] = (struct kvm_msr_entry){ .index = MSR_STAR, .data = 0x0023001000000000ull };
	s->msrs[2] = (struct kvm_msr_entry){ .index = MSR_TSC, .data = 12345 };
}

static struct vcpu_fast_plan plan;

static void make(const struct vcpu_state *s, uint64_t host_gpa, uint64_t host_len)
{
	struct vcpu_fast_env env = { .mem_size = NPAGES * PAGE, .page = page_of };
	if (host_len) {
		env.host_writes[0][0] = host_gpa;
		env.host_writes[0][1] = host_len;
		env.nhost_writes = 1;
	}
	vcpu_fast_plan_make(s, &env, &plan);
}

static void expect_not(const struct vcpu_state *s, const char *why)
{
	make(s, 0, 0);
	cr_assert_not(plan.eligible, "eligible, expected: %s", why);
	cr_assert(strstr(plan.why, why), "reason '%s', expected '%s'", plan.why, why);
}


Test(vcpu_fast, ring3_guest_is_eligible_and_watches_its_kernel)
{
	struct vcpu_state s;
	build(&s);
	make(&s, USER_LO, PAGE);
	cr_assert(plan.eligible, "%s", plan.why);
	cr_assert_not(plan.kvmclock);
	/* the TSS and the page of RSP0's first push (RSP1/2, ISTs are 0:
	 * their first push would be at the top of the address space, unmapped) */
	cr_assert_eq(plan.nwatch, 2);
	cr_assert_eq(plan.watch[0], TSS);
	cr_assert_eq(plan.watch[1], KSTACK_TOP - PAGE);
	uint8_t now[PAGE], snap[PAGE];
	memcpy(snap, ram[PT / PAGE], PAGE);
	memcpy(now, snap, PAGE);
	((uint64_t *)now)[300] |= PTE_A | PTE_D; /* the CPU's own update */
	cr_assert_not(vcpu_fast_write_voids(&plan, PT, now, snap));
	((uint64_t *)now)[300] ^= 0x1000; /* another frame: a new translation */
	cr_assert(vcpu_fast_write_voids(&plan, PT, now, snap));
	cr_assert(vcpu_fast_write_voids(&plan, KSTACK_TOP - PAGE, ram[7], ram[7]), "a push on the kernel stack");
	cr_assert(vcpu_fast_write_voids(&plan, TSS, ram[5], ram[5]));
	cr_assert_not(vcpu_fast_write_voids(&plan, USER_LO, ram[256], ram[256]), "a user page");
	vcpu_fast_plan_free(&plan);
}

Test(vcpu_fast, open_doors_to_ring0_make_it_ineligible)
{
	struct vcpu_state s;
	build(&s);
	s.sregs.efer |= EFER_SCE;
	expect_not(&s, "SYSCALL");
	build(&s);
	s.msrs[0].data = 0x10;
	expect_not(&s, "SYSENTER");
	build(&s);
	s.msrs[s.nmsrs++] = (struct kvm_msr_entry){ .index = 0xc1 }; /* IA32_PMC0: counts in ring 3 */
	expect_not(&s, "MSR 0xc1");
	build(&s);
	s.sregs.cs.selector = 0x10;
	s.sregs.cs.dpl = 0;
	expect_not(&s, "ring 3");
	build(&s);
	s.has_lapic = 1;
	expect_not(&s, "LAPIC");
	vcpu_fast_plan_free(&plan);
}

Test(vcpu_fast, movable_stacks_make_it_ineligible)
{
	struct vcpu_state s;
	/* the last-level table mapped user-writable through itself */
	build(&s);
	entries(PT)[PT / PAGE] |= PTE_US;
	expect_not(&s, "page table is writable from ring 3");
	/* the TSS user-writable */
	build(&s);
	entries(PT)[TSS / PAGE] |= PTE_US;
	expect_not(&s, "TSS is writable from ring 3");
	/* a recursive PML4 slot, user-writable: every table is (and the
	 * scan of the cycle ends) */
	build(&s);
	entries(PML4)[510] = PML4 | PTE_P | PTE_RW | PTE_US;
	expect_not(&s, "page table is writable from ring 3");
	/* the same slot supervisor-only: harmless */
	build(&s);
	entries(PML4)[510] = PML4 | PTE_P | PTE_RW;
	make(&s, 0, 0);
	cr_assert(plan.eligible, "%s", plan.why);
	/* a table outside RAM */
	build(&s);
	entries(PD)[1] = (2000 * PAGE) | PTE_P | PTE_RW;
	expect_not(&s, "not in RAM");
	/* RSP0 onto a frame outside RAM (MMIO: a push leaves no dirty page) */
	build(&s);
	entries(PT)[KSTACK_TOP / PAGE - 1] = (3000 * PAGE) | PTE_P | PTE_RW;
	expect_not(&s, "not in RAM");
	/* RSP0 not mapped at all: nothing can be pushed, still eligible */
	build(&s);
	entries(PT)[KSTACK_TOP / PAGE - 1] = 0;
	make(&s, 0, 0);
	cr_assert(plan.eligible, "%s", plan.why);
	cr_assert_eq(plan.nwatch, 1, "only the TSS");
	/* KVM's kvmclock area, or a buffer the VMM writes, on a table */
	build(&s);
	s.msrs[s.nmsrs++] = (struct kvm_msr_entry){ .index = MSR_KVM_SYSTEM_TIME_NEW, .data = PD | 1 };
	expect_not(&s, "kvmclock area");
	build(&s);
	make(&s, PDPT + 48, 8);
	cr_assert_not(plan.eligible);
	cr_assert(strstr(plan.why, "VMM writes"), "%s", plan.why);
	/* kvmclock on an ordinary page: eligible, and the clock is kept */
	build(&s);
	s.msrs[s.nmsrs++] = (struct kvm_msr_entry){ .index = MSR_KVM_SYSTEM_TIME_NEW, .data = 0x9000 | 1 };
	make(&s, 0, 0);
	cr_assert(plan.eligible, "%s", plan.why);
	cr_assert(plan.kvmclock);
	vcpu_fast_plan_free(&plan);
}
