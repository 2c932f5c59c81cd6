/*
 * test_pt.c - Criterion unit tests of the x86_64 page-table engine
 * (mmu/pt.h, mmu/pt.c) over the mock table ops in mock_tables.c.
 *
 * Expected entry words are written out as literals from the SDM layout
 * (Vol. 3A, 4.5, tables 4-15..4-20) rather than recomputed with the engine's
 * own helpers, and entries are read back through the mock's independent
 * reference walker.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mock_tables.h"
#include "pt.h"

#define X "%#" PRIx64

static struct mock_tables M;
static struct pt PT;

static void setup(void)
{
	mock_init(&M);
	int r = pt_init(&PT, &mock_ops, &M);
	cr_assert_eq(r, 0, "pt_init failed: %d", r);
	cr_assert(mock_is_table(&M, PT.root), "root " X " is not a mock table", PT.root);
}

static void teardown(void)
{
	if (PT.ops)
		pt_destroy(&PT);
	mock_fini(&M);
}

/* --- helpers ------------------------------------------------------------- */

/* The entry for va at level, read by the mock's reference walker. */
static pte_t *slot_of(uint64_t va, int level)
{
	pte_t *p = mock_entry(&M, PT.root, va, level);
	cr_assert_not_null(p, "no table reaches va " X " at level %d", va, level);
	return p;
}

static pte_t ent(uint64_t va, int level)
{
	return *slot_of(va, level);
}

/* Table at table_addr, asserting it is a live mock table. */
static pte_t *tbl(uint64_t table_addr)
{
	pte_t *t = mock_table(&M, table_addr);
	cr_assert_not_null(t, "address " X " is not a live mock table", table_addr);
	return t;
}

/* A non-leaf entry: exactly table_addr | P | RW | US, table live. */
static uint64_t assert_table_entry(pte_t e, const char *what)
{
	cr_assert_eq(e & ~PTE_ADDR_MASK, PTE_P | PTE_RW | PTE_US,
	             "%s " X ": flags must be exactly P|RW|US", what, e);
	uint64_t a = e & PTE_ADDR_MASK;
	cr_assert(mock_is_table(&M, a), "%s " X " does not point to a live table", what, e);
	return a;
}

static void destroy_and_check_no_leak(void)
{
	pt_destroy(&PT);
	cr_assert_null(PT.ops, "pt_destroy must clear ops");
	cr_assert_eq(M.live, 0, "live tables after pt_destroy: %u", M.live);
	cr_assert_eq(M.allocs, M.frees, "allocs %u != frees %u", M.allocs, M.frees);
	cr_assert_eq(M.bad_frees, 0, "free_table called with %u invalid addresses", M.bad_frees);
}

/* Whole-pool snapshot: proves a failing call changed nothing at all. */
struct snap {
	pte_t (*pool)[PT_ENTRIES];
	bool used[MOCK_MAX_TABLES];
	unsigned allocs, frees, live;
};

static struct snap *take_snap(void)
{
	struct snap *s = malloc(sizeof(*s));
	cr_assert_not_null(s);
	s->pool = malloc(sizeof(pte_t) * PT_ENTRIES * MOCK_MAX_TABLES);
	cr_assert_not_null(s->pool);
	memcpy(s->pool, M.pool, sizeof(pte_t) * PT_ENTRIES * MOCK_MAX_TABLES);
	memcpy(s->used, M.used, sizeof(s->used));
	s->allocs = M.allocs;
	s->frees = M.frees;
	s->live = M.live;
	return s;
}

static void assert_unchanged(struct snap *s, const char *what)
{
	cr_assert_eq(M.allocs, s->allocs, "%s: tables allocated (%u -> %u)", what, s->allocs, M.allocs);
	cr_assert_eq(M.frees, s->frees, "%s: tables freed (%u -> %u)", what, s->frees, M.frees);
	cr_assert_eq(M.live, s->live, "%s: live tables %u -> %u", what, s->live, M.live);
	cr_assert(memcmp(M.used, s->used, sizeof(s->used)) == 0, "%s: table set changed", what);
	for (unsigned i = 0; i < MOCK_MAX_TABLES; i++) {
		if (!M.used[i])
			continue;
		for (unsigned k = 0; k < PT_ENTRIES; k++)
			cr_assert_eq(M.pool[i][k], s->pool[i][k],
			             "%s: table " X " entry %u changed " X " -> " X, what,
			             mock_table_addr(i), k, s->pool[i][k], M.pool[i][k]);
	}
	free(s->pool);
	free(s);
}

static void map_range(uint64_t va, uint64_t pa, uint64_t size, uint64_t ps, pte_t flags)
{
	int r = pt_map(&PT, va, pa, size, ps, flags);
	cr_assert_eq(r, 0, "pt_map(va " X ", pa " X ", size " X ", ps " X ", flags " X ") = %d",
	             va, pa, size, ps, flags, r);
}

/* One page of page_size. */
static void map_page(uint64_t va, uint64_t pa, uint64_t page_size, pte_t flags)
{
	map_range(va, pa, page_size, page_size, flags);
}

static void expect_pa(uint64_t va, uint64_t want)
{
	uint64_t pa = 0;
	int r = pt_translate(&PT, va, &pa, NULL);
	cr_assert_eq(r, 0, "translate(" X ") = %d, want mapped", va, r);
	cr_assert_eq(pa, want, "translate(" X ") = " X ", want " X, va, pa, want);
}

static void expect_unmapped(uint64_t va)
{
	uint64_t pa = 0;
	int r = pt_translate(&PT, va, &pa, NULL);
	cr_assert_eq(r, -EFAULT, "translate(" X ") = %d (pa " X "), want -EFAULT", va, r, pa);
}

/* ========================================================================= */
TestSuite(pt_geometry, .init = setup, .fini = teardown);

Test(pt_geometry, level_shift_size_and_index)
{
	cr_assert_eq(pt_level_shift(1), 12);
	cr_assert_eq(pt_level_shift(2), 21);
	cr_assert_eq(pt_level_shift(3), 30);
	cr_assert_eq(pt_level_shift(4), 39);
	cr_assert_eq(pt_level_size(2), 0x200000ull);
	cr_assert_eq(pt_level_size(4), 0x8000000000ull);

	uint64_t va = 0x40201000;
	cr_assert_eq(pt_index(va, 4), 0, "PML4 index of " X, va);
	cr_assert_eq(pt_index(va, 3), 1, "PDPT index of " X, va);
	cr_assert_eq(pt_index(va, 2), 1, "PD index of " X, va);
	cr_assert_eq(pt_index(va, 1), 1, "PT index of " X, va);

	cr_assert_eq(pt_index(0xffff800000000000ull, 4), 256, "first high-half PML4 slot");
	cr_assert_eq(pt_index(0x00007fffffffffffull, 4), 255, "last low-half PML4 slot");
	for (int l = 1; l <= 4; l++)
		cr_assert_eq(pt_index(0xfffffffffffff000ull, l), 511, "top page, level %d", l);
}

