/*
 * hcall.c - the guest SDK's hypercalls (cowvm_abi.h) and console output
 * (libcowguest): raw calls, exit, report, snapshot, park, write.
 */
#include "sdk_int.h"

int64_t cg_hypercall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	/* The block lives on the stack, identity-mapped below 4 GiB (the
	 * image's .bss), so its address fits the 32-bit doorbell store. */
	volatile struct cowvm_hcall blk = { nr, { a0, a1, a2, a3, a4 }, 0 };
	*(volatile uint32_t *)(uintptr_t)COWVM_GPA_DOORBELL = (uint32_t)(uintptr_t)&blk;
	__asm__ volatile("" : : : "memory"); /* the VMM wrote blk.ret */
	return blk.ret;
}

void cg_exit(int status)
{
	cg_hypercall(COWVM_HC_EXIT, (uint64_t)status, 0, 0, 0, 0);
	for (;;)
		__asm__ volatile("pause");
}

void cg_park(void)
{
	cg_hypercall(COWVM_HC_PARK, 0, 0, 0, 0, 0);
	for (;;)
		__asm__ volatile("pause");
}

int64_t cg_snapshot(void)
{
	return cg_hypercall(COWVM_HC_SNAPSHOT, 0, 0, 0, 0, 0);
}

int cg_report(const char *key, uint64_t value)
{
	return (int)cg_hypercall(COWVM_HC_REPORT, (uint64_t)(uintptr_t)key, value, 0, 0, 0);
}

void cg_write(const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		size_t n = len < COWVM_HC_WRITE_MAX ? len : COWVM_HC_WRITE_MAX;
		cg_hypercall(COWVM_HC_WRITE, (uint64_t)(uintptr_t)p, n, 0, 0, 0);
		p += n;
		len -= n;
	}
}

void cg_print(const char *s)
{
	cg_write(s, strlen(s));
}

int64_t cg_ring0_call(uint64_t nr, uint64_t arg)
{
	int64_t r;
	__asm__ volatile("ud2; .byte 0x43, 0x53" : "=a"(r) : "a"(nr), "D"(arg) : "memory");
	return r;
}
