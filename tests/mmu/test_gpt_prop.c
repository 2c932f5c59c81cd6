/*
 * test_gpt_prop.c - property test of the GPT against a plain reference
 * model (a flat page array per VM).
 *
 * Random sequences of clone / write / protect / discard / clear-dirty / pin
 * / unpin / remap / split / reset / cow-switch / destroy over a tree of VMs
 * (at least MIN_VMS = 50 created, clones of clones among them). The frame
 * store holds NO bytes, like the product's (vmm/memory/ram_frames.c): nothing a
 * byte copy could paper over. After every step, for every live VM:
 *   - every model page is mapped or not, writable, pinned and written
 *     exactly as the model says (gpt_lookup flags);
 *   - the written set the GPT enumerates (gpt_for_each_written, and the
 *     per-leaf counts of gpt_for_each_written_leaf, and stats.written) is
 *     exactly the model's "pages written since clone/reset": a successful
 *     write adds the page, clone starts the child empty, reset empties the
 *     chunk, discard and remap remove the page, nothing else changes it;
 *   - a write returns a frame only this leaf names (plus the pin's ref).
 * The audit checks leaf refcount == number of PDs pointing to it, the PDE
 * RW => (refcount 1, owned, writer) invariant, one writer per leaf, per-VM
 * stats recomputed from the tables, and (every AUDIT_FULL steps and at the
 * end) every leaf's counters against its entries, every frame's refcount
 * against the leaves, 2 MiB maps and pins naming it, and the domain's table
 * count. Pinned pages must refuse discard, remap and reset (-EBUSY, nothing
 * changed). The run must have cloned a VM with a non-empty written set and
 * reused a leaf holding another holder's WRITTEN bits (counted, checked).
 * One step in 8 runs with an injected frame or table allocation failure: an
 * operation that returns -ENOMEM must have changed nothing (same checks,
 * unchanged model). At the end everything is destroyed and no frame or
 * table may be left.
 *
 * Criterion tests: random_ops_against_model runs GPT_PROP_SEED (default
 * 20261125) for GPT_PROP_STEPS steps (default 3000); more_seeds runs the
 * GPT_PROP_SEEDS (default 4) seeds after it. A failure names the seed, the
 * step and the operation; replay with GPT_PROP_SEED=<seed> GPT_PROP_SEEDS=0.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt.h"
#include "gpt_mock.h"

#define MB (1ull << 20)
#define PG 4096ull
#define NCHUNK 5          /* chunks 0..3 at 2 MiB each (chunk 3 starts huge), chunk 4
                             far away and empty at first (upper tables made on demand) */
#define FAR_GPA (600ull << 30) /* chunk 4: another PML4 entry */
#define NP 24             /* model pages per chunk (indices 0..NP-1) */
#define NPAGES (NCHUNK * NP)
#define MAXVM 400
#define MAXLIVE 24
#define AUDIT_FULL 25
#define FRAMES (1 << 16)

struct model {
	/* written: written since this VM was cloned / its chunk reset */
	uint8_t present[NPAGES], writable[NPAGES], pinned[NPAGES], written[NPAGES];
};

struct vm {
	struct gpt *g;
	struct model m;
};

static struct gpt_mock M;
static struct vm vms[MAXVM];
static int nvm, nlive;
static uint64_t seed, rng_state;
static int step;
static const char *op_name = "init";

/* A failed check fails the Criterion test at once (cr_assert_fail longjmps
 * out of the test; the process ends right after, so locks held by a GPT
 * callback on the way do not matter) with the seed and step to replay. */
#define CHECK(cond, ...)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			char msg_[512];                                                   \
			snprintf(msg_, sizeof(msg_), __VA_ARGS__);                        \
			cr_assert_fail("seed=%" PRIu64 " step=%d op=%s: %s: %s "          \
			               "(replay: GPT_PROP_SEED=%" PRIu64 ")",               \
			               seed, step, op_name, #cond, msg_, seed);           \
		}                                                                         \
	} while (0)

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}
static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

