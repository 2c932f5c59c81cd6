/*
 * bench_workloads.c - the ring-3 workload behind `cowvm bench` and
 * snap-bench (bench/): fill a buffer, snapshot, then in each clone run one
 * timed memory-access pattern and report per-access latency in TSC cycles.
 *
 * bench[:mib=M,op=OP,count=N,per=K,chunks=C,read=R,seed=S]
 *   Fill M MiB (default 1, 0 = nothing) from the first 2 MiB-aligned heap
 *   address: one non-zero qword per page, so the snapshot holds real pages
 *   and every later write to the buffer is a copy-on-write of a snapshot
 *   page (the seed's fork child writing its parent's memory). Then ask for
 *   a snapshot (without one, e.g. under `cowvm run`, run the command in
 *   place). Each clone runs the command the VMM wrote at the start of the
 *   input buffer (struct cowvm_bench_cmd, abi/cowvm_bench.h), else the one
 *   the arguments give (op=exit|seq|rand|seqrand|pages|chunks|tsc):
 *     exit     exit 0 at once: the clone's first exit after the snapshot point
 *     seq      write the first qword of every page of the buffer, in order
 *     rand     N (default 1,000,000) writes to xorshift-random pages
 *     seqrand  seq, then rand, in the same clone
 *     pages    write the first N pages of the buffer
 *     chunks   write K pages spread evenly over each of the first C 2 MiB
 *              chunks (all by default); R=1: then read every page of them
 *     tsc      N empty timed accesses (what the timing itself costs)
 *   Timed passes measure every access alone (lfence; rdtsc around one
 *   store: ring 3 runs natively, so this is the guest-visible latency,
 *   host faults included) and report, per pass P (seq, rand, pages, tsc):
 *   bench.P.n accesses, bench.P.cycles their sum, bench.P.wall the whole
 *   loop, bench.P.p50 / bench.P.p99 / bench.P.max per access (p50 and p99
 *   from a histogram with 4 buckets per power of two, lower bounds).
 */
#include "cowvm_bench.h"
#include "guest.h"

#define PAGE 4096ull
#define CHUNK (2ull << 20)
#define QW_PER_PAGE (PAGE / 8)
#define PAGES_PER_CHUNK (CHUNK / PAGE)

static uint64_t hist[COWVM_BENCH_BUCKETS];
static volatile uint64_t sink;

static inline uint64_t tsc_begin(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

static inline uint64_t tsc_end(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

struct pass_keys {
	const char *n, *cycles, *wall, *p50, *p99, *max;
};
#define PASS_KEYS(p) { "bench." p ".n", "bench." p ".cycles", "bench." p ".wall", \
	               "bench." p ".p50", "bench." p ".p99", "bench." p ".max" }
static const struct pass_keys keys_seq = PASS_KEYS("seq"), keys_rand = PASS_KEYS("rand"),
                              keys_pages = PASS_KEYS("pages"), keys_tsc = PASS_KEYS("tsc");

/* Lower bound of the bucket holding the q-th (1-based) smallest sample. */
static uint64_t hist_rank(uint64_t q)
{
	uint64_t seen = 0;
	for (unsigned i = 0; i < COWVM_BENCH_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= q)
			return cowvm_bench_bucket_lo(i);
	}
	return 0;
}

/* n timed writes: page i (in order) or a random page; kind 3 = no access. */
enum pass_kind { PASS_SEQ, PASS_RAND, PASS_PAGES, PASS_TSC };

static void timed_pass(volatile uint64_t *buf, uint64_t npages, uint64_t n, enum pass_kind kind,
                       uint64_t seed, uint64_t id, const struct pass_keys *k)
{
	for (unsigned i = 0; i < COWVM_BENCH_BUCKETS; i++)
		hist[i] = 0; /* also takes the histogram's own page faults before timing */
	uint64_t s = seed ? seed : 1, sum = 0, max = 0;
	uint64_t w0 = tsc_begin();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = kind == PASS_RAND ? cowvm_xorshift64(&s) % npages : i;
		volatile uint64_t *w = buf + p * QW_PER_PAGE;
		uint64_t v = p ^ id;
		uint64_t t0 = tsc_begin();
		if (kind != PASS_TSC)
			*w = v;
		uint64_t c = tsc_end() - t0;
		sum += c;
		if (c > max)
			max = c;
		hist[cowvm_bench_bucket(c)]++;
	}
	uint64_t wall = tsc_end() - w0;
	cg_report(k->n, n);
	cg_report(k->cycles, sum);
	cg_report(k->wall, wall);
	cg_report(k->p50, n ? hist_rank((n + 1) / 2) : 0);
	cg_report(k->p99, n ? hist_rank(n - n / 100) : 0);
	cg_report(k->max, max);
}

