/*
 * gpt_bench.c - micro-benchmark of the guest-physical table (mmu/gpt*).
 *
 * Measures, in one run and side by side, for a guest fully mapped with
 * 4 KiB pages at 4 GiB and at 64 GiB:
 *   clone       gpt_clone with COW on: copy the upper tables, share every
 *               leaf (one refcount increment and a read-only PDE per 2 MiB);
 *               "again" = the snapshot's PDEs are already write-protected
 *               (every clone after the first), "first" = the parent held
 *               every leaf exclusively (phase 2 write-protects its PDEs);
 *   eager       gpt_clone with COW off (gpt_set_cow(parent, false)): the
 *               baseline, a copy of every leaf table and one frame reference
 *               per page entry;
 *   memcpy      a plain memcpy of all leaf tables (the floor of any eager
 *               copy: no allocation, no refcounts);
 *   destroy     gpt_destroy of an untouched COW clone;
 *   break-COW   first write to a shared leaf, per leaf: the copy path
 *               (refcount 2: new leaf, 512 frame references, then page COW
 *               of the written page) and the reuse path (refcount 1: make
 *               the PDE writable, the page is already private);
 *   write fault per page inside an exclusive leaf (first 1 GiB of the 4 GiB
 *               guest): page COW (frame shared with the snapshot: new frame),
 *               frame reuse (frame referenced only here: no copy), and the
 *               already-private path (A/D bits only).
 * Each number is the median of several repeats (min in the JSON); the two
 * sizes live side by side and their repeats are interleaved, and the COW
 * clone, the eager clone and the memcpy are measured back to back in each
 * repeat, so a noisy phase of the machine hits both sides of a ratio. Ratios
 * are against the baseline measured in the same run. Targets (reported,
 * never enforced): clone at 4 GiB <= 1/100 of the eager copy; clone cost per
 * GiB flat from 4 to 64 GiB (ratio within 0.8..1.2).
 *
 * Frame store: a plain refcount array (single-threaded, no page contents,
 * copy is a no-op), so the numbers are the GPT's own cost; a real store adds
 * its 4 KiB copy to page COW (see docs/mmu.md). malloc is told to keep freed
 * memory (the GPT's 2 MiB table slabs) so every path gets a warm allocator;
 * --malloc-default shows the cost with first-touch page faults.
 *
 * Usage: gpt-bench [--quick] [--reps N] [--malloc-default]
 * Prints a table, then one JSON object per line ("gpt-bench" key) per
 * measurement and per ratio.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "gpt.h"

#define GIB (1ull << 30)
#define PG 4096ull

/* --- frame store: a refcount array ---------------------------------------- */

struct fstore {
	uint32_t *ref;
	uint32_t *free_list;
	uint64_t nfree, next, cap, live, copies;
};

static int fs_alloc(void *ctx, uint64_t *frame)
{
	struct fstore *s = ctx;
	uint64_t f;
	if (s->nfree)
		f = s->free_list[--s->nfree];
	else if (s->next < s->cap)
		f = s->next++;
	else
		return -ENOMEM;
	s->ref[f] = 1;
	s->live++;
	*frame = f;
	return 0;
}
static void fs_get(void *ctx, uint64_t f) { ((struct fstore *)ctx)->ref[f]++; }
static void fs_put(void *ctx, uint64_t f)
{
	struct fstore *s = ctx;
	if (--s->ref[f] == 0) {
		s->free_list[s->nfree++] = (uint32_t)f;
		s->live--;
	}
}
static int fs_copy(void *ctx, uint64_t dst, uint64_t src)
{
	(void)dst;
	(void)src;
	((struct fstore *)ctx)->copies++;
	return 0;
}
static bool fs_exclusive(void *ctx, uint64_t f) { return ((struct fstore *)ctx)->ref[f] == 1; }
static const struct frame_store_ops fs_ops = { fs_alloc, fs_get, fs_put, fs_copy, fs_exclusive };

static void die(const char *what, int err)
{
	fprintf(stderr, "gpt-bench: %s: %s\n", what, strerror(-err));
	exit(1);
}
#define TRY(call)                                \
	do {                                     \
		int err_ = (call);               \
		if (err_)                        \
			die(#call, err_);        \
	} while (0)

/* --- timing and results ---------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* minor page faults so far: the kernel's share of a sample (first touch of
 * table memory the allocator got from the system) */
static uint64_t minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_minflt;
}