static uint64_t chunk_gpa(int c) { return c == NCHUNK - 1 ? FAR_GPA : (uint64_t)c * 2 * MB; }
static uint64_t page_gpa(int p) { return chunk_gpa(p / NP) + (uint64_t)(p % NP) * PG; }

/* Allocation-failure injection: before some operations the mock is armed to
 * fail the 1st..3rd frame or table allocation. Every operation of this test
 * works on one 2 MiB chunk per call, so an -ENOMEM must leave that call's
 * effect out entirely: the model is left unchanged and the read check and
 * audit then prove the tables, counters and refcounts were too. */
static bool injecting;
static unsigned nomem_seen;
static bool injected_nomem(int r)
{
	if (r != -ENOMEM || !injecting)
		return false;
	nomem_seen++;
	return true;
}

static int pick_live(void)
{
	int k = rn((unsigned)nlive), i;
	for (i = 0; i < nvm; i++)
		if (vms[i].g && k-- == 0)
			return i;
	return -1;
}

/* --- checks -------------------------------------------------------------------- */

/* model page index of gpa, or -1 if it is not a model page */
static int page_of(uint64_t gpa)
{
	for (int c = 0; c < NCHUNK; c++)
		if (gpa >= chunk_gpa(c) && gpa < chunk_gpa(c) + NP * PG)
			return c * NP + (int)((gpa - chunk_gpa(c)) / PG);
	return -1;
}

struct wset {
	int v;
	uint8_t seen[NPAGES];
	int n, last;
	unsigned per_chunk[NCHUNK];
};
static int written_page(void *arg, uint64_t gpa, uint64_t frame)
{
	(void)frame;
	struct wset *w = arg;
	int p = page_of(gpa);
	CHECK(p >= 0, "vm %d: written page %#" PRIx64 " is no model page (never written)", w->v, gpa);
	CHECK(p > w->last, "vm %d: written pages out of order at %#" PRIx64, w->v, gpa);
	w->last = p;
	w->seen[p] = 1;
	w->n++;
	return 0;
}
static int written_leaf(void *arg, uint64_t leaf_gpa, unsigned n)
{
	struct wset *w = arg;
	int p = page_of(leaf_gpa);
	CHECK(p >= 0 && p % NP == 0, "vm %d: written leaf %#" PRIx64 " is no model chunk", w->v, leaf_gpa);
	w->per_chunk[p / NP] += n;
	return 0;
}

/* The enumerated written set is exactly the model's, both ways. */
static void check_written(int v)
{
	const struct model *m = &vms[v].m;
	struct wset w = { .v = v, .last = -1 };
	CHECK(gpt_for_each_written(vms[v].g, 0, GPT_GPA_LIMIT, written_page, &w) == 0, "enumerate");
	CHECK(gpt_for_each_written_leaf(vms[v].g, 0, GPT_GPA_LIMIT, written_leaf, &w) == 0, "enumerate leaves");
	unsigned want = 0;
	for (int p = 0; p < NPAGES; p++) {
		CHECK(w.seen[p] == m->written[p], "vm %d page %d: enumerated as %s, model says %s", v, p,
		      w.seen[p] ? "written" : "not written", m->written[p] ? "written" : "not written");
		want += m->written[p];
	}
	for (int c = 0; c < NCHUNK; c++) {
		unsigned n = 0;
		for (int p = c * NP; p < (c + 1) * NP; p++)
			n += m->written[p];
		CHECK(w.per_chunk[c] == n, "vm %d chunk %d: leaf enumeration counts %u, model %u", v, c,
		      w.per_chunk[c], n);
	}
	struct gpt_stats s;
	gpt_get_stats(vms[v].g, &s);
	CHECK(s.written == want, "vm %d: stats.written %" PRIu64 ", model %u", v, s.written, want);
}