static const char *const op_names[COWVM_BENCH_NOPS] = { "exit", "seq", "rand", "seqrand",
                                                        "pages", "chunks", "tsc" };

static int run_cmd(const struct cowvm_bench_cmd *c, volatile uint64_t *buf, uint64_t npages, uint64_t id)
{
	uint64_t nchunks = (npages + PAGES_PER_CHUNK - 1) / PAGES_PER_CHUNK;
	uint64_t count = c->count;
	switch (c->op) {
	case COWVM_BENCH_EXIT:
		return 0;
	case COWVM_BENCH_TSC:
		timed_pass(buf, npages, count ? count : 1000, PASS_TSC, 0, id, &keys_tsc);
		return 0;
	case COWVM_BENCH_SEQ:
	case COWVM_BENCH_RAND:
	case COWVM_BENCH_SEQRAND:
		if (!npages)
			break;
		if (c->op != COWVM_BENCH_RAND)
			timed_pass(buf, npages, npages, PASS_SEQ, 0, id, &keys_seq);
		if (c->op != COWVM_BENCH_SEQ)
			timed_pass(buf, npages, count ? count : 1000000, PASS_RAND, c->seed, id, &keys_rand);
		return 0;
	case COWVM_BENCH_PAGES:
		if (count > npages)
			break;
		timed_pass(buf, npages, count, PASS_PAGES, 0, id, &keys_pages);
		return 0;
	case COWVM_BENCH_CHUNKS: {
		uint64_t chunks = c->chunks ? c->chunks : nchunks;
		if (c->per > PAGES_PER_CHUNK || chunks > nchunks ||
		    (c->per && chunks * PAGES_PER_CHUNK > npages))
			break;
		if (c->per) {
			uint64_t stride = PAGES_PER_CHUNK / c->per;
			for (uint64_t ch = 0; ch < chunks; ch++)
				for (uint64_t j = 0; j < c->per; j++) {
					uint64_t p = ch * PAGES_PER_CHUNK + j * stride;
					buf[p * QW_PER_PAGE] = p ^ id;
				}
		}
		if (c->read) {
			uint64_t s = 0;
			for (uint64_t p = 0; p < chunks * PAGES_PER_CHUNK && p < npages; p++)
				s += buf[p * QW_PER_PAGE];
			sink = s;
		}
		return 0;
	}
	default:
		break;
	}
	cg_printf("bench: bad command (op %s) for a buffer of %llu pages\n",
	          c->op < COWVM_BENCH_NOPS ? op_names[c->op] : "?", (unsigned long long)npages);
	return 3;
}

int wl_bench(const struct workload_env *env)
{
	int bad = 0;
	struct cowvm_bench_cmd args = { .magic = COWVM_BENCH_MAGIC };
	uint64_t mib = wl_arg_u64(env, "mib", 1, &bad);
	const char *op = wl_arg(env, "op");
	args.count = wl_arg_u64(env, "count", 0, &bad);
	args.per = wl_arg_u64(env, "per", 0, &bad);
	args.chunks = wl_arg_u64(env, "chunks", 0, &bad);
	args.read = wl_arg_u64(env, "read", 0, &bad);
	args.seed = wl_arg_u64(env, "seed", 1, &bad);
	args.op = COWVM_BENCH_NOPS;
	for (uint64_t i = 0; i < COWVM_BENCH_NOPS; i++)
		if (!op ? i == COWVM_BENCH_EXIT : cg_streq(op, op_names[i]))
			args.op = i;
	uint64_t base = (env->heap_base + CHUNK - 1) & ~(CHUNK - 1);
	uint64_t end = env->heap_base + env->heap_size;
	if (bad || args.op == COWVM_BENCH_NOPS || base > end || mib > (end - base) >> 20) {
		cg_print("bench: bad arguments (op=exit|seq|rand|seqrand|pages|chunks|tsc; mib up to the heap)\n");
		return 3;
	}
	uint64_t npages = mib << 8;
	volatile uint64_t *buf = (volatile uint64_t *)(uintptr_t)base;
	for (uint64_t p = 0; p < npages; p++)
		buf[p * QW_PER_PAGE] = p * 0x9e3779b97f4a7c15ull | 1;
	int64_t id = cg_snapshot();
	if (id == 0)
		return 0; /* the original */
	const volatile struct cowvm_bench_cmd *in = (const volatile struct cowvm_bench_cmd *)(uintptr_t)env->in_base;
	struct cowvm_bench_cmd c = args;
	if (env->in_size >= sizeof(c) && in->magic == COWVM_BENCH_MAGIC) {
		c.op = in->op;
		c.count = in->count;
		c.per = in->per;
		c.chunks = in->chunks;
		c.read = in->read;
		c.seed = in->seed;
	}
	return run_cmd(&c, buf, npages, id < 0 ? 0 : (uint64_t)id);
}
