/*
 * fuzz_rt.c - the guest's fuzzing runtime: AFL-style edge coverage for code
 * compiled with gcc's -fsanitize-coverage=trace-pc (fuzz_targets.c,
 * kernel_syscall.c), written straight into the AFL++ shared-memory map that
 * the VMM mapped at COWVM_GPA_COVERAGE, and the abort hypercall. This file
 * itself is NOT instrumented (it would recurse).
 */
#include "guest.h"

static volatile uint8_t *cov_map;
static uint64_t cov_size, cov_mask; /* mask if the size is a power of two */
static uint64_t cov_prev;          /* previous location, AFL's prev_loc */

void fuzz_cov_init(uint64_t base, uint64_t size)
{
	if (!size || size > COWVM_COVERAGE_MAX)
		return;
	cov_map = (volatile uint8_t *)(uintptr_t)base;
	cov_size = size;
	cov_mask = (size & (size - 1)) ? 0 : size - 1;
	cov_prev = 0;
}

/* Called by gcc at every basic block of instrumented code (ring 3 and the
 * ring-0 syscall handlers alike). An edge is (previous block, this block),
 * hashed AFL-style: map[cur ^ prev]++, prev = cur >> 1. cov_prev lives in
 * guest RAM, so each reset to the snapshot starts from the same value. */
void __sanitizer_cov_trace_pc(void)
{
	if (!cov_size)
		return;
	uint64_t pc = (uint64_t)__builtin_return_address(0);
	uint64_t cur = ((pc ^ (pc >> 17)) * 0x9e3779b97f4a7c15ull) >> 32;
	uint64_t i = cur ^ cov_prev;
	cov_map[cov_mask ? (i & cov_mask) : (i % cov_size)]++;
	cov_prev = cur >> 1;
}

void fuzz_abort(void)
{
	cg_hypercall(COWVM_HC_FUZZ, COWVM_FUZZ_ABORT, 0, 0, 0, 0);
	for (;;)
		__asm__ volatile("pause");
}
