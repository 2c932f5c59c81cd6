/*
 * test_args.c - host-side argument parsing: wl_parse() (workload specs),
 * parse_size() (--mem) and parse_u64_arg() (--vcpus, --timeout).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "size_parse.h"
#include "workload_spec.h"

/* ---- wl_parse: valid specs ------------------------------------------------ */

static void parse_ok(const char *spec, struct wl_request *r)
{
	struct vmm_err e = { 0 };
	int rc = wl_parse(spec, r, &e);
	cr_assert_eq(rc, 0, "wl_parse('%s') = %d: %s", spec, rc, e.msg);
}

static void expect_arg(const struct wl_request *r, unsigned i, const char *k, const char *v)
{
	cr_assert_lt(i, r->nargs);
	cr_expect_str_eq(r->args[i].key, k);
	cr_expect_str_eq(r->args[i].value, v);
}

Test(wl_parse, plain_names)
{
	static const char *names[] = { "hello", "memtouch", "fault", "spin" };
	for (unsigned i = 0; i < 4; i++) {
		struct wl_request r;
		memset(&r, 0x5A, sizeof(r));
		parse_ok(names[i], &r);
		cr_expect_str_eq(r.name, names[i]);
		cr_expect_eq(r.nargs, 0u);
	}
}

Test(wl_parse, memtouch_all_arguments)
{
	struct wl_request r;
	parse_ok("memtouch:mode=rand,op=write,mib=32,iters=3,seed=0x10", &r);
	cr_expect_str_eq(r.name, "memtouch");
	cr_assert_eq(r.nargs, 5u);
	expect_arg(&r, 0, "mode", "rand");
	expect_arg(&r, 1, "op", "write");
	expect_arg(&r, 2, "mib", "32");
	expect_arg(&r, 3, "iters", "3");
	expect_arg(&r, 4, "seed", "0x10"); /* values are kept verbatim */
}

Test(wl_parse, memtouch_one_argument)
{
	struct wl_request r;
	parse_ok("memtouch:mode=seq", &r);
	cr_expect_str_eq(r.name, "memtouch");
	cr_assert_eq(r.nargs, 1u);
	expect_arg(&r, 0, "mode", "seq");
}

Test(wl_parse, fault_arguments)
{
	struct wl_request r;
	parse_ok("fault:kind=pf,addr=0xdead000", &r);
	cr_expect_str_eq(r.name, "fault");
	cr_assert_eq(r.nargs, 2u);
	expect_arg(&r, 0, "kind", "pf");
	expect_arg(&r, 1, "addr", "0xdead000");
	static const char *kinds[] = { "pf", "de", "wp", "ud" };
	for (unsigned i = 0; i < 4; i++) {
		char spec[32];
		snprintf(spec, sizeof(spec), "fault:kind=%s", kinds[i]);
		parse_ok(spec, &r);
		cr_assert_eq(r.nargs, 1u);
		expect_arg(&r, 0, "kind", kinds[i]);
	}
}

Test(wl_parse, longest_key_and_value_fit)
{
	/* 63-character value (the buffer holds 63 + NUL): a valid (octal) number. */
	char v[64], spec[128];
	memset(v, '0', 62);
	v[62] = '1';
	v[63] = 0;
	snprintf(spec, sizeof(spec), "memtouch:mib=%s", v);
	struct wl_request r;
	parse_ok(spec, &r);
	cr_assert_eq(r.nargs, 1u);
	expect_arg(&r, 0, "mib", v);
}

/* ---- wl_parse: rejections --------------------------------------------------- */

static void parse_bad(const char *spec, const char *substr)
{
	struct wl_request r;
	struct vmm_err e = { 0 };
	int rc = wl_parse(spec, &r, &e);
	cr_expect_eq(rc, -EINVAL, "wl_parse('%s') = %d, expected -EINVAL", spec, rc);
	cr_expect_eq(e.code, -EINVAL);
	cr_expect_not_null(strstr(e.msg, substr), "wl_parse('%s'): message '%s' lacks '%s'", spec,
	                   e.msg, substr);
	cr_expect_null(strchr(e.msg, '\n'), "message must be one line: '%s'", e.msg);
}

