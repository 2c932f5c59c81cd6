/*
 * gpt_clone.c - clone (share every leaf copy-on-write) and reset (share the
 * source's leaves again), with the eager leaf copy both fall back to for
 * pinned leaves and COW-off GPTs.
 *
 * Clone is two-phase so that a failure leaves the parent untouched:
 *   phase 1 (copy_*_range, one function per level like Linux fork) builds
 *           the child: new upper tables, one reference more on each shared
 *           leaf, eager copies where needed. It may fail; then the child is
 *           destroyed, which drops exactly what phase 1 took.
 *   phase 2 (commit_*) write-protects the parent's PDEs, makes the parent
 *           owner of the leaves it held exclusively and updates the
 *           parent's accounting. It cannot fail.
 * The parent's lock is held across both (L1); the child is not visible to
 * anyone before gpt_clone returns.
 */
#include "gpt_internal.h"

#include <errno.h>
#include <string.h>

static void gpt_add_tables(struct gpt *g, int64_t n)
{
	g->st.table_bytes += (uint64_t)(n * PT_TABLE_SIZE);
}

/* Must this leaf be copied now instead of shared? (I3 and the COW switch) */
static bool leaf_must_copy(const struct gpt *src, uint64_t leaf)
{
	return !src->cow || RD(gpt_meta(leaf)->npinned) != 0;
}

/*
 * Fill dst (a fresh table) from src for `owner`: non-pinned frames are
 * shared (one more reference, PRIVATE dropped in the copy), pinned frames
 * are copied (the pin stays with the source's frame, like fork). The copy
 * has no WRITTEN bit: its new holder has written nothing yet. Touches
 * nothing in src. On failure dst is emptied again and every reference
 * taken is dropped.
 */
int leaf_copy_prepare(struct gpt *g, uint64_t src, uint64_t dst, struct gpt *owner)
{
	pte_t *s = tab(src), *d = tab(dst);
	unsigned np = 0, npriv = 0;
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		pte_t e = pte_load(&s[i]);
		if (!pte_present(e))
			continue;
		if (e & GPT_PINNED) {
			uint64_t nf;
			int err = FS(g)->alloc(FSC(g), &nf);
			if (!err) {
				err = FS(g)->copy(FSC(g), nf, pte_frame(e));
				if (err)
					FS(g)->put(FSC(g), nf);
			}
			if (err) {
				for (unsigned j = 0; j < i; j++)
					if (pte_present(d[j]))
						FS(g)->put(FSC(g), pte_frame(d[j]));
				memset(d, 0, PT_TABLE_SIZE);
				return err;
			}
			d[i] = (nf << 12) | PTE_P | GPT_PRIVATE |
			       (e & (GPT_WRITABLE | GPT_ACCESSED | GPT_DIRTY));
			npriv++;
		} else {
			FS(g)->get(FSC(g), pte_frame(e));
			d[i] = e & ~(GPT_PRIVATE | GPT_WRITTEN);
		}
		np++;
	}
	struct gpt_meta *m = gpt_meta(dst);
	m->npresent = (uint16_t)np;
	m->nprivate = (uint16_t)npriv;
	m->npinned = 0;
	m->nwritten = 0;
	m->owner = owner;
	return 0;
}

/* After an eager copy of the leaf behind `pde` (a PD entry of g): its
 * non-pinned frames are now named by two leaves, so they stop being
 * PRIVATE in g's leaf too. */
void leaf_copy_commit_src(struct gpt *g, pte_t pde)
{
	uint64_t leaf = pte_addr(pde, 1);
	pte_t *t = tab(leaf);
	if (pde & PTE_RW) {
		for (unsigned i = 0; i < PT_ENTRIES; i++) {
			pte_t e = pte_load(&t[i]);
			if (pte_present(e) && (e & GPT_PRIVATE) && !(e & GPT_PINNED))
				leaf_set(g, leaf, i, e & ~GPT_PRIVATE);
		}
	} else {
		/* shared: same rule as a break-COW copy (L2) */
		for (unsigned i = 0; i < PT_ENTRIES; i++)
			if (pte_load(&t[i]) & GPT_PRIVATE)
				__atomic_fetch_and(&t[i], ~GPT_PRIVATE, __ATOMIC_RELAXED);
		WR(gpt_meta(leaf)->nprivate, 0);
	}
}

/* Account, in dst, an exclusive leaf it got from an eager copy. */
static void account_eager(struct gpt *dst, uint64_t t)
{
	struct gpt_meta *m = gpt_meta(t);
	gpt_add_tables(dst, 1);
	dst->st.leaves_private++;
	dst->st.leaves_eager++;
	dst->st.rss_owned += m->npresent;
	dst->st.rss_private += m->nprivate;
}