static void check_reads(int v)
{
	for (int p = 0; p < NPAGES; p++) {
		uint64_t f, fl;
		int r = gpt_lookup(vms[v].g, page_gpa(p), &f, &fl);
		const struct model *m = &vms[v].m;
		if (!m->present[p]) {
			CHECK(r == -ENOENT, "vm %d page %d: mapped, model says hole", v, p);
			continue;
		}
		CHECK(r == 0, "vm %d page %d: hole, model says mapped", v, p);
		CHECK(!!(fl & GPT_WRITABLE) == m->writable[p], "vm %d page %d writable", v, p);
		CHECK(!!(fl & GPT_PINNED) == m->pinned[p], "vm %d page %d pinned", v, p);
		CHECK(!!(fl & GPT_WRITTEN) == m->written[p], "vm %d page %d: lookup says %s, model says %s", v, p,
		      (fl & GPT_WRITTEN) ? "written" : "not written", m->written[p] ? "written" : "not written");
	}
	check_written(v);
}

#define MAXLEAVES 4096
struct leaf_rec {
	uint64_t table;
	unsigned holders, writers;
	struct gpt_leaf_info in;
};
static struct leaf_rec leaves[MAXLEAVES];
static int nleaves;
static struct gpt_stats recomputed;
static int cur_vm;

static int audit_leaf(void *arg, const struct gpt_leaf_info *in)
{
	(void)arg;
	struct gpt_stats *s = &recomputed;
	if (in->huge) {
		s->huge++;
		s->rss_owned += 512;
		if (in->pde & GPT_PRIVATE)
			s->rss_private += 512;
		return 0;
	}
	bool rw = in->pde & PTE_RW;
	bool writer = in->pde & GPT_PDE_WRITER;
	CHECK(!rw || (in->refcount == 1 && in->owned), "vm %d leaf %#" PRIx64 ": RW=%d ref=%u owned=%d",
	      cur_vm, in->gpa, rw, in->refcount, in->owned);
	CHECK(!rw || writer, "vm %d leaf %#" PRIx64 ": exclusive but not the writer", cur_vm, in->gpa);
	CHECK(!in->npinned || rw, "pinned leaf shared");
	if (writer)
		s->written += in->nwritten;
	if (rw) {
		s->leaves_private++;
		s->rss_private += in->nprivate;
	} else {
		s->leaves_shared++;
		s->rss_shared += in->npresent;
	}
	if (in->owned) {
		s->rss_owned += in->npresent;
		s->table_bytes += 4096;
	}
	int i;
	for (i = 0; i < nleaves && leaves[i].table != in->table; i++)
		;
	if (i == nleaves) {
		CHECK(nleaves < MAXLEAVES, "too many leaves");
		leaves[nleaves++] = (struct leaf_rec){ .table = in->table, .in = *in };
	}
	leaves[i].holders++;
	leaves[i].writers += writer;
	CHECK(leaves[i].writers <= 1, "leaf %#" PRIx64 ": two writers", in->table);
	CHECK(leaves[i].in.refcount == in->refcount, "refcount differs between holders");
	return 0;
}

static uint32_t *expect_ref;

