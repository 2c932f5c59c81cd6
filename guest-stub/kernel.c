/*
 * kernel.c - the guest SDK's ring-0 part (libcowguest, used by every guest
 * built on it, the guest-stub included): install the IDT and drop to ring 3;
 * the #UD gate (entry.S) calls the guest's cg_ring0_handler.
 *
 * Everything else (boot-info parsing, the guest's main) runs in ring 3,
 * where the development machines run natively. The VMM already built the
 * GDT, the TSS (RSP0) and the page tables, and loaded TR
 * (docs/architecture.md).
 */
#include <stdint.h>

#include "cowvm_abi.h"
#include "sdk_int.h"

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

int64_t kernel_gate(uint64_t gate, uint64_t nr, uint64_t arg)
{
	return cg_ring0_handler((unsigned)gate, nr, arg);
}
