/*
 * json.h - the JSON-lines writer of `cowvm bench`: one object per line,
 * keys in the order written, strings escaped per RFC 8259 (quote, backslash
 * and control characters; other bytes, UTF-8 included, pass through),
 * non-finite numbers written as null. Unit-tested in tests/bench.
 */
#ifndef COWBENCH_JSON_H
#define COWBENCH_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct jw {
	FILE *f;
	unsigned nkeys; /* keys written in the open object */
};

/* Escape s into out (at most outlen bytes with the NUL, outlen > 0),
 * without the surrounding quotes. Returns the length the full escape needs
 * (like snprintf): out was truncated if the return value >= outlen. */
size_t json_escape(const char *s, char *out, size_t outlen);

void jw_begin(struct jw *w, FILE *f);          /* "{" */
void jw_str(struct jw *w, const char *key, const char *v); /* NULL v: null */
void jw_num(struct jw *w, const char *key, double v);      /* NaN/inf: null */
void jw_u64(struct jw *w, const char *key, uint64_t v);
void jw_bool(struct jw *w, const char *key, bool v);
void jw_null(struct jw *w, const char *key);
void jw_end(struct jw *w);                      /* "}\n" */

#endif