#define MAXREPS 64
#define MAXRES 64
struct result {
	const char *name;   /* JSON key */
	const char *label;  /* table row */
	unsigned gib;       /* guest size */
	const char *unit;   /* "clone", "leaf", "page", ... */
	uint64_t units;     /* work items per sample */
	int n;
	double ns[MAXREPS]; /* per sample (total) */
	uint64_t faults;    /* minor page faults over all samples */
	double med, min;
};
static struct result res[MAXRES];
static int nres;

static struct result *result(const char *name, const char *label, unsigned gib, const char *unit, uint64_t units)
{
	for (int i = 0; i < nres; i++)
		if (!strcmp(res[i].name, name) && res[i].gib == gib)
			return &res[i];
	if (nres == MAXRES)
		die("too many results", -ENOSPC);
	res[nres] = (struct result){ .name = name, .label = label, .gib = gib, .unit = unit, .units = units };
	return &res[nres++];
}
static void sample(struct result *r, uint64_t ns)
{
	if (r->n < MAXREPS)
		r->ns[r->n++] = (double)ns;
}
/* time one sample of `r`, counting its page faults */
#define TIMED(r, stmt)                                          \
	do {                                                    \
		uint64_t f0_ = minflt(), t0_ = now_ns();        \
		stmt;                                           \
		uint64_t t1_ = now_ns();                        \
		sample((r), t1_ - t0_);                         \
		(r)->faults += minflt() - f0_;                  \
	} while (0)
static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}
static void finish(struct result *r)
{
	double v[MAXREPS];
	memcpy(v, r->ns, sizeof(double) * (size_t)r->n);
	qsort(v, (size_t)r->n, sizeof(double), cmp_d);
	r->min = v[0];
	r->med = r->n % 2 ? v[r->n / 2] : (v[r->n / 2 - 1] + v[r->n / 2]) / 2;
}
static const struct result *find(const char *name, unsigned gib)
{
	for (int i = 0; i < nres; i++)
		if (!strcmp(res[i].name, name) && res[i].gib == gib)
			return &res[i];
	return NULL;
}

/* --- helpers ------------------------------------------------------------------ */

struct env {
	struct fstore fs;
	struct gpt_domain *dom;
	struct gpt *P;
	uint64_t bytes, leaves;
};

static void env_init(struct env *e, unsigned gib)
{
	memset(e, 0, sizeof(*e));
	e->bytes = (uint64_t)gib * GIB;
	e->leaves = e->bytes / GPT_LEAF_SIZE;
	/* P's frames, plus what the runs allocate at once: page COW and the
	 * frame-reuse setup (a GiB of frames each), one page COW per leaf */
	e->fs.cap = e->bytes / PG + 3 * (GIB / PG) + e->leaves + 1;
	e->fs.next = 1;
	e->fs.ref = calloc(e->fs.cap, sizeof(uint32_t));
	e->fs.free_list = calloc(e->fs.cap, sizeof(uint32_t));
	if (!e->fs.ref || !e->fs.free_list)
		die("frame store", -ENOMEM);
	struct gpt_domain_config cfg = { .fs = &fs_ops, .fs_ctx = &e->fs };
	TRY(gpt_domain_create(&cfg, &e->dom));
	TRY(gpt_create(e->dom, &e->P));
	uint64_t t0 = now_ns();
	TRY(gpt_populate(e->P, 0, e->bytes, GPT_WRITABLE));
	fprintf(stderr, "gpt-bench: populated %u GiB (%" PRIu64 " pages, %" PRIu64 " leaves) in %.2f s\n",
	        gib, (uint64_t)(e->bytes / PG), e->leaves, (double)(now_ns() - t0) / 1e9);
}

static void env_fini(struct env *e)
{
	gpt_destroy(e->P);
	if (gpt_domain_live_tables(e->dom) || e->fs.live)
		fprintf(stderr, "gpt-bench: warning: leak: %" PRIu64 " tables %" PRIu64 " frames\n",
		        gpt_domain_live_tables(e->dom), e->fs.live);
	TRY(gpt_domain_destroy(e->dom));
	free(e->fs.ref);
	free(e->fs.free_list);
}

