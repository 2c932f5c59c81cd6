/* jsonl.c - see jsonl.h. */
#include "jsonl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct p {
	const char *s;
	char *err;
	size_t errlen;
};

static int fail(struct p *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static void ws(struct p *p)
{
	while (*p->s == ' ' || *p->s == '\t')
		p->s++;
}

static int hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int string(struct p *p, char *out, size_t outlen)
{
	if (*p->s != '"')
		return fail(p, "expected '\"' at '%.10s'", p->s);
	p->s++;
	size_t n = 0;
	for (;;) {
		unsigned char c = (unsigned char)*p->s++;
		if (!c)
			return fail(p, "unterminated string");
		if (c < 0x20)
			return fail(p, "raw control character %#x in a string", c);
		if (c == '"')
			break;
		if (c == '\\') {
			char e = *p->s++;
			switch (e) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case '/': c = '/'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': {
				int v = 0;
				for (int i = 0; i < 4; i++) {
					int h = hex(*p->s++);
					if (h < 0)
						return fail(p, "bad \\u escape");
					v = v * 16 + h;
				}
				if (v >= 0x80)
					return fail(p, "\\u%04x: only ASCII escapes expected", v);
				c = (unsigned char)v;
				break;
			}
			default:
				return fail(p, "bad escape '\\%c'", e);
			}
		}
		if (n + 1 < outlen)
			out[n++] = (char)c;
	}
	out[n] = 0;
	return 0;
}

static int number(struct p *p, double *v)
{
	const char *s = p->s;
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return fail(p, "bad number at '%.10s'", p->s);
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return fail(p, "bad fraction at '%.10s'", p->s);
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return fail(p, "bad exponent at '%.10s'", p->s);
		while (*s >= '0' && *s <= '9')
			s++;
	}
	*v = strtod(p->s, NULL);
	p->s = s;
	return 0;
}

int jsonl_parse(const char *line, struct jobj *o, char *err, size_t errlen)
{
	struct p p = { line, err, errlen };
	memset(o, 0, sizeof(*o));
	ws(&p);
	if (*p.s++ != '{')
		return fail(&p, "a line must be one object");
	ws(&p);
	if (*p.s == '}') {
		p.s++;
	} else {
		for (;;) {
			if (o->n == sizeof(o->v) / sizeof(o->v[0]))
				return fail(&p, "too many keys");
			struct jv *v = &o->v[o->n];
			ws(&p);
			if (string(&p, v->key, sizeof(v->key)))
				return -1;
			if (jobj_get(o, v->key))
				return fail(&p, "key '%s' twice", v->key);
			ws(&p);
			if (*p.s++ != ':')
				return fail(&p, "expected ':' after '%s'", v->key);
			ws(&p);
			if (*p.s == '"') {
				v->type = JV_STRING;
				if (string(&p, v->str, sizeof(v->str)))
					return -1;
			} else if (!strncmp(p.s, "true", 4) || !strncmp(p.s, "false", 5)) {
				v->type = JV_BOOL;
				v->b = *p.s == 't';
				p.s += v->b ? 4 : 5;
			} else if (!strncmp(p.s, "null", 4)) {
				v->type = JV_NULL;
				p.s += 4;
			} else {
				v->type = JV_NUMBER;
				if (number(&p, &v->num))
					return -1;
			}
			o->n++;
			ws(&p);
			if (*p.s == ',') {
				p.s++;
				continue;
			}
			if (*p.s++ != '}')
				return fail(&p, "expected ',' or '}' after '%s'", v->key);
			break;
		}
	}
	ws(&p);
	if (*p.s == '\n')
		p.s++;
	if (*p.s)
		return fail(&p, "garbage after the object: '%.10s'", p.s);
	return 0;
}

const struct jv *jobj_get(const struct jobj *o, const char *key)
{
	for (unsigned i = 0; i < o->n; i++)
		if (!strcmp(o->v[i].key, key))
			return &o->v[i];
	return NULL;
}