static void audit(bool full)
{
	nleaves = 0;
	uint64_t upper = 0, huge_frames = 0;
	if (full)
		memset(expect_ref, 0, FRAMES * sizeof(*expect_ref));
	for (int v = 0; v < nvm; v++) {
		if (!vms[v].g)
			continue;
		struct gpt *g = vms[v].g;
		cur_vm = v;
		recomputed = (struct gpt_stats){ 0 };
		uint64_t up = gpt_upper_tables(g);
		upper += up;
		recomputed.table_bytes = up * 4096;
		gpt_for_each_leaf(g, audit_leaf, NULL);
		struct gpt_stats s;
		gpt_get_stats(g, &s);
		CHECK(s.rss_owned == recomputed.rss_owned, "vm %d rss_owned %lu != %lu", v, s.rss_owned, recomputed.rss_owned);
		CHECK(s.rss_shared == recomputed.rss_shared, "vm %d rss_shared %lu != %lu", v, s.rss_shared, recomputed.rss_shared);
		CHECK(s.rss_private == recomputed.rss_private, "vm %d rss_private %lu != %lu", v, s.rss_private, recomputed.rss_private);
		CHECK(s.table_bytes == recomputed.table_bytes, "vm %d table_bytes %lu != %lu", v, s.table_bytes, recomputed.table_bytes);
		CHECK(s.leaves_shared == recomputed.leaves_shared, "vm %d leaves_shared", v);
		CHECK(s.leaves_private == recomputed.leaves_private, "vm %d leaves_private", v);
		CHECK(s.huge == recomputed.huge, "vm %d huge", v);
		CHECK(s.written == recomputed.written, "vm %d written %lu != %lu", v, s.written, recomputed.written);
		if (full) {
			/* 2 MiB maps: one reference per frame per VM */
			for (int c = 0; c < NCHUNK; c++) {
				uint64_t pde, pte;
				gpt_debug_entry(g, chunk_gpa(c), &pde, &pte);
				if ((pde & PTE_P) && (pde & PTE_PS)) {
					uint64_t f0 = (pde & PTE_ADDR_MASK_2M) >> 12;
					for (unsigned i = 0; i < 512; i++)
						expect_ref[f0 + i]++;
					huge_frames += 512;
				}
			}
		}
	}
	for (int i = 0; i < nleaves; i++)
		CHECK(leaves[i].holders == leaves[i].in.refcount, "leaf %#" PRIx64 " refcount %u, %u holders",
		      leaves[i].table, leaves[i].in.refcount, leaves[i].holders);
	CHECK(gpt_domain_live_tables(M.dom) == upper + (uint64_t)nleaves, "domain tables %lu != %lu",
	      gpt_domain_live_tables(M.dom), upper + (uint64_t)nleaves);
	if (!full)
		return;
	/* every leaf's counters against its entries; every frame's refcount */
	for (int i = 0; i < nleaves; i++) {
		const pte_t *t = (const pte_t *)(uintptr_t)leaves[i].table; /* audit reads the table words */
		unsigned np = 0, npriv = 0, npin = 0, nwr = 0;
		for (unsigned k = 0; k < 512; k++) {
			pte_t e = __atomic_load_n(&t[k], __ATOMIC_ACQUIRE);
			if (!(e & PTE_P))
				continue;
			np++;
			npriv += !!(e & GPT_PRIVATE);
			npin += !!(e & GPT_PINNED);
			nwr += !!(e & GPT_WRITTEN);
			uint64_t f = (e & PTE_ADDR_MASK) >> 12;
			CHECK(f < FRAMES, "frame out of range");
			expect_ref[f] += (e & GPT_PINNED) ? 2 : 1; /* the pin holds one */
			if (e & GPT_PINNED)
				CHECK(e & GPT_PRIVATE, "pinned but not private");
		}
		CHECK(np == leaves[i].in.npresent, "leaf npresent %u != %u", leaves[i].in.npresent, np);
		CHECK(npriv == leaves[i].in.nprivate, "leaf nprivate %u != %u", leaves[i].in.nprivate, npriv);
		CHECK(npin == leaves[i].in.npinned, "leaf npinned");
		CHECK(nwr == leaves[i].in.nwritten, "leaf nwritten %u != %u", leaves[i].in.nwritten, nwr);
	}
	uint64_t live = 0;
	for (uint64_t f = 1; f < FRAMES; f++) {
		uint32_t r = gpt_mock_ref(&M, f);
		CHECK(r == expect_ref[f], "frame %lu refcount %u, named %u times", f, r, expect_ref[f]);
		live += r != 0;
	}
	for (int i = 0; i < nleaves; i++) {
		if (!(leaves[i].in.pde & PTE_RW))
			continue;
		const pte_t *t = (const pte_t *)(uintptr_t)leaves[i].table;
		for (unsigned k = 0; k < 512; k++) {
			pte_t e = t[k];
			/* I2: PRIVATE in an exclusive leaf => one reference, + the pin's */
			if ((e & PTE_P) && (e & GPT_PRIVATE))
				CHECK(gpt_mock_ref(&M, (e & PTE_ADDR_MASK) >> 12) == 1u + !!(e & GPT_PINNED),
				      "private frame shared");
		}
	}
	CHECK(live == gpt_mock_live(&M), "live frames");
	CHECK(M.underflows == 0, "refcount underflow");
}

