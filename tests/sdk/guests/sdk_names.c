/*
 * sdk_names.c - a guest that defines names the SDK uses inside itself
 * (fdt_open, kernel_main, enter_user, user_entry, isr_common, hcall, print)
 * and its own memcpy: it must link (the SDK's internal names are local to
 * libcowguest.a, its string functions weak) and run with its own versions.
 */
#include <cowguest.h>

static int copies;

void *memcpy(void *d, const void *s, size_t n)
{
	char *p = d;
	const char *q = s;
	copies++;
	while (n--)
		*p++ = *q++;
	return d;
}

int fdt_open(void) { return 11; }
int kernel_main(void) { return 22; }
int enter_user(void) { return 33; }
int user_entry(void) { return 44; }
int isr_common(void) { return 55; }
int hcall(void) { return 66; }
int print(void) { return 77; }

int main(void)
{
	char a[8] = "abcdefg", b[8];
	memcpy(b, a, sizeof(a));
	cg_printf("%d %d %d %d %d %d %d %s copies=%d\n", fdt_open(), kernel_main(), enter_user(), user_entry(),
	          isr_common(), hcall(), print(), b, copies);
	return 0;
}