/* One write fault on `page` of every leaf in [0, bytes). */
static void write_each_leaf(struct gpt *g, uint64_t bytes, unsigned page)
{
	for (uint64_t a = 0; a < bytes; a += GPT_LEAF_SIZE)
		TRY(gpt_write_fault(g, a + (uint64_t)page * PG, NULL));
}

/* Write fault on pages [lo, hi) of every leaf in [0, bytes). */
static void write_pages(struct gpt *g, uint64_t bytes, unsigned lo, unsigned hi)
{
	for (uint64_t a = 0; a < bytes; a += GPT_LEAF_SIZE)
		for (unsigned i = lo; i < hi; i++)
			TRY(gpt_write_fault(g, a + (uint64_t)i * PG, NULL));
}

struct tables {
	uint64_t *t;
	uint64_t n, cap;
};
static int collect_leaf(void *arg, const struct gpt_leaf_info *in)
{
	struct tables *ts = arg;
	if (!in->huge && ts->n < ts->cap)
		ts->t[ts->n++] = in->table;
	return 0;
}

/* --- the measurements -------------------------------------------------------- *
 * The two guest sizes live side by side and their repeats are interleaved
 * (4 GiB, 64 GiB, 4 GiB, ...), and each repeat measures the COW clone, the
 * eager clone and the memcpy back to back, so a noisy phase of the machine
 * hits both sides of every ratio alike. */

struct clone_res {
	struct result *first, *again, *destroy, *eager, *edestroy, *memcpy_, *reuse, *copy;
};

static struct clone_res clone_results(const struct env *e, unsigned gib)
{
	return (struct clone_res){
		.first = result("clone_first", "clone, COW (first: parent exclusive)", gib, "guest", 1),
		.again = result("clone", "clone, COW (snapshot already shared)", gib, "guest", 1),
		.destroy = result("destroy_clone", "destroy of an untouched COW clone", gib, "guest", 1),
		.eager = result("clone_eager", "eager clone (COW off): baseline", gib, "guest", 1),
		.edestroy = result("destroy_eager", "destroy of an eager clone", gib, "guest", 1),
		.memcpy_ = result("memcpy_leaves", "memcpy of all leaf tables", gib, "guest", 1),
		.reuse = result("break_cow_reuse", "break COW, reuse (first write, ref 1)", gib, "leaf", e->leaves),
		.copy = result("break_cow_copy", "break COW, copy (first write, ref 2)", gib, "leaf", e->leaves),
	};
}

/* One repeat of the whole-guest measurements. On entry P holds every leaf
 * exclusively; on exit too. */
static void clone_round(struct env *e, const struct clone_res *r, struct tables *ts, char *buf)
{
	struct gpt *P = e->P, *C, *C2;
	TIMED(r->first, TRY(gpt_clone(P, &C)));
	TIMED(r->again, TRY(gpt_clone(P, &C2)));
	TIMED(r->destroy, gpt_destroy(C2));
	gpt_destroy(C);
	/* eager baseline from the same parent state (PDEs write-protected) */
	gpt_set_cow(P, false);
	TIMED(r->eager, TRY(gpt_clone(P, &C)));
	TIMED(r->edestroy, gpt_destroy(C));
	gpt_set_cow(P, true);
	TIMED(r->memcpy_, {
		for (uint64_t k = 0; k < ts->n; k++)
			memcpy(buf + k * PT_TABLE_SIZE, (const void *)(uintptr_t)ts->t[k], PT_TABLE_SIZE);
		__asm__ volatile("" ::"r"(buf) : "memory");
	});
	/* P's leaves: write-protected at refcount 1 -> reuse on first write */
	TIMED(r->reuse, write_each_leaf(P, e->bytes, 0));
}

/* break COW by copy: a fresh clone's first write to each shared leaf
 * (leaf copy, then page COW of the written page) */
static void copy_round(struct env *e, const struct clone_res *r)
{
	struct gpt *C;
	TRY(gpt_clone(e->P, &C));
	TIMED(r->copy, write_each_leaf(C, e->bytes, 0));
	gpt_destroy(C);
	/* P is left with write-protected leaves at refcount 1: make them
	 * exclusive again for the next clone_round */
	write_each_leaf(e->P, e->bytes, 0);
}

