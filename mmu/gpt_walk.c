/*
 * gpt_walk.c - the GPT walkers that change mappings (map, populate, remap,
 * protect, discard, clear-dirty, split, pin/unpin) and the read-only ones
 * (written-page enumeration, leaf introspection). Every walker that writes
 * a leaf entry first makes the leaf exclusive with leaf_make_exclusive()
 * (or leaf_reserve/commit) and then writes through leaf_set(); walkers drop
 * whole shared chunks with chunk_drop(). Nothing else touches leaf entries.
 */
#include "gpt_internal.h"

#include <errno.h>

static bool has_pin(pte_t e) { return pte_present(e) && (e & GPT_PINNED); }

static int walk_level(struct gpt *g, uint64_t table, int level, uint64_t addr,
                      uint64_t end, gpt_pde_fn fn, void *arg)
{
	pte_t *t = tab(table);
	for (uint64_t next; addr != end; addr = next) {
		next = pt_level_end(addr, end, level);
		pte_t *slot = &t[pt_index(addr, level)];
		pte_t e = pte_load(slot);
		if (!pte_present(e))
			continue;
		int r = level == 2 ? fn(g, slot, addr, next, arg)
		                   : walk_level(g, pte_addr(e, level), level - 1, addr, next, fn, arg);
		if (r)
			return r;
	}
	return 0;
}

int gpt_walk_pdes(struct gpt *g, uint64_t addr, uint64_t end, gpt_pde_fn fn, void *arg)
{
	return walk_level(g, g->pt.root, PT_LEVELS, addr, end, fn, arg);
}

static int pinned_chunk(struct gpt *g, pte_t *pde, uint64_t addr, uint64_t next, void *arg)
{
	(void)g;
	(void)arg;
	pte_t d = pte_load(pde);
	/* I3: pinned pages live in exclusive leaves only */
	if ((d & PTE_PS) || !(d & PTE_RW) || !RD(gpt_meta(pte_addr(d, 1))->npinned))
		return 0;
	pte_t *t = tab(pte_addr(d, 1));
	unsigned lo = pt_index(addr, 1), hi = lo + (unsigned)((next - addr) >> 12);
	for (unsigned i = lo; i < hi; i++)
		if (has_pin(pte_load(&t[i])))
			return -EBUSY;
	return 0;
}

int gpt_range_pinned(struct gpt *g, uint64_t addr, uint64_t end)
{
	return gpt_walk_pdes(g, addr, end, pinned_chunk, NULL);
}

static bool whole_chunk(uint64_t addr, uint64_t next)
{
	return !(addr & (GPT_LEAF_SIZE - 1)) && next - addr == GPT_LEAF_SIZE;
}

/* Entries [lo, hi) of the chunk [addr, next). */
#define CHUNK_RANGE(addr, next) \
	unsigned lo = pt_index(addr, 1), hi = lo + (unsigned)(((next) - (addr)) >> 12)

/*
 * Generic "change some bits of present pages" chunk walker, shared by
 * protect and clear-dirty. A leaf with nothing to change is left alone, so
 * a shared leaf stays shared; otherwise it is made exclusive first (break
 * COW), or a 2 MiB map is changed in place when the chunk is whole and
 * split when it is not.
 */
struct bits_op {
	pte_t set, clear;
};
static bool bits_differ(pte_t e, const struct bits_op *op)
{
	return pte_present(e) && ((e & op->clear) || (~e & op->set));
}
static pte_t bits_apply(pte_t e, const struct bits_op *op) { return (e & ~op->clear) | op->set; }