Test(pt_geometry, level_end_inside_and_clamped)
{
	cr_assert_eq(pt_level_end(0x1000, 0x10000000, 2), 0x200000ull, "next 2M boundary");
	cr_assert_eq(pt_level_end(0x1000, 0x3000, 2), 0x3000ull, "clamped to end");
	cr_assert_eq(pt_level_end(0x200000, 0x800000, 2), 0x400000ull, "from a boundary: next one");
	cr_assert_eq(pt_level_end(0x1ff000, 0x200000, 2), 0x200000ull, "end on the boundary");
	cr_assert_eq(pt_level_end(0x1000, 0x2000, 1), 0x2000ull, "single 4K page");
	cr_assert_eq(pt_level_end(0, 0x10000000000ull, 4), 0x8000000000ull, "512G boundary");
}

Test(pt_geometry, level_end_wraps_at_top_of_address_space)
{
	/* end == 0 means "up to 2^64": the boundary that wraps to 0 is the end. */
	cr_assert_eq(pt_level_end(0xfffffffffffff000ull, 0, 1), 0ull, "top page, end 0");
	cr_assert_eq(pt_level_end(0xffffffffffe00000ull, 0, 2), 0ull, "top 2M, end 0");
	cr_assert_eq(pt_level_end(0xffffff8000000000ull, 0, 4), 0ull, "top PML4 slot, end 0");
	cr_assert_eq(pt_level_end(0xffffff0000000000ull, 0, 4), 0xffffff8000000000ull,
	             "boundary below the top is not clamped by end == 0");
	cr_assert_eq(pt_level_end(0xffff800000000000ull, 0, 3), 0xffff800040000000ull,
	             "1G boundary in the high half with end == 0");
	/* The boundary wraps to 0 but end is below it: clamp to end. */
	cr_assert_eq(pt_level_end(0xffffffffffe00000ull, 0xfffffffffffff000ull, 2),
	             0xfffffffffffff000ull, "wrapping boundary clamped to a non-zero end");
}

Test(pt_geometry, canonical)
{
	cr_assert(pt_canonical(0));
	cr_assert(pt_canonical(0x00007fffffffffffull));
	cr_assert(pt_canonical(0xffff800000000000ull));
	cr_assert(pt_canonical(0xffffffffffffffffull));
	cr_assert_not(pt_canonical(0x0000800000000000ull), "first non-canonical address");
	cr_assert_not(pt_canonical(0xffff7fffffffffffull), "last non-canonical address");
	cr_assert_not(pt_canonical(0x0001000000000000ull));
	cr_assert_not(pt_canonical(0x8000000000000000ull));
	cr_assert_not(pt_canonical(0x7fffffffffffffffull));
}

Test(pt_geometry, entry_helpers)
{
	/* 2M leaf with PAT (bit 12) and NX: address excludes PAT. */
	pte_t l2 = 0x80201000ull | PTE_NX | PTE_PS | PTE_P;
	cr_assert_eq(pte_addr(l2, 2), 0x80200000ull, "2M leaf address must drop PAT bit 12");
	cr_assert(pte_is_leaf(l2, 2));
	/* 1G leaf: bits 29:13 are not address. */
	pte_t l3 = 0x140001000ull | PTE_PS | PTE_P;
	cr_assert_eq(pte_addr(l3, 3), 0x140000000ull, "1G leaf address");
	cr_assert(pte_is_leaf(l3, 3));
	/* A table entry at level 2 uses the full 4K address mask. */
	cr_assert_eq(pte_addr(0x8000000000123007ull, 2), 0x123000ull);
	cr_assert_not(pte_is_leaf(0x123007ull, 2));
	/* PS in a PML4E does not make a leaf; level 1 is always a leaf. */
	cr_assert_not(pte_is_leaf(0x123087ull, 4));
	cr_assert(pte_is_leaf(0x123087ull, 1));
	cr_assert_eq(pte_addr(0x123087ull, 1), 0x123000ull, "bit 7 of a PTE is PAT, not address");
}

/* ========================================================================= */
TestSuite(pt_map, .init = setup, .fini = teardown);

Test(pt_map, map_4k_exact_entries_every_level)
{
	map_page(0x40201000, 0x1234000, PAGE_SIZE_4K, PTE_RW | PTE_NX);

	pte_t *pml4 = tbl(PT.root);
	cr_assert_eq(mock_present_count(&M, PT.root), 1, "one PML4 entry");
	uint64_t pdpt_a = assert_table_entry(pml4[0], "PML4E[0]");

	pte_t *pdpt = tbl(pdpt_a);
	cr_assert_eq(mock_present_count(&M, pdpt_a), 1, "one PDPT entry");
	uint64_t pd_a = assert_table_entry(pdpt[1], "PDPTE[1]");

	pte_t *pd = tbl(pd_a);
	cr_assert_eq(mock_present_count(&M, pd_a), 1, "one PD entry");
	uint64_t pt_a = assert_table_entry(pd[1], "PDE[1]");

	pte_t *ptt = tbl(pt_a);
	cr_assert_eq(mock_present_count(&M, pt_a), 1, "one PT entry");
	cr_assert_eq(ptt[1], 0x8000000001234003ull, "PTE[1] = " X, ptt[1]);

	cr_assert(PT.root != pdpt_a && pdpt_a != pd_a && pd_a != pt_a, "distinct tables");
	cr_assert_eq(M.live, 4, "root + PDPT + PD + PT, got %u", M.live);
	cr_assert_eq(M.allocs, 4);
}

Test(pt_map, map_2m_sets_ps_and_stops_at_pd)
{
	map_page(0x40200000, 0x80200000, PAGE_SIZE_2M, PTE_RW | PTE_US | PTE_G);

	pte_t *pml4 = tbl(PT.root);
	uint64_t pdpt_a = assert_table_entry(pml4[0], "PML4E[0]");
	uint64_t pd_a = assert_table_entry(tbl(pdpt_a)[1], "PDPTE[1]");
	pte_t pde = tbl(pd_a)[1];
	cr_assert_eq(pde, 0x80200187ull, "PDE[1] = " X ", want pa|G|PS|US|RW|P", pde);
	cr_assert(pde & PTE_PS, "PS set in 2M leaf");
	cr_assert_eq(mock_present_count(&M, pd_a), 1);
	cr_assert_eq(M.live, 3, "no PT table for a 2M page, live %u", M.live);
}

Test(pt_map, map_1g_sets_ps_and_stops_at_pdpt)
{
	map_page(0x80000000, 0x140000000, PAGE_SIZE_1G, PTE_NX);

	uint64_t pdpt_a = assert_table_entry(tbl(PT.root)[0], "PML4E[0]");
	pte_t pdpte = tbl(pdpt_a)[2];
	cr_assert_eq(pdpte, 0x8000000140000081ull, "PDPTE[2] = " X ", want NX|pa|PS|P", pdpte);
	cr_assert_eq(mock_present_count(&M, pdpt_a), 1);
	cr_assert_eq(M.live, 2, "root + PDPT only, live %u", M.live);
}