/* dst's half of sharing a 2 MiB map: one reference per frame, no PRIVATE. */
static void huge_take(struct gpt *dst, pte_t *dst_pde, pte_t e)
{
	uint64_t f0 = pte_addr(e, 2) >> 12;
	for (unsigned i = 0; i < GPT_LEAF_PAGES; i++)
		FS(dst)->get(FSC(dst), f0 + i);
	pte_store(dst_pde, e & ~GPT_PRIVATE);
	dst->st.huge++;
	dst->st.rss_owned += GPT_LEAF_PAGES;
}

/* src's half: its frames are no longer its alone. */
static void huge_give(struct gpt *src, pte_t *src_pde)
{
	pte_t e = pte_load(src_pde);
	if (e & GPT_PRIVATE) {
		pte_store(src_pde, e & ~GPT_PRIVATE);
		src->st.rss_private -= GPT_LEAF_PAGES;
	}
}

/* src's half of sharing a leaf: the first share write-protects src's PDE,
 * and src (the holder, I1) keeps the ownership and the accounting, and
 * GPT_PDE_WRITER: the leaf's WRITTEN bits stay src's written set. */
static void leaf_give(struct gpt *src, pte_t *src_pde)
{
	pte_t e = pte_load(src_pde);
	if (!(e & PTE_RW))
		return;
	struct gpt_meta *m = gpt_meta(pte_addr(e, 1));
	WR(m->owner, src);
	src->st.leaves_private--;
	src->st.leaves_shared++;
	src->st.rss_shared += RD(m->npresent);
	src->st.rss_private -= RD(m->nprivate);
	pte_store(src_pde, e & ~PTE_RW);
}

/* dst's half: a reference (relaxed, L4: src holds one), a read-only PDE
 * without GPT_PDE_WRITER (the leaf's WRITTEN bits are not dst's). */
static void leaf_take(struct gpt *dst, pte_t *dst_pde, pte_t e)
{
	struct gpt_meta *m = gpt_meta(pte_addr(e, 1));
	__atomic_add_fetch(&m->refcount, 1, __ATOMIC_RELAXED);
	pte_store(dst_pde, e & ~(PTE_RW | GPT_PDE_WRITER));
	dst->st.rss_shared += RD(m->npresent);
	dst->st.leaves_shared++;
}

/* --- clone phase 1 ------------------------------------------------------------ */

static int copy_pd_range(struct gpt *p, struct gpt *c, uint64_t ppd, uint64_t cpd,
                         uint64_t addr, uint64_t end)
{
	pte_t *ps = tab(ppd), *cs = tab(cpd);
	for (uint64_t next; addr != end; addr = next) {
		next = pt_level_end(addr, end, 2);
		unsigned i = pt_index(addr, 2);
		pte_t e = pte_load(&ps[i]);
		if (!pte_present(e))
			continue;
		if (e & PTE_PS) {
			huge_take(c, &cs[i], e);
			continue;
		}
		uint64_t leaf = pte_addr(e, 1);
		if (!leaf_must_copy(p, leaf)) {
			leaf_take(c, &cs[i], e);
			continue;
		}
		uint64_t t;
		int err = gpt_table_alloc(p->dom, &t);
		if (err)
			return err;
		err = leaf_copy_prepare(p, leaf, t, c);
		if (err) {
			gpt_table_free(p->dom, t);
			return err;
		}
		pte_store(&cs[i], t | PDE_MINE);
		account_eager(c, t);
	}
	return 0;
}

static int copy_upper_range(struct gpt *p, struct gpt *c, uint64_t ptab, uint64_t ctab,
                            int level, uint64_t addr, uint64_t end)
{
	pte_t *ps = tab(ptab), *cs = tab(ctab);
	for (uint64_t next; addr != end; addr = next) {
		next = pt_level_end(addr, end, level);
		unsigned i = pt_index(addr, level);
		pte_t e = pte_load(&ps[i]);
		if (!pte_present(e))
			continue;
		uint64_t t;
		int err = gpt_table_alloc(p->dom, &t);
		if (err)
			return err;
		pte_store(&cs[i], t | PTE_TABLE_FLAGS);
		c->upper++;
		gpt_add_tables(c, 1);
		err = level == 3 ? copy_pd_range(p, c, pte_addr(e, level), t, addr, next)
		                 : copy_upper_range(p, c, pte_addr(e, level), t, level - 1, addr, next);
		if (err)
			return err;
	}
	return 0;
}

/* --- clone phase 2 ------------------------------------------------------------ */