static int bits_chunk(struct gpt *g, pte_t *pde, uint64_t addr, uint64_t next, void *arg)
{
	const struct bits_op *op = arg;
	pte_t d = pte_load(pde);
	if (d & PTE_PS) {
		if (!bits_differ(d, op))
			return 0;
		if (whole_chunk(addr, next)) {
			pte_store(pde, bits_apply(d, op));
			return 0;
		}
	} else {
		pte_t *t = tab(pte_addr(d, 1));
		CHUNK_RANGE(addr, next);
		unsigned i = lo;
		while (i < hi && !bits_differ(pte_load(&t[i]), op))
			i++;
		if (i == hi)
			return 0;
	}
	uint64_t leaf;
	int r = leaf_make_exclusive(g, addr, false, &leaf);
	if (r)
		return r;
	pte_t *t = tab(leaf);
	CHUNK_RANGE(addr, next);
	for (unsigned i = lo; i < hi; i++) {
		pte_t e = pte_load(&t[i]);
		if (bits_differ(e, op))
			leaf_set(g, leaf, i, bits_apply(e, op));
	}
	return 0;
}

int gpt_protect(struct gpt *g, uint64_t gpa, uint64_t size, bool writable)
{
	int r = gpt_check_range(gpa, size);
	if (r)
		return r;
	struct bits_op op = { writable ? GPT_WRITABLE : 0, writable ? 0 : GPT_WRITABLE };
	pthread_mutex_lock(&g->lock);
	r = gpt_walk_pdes(g, gpa, gpa + size, bits_chunk, &op);
	pthread_mutex_unlock(&g->lock);
	return r;
}

int gpt_clear_dirty(struct gpt *g, uint64_t gpa, uint64_t size)
{
	int r = gpt_check_range(gpa, size);
	if (r)
		return r;
	struct bits_op op = { 0, GPT_DIRTY };
	pthread_mutex_lock(&g->lock);
	r = gpt_walk_pdes(g, gpa, gpa + size, bits_chunk, &op);
	pthread_mutex_unlock(&g->lock);
	return r;
}

/* Discard: a whole chunk is dropped (a shared leaf loses a reference, no
 * copy: "drop COW"); a partial one is made exclusive and its entries
 * cleared, unless it maps nothing in the range. */
static int discard_chunk(struct gpt *g, pte_t *pde, uint64_t addr, uint64_t next, void *arg)
{
	(void)arg;
	if (whole_chunk(addr, next)) {
		chunk_drop(g, pde);
		return 0;
	}
	pte_t d = pte_load(pde);
	CHUNK_RANGE(addr, next);
	if (!(d & PTE_PS)) {
		pte_t *t = tab(pte_addr(d, 1));
		unsigned i = lo;
		while (i < hi && !pte_present(pte_load(&t[i])))
			i++;
		if (i == hi)
			return 0;
	}
	uint64_t leaf;
	int r = leaf_make_exclusive(g, addr, false, &leaf);
	if (r)
		return r;
	for (unsigned i = lo; i < hi; i++)
		if (pte_present(pte_load(&tab(leaf)[i])))
			leaf_set(g, leaf, i, 0);
	return 0;
}

static int discard_locked(struct gpt *g, uint64_t gpa, uint64_t size)
{
	return gpt_walk_pdes(g, gpa, gpa + size, discard_chunk, NULL);
}

int gpt_discard(struct gpt *g, uint64_t gpa, uint64_t size)
{
	int r = gpt_check_range(gpa, size);
	if (r)
		return r;
	pthread_mutex_lock(&g->lock);
	r = gpt_range_pinned(g, gpa, gpa + size); /* checked first: all or nothing */
	r = r ?: discard_locked(g, gpa, size);
	pthread_mutex_unlock(&g->lock);
	return r;
}

int gpt_split(struct gpt *g, uint64_t gpa)
{
	int r = gpt_check_range(gpa, PAGE_SIZE_4K);
	if (r)
		return r;
	pthread_mutex_lock(&g->lock);
	pte_t *pde;
	r = pde_slot(g, gpa, false, &pde, NULL);
	if (!r && !((pte_load(pde) & (PTE_P | PTE_PS)) == (PTE_P | PTE_PS)))
		r = -ENOENT;
	uint64_t leaf;
	if (!r)
		r = leaf_make_exclusive(g, gpa, false, &leaf);
	pthread_mutex_unlock(&g->lock);
	return r;
}

