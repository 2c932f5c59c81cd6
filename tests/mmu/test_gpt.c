/*
 * test_gpt.c - Criterion unit tests of the GPT: every leaf state transition
 * of the RFC's table ([rss, ref, write, owner]), exclusive (pinned) leaves,
 * pins (a reference each, unmap refused), each walker, the COW switch, the
 * written set (clone of a clone, reused leaves, reset) and injected
 * allocation failures. Asserts exact entry words and exact counters.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "gpt.h"
#include "gpt_mock.h"

#define MB (1ull << 20)
#define PG 4096ull
#define T  4096ull /* one table */
#define LEAF(g) (2 * MB) /* chunk used by most tests: [2 MiB, 4 MiB) */

static struct gpt_mock M;
static struct gpt *P;

static void setup(void)
{
	cr_assert_eq(gpt_mock_init(&M, 1 << 14, true), 0);
	cr_assert_eq(gpt_create(M.dom, &P), 0);
}

static void teardown(void)
{
	if (P)
		gpt_destroy(P);
	cr_assert_eq(gpt_domain_live_tables(M.dom), 0, "tables leaked");
	cr_assert_eq(M.underflows, 0, "frame refcount underflow");
	cr_assert_eq(gpt_mock_fini(&M), 0, "frames leaked");
}

TestSuite(gpt, .init = setup, .fini = teardown);

static uint64_t pte_of(struct gpt *g, uint64_t gpa)
{
	uint64_t pde, pte;
	cr_assert_eq(gpt_debug_entry(g, gpa, &pde, &pte), 0);
	return pte;
}
static uint64_t pde_of(struct gpt *g, uint64_t gpa)
{
	uint64_t pde, pte;
	cr_assert_eq(gpt_debug_entry(g, gpa, &pde, &pte), 0);
	return pde;
}
static uint64_t frame_of(struct gpt *g, uint64_t gpa)
{
	uint64_t f;
	cr_assert_eq(gpt_lookup(g, gpa, &f, NULL), 0);
	return f;
}

struct one_leaf {
	struct gpt_leaf_info in;
	int n;
};
static int grab(void *arg, const struct gpt_leaf_info *in)
{
	struct one_leaf *o = arg;
	if (o->n++ == 0)
		o->in = *in;
	return 0;
}
static struct gpt_leaf_info first_leaf(struct gpt *g, int *n)
{
	struct one_leaf o = { 0 };
	gpt_for_each_leaf(g, grab, &o);
	*n = o.n;
	return o.in;
}
static struct gpt_leaf_info leaf_of(struct gpt *g)
{
	int n;
	struct gpt_leaf_info in = first_leaf(g, &n);
	cr_assert_eq(n, 1, "expected one leaf, got %d", n);
	return in;
}

static struct gpt_stats st(struct gpt *g)
{
	struct gpt_stats s;
	gpt_get_stats(g, &s);
	return s;
}

#define ST_EQ(s, own, shr, prv, tbytes, lsh, lpr, wr)                                  \
	do {                                                                          \
		cr_expect_eq((s).written, (wr), "written %lu", (s).written);          \
		cr_expect_eq((s).rss_owned, (own), "rss_owned %lu", (s).rss_owned);   \
		cr_expect_eq((s).rss_shared, (shr), "rss_shared %lu", (s).rss_shared); \
		cr_expect_eq((s).rss_private, (prv), "rss_private %lu", (s).rss_private); \
		cr_expect_eq((s).table_bytes, (tbytes), "table_bytes %lu", (s).table_bytes); \
		cr_expect_eq((s).leaves_shared, (lsh), "leaves_shared %lu", (s).leaves_shared); \
		cr_expect_eq((s).leaves_private, (lpr), "leaves_private %lu", (s).leaves_private); \
	} while (0)

#define P_RW_PRIV (GPT_PRESENT | GPT_WRITABLE | GPT_PRIVATE)
/* a page written by gpt_write_fault: private frame, in the written set */
#define WROTE (GPT_PRESENT | GPT_WRITABLE | GPT_ACCESSED | GPT_DIRTY | GPT_PRIVATE | GPT_WRITTEN)
#define PDE_X  (PTE_P | PTE_US | PTE_RW | GPT_PDE_WRITER) /* exclusive leaf (always the writer) */
#define PDE_S  (PTE_P | PTE_US)                  /* shared leaf, WRITTEN bits not ours */
#define PDE_SW (PTE_P | PTE_US | GPT_PDE_WRITER) /* shared leaf whose WRITTEN bits are ours */

/* Parent with 3 fresh pages at 2 MiB: one leaf, PML4+PDPT+PD+leaf. */
static void populate3(void)
{
	cr_assert_eq(gpt_populate(P, 2 * MB, 3 * PG, GPT_WRITABLE), 0);
}

Test(gpt, populate_entry_words_and_counters)
{
	populate3();
	struct gpt_leaf_info l = leaf_of(P);
	cr_assert_eq(l.pde, l.table | PDE_X);
	for (int i = 0; i < 3; i++) {
		uint64_t f = frame_of(P, 2 * MB + i * PG);
		cr_assert_eq(pte_of(P, 2 * MB + i * PG), (f << 12) | P_RW_PRIV);
		cr_assert_eq(gpt_mock_ref(&M, f), 1);
	}
	cr_assert_eq(l.refcount, 1);
	cr_assert(l.owned);
	ST_EQ(st(P), 3, 0, 3, 4 * T, 0, 1, 0);
	cr_assert_eq(gpt_upper_tables(P), 3);
}

/* RFC "after fork": [parent, rss=3, ref=2, write=NO, owner=parent],
 *                   [child,  rss=0, ref=2, write=NO, owner=parent] */
Test(gpt, clone_shares_leaf_write_protected)
{
	populate3();
	uint64_t f0 = frame_of(P, 2 * MB);
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	struct gpt_leaf_info lp = leaf_of(P), lc = leaf_of(C);
	cr_assert_eq(lp.table, lc.table, "same leaf");
	cr_assert_eq(lp.pde, lp.table | PDE_SW);
	cr_assert_eq(lc.pde, lc.table | PDE_S);
	cr_assert_eq(lp.refcount, 2);
	cr_assert(lp.owned);
	cr_assert(!lc.owned && !lc.orphan);
	/* no per-page work: entries untouched, frame refcounts unchanged */
	cr_assert_eq(pte_of(C, 2 * MB), (f0 << 12) | P_RW_PRIV);
	cr_assert_eq(gpt_mock_ref(&M, f0), 1);
	uint64_t fl;
	cr_assert_eq(gpt_lookup(C, 2 * MB, NULL, &fl), 0);
	cr_assert_eq(fl, GPT_PRESENT | GPT_WRITABLE, "shared leaf: not private");
	ST_EQ(st(P), 3, 3, 0, 4 * T, 1, 0, 0);
	ST_EQ(st(C), 0, 3, 0, 3 * T, 1, 0, 0);
	gpt_destroy(C);
	/* back to refcount 1, still write-protected until the next write */
	lp = leaf_of(P);
	cr_assert_eq(lp.refcount, 1);
	cr_assert_eq(lp.pde, lp.table | PDE_SW);
}