/* --- operations -------------------------------------------------------------- */

/* coverage of the two item-4 situations (checked at the end of a run) */
static unsigned cloned_written, stale_reuse;

static bool any_written(const struct model *m)
{
	for (int p = 0; p < NPAGES; p++)
		if (m->written[p])
			return true;
	return false;
}

static struct gpt_leaf_info want_leaf;
static uint64_t want_leaf_gpa;
static int find_leaf(void *arg, const struct gpt_leaf_info *in)
{
	if (in->gpa == want_leaf_gpa)
		*(bool *)arg = true, want_leaf = *in;
	return 0;
}

static void op_write(int v)
{
	int p = rn(NPAGES);
	struct model *m = &vms[v].m;
	/* Is this write about to reuse a leaf whose WRITTEN bits another
	 * holder wrote (it left, we are the last holder)? */
	bool found = false;
	want_leaf_gpa = page_gpa(p) & ~(2 * MB - 1);
	gpt_for_each_leaf(vms[v].g, find_leaf, &found);
	bool stale = found && !want_leaf.huge && !(want_leaf.pde & GPT_PDE_WRITER) &&
	             want_leaf.refcount == 1 && want_leaf.nwritten > 0;
	uint64_t f;
	int r = gpt_write_fault(vms[v].g, page_gpa(p), &f);
	if (m->present[p] && !m->writable[p]) {
		CHECK(r == -EACCES, "write to read-only page: %d", r);
		return;
	}
	if (injected_nomem(r))
		return;
	CHECK(r == 0, "write fault %d", r);
	/* No bytes to compare: check instead that the write goes to a frame
	 * only this (exclusive) leaf names, plus the pin's reference. */
	uint64_t pde, pte;
	CHECK(gpt_debug_entry(vms[v].g, page_gpa(p), &pde, &pte) == 0, "entry");
	CHECK((pde & PTE_RW) && !(pde & PTE_PS), "vm %d page %d: written through a shared leaf", v, p);
	CHECK((pte & PTE_ADDR_MASK) >> 12 == f, "vm %d page %d: fault returned another frame", v, p);
	CHECK(gpt_mock_ref(&M, f) == 1u + m->pinned[p], "vm %d page %d: written frame has %u refs", v, p,
	      gpt_mock_ref(&M, f));
	stale_reuse += stale;
	if (!m->present[p]) {
		m->present[p] = 1;
		m->writable[p] = 1;
	}
	m->written[p] = 1;
}

static void range(int *lo, int *hi)
{
	*lo = rn(NPAGES);
	*hi = *lo + 1 + rn(NP);
	if (*hi > NPAGES)
		*hi = NPAGES;
}

static void op_protect(int v)
{
	int lo, hi;
	range(&lo, &hi);
	bool w = rn(2);
	/* the model pages are the only mapped ones except in split huge chunks:
	 * protect exactly the model pages' span (contiguous within a chunk) */
	for (int p = lo; p < hi; p++) {
		int r = gpt_protect(vms[v].g, page_gpa(p), PG, w);
		if (injected_nomem(r))
			return;
		CHECK(r == 0, "protect %d", r);
		if (vms[v].m.present[p])
			vms[v].m.writable[p] = w;
	}
}

static void model_hole(struct model *m, int p)
{
	m->present[p] = m->writable[p] = m->pinned[p] = m->written[p] = 0;
}

static bool pinned_in(const struct model *m, int lo, int hi)
{
	for (int p = lo; p < hi; p++)
		if (m->pinned[p])
			return true;
	return false;
}

