/*
 * cpu_state.c - a guest-SDK test guest for test_reset_integrity.c: it sets
 * FPU/SSE state in ring 3 and debug registers and MSRs in ring 0, takes its
 * snapshot, and in every clone run first reports what it finds, then
 * changes it. The first byte of the input buffer picks what a run changes:
 *
 *   'u'  (or anything else) ring 3 only: XMM15, MXCSR, the x87 control
 *        word (no ring 0 at all, so the reset may take the fast path:
 *        vcpu_fast.h)
 *   'k'  the same, then in ring 0: DR0-DR3, DR7 (exec breakpoints on
 *        pages nothing executes), IA32_KERNEL_GS_BASE,
 *        IA32_SYSENTER_ESP (reported first, then changed)
 *
 *   'h'  the same as 'u', plus a hypercall whose block the guest puts on
 *        its top page table (COWVM_GPA_PGTABLES): the VMM writes the
 *        result (-ENOSYS) into a PML4 entry nothing uses
 *
 * Reports: xmm_lo, xmm_hi, mxcsr, fcw (every run), dr0..dr3, dr7, gsbase,
 * sysenter_esp ('k' runs). Built with -mgeneral-regs-only, so the compiler
 * itself never touches XMM15, MXCSR or the x87 unit.
 */
#include "cowguest.h"

/* Values at the snapshot, and what a run writes instead. */
#define SNAP_XMM_LO 0x0123456789abcdefull
#define SNAP_XMM_HI 0xfedcba9876543210ull
#define SNAP_MXCSR 0x3f80u  /* all exceptions masked, rounding toward zero (SDM Vol. 1 10.2.3) */
#define SNAP_FCW 0x027fu    /* x87: 53-bit precision (SDM Vol. 1 8.1.5) */
#define RUN_XMM 0x5555aaaa5555aaaaull
#define RUN_MXCSR 0x1f80u
#define RUN_FCW 0x037fu

#define MSR_KERNEL_GS_BASE 0xc0000102 /* SDM Vol. 4 table 2-2 */
#define MSR_SYSENTER_ESP 0x175
#define SNAP_GSBASE 0x5a5a5a5a0000ull /* IA32_SYSENTER_ESP gets it >> 8 */
#define DR7_L0 (1ull << 0)            /* SDM Vol. 3B 18.2.4 */
#define DR7_L1 (1ull << 2)
#define DR7_RESERVED1 (1ull << 10)

enum { OP_SET_DRS = 1, OP_SET_MSRS = 2, OP_GET = 3, OP_SET_DR7 = 4 };

static void set_user(uint64_t lo, uint64_t hi, uint32_t mxcsr, uint16_t fcw)
{
	uint64_t v[2] = { lo, hi };
	__asm__ volatile("movdqu %0, %%xmm15\n\tldmxcsr %1\n\tfldcw %2" : : "m"(v), "m"(mxcsr), "m"(fcw));
}

static void report_user(void)
{
	uint64_t v[2];
	uint32_t mxcsr;
	uint16_t fcw;
	__asm__ volatile("movdqu %%xmm15, %0\n\tstmxcsr %1\n\tfnstcw %2" : "=m"(v), "=m"(mxcsr), "=m"(fcw));
	cg_report("xmm_lo", v[0]);
	cg_report("xmm_hi", v[1]);
	cg_report("mxcsr", mxcsr);
	cg_report("fcw", fcw);
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

int64_t CG_RING0 cg_ring0_handler(unsigned gate, uint64_t nr, uint64_t arg)
{
	(void)gate;
	switch (nr) {
	case OP_SET_DRS:
		__asm__ volatile("mov %0, %%dr0" : : "r"(arg));
		__asm__ volatile("mov %0, %%dr1" : : "r"(arg + 0x1000));
		__asm__ volatile("mov %0, %%dr2" : : "r"(arg + 0x2000));
		__asm__ volatile("mov %0, %%dr3" : : "r"(arg + 0x3000));
		return 0;
	case OP_SET_DR7:
		__asm__ volatile("mov %0, %%dr7" : : "r"(arg));
		return 0;
	case OP_SET_MSRS:
		wrmsr(MSR_KERNEL_GS_BASE, arg);
		wrmsr(MSR_SYSENTER_ESP, arg >> 8);
		return 0;
	case OP_GET: /* arg: 0..3 DRn, 4 DR7, 5 KERNEL_GS_BASE, 6 SYSENTER_ESP */
		switch (arg) {
		case 0: { uint64_t v; __asm__ volatile("mov %%dr0, %0" : "=r"(v)); return (int64_t)v; }
		case 1: { uint64_t v; __asm__ volatile("mov %%dr1, %0" : "=r"(v)); return (int64_t)v; }
		case 2: { uint64_t v; __asm__ volatile("mov %%dr2, %0" : "=r"(v)); return (int64_t)v; }
		case 3: { uint64_t v; __asm__ volatile("mov %%dr3, %0" : "=r"(v)); return (int64_t)v; }
		case 4: { uint64_t v; __asm__ volatile("mov %%dr7, %0" : "=r"(v)); return (int64_t)v; }
		case 5: return (int64_t)rdmsr(MSR_KERNEL_GS_BASE);
		case 6: return (int64_t)rdmsr(MSR_SYSENTER_ESP);
		default: return -1;
		}
	default:
		return -1;
	}
}

int main(void)
{
	/* The snapshot's state: DR0-DR3 at a page nothing executes or
	 * touches (an exec breakpoint on DR0), two MSRs, FPU/SSE state. */
	cg_ring0_call(OP_SET_DRS, 0x7000);
	cg_ring0_call(OP_SET_DR7, DR7_RESERVED1 | DR7_L0);
	cg_ring0_call(OP_SET_MSRS, SNAP_GSBASE);
	set_user(SNAP_XMM_LO, SNAP_XMM_HI, SNAP_MXCSR, SNAP_FCW);
	int64_t id = cg_snapshot();
	if (id <= 0)
		return 0; /* the original */
	size_t n;
	const volatile char *in = cg_input(&n);
	char mode = in[0];
	report_user();
	set_user(RUN_XMM, ~RUN_XMM, RUN_MXCSR, RUN_FCW);
	if (mode == 'h')
		*(volatile uint32_t *)(uintptr_t)COWVM_GPA_DOORBELL = COWVM_GPA_PGTABLES;
	if (mode == 'k') {
		static const char *const keys[7] = { "dr0", "dr1", "dr2", "dr3", "dr7", "gsbase", "sysenter_esp" };
		for (int i = 0; i < 7; i++)
			cg_report(keys[i], (uint64_t)cg_ring0_call(OP_GET, (uint64_t)i));
		cg_ring0_call(OP_SET_DRS, 0x9000 + (uint64_t)id * 0x10000);
		cg_ring0_call(OP_SET_DR7, DR7_RESERVED1 | DR7_L0 | DR7_L1);
		cg_ring0_call(OP_SET_MSRS, 0x7777000000ull + (uint64_t)id);
	}
	return 0;
}
