/*
 * fuzz_sysprog.c - fuzz harness for the system-call program parser and
 * executor (guest-agent/sysprog.c, sysprog_exec.c) and cowvm-prog's printer
 * and compiler (tools/sysprog/): the input is a binary program, as AFL's
 * mutations hand it to the guest agent.
 *
 * The input is copied to an exact-size buffer (ASan sees any read past it);
 * the two data areas start with different stale bytes.
 *
 * Properties:
 *   LENIENT: 0, or -EBADMSG/-EPROTO only for a bad header, with no calls.
 *     At most 64 calls of at most 6 args; every BUF/OUT lies in the data
 *     used (<= 64 KiB, 8-byte aligned); every RES names an earlier call;
 *     `used` bytes hold exactly the parsed records, and strict parsing of
 *     those bytes (ncalls patched to the prefix) gives the same program.
 *   STRICT: succeeds exactly when LENIENT parsed every declared call and
 *     nothing trails; then print -> compile gives the input back byte for
 *     byte.
 *   run (a mock call): each call either reaches the mock with the
 *     arguments sysprog_args gives (pointers into the data area) and
 *     passes sysprog_check, or is refused with -EPERM; RES passes results.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "sysprog.h"
#include "sysprog_text.h"

static struct sysprog lp, sp;
static uint8_t ldata[SYSPROG_DATA_MAX], sdata[SYSPROG_DATA_MAX];
static uint8_t bin[SYSPROG_BIN_MAX];

struct mock {
	const struct sysprog *p;
	int64_t *results;
	unsigned calls;
};

static long mock_call(void *ctx, long nr, const long args[6])
{
	struct mock *m = ctx;
	FUZZ_CHECK(!sysprog_check(nr, args, 900), "nr %ld reached the call", nr);
	/* The call being run is the first whose result is still unset. */
	unsigned i = 0;
	while (i < m->p->ncalls && m->results[i] != INT64_MIN)
		i++;
	FUZZ_CHECK(i < m->p->ncalls, "more calls than the program has");
	FUZZ_CHECK(m->p->calls[i].nr == nr, "call %u: nr %ld", i, nr);
	long want[6];
	sysprog_args(m->p, i, m->results, want);
	FUZZ_CHECK(!memcmp(want, args, sizeof(want)), "call %u: arguments", i);
	for (unsigned a = 0; a < m->p->calls[i].nargs; a++) {
		const struct sysprog_arg *x = &m->p->calls[i].args[a];
		if (x->kind == SYSPROG_ARG_BUF || x->kind == SYSPROG_ARG_OUT) {
			const uint8_t *ptr = (const uint8_t *)(uintptr_t)args[a];
			FUZZ_CHECK(ptr >= m->p->data && ptr + x->len <= m->p->data + SYSPROG_DATA_MAX,
			           "call %u arg %u outside the data area", i, a);
		}
	}
	m->calls++;
	return (long)(i * 7 + 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *in = malloc(size ? size : 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	char err[256];
	/* Different stale bytes in the two data areas: what the parser leaves
	 * unwritten inside data_used shows up as a difference below. */
	memset(ldata, 0xa5, sizeof(ldata));
	memset(sdata, 0x5a, sizeof(sdata));

	int lr = sysprog_parse(in, size, SYSPROG_LENIENT, &lp, ldata, err, sizeof(err));
	FUZZ_CHECK(lr == 0 || lr == -EBADMSG || lr == -EPROTO, "lenient returned %d", lr);
	FUZZ_CHECK(lr == 0 || lp.ncalls == 0, "an error with calls");
	FUZZ_CHECK(lr == 0 || size < SYSPROG_HEADER_SIZE || memcmp(in, "CSYS\x01\x00", 6),
	           "lenient refused a good header: %s", err);
	FUZZ_CHECK(lp.ncalls <= SYSPROG_MAX_CALLS && lp.used <= size, "bounds");
	FUZZ_CHECK(lp.data_used <= SYSPROG_DATA_MAX && lp.data_used % SYSPROG_DATA_ALIGN == 0, "data");
	for (unsigned i = 0; i < lp.ncalls; i++) {
		const struct sysprog_call *c = &lp.calls[i];
		FUZZ_CHECK(c->nargs <= SYSPROG_MAX_ARGS && c->flags == 0, "call %u", i);
		for (unsigned a = 0; a < c->nargs; a++) {
			const struct sysprog_arg *x = &c->args[a];
			if (x->kind == SYSPROG_ARG_BUF || x->kind == SYSPROG_ARG_OUT) {
				FUZZ_CHECK(x->len <= SYSPROG_MAX_BUF && x->off % SYSPROG_DATA_ALIGN == 0 &&
				           x->off + x->len <= lp.data_used, "call %u arg %u", i, a);
				for (unsigned k = 0; x->kind == SYSPROG_ARG_OUT && k < x->len; k++)
					FUZZ_CHECK(ldata[x->off + k] == 0, "OUT not zeroed");
			} else if (x->kind == SYSPROG_ARG_RES) {
				FUZZ_CHECK(x->val < i, "RES %llu in call %u", (unsigned long long)x->val, i);
			} else {
				FUZZ_CHECK(x->kind == SYSPROG_ARG_INT, "kind %u", x->kind);
			}
		}
	}

	/* The parsed prefix alone, with its own ncalls, is a strict program. */
	if (lr == 0) {
		memcpy(bin, in, lp.used);
		bin[6] = (uint8_t)lp.ncalls;
		bin[7] = (uint8_t)(lp.ncalls >> 8);
		int r = sysprog_parse(bin, lp.used, SYSPROG_STRICT, &sp, sdata, err, sizeof(err));
		FUZZ_CHECK(r == 0, "prefix refused: %s", err);
		FUZZ_CHECK(sp.ncalls == lp.ncalls && sp.data_used == lp.data_used &&
		           !memcmp(sp.calls, lp.calls, lp.ncalls * sizeof(lp.calls[0])) &&
		           !memcmp(sdata, ldata, lp.data_used), "prefix parses differently");
	}

	int sr = sysprog_parse(in, size, SYSPROG_STRICT, &sp, sdata, err, sizeof(err));
	bool whole = lr == 0 && lp.ncalls == lp.declared && lp.used == size;
	FUZZ_CHECK((sr == 0) == whole, "strict %d, lenient %u of %u calls, %zu of %zu bytes: %s", sr,
	           lp.ncalls, lp.declared, lp.used, size, err);
	FUZZ_CHECK(sr == 0 || err[0], "an error without a message");
	if (sr == 0) {
		char *text = NULL;
		size_t tlen = 0;
		FILE *f = open_memstream(&text, &tlen);
		FUZZ_CHECK(f, "open_memstream");
		FUZZ_CHECK(sysprog_print(&sp, f) == 0, "print");
		fclose(f);
		size_t n;
		int r = sysprog_compile(text, tlen, bin, sizeof(bin), &n, err, sizeof(err));
		FUZZ_CHECK(r == 0, "printed text refused: %s\n%s", err, text);
		FUZZ_CHECK(n == size && !memcmp(bin, in, size), "compile(print(x)) != x:\n%s", text);
		free(text);
	}

	/* Run the lenient program over the mock. */
	int64_t results[SYSPROG_MAX_CALLS];
	for (unsigned i = 0; i < SYSPROG_MAX_CALLS; i++)
		results[i] = INT64_MIN;
	struct mock m = { .p = &lp, .results = results };
	struct sysprog_sys sys = { mock_call, &m, 900 };
	int ran = sysprog_run(&lp, &sys, results);
	FUZZ_CHECK(ran >= 0 && (unsigned)ran == m.calls && (unsigned)ran <= lp.ncalls, "ran %d", ran);
	for (unsigned i = 0; i < lp.ncalls; i++)
		FUZZ_CHECK(results[i] == -EPERM || results[i] == (int64_t)(i * 7 + 3), "result %u", i);
	free(in);
	return 0;
}