/* --- map / populate / remap -------------------------------------------------- */

static int any_present_chunk(struct gpt *g, pte_t *pde, uint64_t addr, uint64_t next, void *arg)
{
	(void)g;
	(void)arg;
	pte_t d = pte_load(pde);
	if (d & PTE_PS)
		return -EEXIST;
	pte_t *t = tab(pte_addr(d, 1));
	CHUNK_RANGE(addr, next);
	for (unsigned i = lo; i < hi; i++)
		if (pte_present(pte_load(&t[i])))
			return -EEXIST;
	return 0;
}

static int map_flags_ok(uint64_t flags, uint64_t allowed)
{
	return (flags & ~allowed) ? -EINVAL : 0;
}

/* Install a 2 MiB map of frames f0..f0+511 on an empty chunk. */
static int map_huge_chunk(struct gpt *g, uint64_t addr, uint64_t f0, uint64_t flags)
{
	struct leaf_res r = { 0 };
	pte_t *pde;
	int err = pde_slot(g, addr, true, &pde, &r);
	if (err) {
		leaf_cancel(g, &r);
		return err;
	}
	chunk_drop(g, pde); /* an empty leaf table may sit there */
	for (unsigned i = 0; i < GPT_LEAF_PAGES; i++)
		FS(g)->get(FSC(g), f0 + i);
	pte_store(pde, (f0 << 12) | PTE_P | PTE_US | PTE_PS | (flags & (GPT_WRITABLE | GPT_PRIVATE)));
	g->st.huge++;
	g->st.rss_owned += GPT_LEAF_PAGES;
	if (flags & GPT_PRIVATE)
		g->st.rss_private += GPT_LEAF_PAGES;
	return 0;
}

/*
 * The bulk map walker behind map, populate and remap: per 2 MiB chunk one
 * leaf_make_exclusive (creating the leaf), then plain entry writes. With
 * fresh frames (populate), f0 is ignored and the store allocates one per
 * page. *done receives how far it got.
 */
static int map_range_locked(struct gpt *g, uint64_t gpa, uint64_t size, uint64_t f0,
                            uint64_t flags, bool fresh, uint64_t *done)
{
	uint64_t end = gpa + size;
	pte_t bits = PTE_P | (flags & (GPT_WRITABLE | GPT_PRIVATE));
	*done = gpa;
	for (uint64_t addr = gpa, next; addr != end; addr = next) {
		next = pt_level_end(addr, end, 2);
		uint64_t frame = f0 + ((addr - gpa) >> 12);
		if ((flags & GPT_HUGE) && whole_chunk(addr, next)) {
			int err = map_huge_chunk(g, addr, frame, flags);
			if (err)
				return err;
			*done = next;
			continue;
		}
		uint64_t leaf;
		int err = leaf_make_exclusive(g, addr, true, &leaf);
		if (err)
			return err;
		CHUNK_RANGE(addr, next);
		for (unsigned i = lo; i < hi; i++, frame++) {
			if (fresh) {
				err = FS(g)->alloc(FSC(g), &frame);
				if (err)
					return err;
			} else {
				FS(g)->get(FSC(g), frame);
			}
			leaf_set(g, leaf, i, (frame << 12) | bits);
			*done += PAGE_SIZE_4K;
		}
	}
	return 0;
}

static int map_common(struct gpt *g, uint64_t gpa, uint64_t size, uint64_t f0,
                      uint64_t flags, bool fresh)
{
	pthread_mutex_lock(&g->lock);
	int r = gpt_walk_pdes(g, gpa, gpa + size, any_present_chunk, NULL);
	if (!r) {
		uint64_t done;
		r = map_range_locked(g, gpa, size, f0, flags, fresh, &done);
		if (r && done > gpa)
			discard_locked(g, gpa, done - gpa); /* exclusive leaves: cannot fail */
	}
	pthread_mutex_unlock(&g->lock);
	return r;
}

