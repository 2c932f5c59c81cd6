/*
 * test_sysprog.c - system-call programs (docs/sysprog.md): the binary
 * parser in both modes (guest-agent/sysprog.c), the executor and its policy
 * (guest-agent/sysprog_exec.c) over a mock system call, the text compiler
 * and printer of cowvm-prog (tools/sysprog/), and the seeds
 * (tests/linux/fuzz-seeds/, compiled by the build with cowvm-prog).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sysprog.h"
#include "sysprog_text.h"

#ifndef SEEDS_SRC
#error SEEDS_SRC, SEEDS_BIN, PROGS_SRC, PROGS_BIN must be defined
#endif

static struct sysprog prog;
static uint8_t data[SYSPROG_DATA_MAX];
static char err[256];

/* ---- building binary programs ---------------------------------------------- */
struct bb {
	uint8_t b[SYSPROG_BIN_MAX];
	size_t n;
};
static struct bb bb;

static void put(const void *p, size_t n)
{
	cr_assert_leq(bb.n + n, sizeof(bb.b));
	memcpy(bb.b + bb.n, p, n);
	bb.n += n;
}
static void u8(unsigned v)
{
	uint8_t x = (uint8_t)v;
	put(&x, 1);
}
static void u16(unsigned v)
{
	u8(v & 0xff);
	u8(v >> 8);
}
static void u64(uint64_t v)
{
	for (int i = 0; i < 8; i++)
		u8((unsigned)(v >> (8 * i)) & 0xff);
}
static void header(unsigned ncalls)
{
	bb.n = 0;
	put("CSYS", 4);
	u16(1);
	u16(ncalls);
}
static void call(unsigned nr, unsigned nargs)
{
	u16(nr);
	u8(nargs);
	u8(0);
}
static void a_int(uint64_t v)
{
	u8(SYSPROG_ARG_INT);
	u64(v);
}
static void a_buf(const void *p, unsigned n)
{
	u8(SYSPROG_ARG_BUF);
	u16(n);
	put(p, n);
}
static void a_out(unsigned n)
{
	u8(SYSPROG_ARG_OUT);
	u16(n);
}
static void a_res(unsigned i)
{
	u8(SYSPROG_ARG_RES);
	u16(i);
}

static int parse(enum sysprog_mode m)
{
	return sysprog_parse(bb.b, bb.n, m, &prog, data, err, sizeof(err));
}

/* Strict parse of bb must fail with exactly ret and message. */
static void refused(int ret, const char *msg)
{
	int r = parse(SYSPROG_STRICT);
	cr_assert_eq(r, ret, "returned %d (want %d): %s", r, ret, err);
	cr_assert_str_eq(err, msg);
	cr_assert_eq(prog.ncalls, 0);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	static uint8_t tmp[1 << 20];
	*len = fread(tmp, 1, sizeof(tmp), f);
	fclose(f);
	uint8_t *b = malloc(*len ? *len : 1);
	cr_assert_not_null(b);
	memcpy(b, tmp, *len);
	return b;
}

/* ---- the text compiler --------------------------------------------------- */
static uint8_t cbin[SYSPROG_BIN_MAX];
static size_t clen;

static int compile(const char *text)
{
	return sysprog_compile(text, strlen(text), cbin, sizeof(cbin), &clen, err, sizeof(err));
}

static void compile_fails(const char *text, const char *msg)
{
	int r = compile(text);
	cr_assert_eq(r, -EINVAL, "compiled \"%s\"", text);
	cr_assert_str_eq(err, msg, "for \"%s\"", text);
}

Test(sysprog_text, exact_bytes)
{
	cr_assert_eq(compile("# comment line\n"
	                     "r0 = openat(-100, \"/a\", 0x1, 0)  # trailing\n"
	                     "\n"
	                     "write(r0, x\"43 4f57\", 3)\n"
	                     "r2 = read(r0, out(5), 18446744073709551615)\n"
	                     "getpid()\n"),
	             0, "%s", err);
	static const uint8_t want[] = {
		0x43, 0x53, 0x59, 0x53, 0x01, 0x00, 0x04, 0x00, /* CSYS v1, 4 calls */
		0x01, 0x01, 0x04, 0x00,                         /* openat (257), 4 args */
		0x00, 0x9c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* INT -100 */
		0x01, 0x03, 0x00, '/', 'a', 0x00,               /* BUF "/a\0" */
		0x00, 0x01, 0, 0, 0, 0, 0, 0, 0,                /* INT 1 */
		0x00, 0, 0, 0, 0, 0, 0, 0, 0,                   /* INT 0 */
		0x01, 0x00, 0x03, 0x00,                         /* write (1), 3 args */
		0x03, 0x00, 0x00,                               /* RES 0 */
		0x01, 0x03, 0x00, 'C', 'O', 'W',                /* BUF "COW" */
		0x00, 0x03, 0, 0, 0, 0, 0, 0, 0,                /* INT 3 */
		0x00, 0x00, 0x03, 0x00,                         /* read (0), 3 args */
		0x03, 0x00, 0x00,                               /* RES 0 */
		0x02, 0x05, 0x00,                               /* OUT 5 */
		0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* INT u64 max */
		0x27, 0x00, 0x00, 0x00,                         /* getpid (39), 0 args */
	};
	cr_assert_eq(clen, sizeof(want));
	cr_assert_arr_eq(cbin, want, sizeof(want));
}