/* RFC "child breaks": child copies; [child, rss=3, ref=1, write=YES, owner=child]
 * old leaf [ref=1, write=NO, owner=parent]; then parent reuses at ref 1. */
Test(gpt, child_breaks_then_parent_reuses)
{
	populate3();
	uint64_t f0 = frame_of(P, 2 * MB), f1 = frame_of(P, 2 * MB + PG);
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	uint64_t nf;
	cr_assert_eq(gpt_write_fault(C, 2 * MB, &nf), 0);
	cr_assert_neq(nf, f0);
	struct gpt_leaf_info lp = leaf_of(P), lc = leaf_of(C);
	cr_assert_neq(lc.table, lp.table);
	cr_assert_eq(lc.pde, lc.table | PDE_X);
	cr_assert_eq(lc.refcount, 1);
	cr_assert(lc.owned);
	cr_assert_eq(lp.pde, lp.table | PDE_SW);
	cr_assert_eq(lp.refcount, 1);
	cr_assert(lp.owned);
	/* exact words: child page 0 is a fresh private dirty frame, page 1 is
	 * shared at page level (PRIVATE cleared in both leaves) */
	cr_assert_eq(pte_of(C, 2 * MB), (nf << 12) | WROTE);
	cr_assert_eq(pte_of(C, 2 * MB + PG), (f1 << 12) | GPT_PRESENT | GPT_WRITABLE);
	cr_assert_eq(pte_of(P, 2 * MB + PG), (f1 << 12) | GPT_PRESENT | GPT_WRITABLE);
	cr_assert_eq(pte_of(P, 2 * MB), (f0 << 12) | GPT_PRESENT | GPT_WRITABLE);
	cr_assert_eq(gpt_mock_ref(&M, f0), 1);
	cr_assert_eq(gpt_mock_ref(&M, f1), 2);
	cr_assert_eq(gpt_mock_ref(&M, nf), 1);
	struct gpt_stats sc = st(C);
	ST_EQ(sc, 3, 0, 1, 4 * T, 0, 1, 1);
	cr_assert_eq(sc.breaks_copy, 1);
	cr_assert_eq(sc.frames_copied, 1);
	ST_EQ(st(P), 3, 3, 0, 4 * T, 1, 0, 0);

	/* parent writes page 0: refcount 1 -> reuse in place; f0 is only in
	 * the parent's leaf -> written in place too */
	uint64_t pf;
	cr_assert_eq(gpt_write_fault(P, 2 * MB, &pf), 0);
	cr_assert_eq(pf, f0);
	lp = leaf_of(P);
	cr_assert_eq(lp.pde, lp.table | PDE_X);
	struct gpt_stats sp = st(P);
	ST_EQ(sp, 3, 0, 1, 4 * T, 0, 1, 1);
	cr_assert_eq(sp.breaks_reuse, 1);
	cr_assert_eq(sp.breaks_copy, 0);
	cr_assert_eq(sp.frames_copied, 0);
	cr_assert_eq(pte_of(P, 2 * MB), (f0 << 12) | WROTE);
	/* page 1 is still named by two leaves: page-level COW */
	cr_assert_eq(gpt_write_fault(P, 2 * MB + PG, &pf), 0);
	cr_assert_neq(pf, f1);
	cr_assert_eq(gpt_mock_ref(&M, f1), 1);
	cr_assert_eq(st(P).frames_copied, 1);
	gpt_destroy(C);
}

/* RFC "parent breaks": parent copies, the old leaf loses its owner;
 * the child then reuses it at refcount 1 and takes ownership + accounting. */
Test(gpt, parent_breaks_then_child_reuses_orphan)
{
	populate3();
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	uint64_t old = leaf_of(P).table;
	cr_assert_eq(gpt_write_fault(P, 2 * MB + 2 * PG, NULL), 0);
	struct gpt_leaf_info lp = leaf_of(P), lc = leaf_of(C);
	cr_assert_neq(lp.table, old);
	cr_assert_eq(lc.table, old);
	cr_assert(lc.orphan, "old leaf has no owner after the owner copied");
	cr_assert_eq(lc.refcount, 1);
	/* owner swapped its shared leaf for its copy: rss/table bytes unchanged */
	ST_EQ(st(P), 3, 0, 1, 4 * T, 0, 1, 1);
	ST_EQ(st(C), 0, 3, 0, 3 * T, 1, 0, 0);
	cr_assert_eq(gpt_write_fault(C, 2 * MB + 2 * PG, NULL), 0);
	lc = leaf_of(C);
	cr_assert_eq(lc.table, old);
	cr_assert_eq(lc.pde, old | PDE_X);
	cr_assert(lc.owned);
	struct gpt_stats sc = st(C);
	ST_EQ(sc, 3, 0, 1, 4 * T, 0, 1, 1);
	cr_assert_eq(sc.breaks_reuse, 1);
	gpt_destroy(C);
}

Test(gpt, reuse_after_other_holder_destroyed)
{
	populate3();
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	uint64_t old = leaf_of(P).table;
	gpt_destroy(P);
	P = NULL;
	struct gpt_leaf_info lc = leaf_of(C);
	cr_assert(lc.orphan);
	cr_assert_eq(lc.refcount, 1);
	/* orphan leaf's private bits were never cleared (no copy): frames are
	 * named by this leaf only, so the reuse finds 3 private pages */
	cr_assert_eq(gpt_write_fault(C, 2 * MB, NULL), 0);
	lc = leaf_of(C);
	cr_assert_eq(lc.table, old);
	ST_EQ(st(C), 3, 0, 3, 4 * T, 0, 1, 1);
	cr_assert_eq(st(C).frames_copied, 0);
	P = C;
}

Test(gpt, clone_of_clone_refcounts_and_chain)
{
	populate3();
	struct gpt *C, *D;
	cr_assert_eq(gpt_clone(P, &C), 0);
	cr_assert_eq(gpt_clone(C, &D), 0);
	cr_assert_eq(leaf_of(P).refcount, 3);
	cr_assert(leaf_of(P).owned);
	cr_assert(!leaf_of(D).owned);
	cr_assert_eq(gpt_write_fault(C, 2 * MB, NULL), 0);
	cr_assert_eq(leaf_of(P).refcount, 2);
	cr_assert_eq(leaf_of(D).table, leaf_of(P).table);
	gpt_destroy(C);
	gpt_destroy(D);
	cr_assert_eq(leaf_of(P).refcount, 1);
}

