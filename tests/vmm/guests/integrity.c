/*
 * integrity.c - ring-0 test guests for the reset-integrity tests
 * (tests/vmm/test_reset_integrity.c). One source, one ELF per MODE:
 *
 *  MODE_HOSTILE_HC  snapshot, then in each clone report the qwords the
 *                   next hypercall will hit, and issue a hypercall whose
 *                   block lies on a page the guest never writes (boot info,
 *                   a page-table page, its own text), chosen by clone number.
 *  MODE_MMIO_RACE   2 vCPUs: vCPU 1 reads an unbacked address (MMIO exits)
 *                   in a loop, alternating a plain 8-byte read and one that
 *                   crosses a page (two MMIO fragments); vCPU 0 snapshots, and in each clone exits after a
 *                   short delay, so vCPU 1 is often stopped mid-MMIO.
 *  MODE_CLOCK       enable kvmclock, wait until it reads >= 400 ms, report
 *                   it, snapshot, and in each clone report it again.
 *  MODE_COVERAGE    snapshot, then in each clone write a marker (0xc0e0 <<
 *                   48 | clone number) into the first qword of the coverage
 *                   window, and exit.
 *
 * Runs entirely in ring 0 (entry: rdi = boot info, rsi = vCPU index, rsp =
 * its kernel stack; no IDT, so any exception is a triple fault). Hypercalls
 * go through the port (OUT), see cowvm_abi.h.
 */
#include <stdint.h>

#include "cowvm_abi.h"

#define HC_OUT(blk) __asm__ volatile("outl %0, %1" ::"a"((uint32_t)(uintptr_t)(blk)), "Nd"((uint16_t)COWVM_HC_PORT) : "memory")

static int64_t hcall(uint64_t nr, uint64_t a0, uint64_t a1)
{
	volatile struct cowvm_hcall hc = { .nr = nr, .args = { a0, a1 } };
	HC_OUT(&hc);
	return hc.ret;
}

static __attribute__((unused)) void report(const char *key, uint64_t v) { hcall(COWVM_HC_REPORT, (uintptr_t)key, v); }

static __attribute__((noreturn)) void exit_with(uint64_t status)
{
	hcall(COWVM_HC_EXIT, status, 0);
	for (;;)
		__asm__ volatile("hlt");
}

static int64_t snapshot(void) { return hcall(COWVM_HC_SNAPSHOT, 0, 0); }

#if defined(MODE_HOSTILE_HC)
extern char hostile_text_block[];
__asm__(".section .text\n.balign 4096\nhostile_text_block: .fill 64, 1, 0x90\n.previous");

void guest_main(uint64_t bootinfo, uint64_t cpu)
{
	(void)bootinfo, (void)cpu;
	int64_t id = snapshot();
	if (id <= 0)
		exit_with(0); /* the original */
	static const uint64_t blocks[3] = { COWVM_GPA_BOOTINFO, COWVM_GPA_PGTABLES, 0 };
	uint64_t blk = blocks[(uint64_t)id % 3] ?: (uintptr_t)hostile_text_block;
	report("text_block", (uintptr_t)hostile_text_block);
	/* What this clone sees where the previous clones' hypercalls wrote. */
	for (int i = 0; i < 3; i++) {
		uint64_t b = blocks[i] ?: (uintptr_t)hostile_text_block;
		static const char *const keys[3] = { "ret_bootinfo", "ret_pgtable", "ret_text" };
		report(keys[i], *(volatile uint64_t *)(b + __builtin_offsetof(struct cowvm_hcall, ret)));
	}
	/* The block's nr is whatever lies there (FDT magic, a PML4 entry,
	 * code bytes): an unknown hypercall, so the VMM writes -ENOSYS. */
	HC_OUT(blk);
	exit_with(0);
}
#elif defined(MODE_MMIO_RACE)
static volatile uint64_t cpu1_started;

void guest_main(uint64_t bootinfo, uint64_t cpu)
{
	(void)bootinfo;
	if (cpu == 1) {
		cpu1_started = 1;
		volatile uint64_t *mmio = (volatile uint64_t *)(COWVM_GPA_DOORBELL + 0x100);
		uint64_t n = 0;
		for (;;) {
			uint64_t v = *mmio; /* one MMIO read exit */
			/* An 8-byte read across a page boundary of the unbacked
			 * coverage window: two MMIO fragments. */
			v += *(volatile uint64_t *)(COWVM_GPA_COVERAGE + 0xffc);
			n += v & 1;
			__asm__ volatile("" ::"r"(n));
		}
	}
	if (cpu > 1)
		hcall(COWVM_HC_PARK, 0, 0);
	while (!cpu1_started)
		__asm__ volatile("pause");
	int64_t id = snapshot();
	for (volatile int i = 0; i < 200; i++)
		;
	exit_with(id > 0 ? 0 : 1);
}
#elif defined(MODE_CLOCK)
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
struct pvclock {
	uint32_t version, pad0;
	uint64_t tsc_timestamp, system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags, pad[2];
};
static volatile struct pvclock pvc __attribute__((aligned(64)));

static uint64_t kvmclock_ns(void)
{
	uint32_t ver;
	uint64_t ns;
	do {
		ver = pvc.version;
		__asm__ volatile("" ::: "memory");
		uint32_t lo, hi;
		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		uint64_t delta = (((uint64_t)hi << 32) | lo) - pvc.tsc_timestamp;
		int8_t shift = pvc.tsc_shift;
		delta = shift < 0 ? delta >> -shift : delta << shift;
		ns = pvc.system_time + (uint64_t)(((unsigned __int128)delta * pvc.tsc_to_system_mul) >> 32);
		__asm__ volatile("" ::: "memory");
	} while ((ver & 1) || ver != pvc.version);
	return ns;
}

void guest_main(uint64_t bootinfo, uint64_t cpu)
{
	(void)bootinfo, (void)cpu;
	uint64_t pa = (uintptr_t)&pvc | 1;
	__asm__ volatile("wrmsr" ::"c"(MSR_KVM_SYSTEM_TIME_NEW), "a"((uint32_t)pa), "d"((uint32_t)(pa >> 32)));
	while (kvmclock_ns() < 400000000ull)
		;
	report("pvclock_version", pvc.version);
	report("t_snap", kvmclock_ns());
	int64_t id = snapshot();
	report("t_run", kvmclock_ns());
	exit_with(id > 0 ? 0 : 1);
}
#elif defined(MODE_COVERAGE)
void guest_main(uint64_t bootinfo, uint64_t cpu)
{
	(void)bootinfo, (void)cpu;
	int64_t id = snapshot();
	if (id > 0)
		*(volatile uint64_t *)COWVM_GPA_COVERAGE = 0xc0e0ull << 48 | (uint64_t)id;
	exit_with(0);
}
#else
#error "define one MODE_*"
#endif

__asm__(".section .text.entry, \"ax\"\n"
        ".globl _start\n"
        "_start:\n"
        "\tcall guest_main\n"
        "1:\thlt\n"
        "\tjmp 1b\n"
        ".previous");