Test(sysprog_text, integers)
{
	cr_assert_eq(compile("syscall_7(0, -1, 0xFFFFFFFFFFFFFFFF, -9223372036854775808, 9223372036854775807, 0x10)"), 0, "%s", err);
	cr_assert_eq(sysprog_parse(cbin, clen, SYSPROG_STRICT, &prog, data, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(prog.calls[0].nr, 7);
	uint64_t want[] = { 0, UINT64_MAX, UINT64_MAX, 1ull << 63, INT64_MAX, 16 };
	for (int i = 0; i < 6; i++)
		cr_assert_eq(prog.calls[0].args[i].val, want[i], "arg %d", i);
	compile_fails("read(18446744073709551616)", "1:6: integer over 64 bits");
	compile_fails("read(0x10000000000000000)", "1:6: integer over 64 bits");
	compile_fails("read(-9223372036854775809)", "1:6: negative integer below -2^63");
	compile_fails("read(12ab)", "1:8: unexpected 'a' in a number");
	compile_fails("read(0x)", "1:6: expected a number");
	compile_fails("read(-)", "1:6: expected a number");
}

Test(sysprog_text, strings)
{
	cr_assert_eq(compile("write(1, \"a\\n\\t\\r\\0\\\\\\\"\\x7f\\xfF\", x\"\", \"\")"), 0, "%s", err);
	cr_assert_eq(sysprog_parse(cbin, clen, SYSPROG_STRICT, &prog, data, err, sizeof(err)), 0, "%s", err);
	const struct sysprog_arg *a = &prog.calls[0].args[1];
	static const uint8_t want[] = { 'a', '\n', '\t', '\r', 0, '\\', '"', 0x7f, 0xff, 0 };
	cr_assert_eq(a->kind, SYSPROG_ARG_BUF);
	cr_assert_eq(a->len, sizeof(want));
	cr_assert_arr_eq(prog.data + a->off, want, sizeof(want));
	cr_assert_eq(prog.calls[0].args[2].len, 0, "x\"\" is empty");
	cr_assert_eq(prog.calls[0].args[3].len, 1, "\"\" is one NUL");
	compile_fails("write(1, \"ab)", "1:10: unterminated string");
	compile_fails("write(1, \"a\\q\")", "1:12: unknown escape '\\q'");
	compile_fails("write(1, \"\\x4\")", "1:11: \\x needs two hex digits");
	compile_fails("write(1, x\"434\")", "1:14: expected two hex digits in x\"...\"");
	compile_fails("write(1, x\"4g\")", "1:12: expected two hex digits in x\"...\"");
}

Test(sysprog_text, syntax_errors)
{
	compile_fails("r1 = getpid()", "1:1: label r1 on call 0 (a label must be its call's index)");
	compile_fails("getpid()\nr0 = getpid()", "2:1: label r0 on call 1 (a label must be its call's index)");
	compile_fails("getpid()\nclose(r1)", "2:7: r1 is not an earlier call (this is call 1)");
	compile_fails("close(r0)", "1:7: r0 is not an earlier call (this is call 0)");
	compile_fails("  frobnicate(1)", "1:3: unknown system call 'frobnicate' (use syscall_N for a number)");
	compile_fails("syscall_65536()", "1:1: unknown system call 'syscall_65536' (use syscall_N for a number)");
	compile_fails("syscall_01()", "1:1: unknown system call 'syscall_01' (use syscall_N for a number)");
	compile_fails("getpid", "1:7: expected '(' after getpid");
	compile_fails("read(1 2)", "1:8: expected ',' or ')'");
	compile_fails("read(1,)", "1:8: expected an argument (number, \"string\", x\"hex\", out(N) or rN), found ')'");
	compile_fails("read(1,", "1:8: expected an argument, found the end of the line");
	compile_fails("read(1) x", "1:9: unexpected 'x' after the call");
	compile_fails("r0 getpid()", "1:1: expected 'rN =' (a label) or a system-call name");
	compile_fails("read(out 4)", "1:10: expected '(' after out");
	compile_fails("read(out(-4))", "1:10: out() length must not be negative");
	compile_fails("read(out(4)", "1:12: expected ',' or ')'");
	compile_fails("read(1, 2, 3, 4, 5, 6, 7)", "1:24: more than 6 arguments");
	compile_fails("(1)", "1:1: expected a system-call name");
	compile_fails("read(1)\n\x01", "2:1: expected a system-call name");
	char nul[] = "read(1)\n#\0x";
	cr_assert_eq(sysprog_compile(nul, sizeof(nul) - 1, cbin, sizeof(cbin), &clen, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "2:2: NUL byte in the text");
}

Test(sysprog_text, limits)
{
	static char text[SYSPROG_TEXT_MAX];
	/* 64 calls pass, the 65th is refused on its line. */
	text[0] = '\0';
	for (int i = 0; i < 64; i++)
		strcat(text, "getpid()\n");
	cr_assert_eq(compile(text), 0, "%s", err);
	strcat(text, "getpid()\n");
	compile_fails(text, "65:1: more than 64 calls");
	/* A BUF of 4096 bytes passes, 4097 does not; a string's NUL counts. */
	strcpy(text, "write(1, x\"");
	for (int i = 0; i < 4096; i++)
		strcat(text, "ab");
	strcat(text, "\")");
	cr_assert_eq(compile(text), 0, "%s", err);
	strcpy(text, "write(1, x\"");
	for (int i = 0; i < 4097; i++)
		strcat(text, "ab");
	strcat(text, "\")");
	compile_fails(text, "1:10: BUF of more than 4096 bytes");
	strcpy(text, "write(1, \"");
	for (int i = 0; i < 4096; i++)
		strcat(text, "a");
	strcat(text, "\")");
	compile_fails(text, "1:10: BUF of 4097 bytes (with the NUL) over the limit 4096");
	compile_fails("read(0, out(4097))", "1:13: OUT of 4097 bytes over the limit 4096");
	cr_assert_eq(compile("read(0, out(4096))"), 0, "%s", err);
	/* The data area: 16 x out(4096) fill it, one more byte does not fit. */
	text[0] = '\0';
	for (int i = 0; i < 16; i++)
		strcat(text, "read(0, out(4096))\n");
	cr_assert_eq(compile(text), 0, "%s", err);
	strcat(text, "read(0, out(1))\n");
	compile_fails(text, "17:13: data area over 65536 bytes (needs 65544)");
}

Test(sysprog_text, names)
{
	unsigned n = 0, nr;
	const char *name;
	for (; (name = sysprog_name_at(n, &nr)); n++) {
		cr_assert_eq(sysprog_name_nr(name, strlen(name)), (long)nr, "%s", name);
		cr_assert_str_eq(sysprog_nr_name(nr), name, "numbers are unique: %u", nr);
	}
	cr_assert_geq(n, 80);
	cr_assert_eq(sysprog_name_nr("read", 4), 0);
	cr_assert_eq(sysprog_name_nr("write", 5), 1);
	cr_assert_eq(sysprog_name_nr("execve", 6), 59);
	cr_assert_eq(sysprog_name_nr("openat", 6), 257);
	cr_assert_eq(sysprog_name_nr("memfd_create", 12), 319);
	cr_assert_eq(sysprog_name_nr("syscall_0", 9), 0);
	cr_assert_eq(sysprog_name_nr("syscall_65535", 13), 65535);
	cr_assert_eq(sysprog_name_nr("syscall_", 8), -1);
	cr_assert_eq(sysprog_name_nr("reads", 5), -1);
	cr_assert_eq(sysprog_name_nr("rea", 3), -1);
	cr_assert_null(sysprog_nr_name(999));
}

Test(sysprog_text, print_format)
{
	cr_assert_eq(compile("openat(-4096, \"a\\\"\\x01\\n\", 65535, 65536)\n"
	                     "write(r0, x\"00ff\", -4097)\nsyscall_999(out(3))\n"),
	             0, "%s", err);
	cr_assert_eq(sysprog_parse(cbin, clen, SYSPROG_STRICT, &prog, data, err, sizeof(err)), 0, "%s", err);
	char *text = NULL;
	size_t tlen = 0;
	FILE *f = open_memstream(&text, &tlen);
	cr_assert_eq(sysprog_print(&prog, f), 0);
	fclose(f);
	cr_assert_str_eq(text, "r0 = openat(-4096, \"a\\\"\\x01\\n\", 65535, 0x10000)\n"
	                       "r1 = write(r0, x\"00ff\", 0xffffffffffffefff)\n"
	                       "r2 = syscall_999(out(3))\n");
	free(text);
}

/* ---- strict mode: every refusal with its message -------------------------- */
Test(sysprog_strict, header)
{
	header(0);
	cr_assert_eq(parse(SYSPROG_STRICT), 0, "%s", err);
	cr_assert_str_eq(err, "");
	cr_assert_eq(prog.used, 8);
	bb.n = 7;
	refused(-EBADMSG, "offset 0: header truncated (7 of 8 bytes)");
	header(0);
	bb.b[3] = 'T';
	refused(-EBADMSG, "offset 0: bad magic 0x54595343 (expected 0x53595343 \"CSYS\")");
	header(0);
	bb.b[4] = 2;
	refused(-EPROTO, "offset 4: unsupported version 2 (expected 1)");
	header(65);
	refused(-EBADMSG, "offset 6: ncalls 65 over the limit 64");
	header(0);
	u8(0);
	refused(-EBADMSG, "offset 8: 1 trailing bytes after the header");
	cr_assert_eq(sysprog_parse(NULL, 0, SYSPROG_STRICT, &prog, data, err, sizeof(err)), -EBADMSG);
}

Test(sysprog_strict, records)
{
	header(2);
	call(39, 0);
	u16(1);
	refused(-EBADMSG, "offset 12: call 1: record truncated (2 of 4 header bytes)");
	header(1);
	call(0, 7);
	refused(-EBADMSG, "offset 10: call 0: nargs 7 over the limit 6");
	header(1);
	u16(0);
	u8(0);
	u8(0x80);
	refused(-EBADMSG, "offset 11: call 0: flags 0x80 not 0");
	header(1);
	call(39, 0);
	u8(0);
	u8(0);
	refused(-EBADMSG, "offset 12: 2 trailing bytes after call 0");
}

Test(sysprog_strict, args)
{
	header(1);
	call(0, 1);
	refused(-EBADMSG, "offset 12: call 0 arg 0: truncated (no kind byte)");
	header(1);
	call(0, 2);
	a_int(1);
	u8(4);
	refused(-EBADMSG, "offset 21: call 0 arg 1: unknown kind 4");
	header(1);
	call(0, 1);
	u8(0);
	u8(1);
	u8(2);
	refused(-EBADMSG, "offset 13: call 0 arg 0: INT payload truncated (needs 8 bytes, 2 left)");
	header(1);
	call(0, 1);
	u8(SYSPROG_ARG_OUT);
	u8(1);
	refused(-EBADMSG, "offset 13: call 0 arg 0: OUT payload truncated (needs 2 bytes, 1 left)");
	header(1);
	call(0, 1);
	u8(SYSPROG_ARG_BUF);
	u16(4097);
	refused(-EBADMSG, "offset 13: call 0 arg 0: BUF len 4097 over the limit 4096");
	header(1);
	call(0, 1);
	u8(SYSPROG_ARG_BUF);
	u16(5);
	put("abcd", 4);
	refused(-EBADMSG, "offset 15: call 0 arg 0: BUF of 5 bytes past the end (4 left)");
	header(1);
	call(0, 1);
	a_out(4097);
	refused(-EBADMSG, "offset 13: call 0 arg 0: OUT len 4097 over the limit 4096");
	header(2);
	call(39, 0);
	call(3, 1);
	a_res(1);
	refused(-EBADMSG, "offset 17: call 1 arg 0: RES index 1 is not an earlier call");
	header(1);
	call(3, 1);
	a_res(0);
	refused(-EBADMSG, "offset 13: call 0 arg 0: RES index 0 is not an earlier call");
	header(2);
	call(39, 0);
	call(3, 1);
	a_res(0);
	cr_assert_eq(parse(SYSPROG_STRICT), 0, "%s", err);
}

Test(sysprog_strict, data_area)
{
	/* 16 OUTs of 4096 fill 64 KiB exactly; a 17th of even 1 byte is over. */
	header(3);
	for (int c = 0; c < 2; c++) {
		call(0, 6);
		for (int i = 0; i < 6; i++)
			a_out(4096);
	}
	call(0, 5);
	for (int i = 0; i < 4; i++)
		a_out(4096);
	size_t at = bb.n;
	a_out(1);
	char want[128];
	snprintf(want, sizeof(want), "offset %zu: call 2 arg 4: data area over 65536 bytes (needs 65544)",
	         at + 1);
	refused(-EBADMSG, want);
	bb.n = at;
	bb.b[at - 4 * 3 - 2] = 4; /* call 2: 4 args */
	cr_assert_eq(parse(SYSPROG_STRICT), 0, "%s", err);
	cr_assert_eq(prog.data_used, 65536);
	/* Lengths round up to 8: 8 BUFs of 4095 + 8 OUTs of 4089 = 64 KiB,
	 * and each buffer starts 8-byte aligned. */
	header(3);
	static uint8_t junk[4095];
	memset(junk, 0x5a, sizeof(junk));
	call(1, 6);
	for (int i = 0; i < 6; i++)
		a_buf(junk, 4095);
	call(1, 6);
	a_buf(junk, 4095);
	a_buf(junk, 4095);
	for (int i = 0; i < 4; i++)
		a_out(4089);
	call(1, 4);
	for (int i = 0; i < 4; i++)
		a_out(4089);
	cr_assert_eq(parse(SYSPROG_STRICT), 0, "%s", err);
	cr_assert_eq(prog.data_used, 65536);
	cr_assert_eq(prog.calls[1].args[2].off, 8 * 4096);
	cr_assert_eq(prog.calls[2].args[3].off, 15 * 4096);
}

Test(sysprog_strict, decoded)
{
	memset(data, 0xee, sizeof(data)); /* OUT must come back zeroed */
	header(2);
	call(257, 4);
	a_int((uint64_t)-100);
	a_buf("/x", 3);
	a_out(9);
	a_int(0x0123456789abcdefull);
	call(0xffff, 1);
	a_res(0);
	cr_assert_eq(parse(SYSPROG_STRICT), 0, "%s", err);
	cr_assert_eq(prog.ncalls, 2);
	cr_assert_eq(prog.declared, 2);
	cr_assert_eq(prog.used, bb.n);
	cr_assert_eq(prog.data, data);
	const struct sysprog_call *c = &prog.calls[0];
	cr_assert_eq(c->nr, 257);
	cr_assert_eq(c->nargs, 4);
	cr_assert_eq(c->pos, 8);
	cr_assert_eq(c->args[0].kind, SYSPROG_ARG_INT);
	cr_assert_eq(c->args[0].val, (uint64_t)-100);
	cr_assert_eq(c->args[1].kind, SYSPROG_ARG_BUF);
	cr_assert_eq(c->args[1].len, 3);
	cr_assert_eq(c->args[1].off, 0);
	cr_assert_arr_eq(data, "/x", 3);
	cr_assert_eq(c->args[2].kind, SYSPROG_ARG_OUT);
	cr_assert_eq(c->args[2].len, 9);
	cr_assert_eq(c->args[2].off, 8);
	for (int i = 0; i < 9; i++)
		cr_assert_eq(data[8 + i], 0, "OUT byte %d", i);
	cr_assert_eq(c->args[3].val, 0x0123456789abcdefull);
	cr_assert_eq(prog.data_used, 24);
	cr_assert_eq(prog.calls[1].nr, 0xffff);
	cr_assert_eq(prog.calls[1].pos, 8 + 4 + 9 + 6 + 3 + 9);
	cr_assert_eq(prog.calls[1].args[0].kind, SYSPROG_ARG_RES);
	cr_assert_eq(prog.calls[1].args[0].val, 0);
}

/* ---- lenient mode ------------------------------------------------------- */
Test(sysprog_lenient, header_runs_nothing)
{
	header(1);
	call(39, 0);
	bb.b[0] = 'X';
	cr_assert_eq(parse(SYSPROG_LENIENT), -EBADMSG);
	cr_assert_eq(prog.ncalls, 0);
	bb.b[0] = 'C';
	bb.b[5] = 1;
	cr_assert_eq(parse(SYSPROG_LENIENT), -EPROTO);
	cr_assert_eq(prog.ncalls, 0);
	bb.n = 5;
	cr_assert_eq(parse(SYSPROG_LENIENT), -EBADMSG);
	cr_assert_eq(prog.ncalls, 0);
}

Test(sysprog_lenient, valid_prefix)
{
	/* Three calls declared, the second invalid: the first runs. */
	header(3);
	call(39, 0);
	size_t second = bb.n;
	call(0, 7);
	call(39, 0);
	cr_assert_eq(parse(SYSPROG_LENIENT), 0);
	cr_assert_eq(prog.ncalls, 1);
	cr_assert_eq(prog.declared, 3);
	cr_assert_eq(prog.used, second);
	cr_assert_str_eq(err, "offset 14: call 1: nargs 7 over the limit 6");
	/* A stopped record's data does not count. */
	header(2);
	call(1, 1);
	a_buf("abc", 3);
	call(1, 2);
	a_out(100);
	a_res(5);
	cr_assert_eq(parse(SYSPROG_LENIENT), 0);
	cr_assert_eq(prog.ncalls, 1);
	cr_assert_eq(prog.data_used, 8);
	/* Trailing bytes are ignored; ncalls over 64 runs 64. */
	header(1);
	call(39, 0);
	put("junk", 4);
	cr_assert_eq(parse(SYSPROG_LENIENT), 0);
	cr_assert_eq(prog.ncalls, 1);
	cr_assert_str_eq(err, "");
	header(70);
	for (int i = 0; i < 70; i++)
		call(39, 0);
	cr_assert_eq(parse(SYSPROG_LENIENT), 0);
	cr_assert_eq(prog.ncalls, 64);
	cr_assert_eq(prog.used, 8 + 64 * 4);
	cr_assert_str_eq(err, "offset 6: ncalls 70 over the limit 64");
	/* More declared than present. */
	header(9);
	call(39, 0);
	call(39, 0);
	cr_assert_eq(parse(SYSPROG_LENIENT), 0);
	cr_assert_eq(prog.ncalls, 2);
	cr_assert_str_eq(err, "offset 16: call 2: record truncated (0 of 4 header bytes)");
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names (without .txt) of the *.txt files in dir, sorted. */
static size_t list_txt(const char *dir, char names[][64], size_t cap)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "cannot open %s", dir);
	size_t n = 0;
	for (struct dirent *de; (de = readdir(d));) {
		size_t l = strlen(de->d_name);
		if (l > 4 && !strcmp(de->d_name + l - 4, ".txt") && l - 4 < 64 && n < cap) {
			memcpy(names[n], de->d_name, l - 4);
			names[n][l - 4] = '\0';
			n++;
		}
	}
	closedir(d);
	char *ptr[64];
	for (size_t i = 0; i < n; i++)
		ptr[i] = names[i];
	qsort(ptr, n, sizeof(ptr[0]), cmp_names);
	static char sorted[64][64];
	for (size_t i = 0; i < n; i++)
		strcpy(sorted[i], ptr[i]);
	memcpy(names, sorted, n * 64);
	return n;
}

/* Every truncation of every seed: the prefix of whole records runs, read
 * from an exact-size heap copy (ASan: no byte past the end is read). */
Test(sysprog_lenient, truncated_seeds)
{
	static char names[64][64];
	size_t n = list_txt(SEEDS_SRC, names, 64);
	cr_assert_geq(n, 10);
	for (size_t s = 0; s < n; s++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s.bin", SEEDS_BIN, names[s]);
		size_t len;
		uint8_t *bin = read_all(path, &len);
		static struct sysprog full;
		static uint8_t fdata[SYSPROG_DATA_MAX];
		cr_assert_eq(sysprog_parse(bin, len, SYSPROG_STRICT, &full, fdata, err, sizeof(err)), 0,
		             "%s: %s", path, err);
		for (size_t cut = 0; cut <= len; cut++) {
			uint8_t *t = malloc(cut ? cut : 1);
			memcpy(t, bin, cut);
			int r = sysprog_parse(t, cut, SYSPROG_LENIENT, &prog, data, err, sizeof(err));
			unsigned want = 0;
			while (want < full.ncalls &&
			       (want + 1 < full.ncalls ? full.calls[want + 1].pos : full.used) <= cut)
				want++;
			if (cut < SYSPROG_HEADER_SIZE)
				cr_assert_eq(r, -EBADMSG, "%s cut %zu", names[s], cut);
			else
				cr_assert_eq(r, 0, "%s cut %zu", names[s], cut);
			cr_assert_eq(prog.ncalls, want, "%s cut at %zu: %u calls, want %u", names[s], cut,
			             prog.ncalls, want);
			if (cut < len)
				cr_assert_eq(sysprog_parse(t, cut, SYSPROG_STRICT, &prog, data, err, sizeof(err)),
				             -EBADMSG, "%s cut %zu strict", names[s], cut);
			free(t);
		}
		free(bin);
	}
}

/* ---- the executor -------------------------------------------------------- */
#define MOCK_MAX 80
struct mock {
	unsigned n;
	long nr[MOCK_MAX];
	long args[MOCK_MAX][6];
	uint8_t seen[MOCK_MAX][16]; /* first bytes behind args[1] */
};
static struct mock mock;

static long mock_call(void *ctx, long nr, const long args[6])
{
	struct mock *m = ctx;
	cr_assert_lt(m->n, MOCK_MAX);
	m->nr[m->n] = nr;
	memcpy(m->args[m->n], args, sizeof(m->args[0]));
	return 1000 + (long)m->n++;
}

static const struct sysprog_sys mock_sys = { mock_call, &mock, 900 };

static int run(int64_t *res)
{
	cr_assert_eq(parse(SYSPROG_STRICT), 0, "%s", err);
	memset(&mock, 0, sizeof(mock));
	return sysprog_run(&prog, &mock_sys, res);
}

Test(sysprog_exec, args_as_written)
{
	header(2);
	call(17, 5);
	a_int(0xfedcba9876543210ull);
	a_buf("hello", 5);
	a_out(33);
	a_int((uint64_t)-1);
	a_buf("", 0);
	call(39, 0);
	memset(data, 0x77, sizeof(data));
	int64_t res[2];
	cr_assert_eq(run(res), 2);
	cr_assert_eq(mock.n, 2);
	cr_assert_eq(mock.nr[0], 17);
	cr_assert_eq(mock.args[0][0], (long)0xfedcba9876543210ull);
	cr_assert_eq(mock.args[0][1], (long)(uintptr_t)data);
	cr_assert_arr_eq((void *)mock.args[0][1], "hello", 5);
	cr_assert_eq(mock.args[0][2], (long)(uintptr_t)(data + 8));
	for (int i = 0; i < 33; i++)
		cr_assert_eq(((uint8_t *)mock.args[0][2])[i], 0, "OUT byte %d zeroed", i);
	cr_assert_eq(mock.args[0][3], -1);
	cr_assert_eq(mock.args[0][4], (long)(uintptr_t)(data + 48), "after 8 + 40 aligned bytes");
	cr_assert_eq(mock.args[0][5], 0, "missing args are 0");
	cr_assert_eq(mock.nr[1], 39);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(mock.args[1][i], 0);
	cr_assert_eq(res[0], 1000);
	cr_assert_eq(res[1], 1001);
}

Test(sysprog_exec, res_wiring)
{
	header(4);
	call(39, 0);
	call(39, 0);
	call(1, 3);
	a_res(1);
	a_res(0);
	a_res(1);
	call(3, 2);
	a_int(5);
	a_res(2);
	int64_t res[4];
	cr_assert_eq(run(res), 4);
	cr_assert_eq(mock.args[2][0], 1001);
	cr_assert_eq(mock.args[2][1], 1000);
	cr_assert_eq(mock.args[2][2], 1001);
	cr_assert_eq(mock.args[3][1], 1002);
	/* A refused call's -EPERM is what a RES passes on. */
	header(2);
	call(SYS_execve, 0);
	call(SYS_read, 1);
	a_res(0);
	cr_assert_eq(run(res), 1);
	cr_assert_eq(res[0], -EPERM);
	cr_assert_eq(mock.nr[0], SYS_read);
	cr_assert_eq(mock.args[0][0], -EPERM);
}

static const long always_denied[] = {
	SYS_exit, SYS_exit_group, SYS_execve, SYS_execveat, SYS_fork, SYS_vfork, SYS_clone,
	SYS_clone3, SYS_kill, SYS_tkill, SYS_tgkill, SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo,
	SYS_pidfd_send_signal, SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn,
	SYS_sigaltstack, SYS_pause, SYS_rt_sigsuspend, SYS_munmap, SYS_mremap, SYS_mprotect,
	SYS_pkey_mprotect, SYS_madvise, SYS_process_madvise, SYS_brk, SYS_remap_file_pages,
	SYS_process_vm_writev, SYS_arch_prctl, SYS_prctl, SYS_seccomp, SYS_personality,
	SYS_setrlimit, SYS_prlimit64, SYS_unshare, SYS_setns, SYS_rseq, SYS_iopl, SYS_ioperm,
	SYS_ptrace, SYS_reboot, SYS_vhangup, SYS_kexec_load, SYS_kexec_file_load,
	SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_io_uring_setup,
	SYS_io_uring_enter, SYS_io_uring_register,
};
#define NDENIED (sizeof(always_denied) / sizeof(always_denied[0]))

Test(sysprog_exec, denied_calls)
{
	cr_assert_eq(NDENIED, 51);
	for (size_t i = 0; i < NDENIED; i++) {
		/* denied call between two allowed ones, with plausible args */
		header(3);
		call(39, 0);
		call((unsigned)always_denied[i], 2);
		a_int(0);
		a_int(0);
		call(39, 0);
		int64_t res[3];
		cr_assert_eq(run(res), 2, "nr %ld", always_denied[i]);
		cr_assert_eq(res[1], -EPERM, "nr %ld", always_denied[i]);
		cr_assert_eq(mock.n, 2);
		cr_assert_eq(mock.nr[0], 39);
		cr_assert_eq(mock.nr[1], 39, "nr %ld reached the mock", always_denied[i]);
		long args[6] = { 0 };
		cr_assert_not_null(sysprog_check(always_denied[i], args, -1));
	}
	/* Everything else, with zero arguments and no reserved fds, passes. */
	unsigned allowed = 0;
	for (long nr = 0; nr < 512; nr++) {
		bool deny = false;
		for (size_t i = 0; i < NDENIED; i++)
			deny |= always_denied[i] == nr;
		long args[6] = { 0 };
		const char *why = sysprog_check(nr, args, -1);
		cr_assert_eq(why != NULL, deny, "nr %ld: %s", nr, why ? why : "allowed");
		allowed += !deny;
	}
	cr_assert_eq(allowed, 512 - NDENIED);
}

/* One call nr(a0, a1, a2, a3) through the executor: did it reach the mock? */
static bool reaches(long nr, long a0, long a1, long a2, long a3)
{
	header(1);
	call((unsigned)nr, 4);
	a_int((uint64_t)a0);
	a_int((uint64_t)a1);
	a_int((uint64_t)a2);
	a_int((uint64_t)a3);
	int64_t res[1];
	int ran = run(res);
	cr_assert_eq(ran, (int)mock.n);
	cr_assert_eq(res[0], ran ? 1000 : -EPERM);
	return ran == 1;
}

Test(sysprog_exec, reserved_fds)
{
	cr_assert(reaches(SYS_close, 3, 0, 0, 0));
	cr_assert(reaches(SYS_close, 899, 0, 0, 0));
	cr_assert_not(reaches(SYS_close, 900, 0, 0, 0));
	cr_assert_not(reaches(SYS_close, 1000, 0, 0, 0));
	cr_assert_not(reaches(SYS_close, -1, 0, 0, 0), "fd 4294967295 as the kernel reads it");
	cr_assert(reaches(SYS_close, 0x100000003L, 0, 0, 0), "the kernel reads fd 3");
	cr_assert(reaches(SYS_dup2, 900, 3, 0, 0), "a copy of a reserved fd is harmless");
	cr_assert_not(reaches(SYS_dup2, 3, 900, 0, 0));
	cr_assert_not(reaches(SYS_dup3, 3, 901, 0x80000, 0));
	cr_assert(reaches(SYS_dup3, 3, 899, 0, 0));
	cr_assert_not(reaches(SYS_close_range, 3, 0xffffffffL, 0, 0));
	cr_assert_not(reaches(SYS_close_range, 3, 900, 0, 0));
	cr_assert(reaches(SYS_close_range, 3, 899, 0, 0));
	cr_assert_not(reaches(SYS_fcntl, 900, 4, 0x800, 0));
	cr_assert(reaches(SYS_fcntl, 3, 4, 0x800, 0));
	cr_assert_not(reaches(SYS_ioctl, 905, 0x5421, 0, 0));
	cr_assert(reaches(SYS_ioctl, 3, 0x5421, 0, 0));
	cr_assert(reaches(SYS_read, 900, 0, 0, 0), "reading an agent fd is not refused");
	/* No reserved fds. */
	long args[6] = { 900, 900, 0, 0, 0, 0 };
	cr_assert_null(sysprog_check(SYS_close, args, -1));
	cr_assert_null(sysprog_check(SYS_dup2, args, -1));
	cr_assert_not_null(sysprog_check(SYS_dup2, args, 900));
	cr_assert_null(sysprog_check(SYS_dup2, args, 901));
}

Test(sysprog_exec, argument_checks)
{
	/* mmap(addr, len, prot, flags, fd, off): MAP_FIXED refused */
	cr_assert(reaches(SYS_mmap, 0, 4096, 3, 0x22));
	cr_assert_not(reaches(SYS_mmap, 0x400000, 4096, 3, 0x32));
	cr_assert(reaches(SYS_mmap, 0x400000, 4096, 3, 0x100022), "MAP_FIXED_NOREPLACE is fine");
	/* shmat(id, addr, flags): SHM_REMAP refused */
	cr_assert(reaches(SYS_shmat, 1, 0, 010000, 0));
	cr_assert_not(reaches(SYS_shmat, 1, 0x400000, 040000, 0));
	/* fcntl(fd, F_SETSIG, sig) */
	cr_assert_not(reaches(SYS_fcntl, 3, 10, 9, 0));
	cr_assert_not(reaches(SYS_fcntl, 3, 10, 19, 0));
	cr_assert(reaches(SYS_fcntl, 3, 10, 10, 0));
	cr_assert(reaches(SYS_fcntl, 3, 1, 9, 0), "F_GETFD with 9 is not F_SETSIG");
}

Test(sysprog_exec, raw_call)
{
	long args[6] = { 0 };
	cr_assert_eq(sysprog_raw_call(NULL, SYS_getpid, args), (long)getpid());
	args[0] = 0x7fffffff;
	cr_assert_eq(sysprog_raw_call(NULL, SYS_close, args), -EBADF, "raw: -errno, no errno");
	/* A real program through the real call: pipe2 fills its OUT. */
	header(2);
	call(SYS_pipe2, 2);
	a_out(8);
	a_int(0);
	call(SYS_getpid, 0);
	cr_assert_eq(parse(SYSPROG_STRICT), 0);
	struct sysprog_sys sys = { sysprog_raw_call, NULL, 900 };
	int64_t res[2];
	cr_assert_eq(sysprog_run(&prog, &sys, res), 2);
	cr_assert_eq(res[0], 0);
	cr_assert_eq(res[1], getpid());
	int fds[2];
	memcpy(fds, data, sizeof(fds));
	cr_assert_eq(write(fds[1], "z", 1), 1);
	char c;
	cr_assert_eq(read(fds[0], &c, 1), 1);
	cr_assert_eq(c, 'z');
}

/* ---- seeds ------------------------------------------------------------- */
static char *read_text(const char *path, size_t *len)
{
	uint8_t *b = read_all(path, len);
	char *t = realloc(b, *len + 1);
	t[*len] = '\0';
	return t;
}

/* dir/name.txt compiles (here, in-process) to the build's bin/name.bin,
 * and printing that and compiling the text again gives the same bytes. */
static void check_prog(const char *src, const char *bin, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s.txt", src, name);
	size_t tlen, blen;
	char *text = read_text(path, &tlen);
	cr_assert_eq(sysprog_compile(text, tlen, cbin, sizeof(cbin), &clen, err, sizeof(err)), 0,
	             "%s:%s", path, err);
	free(text);
	snprintf(path, sizeof(path), "%s/%s.bin", bin, name);
	uint8_t *b = read_all(path, &blen);
	cr_assert_eq(blen, clen, "%s", path);
	cr_assert_arr_eq(b, cbin, clen, "%s differs from its text", path);
	cr_assert_eq(sysprog_parse(b, blen, SYSPROG_STRICT, &prog, data, err, sizeof(err)), 0,
	             "%s: %s", path, err);
	cr_assert_geq(prog.ncalls, 3, "%s: a seed of a few calls", name);
	char *printed = NULL;
	size_t plen = 0;
	FILE *f = open_memstream(&printed, &plen);
	cr_assert_eq(sysprog_print(&prog, f), 0);
	fclose(f);
	cr_assert_eq(sysprog_compile(printed, plen, cbin, sizeof(cbin), &clen, err, sizeof(err)), 0,
	             "%s printed: %s", name, err);
	cr_assert_eq(clen, blen);
	cr_assert_arr_eq(cbin, b, blen, "%s: compile(print(x)) != x", name);
	free(printed);
	free(b);
}

Test(sysprog_seeds, round_trip)
{
	static char names[64][64];
	size_t n = list_txt(SEEDS_SRC, names, 64);
	cr_assert_geq(n, 10, "%zu seeds", n);
	for (size_t i = 0; i < n; i++)
		check_prog(SEEDS_SRC, SEEDS_BIN, names[i]);
	n = list_txt(PROGS_SRC, names, 64);
	cr_assert_geq(n, 1);
	for (size_t i = 0; i < n; i++)
		check_prog(PROGS_SRC, PROGS_BIN, names[i]);
}

Test(sysprog_seeds, bug_near_is_one_bit_from_the_crash)
{
	size_t nl, cl;
	uint8_t *near = read_all(SEEDS_BIN "/bug-near.bin", &nl);
	uint8_t *crash = read_all(PROGS_BIN "/crash-cowvm-bug.bin", &cl);
	cr_assert_eq(nl, cl);
	unsigned bits = 0;
	size_t at = 0;
	for (size_t i = 0; i < nl; i++) {
		bits += (unsigned)__builtin_popcount(near[i] ^ crash[i]);
		if (near[i] != crash[i])
			at = i;
	}
	cr_assert_eq(bits, 1);
	cr_assert_eq(crash[at], '!');
	cr_assert_eq(near[at], 'a');
	cr_assert_eq(at, nl - 1 - (1 + 8), "the second write's data byte, before its INT 1");
	/* and the crash program is in no seed */
	static char names[64][64];
	size_t n = list_txt(SEEDS_SRC, names, 64);
	for (size_t s = 0; s < n; s++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s.bin", SEEDS_BIN, names[s]);
		size_t len;
		uint8_t *b = read_all(path, &len);
		cr_assert(len != cl || memcmp(b, crash, cl), "%s is the crash program", path);
		free(b);
	}
	free(near);
	free(crash);
}

/* AFL dictionary syntax: comments, blanks, name="value" with \xHH, \\, \"
 * escapes; the tokens of the planted bug are there. */
Test(sysprog_seeds, dictionary)
{
	size_t len;
	char *t = read_text(SEEDS_SRC "/sysprog.dict", &len);
	unsigned tokens = 0;
	bool cow = false, bang = false, hdr = false;
	for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#' || line[0] == '\0')
			continue;
		char *eq = strchr(line, '=');
		cr_assert_not_null(eq, "line: %s", line);
		for (char *p = line; p < eq; p++)
			cr_assert(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'), "name: %s", line);
		cr_assert_eq(eq[1], '"', "%s", line);
		size_t l = strlen(eq);
		cr_assert_eq(eq[l - 1], '"', "%s", line);
		uint8_t v[256];
		size_t n = 0;
		for (char *p = eq + 2; p < eq + l - 1; p++) {
			if (*p == '\\') {
				if (p[1] == 'x') {
					unsigned x;
					cr_assert_eq(sscanf(p + 2, "%2x", &x), 1, "%s", line);
					v[n++] = (uint8_t)x;
					p += 3;
				} else {
					cr_assert(p[1] == '\\' || p[1] == '"', "%s", line);
					v[n++] = (uint8_t)*++p;
				}
			} else {
				cr_assert(*p >= 0x20 && *p < 0x7f && *p != '"', "%s", line);
				v[n++] = (uint8_t)*p;
			}
		}
		cr_assert_gt(n, 0);
		cow |= n == 3 && !memcmp(v, "COW", 3);
		bang |= n == 1 && v[0] == '!';
		hdr |= n == 6 && !memcmp(v, "CSYS\x01\x00", 6);
		tokens++;
	}
	cr_assert(cow && bang && hdr);
	cr_assert_geq(tokens, 40);
	free(t);
}

/* ---- the cowvm-prog command line ------------------------------------------ */
static char tdir[] = "/tmp/test_sysprog.XXXXXX";

/* Runs `cowvm-prog ARGS` with stdout and stderr into files of tdir; returns
 * the exit status; *out and *errtext get their contents, valid until the
 * next call (tool_free frees the last). */
static char *tool_out, *tool_err;

static void tool_free(void)
{
	free(tool_out);
	free(tool_err);
	tool_out = tool_err = NULL;
}

static int tool(const char *args, char **out, char **errtext)
{
	tool_free();
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "'%s' %s >'%s/out' 2>'%s/err'", COWVM_PROG, args, tdir, tdir);
	int st = system(cmd);
	cr_assert(WIFEXITED(st), "%s", cmd);
	char path[512];
	size_t len;
	snprintf(path, sizeof(path), "%s/out", tdir);
	*out = tool_out = read_text(path, &len);
	snprintf(path, sizeof(path), "%s/err", tdir);
	*errtext = tool_err = read_text(path, &len);
	return WEXITSTATUS(st);
}

static void write_file(const char *name, const void *b, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tdir, name);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(b, 1, n, f), n);
	fclose(f);
}