/* Write faults inside exclusive leaves, over the first GiB of e. */
static void page_level(struct env *e, int reps)
{
	struct gpt *P = e->P, *C;
	unsigned gib = (unsigned)(e->bytes / GIB);
	uint64_t span = GIB < e->bytes ? GIB : e->bytes;
	uint64_t pages = (span / GPT_LEAF_SIZE) * 511;
	struct result *r_pcow = result("fault_page_cow", "write fault, page COW (frame shared)", gib, "page", pages);
	struct result *r_fre = result("fault_frame_reuse", "write fault, frame reuse (ref 1, no copy)", gib, "page", pages);
	struct result *r_priv = result("fault_private", "write fault, page already private", gib, "page", pages);
	for (int i = 0; i < reps; i++) {
		TRY(gpt_clone(P, &C));
		write_each_leaf(C, span, 0);                    /* C's leaves: exclusive copies */
		TIMED(r_pcow, write_pages(C, span, 1, 512)); /* frames shared with P: page COW */
		TIMED(r_priv, write_pages(C, span, 1, 512)); /* now PRIVATE: in place */
		gpt_destroy(C);
		write_each_leaf(P, e->bytes, 0); /* P exclusive again */
	}
	/* frame reuse: X copies the leaves of Y and Y goes away, so X's entries
	 * are not PRIVATE but their frames have one reference (X's): the fault
	 * asks the store and keeps the frame */
	for (int i = 0; i < reps; i++) {
		struct gpt *X, *Y;
		TRY(gpt_create(e->dom, &Y));
		TRY(gpt_populate(Y, 0, span, GPT_WRITABLE));
		TRY(gpt_clone(Y, &X));
		write_each_leaf(X, span, 0); /* X copies its leaves (ref 2) */
		gpt_destroy(Y);              /* Y's leaves gone: X's frames ref 1 */
		TIMED(r_fre, write_pages(X, span, 1, 512));
		gpt_destroy(X);
	}
}

static void run(unsigned small, unsigned big, int reps)
{
	unsigned gibs[2] = { small, big };
	struct env e[2];
	struct clone_res r[2];
	struct tables ts[2];
	char *buf[2];
	for (int k = 0; k < 2; k++) {
		env_init(&e[k], gibs[k]);
		r[k] = clone_results(&e[k], gibs[k]);
		ts[k] = (struct tables){ calloc(e[k].leaves, sizeof(uint64_t)), 0, e[k].leaves };
		buf[k] = malloc(e[k].leaves * PT_TABLE_SIZE);
		if (!ts[k].t || !buf[k])
			die("memcpy buffers", -ENOMEM);
		gpt_for_each_leaf(e[k].P, collect_leaf, &ts[k]);
		memset(buf[k], 1, e[k].leaves * PT_TABLE_SIZE); /* fault the buffer in */
		/* warm-up: one untimed round (the first eager clone also clears
		 * PRIVATE in P's entries once) */
		struct clone_res scratch = clone_results(&e[k], 0);
		clone_round(&e[k], &scratch, &ts[k], buf[k]);
	}
	for (int i = 0; i < reps; i++)
		for (int k = 0; k < 2; k++)
			clone_round(&e[k], &r[k], &ts[k], buf[k]);
	int creps = reps < 9 ? reps : 9;
	for (int i = 0; i < creps; i++)
		for (int k = 0; k < 2; k++)
			copy_round(&e[k], &r[k]);
	page_level(&e[0], creps);
	for (int k = 0; k < 2; k++) {
		free(buf[k]);
		free(ts[k].t);
		env_fini(&e[k]);
	}
}

/* --- report -------------------------------------------------------------------- */

static void fmt_ns(char *b, size_t n, double ns)
{
	if (ns >= 1e9)
		snprintf(b, n, "%.2f s", ns / 1e9);
	else if (ns >= 1e6)
		snprintf(b, n, "%.2f ms", ns / 1e6);
	else if (ns >= 1e3)
		snprintf(b, n, "%.1f us", ns / 1e3);
	else
		snprintf(b, n, "%.1f ns", ns);
}

/* median per unit: per GiB for whole-guest operations, else per leaf/page */
static double per_unit(const struct result *r)
{
	return !strcmp(r->unit, "guest") ? r->med / r->gib : r->med / (double)r->units;
}

