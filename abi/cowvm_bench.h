/*
 * cowvm_bench.h - the `bench` workload's command block, shared by the
 * guest-stub (guest-stub/bench_workloads.c) and the benchmark harness
 * (bench/libcowbench). The bench guest fills a buffer, asks for a snapshot,
 * and each clone then runs one command: the block the VMM wrote at the start
 * of the input buffer (magic COWVM_BENCH_MAGIC), else the workload arguments.
 * One snapshot thus serves every experiment of a suite.
 */
#ifndef COWVM_BENCH_H
#define COWVM_BENCH_H

#include <stdint.h>

#define COWVM_BENCH_MAGIC 0x48434e4245766f63ull /* "covEBNCH" */

enum cowvm_bench_op {
	COWVM_BENCH_EXIT = 0,    /* exit 0 at once */
	COWVM_BENCH_SEQ = 1,     /* write every page of the buffer in order, timed */
	COWVM_BENCH_RAND = 2,    /* `count` writes to random pages of the buffer, timed */
	COWVM_BENCH_SEQRAND = 3, /* SEQ, then RAND in the same clone */
	COWVM_BENCH_PAGES = 4,   /* write the first `count` pages of the buffer, timed */
	COWVM_BENCH_CHUNKS = 5,  /* `per` pages spread over each of the first `chunks`
	                            2 MiB chunks; `read`: then read those chunks */
	COWVM_BENCH_TSC = 6,     /* `count` timed empty accesses: the rdtsc overhead */
	COWVM_BENCH_NOPS
};

struct cowvm_bench_cmd {
	uint64_t magic;  /* COWVM_BENCH_MAGIC, else the block is ignored */
	uint64_t op;     /* enum cowvm_bench_op */
	uint64_t count;  /* RAND: writes (0: 1,000,000); PAGES: pages; TSC: samples */
	uint64_t per;    /* CHUNKS: pages per chunk (<= 512) */
	uint64_t chunks; /* CHUNKS: chunks (0: every chunk of the buffer) */
	uint64_t read;   /* CHUNKS: 1 = read every page of the chunks afterwards */
	uint64_t seed;   /* RAND: xorshift seed (0: 1) */
};

/* Per-access latency histogram of the guest: bucket i covers cycles in
 * [cowvm_bench_bucket_lo(i), cowvm_bench_bucket_lo(i + 1)), 4 buckets per
 * power of two (about 19 % wide). */
#define COWVM_BENCH_BUCKETS 256u

static inline unsigned cowvm_bench_bucket(uint64_t cycles)
{
	if (cycles < 4)
		return (unsigned)cycles;
	unsigned b = 63u - (unsigned)__builtin_clzll(cycles);
	return b * 4u + (unsigned)((cycles >> (b - 2)) & 3u);
}

static inline uint64_t cowvm_bench_bucket_lo(unsigned i)
{
	if (i < 8)
		return i < 4 ? i : 4; /* 4..7: unused (cycles 0..3 have their own buckets) */
	unsigned b = i / 4u;
	if (b >= 64)
		return UINT64_MAX;
	return (1ull << b) + (uint64_t)(i % 4u) * (1ull << (b - 2));
}

#endif