Test(wl_parse, unknown_workload)
{
	parse_bad("nosuch", "unknown workload 'nosuch'");
	parse_bad("nosuch", "hello, memtouch, fault, spin, snaptest, warm, fuzz, chaos, bench"); /* lists the known ones */
	parse_bad("hell", "unknown workload 'hell'");
	parse_bad("hello2", "unknown workload 'hello2'");
	parse_bad("HELLO", "unknown workload 'HELLO'");
	parse_bad("", "unknown workload ''");
	parse_bad(":mode=seq", "unknown workload ''");
	parse_bad("nosuch:mode=seq", "unknown workload 'nosuch'");
}

Test(wl_parse, unknown_workload_long_name_truncated)
{
	char spec[201];
	memset(spec, 'x', 200);
	spec[200] = 0;
	struct wl_request r;
	struct vmm_err e = { 0 };
	cr_assert_eq(wl_parse(spec, &r, &e), -EINVAL);
	char want[64];
	snprintf(want, sizeof(want), "unknown workload '%.40s'", spec);
	cr_expect_not_null(strstr(e.msg, want), "message '%s'", e.msg);
}

Test(wl_parse, unknown_key)
{
	parse_bad("memtouch:bogus=1", "unknown argument 'bogus'");
	parse_bad("memtouch:mode=seq,bogus=1", "unknown argument 'bogus'");
	parse_bad("hello:x=1", "unknown argument 'x'");
	parse_bad("fault:mode=seq", "unknown argument 'mode'"); /* memtouch's key */
	parse_bad("memtouch:MODE=seq", "unknown argument 'MODE'");
}

Test(wl_parse, duplicate_key)
{
	parse_bad("memtouch:mib=1,mib=2", "argument 'mib' given twice");
	parse_bad("memtouch:mode=seq,op=read,mode=seq", "argument 'mode' given twice");
}

Test(wl_parse, missing_equals)
{
	parse_bad("memtouch:mib", "'mib' is not key=value");
	parse_bad("memtouch:mode=seq,op", "'op' is not key=value");
}

Test(wl_parse, empty_key_or_value)
{
	parse_bad("memtouch:=5", "'=5' is not key=value");
	parse_bad("memtouch:mib=", "'mib=' is not key=value");
	parse_bad("memtouch:mib=1,,op=read", "is not key=value"); /* empty argument */
	parse_bad("memtouch:,mib=1", "is not key=value");
}

Test(wl_parse, trailing_comma)
{
	parse_bad("memtouch:mib=1,", "trailing comma");
	parse_bad("fault:kind=pf,addr=0,", "trailing comma");
}

Test(wl_parse, bad_number)
{
	parse_bad("memtouch:mib=12x", "mib=12x is not a number");
	parse_bad("memtouch:iters=x", "iters=x is not a number");
	parse_bad("memtouch:seed=0x", "seed=0x is not a number");
	parse_bad("memtouch:mib=99999999999999999999", "is not a number"); /* > UINT64_MAX */
}

/* The guest-stub (guest-stub/lib.c parse_u64) reads numbers as plain decimal
 * or 0x hex, no whitespace, no sign: the host check must accept and reject
 * exactly the same strings, so a bad number fails on the host, not in the guest. */
Test(wl_parse, number_syntax_matches_guest)
{
	parse_bad("memtouch:mib= 1", "mib= 1 is not a number");
	parse_bad("memtouch:mib=\t1", "is not a number");
	struct wl_request r;
	parse_ok("memtouch:mib=08", &r); /* guest: decimal 8 */
	expect_arg(&r, 0, "mib", "08");
	parse_ok("memtouch:mib=0X1F", &r);
	expect_arg(&r, 0, "mib", "0X1F");
}