/* Pinned frames make the leaf exclusive: clone copies it at once and
 * copies the pinned frame for the child; the parent keeps its pin. */
Test(gpt, exclusive_pinned_leaf_copied_at_clone)
{
	populate3();
	uint64_t f0 = frame_of(P, 2 * MB), f1 = frame_of(P, 2 * MB + PG);
	memset(gpt_mock_data(&M, f0), 0xab, 4096);
	cr_assert_eq(gpt_pin_range(P, 2 * MB, PG), 0);
	cr_assert_eq(pte_of(P, 2 * MB), (f0 << 12) | P_RW_PRIV | GPT_PINNED);
	cr_assert_eq(leaf_of(P).npinned, 1);
	cr_assert_eq(gpt_mock_ref(&M, f0), 2, "the pin holds a reference");
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	struct gpt_leaf_info lp = leaf_of(P), lc = leaf_of(C);
	cr_assert_neq(lp.table, lc.table);
	cr_assert_eq(lp.pde, lp.table | PDE_X, "pinned leaf stays writable");
	cr_assert_eq(lc.pde, lc.table | PDE_X);
	cr_assert_eq(lp.refcount, 1);
	cr_assert_eq(lc.refcount, 1);
	uint64_t cf0 = frame_of(C, 2 * MB);
	cr_assert_neq(cf0, f0);
	cr_assert_eq(gpt_mock_data(&M, cf0)[100], 0xab);
	cr_assert_eq(pte_of(C, 2 * MB), (cf0 << 12) | P_RW_PRIV);
	cr_assert_eq(pte_of(P, 2 * MB), (f0 << 12) | P_RW_PRIV | GPT_PINNED);
	cr_assert_eq(pte_of(C, 2 * MB + PG), (f1 << 12) | GPT_PRESENT | GPT_WRITABLE);
	cr_assert_eq(pte_of(P, 2 * MB + PG), (f1 << 12) | GPT_PRESENT | GPT_WRITABLE);
	cr_assert_eq(gpt_mock_ref(&M, f1), 2);
	cr_assert_eq(gpt_mock_ref(&M, f0), 2, "the leaf's reference and the pin's");
	cr_assert_eq(gpt_mock_ref(&M, cf0), 1);
	ST_EQ(st(P), 3, 0, 1, 4 * T, 0, 1, 0);
	ST_EQ(st(C), 3, 0, 1, 4 * T, 0, 1, 0);
	cr_assert_eq(st(C).leaves_eager, 1);
	/* a shared leaf being pinned is broken first */
	cr_assert_eq(gpt_unpin_range(P, 2 * MB, PG), 0);
	cr_assert_eq(leaf_of(P).npinned, 0);
	cr_assert_eq(gpt_mock_ref(&M, f0), 1, "unpin dropped the pin's reference");
	cr_assert_eq(pte_of(P, 2 * MB), (f0 << 12) | P_RW_PRIV);
	struct gpt *D;
	cr_assert_eq(gpt_clone(P, &D), 0);
	cr_assert_eq(leaf_of(D).table, leaf_of(P).table, "unpinned: shared again");
	cr_assert_eq(gpt_pin_range(D, 2 * MB + PG, PG), 0);
	cr_assert_neq(leaf_of(D).table, leaf_of(P).table);
	cr_assert_eq(leaf_of(D).npinned, 1);
	gpt_destroy(C);
	gpt_destroy(D);
}

Test(gpt, cow_off_copies_every_leaf)
{
	cr_assert_eq(gpt_populate(P, 0, 4 * MB, GPT_WRITABLE), 0);
	gpt_set_cow(P, false);
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	cr_assert(!gpt_cow(C));
	struct gpt_stats sc = st(C), sp = st(P);
	ST_EQ(sc, 1024, 0, 0, 5 * T, 0, 2, 0);
	cr_assert_eq(sc.leaves_eager, 2);
	ST_EQ(sp, 1024, 0, 0, 5 * T, 0, 2, 0);
	cr_assert_eq(gpt_write_fault(C, 0, NULL), 0);
	cr_assert_eq(st(C).breaks_copy + st(C).breaks_reuse, 0, "no leaf COW with cow off");
	cr_assert_eq(st(C).frames_copied, 1);
	gpt_destroy(C);
}

Test(gpt, write_fault_demand_zero_and_protection)
{
	uint64_t f;
	cr_assert_eq(gpt_write_fault(P, 5 * PG, &f), 0);
	cr_assert_eq(pte_of(P, 5 * PG), (f << 12) | WROTE);
	ST_EQ(st(P), 1, 0, 1, 4 * T, 0, 1, 1);
	cr_assert_eq(gpt_protect(P, 5 * PG, PG, false), 0);
	cr_assert_eq(pte_of(P, 5 * PG), (f << 12) | (WROTE & ~GPT_WRITABLE));
	uint64_t before = pte_of(P, 5 * PG);
	cr_assert_eq(gpt_write_fault(P, 5 * PG, NULL), -EACCES);
	cr_assert_eq(pte_of(P, 5 * PG), before);
	cr_assert_eq(gpt_write_fault(P, GPT_GPA_LIMIT, NULL), -EINVAL);
	cr_assert_eq(gpt_write_fault(P, 5 * PG + 1, NULL), -EINVAL);
}

/* --- walkers on shared leaves -------------------------------------------------- */

Test(gpt, protect_breaks_cow_only_when_it_changes_something)
{
	populate3();
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	uint64_t shared = leaf_of(C).table;
	cr_assert_eq(gpt_protect(C, 2 * MB, 2 * MB, true), 0); /* already writable */
	cr_assert_eq(leaf_of(C).table, shared, "no-op protect keeps sharing");
	cr_assert_eq(gpt_protect(C, 2 * MB + PG, PG, false), 0);
	struct gpt_leaf_info lc = leaf_of(C);
	cr_assert_neq(lc.table, shared);
	uint64_t f1 = frame_of(P, 2 * MB + PG);
	cr_assert_eq(pte_of(C, 2 * MB + PG), (f1 << 12) | GPT_PRESENT);
	cr_assert_eq(pte_of(P, 2 * MB + PG), (f1 << 12) | GPT_PRESENT | GPT_WRITABLE, "parent unaffected");
	cr_assert_eq(gpt_write_fault(C, 2 * MB + PG, NULL), -EACCES);
	cr_assert_eq(gpt_write_fault(P, 2 * MB + PG, NULL), 0);
	ST_EQ(st(C), 3, 0, 0, 4 * T, 0, 1, 0);
	gpt_destroy(C);
}

