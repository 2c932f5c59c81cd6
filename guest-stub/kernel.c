/*
 * kernel.c - the guest-stub's ring-0 part: install the IDT and drop to ring 3.
 *
 * Everything else (boot-info parsing, workloads) runs in ring 3, where the
 * development machines run natively. The VMM already built the GDT, the TSS
 * (RSP0) and the page tables, and loaded TR (docs/architecture.md).
 */
#include <stdint.h>

#include "cowvm_abi.h"
#include "guest.h"

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, type_attr; /* type 0xe = 64-bit interrupt gate, P=1, DPL=0 */
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

static struct idt_gate idt[32] __attribute__((aligned(16)));
extern const uint64_t isr_table[32];

#define USER_STACK_SIZE 0x10000
static uint8_t user_stacks[COWVM_MAX_VCPUS][USER_STACK_SIZE] __attribute__((aligned(4096)));

void kernel_main(uint64_t fdt, uint64_t cpu) __attribute__((noreturn));
int64_t kernel_gate(uint64_t gate, uint64_t nr, uint64_t arg);
void enter_user(uint64_t rip, uint64_t rsp, uint64_t fdt, uint64_t cpu) __attribute__((noreturn));

void kernel_main(uint64_t fdt, uint64_t cpu)
{
	/* Every vCPU writes the same gates (idempotent), so no vCPU can load
	 * the IDT before it is filled. */
	for (int v = 0; v < 32; v++) {
		uint64_t a = isr_table[v];
		idt[v] = (struct idt_gate){ (uint16_t)a, COWVM_SEL_KCODE, 0, 0x8e,
		                            (uint16_t)(a >> 16), (uint32_t)(a >> 32), 0 };
	}
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)idt };
	__asm__ volatile("lidt %0" : : "m"(idtr));
	if (cpu >= COWVM_MAX_VCPUS)
		cpu = 0;
	enter_user((uint64_t)user_entry, (uint64_t)&user_stacks[cpu][USER_STACK_SIZE], fdt, cpu);
}

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

int64_t kernel_gate(uint64_t gate, uint64_t nr, uint64_t arg)
{
	return gate == 'S' ? kernel_syscall(nr, arg) : chaos_ring0(nr, arg);
}
