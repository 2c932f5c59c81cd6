/*
 * schema.h - the schema of `cowvm bench --json` lines (docs/benchmarks.md):
 * every line an object with "suite" and "kind";
 *   kind "env"      suite "env": mode, repeat, seconds, tsc_khz ...
 *   kind "latency"  suite clone|fault|reset: method, size, n, median_us,
 *                   p99_us, min_us, max_us, mean_us (min <= median <= p99
 *                   <= max); n == 0 only with "unavailable" (a reason) and
 *                   null statistics
 *   kind "memory"   suite memory: method, size, state, n == 1, rss_bytes,
 *                   table_bytes
 *   kind "slope"    suite clone: method, slope_us_per_gib, points >= 2
 *   kind "ratio"    name, value; "target" always with a boolean "met"
 */
#ifndef COWBENCH_TEST_SCHEMA_H
#define COWBENCH_TEST_SCHEMA_H

#include <stddef.h>

#include "jsonl.h"

/* 0 if the object follows the schema, else -1 and why. */
int bench_schema_check(const struct jobj *o, char *err, size_t errlen);

#endif