Test(gpt, discard_whole_shared_leaf_drops_reference)
{
	populate3();
	uint64_t f0 = frame_of(P, 2 * MB);
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	cr_assert_eq(gpt_discard(C, 2 * MB, 2 * MB), 0);
	cr_assert_eq(pde_of(C, 2 * MB), 0);
	cr_assert_eq(leaf_of(P).refcount, 1);
	cr_assert_eq(st(C).breaks_copy, 0, "dropped, not copied");
	ST_EQ(st(C), 0, 0, 0, 3 * T, 0, 0, 0);
	cr_assert_eq(gpt_mock_ref(&M, f0), 1);
	cr_assert_eq(gpt_lookup(C, 2 * MB, NULL, NULL), -ENOENT);
	cr_assert_eq(gpt_lookup(P, 2 * MB, NULL, NULL), 0);
	/* owner discarding a whole shared leaf leaves an orphan */
	struct gpt *D;
	cr_assert_eq(gpt_clone(P, &D), 0);
	cr_assert_eq(gpt_discard(P, 2 * MB, 2 * MB), 0);
	ST_EQ(st(P), 0, 0, 0, 3 * T, 0, 0, 0);
	cr_assert(leaf_of(D).orphan);
	cr_assert_eq(gpt_mock_ref(&M, f0), 1);
	gpt_destroy(C);
	gpt_destroy(D);
	cr_assert_eq(gpt_mock_live(&M), 0);
}

Test(gpt, discard_partial_shared_leaf_copies)
{
	populate3();
	uint64_t f1 = frame_of(P, 2 * MB + PG);
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	cr_assert_eq(gpt_discard(C, 2 * MB + PG, PG), 0);
	cr_assert_eq(pte_of(C, 2 * MB + PG), 0);
	cr_assert_eq(gpt_lookup(P, 2 * MB + PG, NULL, NULL), 0);
	cr_assert_eq(gpt_mock_ref(&M, f1), 1);
	ST_EQ(st(C), 2, 0, 0, 4 * T, 0, 1, 0);
	cr_assert_eq(st(C).breaks_copy, 1);
	/* discarding a range with nothing mapped in a shared leaf: no break */
	struct gpt *D;
	cr_assert_eq(gpt_clone(P, &D), 0);
	cr_assert_eq(gpt_discard(D, 2 * MB + 100 * PG, 10 * PG), 0);
	cr_assert_eq(st(D).breaks_copy, 0);
	gpt_destroy(C);
	gpt_destroy(D);
}

Test(gpt, clear_dirty_soft_dirty_reset)
{
	populate3();
	cr_assert_eq(gpt_write_fault(P, 2 * MB, NULL), 0);
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	uint64_t shared = leaf_of(C).table;
	cr_assert_eq(gpt_clear_dirty(C, 2 * MB + PG, 2 * PG), 0); /* no dirty page there */
	cr_assert_eq(leaf_of(C).table, shared);
	uint64_t f0 = frame_of(P, 2 * MB);
	cr_assert_eq(gpt_clear_dirty(C, 2 * MB, 2 * MB), 0);
	cr_assert_neq(leaf_of(C).table, shared);
	cr_assert_eq(pte_of(C, 2 * MB), (f0 << 12) | GPT_PRESENT | GPT_WRITABLE | GPT_ACCESSED);
	cr_assert(pte_of(P, 2 * MB) & GPT_DIRTY, "parent keeps its dirty bit");
	cr_assert_eq(gpt_clear_dirty(P, 0, 4 * MB), 0);
	cr_assert_eq(pte_of(P, 2 * MB) & GPT_DIRTY, 0);
	gpt_destroy(C);
}

Test(gpt, huge_map_split_and_clone)
{
	uint64_t f0;
	cr_assert_eq(gpt_mock_alloc_range(&M, 512, 512, &f0), 0);
	cr_assert_eq(gpt_map(P, 4 * MB, 2 * MB, f0, GPT_WRITABLE | GPT_HUGE | GPT_PRIVATE), 0);
	for (unsigned i = 0; i < 512; i++)
		gpt_mock_put(&M, f0 + i); /* the GPT holds them now */
	cr_assert_eq(pde_of(P, 4 * MB), (f0 << 12) | PTE_P | PTE_US | PTE_PS | PTE_RW | GPT_PRIVATE);
	uint64_t fl, f;
	cr_assert_eq(gpt_lookup(P, 4 * MB + 7 * PG, &f, &fl), 0);
	cr_assert_eq(f, f0 + 7);
	cr_assert_eq(fl, GPT_PRESENT | GPT_WRITABLE | GPT_PRIVATE | GPT_HUGE);
	struct gpt_stats s = st(P);
	ST_EQ(s, 512, 0, 512, 3 * T, 0, 0, 0);
	cr_assert_eq(s.huge, 1);

	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	cr_assert_eq(pde_of(C, 4 * MB), (f0 << 12) | PTE_P | PTE_US | PTE_PS | PTE_RW);
	cr_assert_eq(pde_of(P, 4 * MB), (f0 << 12) | PTE_P | PTE_US | PTE_PS | PTE_RW);
	cr_assert_eq(gpt_mock_ref(&M, f0 + 3), 2);
	ST_EQ(st(P), 512, 0, 0, 3 * T, 0, 0, 0);
	/* a write splits the child's 2 MiB map, then page COW */
	uint64_t nf;
	cr_assert_eq(gpt_write_fault(C, 4 * MB + 3 * PG, &nf), 0);
	cr_assert_neq(nf, f0 + 3);
	cr_assert_eq(pte_of(C, 4 * MB + 3 * PG), (nf << 12) | WROTE);
	cr_assert_eq(pte_of(C, 4 * MB + 4 * PG), ((f0 + 4) << 12) | GPT_PRESENT | GPT_WRITABLE);
	s = st(C);
	ST_EQ(s, 512, 0, 1, 4 * T, 0, 1, 1);
	cr_assert_eq(s.huge, 0);
	cr_assert_eq(gpt_mock_ref(&M, f0 + 3), 1);
	/* explicit split keeps bits */
	cr_assert_eq(gpt_split(P, 4 * MB), 0);
	cr_assert_eq(pte_of(P, 4 * MB + 9 * PG), ((f0 + 9) << 12) | GPT_PRESENT | GPT_WRITABLE);
	cr_assert_eq(gpt_split(P, 4 * MB), -ENOENT);
	ST_EQ(st(P), 512, 0, 0, 4 * T, 0, 1, 0);
	gpt_destroy(C);
}

Test(gpt, remap_replaces_frames_and_breaks_cow)
{
	populate3();
	uint64_t f1 = frame_of(P, 2 * MB + PG);
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	uint64_t nf;
	cr_assert_eq(gpt_mock_alloc_range(&M, 1, 1, &nf), 0);
	cr_assert_eq(gpt_remap(C, 2 * MB + PG, PG, nf, GPT_WRITABLE), 0);
	gpt_mock_put(&M, nf);
	cr_assert_eq(pte_of(C, 2 * MB + PG), (nf << 12) | GPT_PRESENT | GPT_WRITABLE);
	cr_assert_eq(frame_of(P, 2 * MB + PG), f1);
	cr_assert_eq(gpt_mock_ref(&M, f1), 1);
	cr_assert_eq(gpt_mock_ref(&M, nf), 1);
	ST_EQ(st(C), 3, 0, 0, 4 * T, 0, 1, 0);
	gpt_destroy(C);
}