static void op_discard(int v)
{
	struct model *m = &vms[v].m;
	if (rn(3) == 0) { /* a whole chunk */
		int c = rn(NCHUNK);
		int r = gpt_discard(vms[v].g, chunk_gpa(c), 2 * MB); /* never allocates */
		if (pinned_in(m, c * NP, (c + 1) * NP)) {
			CHECK(r == -EBUSY, "discard of a chunk with a pinned page: %d", r);
			return;
		}
		CHECK(r == 0, "discard chunk %d", r);
		for (int p = c * NP; p < (c + 1) * NP; p++)
			model_hole(m, p);
		return;
	}
	int lo, hi;
	range(&lo, &hi);
	for (int p = lo; p < hi; p++) {
		int r = gpt_discard(vms[v].g, page_gpa(p), PG);
		if (m->pinned[p]) {
			CHECK(r == -EBUSY, "discard of a pinned page: %d", r);
			continue;
		}
		if (injected_nomem(r))
			return;
		CHECK(r == 0, "discard %d", r);
		model_hole(m, p);
	}
}

static void op_clear_dirty(int v)
{
	int c = rn(NCHUNK);
	int r = gpt_clear_dirty(vms[v].g, chunk_gpa(c), rn(2) ? 2 * MB : 8 * PG);
	CHECK(r == 0 || injected_nomem(r), "clear dirty %d", r);
}

static void op_pin(int v)
{
	int p = rn(NPAGES);
	struct model *m = &vms[v].m;
	if (rn(2)) {
		int r = gpt_pin_range(vms[v].g, page_gpa(p), PG);
		if (!m->present[p])
			CHECK(r == -ENOENT, "pin hole %d", r);
		else if (!m->writable[p])
			CHECK(r == -EACCES, "pin read-only %d", r);
		else if (!injected_nomem(r)) {
			CHECK(r == 0, "pin %d", r);
			m->pinned[p] = 1;
		}
	} else {
		CHECK(gpt_unpin_range(vms[v].g, page_gpa(p), PG) == 0, "unpin");
		m->pinned[p] = 0;
	}
}

static void op_remap(int v)
{
	int p = rn(NPAGES);
	struct model *m = &vms[v].m;
	uint64_t f;
	CHECK(gpt_mock_alloc_range(&M, 1, 1, &f) == 0, "alloc");
	bool w = rn(2);
	int r = gpt_remap(vms[v].g, page_gpa(p), PG, f, w ? GPT_WRITABLE : 0);
	gpt_mock_put(&M, f);
	if (m->pinned[p]) {
		CHECK(r == -EBUSY, "remap of a pinned page: %d", r);
		return;
	}
	if (injected_nomem(r))
		return;
	CHECK(r == 0, "remap %d", r);
	m->present[p] = 1;
	m->writable[p] = w;
	m->pinned[p] = 0;
	m->written[p] = 0; /* a new mapping, not a write */
}

static void op_clone(int v)
{
	if (nlive >= MAXLIVE || nvm >= MAXVM)
		return;
	struct gpt *c;
	int r = gpt_clone(vms[v].g, &c);
	if (injected_nomem(r))
		return;
	CHECK(r == 0, "clone %d", r);
	vms[nvm].g = c;
	vms[nvm].m = vms[v].m;
	/* pinned frames are copied for the child, without the pin; the child
	 * has written nothing yet, the parent keeps its written set */
	memset(vms[nvm].m.pinned, 0, sizeof(vms[nvm].m.pinned));
	memset(vms[nvm].m.written, 0, sizeof(vms[nvm].m.written));
	cloned_written += any_written(&vms[v].m);
	nvm++;
	nlive++;
}

static void op_destroy(int v)
{
	if (nlive <= 2)
		return;
	gpt_destroy(vms[v].g);
	vms[v].g = NULL;
	nlive--;
}