static double ratio(const char *a, unsigned ga, const char *b, unsigned gb, bool unit)
{
	const struct result *x = find(a, ga), *y = find(b, gb);
	if (!x || !y || y->med == 0)
		return -1;
	return unit ? per_unit(x) / per_unit(y) : x->med / y->med;
}

static void print_ratio(const char *name, const char *what, double v, double lo, double hi, const char *target)
{
	bool met = v >= lo && v <= hi;
	printf("  %-50s %9.4f   target %-9s %s\n", what, v, target ? target : "-",
	       !target ? "" : v < 0 ? "n/a" : met ? "met" : "MISSED");
	printf("{\"gpt-bench\":\"ratio\",\"name\":\"%s\",\"value\":%.6f,\"target\":\"%s\"", name, v, target ? target : "");
	if (target)
		printf(",\"met\":%s", met ? "true" : "false");
	printf("}\n");
}

int main(int argc, char **argv)
{
	bool quick = false, warm_malloc = true;
	int reps = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--malloc-default"))
			warm_malloc = false;
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: gpt-bench [--quick] [--reps N] [--malloc-default]\n"
			                "  default: 4 and 64 GiB, 21 repeats (9 for copy paths)\n"
			                "  --quick: 4 and 16 GiB, 5 repeats\n"
			                "  --malloc-default: let malloc return freed table slabs to the\n"
			                "    kernel (every new table then pays a first-touch page fault)\n");
			return 2;
		}
	}
	if (reps <= 0)
		reps = quick ? 5 : 21;
	if (reps > MAXREPS)
		reps = MAXREPS;
	unsigned small = 4, big = quick ? 16 : 64;
	if (warm_malloc) {
		/* Keep freed table slabs (2 MiB, from aligned_alloc) in the heap
		 * instead of unmapping them, so a table allocation costs what the
		 * GPT does, not a kernel page fault per table; both the baseline
		 * and the COW paths get the same warm allocator. */
		if (!mallopt(M_MMAP_THRESHOLD, 32 << 20) || !mallopt(M_TRIM_THRESHOLD, 1 << 30))
			fprintf(stderr, "gpt-bench: warning: mallopt failed\n");
	}

	uint64_t t0 = now_ns();
	run(small, big, reps);
	for (int i = 0; i < nres; i++)
		finish(&res[i]);
	if (getenv("GPT_BENCH_SAMPLES")) /* every sample, to look at the noise */
		for (int i = 0; i < nres; i++) {
			if (!res[i].gib)
				continue;
			fprintf(stderr, "%-18s %2u GiB:", res[i].name, res[i].gib);
			for (int k = 0; k < res[i].n; k++)
				fprintf(stderr, " %.0f", res[i].ns[k] / 1e3);
			fprintf(stderr, " (us), %.1f page faults per sample\n", (double)res[i].faults / res[i].n);
		}

	printf("\ngpt-bench: guest fully mapped with 4 KiB pages; refcount-array frame store (no page\n"
	       "contents, copy is free); median of %d repeats (copy paths and page faults: %d), the two\n"
	       "sizes interleaved; whole run %.1f s. 'faults' = kernel page faults per sample (first\n"
	       "touch of table memory); malloc %s.\n\n",
	       reps, reps < 9 ? reps : 9, (double)(now_ns() - t0) / 1e9,
	       warm_malloc ? "keeps freed slabs (warm)" : "default (--malloc-default)");
	char hs[16], hb[16];
	snprintf(hs, sizeof(hs), "%u GiB", small);
	snprintf(hb, sizeof(hb), "%u GiB", big);
	printf("%-42s %10s %10s | %10s %10s %-9s| %7s %7s\n", "measurement (median)", hs, hb, hs, hb,
	       "per", "faults", "faults");
	const char *order[] = { "clone", "clone_first", "clone_eager", "memcpy_leaves", "destroy_clone",
	                        "destroy_eager", "break_cow_copy", "break_cow_reuse", "fault_page_cow",
	                        "fault_frame_reuse", "fault_private" };
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		const struct result *a = find(order[k], small), *b = find(order[k], big);
		const struct result *any = a ? a : b;
		if (!any)
			continue;
		char sa[24] = "-", sb[24] = "-", ua[24] = "-", ub[24] = "-", fa[16] = "-", fb[16] = "-";
		if (a) {
			fmt_ns(sa, sizeof(sa), a->med);
			fmt_ns(ua, sizeof(ua), per_unit(a));
			snprintf(fa, sizeof(fa), "%.0f", (double)a->faults / a->n);
		}
		if (b) {
			fmt_ns(sb, sizeof(sb), b->med);
			fmt_ns(ub, sizeof(ub), per_unit(b));
			snprintf(fb, sizeof(fb), "%.0f", (double)b->faults / b->n);
		}
		printf("%-42s %10s %10s | %10s %10s %-9s| %7s %7s\n", any->label, sa, sb, ua, ub,
		       !strcmp(any->unit, "guest") ? "GiB" : any->unit, fa, fb);
	}

	printf("\nratios (medians of this run; targets are reported, never enforced):\n");
	char nm[64], what[96];
	snprintf(nm, sizeof(nm), "clone_vs_eager_%ug", small);
	snprintf(what, sizeof(what), "clone / eager clone, %u GiB", small);
	print_ratio(nm, what, ratio("clone", small, "clone_eager", small, false), 0, 0.01, "<= 0.01");
	snprintf(nm, sizeof(nm), "clone_first_vs_eager_%ug", small);
	snprintf(what, sizeof(what), "first clone / eager clone, %u GiB", small);
	print_ratio(nm, what, ratio("clone_first", small, "clone_eager", small, false), 0, 0.01, "<= 0.01");
	snprintf(nm, sizeof(nm), "clone_vs_eager_%ug", big);
	snprintf(what, sizeof(what), "clone / eager clone, %u GiB", big);
	print_ratio(nm, what, ratio("clone", big, "clone_eager", big, false), 0, 0.01, "<= 0.01");
	snprintf(nm, sizeof(nm), "clone_vs_memcpy_%ug", small);
	snprintf(what, sizeof(what), "clone / memcpy of all leaf tables, %u GiB", small);
	print_ratio(nm, what, ratio("clone", small, "memcpy_leaves", small, false), 0, 0, NULL);
	snprintf(nm, sizeof(nm), "clone_per_gib_%u_vs_%u", big, small);
	snprintf(what, sizeof(what), "clone per GiB, %u GiB / %u GiB", big, small);
	print_ratio(nm, what, ratio("clone", big, "clone", small, true), 0.8, 1.2, "0.8..1.2");
	snprintf(nm, sizeof(nm), "clone_first_per_gib_%u_vs_%u", big, small);
	snprintf(what, sizeof(what), "first clone per GiB, %u GiB / %u GiB", big, small);
	print_ratio(nm, what, ratio("clone_first", big, "clone_first", small, true), 0.8, 1.2, "0.8..1.2");
	snprintf(nm, sizeof(nm), "eager_per_gib_%u_vs_%u", big, small);
	snprintf(what, sizeof(what), "eager clone per GiB, %u GiB / %u GiB", big, small);
	print_ratio(nm, what, ratio("clone_eager", big, "clone_eager", small, true), 0, 0, NULL);
	snprintf(nm, sizeof(nm), "break_copy_per_leaf_%u_vs_%u", big, small);
	snprintf(what, sizeof(what), "break COW (copy) per leaf, %u GiB / %u GiB", big, small);
	print_ratio(nm, what, ratio("break_cow_copy", big, "break_cow_copy", small, true), 0, 0, NULL);
	print_ratio("break_copy_vs_reuse", "break COW per leaf, copy / reuse (4 GiB)",
	            ratio("break_cow_copy", small, "break_cow_reuse", small, true), 0, 0, NULL);
	printf("\n");
	for (int i = 0; i < nres; i++) {
		const struct result *r = &res[i];
		if (!r->gib)
			continue; /* warm-up */
		printf("{\"gpt-bench\":\"measurement\",\"name\":\"%s\",\"guest_gib\":%u,\"reps\":%d,"
		       "\"median_ns\":%.0f,\"min_ns\":%.0f,\"per\":\"%s\",\"median_ns_per\":%.2f,"
		       "\"page_faults_per_sample\":%.1f}\n",
		       r->name, r->gib, r->n, r->med, r->min, !strcmp(r->unit, "guest") ? "GiB" : r->unit,
		       per_unit(r), (double)r->faults / r->n);
	}
	return 0;
}
