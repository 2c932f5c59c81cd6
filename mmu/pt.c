/*
 * pt.c - x86_64 4-level page-table engine (map, unmap, split, walk,
 * translate) over struct pt_ops. See pt.h for the contract.
 *
 * Walkers follow the Linux copy_*_range shape: one recursive step per level,
 * `next = pt_level_end(addr, end, level)` loops. No locking here: a struct pt
 * has one writer at a time (the GPT adds its own locking on top).
 */
#include "pt.h"

#include <errno.h>

#define PTE_PAT_4K    (1ull << 7)  /* PAT bit in a 4 KiB PTE (SDM table 4-20) */
#define PTE_PAT_LARGE (1ull << 12) /* PAT bit in a 2M/1G leaf (tables 4-18, 4-16) */

static int page_size_level(uint64_t page_size)
{
	switch (page_size) {
	case PAGE_SIZE_4K: return 1;
	case PAGE_SIZE_2M: return 2;
	case PAGE_SIZE_1G: return 3;
	default: return 0;
	}
}

static int new_table(struct pt *pt, uint64_t *addr)
{
	int r = pt->ops->alloc_table(pt->ctx, addr);
	if (r)
		return r < 0 ? r : -ENOMEM;
	if ((*addr & ~PTE_ADDR_MASK) || !pt_table(pt, *addr)) {
		/* A table address that does not fit an entry would corrupt the
		 * tree: refuse it rather than truncate it. */
		if (pt->ops->free_table)
			pt->ops->free_table(pt->ctx, *addr);
		return -EIO;
	}
	return 0;
}

int pt_init(struct pt *pt, const struct pt_ops *ops, void *ctx)
{
	pt->ops = ops;
	pt->ctx = ctx;
	pt->root = 0;
	return new_table(pt, &pt->root);
}

static void free_level(struct pt *pt, uint64_t table, int level)
{
	pte_t *t = pt_table(pt, table);
	if (t && level > 1) {
		for (unsigned i = 0; i < PT_ENTRIES; i++) {
			pte_t e = pte_load(&t[i]);
			if (pte_present(e) && !pte_is_leaf(e, level))
				free_level(pt, pte_addr(e, level), level - 1);
		}
	}
	if (t && pt->ops->free_table) /* never hand a corrupt address to free */
		pt->ops->free_table(pt->ctx, table);
}

void pt_destroy(struct pt *pt)
{
	if (!pt->ops)
		return;
	free_level(pt, pt->root, PT_LEVELS);
	pt->ops = NULL;
}

/* True if no leaf is mapped anywhere below this table. */
static bool subtree_empty(const struct pt *pt, uint64_t table, int level)
{
	pte_t *t = pt_table(pt, table);
	if (!t)
		return false;
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		pte_t e = pte_load(&t[i]);
		if (!pte_present(e))
			continue;
		if (pte_is_leaf(e, level) || !subtree_empty(pt, pte_addr(e, level), level - 1))
			return false;
	}
	return true;
}

/*
 * Find the slot for va at `level`. With alloc, missing tables are created.
 * -EEXIST if a leaf above `level` covers va, -ENOENT if a table is missing
 * and !alloc, -EIO for an invalid table address.
 */
static int find_slot(struct pt *pt, uint64_t va, int level, bool alloc, pte_t **out)
{
	uint64_t table = pt->root;
	for (int l = PT_LEVELS;; l--) {
		pte_t *t = pt_table(pt, table);
		if (!t)
			return -EIO;
		pte_t *slot = &t[pt_index(va, l)];
		if (l == level) {
			*out = slot;
			return 0;
		}
		pte_t e = pte_load(slot);
		if (!pte_present(e)) {
			if (!alloc)
				return -ENOENT;
			int r = new_table(pt, &table);
			if (r)
				return r;
			pte_store(slot, table | PTE_TABLE_FLAGS);
		} else if (pte_is_leaf(e, l)) {
			return -EEXIST;
		} else {
			table = pte_addr(e, l);
		}
	}
}

/* -EEXIST if the slot for va at level is taken (a leaf, or a table that
 * still maps something), 0 if free. */
static int check_free(struct pt *pt, uint64_t va, int level)
{
	pte_t *slot;
	int r = find_slot(pt, va, level, false, &slot);
	if (r == -ENOENT)
		return 0;
	if (r)
		return r;
	pte_t e = pte_load(slot);
	if (!pte_present(e))
		return 0;
	if (pte_is_leaf(e, level) || !subtree_empty(pt, pte_addr(e, level), level - 1))
		return -EEXIST;
	return 0;
}

int pt_map(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size,
           uint64_t page_size, pte_t flags)
{
	int level = page_size_level(page_size);
	if (!level || !size || (va | pa | size) & (page_size - 1))
		return -EINVAL;
	if (flags & ~PTE_FLAGS_MASK)
		return -EINVAL;
	if (va + size - 1 < va || pa + size - 1 < pa || !pt_canonical(va) ||
	    (va >> 47) != ((va + size - 1) >> 47) ||
	    !pt_canonical(va + size - 1) || ((pa + size - 1) & ~PTE_ADDR_MASK & ~0xfffull))
		return -EINVAL;

	for (uint64_t off = 0; off < size; off += page_size) {
		int r = check_free(pt, va + off, level);
		if (r)
			return r;
	}
	pte_t leaf_flags = flags | PTE_P | (level > 1 ? PTE_PS : 0);
	for (uint64_t off = 0; off < size; off += page_size) {
		pte_t *slot;
		int r = find_slot(pt, va + off, level, true, &slot);
		if (r) {
			if (off)
				pt_unmap(pt, va, off);
			return r;
		}
		pte_t old = pte_load(slot);
		if (pte_present(old)) /* an empty table (checked above): drop it */
			free_level(pt, pte_addr(old, level), level - 1);
		pte_store(slot, (pa + off) | leaf_flags);
	}
	return 0;
}