Test(pt_map, map_high_canonical_indices)
{
	map_page(0xffff800000201000ull, 0x5000, PAGE_SIZE_4K, PTE_RW);
	map_page(0xffffffffffc00000ull, 0x200000, PAGE_SIZE_2M, 0);

	pte_t *pml4 = tbl(PT.root);
	cr_assert_eq(mock_present_count(&M, PT.root), 2, "PML4 slots 256 and 511 only");

	uint64_t pdpt = assert_table_entry(pml4[256], "PML4E[256]");
	uint64_t pd = assert_table_entry(tbl(pdpt)[0], "PDPTE[0] under 256");
	uint64_t ptt = assert_table_entry(tbl(pd)[1], "PDE[1] under 256/0");
	cr_assert_eq(tbl(ptt)[1], 0x5003ull, "PTE[1] under 256/0/1 = " X, tbl(ptt)[1]);

	uint64_t pdpt2 = assert_table_entry(pml4[511], "PML4E[511]");
	uint64_t pd2 = assert_table_entry(tbl(pdpt2)[511], "PDPTE[511] under 511");
	cr_assert_eq(tbl(pd2)[510], 0x200081ull, "PDE[510] under 511/511 = " X, tbl(pd2)[510]);
	cr_assert_eq(mock_present_count(&M, pd2), 1);

	expect_pa(0xffff800000201abcull, 0x5abc);
	expect_pa(0xffffffffffd23456ull, 0x323456);
}

Test(pt_map, map_range_crosses_table_boundary)
{
	map_range(0x1ff000, 0x7000000, 3 * PAGE_SIZE_4K, PAGE_SIZE_4K, PTE_RW);

	cr_assert_eq(ent(0x1ff000, 1), 0x7000003ull, "PD[0] PT[511]");
	cr_assert_eq(ent(0x200000, 1), 0x7001003ull, "PD[1] PT[0]");
	cr_assert_eq(ent(0x201000, 1), 0x7002003ull, "PD[1] PT[1]");
	cr_assert(ent(0x1ff000, 2) != ent(0x200000, 2), "two different PT tables");
	cr_assert_eq(M.live, 5, "root + PDPT + PD + 2 PT, live %u", M.live);
	expect_unmapped(0x1fe000);
	expect_unmapped(0x202000);
}

Test(pt_map, map_2m_range_and_shared_tables)
{
	map_range(0, 0x40000000, 4 * PAGE_SIZE_2M, PAGE_SIZE_2M, PTE_RW);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(ent(i * PAGE_SIZE_2M, 2), (0x40000000ull + i * PAGE_SIZE_2M) | 0x83,
		             "PDE[%u]", i);
	unsigned live = M.live;
	map_page(0x800000, 0x1000, PAGE_SIZE_4K, 0);
	map_page(0x801000, 0x2000, PAGE_SIZE_4K, 0);
	cr_assert_eq(M.live, live + 1, "two 4K pages in one 2M region share one PT");
}

Test(pt_map, leaf_keeps_all_allowed_flags_and_implies_p)
{
	map_page(0x1000, 0x2000, PAGE_SIZE_4K, PTE_FLAGS_MASK);
	cr_assert_eq(ent(0x1000, 1), 0x2000ull | PTE_FLAGS_MASK,
	             "every PTE_FLAGS_MASK bit is stored verbatim: " X, ent(0x1000, 1));

	map_page(0x3000, 0x4000, PAGE_SIZE_4K, 0);
	cr_assert_eq(ent(0x3000, 1), 0x4001ull, "P is implied");

	map_page(0x40000000, 0x40000000, PAGE_SIZE_2M, PTE_FLAGS_MASK & ~PTE_P);
	cr_assert_eq(ent(0x40000000, 2), 0x40000000ull | PTE_FLAGS_MASK | PTE_PS,
	             "2M leaf: flags + PS: " X, ent(0x40000000, 2));
}

Test(pt_map, map_highest_physical_address)
{
	map_page(0x1000, 0x000ffffffffff000ull, PAGE_SIZE_4K, 0);
	cr_assert_eq(ent(0x1000, 1), 0x000ffffffffff001ull, "pa bits 51:12 all set");
	expect_pa(0x1fff, 0x000fffffffffffffull);
}

Test(pt_map, guard_page_null_not_mapped)
{
	/* Identity map [0x1000, 4M): page 0 stays a NULL guard. */
	map_range(0x1000, 0x1000, 0x400000 - 0x1000, PAGE_SIZE_4K, PTE_RW);
	struct pt_walk w;
	int r = pt_walk(&PT, 0, &w);
	cr_assert_eq(r, -EFAULT, "page 0 must fault, got %d (pa " X ")", r, w.pa);
	cr_assert(pte_present(w.entry[2]), "walk of 0 reaches the PT");
	cr_assert_eq(w.entry[1], 0, "PTE[0] is empty");
	expect_unmapped(0xfff);
	expect_pa(0x1000, 0x1000);
	expect_pa(0x3ffabc, 0x3ffabc);
	expect_unmapped(0x400000);
}

Test(pt_map, map_top_page_of_address_space)
{
	/* [0xfffffffffffff000, 2^64) is canonical and aligned; its end wraps
	 * to exactly 0 (what pt_level_end is written to survive). */
	map_page(0xfffffffffffff000ull, 0x3000, PAGE_SIZE_4K, PTE_RW);
	expect_pa(0xffffffffffffffffull, 0x3fff);
	map_range(0xffffffffc0000000ull, 0x40000000, PAGE_SIZE_1G - PAGE_SIZE_2M, PAGE_SIZE_2M, 0);
	cr_assert_eq(pt_unmap(&PT, 0xfffffffffffff000ull, PAGE_SIZE_4K), 0, "unmap the top page");
	expect_unmapped(0xfffffffffffff000ull);
}

/* ========================================================================= */
TestSuite(pt_walk, .init = setup, .fini = teardown);

Test(pt_walk, translate_4k_with_offset)
{
	map_page(0x40201000, 0x1234000, PAGE_SIZE_4K, PTE_RW | PTE_NX);
	uint64_t pa = 0;
	pte_t eff = 0;
	cr_assert_eq(pt_translate(&PT, 0x40201abc, &pa, &eff), 0);
	cr_assert_eq(pa, 0x1234abcull, "pa " X, pa);
	cr_assert_eq(eff, PTE_P | PTE_RW | PTE_NX, "eff " X ": no US in the leaf", eff);
	expect_pa(0x40201fff, 0x1234fff);
	expect_unmapped(0x40202000);
	expect_unmapped(0x40200fff);
}

Test(pt_walk, walk_4k_reports_entries_and_leaf_level)
{
	map_page(0x40201000, 0x1234000, PAGE_SIZE_4K, PTE_RW | PTE_NX);
	struct pt_walk w;
	cr_assert_eq(pt_walk(&PT, 0x40201abc, &w), 0);
	cr_assert_eq(w.leaf_level, 1);
	for (int l = 4; l >= 1; l--)
		cr_assert_eq(w.entry[l], ent(0x40201abc, l), "w.entry[%d] = " X, l, w.entry[l]);
	cr_assert_eq(w.entry[1], 0x8000000001234003ull);
	cr_assert_eq(w.pa, 0x1234abcull);
}

Test(pt_walk, translate_2m_with_offset)
{
	map_page(0x40200000, 0x80200000, PAGE_SIZE_2M, PTE_RW | PTE_US);
	struct pt_walk w;
	cr_assert_eq(pt_walk(&PT, 0x40212345, &w), 0);
	cr_assert_eq(w.leaf_level, 2);
	cr_assert_eq(w.pa, 0x80212345ull, "pa " X, w.pa);
	cr_assert_eq(w.entry[2], 0x80200087ull);
	cr_assert_eq(w.entry[1], 0, "level 1 not reached");
	cr_assert_eq(w.eff, PTE_P | PTE_RW | PTE_US);
	expect_pa(0x403fffff, 0x803fffff);
	expect_unmapped(0x40400000);
}

