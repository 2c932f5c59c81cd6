/*
 * test_guest_args.c - unit tests of what a foreign guest may be told
 * (workload_spec.h): wl_parse_any (any name, syntax only), wl_add_arg for
 * foreign and built-in guests, wl_set_image_name (a file's basename).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "workload_spec.h"

static void bad_any(const char *spec, const char *want)
{
	struct wl_request w;
	struct vmm_err e = { 0 };
	cr_expect_eq(wl_parse_any(spec, &w, &e), -EINVAL, "wl_parse_any('%s') accepted", spec);
	cr_expect_not_null(strstr(e.msg, want), "'%s': message '%s' lacks '%s'", spec, e.msg, want);
}

Test(guest_args, any_name_any_key)
{
	struct wl_request w;
	struct vmm_err e = { 0 };
	cr_assert_eq(wl_parse_any("myapp:n=3,Key.x-1=a=b", &w, &e), 0, "%s", e.msg);
	cr_expect_str_eq(w.name, "myapp");
	cr_expect_eq(w.nargs, 2u);
	cr_expect_str_eq(w.args[0].key, "n");
	cr_expect_str_eq(w.args[0].value, "3");
	cr_expect_str_eq(w.args[1].key, "Key.x-1");
	cr_expect_str_eq(w.args[1].value, "a=b");
	cr_assert_eq(wl_parse_any("hello", &w, &e), 0);
	cr_expect_str_eq(w.name, "hello");
	cr_expect_eq(w.nargs, 0u);
}

Test(guest_args, any_rejects_bad_syntax)
{
	bad_any("", "must be 1..31 bytes");
	bad_any(":a=1", "must be 1..31 bytes");
	bad_any("abcdefghijabcdefghijabcdefghijab", "must be 1..31 bytes"); /* 32 */
	bad_any("my app", "printable characters other than space");
	bad_any("a\tb", "printable characters other than space");
	bad_any("app:k", "'k' is not key=value");
	bad_any("app:k=1,", "trailing comma");
	bad_any("app:k=1,k=2", "argument 'k' given twice");
	bad_any("app:k k=1", "may hold only letters");
	bad_any("app:k/x=1", "may hold only letters");
	bad_any("app:a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1", "too many arguments (at most 8)");
}

Test(guest_args, add_arg_limits)
{
	struct wl_request w;
	struct vmm_err e = { 0 };
	char kv[200];
	cr_assert_eq(wl_parse_any("app", &w, &e), 0);
	/* 31-byte key and 63-byte value: the largest that fit. */
	memset(kv, 'k', 31);
	kv[31] = '=';
	memset(kv + 32, 'v', 63);
	kv[95] = 0;
	cr_expect_eq(wl_add_arg(&w, kv, false, &e), 0, "%s", e.msg);
	cr_expect_eq(strlen(w.args[0].key), 31u);
	cr_expect_eq(strlen(w.args[0].value), 63u);
	kv[0] = 'x'; /* a new key */
	memset(kv + 32, 'v', 64);
	kv[96] = 0;
	cr_expect_eq(wl_add_arg(&w, kv, false, &e), -EINVAL);
	cr_expect_not_null(strstr(e.msg, "argument too long"), "%s", e.msg);
	cr_expect_eq(wl_add_arg(&w, "comma=a,b", false, &e), 0, "%s", e.msg);
	cr_expect_str_eq(w.args[1].value, "a,b");
	cr_expect_eq(wl_add_arg(&w, "comma=c", false, &e), -EINVAL);
	cr_expect_not_null(strstr(e.msg, "given twice"), "%s", e.msg);
	cr_expect_eq(w.nargs, 2u);
}

Test(guest_args, add_arg_builtin_is_checked)
{
	struct wl_request w;
	struct vmm_err e = { 0 };
	cr_assert_eq(wl_parse("memtouch:mode=seq", &w, &e), 0);
	cr_expect_eq(wl_add_arg(&w, "mib=4", true, &e), 0, "%s", e.msg);
	cr_expect_eq(wl_add_arg(&w, "mib=5", true, &e), -EINVAL);
	cr_expect_not_null(strstr(e.msg, "argument 'mib' given twice"), "%s", e.msg);
	cr_expect_eq(wl_add_arg(&w, "bogus=1", true, &e), -EINVAL);
	cr_expect_not_null(strstr(e.msg, "unknown argument 'bogus'"), "%s", e.msg);
	cr_expect_eq(wl_add_arg(&w, "op=exec", true, &e), -EINVAL);
	cr_expect_not_null(strstr(e.msg, "op must be one of read|write"), "%s", e.msg);
	cr_expect_eq(wl_add_arg(&w, "iters=x", true, &e), -EINVAL);
	cr_expect_not_null(strstr(e.msg, "iters=x is not a number"), "%s", e.msg);
	cr_expect_eq(w.nargs, 2u);
	cr_expect_str_eq(w.args[1].key, "mib");
	cr_expect_str_eq(w.args[1].value, "4");
}

Test(guest_args, image_name_is_the_basename)
{
	struct wl_request w;
	memset(&w, 0x55, sizeof(w));
	wl_set_image_name(&w, "/some/dir/my-guest.elf");
	cr_expect_str_eq(w.name, "my-guest.elf");
	wl_set_image_name(&w, "plain");
	cr_expect_str_eq(w.name, "plain");
	wl_set_image_name(&w, "/x/a-very-long-guest-file-name-that-is-cut.elf");
	cr_expect_str_eq(w.name, "a-very-long-guest-file-name-tha"); /* 31 bytes */
	wl_set_image_name(&w, "/x/t\xc3\xa9st\n.elf");
	cr_expect_str_eq(w.name, "t??st?.elf");
	wl_set_image_name(&w, "/x/");
	cr_expect_str_eq(w.name, "guest");
	/* The rest of the name field is zero (it is saved in snapshot files). */
	wl_set_image_name(&w, "ab");
	for (size_t i = 2; i < sizeof(w.name); i++)
		cr_expect_eq(w.name[i], 0, "byte %zu", i);
}