Test(gpt, map_rejects_overlap_and_bad_args)
{
	populate3();
	cr_assert_eq(gpt_populate(P, 2 * MB + 2 * PG, 2 * PG, 0), -EEXIST);
	cr_assert_eq(gpt_map(P, 3, PG, 1, 0), -EINVAL);
	cr_assert_eq(gpt_map(P, 0, 2 * MB, 3, GPT_HUGE), -EINVAL);
	cr_assert_eq(gpt_populate(P, 0, PG, GPT_DIRTY), -EINVAL);
	ST_EQ(st(P), 3, 0, 3, 4 * T, 0, 1, 0);
}

Test(gpt, destroy_last_holder_frees)
{
	cr_assert_eq(gpt_populate(P, 0, 8 * MB, GPT_WRITABLE), 0);
	struct gpt *C, *D;
	cr_assert_eq(gpt_clone(P, &C), 0);
	cr_assert_eq(gpt_clone(C, &D), 0);
	uint64_t tables = gpt_domain_live_tables(M.dom);
	cr_assert_eq(tables, 3 + 4 + 3 + 3); /* P: 3 upper + 4 leaves; C, D: 3 upper */
	gpt_destroy(P);
	P = NULL;
	cr_assert_eq(gpt_mock_live(&M), 2048, "leaves still held by C and D");
	gpt_destroy(C);
	cr_assert_eq(gpt_mock_live(&M), 2048);
	gpt_destroy(D);
	cr_assert_eq(gpt_mock_live(&M), 0);
	cr_assert_eq(gpt_domain_live_tables(M.dom), 0);
}

/* --- the written set and reset -------------------------------------------------- */

struct collect {
	uint64_t gpa[16];
	unsigned n[16];
	int count;
};
static int col_page(void *arg, uint64_t gpa, uint64_t frame)
{
	(void)frame;
	struct collect *c = arg;
	if (c->count == 16)
		return -E2BIG;
	c->gpa[c->count++] = gpa;
	return 0;
}
static int col_leaf(void *arg, uint64_t gpa, unsigned n)
{
	struct collect *c = arg;
	if (c->count == 16)
		return -E2BIG;
	c->gpa[c->count] = gpa;
	c->n[c->count++] = n;
	return 0;
}

Test(gpt, enumerate_written_and_reset_to_snapshot)
{
	cr_assert_eq(gpt_populate(P, 0, 8 * MB, GPT_WRITABLE), 0); /* snapshot */
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	uint64_t snap_leaf2 = 0;
	cr_assert_eq(gpt_write_fault(C, 2 * MB + 5 * PG, NULL), 0);
	cr_assert_eq(gpt_write_fault(C, 2 * MB + 9 * PG, NULL), 0);
	cr_assert_eq(gpt_write_fault(C, 6 * MB, NULL), 0);
	struct collect c = { 0 };
	cr_assert_eq(gpt_for_each_written(C, 0, 8 * MB, col_page, &c), 0);
	cr_assert_eq(c.count, 3);
	cr_assert_eq(c.gpa[0], 2 * MB + 5 * PG);
	cr_assert_eq(c.gpa[1], 2 * MB + 9 * PG);
	cr_assert_eq(c.gpa[2], 6 * MB);
	struct collect l = { 0 };
	cr_assert_eq(gpt_for_each_written_leaf(C, 0, 8 * MB, col_leaf, &l), 0);
	cr_assert_eq(l.count, 2);
	cr_assert_eq(l.gpa[0], 2 * MB);
	cr_assert_eq(l.n[0], 2);
	cr_assert_eq(l.gpa[1], 6 * MB);
	cr_assert_eq(l.n[1], 1);
	/* the parent wrote nothing */
	struct collect pc = { 0 };
	cr_assert_eq(gpt_for_each_written(P, 0, 8 * MB, col_page, &pc), 0);
	cr_assert_eq(pc.count, 0);

	uint64_t live = gpt_mock_live(&M);
	cr_assert_eq(gpt_reset_range(C, P, 0, 8 * MB), 0);
	cr_assert_eq(gpt_mock_live(&M), live - 3, "the 3 private frames are freed");
	struct gpt_stats s = st(C);
	ST_EQ(s, 0, 2048, 0, 3 * T, 4, 0, 0);
	(void)snap_leaf2;
	cr_assert_eq(frame_of(C, 2 * MB + 5 * PG), frame_of(P, 2 * MB + 5 * PG));
	cr_assert_eq(gpt_reset_range(C, P, 0, 8 * MB), 0, "idempotent");
	cr_assert_eq(gpt_reset_range(C, P, 0, PG), -EINVAL);
	cr_assert_eq(gpt_reset_range(C, C, 0, 2 * MB), -EINVAL);
	gpt_destroy(C);
}

Test(gpt, reset_shares_exclusive_source_leaf)
{
	populate3();
	struct gpt *C;
	cr_assert_eq(gpt_create(M.dom, &C), 0);
	cr_assert_eq(gpt_populate(C, 2 * MB, PG, GPT_WRITABLE), 0);
	cr_assert_eq(gpt_reset_range(C, P, 0, 4 * MB), 0);
	struct gpt_leaf_info lp = leaf_of(P), lc = leaf_of(C);
	cr_assert_eq(lp.table, lc.table);
	cr_assert_eq(lp.pde, lp.table | PDE_SW);
	cr_assert_eq(lp.refcount, 2);
	cr_assert(lp.owned);
	ST_EQ(st(P), 3, 3, 0, 4 * T, 1, 0, 0);
	ST_EQ(st(C), 0, 3, 0, 3 * T, 1, 0, 0);
	gpt_destroy(C);
}

/* --- allocation failure leaves everything untouched ------------------------------ */

struct snap {
	struct gpt_stats sp, sc;
	uint64_t words[8];
	unsigned ref;
	uint64_t live, tables;
};
static struct snap take(struct gpt *p, struct gpt *c)
{
	struct snap s = { .sp = st(p), .sc = st(c) };
	for (int i = 0; i < 3; i++) {
		s.words[i] = pte_of(p, 2 * MB + i * PG);
		s.words[3 + i] = pte_of(c, 2 * MB + i * PG);
	}
	s.words[6] = pde_of(p, 2 * MB);
	s.words[7] = pde_of(c, 2 * MB);
	int n;
	s.ref = first_leaf(p, &n).refcount;
	s.live = gpt_mock_live(&M);
	s.tables = gpt_domain_live_tables(M.dom);
	return s;
}
static void same(struct snap a, struct snap b)
{
	cr_assert_eq(memcmp(&a.sp, &b.sp, sizeof(a.sp)), 0, "parent stats changed");
	cr_assert_eq(memcmp(&a.sc, &b.sc, sizeof(a.sc)), 0, "child stats changed");
	for (int i = 0; i < 8; i++)
		cr_assert_eq(a.words[i], b.words[i], "word %d changed", i);
	cr_assert_eq(a.ref, b.ref);
	cr_assert_eq(a.live, b.live);
	cr_assert_eq(a.tables, b.tables);
}

