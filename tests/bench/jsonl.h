/*
 * jsonl.h - a strict parser for the flat JSON objects `cowvm bench` writes
 * (one per line): string, number, true/false and null values, no nesting.
 * For the tests only: it checks the syntax of RFC 8259 for that subset
 * (escapes, number grammar, no trailing garbage) and gives the values back.
 */
#ifndef COWBENCH_TEST_JSONL_H
#define COWBENCH_TEST_JSONL_H

#include <stdbool.h>
#include <stddef.h>

enum jv_type { JV_STRING, JV_NUMBER, JV_BOOL, JV_NULL };

struct jv {
	char key[64];
	enum jv_type type;
	char str[512];  /* JV_STRING, unescaped (\uXXXX below 0x80 only) */
	double num;     /* JV_NUMBER */
	bool b;         /* JV_BOOL */
};

struct jobj {
	struct jv v[48];
	unsigned n;
};

/* Parse one line (trailing newline allowed). 0, or -1 with a reason in err. */
int jsonl_parse(const char *line, struct jobj *o, char *err, size_t errlen);
/* The value of key, or NULL. */
const struct jv *jobj_get(const struct jobj *o, const char *key);

#endif
