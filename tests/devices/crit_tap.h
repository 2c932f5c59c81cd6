/*
 * crit_tap.h - the part of Criterion the UART tests use, and a minimal TAP
 * runner behind the same names for the ThreadSanitizer build: Criterion's
 * runner cannot start under TSan ("Could not initialize inheritable arena",
 * Snaipe/Criterion #274), so with -DDEVICES_TAP (set by meson when
 * b_sanitize has 'thread') every Test() registers itself and main() runs
 * them one after the other in one process, printing TAP. Without
 * DEVICES_TAP this is <criterion/criterion.h>.
 *
 * In TAP mode tests are not isolated in their own process (no fork): a test
 * must leave no state behind, and only the test's own thread may assert.
 */
#ifndef DEVICES_CRIT_TAP_H
#define DEVICES_CRIT_TAP_H

#ifndef DEVICES_TAP
#include <criterion/criterion.h>
#else
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

struct tap_test {
	const char *name;
	void (*fn)(void);
};
#define TAP_MAX_TESTS 128
static struct tap_test tap_tests[TAP_MAX_TESTS];
static int tap_ntests;
static jmp_buf tap_jmp;

static void tap_register(const char *name, void (*fn)(void))
{
	if (tap_ntests < TAP_MAX_TESTS)
		tap_tests[tap_ntests++] = (struct tap_test){ name, fn };
}

static _Noreturn void tap_fail(const char *file, int line, const char *what)
{
	printf("# %s:%d: assertion failed: %s\n", file, line, what);
	fflush(stdout);
	longjmp(tap_jmp, 1);
}

/* Test(suite, name, options...): the options (.timeout = ...) are ignored. */
#define Test(suite, name, ...)                                                         \
	static void tap_fn_##suite##_##name(void);                                     \
	__attribute__((constructor)) static void tap_reg_##suite##_##name(void)        \
	{                                                                              \
		tap_register(#suite "::" #name, tap_fn_##suite##_##name);              \
	}                                                                              \
	static void tap_fn_##suite##_##name(void)

#define cr_assert(cond, ...)                                    \
	do {                                                    \
		if (!(cond))                                    \
			tap_fail(__FILE__, __LINE__, #cond);    \
	} while (0)
#define cr_assert_not(cond, ...) cr_assert(!(cond))
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b))
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b))
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b))
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b))
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b))
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b))
#define cr_assert_null(p, ...) cr_assert((p) == NULL)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL)
#define cr_assert_arr_eq(a, b, n, ...) cr_assert(memcmp((a), (b), (n)) == 0)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0)

/* One test; 0 if it failed (tap_fail longjmps here). setjmp in a function
 * of its own: no local of main's can be clobbered by the longjmp. */
static int tap_run_one(int i)
{
	if (setjmp(tap_jmp))
		return 0;
	tap_tests[i].fn();
	return 1;
}

int main(void)
{
	int failed = 0;
	printf("1..%d\n", tap_ntests);
	fflush(stdout);
	for (int i = 0; i < tap_ntests; i++) {
		int ok = tap_run_one(i);
		failed += !ok;
		printf("%s %d - %s\n", ok ? "ok" : "not ok", i + 1, tap_tests[i].name);
		fflush(stdout);
	}
	return failed != 0;
}
#endif

#endif