Test(gpt, write_fault_leaf_alloc_failure_changes_nothing)
{
	populate3();
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	struct snap a = take(P, C);
	gpt_mock_fail_table(&M, 1);
	cr_assert_eq(gpt_write_fault(C, 2 * MB, NULL), -ENOMEM);
	same(a, take(P, C));
	cr_assert_eq(gpt_write_fault(C, 2 * MB, NULL), 0, "works once the failure is gone");
	gpt_destroy(C);
}

Test(gpt, write_fault_frame_alloc_failure_changes_nothing)
{
	populate3();
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	struct snap a = take(P, C);
	gpt_mock_fail_frame(&M, 1); /* leaf copy reserved, then the frame fails */
	cr_assert_eq(gpt_write_fault(C, 2 * MB, NULL), -ENOMEM);
	same(a, take(P, C));
	/* same on the reuse path: destroy... the parent breaks by reuse later */
	gpt_mock_fail_frame(&M, 1);
	cr_assert_eq(gpt_write_fault(P, 2 * MB + PG, NULL), -ENOMEM);
	same(a, take(P, C));
	gpt_destroy(C);
}

Test(gpt, write_fault_hole_upper_alloc_failure_changes_nothing)
{
	struct gpt_stats s0 = st(P);
	uint64_t t0 = gpt_domain_live_tables(M.dom);
	for (int n = 1; n <= 3; n++) { /* PDPT, PD, leaf */
		gpt_mock_fail_table(&M, n);
		cr_assert_eq(gpt_write_fault(P, 1ull << 40, NULL), -ENOMEM, "n=%d", n);
		struct gpt_stats s1 = st(P);
		cr_assert_eq(memcmp(&s0, &s1, sizeof(s0)), 0);
		cr_assert_eq(gpt_domain_live_tables(M.dom), t0);
		cr_assert_eq(gpt_upper_tables(P), 1);
	}
	gpt_mock_fail_frame(&M, 1);
	cr_assert_eq(gpt_write_fault(P, 1ull << 40, NULL), -ENOMEM);
	cr_assert_eq(gpt_domain_live_tables(M.dom), t0);
}

Test(gpt, clone_failure_leaves_parent_untouched)
{
	populate3();
	cr_assert_eq(gpt_populate(P, 1ull << 31, 2 * MB, GPT_WRITABLE), 0);
	cr_assert_eq(gpt_pin_range(P, 2 * MB, PG), 0);
	for (int n = 1; n <= 6; n++) {
		struct gpt *dummy;
		cr_assert_eq(gpt_create(M.dom, &dummy), 0);
		struct snap a = take(P, dummy);
		gpt_mock_fail_table(&M, n);
		struct gpt *C = NULL;
		int r = gpt_clone(P, &C);
		gpt_mock_fail_table(&M, 0);
		if (r == 0) {
			gpt_destroy(C);
			gpt_destroy(dummy);
			break;
		}
		cr_assert_eq(r, -ENOMEM);
		same(a, take(P, dummy));
		gpt_destroy(dummy);
	}
	/* and a failing copy of the pinned frame */
	struct gpt *dummy;
	cr_assert_eq(gpt_create(M.dom, &dummy), 0);
	struct snap a = take(P, dummy);
	gpt_mock_fail_frame(&M, 1);
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), -ENOMEM);
	same(a, take(P, dummy));
	gpt_destroy(dummy);
}

Test(gpt, populate_failure_undoes_mappings)
{
	gpt_mock_fail_frame(&M, 700);
	cr_assert_eq(gpt_populate(P, 0, 4 * MB, GPT_WRITABLE), -ENOMEM);
	struct gpt_stats s = st(P);
	cr_assert_eq(s.rss_owned, 0);
	cr_assert_eq(s.rss_private, 0);
	cr_assert_eq(gpt_mock_live(&M), 0);
	cr_assert_eq(gpt_lookup(P, 0, NULL, NULL), -ENOENT);
}


/* The exact written set of g (address order) and its counter. */
static void written_is(struct gpt *g, const uint64_t *want, int n)
{
	struct collect c = { 0 };
	cr_assert_eq(gpt_for_each_written(g, 0, GPT_GPA_LIMIT, col_page, &c), 0);
	cr_assert_eq(c.count, n, "%d written pages, want %d", c.count, n);
	for (int i = 0; i < n; i++)
		cr_assert_eq(c.gpa[i], want[i], "written page %d at %#lx, want %#lx", i, c.gpa[i], want[i]);
	cr_assert_eq(st(g).written, (uint64_t)n, "written counter %lu, want %d", st(g).written, n);
	struct collect l = { 0 };
	cr_assert_eq(gpt_for_each_written_leaf(g, 0, GPT_GPA_LIMIT, col_leaf, &l), 0);
	unsigned sum = 0;
	for (int i = 0; i < l.count; i++)
		sum += l.n[i];
	cr_assert_eq(sum, (unsigned)n, "leaf enumeration counts %u pages, want %d", sum, n);
}
#define WRITTEN_IS(g, ...)                                                       \
	do {                                                                     \
		const uint64_t w_[] = { 0, __VA_ARGS__ };                        \
		written_is((g), w_ + 1, (int)(sizeof(w_) / sizeof(w_[0])) - 1);   \
	} while (0)
static uint64_t flags_of(struct gpt *g, uint64_t gpa)
{
	uint64_t fl;
	cr_assert_eq(gpt_lookup(g, gpa, NULL, &fl), 0);
	return fl;
}
#define DIRTY (GPT_PRESENT | GPT_WRITABLE | GPT_ACCESSED | GPT_DIRTY)

/* Issue #10 item 4: cloning a clone must not hide the clone's written set
 * (it did when "written" was GPT_PRIVATE in an exclusive leaf: the clone
 * write-protects the leaf, and its pages stopped being enumerated). */
