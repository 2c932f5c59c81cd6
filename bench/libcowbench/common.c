/* common.c - timing, progress, the result store, JSON lines (bench_int.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_int.h"
#include "json.h"

double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

void bprogress(struct bctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "[%7.1f s] ", (now_us() - c->t0_us) / 1e6);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void bdie(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fflush(stdout);
	fprintf(stderr, "cowvm bench: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(204);
}

const char *size_name(uint64_t b, char *buf, size_t n)
{
	if (b >= GiB && b % GiB == 0)
		snprintf(buf, n, "%lluG", (unsigned long long)(b / GiB));
	else
		snprintf(buf, n, "%lluM", (unsigned long long)(b / MiB));
	return buf;
}

unsigned reps_cheap(const struct bctx *c)
{
	return c->o->repeat;
}

unsigned reps_costly(const struct bctx *c, uint64_t bytes)
{
	unsigned r = c->o->repeat;
	double scaled = (double)r * (double)(256 * MiB) / (double)(bytes ? bytes : 1);
	unsigned n = scaled >= r ? r : (unsigned)scaled;
	if (n < 3)
		n = 3;
	return n < r ? n : r;
}

/* ---- result store ------------------------------------------------------------ */

static struct brow *new_row(struct bctx *c, const char *suite, const char *kind, const char *method,
                            uint64_t size)
{
	struct bres *r = &c->res;
	if (r->nrows == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct brow *v = realloc(r->rows, cap * sizeof(*v));
		if (!v)
			bdie("out of memory for results");
		r->rows = v;
		r->cap = cap;
	}
	struct brow *w = &r->rows[r->nrows++];
	memset(w, 0, sizeof(*w));
	snprintf(w->suite, sizeof(w->suite), "%s", suite);
	snprintf(w->kind, sizeof(w->kind), "%s", kind);
	snprintf(w->method, sizeof(w->method), "%s", method);
	w->size = size;
	return w;
}

struct brow *res_latency(struct bctx *c, const char *suite, const char *method, uint64_t size,
                         const struct bsamples *s)
{
	struct brow *w = new_row(c, suite, "latency", method, size);
	w->st = bs_stat(s);
	return w;
}

struct brow *res_na(struct bctx *c, const char *suite, const char *method, uint64_t size, const char *why)
{
	struct brow *w = new_row(c, suite, "latency", method, size);
	snprintf(w->na, sizeof(w->na), "%s", why && *why ? why : "unavailable");
	return w;
}

struct brow *res_memory(struct bctx *c, const char *suite, const char *method, uint64_t size)
{
	struct brow *w = new_row(c, suite, "memory", method, size);
	w->st.n = 1;
	return w;
}

void row_param(struct brow *r, const char *key, double v, const char *str)
{
	snprintf(r->pkey, sizeof(r->pkey), "%s", key);
	r->pval = v;
	snprintf(r->pstr, sizeof(r->pstr), "%s", str ? str : "");
}

void row_extra(struct brow *r, const char *key, double v)
{
	if (r->nextra == ROW_MAX_EXTRA)
		return;
	snprintf(r->extra[r->nextra].k, sizeof(r->extra[0].k), "%s", key);
	r->extra[r->nextra++].v = v;
}

double row_extra_get(const struct brow *r, const char *key)
{
	for (unsigned i = 0; i < r->nextra; i++)
		if (!strcmp(r->extra[i].k, key))
			return r->extra[i].v;
	return NAN;
}

const struct brow *res_find(const struct bctx *c, const char *suite, const char *method, uint64_t size,
                            double pval, const char *pstr)
{
	for (size_t i = 0; i < c->res.nrows; i++) {
		const struct brow *r = &c->res.rows[i];
		if (!strcmp(r->suite, suite) && !strcmp(r->method, method) && r->size == size && r->pval == pval &&
		    (!pstr || !strcmp(r->pstr, pstr)))
			return r->na[0] || !r->st.n ? NULL : r;
	}
	return NULL;
}

void res_ratio(struct bctx *c, const char *suite, const char *name, double value, const char *target, int met)
{
	struct bres *r = &c->res;
	if (r->nratios == sizeof(r->ratios) / sizeof(r->ratios[0]))
		return;
	struct bratio *q = &r->ratios[r->nratios++];
	snprintf(q->suite, sizeof(q->suite), "%s", suite);
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->value = value;
	snprintf(q->target, sizeof(q->target), "%s", target ? target : "");
	q->met = target ? met : -1;
}

