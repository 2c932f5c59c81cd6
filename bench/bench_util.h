/*
 * bench_util.h - the two helpers the stand-alone Linux benches share
 * (linux_serverless.c, linux_fuzz.c): a monotonic clock in seconds and a
 * whole file read into memory.
 */
#ifndef COWVM_BENCH_UTIL_H
#define COWVM_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* The file's bytes (malloc'd, *len set), or NULL. */
static inline void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	void *p = n >= 0 ? malloc(n > 0 ? (size_t)n : 1) : NULL;
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = n > 0 ? (size_t)n : 0;
	return p;
}

#endif
