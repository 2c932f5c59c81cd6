/* json.c - JSON lines (see json.h). */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

size_t json_escape(const char *s, char *out, size_t outlen)
{
	size_t n = 0;
	char buf[8];
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const char *rep = NULL;
		switch (*p) {
		case '"': rep = "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '\b': rep = "\\b"; break;
		case '\f': rep = "\\f"; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(buf, sizeof(buf), "\\u%04x", *p);
				rep = buf;
			}
		}
		char one[2] = { (char)*p, 0 };
		if (!rep)
			rep = one;
		for (const char *r = rep; *r; r++, n++)
			if (n + 1 < outlen)
				out[n] = *r;
	}
	if (outlen)
		out[n < outlen ? n : outlen - 1] = 0;
	return n;
}

static void put_string(FILE *f, const char *s)
{
	char small[256];
	size_t need = json_escape(s, small, sizeof(small));
	if (need < sizeof(small)) {
		fprintf(f, "\"%s\"", small);
		return;
	}
	fputc('"', f);
	for (const char *p = s; *p; p++) {
		char one[2] = { *p, 0 }, esc[8];
		json_escape(one, esc, sizeof(esc));
		fputs(esc, f);
	}
	fputc('"', f);
}

static void key(struct jw *w, const char *k)
{
	if (w->nkeys++)
		fputc(',', w->f);
	put_string(w->f, k);
	fputc(':', w->f);
}

void jw_begin(struct jw *w, FILE *f)
{
	w->f = f;
	w->nkeys = 0;
	fputc('{', f);
}

void jw_str(struct jw *w, const char *k, const char *v)
{
	key(w, k);
	if (v)
		put_string(w->f, v);
	else
		fputs("null", w->f);
}

void jw_num(struct jw *w, const char *k, double v)
{
	key(w, k);
	if (!isfinite(v))
		fputs("null", w->f);
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		fprintf(w->f, "%.0f", v);
	else
		fprintf(w->f, "%.9g", v);
}

void jw_u64(struct jw *w, const char *k, uint64_t v)
{
	key(w, k);
	fprintf(w->f, "%" PRIu64, v);
}

void jw_bool(struct jw *w, const char *k, bool v)
{
	key(w, k);
	fputs(v ? "true" : "false", w->f);
}

void jw_null(struct jw *w, const char *k)
{
	key(w, k);
	fputs("null", w->f);
}

void jw_end(struct jw *w)
{
	fputs("}\n", w->f);
}
