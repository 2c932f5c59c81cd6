/*
 * hcall.c - ring-3 side of the hypercall ABI (cowvm_abi.h) and console output.
 */
#include "guest.h"

int64_t hcall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	/* The block lives on the stack, identity-mapped below 4 GiB, so its
	 * address fits the 32-bit doorbell store. */
	volatile struct cowvm_hcall blk = { nr, { a0, a1, a2, a3, 0 }, 0 };
	*(volatile uint32_t *)(uintptr_t)COWVM_GPA_DOORBELL = (uint32_t)(uintptr_t)&blk;
	__asm__ volatile("" : : : "memory"); /* the VMM wrote blk.ret */
	return blk.ret;
}

void hc_exit(int status)
{
	hcall(COWVM_HC_EXIT, (uint64_t)status, 0, 0, 0);
	for (;;)
		__asm__ volatile("pause");
}

int64_t hc_snapshot(void)
{
	return hcall(COWVM_HC_SNAPSHOT, 0, 0, 0, 0);
}

void hc_report(const char *key, uint64_t value)
{
	hcall(COWVM_HC_REPORT, (uint64_t)(uintptr_t)key, value, 0, 0);
}

void print_n(const char *s, size_t n)
{
	hcall(COWVM_HC_WRITE, (uint64_t)(uintptr_t)s, n, 0, 0);
}

void print(const char *s)
{
	print_n(s, strlen(s));
}

void print_hex(uint64_t v)
{
	char b[19];
	b[0] = '0';
	b[1] = 'x';
	for (int i = 0; i < 16; i++)
		b[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
	print_n(b, 18);
}

void print_dec(uint64_t v)
{
	char b[21];
	int i = 20;
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	print_n(b + i, (size_t)(20 - i));
}

/* One OUT per byte to the 16550 data register: the slow, classic path. */
void com1_puts(const char *s)
{
	for (; *s; s++)
		__asm__ volatile("outb %%al, %%dx" : : "a"(*s), "d"((uint16_t)COWVM_COM1_PORT));
}
