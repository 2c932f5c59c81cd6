/*
 * test_gpa_ptr.c - gpa_ptr() (vmm/memory/guest_mem.h), the one place a guest
 * address and length become a host pointer: every byte of [gpa, gpa + len)
 * inside RAM, no wrap-around, len 0 allowed up to the end. Also
 * vm_guest_read/vm_guest_write, the host's bounds-checked accessors.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>

#include "guest_mem.h"
#include "vm.h"

#define SIZE (1ull << 20)

static uint8_t ram[SIZE];
static const struct guest_mem m = { .host = ram, .size = SIZE };

Test(gpa_ptr, inside_ram)
{
	cr_assert_eq(gpa_ptr(&m, 0, SIZE), ram);
	cr_assert_eq(gpa_ptr(&m, SIZE - 1, 1), ram + SIZE - 1);
	cr_assert_eq(gpa_ptr(&m, SIZE, 0), ram + SIZE, "empty range at the end");
	cr_assert_eq(gpa_ptr(&m, 4096, 4096), ram + 4096);
}

Test(gpa_ptr, outside_ram)
{
	cr_assert_null(gpa_ptr(&m, SIZE, 1));
	cr_assert_null(gpa_ptr(&m, SIZE + 1, 0));
	cr_assert_null(gpa_ptr(&m, SIZE - 1, 2));
	cr_assert_null(gpa_ptr(&m, 0, SIZE + 1));
}

Test(gpa_ptr, no_wrap_around)
{
	/* gpa + len overflows 64 bits: a naive end check would pass these. */
	cr_assert_null(gpa_ptr(&m, 1, UINT64_MAX));
	cr_assert_null(gpa_ptr(&m, UINT64_MAX, 2));
	cr_assert_null(gpa_ptr(&m, UINT64_MAX - 4095, 4096));
	cr_assert_null(gpa_ptr(&m, 4096, UINT64_MAX - 4095));
	cr_assert_null(gpa_ptr(&m, UINT64_MAX, 0));
}

Test(vm_guest_access, bounds)
{
	struct vm vm = { .mem = m };
	struct vmm_err e = { 0 };
	uint64_t v = 0x1122334455667788ull, w = 0;
	cr_assert_eq(vm_guest_write(&vm, SIZE - 8, &v, 8, &e), 0, "%s", e.msg);
	cr_assert_eq(vm_guest_read(&vm, SIZE - 8, &w, 8, &e), 0, "%s", e.msg);
	cr_assert_eq(w, v);
	cr_assert_eq(vm_guest_write(&vm, SIZE - 4, &v, 8, &e), -EFAULT);
	cr_assert_eq(vm_guest_read(&vm, UINT64_MAX - 3, &w, 8, &e), -EFAULT);
}