int gpt_map(struct gpt *g, uint64_t gpa, uint64_t size, uint64_t frame0, uint64_t flags)
{
	int r = gpt_check_range(gpa, size);
	if (!r)
		r = map_flags_ok(flags, GPT_WRITABLE | GPT_PRIVATE | GPT_HUGE);
	if (!r && (flags & GPT_HUGE) && ((gpa | size) & (GPT_LEAF_SIZE - 1) || frame0 % GPT_LEAF_PAGES))
		r = -EINVAL;
	if (!r && (frame0 + (size >> 12)) > (PTE_ADDR_MASK >> 12))
		r = -EINVAL;
	if (r)
		return r;
	return map_common(g, gpa, size, frame0, flags, false);
}

int gpt_populate(struct gpt *g, uint64_t gpa, uint64_t size, uint64_t flags)
{
	int r = gpt_check_range(gpa, size);
	if (!r)
		r = map_flags_ok(flags, GPT_WRITABLE);
	if (r)
		return r;
	return map_common(g, gpa, size, 0, flags | GPT_PRIVATE, true);
}

int gpt_remap(struct gpt *g, uint64_t gpa, uint64_t size, uint64_t frame0, uint64_t flags)
{
	int r = gpt_check_range(gpa, size);
	if (!r)
		r = map_flags_ok(flags, GPT_WRITABLE | GPT_PRIVATE);
	if (!r && (frame0 + (size >> 12)) > (PTE_ADDR_MASK >> 12))
		r = -EINVAL;
	if (r)
		return r;
	pthread_mutex_lock(&g->lock);
	uint64_t done;
	/* leaf_set puts the frame each entry stops naming; a pinned page is
	 * refused before anything changes */
	r = gpt_range_pinned(g, gpa, gpa + size);
	r = r ?: map_range_locked(g, gpa, size, frame0, flags, false, &done);
	pthread_mutex_unlock(&g->lock);
	return r;
}

/* --- pin ---------------------------------------------------------------------- */

int gpt_pin_range(struct gpt *g, uint64_t gpa, uint64_t size)
{
	int r = gpt_check_range(gpa, size);
	if (r)
		return r;
	pthread_mutex_lock(&g->lock);
	for (uint64_t a = gpa; a < gpa + size && !r; a += PAGE_SIZE_4K)
		r = gpt_fault_locked(g, a, true, NULL);
	pthread_mutex_unlock(&g->lock);
	return r;
}

static int unpin_chunk(struct gpt *g, pte_t *pde, uint64_t addr, uint64_t next, void *arg)
{
	(void)arg;
	pte_t d = pte_load(pde);
	if ((d & PTE_PS) || !(d & PTE_RW)) /* I3: pinned leaves are exclusive */
		return 0;
	uint64_t leaf = pte_addr(d, 1);
	if (!RD(gpt_meta(leaf)->npinned))
		return 0;
	CHUNK_RANGE(addr, next);
	for (unsigned i = lo; i < hi; i++) {
		pte_t e = pte_load(&tab(leaf)[i]);
		if (pte_present(e) && (e & GPT_PINNED))
			leaf_set(g, leaf, i, e & ~GPT_PINNED);
	}
	return 0;
}

int gpt_unpin_range(struct gpt *g, uint64_t gpa, uint64_t size)
{
	int r = gpt_check_range(gpa, size);
	if (r)
		return r;
	pthread_mutex_lock(&g->lock);
	r = gpt_walk_pdes(g, gpa, gpa + size, unpin_chunk, NULL);
	pthread_mutex_unlock(&g->lock);
	return r;
}

/* --- enumeration ------------------------------------------------------------- */

struct enum_arg {
	gpt_page_cb page;
	gpt_leaf_cb leaf;
	gpt_info_cb info;
	void *arg;
};

/* The written set: GPT_WRITTEN entries of leaves whose PDE names g as their
 * writer (exclusive, or shared by a clone / reset of g). 2 MiB maps are
 * never written (a write splits them first). */
