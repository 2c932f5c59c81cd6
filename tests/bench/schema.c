/* schema.c - see schema.h. */
#include "schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int bad(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

static const struct jv *want(const struct jobj *o, const char *k, enum jv_type t)
{
	const struct jv *v = jobj_get(o, k);
	return v && v->type == t ? v : NULL;
}

static int in(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return 1;
	return 0;
}

int bench_schema_check(const struct jobj *o, char *err, size_t n)
{
	const struct jv *suite = want(o, "suite", JV_STRING), *kind = want(o, "kind", JV_STRING);
	if (!suite || !kind)
		return bad(err, n, "no string \"suite\" and \"kind\"");
	const char *k = kind->str, *s = suite->str;
	if (!strcmp(k, "env")) {
		if (strcmp(s, "env"))
			return bad(err, n, "env line with suite '%s'", s);
		if (!want(o, "seconds", JV_NUMBER) || !want(o, "mode", JV_STRING) || !want(o, "repeat", JV_NUMBER))
			return bad(err, n, "env line lacks seconds/mode/repeat");
		return 0;
	}
	if (!strcmp(k, "ratio")) {
		const struct jv *name = want(o, "name", JV_STRING), *v = jobj_get(o, "value");
		if (!name || !v || (v->type != JV_NUMBER && v->type != JV_NULL))
			return bad(err, n, "ratio without name or value");
		if (jobj_get(o, "target") && (!want(o, "target", JV_STRING) || !want(o, "met", JV_BOOL)))
			return bad(err, n, "ratio '%s': a target needs a boolean met", name->str);
		return 0;
	}
	static const char *const lat_suites[] = { "clone", "fault", "reset", NULL };
	const struct jv *method = want(o, "method", JV_STRING), *size = want(o, "size", JV_NUMBER),
	                *cnt = want(o, "n", JV_NUMBER);
	if (!strcmp(k, "slope")) {
		const struct jv *pts = want(o, "points", JV_NUMBER);
		if (strcmp(s, "clone") || !method || !want(o, "slope_us_per_gib", JV_NUMBER) || !pts || pts->num < 2)
			return bad(err, n, "bad slope line");
		return 0;
	}
	if (!method || !method->str[0] || !size || size->num <= 0 || !cnt || cnt->num < 0 ||
	    cnt->num != floor(cnt->num))
		return bad(err, n, "%s line without method, size > 0 or a whole n", k);
	if (!strcmp(k, "memory")) {
		if (strcmp(s, "memory"))
			return bad(err, n, "memory line in suite '%s'", s);
		const struct jv *rss = want(o, "rss_bytes", JV_NUMBER), *tb = want(o, "table_bytes", JV_NUMBER);
		if (cnt->num != 1 || !want(o, "state", JV_STRING) || !rss || rss->num < 0 || !tb || tb->num < 0)
			return bad(err, n, "memory line '%s': needs n 1, state, rss_bytes, table_bytes", method->str);
		return 0;
	}
	if (strcmp(k, "latency"))
		return bad(err, n, "unknown kind '%s'", k);
	if (!in(s, lat_suites))
		return bad(err, n, "latency line in suite '%s'", s);
	static const char *const st[] = { "median_us", "p99_us", "min_us", "max_us", "mean_us" };
	if (cnt->num == 0) {
		const struct jv *na = want(o, "unavailable", JV_STRING);
		if (!na || !na->str[0])
			return bad(err, n, "'%s': n 0 without a reason in \"unavailable\"", method->str);
		for (unsigned i = 0; i < 5; i++)
			if (!want(o, st[i], JV_NULL))
				return bad(err, n, "'%s': n 0 but %s is not null", method->str, st[i]);
		return 0;
	}
	double v[5];
	for (unsigned i = 0; i < 5; i++) {
		const struct jv *x = want(o, st[i], JV_NUMBER);
		if (!x || x->num < 0)
			return bad(err, n, "'%s': %s missing or negative", method->str, st[i]);
		v[i] = x->num;
	}
	/* min <= median <= p99 <= max, min <= mean <= max (printed with 9 digits) */
	double eps = 1e-6 * (v[3] > 1 ? v[3] : 1);
	if (v[2] > v[0] + eps || v[0] > v[1] + eps || v[1] > v[3] + eps || v[4] < v[2] - eps || v[4] > v[3] + eps)
		return bad(err, n, "'%s': statistics out of order (min %g median %g p99 %g max %g mean %g)",
		           method->str, v[2], v[0], v[1], v[3], v[4]);
	if (jobj_get(o, "unavailable"))
		return bad(err, n, "'%s': unavailable with n > 0", method->str);
	return 0;
}