Test(wl_parse, negative_number)
{
	parse_bad("memtouch:mib=-1", "mib=-1 is not a number");
	parse_bad("fault:addr=-4096", "addr=-4096 is not a number");
	parse_bad("memtouch:mib=+1", "mib=+1 is not a number");
}

Test(wl_parse, enum_value_not_in_list)
{
	parse_bad("memtouch:mode=zig", "mode must be one of seq|rand");
	parse_bad("memtouch:mode=se", "mode must be one of seq|rand");    /* prefix */
	parse_bad("memtouch:mode=seqq", "mode must be one of seq|rand");  /* extension */
	parse_bad("memtouch:mode=seq|rand", "mode must be one of seq|rand");
	parse_bad("memtouch:op=exec", "op must be one of read|write");
	parse_bad("fault:kind=gp", "kind must be one of pf|de|wp|ud");
	parse_bad("fault:kind=PF", "kind must be one of pf|de|wp|ud");
}

Test(wl_parse, too_many_arguments)
{
	/* memtouch accepts 5 distinct keys, so a 9-argument spec necessarily
	 * repeats one; it is rejected at the first repetition (the separate
	 * WL_MAX_ARGS "too many arguments" check cannot be reached first). */
	parse_bad("memtouch:mode=seq,op=read,mib=1,iters=1,seed=1,mode=seq,op=read,mib=1,iters=1",
	          "argument 'mode' given twice");
	parse_bad("memtouch:mode=seq,op=read,mib=1,iters=1,seed=1,seed=2", "given twice");
}

Test(wl_parse, over_long_key_or_value)
{
	char spec[256], k[33], v[65];
	memset(k, 'k', 32);
	k[32] = 0;
	snprintf(spec, sizeof(spec), "memtouch:%s=1", k); /* 32-char key: no room for NUL */
	parse_bad(spec, "memtouch: argument too long");
	k[31] = 0; /* 31 chars fits, but is unknown */
	snprintf(spec, sizeof(spec), "memtouch:%s=1", k);
	parse_bad(spec, "unknown argument");
	memset(v, '1', 64);
	v[64] = 0;
	snprintf(spec, sizeof(spec), "memtouch:mib=%s", v); /* 64-char value */
	parse_bad(spec, "memtouch: argument too long");
	memset(spec, 0, sizeof(spec));
	strcpy(spec, "memtouch:mode=");
	memset(spec + strlen(spec), 's', 200);
	parse_bad(spec, "argument too long");
}

Test(wl_parse, names_and_help)
{
	cr_expect_str_eq(wl_names(), "hello, memtouch, fault, spin, snaptest, warm, fuzz, chaos, bench");
	static const char *names[] = { "hello", "memtouch", "fault", "spin", "snaptest", "warm", "fuzz", "chaos", "bench" };
	for (unsigned i = 0; i < 9; i++)
		cr_expect_not_null(strstr(wl_help(), names[i]), "wl_help lacks %s", names[i]);
}

/* ---- parse_size ------------------------------------------------------------- */

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	int rc = parse_size(s, &v);
	cr_expect_eq(rc, 0, "parse_size('%s') = %d", s, rc);
	cr_expect_eq(v, want, "parse_size('%s') = %llu, expected %llu", s, (unsigned long long)v,
	             (unsigned long long)want);
}

static void size_bad(const char *s, int code)
{
	uint64_t v = 0xdeadbeef;
	int rc = parse_size(s, &v);
	cr_expect_eq(rc, code, "parse_size('%s') = %d, expected %d", s, rc, code);
	cr_expect_eq(v, 0xdeadbeefull, "parse_size('%s') wrote %llu on error", s,
	             (unsigned long long)v);
}