static int written_chunk(struct gpt *g, pte_t *pde, uint64_t addr, uint64_t next, void *arg)
{
	(void)g;
	struct enum_arg *a = arg;
	pte_t d = pte_load(pde);
	if ((d & PTE_PS) || !(d & GPT_PDE_WRITER))
		return 0;
	uint64_t leaf = pte_addr(d, 1);
	/* L2: WRITTEN bits and nwritten do not change while the leaf is
	 * shared, and g (the writer) changes them only under its lock */
	unsigned nw = RD(gpt_meta(leaf)->nwritten);
	if (!nw)
		return 0;
	CHUNK_RANGE(addr, next);
	uint64_t base = addr & ~(GPT_LEAF_SIZE - 1);
	if (a->leaf && lo == 0 && hi == PT_ENTRIES)
		return a->leaf(a->arg, base, nw);
	unsigned count = 0;
	for (unsigned i = lo; i < hi; i++) {
		pte_t e = pte_load(&tab(leaf)[i]);
		if (!pte_present(e) || !(e & GPT_WRITTEN))
			continue;
		count++;
		if (a->page) {
			int r = a->page(a->arg, base + ((uint64_t)i << 12), pte_frame(e));
			if (r)
				return r;
		}
	}
	if (a->leaf && count)
		return a->leaf(a->arg, base, count);
	return 0;
}

int gpt_for_each_written(struct gpt *g, uint64_t gpa, uint64_t size, gpt_page_cb cb, void *arg)
{
	int r = gpt_check_range(gpa, size);
	if (r)
		return r;
	struct enum_arg a = { .page = cb, .arg = arg };
	pthread_mutex_lock(&g->lock);
	r = gpt_walk_pdes(g, gpa, gpa + size, written_chunk, &a);
	pthread_mutex_unlock(&g->lock);
	return r;
}

int gpt_for_each_written_leaf(struct gpt *g, uint64_t gpa, uint64_t size, gpt_leaf_cb cb, void *arg)
{
	int r = gpt_check_range(gpa, size);
	if (r)
		return r;
	struct enum_arg a = { .leaf = cb, .arg = arg };
	pthread_mutex_lock(&g->lock);
	r = gpt_walk_pdes(g, gpa, gpa + size, written_chunk, &a);
	pthread_mutex_unlock(&g->lock);
	return r;
}

static int info_chunk(struct gpt *g, pte_t *pde, uint64_t addr, uint64_t next, void *arg)
{
	(void)next;
	struct enum_arg *a = arg;
	pte_t d = pte_load(pde);
	struct gpt_leaf_info in = { .gpa = addr, .pde = d, .huge = (d & PTE_PS) != 0 };
	if (!in.huge) {
		in.table = pte_addr(d, 1);
		struct gpt_meta *m = gpt_meta(in.table);
		in.refcount = __atomic_load_n(&m->refcount, __ATOMIC_ACQUIRE);
		struct gpt *o = RD(m->owner);
		in.owned = o == g;
		in.orphan = o == NULL;
		in.npresent = RD(m->npresent);
		in.nprivate = RD(m->nprivate);
		in.npinned = RD(m->npinned);
		in.nwritten = RD(m->nwritten);
	}
	return a->info(a->arg, &in);
}

int gpt_for_each_leaf(struct gpt *g, gpt_info_cb cb, void *arg)
{
	struct enum_arg a = { .info = cb, .arg = arg };
	pthread_mutex_lock(&g->lock);
	int r = gpt_walk_pdes(g, 0, GPT_GPA_LIMIT, info_chunk, &a);
	pthread_mutex_unlock(&g->lock);
	return r;
}

uint64_t gpt_upper_tables(struct gpt *g)
{
	pthread_mutex_lock(&g->lock);
	uint64_t n = g->upper;
	pthread_mutex_unlock(&g->lock);
	return n;
}