Test(pt_walk, translate_1g_with_offset)
{
	map_page(0x40000000, 0x80000000, PAGE_SIZE_1G, PTE_NX);
	struct pt_walk w;
	cr_assert_eq(pt_walk(&PT, 0x7fffffff, &w), 0);
	cr_assert_eq(w.leaf_level, 3);
	cr_assert_eq(w.pa, 0xbfffffffull, "pa " X, w.pa);
	cr_assert_eq(w.entry[3], 0x8000000080000081ull);
	cr_assert_eq(w.entry[2], 0, "level 2 not reached");
	cr_assert_eq(w.entry[1], 0, "level 1 not reached");
	cr_assert_eq(w.eff, PTE_P | PTE_NX, "read-only, supervisor, NX: " X, w.eff);
	expect_pa(0x52345678, 0x92345678);
}

Test(pt_walk, translate_2m_leaf_with_pat_bit)
{
	map_page(0x200000, 0x400000, PAGE_SIZE_2M, 0);
	mock_plant(&M, PT.root, 0x200000, 2, ent(0x200000, 2) | (1ull << 12));
	expect_pa(0x200000, 0x400000);
	expect_pa(0x2fffff, 0x4fffff);
}

Test(pt_walk, eff_rw_anded_across_levels)
{
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, PTE_RW | PTE_US);
	mock_plant(&M, PT.root, 0x1000, 2, ent(0x1000, 2) & ~PTE_RW);
	pte_t eff = 0;
	cr_assert_eq(pt_translate(&PT, 0x1000, NULL, &eff), 0);
	cr_assert_eq(eff, PTE_P | PTE_US, "PDE without RW: eff " X, eff);
}

Test(pt_walk, eff_us_anded_across_levels)
{
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, PTE_RW | PTE_US);
	mock_plant(&M, PT.root, 0x1000, 4, ent(0x1000, 4) & ~PTE_US);
	pte_t eff = 0;
	cr_assert_eq(pt_translate(&PT, 0x1000, NULL, &eff), 0);
	cr_assert_eq(eff, PTE_P | PTE_RW, "PML4E without US: eff " X, eff);
}

Test(pt_walk, eff_nx_ored_across_levels)
{
	map_page(0x200000, 0x600000, PAGE_SIZE_2M, PTE_RW | PTE_US);
	mock_plant(&M, PT.root, 0x200000, 3, ent(0x200000, 3) | PTE_NX);
	pte_t eff = 0;
	uint64_t pa = 0;
	cr_assert_eq(pt_translate(&PT, 0x234567, &pa, &eff), 0);
	cr_assert_eq(eff, PTE_P | PTE_RW | PTE_US | PTE_NX, "PDPTE with NX: eff " X, eff);
	cr_assert_eq(pa, 0x634567ull);
}

Test(pt_walk, eff_restrictive_leaf_and_extra_bits_ignored)
{
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, PTE_G | PTE_D | PTE_A | PTE_SW0 | PTE_PCD);
	pte_t eff = 0;
	cr_assert_eq(pt_translate(&PT, 0x1000, NULL, &eff), 0);
	cr_assert_eq(eff, PTE_P, "read-only supervisor leaf: eff " X " (only P/RW/US/NX)", eff);
}

Test(pt_walk, not_present_in_empty_tree)
{
	struct pt_walk w;
	memset(&w, 0xff, sizeof(w));
	cr_assert_eq(pt_walk(&PT, 0x1000, &w), -EFAULT);
	for (int l = 4; l >= 1; l--)
		cr_assert_eq(w.entry[l], 0, "entry[%d] " X, l, w.entry[l]);
	cr_assert_eq(w.leaf_level, 0);
	cr_assert_eq(w.eff, 0);
}

Test(pt_walk, not_present_shows_where_walk_stopped)
{
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, PTE_RW);
	struct pt_walk w;
	cr_assert_eq(pt_walk(&PT, 0x2000, &w), -EFAULT);
	cr_assert_eq(w.entry[4], ent(0x2000, 4));
	cr_assert_eq(w.entry[3], ent(0x2000, 3));
	cr_assert_eq(w.entry[2], ent(0x2000, 2));
	cr_assert(pte_present(w.entry[2]), "PDE present");
	cr_assert_eq(w.entry[1], 0, "stopped at the empty PTE");
	cr_assert_eq(w.leaf_level, 0);

	/* A non-present PDE with stale address bits is reported verbatim. */
	pte_t pde = ent(0x1000, 2);
	mock_plant(&M, PT.root, 0x1000, 2, pde & ~PTE_P);
	cr_assert_eq(pt_walk(&PT, 0x1000, &w), -EFAULT);
	cr_assert_eq(w.entry[2], pde & ~PTE_P, "entry[2] " X, w.entry[2]);
	cr_assert_eq(w.entry[1], 0, "level 1 not reached");
	cr_assert_eq(w.eff, 0);
}

Test(pt_walk, non_canonical_faults_and_does_not_alias)
{
	map_page(0xffff800000000000ull, 0x1000, PAGE_SIZE_4K, PTE_RW);
	struct pt_walk w;
	/* Same PML4 index (256) as the mapping, but not canonical. */
	cr_assert_eq(pt_walk(&PT, 0x0000800000000000ull, &w), -EFAULT);
	cr_assert_eq(w.leaf_level, 0);
	cr_assert_eq(pt_walk(&PT, 0xffff7ffffffff000ull, &w), -EFAULT);
	cr_assert_eq(pt_translate(&PT, 0x8000000000000000ull, NULL, NULL), -EFAULT);
	expect_pa(0xffff800000000123ull, 0x1123);
}

Test(pt_walk, corrupt_table_address_is_eio)
{
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, PTE_RW);
	pte_t bad = MOCK_BAD_ADDR | PTE_P | PTE_RW | PTE_US;

	mock_plant(&M, PT.root, 0x1000, 2, bad);
	struct pt_walk w;
	cr_assert_eq(pt_walk(&PT, 0x1000, &w), -EIO, "corrupt PDE");
	cr_assert_eq(w.entry[2], bad, "the corrupt entry is reported");
	cr_assert_eq(pt_translate(&PT, 0x1000, NULL, NULL), -EIO);

	mock_plant(&M, PT.root, 0x1000, 4, bad);
	cr_assert_eq(pt_walk(&PT, 0x1000, &w), -EIO, "corrupt PML4E");
	cr_assert_eq(w.entry[4], bad);
}

Test(pt_walk, translate_null_outputs)
{
	map_page(0x1000, 0x5000, PAGE_SIZE_4K, 0);
	cr_assert_eq(pt_translate(&PT, 0x1000, NULL, NULL), 0);
	cr_assert_eq(pt_translate(&PT, 0x2000, NULL, NULL), -EFAULT);
}

/* ========================================================================= */
TestSuite(pt_errors, .init = setup, .fini = teardown);

static void expect_map_err(int want, uint64_t va, uint64_t pa, uint64_t size,
                           uint64_t ps, pte_t flags)
{
	int r = pt_map(&PT, va, pa, size, ps, flags);
	cr_assert_eq(r, want, "pt_map(va " X ", pa " X ", size " X ", ps " X ", flags " X
	             ") = %d, want %d", va, pa, size, ps, flags, r, want);
}

