/*
 * sysprog_print.c - the text form (tools/sysprog/sysprog_compile.c's
 * grammar) of a parsed system-call program, written so that compiling it
 * gives the same bytes: every call labelled rN; INT in decimal when it is
 * in -4096..65535 (errno-like and small values), else 0x hex of the 64
 * bits; a BUF that ends in a NUL as a "string" (the NUL dropped, other
 * bytes escaped unless printable ASCII), any other BUF as x"hex".
 */
#include <errno.h>
#include <inttypes.h>

#include "sysprog_text.h"

static void print_int(FILE *f, uint64_t v)
{
	int64_t s = (int64_t)v;
	if (s >= -4096 && s <= 65535)
		fprintf(f, "%" PRId64, s);
	else
		fprintf(f, "0x%" PRIx64, v);
}

static void print_buf(FILE *f, const uint8_t *b, size_t n)
{
	if (n && b[n - 1] == 0) {
		fputc('"', f);
		for (size_t i = 0; i + 1 < n; i++) {
			uint8_t ch = b[i];
			switch (ch) {
			case '\n': fputs("\\n", f); break;
			case '\t': fputs("\\t", f); break;
			case '\r': fputs("\\r", f); break;
			case '\\': fputs("\\\\", f); break;
			case '"': fputs("\\\"", f); break;
			default:
				if (ch >= 0x20 && ch < 0x7f)
					fputc(ch, f);
				else
					fprintf(f, "\\x%02x", ch);
			}
		}
		fputc('"', f);
		return;
	}
	fputs("x\"", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
	fputc('"', f);
}

int sysprog_print(const struct sysprog *p, FILE *f)
{
	for (unsigned i = 0; i < p->ncalls; i++) {
		const struct sysprog_call *c = &p->calls[i];
		const char *name = sysprog_nr_name(c->nr);
		fprintf(f, "r%u = ", i);
		if (name)
			fputs(name, f);
		else
			fprintf(f, "syscall_%u", c->nr);
		fputc('(', f);
		for (unsigned a = 0; a < c->nargs; a++) {
			const struct sysprog_arg *x = &c->args[a];
			if (a)
				fputs(", ", f);
			switch (x->kind) {
			case SYSPROG_ARG_INT: print_int(f, x->val); break;
			case SYSPROG_ARG_BUF: print_buf(f, p->data + x->off, x->len); break;
			case SYSPROG_ARG_OUT: fprintf(f, "out(%u)", x->len); break;
			case SYSPROG_ARG_RES: fprintf(f, "r%u", (unsigned)x->val); break;
			}
		}
		fputs(")\n", f);
	}
	return ferror(f) ? -EIO : 0;
}