Test(gpt, clone_of_a_clone_keeps_its_written_set)
{
	populate3();
	struct gpt *C, *D;
	cr_assert_eq(gpt_clone(P, &C), 0);
	uint64_t cf1;
	cr_assert_eq(gpt_write_fault(C, 2 * MB + PG, &cf1), 0);
	WRITTEN_IS(C, 2 * MB + PG);
	cr_assert_eq(gpt_clone(C, &D), 0);
	struct gpt_leaf_info lc = leaf_of(C), ld = leaf_of(D);
	cr_assert_eq(lc.table, ld.table);
	cr_assert_eq(lc.pde, lc.table | PDE_SW, "C stays the writer of the leaf it shared");
	cr_assert_eq(ld.pde, ld.table | PDE_S, "D takes a reference, not the written set");
	cr_assert_eq(lc.nwritten, 1);
	cr_assert_eq(pte_of(C, 2 * MB + PG), (cf1 << 12) | WROTE, "clone touches no entry");
	WRITTEN_IS(C, 2 * MB + PG);
	WRITTEN_IS(D);
	cr_assert_eq(flags_of(C, 2 * MB + PG), DIRTY | GPT_WRITTEN);
	cr_assert_eq(flags_of(D, 2 * MB + PG), DIRTY);
	ST_EQ(st(C), 3, 3, 0, 4 * T, 1, 0, 1);
	ST_EQ(st(D), 0, 3, 0, 3 * T, 1, 0, 0);

	/* D (not the writer) copies: its copy has no WRITTEN bit but its own */
	uint64_t df2;
	cr_assert_eq(gpt_write_fault(D, 2 * MB + 2 * PG, &df2), 0);
	cr_assert_eq(pte_of(D, 2 * MB + PG), (cf1 << 12) | DIRTY);
	cr_assert_eq(pte_of(D, 2 * MB + 2 * PG), (df2 << 12) | WROTE);
	cr_assert_eq(leaf_of(D).nwritten, 1);
	WRITTEN_IS(D, 2 * MB + 2 * PG);
	/* C's leaf lost PRIVATE (its frames are named twice) but not WRITTEN */
	cr_assert_eq(pte_of(C, 2 * MB + PG), (cf1 << 12) | DIRTY | GPT_WRITTEN);
	cr_assert_eq(gpt_mock_ref(&M, cf1), 2);
	WRITTEN_IS(C, 2 * MB + PG);
	/* C (the writer) reuses its leaf at refcount 1: the set grows */
	uint64_t f0 = frame_of(C, 2 * MB);
	cr_assert_eq(gpt_write_fault(C, 2 * MB, NULL), 0);
	cr_assert_eq(leaf_of(C).table, lc.table);
	cr_assert_eq(leaf_of(C).pde, lc.table | PDE_X);
	cr_assert_neq(frame_of(C, 2 * MB), f0, "page COW: f0 is still P's");
	WRITTEN_IS(C, 2 * MB, 2 * MB + PG);
	ST_EQ(st(C), 3, 0, 1, 4 * T, 0, 1, 2);
	/* reset empties it */
	cr_assert_eq(gpt_reset_range(C, P, 2 * MB, 2 * MB), 0);
	WRITTEN_IS(C);
	WRITTEN_IS(D, 2 * MB + 2 * PG);
	gpt_destroy(C);
	gpt_destroy(D);
}

/* Issue #10 item 4: a leaf reused after its other holders left brought
 * their PRIVATE bits back as this GPT's dirty set. */
Test(gpt, reused_leaf_forgets_the_written_bits_of_holders_that_left)
{
	populate3();
	uint64_t f0 = frame_of(P, 2 * MB), f1 = frame_of(P, 2 * MB + PG), f2 = frame_of(P, 2 * MB + 2 * PG);
	cr_assert_eq(gpt_write_fault(P, 2 * MB + PG, NULL), 0);
	cr_assert_eq(gpt_write_fault(P, 2 * MB + 2 * PG, NULL), 0);
	WRITTEN_IS(P, 2 * MB + PG, 2 * MB + 2 * PG);
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	WRITTEN_IS(C);
	uint64_t old = leaf_of(C).table;
	gpt_destroy(P);
	P = NULL;
	struct gpt_leaf_info lc = leaf_of(C);
	cr_assert(lc.orphan);
	cr_assert_eq(lc.refcount, 1);
	cr_assert_eq(lc.nwritten, 2, "the bits P wrote are still in the entries");
	WRITTEN_IS(C);
	cr_assert_eq(gpt_write_fault(C, 2 * MB, NULL), 0);
	lc = leaf_of(C);
	cr_assert_eq(lc.table, old, "reused, not copied");
	cr_assert_eq(lc.pde, old | PDE_X);
	cr_assert_eq(lc.nwritten, 1);
	WRITTEN_IS(C, 2 * MB);
	/* exact words: PRIVATE stays (ownership is still true: nobody copied
	 * the leaf, each frame has one reference), WRITTEN is gone */
	cr_assert_eq(pte_of(C, 2 * MB), (f0 << 12) | WROTE);
	cr_assert_eq(pte_of(C, 2 * MB + PG), (f1 << 12) | DIRTY | GPT_PRIVATE);
	cr_assert_eq(pte_of(C, 2 * MB + 2 * PG), (f2 << 12) | DIRTY | GPT_PRIVATE);
	cr_assert_eq(gpt_mock_ref(&M, f1), 1);
	ST_EQ(st(C), 3, 0, 3, 4 * T, 0, 1, 1);
	cr_assert_eq(st(C).frames_copied, 0);
	P = C;
}

/* A reset onto the leaf a GPT already shares with the source (the source
 * was cloned from it) must still empty its written set. */
Test(gpt, reset_onto_a_shared_leaf_empties_the_written_set)
{
	populate3();
	struct gpt *C, *D;
	cr_assert_eq(gpt_clone(P, &C), 0);
	cr_assert_eq(gpt_write_fault(C, 2 * MB + PG, NULL), 0);
	cr_assert_eq(gpt_clone(C, &D), 0);
	uint64_t t = leaf_of(C).table;
	WRITTEN_IS(C, 2 * MB + PG);
	cr_assert_eq(gpt_reset_range(C, D, 2 * MB, 2 * MB), 0);
	cr_assert_eq(leaf_of(C).table, t, "nothing to re-share");
	cr_assert_eq(leaf_of(C).pde, t | PDE_S);
	cr_assert_eq(leaf_of(C).refcount, 2);
	WRITTEN_IS(C);
	WRITTEN_IS(D);
	ST_EQ(st(C), 3, 3, 0, 4 * T, 1, 0, 0);
	gpt_destroy(C);
	gpt_destroy(D);
}

/* Eager copies (COW off, pinned leaves) start with an empty written set;
 * the parent keeps its own. */
Test(gpt, eager_copy_starts_with_an_empty_written_set)
{
	populate3();
	uint64_t f0 = frame_of(P, 2 * MB);
	cr_assert_eq(gpt_write_fault(P, 2 * MB, NULL), 0);
	gpt_set_cow(P, false);
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	cr_assert_eq(pte_of(C, 2 * MB), (f0 << 12) | DIRTY);
	cr_assert_eq(pte_of(P, 2 * MB), (f0 << 12) | DIRTY | GPT_WRITTEN);
	cr_assert_eq(leaf_of(C).pde, leaf_of(C).table | PDE_X);
	WRITTEN_IS(C);
	WRITTEN_IS(P, 2 * MB);
	ST_EQ(st(C), 3, 0, 0, 4 * T, 0, 1, 0);
	gpt_destroy(C);
}