Test(pt_errors, misaligned_4k)
{
	struct snap *s = take_snap();
	expect_map_err(-EINVAL, 0x1001, 0x2000, 0x1000, PAGE_SIZE_4K, 0);
	expect_map_err(-EINVAL, 0x1800, 0x2000, 0x1000, PAGE_SIZE_4K, 0);
	expect_map_err(-EINVAL, 0x1000, 0x2008, 0x1000, PAGE_SIZE_4K, 0);
	expect_map_err(-EINVAL, 0x1000, 0x2000, 0x1001, PAGE_SIZE_4K, 0);
	expect_map_err(-EINVAL, 0x1000, 0x2000, 0x800, PAGE_SIZE_4K, 0);
	assert_unchanged(s, "misaligned 4K");
}

Test(pt_errors, misaligned_2m)
{
	struct snap *s = take_snap();
	expect_map_err(-EINVAL, 0x201000, 0x400000, PAGE_SIZE_2M, PAGE_SIZE_2M, 0);
	expect_map_err(-EINVAL, 0x200000, 0x401000, PAGE_SIZE_2M, PAGE_SIZE_2M, 0);
	expect_map_err(-EINVAL, 0x200000, 0x400000, PAGE_SIZE_4K, PAGE_SIZE_2M, 0);
	expect_map_err(-EINVAL, 0x200000, 0x400000, 3 * PAGE_SIZE_2M / 2, PAGE_SIZE_2M, 0);
	assert_unchanged(s, "misaligned 2M");
}

Test(pt_errors, misaligned_1g)
{
	struct snap *s = take_snap();
	expect_map_err(-EINVAL, 0x40200000, 0x80000000, PAGE_SIZE_1G, PAGE_SIZE_1G, 0);
	expect_map_err(-EINVAL, 0x40000000, 0x80200000, PAGE_SIZE_1G, PAGE_SIZE_1G, 0);
	expect_map_err(-EINVAL, 0x40000000, 0x80000000, PAGE_SIZE_2M, PAGE_SIZE_1G, 0);
	expect_map_err(-EINVAL, 0x40000000, 0x80000000, PAGE_SIZE_1G + PAGE_SIZE_2M,
	               PAGE_SIZE_1G, 0);
	assert_unchanged(s, "misaligned 1G");
}

Test(pt_errors, size_zero)
{
	struct snap *s = take_snap();
	expect_map_err(-EINVAL, 0, 0, 0, PAGE_SIZE_4K, 0);
	expect_map_err(-EINVAL, 0, 0, 0, PAGE_SIZE_2M, 0);
	expect_map_err(-EINVAL, 0, 0, 0, PAGE_SIZE_1G, 0);
	assert_unchanged(s, "size 0");
}

Test(pt_errors, unknown_page_size)
{
	struct snap *s = take_snap();
	const uint64_t sizes[] = { 0, 1, 0x800, 0x2000, 1ull << 22, 1ull << 39, PAGE_SIZE_1G * 2 };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		expect_map_err(-EINVAL, 0, 0, 1ull << 40, sizes[i], 0);
	assert_unchanged(s, "unknown page size");
}

Test(pt_errors, flags_outside_mask)
{
	struct snap *s = take_snap();
	const pte_t bad[] = { PTE_PS, 1ull << 12, 1ull << 20, 1ull << 51, 1ull << 59,
	                      1ull << 62, PTE_RW | (1ull << 60) };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_map_err(-EINVAL, 0x1000, 0x1000, PAGE_SIZE_4K, PAGE_SIZE_4K, bad[i]);
		expect_map_err(-EINVAL, 0x200000, 0x200000, PAGE_SIZE_2M, PAGE_SIZE_2M, bad[i]);
	}
	assert_unchanged(s, "bad flags");
}