Test(parse_size, valid)
{
	size_ok("64M", 64ull << 20);
	size_ok("1G", 1ull << 30);
	size_ok("1GiB", 1ull << 30);
	size_ok("1Gi", 1ull << 30);
	size_ok("1GB", 1ull << 30);
	size_ok("4096K", 4096ull << 10);
	size_ok("2097152", 2097152ull);
	size_ok("1T", 1ull << 40);
	size_ok("2m", 2ull << 20);
	size_ok("8k", 8ull << 10);
	size_ok("0", 0);
	size_ok("0M", 0);
	size_ok("064M", 64ull << 20); /* decimal: leading zeros are not octal */
	size_ok("18446744073709551615", UINT64_MAX);
	size_ok("17179869183G", 17179869183ull << 30);
	size_ok("16777215T", 16777215ull << 40);
}

Test(parse_size, invalid)
{
	size_bad("", -EINVAL);
	size_bad(NULL, -EINVAL);
	size_bad("M", -EINVAL);
	size_bad("12Q", -EINVAL);
	size_bad("-1", -EINVAL);
	size_bad("+1", -EINVAL);
	size_bad(" 1", -EINVAL);
	size_bad("1M ", -EINVAL);
	size_bad("1MM", -EINVAL);
	size_bad("1iB", -EINVAL); /* suffix letters only after a unit */
	size_bad("1B", -EINVAL);
	size_bad("0x10", -EINVAL);
	size_bad("1.5G", -EINVAL);
	size_bad("1GiBx", -EINVAL);
}

Test(parse_size, overflow)
{
	size_bad("99999999999999999999", -ERANGE);
	size_bad("18446744073709551616", -ERANGE);
	size_bad("17179869184G", -ERANGE); /* 2^34 GiB = 2^64 */
	size_bad("16777216T", -ERANGE);
	size_bad("18014398509481984K", -ERANGE); /* 2^54 KiB */
}

/* ---- parse_u64_arg ---------------------------------------------------------- */

static void u64_ok(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	int rc = parse_u64_arg(s, &v);
	cr_expect_eq(rc, 0, "parse_u64_arg('%s') = %d", s, rc);
	cr_expect_eq(v, want, "parse_u64_arg('%s') = %llu, expected %llu", s, (unsigned long long)v,
	             (unsigned long long)want);
}

static void u64_bad(const char *s, int code)
{
	uint64_t v = 0xdeadbeef;
	int rc = parse_u64_arg(s, &v);
	cr_expect_eq(rc, code, "parse_u64_arg('%s') = %d, expected %d", s, rc, code);
	cr_expect_eq(v, 0xdeadbeefull, "parse_u64_arg('%s') wrote %llu on error", s,
	             (unsigned long long)v);
}

Test(parse_u64_arg, valid)
{
	u64_ok("0", 0);
	u64_ok("1", 1);
	u64_ok("16", 16);
	u64_ok("86400000", 86400000ull);
	u64_ok("0x10", 16);
	u64_ok("0XfF", 255);
	u64_ok("18446744073709551615", UINT64_MAX);
	u64_ok("0xffffffffffffffff", UINT64_MAX);
}

/* size_parse.h documents "plain unsigned decimal (or 0x hex)": a leading zero
 * must not switch to octal (`--vcpus 010` is ten vCPUs, `--timeout 08` is
 * 8 ms). */
Test(parse_u64_arg, leading_zero_is_decimal)
{
	u64_ok("010", 10);
	u64_ok("08", 8);
	u64_ok("0200", 200);
}

Test(parse_u64_arg, invalid)
{
	u64_bad("", -EINVAL);
	u64_bad(NULL, -EINVAL);
	u64_bad("x", -EINVAL);
	u64_bad("12x", -EINVAL);
	u64_bad("-1", -EINVAL);
	u64_bad("+1", -EINVAL);
	u64_bad(" 1", -EINVAL);
	u64_bad("1 ", -EINVAL);
	u64_bad("0x", -EINVAL);
	u64_bad("1M", -EINVAL); /* no size suffixes here */
	u64_bad("0xg", -EINVAL);
}

Test(parse_u64_arg, overflow)
{
	u64_bad("18446744073709551616", -ERANGE);
	u64_bad("99999999999999999999", -ERANGE);
	u64_bad("0x10000000000000000", -ERANGE);
}