void res_slope(struct bctx *c, const char *method, double slope, double intercept, double r2, unsigned n)
{
	struct bres *r = &c->res;
	if (r->nslopes == sizeof(r->slopes) / sizeof(r->slopes[0]))
		return;
	struct bslope *s = &r->slopes[r->nslopes++];
	snprintf(s->method, sizeof(s->method), "%s", method);
	s->slope = slope;
	s->intercept = intercept;
	s->r2 = r2;
	s->npoints = n;
}

void res_write_json(const struct bctx *c, FILE *f)
{
	struct jw w;
	for (size_t i = 0; i < c->res.nrows; i++) {
		const struct brow *r = &c->res.rows[i];
		jw_begin(&w, f);
		jw_str(&w, "suite", r->suite);
		jw_str(&w, "kind", r->kind);
		jw_str(&w, "method", r->method);
		jw_u64(&w, "size", r->size);
		if (r->pkey[0]) {
			if (r->pstr[0])
				jw_str(&w, r->pkey, r->pstr);
			else
				jw_num(&w, r->pkey, r->pval);
		}
		jw_u64(&w, "n", r->na[0] ? 0 : r->st.n);
		if (!strcmp(r->kind, "latency")) {
			bool ok = !r->na[0] && r->st.n;
			jw_num(&w, "median_us", ok ? r->st.median : NAN);
			jw_num(&w, "p99_us", ok ? r->st.p99 : NAN);
			jw_num(&w, "min_us", ok ? r->st.min : NAN);
			jw_num(&w, "max_us", ok ? r->st.max : NAN);
			jw_num(&w, "mean_us", ok ? r->st.mean : NAN);
		}
		for (unsigned k = 0; k < r->nextra; k++)
			jw_num(&w, r->extra[k].k, r->extra[k].v);
		if (r->na[0])
			jw_str(&w, "unavailable", r->na);
		jw_end(&w);
	}
	for (unsigned i = 0; i < c->res.nslopes; i++) {
		const struct bslope *s = &c->res.slopes[i];
		jw_begin(&w, f);
		jw_str(&w, "suite", "clone");
		jw_str(&w, "kind", "slope");
		jw_str(&w, "method", s->method);
		jw_num(&w, "slope_us_per_gib", s->slope);
		jw_num(&w, "intercept_us", s->intercept);
		jw_num(&w, "r2", s->r2);
		jw_u64(&w, "points", s->npoints);
		jw_end(&w);
	}
	for (unsigned i = 0; i < c->res.nratios; i++) {
		const struct bratio *q = &c->res.ratios[i];
		jw_begin(&w, f);
		jw_str(&w, "suite", q->suite);
		jw_str(&w, "kind", "ratio");
		jw_str(&w, "name", q->name);
		jw_num(&w, "value", q->value);
		if (q->met >= 0) {
			jw_str(&w, "target", q->target);
			jw_bool(&w, "met", q->met);
		}
		jw_end(&w);
	}
}

void res_free(struct bres *r)
{
	free(r->rows);
	memset(r, 0, sizeof(*r));
}

/* ---- table cells -------------------------------------------------------------- */

void print_us(double us)
{
	if (!isfinite(us))
		printf(" %9s", "-");
	else if (us >= 1e6)
		printf(" %8.2fs", us / 1e6);
	else if (us >= 1e4)
		printf(" %7.1fms", us / 1e3);
	else if (us >= 10)
		printf(" %7.1fus", us);
	else
		printf(" %7.3fus", us);
}

void print_cell_ratio(double r)
{
	if (!isfinite(r))
		printf(" %9s", "-");
	else if (r >= 1000)
		printf(" %8.0fx", r);
	else if (r >= 10)
		printf(" %8.1fx", r);
	else
		printf(" %8.3fx", r);
}

void note_plot(struct bctx *c, int r, const char *err)
{
	if (!r) {
		c->nplots++;
		return;
	}
	fprintf(stderr, "cowvm bench: plot: %s\n", err);
	if (!c->plot_errs[0])
		snprintf(c->plot_errs, sizeof(c->plot_errs), "%s", err);
}
