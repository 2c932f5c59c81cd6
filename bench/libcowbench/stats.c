/* stats.c - median, p99, linear fit (see stats.h). */
#include <stdio.h>
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int bs_add(struct bsamples *s, double x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		double *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	return 0;
}

void bs_free(struct bsamples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bstat_rank(const double *sorted, size_t n, double q)
{
	/* ceil(q n) without floating-point surprises at exact products:
	 * 0.99 * 100 is 98.99999999999999 in binary. */
	double k = ceil(q * (double)n - 1e-9);
	size_t i = k < 1 ? 0 : (size_t)k - 1;
	return sorted[i < n ? i : n - 1];
}

struct bstat bstat_of(const double *v, size_t n)
{
	struct bstat r = { .n = n };
	if (!n)
		return r;
	double *s = malloc(n * sizeof(*s));
	if (!s) {
		r.n = 0;
		return r;
	}
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += s[i];
	r.min = s[0];
	r.max = s[n - 1];
	r.mean = sum / (double)n;
	r.median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	r.p99 = bstat_rank(s, n, 0.99);
	free(s);
	return r;
}

int bfit_line(const double *x, const double *y, size_t n, double *slope, double *intercept, double *r2)
{
	if (n < 2)
		return -EINVAL;
	double mx = 0, my = 0;
	for (size_t i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= (double)n;
	my /= (double)n;
	double sxx = 0, sxy = 0, syy = 0;
	for (size_t i = 0; i < n; i++) {
		sxx += (x[i] - mx) * (x[i] - mx);
		sxy += (x[i] - mx) * (y[i] - my);
		syy += (y[i] - my) * (y[i] - my);
	}
	if (sxx <= 0)
		return -EINVAL;
	double b = sxy / sxx;
	*slope = b;
	*intercept = my - b * mx;
	if (r2)
		*r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1.0;
	return 0;
}

void bench_read_line(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "re");
	buf[0] = 0;
	if (f) {
		if (!fgets(buf, (int)n, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

double bench_loadavg1(void)
{
	char b[128];
	bench_read_line("/proc/loadavg", b, sizeof(b));
	return atof(b);
}