/* One level of unmap; with dry_run only checks that no leaf straddles. */
static int unmap_level(struct pt *pt, uint64_t table, int level, uint64_t addr,
                       uint64_t end, bool dry_run)
{
	pte_t *t = pt_table(pt, table);
	if (!t)
		return -EIO;
	for (uint64_t next; addr != end; addr = next) {
		next = pt_level_end(addr, end, level);
		pte_t *slot = &t[pt_index(addr, level)];
		pte_t e = pte_load(slot);
		if (!pte_present(e))
			continue;
		if (pte_is_leaf(e, level)) {
			if ((addr & (pt_level_size(level) - 1)) || next - addr != pt_level_size(level))
				return -EINVAL;
			if (!dry_run)
				pte_store(slot, 0);
			continue;
		}
		int r = unmap_level(pt, pte_addr(e, level), level - 1, addr, next, dry_run);
		if (r)
			return r;
	}
	return 0;
}

int pt_unmap(struct pt *pt, uint64_t va, uint64_t size)
{
	/* The range may end exactly at the top of the address space (end wraps
	 * to 0, which pt_level_end handles) but must not cross the
	 * non-canonical hole: indices would wrap into the other half. */
	if (!size || (va | size) & (PAGE_SIZE_4K - 1) || va + size - 1 < va ||
	    !pt_canonical(va) || !pt_canonical(va + size - 1) ||
	    (va >> 47) != ((va + size - 1) >> 47))
		return -EINVAL;
	/* Walk in the 48-bit index space; sign extension is irrelevant to the
	 * indices, and the dry run keeps a failing call from changing anything. */
	uint64_t end = va + size;
	int r = unmap_level(pt, pt->root, PT_LEVELS, va, end, true);
	if (r)
		return r;
	return unmap_level(pt, pt->root, PT_LEVELS, va, end, false);
}

int pt_split(struct pt *pt, uint64_t va)
{
	pte_t *slot = NULL;
	int level;
	if (!pt_canonical(va)) /* indices alone would alias the other half */
		return -ENOENT;
	for (level = 3; level >= 2; level--) {
		int r = find_slot(pt, va, level, false, &slot);
		if (r == -EEXIST) /* leaf above this level: try one level up */
			continue;
		if (r)
			return r == -ENOENT ? -ENOENT : r;
		pte_t e = pte_load(slot);
		if (pte_present(e) && pte_is_leaf(e, level))
			break;
	}
	if (level < 2)
		return -ENOENT;
	pte_t e = pte_load(slot);
	uint64_t table;
	int r = new_table(pt, &table);
	if (r)
		return r;
	pte_t *t = pt_table(pt, table);
	uint64_t base = pte_addr(e, level);
	uint64_t step = pt_level_size(level - 1);
	pte_t rights = e & ~PTE_ADDR_MASK & ~PTE_PAT_LARGE;
	bool pat = e & PTE_PAT_LARGE;
	if (level == 2) {
		/* 2 MiB -> 4 KiB: PS goes away and PAT moves to bit 7. */
		rights &= ~PTE_PS;
		if (pat)
			rights |= PTE_PAT_4K;
	} else if (pat) {
		rights |= PTE_PAT_LARGE;
	}
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		t[i] = (base + i * step) | rights;
	/* The release store publishes the filled table before the entry that
	 * points to it, so a concurrent walker never sees a half-built table. */
	pte_store(slot, table | PTE_TABLE_FLAGS | (e & PTE_A));
	return 0;
}

int pt_walk(const struct pt *pt, uint64_t va, struct pt_walk *w)
{
	*w = (struct pt_walk){ .eff = PTE_P | PTE_RW | PTE_US };
	if (!pt_canonical(va))
		return -EFAULT;
	uint64_t table = pt->root;
	for (int l = PT_LEVELS; l >= 1; l--) {
		pte_t *t = pt_table(pt, table);
		if (!t)
			return -EIO;
		pte_t e = pte_load(&t[pt_index(va, l)]);
		w->entry[l] = e;
		if (!pte_present(e)) {
			w->eff = 0;
			return -EFAULT;
		}
		/* SDM 4.6.1: writes need RW at every level, user access needs US
		 * at every level, and NX at any level forbids fetches. */
		w->eff &= (e & (PTE_RW | PTE_US)) | PTE_P | PTE_NX;
		w->eff |= e & PTE_NX;
		if (pte_is_leaf(e, l)) {
			w->leaf_level = l;
			w->pa = pte_addr(e, l) + (va & (pt_level_size(l) - 1));
			return 0;
		}
		table = pte_addr(e, l);
	}
	return -EIO; /* not reached: level 1 is always a leaf */
}

int pt_translate(const struct pt *pt, uint64_t va, uint64_t *pa, pte_t *eff)
{
	struct pt_walk w;
	int r = pt_walk(pt, va, &w);
	if (r)
		return r;
	if (pa)
		*pa = w.pa;
	if (eff)
		*eff = w.eff;
	return 0;
}