Test(pt_errors, non_canonical_ranges)
{
	struct snap *s = take_snap();
	expect_map_err(-EINVAL, 0x0000800000000000ull, 0, PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	expect_map_err(-EINVAL, 0xffff7ffffffff000ull, 0, PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	/* Starts canonical, ends past the low half. */
	expect_map_err(-EINVAL, 0x00007ffffffff000ull, 0, 2 * PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	expect_map_err(-EINVAL, 0x00007fffffe00000ull, 0, 2 * PAGE_SIZE_2M, PAGE_SIZE_2M, 0);
	expect_map_err(-EINVAL, 0x00007fffc0000000ull, 0, 2 * PAGE_SIZE_1G, PAGE_SIZE_1G, 0);
	/* Starts in the hole, ends canonical in the high half. */
	expect_map_err(-EINVAL, 0xffff7ffffffff000ull, 0, 2 * PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	assert_unchanged(s, "non-canonical");
}

Test(pt_errors, overflow_of_va_and_pa)
{
	struct snap *s = take_snap();
	/* va + size wraps past 2^64. */
	expect_map_err(-EINVAL, 0xfffffffffffff000ull, 0, 2 * PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	expect_map_err(-EINVAL, 0xffffffffc0000000ull, 0, 2 * PAGE_SIZE_1G, PAGE_SIZE_1G, 0);
	/* pa + size wraps. */
	expect_map_err(-EINVAL, 0x1000, 0xfffffffffffff000ull, 2 * PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	/* pa beyond the 52-bit address field. */
	expect_map_err(-EINVAL, 0x1000, 1ull << 52, PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	expect_map_err(-EINVAL, 0x1000, (1ull << 52) - PAGE_SIZE_4K, 2 * PAGE_SIZE_4K,
	               PAGE_SIZE_4K, 0);
	assert_unchanged(s, "overflow");
}

Test(pt_errors, overlap_4k_on_4k_changes_nothing)
{
	map_page(0x3000, 0x9000, PAGE_SIZE_4K, PTE_RW);
	struct snap *s = take_snap();
	expect_map_err(-EEXIST, 0x1000, 0x100000, 4 * PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	expect_map_err(-EEXIST, 0x3000, 0x100000, PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	assert_unchanged(s, "4K over 4K");
	expect_unmapped(0x1000);
	expect_unmapped(0x2000);
	expect_pa(0x3000, 0x9000);
	expect_unmapped(0x4000);
}

Test(pt_errors, overlap_4k_under_2m)
{
	map_page(0x200000, 0x400000, PAGE_SIZE_2M, PTE_RW);
	struct snap *s = take_snap();
	expect_map_err(-EEXIST, 0x201000, 0x1000, PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	/* A range whose first pages are free but which runs into the 2M page. */
	expect_map_err(-EEXIST, 0x1fe000, 0x1000, 3 * PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	assert_unchanged(s, "4K under 2M");
	cr_assert_eq(ent(0x200000, 2), 0x400083ull, "2M leaf intact");
	expect_unmapped(0x1fe000);
}

Test(pt_errors, overlap_2m_over_4k)
{
	map_page(0x400000, 0x9000, PAGE_SIZE_4K, PTE_RW);
	struct snap *s = take_snap();
	/* The first 2M page of the range is free: it must not be mapped either. */
	expect_map_err(-EEXIST, 0x200000, 0x1000000, 2 * PAGE_SIZE_2M, PAGE_SIZE_2M, 0);
	assert_unchanged(s, "2M over 4K");
	expect_unmapped(0x200000);
	expect_pa(0x400000, 0x9000);
}

Test(pt_errors, overlap_1g_over_2m)
{
	map_page(0x40200000, 0x200000, PAGE_SIZE_2M, PTE_RW);
	struct snap *s = take_snap();
	expect_map_err(-EEXIST, 0, 0x80000000, 2 * PAGE_SIZE_1G, PAGE_SIZE_1G, 0);
	assert_unchanged(s, "1G over 2M");
	expect_unmapped(0);
	cr_assert_eq(tbl(tbl(PT.root)[0] & PTE_ADDR_MASK)[0], 0, "PDPTE[0] still empty");
	expect_pa(0x40200000, 0x200000);
}

Test(pt_errors, overlap_2m_under_1g_and_same_size)
{
	map_page(0x40000000, 0x40000000, PAGE_SIZE_1G, 0);
	struct snap *s = take_snap();
	expect_map_err(-EEXIST, 0x40200000, 0, PAGE_SIZE_2M, PAGE_SIZE_2M, 0);
	expect_map_err(-EEXIST, 0x40000000, 0, PAGE_SIZE_1G, PAGE_SIZE_1G, 0);
	expect_map_err(-EEXIST, 0x7ffff000, 0, PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	assert_unchanged(s, "under 1G");
}

Test(pt_errors, enomem_mid_range_unmaps_and_no_leak)
{
	/* Page 0x1ff000 needs PDPT, PD, PT (allocs 1-3); 0x200000 a new PT (4). */
	mock_fail_nth_alloc(&M, 4);
	expect_map_err(-ENOMEM, 0x1ff000, 0x5000000, 2 * PAGE_SIZE_4K, PAGE_SIZE_4K, PTE_RW);
	cr_assert_eq(M.failed_allocs, 1, "the injected failure was hit");
	expect_unmapped(0x1ff000);
	cr_assert_eq(ent(0x1ff000, 1), 0, "first page of the range unmapped again");
	expect_unmapped(0x200000);
	/* The tree still works. */
	map_range(0x1ff000, 0x5000000, 2 * PAGE_SIZE_4K, PAGE_SIZE_4K, PTE_RW);
	expect_pa(0x200000, 0x5001000);
	destroy_and_check_no_leak();
}

Test(pt_errors, enomem_2m_range_across_1g)
{
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, 0);
	/* 0x3fe00000 uses the existing PD; 0x40000000 needs a new PD. */
	mock_fail_nth_alloc(&M, 1);
	expect_map_err(-ENOMEM, 0x3fe00000, 0x3fe00000, 2 * PAGE_SIZE_2M, PAGE_SIZE_2M, 0);
	expect_unmapped(0x3fe00000);
	expect_unmapped(0x40000000);
	expect_pa(0x1000, 0x1000);
	destroy_and_check_no_leak();
}

Test(pt_errors, enomem_first_and_intermediate_alloc)
{
	struct snap *s = take_snap();
	mock_fail_nth_alloc(&M, 1);
	expect_map_err(-ENOMEM, 0x1000, 0x1000, PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	assert_unchanged(s, "first alloc fails");
	/* PDPT allocated, PD fails: PDPT may stay linked, must not leak. */
	mock_fail_nth_alloc(&M, 2);
	expect_map_err(-ENOMEM, 0x1000, 0x1000, PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	expect_unmapped(0x1000);
	destroy_and_check_no_leak();
}

Test(pt_errors, init_enomem)
{
	struct mock_tables m;
	struct pt pt;
	mock_init(&m);
	mock_fail_nth_alloc(&m, 1);
	cr_assert_eq(pt_init(&pt, &mock_ops, &m), -ENOMEM);
	cr_assert_eq(m.live, 0);
	cr_assert_eq(m.allocs, 0);
	mock_fini(&m);
}

Test(pt_errors, map_through_corrupt_entry_is_eio)
{
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, 0);
	mock_plant(&M, PT.root, 0x1000, 3, MOCK_BAD_ADDR | PTE_P | PTE_RW | PTE_US);
	struct snap *s = take_snap();
	expect_map_err(-EIO, 0x2000, 0x2000, PAGE_SIZE_4K, PAGE_SIZE_4K, 0);
	cr_assert_eq(pt_unmap(&PT, 0x1000, PAGE_SIZE_4K), -EIO);
	assert_unchanged(s, "corrupt PDPTE");
}

/* ========================================================================= */
TestSuite(pt_unmap, .init = setup, .fini = teardown);

Test(pt_unmap, unmap_middle_page_keeps_tables)
{
	map_range(0x10000, 0x80000, 3 * PAGE_SIZE_4K, PAGE_SIZE_4K, PTE_RW);
	unsigned live = M.live;
	cr_assert_eq(pt_unmap(&PT, 0x11000, PAGE_SIZE_4K), 0);
	expect_pa(0x10000, 0x80000);
	expect_unmapped(0x11000);
	cr_assert_eq(ent(0x11000, 1), 0, "PTE cleared to 0");
	expect_pa(0x12000, 0x82000);
	cr_assert_eq(M.live, live, "tables are kept by unmap");
	cr_assert_eq(M.frees, 0);
}

Test(pt_unmap, holes_are_fine)
{
	cr_assert_eq(pt_unmap(&PT, 0, PAGE_SIZE_1G), 0, "empty tree");
	map_page(0x5000, 0x5000, PAGE_SIZE_4K, 0);
	map_page(0x600000, 0x600000, PAGE_SIZE_2M, 0);
	cr_assert_eq(pt_unmap(&PT, 0, 0x10000000), 0, "range with holes, 4K and 2M");
	expect_unmapped(0x5000);
	expect_unmapped(0x600000);
	cr_assert_eq(pt_unmap(&PT, 0xffff800000000000ull, 0x8000000000ull), 0,
	             "high half, nothing mapped");
}

Test(pt_unmap, partial_2m_is_einval_and_changes_nothing)
{
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, 0);
	map_page(0x200000, 0x400000, PAGE_SIZE_2M, PTE_RW);
	struct snap *s = take_snap();
	cr_assert_eq(pt_unmap(&PT, 0x200000, PAGE_SIZE_4K), -EINVAL, "head of 2M");
	cr_assert_eq(pt_unmap(&PT, 0x3ff000, PAGE_SIZE_4K), -EINVAL, "tail of 2M");
	/* The 4K page at 0x1000 comes first in the range: must survive. */
	cr_assert_eq(pt_unmap(&PT, 0x1000, 0x201000 - 0x1000), -EINVAL, "range ending inside 2M");
	assert_unchanged(s, "partial 2M unmap");
	expect_pa(0x1000, 0x1000);
}

Test(pt_unmap, partial_1g_is_einval)
{
	map_page(0x40000000, 0, PAGE_SIZE_1G, 0);
	struct snap *s = take_snap();
	cr_assert_eq(pt_unmap(&PT, 0x40000000, PAGE_SIZE_2M), -EINVAL);
	cr_assert_eq(pt_unmap(&PT, 0x7ffff000, 2 * PAGE_SIZE_4K), -EINVAL);
	assert_unchanged(s, "partial 1G unmap");
	cr_assert_eq(pt_unmap(&PT, 0x3ffff000, PAGE_SIZE_1G + 2 * PAGE_SIZE_4K), 0,
	             "unaligned range covering the whole 1G leaf");
	expect_unmapped(0x40000000);
}

Test(pt_unmap, unmap_then_remap_4k)
{
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, 0);
	cr_assert_eq(pt_unmap(&PT, 0x1000, PAGE_SIZE_4K), 0);
	map_page(0x1000, 0x77000, PAGE_SIZE_4K, PTE_RW);
	cr_assert_eq(ent(0x1000, 1), 0x77003ull);
	cr_assert_eq(M.live, 4, "tables reused");
}

Test(pt_unmap, remap_2m_frees_emptied_pt)
{
	map_range(0x200000, 0x1000, 2 * PAGE_SIZE_4K, PAGE_SIZE_4K, PTE_RW);
	cr_assert_eq(M.live, 4);
	uint64_t old_pt = ent(0x200000, 2) & PTE_ADDR_MASK;
	cr_assert_eq(pt_unmap(&PT, 0x200000, 2 * PAGE_SIZE_4K), 0);
	cr_assert_eq(M.live, 4, "emptied PT kept by unmap");
	map_page(0x200000, 0x800000, PAGE_SIZE_2M, PTE_RW);
	cr_assert_eq(ent(0x200000, 2), 0x800083ull, "PDE is now the 2M leaf");
	cr_assert_eq(M.frees, 1, "the empty PT was freed");
	cr_assert_eq(M.live, 3);
	cr_assert_not(mock_is_table(&M, old_pt), "old PT " X " no longer live", old_pt);
	expect_pa(0x212345, 0x812345);
	destroy_and_check_no_leak();
}

Test(pt_unmap, remap_1g_frees_emptied_pd_and_pt)
{
	map_page(0x40000000, 0x1000, PAGE_SIZE_4K, 0);
	cr_assert_eq(M.live, 4);
	cr_assert_eq(pt_unmap(&PT, 0x40000000, PAGE_SIZE_4K), 0);
	map_page(0x40000000, 0xc0000000, PAGE_SIZE_1G, 0);
	cr_assert_eq(ent(0x40000000, 3), 0xc0000081ull);
	cr_assert_eq(M.frees, 2, "PD and PT freed");
	cr_assert_eq(M.live, 2);
	destroy_and_check_no_leak();
}

Test(pt_unmap, bad_arguments)
{
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, 0);
	struct snap *s = take_snap();
	cr_assert_eq(pt_unmap(&PT, 0x1000, 0), -EINVAL, "size 0");
	cr_assert_eq(pt_unmap(&PT, 0x1800, PAGE_SIZE_4K), -EINVAL, "va misaligned");
	cr_assert_eq(pt_unmap(&PT, 0x1000, 0x800), -EINVAL, "size misaligned");
	cr_assert_eq(pt_unmap(&PT, 0x0000800000000000ull, PAGE_SIZE_4K), -EINVAL, "non-canonical va");
	cr_assert_eq(pt_unmap(&PT, 0x00007ffffffff000ull, 2 * PAGE_SIZE_4K), -EINVAL,
	             "range ends non-canonical");
	cr_assert_eq(pt_unmap(&PT, 0xfffffffffffff000ull, 2 * PAGE_SIZE_4K), -EINVAL, "wraps");
	assert_unchanged(s, "bad unmap args");
	expect_pa(0x1000, 0x1000);
}

Test(pt_unmap, range_spanning_non_canonical_hole)
{
	/* Both ends canonical, but the range covers the whole hole
	 * [2^47, 2^64 - 2^47): it is not a canonical range, and whatever the
	 * verdict, a page far outside it (0x1000) must not be touched. */
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, 0);
	map_page(0x200000, 0x200000, PAGE_SIZE_2M, 0);
	uint64_t va = 0x00007ffffffff000ull, end = 0xffff800000001000ull;
	int r = pt_unmap(&PT, va, end - va);
	expect_pa(0x1000, 0x1000);
	expect_pa(0x200000, 0x200000);
	cr_assert_eq(r, -EINVAL, "pt_unmap across the hole = %d", r);
}

Test(pt_unmap, unmap_high_half)
{
	map_range(0xffffffff80000000ull, 0x1000000, 4 * PAGE_SIZE_2M, PAGE_SIZE_2M, PTE_RW);
	cr_assert_eq(pt_unmap(&PT, 0xffffffff80200000ull, 2 * PAGE_SIZE_2M), 0);
	expect_pa(0xffffffff80000000ull, 0x1000000);
	expect_unmapped(0xffffffff80200000ull);
	expect_unmapped(0xffffffff80400000ull);
	expect_pa(0xffffffff80600000ull, 0x1600000);
}

/* ========================================================================= */
TestSuite(pt_split, .init = setup, .fini = teardown);

Test(pt_split, split_2m_into_4k)
{
	const pte_t fl = PTE_RW | PTE_US | PTE_NX | PTE_G | PTE_PWT;
	map_page(0x40200000, 0x80200000, PAGE_SIZE_2M, fl);
	cr_assert_eq(ent(0x40200000, 2), 0x800000008020018full);
	unsigned live = M.live;
	cr_assert_eq(pt_split(&PT, 0x40234567), 0);
	cr_assert_eq(M.live, live + 1, "one new PT");

	uint64_t pt_a = assert_table_entry(ent(0x40200000, 2), "PDE after split");
	pte_t *t = tbl(pt_a);
	cr_assert_eq(mock_present_count(&M, pt_a), 512);
	cr_assert_eq(t[0], 0x800000008020010full, "PTE[0] " X, t[0]);
	cr_assert_eq(t[1], 0x800000008020110full, "PTE[1] " X, t[1]);
	cr_assert_eq(t[511], 0x80000000803ff10full, "PTE[511] " X, t[511]);
	for (unsigned i = 0; i < 512; i++)
		cr_assert_eq(t[i], (0x80200000ull + i * 0x1000) | 0x800000000000010full, "PTE[%u]", i);

	struct pt_walk w;
	cr_assert_eq(pt_walk(&PT, 0x40234567, &w), 0);
	cr_assert_eq(w.leaf_level, 1);
	cr_assert_eq(w.pa, 0x80234567ull);
	cr_assert_eq(w.eff, PTE_P | PTE_RW | PTE_US | PTE_NX);
}

Test(pt_split, split_2m_moves_pat_to_bit_7)
{
	map_page(0x200000, 0x400000, PAGE_SIZE_2M, PTE_RW);
	mock_plant(&M, PT.root, 0x200000, 2, 0x400000ull | (1ull << 12) | PTE_PS | PTE_RW | PTE_P);
	cr_assert_eq(pt_split(&PT, 0x200000), 0);
	cr_assert_eq(ent(0x200000, 1), 0x400083ull, "PTE[0]: PAT at bit 7, bit 12 clear: " X,
	             ent(0x200000, 1));
	cr_assert_eq(ent(0x201000, 1), 0x401083ull, "PTE[1] " X, ent(0x201000, 1));
	cr_assert_eq(ent(0x3ff000, 1), 0x5ff083ull, "PTE[511] " X, ent(0x3ff000, 1));
	expect_pa(0x200000, 0x400000);
}

Test(pt_split, split_2m_without_pat_has_no_bit_7)
{
	map_page(0x200000, 0x400000, PAGE_SIZE_2M, PTE_RW);
	cr_assert_eq(pt_split(&PT, 0x3fffff), 0, "last byte of the 2M page");
	cr_assert_eq(ent(0x200000, 1), 0x400003ull, "no PS/PAT in PTE: " X, ent(0x200000, 1));
}

Test(pt_split, split_keeps_accessed_dirty_and_sw_bits)
{
	const pte_t fl = PTE_RW | PTE_A | PTE_D | PTE_SW1 | (3ull << PTE_SW_HI_SHIFT);
	map_page(0x200000, 0x400000, PAGE_SIZE_2M, fl);
	cr_assert_eq(pt_split(&PT, 0x200000), 0);
	cr_assert_eq(ent(0x201000, 1), 0x401000ull | fl | PTE_P, "PTE[1] " X, ent(0x201000, 1));
}

Test(pt_split, split_1g_into_2m)
{
	map_page(0x40000000, 0x80000000, PAGE_SIZE_1G, PTE_RW | PTE_NX);
	unsigned live = M.live;
	cr_assert_eq(pt_split(&PT, 0x52345678), 0);
	cr_assert_eq(M.live, live + 1, "one new PD");
	uint64_t pd_a = assert_table_entry(ent(0x40000000, 3), "PDPTE after split");
	pte_t *t = tbl(pd_a);
	cr_assert_eq(mock_present_count(&M, pd_a), 512);
	cr_assert_eq(t[0], 0x8000000080000083ull, "PDE[0] " X, t[0]);
	cr_assert_eq(t[1], 0x8000000080200083ull, "PDE[1] " X, t[1]);
	cr_assert_eq(t[511], 0x80000000bfe00083ull, "PDE[511] " X, t[511]);
	struct pt_walk w;
	cr_assert_eq(pt_walk(&PT, 0x52345678, &w), 0);
	cr_assert_eq(w.leaf_level, 2);
	cr_assert_eq(w.pa, 0x92345678ull);
}

Test(pt_split, split_1g_keeps_pat_at_bit_12)
{
	map_page(0x40000000, 0x80000000, PAGE_SIZE_1G, 0);
	mock_plant(&M, PT.root, 0x40000000, 3, ent(0x40000000, 3) | (1ull << 12));
	cr_assert_eq(pt_split(&PT, 0x40000000), 0);
	cr_assert_eq(ent(0x40000000, 2), 0x80001081ull, "PDE[0] " X, ent(0x40000000, 2));
	cr_assert_eq(ent(0x40200000, 2), 0x80201081ull, "PDE[1] " X, ent(0x40200000, 2));
	expect_pa(0x40200000, 0x80200000);
}

Test(pt_split, split_1g_then_2m)
{
	map_page(0, 0, PAGE_SIZE_1G, PTE_RW);
	cr_assert_eq(pt_split(&PT, 0x12345678), 0);
	cr_assert_eq(pt_split(&PT, 0x12345678), 0, "now split the 2M leaf");
	struct pt_walk w;
	cr_assert_eq(pt_walk(&PT, 0x12345678, &w), 0);
	cr_assert_eq(w.leaf_level, 1);
	cr_assert_eq(w.pa, 0x12345678ull);
	cr_assert_eq(pt_split(&PT, 0x12345678), -ENOENT, "4K cannot be split");
	destroy_and_check_no_leak();
}

Test(pt_split, enoent_on_4k_and_unmapped)
{
	cr_assert_eq(pt_split(&PT, 0x200000), -ENOENT, "empty tree");
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, 0);
	struct snap *s = take_snap();
	cr_assert_eq(pt_split(&PT, 0x1000), -ENOENT, "4K leaf");
	cr_assert_eq(pt_split(&PT, 0x200000), -ENOENT, "PDE empty");
	cr_assert_eq(pt_split(&PT, 0x40000000), -ENOENT, "PDPTE empty");
	cr_assert_eq(pt_split(&PT, 0x8000000000ull), -ENOENT, "PML4E empty");
	assert_unchanged(s, "split -ENOENT");
}

Test(pt_split, enomem_leaves_large_mapping_intact)
{
	map_page(0x200000, 0x400000, PAGE_SIZE_2M, PTE_RW);
	map_page(0x40000000, 0x80000000, PAGE_SIZE_1G, PTE_RW);
	struct snap *s = take_snap();
	mock_fail_nth_alloc(&M, 1);
	cr_assert_eq(pt_split(&PT, 0x200000), -ENOMEM);
	mock_fail_nth_alloc(&M, 1);
	cr_assert_eq(pt_split(&PT, 0x40000000), -ENOMEM);
	assert_unchanged(s, "split -ENOMEM");
	cr_assert_eq(ent(0x200000, 2), 0x400083ull);
	expect_pa(0x212345, 0x412345);
}

Test(pt_split, corrupt_entry_is_eio)
{
	map_page(0x200000, 0x400000, PAGE_SIZE_2M, 0);
	mock_plant(&M, PT.root, 0x200000, 4, MOCK_BAD_ADDR | PTE_P | PTE_RW | PTE_US);
	cr_assert_eq(pt_split(&PT, 0x200000), -EIO);
}

Test(pt_split, non_canonical_va_does_not_alias_high_half)
{
	/* 0x0000800000000000 has the PML4 index (256) of 0xffff800000000000
	 * but is not canonical: no leaf covers it. */
	map_page(0xffff800000000000ull, 0x400000, PAGE_SIZE_2M, 0);
	struct snap *s = take_snap();
	int r = pt_split(&PT, 0x0000800000000000ull);
	cr_assert_eq(r, -ENOENT, "split of a non-canonical va = %d", r);
	assert_unchanged(s, "split non-canonical");
}

/* ========================================================================= */
TestSuite(pt_destroy, .init = setup, .fini = teardown);

Test(pt_destroy, frees_every_table)
{
	map_range(0x1000, 0x1000, 0x10000, PAGE_SIZE_4K, PTE_RW);
	map_range(0x400000, 0x400000, 8 * PAGE_SIZE_2M, PAGE_SIZE_2M, PTE_RW);
	map_range(0x80000000, 0x80000000, 2 * PAGE_SIZE_1G, PAGE_SIZE_1G, 0);
	map_page(0xffff800000000000ull, 0x1000, PAGE_SIZE_4K, 0);
	map_page(0xffffffff80000000ull, 0x200000, PAGE_SIZE_2M, 0);
	cr_assert_eq(pt_split(&PT, 0x80000000), 0);
	cr_assert_eq(pt_split(&PT, 0x80000000), 0);
	cr_assert(M.live > 8, "a real tree was built (%u tables)", M.live);
	destroy_and_check_no_leak();
}

Test(pt_destroy, empty_tree_frees_root)
{
	destroy_and_check_no_leak();
	cr_assert_eq(M.allocs, 1);
}

Test(pt_destroy, corrupt_entry_not_passed_to_free_table)
{
	map_page(0x1000, 0x1000, PAGE_SIZE_4K, 0);
	/* An unused PML4 slot with a corrupt table address. */
	tbl(PT.root)[5] = MOCK_BAD_ADDR | PTE_P | PTE_RW | PTE_US;
	pt_destroy(&PT);
	cr_assert_eq(M.live, 0, "the valid tables are all freed");
	cr_assert_eq(M.bad_frees, 0,
	             "free_table was called %u time(s) with an address table_ptr rejects",
	             M.bad_frees);
}
