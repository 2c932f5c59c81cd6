/*
 * sysprog.c - sysprog_parse: a binary system-call program
 * (abi/cowvm_sysprog.h) into struct sysprog and its data area, in STRICT
 * or LENIENT mode (guest-agent/sysprog.h). Pure: no malloc, no I/O.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sysprog.h"

struct cursor {
	const uint8_t *buf;
	size_t len, off;
};

static size_t left(const struct cursor *c)
{
	return c->len - c->off;
}

static uint16_t get_u16(struct cursor *c)
{
	uint16_t v = (uint16_t)(c->buf[c->off] | c->buf[c->off + 1] << 8);
	c->off += 2;
	return v;
}

static uint64_t get_u64(struct cursor *c)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)c->buf[c->off + i] << (8 * i);
	c->off += 8;
	return v;
}

static void say(char *err, size_t errlen, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void say(char *err, size_t errlen, size_t off, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	int n = snprintf(err, errlen, "offset %zu: ", off);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static const char *const kind_name[SYSPROG_ARG_KINDS] = { "INT", "BUF", "OUT", "RES" };

/* One argument of call ci at the cursor. 0, or -EBADMSG with the reason. */
static int parse_arg(struct cursor *c, struct sysprog *p, unsigned ci, unsigned ai,
                     struct sysprog_arg *a, char *err, size_t errlen)
{
	if (left(c) < 1) {
		say(err, errlen, c->off, "call %u arg %u: truncated (no kind byte)", ci, ai);
		return -EBADMSG;
	}
	size_t koff = c->off;
	uint8_t kind = c->buf[c->off++];
	if (kind >= SYSPROG_ARG_KINDS) {
		say(err, errlen, koff, "call %u arg %u: unknown kind %u", ci, ai, kind);
		return -EBADMSG;
	}
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	size_t need = kind == SYSPROG_ARG_INT ? SYSPROG_INT_SIZE : SYSPROG_U16_SIZE;
	if (left(c) < need) {
		say(err, errlen, c->off, "call %u arg %u: %s payload truncated (needs %zu bytes, %zu left)",
		    ci, ai, kind_name[kind], need, left(c));
		return -EBADMSG;
	}
	size_t foff = c->off;
	if (kind == SYSPROG_ARG_INT) {
		a->val = get_u64(c);
		return 0;
	}
	uint16_t v = get_u16(c);
	if (kind == SYSPROG_ARG_RES) {
		if (v >= ci) {
			say(err, errlen, foff, "call %u arg %u: RES index %u is not an earlier call",
			    ci, ai, v);
			return -EBADMSG;
		}
		a->val = v;
		return 0;
	}
	if (v > SYSPROG_MAX_BUF) {
		say(err, errlen, foff, "call %u arg %u: %s len %u over the limit %u", ci, ai,
		    kind_name[kind], v, SYSPROG_MAX_BUF);
		return -EBADMSG;
	}
	if (kind == SYSPROG_ARG_BUF && left(c) < v) {
		say(err, errlen, c->off, "call %u arg %u: BUF of %u bytes past the end (%zu left)", ci,
		    ai, v, left(c));
		return -EBADMSG;
	}
	size_t take = ((size_t)v + SYSPROG_DATA_ALIGN - 1) & ~(size_t)(SYSPROG_DATA_ALIGN - 1);
	if (take > SYSPROG_DATA_MAX - p->data_used) {
		say(err, errlen, foff, "call %u arg %u: data area over %u bytes (needs %zu)", ci, ai,
		    SYSPROG_DATA_MAX, p->data_used + take);
		return -EBADMSG;
	}
	a->len = v;
	a->off = (uint32_t)p->data_used;
	if (kind == SYSPROG_ARG_BUF) {
		memcpy(p->data + a->off, c->buf + c->off, v);
		c->off += v;
	} else {
		memset(p->data + a->off, 0, v);
	}
	/* The alignment padding is zeroed too: a call that reads past its
	 * buffer (a path without its NUL) sees the same bytes every run. */
	memset(p->data + a->off + v, 0, take - v);
	p->data_used += take;
	return 0;
}

