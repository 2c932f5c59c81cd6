/*
 * chaos.c - the hostile guest (workload `chaos`): random hypercalls with
 * random and out-of-range arguments, bad hypercall blocks, exit floods,
 * writes to its own page tables, triple faults, HLT and wild MSR/CR0
 * writes in ring 0, spinning. The VMM must answer each with an error
 * return or a clean stop of this guest only (tests/vmm/test_chaos.c).
 *
 *   chaos:mode=M,seed=S,n=N,snap=1
 *   hcall    N hypercalls of random numbers (0..63) with random arguments
 *            from a valid block; reports how many failed; exits 0
 *   block    the doorbell with a random, mostly invalid block address
 *   alias    N hypercalls whose block is memory this guest never writes:
 *            the boot info, its page tables, a ring-0 stack, its own text;
 *            the VMM writes `ret` there (-ENOSYS). Exits 0. A reset must
 *            undo those writes like the guest's own.
 *   flood    N exits: reads and odd-width writes of the doorbell page (ring 3
 *            has no port I/O on PVM hosts)
 *   ptwrite  scribble over its own PML4 from ring 0
 *   triple   empty IDT + #UD in ring 0: a triple fault
 *   hlt      HLT in ring 0 with no interrupt source
 *   msr      WRMSR of a random MSR and value in ring 0
 *   cr0      flip random CR0 bits in ring 0
 *   spin     loop forever
 *   random   one of the above, chosen by the seed
 *
 * snap=1 asks for a snapshot first (after choosing the mode), so the attack
 * runs in every clone of it: the tests reset and pool those clones and
 * compare their memory with the snapshot.
 */
#include "guest.h"

static const char *const modes[] = { "hcall", "block", "flood", "ptwrite", "triple",
                                     "hlt", "msr", "cr0", "spin", "alias" };
#define NMODES (sizeof(modes) / sizeof(modes[0]))

static int64_t chaos_gate(uint64_t op, uint64_t arg)
{
	int64_t r;
	__asm__ volatile("ud2; .byte 0x43, 0x58" : "=a"(r) : "a"(op), "D"(arg) : "memory");
	return r;
}

/* Random arguments: small, huge, near the top of RAM, and around 2^64. */
static uint64_t wild(uint64_t *s, uint64_t mem_top)
{
	uint64_t x = cowvm_xorshift64(s);
	switch (x & 7) {
	case 0: return x >> 60;
	case 1: return mem_top - (x & 0xfff);
	case 2: return ~0ull - (x & 0xff);
	case 3: return COWVM_GPA_DOORBELL + (x & 0xfff);
	case 4: return 1ull << (x % 64);
	default: return x;
	}
}

int wl_chaos(const struct workload_env *env)
{
	int bad = 0;
	const char *mode = wl_arg(env, "mode");
	uint64_t seed = wl_arg_u64(env, "seed", 1, &bad), n = wl_arg_u64(env, "n", 1000, &bad);
	uint64_t snap = wl_arg_u64(env, "snap", 0, &bad);
	uint64_t s = seed ? seed : 1;
	if (bad || !mode)
		return 3;
	if (cg_streq(mode, "random"))
		mode = modes[cowvm_xorshift64(&s) % NMODES];
	if (snap && cg_snapshot() < 0)
		return 5;
	uint64_t top = env->out_base + env->out_size;
	if (cg_streq(mode, "hcall")) {
		uint64_t failed = 0;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t nr = cowvm_xorshift64(&s) % 64;
			/* Numbers that end this guest on purpose are skipped: the
			 * point is to keep hammering. */
			if (nr == COWVM_HC_EXIT || nr == COWVM_HC_PARK || nr == COWVM_HC_EXCEPTION ||
			    nr == COWVM_HC_FUZZ || nr == COWVM_HC_SNAPSHOT)
				continue;
			failed += cg_hypercall(nr, wild(&s, top), wild(&s, top), wild(&s, top), wild(&s, top), 0) < 0;
		}
		cg_report("chaos.failed", failed);
		return 0;
	}
	if (cg_streq(mode, "block")) {
		*(volatile uint32_t *)(uintptr_t)COWVM_GPA_DOORBELL = (uint32_t)wild(&s, top) | 1;
		return 0;
	}
	if (cg_streq(mode, "alias")) {
		/* First qwords there read as numbers no handler has (the FDT
		 * magic, a PML4 entry, an untouched stack bottom, code), so each
		 * call is answered -ENOSYS, written 48 bytes in. */
		const uint64_t at[] = { COWVM_GPA_BOOTINFO, COWVM_GPA_PGTABLES, COWVM_GPA_KSTACKS,
		                        (uint64_t)(uintptr_t)wl_hello & ~7ull };
		for (uint64_t i = 0; i < n; i++)
			*(volatile uint32_t *)(uintptr_t)COWVM_GPA_DOORBELL = (uint32_t)at[i % 4];
		cg_report("chaos.alias", n);
		return 0;
	}
	if (cg_streq(mode, "flood")) {
		for (uint64_t i = 0; i < n; i++) {
			switch (i % 3) {
			case 0:
				(void)*(volatile uint64_t *)(uintptr_t)(COWVM_GPA_DOORBELL + 16);
				break;
			case 1:
				(void)*(volatile uint32_t *)(uintptr_t)(COWVM_GPA_DOORBELL + 8);
				break;
			default:
				*(volatile uint8_t *)(uintptr_t)(COWVM_GPA_DOORBELL + (i & 0xff)) = (uint8_t)i;
				break;
			}
		}
		cg_report("chaos.exits", n);
		return 0;
	}
	if (cg_streq(mode, "ptwrite"))
		chaos_gate(1, cowvm_xorshift64(&s) & ~0x1ffull); /* PML4[0] */
	else if (cg_streq(mode, "triple"))
		chaos_gate(2, 0);
	else if (cg_streq(mode, "hlt"))
		chaos_gate(3, 0);
	else if (cg_streq(mode, "msr"))
		chaos_gate(4, cowvm_xorshift64(&s));
	else if (cg_streq(mode, "cr0"))
		chaos_gate(5, cowvm_xorshift64(&s));
	else if (cg_streq(mode, "spin"))
		for (;;)
			__asm__ volatile("pause");
	else
		return 3;
	/* Still alive after a ring-0 attack: touch memory and finish. */
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)env->heap_base;
	*p += 1;
	return 0;
}