struct pinsnap {
	uint64_t pde, pte[3];
	struct gpt_stats s;
	uint32_t ref;
	uint64_t live, tables;
};
static struct pinsnap pinsnap(struct gpt *g, uint64_t pinned_frame)
{
	struct pinsnap p = { .pde = pde_of(g, 2 * MB), .s = st(g), .ref = gpt_mock_ref(&M, pinned_frame),
	                     .live = gpt_mock_live(&M), .tables = gpt_domain_live_tables(M.dom) };
	for (int i = 0; i < 3; i++)
		p.pte[i] = pte_of(g, 2 * MB + i * PG);
	return p;
}
static void pinsnap_same(struct pinsnap a, struct pinsnap b, const char *what)
{
	cr_assert_eq(a.pde, b.pde, "%s: PDE changed", what);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(a.pte[i], b.pte[i], "%s: entry %d changed", what, i);
	cr_assert_eq(memcmp(&a.s, &b.s, sizeof(a.s)), 0, "%s: stats changed", what);
	cr_assert_eq(a.ref, b.ref, "%s: pinned frame refcount %u -> %u", what, a.ref, b.ref);
	cr_assert_eq(a.live, b.live, "%s: live frames changed", what);
	cr_assert_eq(a.tables, b.tables, "%s: tables changed", what);
}

/* Issue #10 item 5: a pin holds a reference on its frame and the page
 * refuses to be unmapped (discard, remap, reset: -EBUSY, nothing changed)
 * until it is unpinned; destroy drops the pin with the rest. */
Test(gpt, pin_holds_a_reference_and_refuses_unmapping)
{
	populate3();
	struct gpt *C;
	cr_assert_eq(gpt_clone(P, &C), 0);
	uint64_t pf0 = frame_of(P, 2 * MB);
	cr_assert_eq(gpt_pin_range(C, 2 * MB, PG), 0);
	uint64_t cf0 = frame_of(C, 2 * MB);
	cr_assert_neq(cf0, pf0, "pinning a shared frame copies it first");
	cr_assert_eq(pte_of(C, 2 * MB), (cf0 << 12) | P_RW_PRIV | GPT_PINNED);
	cr_assert_eq(gpt_mock_ref(&M, cf0), 2, "leaf + pin");
	cr_assert_eq(gpt_mock_ref(&M, pf0), 1);
	cr_assert_eq(leaf_of(C).npinned, 1);
	WRITTEN_IS(C);
	struct pinsnap a = pinsnap(C, cf0);
	uint64_t nf;
	cr_assert_eq(gpt_mock_alloc_range(&M, 1, 1, &nf), 0);
	uint64_t live_nf = gpt_mock_live(&M);
	a.live = live_nf;
	cr_assert_eq(gpt_discard(C, 2 * MB, PG), -EBUSY);
	pinsnap_same(a, pinsnap(C, cf0), "discard of the page");
	cr_assert_eq(gpt_discard(C, 2 * MB, 2 * MB), -EBUSY);
	pinsnap_same(a, pinsnap(C, cf0), "discard of the chunk");
	cr_assert_eq(gpt_discard(C, 0, 8 * MB), -EBUSY);
	pinsnap_same(a, pinsnap(C, cf0), "discard of a range holding it");
	cr_assert_eq(gpt_remap(C, 2 * MB, PG, nf, GPT_WRITABLE), -EBUSY);
	pinsnap_same(a, pinsnap(C, cf0), "remap");
	cr_assert_eq(gpt_mock_ref(&M, nf), 1, "remap took no reference");
	cr_assert_eq(gpt_reset_range(C, P, 0, 4 * MB), -EBUSY);
	pinsnap_same(a, pinsnap(C, cf0), "reset");
	cr_assert_eq(gpt_pin_range(C, 2 * MB, PG), 0, "pinning again");
	pinsnap_same(a, pinsnap(C, cf0), "second pin");
	/* its neighbours are not pinned */
	cr_assert_eq(gpt_discard(C, 2 * MB + PG, PG), 0);
	cr_assert_eq(pte_of(C, 2 * MB + PG), 0);
	/* a write to the pinned page goes in place */
	uint64_t wf;
	cr_assert_eq(gpt_write_fault(C, 2 * MB, &wf), 0);
	cr_assert_eq(wf, cf0);
	cr_assert_eq(pte_of(C, 2 * MB), (cf0 << 12) | WROTE | GPT_PINNED);
	cr_assert_eq(gpt_mock_ref(&M, cf0), 2);
	WRITTEN_IS(C, 2 * MB);
	/* unpin drops the pin's reference; then the page may go */
	cr_assert_eq(gpt_unpin_range(C, 2 * MB, PG), 0);
	cr_assert_eq(gpt_mock_ref(&M, cf0), 1);
	cr_assert_eq(pte_of(C, 2 * MB), (cf0 << 12) | WROTE);
	cr_assert_eq(gpt_remap(C, 2 * MB, PG, nf, GPT_WRITABLE), 0);
	cr_assert_eq(gpt_mock_ref(&M, cf0), 0, "unpinned, unmapped: freed");
	cr_assert_eq(pte_of(C, 2 * MB), (nf << 12) | GPT_PRESENT | GPT_WRITABLE);
	WRITTEN_IS(C);
	gpt_mock_put(&M, nf);
	cr_assert_eq(gpt_reset_range(C, P, 0, 4 * MB), 0);
	/* a pin in the reset's source is copied for the target, not dropped */
	cr_assert_eq(gpt_pin_range(P, 2 * MB + 2 * PG, PG), 0);
	uint64_t pf2 = frame_of(P, 2 * MB + 2 * PG);
	cr_assert_eq(gpt_write_fault(C, 2 * MB, NULL), 0);
	cr_assert_eq(gpt_reset_range(C, P, 0, 4 * MB), 0);
	cr_assert_neq(frame_of(C, 2 * MB + 2 * PG), pf2);
	cr_assert_eq(pte_of(P, 2 * MB + 2 * PG), (pf2 << 12) | P_RW_PRIV | GPT_PINNED);
	cr_assert_eq(gpt_mock_ref(&M, pf2), 2);
	WRITTEN_IS(C);
	/* destroy drops pins with everything else (teardown checks no leak) */
	uint64_t live = gpt_mock_live(&M);
	struct gpt *D;
	cr_assert_eq(gpt_clone(P, &D), 0);
	cr_assert_eq(gpt_pin_range(D, 2 * MB, 3 * PG), 0);
	gpt_destroy(D);
	cr_assert_eq(gpt_mock_live(&M), live);
	gpt_destroy(C);
}