/* Call record ci at the cursor into p->calls[ci]. 0 or -EBADMSG. */
static int parse_call(struct cursor *c, struct sysprog *p, unsigned ci, char *err, size_t errlen)
{
	struct sysprog_call *call = &p->calls[ci];
	memset(call, 0, sizeof(*call));
	call->pos = (uint32_t)c->off;
	if (left(c) < SYSPROG_CALL_SIZE) {
		say(err, errlen, c->off, "call %u: record truncated (%zu of %u header bytes)", ci,
		    left(c), SYSPROG_CALL_SIZE);
		return -EBADMSG;
	}
	call->nr = get_u16(c);
	call->nargs = c->buf[c->off];
	call->flags = c->buf[c->off + 1];
	if (call->nargs > SYSPROG_MAX_ARGS) {
		say(err, errlen, c->off, "call %u: nargs %u over the limit %u", ci, call->nargs,
		    SYSPROG_MAX_ARGS);
		return -EBADMSG;
	}
	if (call->flags != 0) {
		say(err, errlen, c->off + 1, "call %u: flags 0x%02x not 0", ci, call->flags);
		return -EBADMSG;
	}
	c->off += 2;
	for (unsigned ai = 0; ai < call->nargs; ai++) {
		int r = parse_arg(c, p, ci, ai, &call->args[ai], err, errlen);
		if (r)
			return r;
	}
	return 0;
}

int sysprog_parse(const uint8_t *buf, size_t len, enum sysprog_mode mode, struct sysprog *p,
                  uint8_t *data, char *err, size_t errlen)
{
	bool strict = mode != SYSPROG_LENIENT;
	struct cursor c = { .buf = buf, .len = buf ? len : 0, .off = 0 };
	p->ncalls = 0;
	p->declared = 0;
	p->used = 0;
	p->data_used = 0;
	p->data = data;
	if (err && errlen)
		err[0] = '\0';

	if (left(&c) < SYSPROG_HEADER_SIZE) {
		say(err, errlen, 0, "header truncated (%zu of %u bytes)", left(&c), SYSPROG_HEADER_SIZE);
		return -EBADMSG;
	}
	uint32_t magic = (uint32_t)get_u16(&c);
	magic |= (uint32_t)get_u16(&c) << 16;
	if (magic != SYSPROG_MAGIC) {
		say(err, errlen, 0, "bad magic 0x%08x (expected 0x%08x \"CSYS\")", magic, SYSPROG_MAGIC);
		return -EBADMSG;
	}
	uint16_t version = get_u16(&c);
	if (version != SYSPROG_VERSION) {
		say(err, errlen, 4, "unsupported version %u (expected %u)", version, SYSPROG_VERSION);
		return -EPROTO;
	}
	p->declared = get_u16(&c);
	unsigned n = p->declared;
	if (n > SYSPROG_MAX_CALLS) {
		say(err, errlen, 6, "ncalls %u over the limit %u", n, SYSPROG_MAX_CALLS);
		if (strict)
			return -EBADMSG;
		n = SYSPROG_MAX_CALLS;
	}
	p->used = c.off;
	for (unsigned ci = 0; ci < n; ci++) {
		size_t data_before = p->data_used;
		int r = parse_call(&c, p, ci, err, errlen);
		if (r) {
			p->data_used = data_before;
			if (strict) {
				p->ncalls = 0;
				return r;
			}
			return 0;
		}
		p->ncalls = ci + 1;
		p->used = c.off;
	}
	if (strict && left(&c)) {
		if (n)
			say(err, errlen, c.off, "%zu trailing bytes after call %u", left(&c), n - 1);
		else
			say(err, errlen, c.off, "%zu trailing bytes after the header", left(&c));
		p->ncalls = 0;
		return -EBADMSG;
	}
	return 0;
}
