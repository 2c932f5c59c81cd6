/*
 * stats.h - the statistics of `cowvm bench`: median, p99 (nearest rank),
 * min/max/mean of a set of repeats, and a least-squares line through
 * (x, y) points (clone latency against guest size: the slope in us/GiB).
 * Pure functions, no KVM: unit-tested in tests/bench/test_stats.c.
 */
#ifndef COWBENCH_STATS_H
#define COWBENCH_STATS_H

#include <stddef.h>

struct bstat {
	size_t n;
	double median, p99, min, max, mean;
};

/* A growable list of samples. */
struct bsamples {
	double *v;
	size_t n, cap;
};
/* 0, or -ENOMEM (the sample is dropped). */
int bs_add(struct bsamples *s, double x);
void bs_free(struct bsamples *s);

/* Statistics of v[0..n) (v is not changed). n == 0: all zero. The median of
 * an even count is the mean of the two middle values; p99 is the
 * nearest-rank 99th percentile: the ceil(0.99 n)-th smallest value. */
struct bstat bstat_of(const double *v, size_t n);
static inline struct bstat bs_stat(const struct bsamples *s) { return bstat_of(s->v, s->n); }
/* Nearest-rank q-quantile (0 < q <= 1) of sorted[0..n), n > 0. */
double bstat_rank(const double *sorted, size_t n, double q);

/* Least-squares line y = slope * x + intercept through n points. r2 is the
 * coefficient of determination (1 when every point is on the line; 1 too
 * when every y is equal). -EINVAL if n < 2 or every x is the same. */
int bfit_line(const double *x, const double *y, size_t n, double *slope, double *intercept, double *r2);

/* The first line of a small text file (/proc, /sys), without its newline;
 * "" if it cannot be read. */
void bench_read_line(const char *path, char *buf, size_t n);
/* The first field of /proc/loadavg: benchmarks share the machine. */
double bench_loadavg1(void);

#endif
