/*
 * sysprog_compile.c - the text form of a system-call program into its binary
 * form (abi/cowvm_sysprog.h). The grammar (docs/sysprog.md):
 *
 *   line   := [label '='] name '(' [arg {',' arg}] ')' [comment]  |  [comment]
 *   label  := 'r' N                 N must be this call's index (0-based)
 *   name   := a table name (sysprog_names.c) | 'syscall_' N
 *   arg    := int                   INT: decimal, -decimal, 0xHEX (64 bits)
 *           | '"' chars '"'         BUF: the bytes and a NUL appended; escapes
 *                                   \n \t \r \0 \\ \" \xHH (two hex digits)
 *           | 'x"' {HH | space} '"' BUF: exactly these bytes
 *           | 'out(' int ')'        OUT of that many bytes
 *           | 'r' N                 RES: call N's result, N < this index
 *   comment:= '#' to the end of the line
 *
 * Spaces and tabs may stand between tokens. Every limit of the binary
 * format is checked here with the line and column of the offending token.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "sysprog_text.h"

struct comp {
	const char *s;
	size_t len, pos;
	uint8_t *out;
	size_t cap, n;
	unsigned ncalls;
	size_t data_used;
	char *err;
	size_t errlen;
};

/* Records an error at text position pos ("LINE:COL: msg"); returns -EINVAL. */
static int fail(struct comp *c, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct comp *c, size_t pos, const char *fmt, ...)
{
	unsigned line = 1, col = 1;
	for (size_t i = 0; i < pos && i < c->len; i++) {
		if (c->s[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	if (c->err && c->errlen) {
		int k = snprintf(c->err, c->errlen, "%u:%u: ", line, col);
		if (k >= 0 && (size_t)k < c->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

static int peek(const struct comp *c)
{
	return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

static void skip_ws(struct comp *c)
{
	while (peek(c) == ' ' || peek(c) == '\t' || peek(c) == '\r')
		c->pos++;
}

static bool is_ident(int ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	       (!first && ch >= '0' && ch <= '9');
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int emit(struct comp *c, size_t pos, const void *b, size_t n)
{
	if (n > c->cap - c->n)
		return fail(c, pos, "program larger than the %zu-byte output", c->cap);
	memcpy(c->out + c->n, b, n);
	c->n += n;
	return 0;
}

static int emit_u16(struct comp *c, size_t pos, unsigned v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	return emit(c, pos, b, 2);
}

/* An integer at the cursor: decimal, -decimal or 0xHEX, into 64 bits. */
static int parse_int(struct comp *c, uint64_t *v)
{
	size_t start = c->pos;
	bool neg = false;
	if (peek(c) == '-') {
		neg = true;
		c->pos++;
	}
	uint64_t x = 0;
	size_t digits = 0;
	if (peek(c) == '0' && c->pos + 1 < c->len && (c->s[c->pos + 1] == 'x' || c->s[c->pos + 1] == 'X')) {
		c->pos += 2;
		for (int h; (h = hexval(peek(c))) >= 0; c->pos++, digits++) {
			if (x >> 60)
				return fail(c, start, "integer over 64 bits");
			x = x << 4 | (uint64_t)h;
		}
	} else {
		for (int ch; (ch = peek(c)) >= '0' && ch <= '9'; c->pos++, digits++) {
			uint64_t d = (uint64_t)(ch - '0');
			if (x > (UINT64_MAX - d) / 10)
				return fail(c, start, "integer over 64 bits");
			x = x * 10 + d;
		}
	}
	if (!digits)
		return fail(c, start, "expected a number");
	if (is_ident(peek(c), false))
		return fail(c, c->pos, "unexpected '%c' in a number", peek(c));
	if (neg) {
		if (x > (uint64_t)1 << 63)
			return fail(c, start, "negative integer below -2^63");
		x = (uint64_t)0 - x;
	}
	*v = x;
	return 0;
}

/* A decimal index (label or RES) at the cursor, after the 'r'. */
static int parse_index(struct comp *c, unsigned *idx)
{
	size_t start = c->pos;
	unsigned long v = 0;
	if (!(peek(c) >= '0' && peek(c) <= '9'))
		return fail(c, start, "expected a call index after 'r'");
	for (int ch; (ch = peek(c)) >= '0' && ch <= '9'; c->pos++) {
		v = v * 10 + (unsigned long)(ch - '0');
		if (v > 0xffff)
			return fail(c, start, "call index over 65535");
	}
	if (is_ident(peek(c), false))
		return fail(c, c->pos, "unexpected '%c' after a call index", peek(c));
	*idx = (unsigned)v;
	return 0;
}

/* Takes len bytes of the data area for a BUF/OUT at pos. */
static int take_data(struct comp *c, size_t pos, const char *kind, size_t len)
{
	if (len > SYSPROG_MAX_BUF)
		return fail(c, pos, "%s of %zu bytes over the limit %u", kind, len, SYSPROG_MAX_BUF);
	size_t take = (len + SYSPROG_DATA_ALIGN - 1) & ~(size_t)(SYSPROG_DATA_ALIGN - 1);
	if (take > SYSPROG_DATA_MAX - c->data_used)
		return fail(c, pos, "data area over %u bytes (needs %zu)", SYSPROG_DATA_MAX,
		            c->data_used + take);
	c->data_used += take;
	return 0;
}

/* "string" (C escapes, a NUL appended) or x"hex" into a BUF argument. */
static int parse_buf(struct comp *c, bool hex)
{
	size_t start = c->pos;
	c->pos += hex ? 2 : 1;
	uint8_t bytes[SYSPROG_MAX_BUF + 1];
	size_t n = 0;
	for (;;) {
		int ch = peek(c);
		if (ch < 0 || ch == '\n')
			return fail(c, start, "unterminated %s", hex ? "x\"hex\"" : "string");
		if (ch == '"') {
			c->pos++;
			break;
		}
		int b;
		if (hex) {
			if (ch == ' ' || ch == '\t') {
				c->pos++;
				continue;
			}
			int h1 = hexval(ch), h2 = hexval(c->pos + 1 < c->len ? (unsigned char)c->s[c->pos + 1] : -1);
			if (h1 < 0 || h2 < 0)
				return fail(c, c->pos, "expected two hex digits in x\"...\"");
			b = h1 << 4 | h2;
			c->pos += 2;
		} else if (ch == '\\') {
			size_t epos = c->pos;
			c->pos++;
			int e = peek(c);
			c->pos++;
			switch (e) {
			case 'n': b = '\n'; break;
			case 't': b = '\t'; break;
			case 'r': b = '\r'; break;
			case '0': b = 0; break;
			case '\\': b = '\\'; break;
			case '"': b = '"'; break;
			case 'x': {
				int h1 = hexval(peek(c));
				int h2 = hexval(c->pos + 1 < c->len ? (unsigned char)c->s[c->pos + 1] : -1);
				if (h1 < 0 || h2 < 0)
					return fail(c, epos, "\\x needs two hex digits");
				b = h1 << 4 | h2;
				c->pos += 2;
				break;
			}
			default:
				return fail(c, epos, "unknown escape '\\%c'", e > 0x20 && e < 0x7f ? e : '?');
			}
		} else {
			b = ch;
			c->pos++;
		}
		if (n == SYSPROG_MAX_BUF)
			return fail(c, start, "BUF of more than %u bytes", SYSPROG_MAX_BUF);
		bytes[n++] = (uint8_t)b;
	}
	if (!hex) {
		if (n == SYSPROG_MAX_BUF)
			return fail(c, start, "BUF of %u bytes (with the NUL) over the limit %u",
			            SYSPROG_MAX_BUF + 1, SYSPROG_MAX_BUF);
		bytes[n++] = 0;
	}
	int r = take_data(c, start, "BUF", n);
	uint8_t kind = SYSPROG_ARG_BUF;
	if (!r)
		r = emit(c, start, &kind, 1);
	if (!r)
		r = emit_u16(c, start, (unsigned)n);
	if (!r)
		r = emit(c, start, bytes, n);
	return r;
}

static int parse_arg(struct comp *c, unsigned ci)
{
	size_t start = c->pos;
	int ch = peek(c);
	int r;
	if (ch == '"')
		return parse_buf(c, false);
	if (ch == 'x' && c->pos + 1 < c->len && c->s[c->pos + 1] == '"')
		return parse_buf(c, true);
	if (ch == '-' || (ch >= '0' && ch <= '9')) {
		uint64_t v;
		if ((r = parse_int(c, &v)))
			return r;
		uint8_t b[1 + SYSPROG_INT_SIZE] = { SYSPROG_ARG_INT };
		for (unsigned i = 0; i < 8; i++)
			b[1 + i] = (uint8_t)(v >> (8 * i));
		return emit(c, start, b, sizeof(b));
	}
	if (ch == 'r' && c->pos + 1 < c->len && c->s[c->pos + 1] >= '0' && c->s[c->pos + 1] <= '9') {
		unsigned idx;
		c->pos++;
		if ((r = parse_index(c, &idx)))
			return r;
		if (idx >= ci)
			return fail(c, start, "r%u is not an earlier call (this is call %u)", idx, ci);
		uint8_t kind = SYSPROG_ARG_RES;
		if ((r = emit(c, start, &kind, 1)))
			return r;
		return emit_u16(c, start, idx);
	}
	if (c->len - c->pos >= 3 && !memcmp(c->s + c->pos, "out", 3)) {
		c->pos += 3;
		skip_ws(c);
		if (peek(c) != '(')
			return fail(c, c->pos, "expected '(' after out");
		c->pos++;
		skip_ws(c);
		size_t npos = c->pos;
		uint64_t v;
		if (peek(c) == '-')
			return fail(c, npos, "out() length must not be negative");
		if ((r = parse_int(c, &v)))
			return r;
		skip_ws(c);
		if (peek(c) != ')')
			return fail(c, c->pos, "expected ')' after the out() length");
		c->pos++;
		if (v > SYSPROG_MAX_BUF)
			return fail(c, npos, "OUT of %llu bytes over the limit %u", (unsigned long long)v,
			            SYSPROG_MAX_BUF);
		if ((r = take_data(c, npos, "OUT", (size_t)v)))
			return r;
		uint8_t kind = SYSPROG_ARG_OUT;
		if ((r = emit(c, start, &kind, 1)))
			return r;
		return emit_u16(c, start, (unsigned)v);
	}
	if (ch < 0 || ch == '\n')
		return fail(c, start, "expected an argument, found the end of the line");
	return fail(c, start, "expected an argument (number, \"string\", x\"hex\", out(N) or rN), found '%c'",
	            ch > 0x20 && ch < 0x7f ? ch : '?');
}

/* One call, the cursor at its name (after any label). */
static int parse_call(struct comp *c)
{
	size_t start = c->pos;
	unsigned ci = c->ncalls;
	if (ci >= SYSPROG_MAX_CALLS)
		return fail(c, start, "more than %u calls", SYSPROG_MAX_CALLS);
	while (is_ident(peek(c), c->pos == start))
		c->pos++;
	if (c->pos == start)
		return fail(c, start, "expected a system-call name");
	long nr = sysprog_name_nr(c->s + start, c->pos - start);
	if (nr < 0)
		return fail(c, start, "unknown system call '%.*s' (use syscall_N for a number)",
		            (int)(c->pos - start), c->s + start);
	skip_ws(c);
	if (peek(c) != '(')
		return fail(c, c->pos, "expected '(' after %.*s", (int)(c->pos - start), c->s + start);
	c->pos++;
	size_t rec = c->n;
	uint8_t head[SYSPROG_CALL_SIZE] = { (uint8_t)nr, (uint8_t)(nr >> 8), 0, 0 };
	int r = emit(c, start, head, sizeof(head));
	if (r)
		return r;
	unsigned nargs = 0;
	skip_ws(c);
	if (peek(c) != ')') {
		for (;;) {
			skip_ws(c);
			if (nargs == SYSPROG_MAX_ARGS)
				return fail(c, c->pos, "more than %u arguments", SYSPROG_MAX_ARGS);
			if ((r = parse_arg(c, ci)))
				return r;
			nargs++;
			skip_ws(c);
			if (peek(c) == ',') {
				c->pos++;
				continue;
			}
			if (peek(c) == ')')
				break;
			return fail(c, c->pos, "expected ',' or ')'");
		}
	}
	c->pos++; /* ')' */
	c->out[rec + 2] = (uint8_t)nargs;
	c->ncalls++;
	return 0;
}

/* One line: [label =] call [comment] | [comment]. */
static int parse_line(struct comp *c)
{
	skip_ws(c);
	int ch = peek(c);
	if (ch < 0 || ch == '\n' || ch == '#')
		goto eol;
	/* A label rN followed by '=' */
	if (ch == 'r' && c->pos + 1 < c->len && c->s[c->pos + 1] >= '0' && c->s[c->pos + 1] <= '9') {
		size_t lpos = c->pos, save = c->pos;
		unsigned idx;
		c->pos++;
		int r = parse_index(c, &idx);
		if (r)
			return r;
		skip_ws(c);
		if (peek(c) != '=')
			return fail(c, save, "expected 'rN =' (a label) or a system-call name");
		if (idx != c->ncalls)
			return fail(c, lpos, "label r%u on call %u (a label must be its call's index)", idx,
			            c->ncalls);
		c->pos++;
		skip_ws(c);
	}
	int r = parse_call(c);
	if (r)
		return r;
	skip_ws(c);
	ch = peek(c);
	if (ch >= 0 && ch != '\n' && ch != '#')
		return fail(c, c->pos, "unexpected '%c' after the call", ch > 0x20 && ch < 0x7f ? ch : '?');
eol:
	while (peek(c) >= 0 && peek(c) != '\n')
		c->pos++;
	if (peek(c) == '\n')
		c->pos++;
	return 0;
}

int sysprog_compile(const char *text, size_t len, uint8_t *out, size_t cap, size_t *outlen,
                    char *err, size_t errlen)
{
	struct comp c = { .s = text, .len = len, .out = out, .cap = cap, .err = err, .errlen = errlen };
	*outlen = 0;
	if (err && errlen)
		err[0] = '\0';
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\0')
			return fail(&c, i, "NUL byte in the text");
	uint8_t head[SYSPROG_HEADER_SIZE] = {
		(uint8_t)SYSPROG_MAGIC, (uint8_t)(SYSPROG_MAGIC >> 8), (uint8_t)(SYSPROG_MAGIC >> 16),
		(uint8_t)(SYSPROG_MAGIC >> 24), (uint8_t)SYSPROG_VERSION, (uint8_t)(SYSPROG_VERSION >> 8),
		0, 0 };
	int r = emit(&c, 0, head, sizeof(head));
	while (!r && c.pos < c.len)
		r = parse_line(&c);
	if (r)
		return r;
	out[6] = (uint8_t)c.ncalls;
	out[7] = (uint8_t)(c.ncalls >> 8);
	*outlen = c.n;
	return 0;
}