static void commit_pd_range(struct gpt *p, uint64_t ppd, uint64_t addr, uint64_t end)
{
	pte_t *ps = tab(ppd);
	for (uint64_t next; addr != end; addr = next) {
		next = pt_level_end(addr, end, 2);
		pte_t *slot = &ps[pt_index(addr, 2)];
		pte_t e = pte_load(slot);
		if (!pte_present(e))
			continue;
		if (e & PTE_PS)
			huge_give(p, slot);
		else if (leaf_must_copy(p, pte_addr(e, 1)))
			leaf_copy_commit_src(p, e);
		else
			leaf_give(p, slot);
	}
}

static void commit_upper_range(struct gpt *p, uint64_t ptab, int level, uint64_t addr, uint64_t end)
{
	pte_t *ps = tab(ptab);
	for (uint64_t next; addr != end; addr = next) {
		next = pt_level_end(addr, end, level);
		pte_t e = pte_load(&ps[pt_index(addr, level)]);
		if (!pte_present(e))
			continue;
		if (level == 3)
			commit_pd_range(p, pte_addr(e, level), addr, next);
		else
			commit_upper_range(p, pte_addr(e, level), level - 1, addr, next);
	}
}

int gpt_clone(struct gpt *parent, struct gpt **child)
{
	struct gpt *c;
	int err = gpt_create(parent->dom, &c);
	if (err)
		return err;
	pthread_mutex_lock(&parent->lock);
	c->cow = parent->cow;
	err = copy_upper_range(parent, c, parent->pt.root, c->pt.root, PT_LEVELS, 0, GPT_GPA_LIMIT);
	if (!err)
		commit_upper_range(parent, parent->pt.root, PT_LEVELS, 0, GPT_GPA_LIMIT);
	pthread_mutex_unlock(&parent->lock);
	if (err) {
		gpt_destroy(c);
		return err;
	}
	*child = c;
	return 0;
}

/* --- reset -------------------------------------------------------------------- */

static int reset_chunk(struct gpt *g, struct gpt *src, uint64_t addr)
{
	pte_t *spde = NULL, *gpde = NULL;
	pte_t se = 0, ge = 0;
	if (pde_slot(src, addr, false, &spde, NULL) == 0)
		se = pte_load(spde);
	if (pde_slot(g, addr, false, &gpde, NULL) == 0)
		ge = pte_load(gpde);
	if (!pte_present(se) && !pte_present(ge))
		return 0;
	if (pte_present(se) && pte_present(ge) && !((se | ge) & PTE_PS) &&
	    pte_addr(se, 1) == pte_addr(ge, 1)) {
		/* already sharing src's leaf; if g wrote its WRITTEN bits (src
		 * took the leaf from g), they stop being g's written set */
		if (ge & GPT_PDE_WRITER) {
			g->st.written -= RD(gpt_meta(pte_addr(ge, 1))->nwritten);
			pte_store(gpde, ge & ~GPT_PDE_WRITER);
		}
		return 0;
	}
	if (!pte_present(se)) {
		chunk_drop(g, gpde);
		return 0;
	}
	struct leaf_res r = { 0 };
	int err = pde_slot(g, addr, true, &gpde, &r);
	if (err) {
		leaf_cancel(g, &r);
		return err;
	}
	uint64_t t = 0;
	bool copy = !(se & PTE_PS) && leaf_must_copy(src, pte_addr(se, 1));
	if (copy) {
		err = gpt_table_alloc(g->dom, &t);
		if (!err) {
			err = leaf_copy_prepare(g, pte_addr(se, 1), t, g);
			if (err)
				gpt_table_free(g->dom, t);
		}
		if (err) {
			leaf_cancel(g, &r);
			return err;
		}
	}
	/* nothing can fail from here on */
	chunk_drop(g, gpde);
	if (se & PTE_PS) {
		huge_take(g, gpde, se);
		huge_give(src, spde);
	} else if (copy) {
		leaf_copy_commit_src(src, se);
		pte_store(gpde, t | PDE_MINE);
		account_eager(g, t);
	} else {
		leaf_take(g, gpde, se);
		leaf_give(src, spde);
	}
	return 0;
}

int gpt_reset_range(struct gpt *g, struct gpt *src, uint64_t gpa, uint64_t size)
{
	int err = gpt_check_range(gpa, size);
	if (err)
		return err;
	if (g == src || g->dom != src->dom || ((gpa | size) & (GPT_LEAF_SIZE - 1)))
		return -EINVAL;
	/* L7: two GPT locks, always in address order */
	struct gpt *a = g < src ? g : src, *b = g < src ? src : g;
	pthread_mutex_lock(&a->lock);
	pthread_mutex_lock(&b->lock);
	err = gpt_range_pinned(g, gpa, gpa + size); /* a pin is not dropped */
	for (uint64_t addr = gpa; addr < gpa + size && !err; addr += GPT_LEAF_SIZE)
		err = reset_chunk(g, src, addr);
	pthread_mutex_unlock(&b->lock);
	pthread_mutex_unlock(&a->lock);
	return err;
}