Test(sysprog_tool, command_line, .fini = tool_free)
{
	cr_assert_not_null(mkdtemp(tdir));
	char *o, *e, a[1024], want[1024];
	cr_assert_eq(tool("--help", &o, &e), 0);
	cr_assert(strstr(o, "usage: cowvm-prog compile IN.txt OUT.bin\n") == o, "%s", o);
	cr_assert_eq(tool("", &o, &e), 2);
	cr_assert(strstr(e, "usage:") == e);
	cr_assert_eq(tool("compile onlyone", &o, &e), 2);
	cr_assert_eq(tool("print --strict x", &o, &e), 2);

	/* compile: the error names file:line:col, exit 2, no output file */
	const char bad[] = "getpid()\n  nope(1)\n";
	write_file("bad.txt", bad, sizeof(bad) - 1);
	snprintf(a, sizeof(a), "compile %s/bad.txt %s/bad.bin", tdir, tdir);
	cr_assert_eq(tool(a, &o, &e), 2);
	snprintf(want, sizeof(want), "%s/bad.txt:2:3: unknown system call 'nope' (use syscall_N for a number)\n", tdir);
	cr_assert_str_eq(e, want);
	snprintf(a, sizeof(a), "%s/bad.bin", tdir);
	cr_assert_neq(access(a, F_OK), 0, "no output for a bad program");
	snprintf(a, sizeof(a), "compile %s/missing.txt %s/x.bin", tdir, tdir);
	cr_assert_eq(tool(a, &o, &e), 1);
	snprintf(want, sizeof(want), "cowvm-prog: %s/missing.txt: No such file or directory\n", tdir);
	cr_assert_str_eq(e, want);

	/* compile, then print: the text form */
	const char good[] = "r0 = openat(-100, \"/proc/cowvm_bug\", 1, 0)\nwrite(r0, x\"434f57\", 3)\n";
	write_file("good.txt", good, sizeof(good) - 1);
	snprintf(a, sizeof(a), "compile %s/good.txt %s/good.bin", tdir, tdir);
	cr_assert_eq(tool(a, &o, &e), 0, "%s", e);
	cr_assert_str_eq(e, "");
	snprintf(a, sizeof(a), "print %s/good.bin", tdir);
	cr_assert_eq(tool(a, &o, &e), 0, "%s", e);
	snprintf(want, sizeof(want), "# %s/good.bin: 2 calls\n"
	         "r0 = openat(-100, \"/proc/cowvm_bug\", 1, 0)\nr1 = write(r0, x\"434f57\", 3)\n", tdir);
	cr_assert_str_eq(o, want);

	/* print: strict refuses a truncated file (exit 2), --lenient shows the prefix */
	snprintf(a, sizeof(a), "%s/good.bin", tdir);
	size_t len;
	uint8_t *b = read_all(a, &len);
	write_file("cut.bin", b, len - 1);
	free(b);
	snprintf(a, sizeof(a), "print %s/cut.bin", tdir);
	cr_assert_eq(tool(a, &o, &e), 2);
	snprintf(want, sizeof(want), "%s/cut.bin: offset 72: call 1 arg 2: INT payload truncated (needs 8 bytes, 7 left)\n", tdir);
	cr_assert_str_eq(e, want);
	snprintf(a, sizeof(a), "print --lenient %s/cut.bin", tdir);
	cr_assert_eq(tool(a, &o, &e), 0, "%s", e);
	snprintf(want, sizeof(want), "# %s/cut.bin (lenient): 1 of 2 declared calls run, 58 of 79 bytes used; "
	         "stopped at offset 72: call 1 arg 2: INT payload truncated (needs 8 bytes, 7 left)\n"
	         "r0 = openat(-100, \"/proc/cowvm_bug\", 1, 0)\n", tdir);
	cr_assert_str_eq(o, want);
	write_file("magic.bin", "CSYT\x01\x00\x00\x00", 8);
	snprintf(a, sizeof(a), "print --lenient %s/magic.bin", tdir);
	cr_assert_eq(tool(a, &o, &e), 2);
	snprintf(want, sizeof(want), "%s/magic.bin: offset 0: bad magic 0x54595343 (expected 0x53595343 \"CSYS\")\n", tdir);
	cr_assert_str_eq(e, want);
	snprintf(a, sizeof(a), "rm -rf '%s'", tdir);
	cr_assert_eq(system(a), 0);
}

Test(sysprog_strict, padding_zeroed)
{
	memset(data, 0xee, sizeof(data));
	header(1);
	call(1, 2);
	a_buf("abc", 3);
	a_out(1);
	cr_assert_eq(parse(SYSPROG_STRICT), 0, "%s", err);
	static const uint8_t want[16] = { 'a', 'b', 'c' };
	cr_assert_arr_eq(data, want, 16, "the BUF, its padding, the OUT and its padding");
	cr_assert_eq(data[16], 0xee, "nothing past data_used");
}