static void op_reset(int v)
{
	int s = pick_live();
	if (s == v)
		return;
	int c = rn(NCHUNK);
	int r = gpt_reset_range(vms[v].g, vms[s].g, chunk_gpa(c), 2 * MB);
	if (pinned_in(&vms[v].m, c * NP, (c + 1) * NP)) {
		CHECK(r == -EBUSY, "reset of a chunk with a pinned page: %d", r);
		return;
	}
	if (injected_nomem(r))
		return;
	CHECK(r == 0, "reset %d", r);
	for (int p = c * NP; p < (c + 1) * NP; p++) {
		vms[v].m.present[p] = vms[s].m.present[p];
		vms[v].m.writable[p] = vms[s].m.writable[p];
		vms[v].m.pinned[p] = 0;
		vms[v].m.written[p] = 0;
	}
}

static void op_split(int v)
{
	int r = gpt_split(vms[v].g, chunk_gpa(3));
	CHECK(r == 0 || r == -ENOENT || injected_nomem(r), "split %d", r);
}

static void op_cow(int v) { gpt_set_cow(vms[v].g, rn(4) != 0); }

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

#define MIN_VMS 50 /* the tree must have had at least this many VMs */

/* One seeded run: build the root VM, `steps` random operations, each
 * followed by the read check of every live VM and the audit, then destroy
 * everything in random order and check that nothing is left. */
