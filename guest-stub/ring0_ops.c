/*
 * ring0_ops.c - the guest-stub's ring-0 half: its cg_ring0_handler (the
 * SDK's #UD gate, see cowguest.h) dispatches marker 'S' to the stub
 * kernel's system calls (kernel_syscall.c, the syscall fuzz target) and 'X'
 * to the chaos workload's ring-0 attacks below. Runs in ring 0, which is
 * emulated on the development machines: keep it short.
 */
#include "guest.h"

/* Chaos operations (the chaos workload's ring-0 half): deliberately break
 * this guest in ways only ring 0 can. The VMM must stop the guest cleanly
 * and nothing else may notice. */
enum { CHAOS_PT_WRITE = 1, CHAOS_TRIPLE = 2, CHAOS_HLT = 3, CHAOS_WRMSR = 4, CHAOS_CR0 = 5 };

static int64_t chaos_ring0(uint64_t op, uint64_t arg)
{
	switch (op) {
	case CHAOS_PT_WRITE: {
		/* Scribble over one PML4 entry of our own page tables, then flush. */
		uint64_t cr3;
		__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
		volatile uint64_t *pml4 = (volatile uint64_t *)(cr3 & ~0xfffull);
		pml4[arg % 512] = arg * 0x9e3779b97f4a7c15ull;
		__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
		return 0;
	}
	case CHAOS_TRIPLE: {
		/* An empty IDT: the next exception cannot be delivered. */
		struct {
			uint16_t limit;
			uint64_t base;
		} __attribute__((packed)) none = { 0, 0 };
		__asm__ volatile("lidt %0; ud2" : : "m"(none));
		return 0;
	}
	case CHAOS_HLT:
		__asm__ volatile("hlt"); /* no interrupt will ever come */
		return 0;
	case CHAOS_WRMSR:
		__asm__ volatile("wrmsr" : : "c"((uint32_t)arg), "a"((uint32_t)(arg >> 7)), "d"((uint32_t)(arg >> 40)));
		return 0;
	case CHAOS_CR0: {
		uint64_t cr0;
		__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
		cr0 ^= arg;
		__asm__ volatile("mov %0, %%cr0" : : "r"(cr0));
		return 0;
	}
	default:
		return -1;
	}
}

int64_t cg_ring0_handler(unsigned gate, uint64_t nr, uint64_t arg)
{
	return gate == 'S' ? kernel_syscall(nr, arg) : chaos_ring0(nr, arg);
}