static void run_prop(uint64_t run_seed, int steps)
{
	/* fresh state (one test may run several seeds) */
	memset(vms, 0, sizeof(vms));
	nvm = nlive = 0;
	nleaves = 0;
	nomem_seen = 0;
	cloned_written = stale_reuse = 0;
	injecting = false;
	step = 0;
	op_name = "init";
	seed = run_seed;
	rng_state = seed ? seed : 1;
	cr_log_info("gpt property test: seed=%" PRIu64 " steps=%d (GPT_PROP_SEED, GPT_PROP_STEPS)", seed, steps);
	expect_ref = calloc(FRAMES, sizeof(*expect_ref));
	/* no bytes: the product's frame store holds none either */
	CHECK(expect_ref && gpt_mock_init(&M, FRAMES, false) == 0, "init");

	/* root VM: chunks 0..2 with model pages populated, chunk 3 a 2 MiB map */
	CHECK(gpt_create(M.dom, &vms[0].g) == 0, "create");
	nvm = nlive = 1;
	for (int c = 0; c < 3; c++)
		CHECK(gpt_populate(vms[0].g, (uint64_t)c * 2 * MB, NP * PG, GPT_WRITABLE) == 0, "populate");
	uint64_t f0;
	CHECK(gpt_mock_alloc_range(&M, 512, 512, &f0) == 0, "huge frames");
	CHECK(gpt_map(vms[0].g, 3 * 2 * MB, 2 * MB, f0, GPT_WRITABLE | GPT_HUGE | GPT_PRIVATE) == 0, "map huge");
	for (unsigned i = 0; i < 512; i++)
		gpt_mock_put(&M, f0 + i);
	for (int p = 0; p < 4 * NP; p++) /* chunk 4 (far) starts empty */
		vms[0].m.present[p] = vms[0].m.writable[p] = 1;
	check_reads(0); /* populate and map write nothing */
	audit(true);

	unsigned nops[11] = { 0 };
	for (step = 1; step <= steps; step++) {
		int v = pick_live();
		unsigned k = rn(100);
		/* bias towards cloning until the tree is big enough */
		if (nvm < MIN_VMS && rn(3) == 0)
			k = 0;
		/* one step in 8: the 1st..3rd frame or table allocation fails */
		injecting = rn(8) == 0;
		if (injecting) {
			if (rn(2))
				gpt_mock_fail_frame(&M, 1 + rn(3));
			else
				gpt_mock_fail_table(&M, 1 + rn(3));
		}
		if (k < 12) { op_name = "clone"; op_clone(v); nops[0]++; }
		else if (k < 50) { op_name = "write"; op_write(v); nops[1]++; }
		else if (k < 58) { op_name = "protect"; op_protect(v); nops[2]++; }
		else if (k < 66) { op_name = "discard"; op_discard(v); nops[3]++; }
		else if (k < 71) { op_name = "clear_dirty"; op_clear_dirty(v); nops[4]++; }
		else if (k < 76) { op_name = "pin"; op_pin(v); nops[5]++; }
		else if (k < 80) { op_name = "remap"; op_remap(v); nops[6]++; }
		else if (k < 86) { op_name = "reset"; op_reset(v); nops[7]++; }
		else if (k < 88) { op_name = "split"; op_split(v); nops[8]++; }
		else if (k < 90) { op_name = "cow"; op_cow(v); nops[9]++; }
		else { op_name = "destroy"; op_destroy(v); nops[10]++; }
		gpt_mock_fail_frame(&M, 0); /* disarm what the op did not hit */
		gpt_mock_fail_table(&M, 0);
		injecting = false;
		for (int i = 0; i < nvm; i++)
			if (vms[i].g)
				check_reads(i);
		audit(step % AUDIT_FULL == 0);
	}
	step = steps;
	op_name = "final";
	audit(true);
	CHECK(nvm >= MIN_VMS, "only %d VMs created (want >= %d): use more steps", nvm, MIN_VMS);
	CHECK(cloned_written > 0, "no VM with a written set was cloned: use more steps");
	CHECK(stale_reuse > 0, "no write reused a leaf with another holder's WRITTEN bits: use more steps");
	/* destroy in random order; everything must be freed */
	op_name = "teardown";
	int live_at_end = nlive;
	while (nlive > 0) {
		int v = pick_live();
		gpt_destroy(vms[v].g);
		vms[v].g = NULL;
		nlive--;
		if (nlive)
			audit(true);
	}
	CHECK(gpt_domain_live_tables(M.dom) == 0, "tables leaked: %lu", gpt_domain_live_tables(M.dom));
	CHECK(gpt_mock_live(&M) == 0, "frames leaked: %lu", gpt_mock_live(&M));
	CHECK(M.underflows == 0, "underflows");
	CHECK(gpt_mock_fini(&M) == 0, "fini");
	free(expect_ref);
	expect_ref = NULL;
	cr_log_info("gpt property test: seed=%" PRIu64 ": %d steps, %d VMs created, %d live at the end; "
	            "ops clone %u write %u protect %u discard %u clear_dirty %u pin %u remap %u "
	            "reset %u split %u cow %u destroy %u; %u injected -ENOMEM; %u clones of a VM "
	            "with written pages, %u writes reusing a leaf with stale WRITTEN bits: PASS (no leak)",
	            seed, steps, nvm, live_at_end, nops[0], nops[1], nops[2], nops[3], nops[4],
	            nops[5], nops[6], nops[7], nops[8], nops[9], nops[10], nomem_seen, cloned_written,
	            stale_reuse);
}

#define DEFAULT_SEED 20261125ull

/* The main run: GPT_PROP_SEED (default 20261125), GPT_PROP_STEPS (3000). */
Test(gpt_prop, random_ops_against_model, .timeout = 300)
{
	run_prop(env_u64("GPT_PROP_SEED", DEFAULT_SEED), (int)env_u64("GPT_PROP_STEPS", 3000));
}

/* GPT_PROP_SEEDS (default 4) more seeds, seed+1 .. seed+N, same steps: more
 * shapes of tree per `make test`. GPT_PROP_SEEDS=0 skips them. */
Test(gpt_prop, more_seeds, .timeout = 300)
{
	uint64_t base = env_u64("GPT_PROP_SEED", DEFAULT_SEED);
	int steps = (int)env_u64("GPT_PROP_STEPS", 3000);
	uint64_t n = env_u64("GPT_PROP_SEEDS", 4);
	for (uint64_t i = 1; i <= n; i++)
		run_prop(base + i, steps);
}
