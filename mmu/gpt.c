/*
 * gpt.c - GPT core: create/destroy, the single break-COW helper every walker
 * uses (leaf_reserve / leaf_commit / leaf_cancel), the entry and drop helpers
 * that keep accounting in the same step as the change, and the write fault.
 * Locking and ordering rules: gpt_internal.h (L1..L7), referred to below.
 */
#include "gpt_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int gpt_check_range(uint64_t gpa, uint64_t size)
{
	if (!size || ((gpa | size) & (PAGE_SIZE_4K - 1)) || gpa >= GPT_GPA_LIMIT ||
	    size > GPT_GPA_LIMIT - gpa)
		return -EINVAL;
	return 0;
}

static void stats_add_table(struct gpt *g, int64_t n) { g->st.table_bytes += (uint64_t)(n * PT_TABLE_SIZE); }

int gpt_create(struct gpt_domain *dom, struct gpt **out)
{
	struct gpt *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	int r = pthread_mutex_init(&g->lock, NULL);
	if (r) {
		free(g);
		return -r;
	}
	r = pt_init(&g->pt, &dom->ops, dom);
	if (r) {
		pthread_mutex_destroy(&g->lock);
		free(g);
		return r;
	}
	g->dom = dom;
	g->cow = true;
	g->upper = 1;
	stats_add_table(g, 1);
	pthread_mutex_lock(&dom->lock);
	dom->live_gpts++;
	pthread_mutex_unlock(&dom->lock);
	*out = g;
	return 0;
}

void gpt_set_cow(struct gpt *g, bool on)
{
	pthread_mutex_lock(&g->lock);
	g->cow = on;
	pthread_mutex_unlock(&g->lock);
}

bool gpt_cow(struct gpt *g)
{
	pthread_mutex_lock(&g->lock);
	bool on = g->cow;
	pthread_mutex_unlock(&g->lock);
	return on;
}

void gpt_get_stats(struct gpt *g, struct gpt_stats *out)
{
	pthread_mutex_lock(&g->lock);
	*out = g->st;
	pthread_mutex_unlock(&g->lock);
}

/* --- leaf lifetime --------------------------------------------------------- */

/* Last holder gone: drop the leaf's frame references (and the pins' ones:
 * only gpt_destroy frees a leaf with pinned pages, the other droppers
 * refuse pinned ranges) and free the table. */
void leaf_free(struct gpt *g, uint64_t table)
{
	pte_t *t = tab(table);
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		pte_t e = pte_load(&t[i]);
		if (!pte_present(e))
			continue;
		if (e & GPT_PINNED)
			FS(g)->put(FSC(g), pte_frame(e));
		FS(g)->put(FSC(g), pte_frame(e));
	}
	gpt_table_free(g->dom, table);
}

/* Drop g's reference on a leaf (L4, L5): give up ownership first, then the
 * release-decrement that publishes everything g did to the leaf; whoever
 * takes the count to zero (acquire half of acq_rel) frees it. */
void leaf_put(struct gpt *g, uint64_t table)
{
	struct gpt_meta *m = gpt_meta(table);
	if (RD(m->owner) == g)
		WR(m->owner, NULL);
	if (__atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		leaf_free(g, table);
}

static bool has(pte_t e, pte_t bit) { return pte_present(e) && (e & bit); }

/*
 * Set entry i of an EXCLUSIVE leaf of g (g is its writer) to e, and in the
 * same step update the leaf counters, g's rss and written counters, the
 * frame reference of a frame the entry stops naming (the caller took the
 * reference of the new frame) and the pin's own reference (taken when an
 * entry becomes PINNED, dropped when it stops being PINNED or names another
 * frame). Every walker changes leaf entries through here, so accounting
 * cannot drift from the tables (the RFC's cow_pte_rss() split them).
 */
void leaf_set(struct gpt *g, uint64_t table, unsigned i, pte_t e)
{
	pte_t *slot = &tab(table)[i];
	struct gpt_meta *m = gpt_meta(table);
	pte_t old = pte_load(slot);
	int dp = (int)pte_present(e) - (int)pte_present(old);
	int dv = (int)has(e, GPT_PRIVATE) - (int)has(old, GPT_PRIVATE);
	int dn = (int)has(e, GPT_PINNED) - (int)has(old, GPT_PINNED);
	int dw = (int)has(e, GPT_WRITTEN) - (int)has(old, GPT_WRITTEN);
	bool same = pte_present(old) && pte_present(e) && pte_frame(old) == pte_frame(e);
	bool pin_kept = same && has(old, GPT_PINNED) && has(e, GPT_PINNED);
	if (has(e, GPT_PINNED) && !pin_kept)
		FS(g)->get(FSC(g), pte_frame(e)); /* the pin's reference */
	pte_store(slot, e);
	if (has(old, GPT_PINNED) && !pin_kept)
		FS(g)->put(FSC(g), pte_frame(old));
	if (pte_present(old) && !same)
		FS(g)->put(FSC(g), pte_frame(old));
	WR(m->npresent, (uint16_t)(RD(m->npresent) + dp));
	WR(m->nprivate, (uint16_t)(RD(m->nprivate) + dv));
	WR(m->npinned, (uint16_t)(RD(m->npinned) + dn));
	WR(m->nwritten, (uint16_t)(RD(m->nwritten) + dw));
	g->st.rss_owned += (uint64_t)(int64_t)dp;
	g->st.rss_private += (uint64_t)(int64_t)dv;
	g->st.written += (uint64_t)(int64_t)dw;
}

/* Drop whatever the PD entry maps (exclusive leaf, shared leaf or 2 MiB
 * map) with its accounting: "drop COW" for whole-chunk discard, destroy and
 * reset. A shared leaf loses one reference and is not copied. */
void chunk_drop(struct gpt *g, pte_t *pde)
{
	pte_t e = pte_load(pde);
	if (!pte_present(e))
		return;
	if (e & PTE_PS) {
		uint64_t f0 = pte_addr(e, 2) >> 12;
		pte_store(pde, 0);
		for (unsigned i = 0; i < GPT_LEAF_PAGES; i++)
			FS(g)->put(FSC(g), f0 + i);
		g->st.huge--;
		g->st.rss_owned -= GPT_LEAF_PAGES;
		if (e & GPT_PRIVATE)
			g->st.rss_private -= GPT_LEAF_PAGES;
		return;
	}
	uint64_t table = pte_addr(e, 1);
	struct gpt_meta *m = gpt_meta(table);
	uint64_t n = RD(m->npresent);
	if (e & GPT_PDE_WRITER)
		g->st.written -= RD(m->nwritten);
	if (e & PTE_RW) {
		g->st.rss_owned -= n;
		g->st.rss_private -= RD(m->nprivate);
		stats_add_table(g, -1);
		g->st.leaves_private--;
	} else {
		g->st.rss_shared -= n;
		g->st.leaves_shared--;
		if (RD(m->owner) == g) {
			g->st.rss_owned -= n;
			stats_add_table(g, -1);
		}
	}
	pte_store(pde, 0);
	leaf_put(g, table);
}

/* --- the one break-COW helper ------------------------------------------------
 *
 * leaf_reserve() looks at the PD entry for gpa and does every allocation the
 * change will need (missing upper tables with `create`, a new leaf for a
 * copy, a split or a new chunk) without changing anything visible except
 * linking empty upper tables, which leaf_cancel() unlinks again. The caller
 * may then do its own allocations (a frame for page COW) and either
 * leaf_commit() - which cannot fail - or leaf_cancel(). So an allocation
 * failure anywhere leaves the tables exactly as they were.
 * leaf_make_exclusive() is reserve + commit for walkers with nothing to add.
 */

int pde_slot(struct gpt *g, uint64_t gpa, bool alloc, pte_t **slot, struct leaf_res *r)
{
	uint64_t table = g->pt.root;
	for (int l = PT_LEVELS; l > 2; l--) {
		pte_t *s = &tab(table)[pt_index(gpa, l)];
		pte_t e = pte_load(s);
		if (!pte_present(e)) {
			if (!alloc)
				return -ENOENT;
			int err = gpt_table_alloc(g->dom, &table);
			if (err)
				return err;
			pte_store(s, table | PTE_TABLE_FLAGS); /* L6: zeroed table published */
			g->upper++;
			stats_add_table(g, 1);
			if (r) {
				r->up_slot[r->nup] = s;
				r->up_table[r->nup++] = table;
			}
		} else {
			table = pte_addr(e, l);
		}
	}
	*slot = &tab(table)[pt_index(gpa, 2)];
	return 0;
}

void leaf_cancel(struct gpt *g, struct leaf_res *r)
{
	if (r->table)
		gpt_table_free(g->dom, r->table);
	r->table = 0;
	while (r->nup > 0) {
		r->nup--;
		pte_store(r->up_slot[r->nup], 0);
		gpt_table_free(g->dom, r->up_table[r->nup]);
		g->upper--;
		stats_add_table(g, -1);
	}
}

int leaf_reserve(struct gpt *g, uint64_t gpa, bool create, struct leaf_res *r)
{
	memset(r, 0, sizeof(*r));
	r->base = gpa & ~(GPT_LEAF_SIZE - 1);
	int err = pde_slot(g, gpa, create, &r->pde, r);
	if (err == -ENOENT) {
		r->action = LEAF_HOLE;
		return 0;
	}
	if (err) {
		leaf_cancel(g, r);
		return err;
	}
	pte_t e = pte_load(r->pde);
	if (!pte_present(e)) {
		if (!create) {
			r->action = LEAF_HOLE;
			return 0;
		}
		r->action = LEAF_NEW;
	} else if (e & PTE_PS) {
		r->action = LEAF_SPLIT;
	} else if (e & PTE_RW) {
		r->action = LEAF_EXCL;
		return 0;
	} else {
		/* L3/L4: acquire pairs with the release-decrement of the holder
		 * that left; at 1 we are the only holder and nobody can share
		 * the leaf again before we are done (only holders add refs). */
		uint32_t ref = __atomic_load_n(&gpt_meta(pte_addr(e, 1))->refcount, __ATOMIC_ACQUIRE);
		if (ref == 1) {
			r->action = LEAF_REUSE;
			return 0;
		}
		r->action = LEAF_COPY;
	}
	err = gpt_table_alloc(g->dom, &r->table);
	if (err) {
		r->table = 0;
		leaf_cancel(g, r);
		return err;
	}
	return 0;
}

static void commit_copy(struct gpt *g, struct leaf_res *r, pte_t e)
{
	uint64_t old = pte_addr(e, 1);
	struct gpt_meta *om = gpt_meta(old), *nm = gpt_meta(r->table);
	pte_t *o = tab(old), *n = tab(r->table);
	/* The writer's copy keeps its written set; anybody else's copy starts
	 * with an empty one (the old leaf's WRITTEN bits are not its own). */
	bool writer = e & GPT_PDE_WRITER;
	pte_t drop = GPT_PRIVATE | (writer ? 0 : GPT_WRITTEN);
	unsigned np = 0, nw = 0;
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		pte_t x = pte_load(&o[i]);
		if (!pte_present(x))
			continue;
		np++;
		/* The frame is now named by two leaves: one more reference, and
		 * PRIVATE is no longer true in either (L2: the clearing is the
		 * only write to a shared leaf; every copier writes the same). */
		FS(g)->get(FSC(g), pte_frame(x));
		if (x & GPT_PRIVATE)
			__atomic_fetch_and(&o[i], ~GPT_PRIVATE, __ATOMIC_RELAXED);
		n[i] = x & ~drop;
		nw += !!(n[i] & GPT_WRITTEN);
	}
	WR(om->nprivate, 0);
	nm->npresent = (uint16_t)np;
	nm->nwritten = (uint16_t)nw; /* g->st.written unchanged either way */
	nm->owner = g;
	bool was_owner = RD(om->owner) == g;
	if (!was_owner) {
		/* a non-owner starts accounting its own copy */
		g->st.rss_owned += np;
		stats_add_table(g, 1);
	} /* the owner swaps the shared leaf for its copy: totals unchanged */
	g->st.rss_shared -= np;
	g->st.leaves_shared--;
	g->st.leaves_private++;
	g->st.breaks_copy++;
	pte_store(r->pde, r->table | PDE_MINE); /* L6 */
	/* L4: every access to the old leaf is above this release-decrement */
	leaf_put(g, old);
}

uint64_t leaf_commit(struct gpt *g, struct leaf_res *r)
{
	pte_t e = r->pde ? pte_load(r->pde) : 0;
	uint64_t t = r->table;
	switch (r->action) {
	case LEAF_HOLE:
		return 0;
	case LEAF_EXCL:
		return pte_addr(e, 1);
	case LEAF_REUSE: {
		t = pte_addr(e, 1);
		struct gpt_meta *m = gpt_meta(t);
		uint64_t n = RD(m->npresent);
		if (!(e & GPT_PDE_WRITER) && RD(m->nwritten)) {
			/* The WRITTEN bits are a former holder's (it wrote them,
			 * then left): not ours. We are the sole holder (L3), so
			 * nobody reads the entries while we clear them. */
			pte_t *x = tab(t);
			for (unsigned i = 0; i < PT_ENTRIES; i++)
				if (pte_load(&x[i]) & GPT_WRITTEN)
					pte_store(&x[i], pte_load(&x[i]) & ~GPT_WRITTEN);
			WR(m->nwritten, 0);
		}
		if (RD(m->owner) != g) { /* owner left (L5: it cleared owner) */
			g->st.rss_owned += n;
			stats_add_table(g, 1);
			WR(m->owner, g);
		}
		g->st.rss_shared -= n;
		g->st.rss_private += RD(m->nprivate);
		g->st.leaves_shared--;
		g->st.leaves_private++;
		g->st.breaks_reuse++;
		pte_store(r->pde, e | PTE_RW | GPT_PDE_WRITER);
		return t;
	}
	case LEAF_COPY:
		commit_copy(g, r, e);
		break;
	case LEAF_SPLIT: {
		/* 2 MiB -> 512 x 4 KiB, same frames and bits (like pt_split; the
		 * GPT never sets PAT). The map was ours alone: no refcounts move. */
		uint64_t f0 = pte_addr(e, 2) >> 12;
		pte_t bits = (e & GPT_ENTRY_FLAGS) | PTE_P;
		pte_t *n = tab(t);
		for (unsigned i = 0; i < PT_ENTRIES; i++)
			n[i] = ((f0 + i) << 12) | bits;
		struct gpt_meta *m = gpt_meta(t);
		m->npresent = PT_ENTRIES;
		m->nprivate = (e & GPT_PRIVATE) ? PT_ENTRIES : 0;
		m->npinned = (e & GPT_PINNED) ? PT_ENTRIES : 0;
		m->owner = g;
		stats_add_table(g, 1);
		g->st.leaves_private++;
		g->st.huge--;
		pte_store(r->pde, t | PDE_MINE);
		break;
	}
	case LEAF_NEW:
		gpt_meta(t)->owner = g;
		stats_add_table(g, 1);
		g->st.leaves_private++;
		pte_store(r->pde, t | PDE_MINE);
		break;
	}
	r->table = 0;
	r->nup = 0;
	return t;
}

int leaf_make_exclusive(struct gpt *g, uint64_t gpa, bool create, uint64_t *leaf)
{
	struct leaf_res r;
	int err = leaf_reserve(g, gpa, create, &r);
	if (err)
		return err;
	*leaf = leaf_commit(g, &r);
	return 0;
}

/* --- write fault ------------------------------------------------------------ */

int gpt_fault_locked(struct gpt *g, uint64_t gpa, bool pin, uint64_t *frame)
{
	unsigned i = pt_index(gpa, 1);
	/* Permission check first: RW and presence do not change while a leaf
	 * is shared (L2), so the early look is stable. PRIVATE is not (a
	 * co-holder may clear it): it is read again after the reserve. */
	pte_t *pde;
	pte_t cur = 0;
	if (pde_slot(g, gpa, false, &pde, NULL) == 0) {
		pte_t d = pte_load(pde);
		if (pte_present(d))
			cur = (d & PTE_PS) ? d : pte_load(&tab(pte_addr(d, 1))[i]);
	}
	if (pte_present(cur) && !(cur & GPT_WRITABLE))
		return -EACCES;
	if (pin && !pte_present(cur))
		return -ENOENT;

	struct leaf_res r;
	int err = leaf_reserve(g, gpa, true, &r);
	if (err)
		return err;
	uint64_t old_frame = 0;
	bool excl_after = false;
	cur = 0;
	pte_t d = pte_load(r.pde);
	if (pte_present(d) && (d & PTE_PS)) {
		cur = ((pte_addr(d, 2) + ((uint64_t)i << 12))) | (d & GPT_ENTRY_FLAGS) | PTE_P;
		excl_after = true;
	} else if (pte_present(d)) {
		cur = pte_load(&tab(pte_addr(d, 1))[i]);
		excl_after = r.action != LEAF_COPY;
	}
	old_frame = pte_frame(cur);

	uint64_t nf = 0;
	bool need_copy = false;
	if (!pte_present(cur)) {
		err = FS(g)->alloc(FSC(g), &nf); /* demand zero */
	} else if (excl_after && (cur & GPT_PRIVATE)) {
		/* already ours */
	} else if (excl_after && FS(g)->exclusive && FS(g)->exclusive(FSC(g), old_frame)) {
		/* only this (exclusive) leaf names the frame: reuse it */
	} else {
		need_copy = true;
		err = FS(g)->alloc(FSC(g), &nf);
		if (!err) {
			err = FS(g)->copy(FSC(g), nf, old_frame);
			if (err)
				FS(g)->put(FSC(g), nf);
		}
	}
	if (err) {
		leaf_cancel(g, &r);
		return err;
	}

	uint64_t table = leaf_commit(g, &r);
	pte_t e = pte_load(&tab(table)[i]);
	pte_t ne;
	if (nf)
		ne = (nf << 12) | PTE_P | GPT_PRIVATE |
		     (pte_present(e) ? (e & (GPT_WRITABLE | GPT_ACCESSED | GPT_DIRTY | GPT_WRITTEN)) : GPT_WRITABLE);
	else
		ne = e | GPT_PRIVATE;
	if (pin)
		ne |= GPT_PINNED; /* leaf_set takes the pin's reference */
	else
		ne |= GPT_ACCESSED | GPT_DIRTY | GPT_WRITTEN;
	leaf_set(g, table, i, ne);
	if (need_copy)
		g->st.frames_copied++;
	if (frame)
		*frame = pte_frame(ne);
	return 0;
}

int gpt_write_fault(struct gpt *g, uint64_t gpa, uint64_t *frame)
{
	if (gpt_check_range(gpa, PAGE_SIZE_4K))
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	int r = gpt_fault_locked(g, gpa, false, frame);
	pthread_mutex_unlock(&g->lock);
	return r;
}

/* --- lookup and introspection (through the engine's walker) ----------------- */

int gpt_lookup(struct gpt *g, uint64_t gpa, uint64_t *frame, uint64_t *flags)
{
	if (gpt_check_range(gpa, PAGE_SIZE_4K))
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	struct pt_walk w;
	int r = pt_walk(&g->pt, gpa, &w);
	pthread_mutex_unlock(&g->lock);
	if (r)
		return -ENOENT;
	pte_t e = w.entry[w.leaf_level];
	uint64_t f = (e & GPT_ENTRY_FLAGS) | PTE_P;
	if (w.leaf_level == 2)
		f |= GPT_HUGE;
	else if (!(w.entry[2] & PTE_RW))
		f &= ~GPT_PRIVATE; /* a shared leaf's frames are not ours alone */
	if (w.leaf_level == 2 || !(w.entry[2] & GPT_PDE_WRITER))
		f &= ~GPT_WRITTEN; /* another holder's written bits */
	if (frame)
		*frame = w.pa >> 12;
	if (flags)
		*flags = f;
	return 0;
}

int gpt_debug_entry(struct gpt *g, uint64_t gpa, uint64_t *pde, uint64_t *pte)
{
	if (gpt_check_range(gpa, PAGE_SIZE_4K))
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	struct pt_walk w;
	int r = pt_walk(&g->pt, gpa, &w);
	pthread_mutex_unlock(&g->lock);
	if (pde)
		*pde = w.entry[2];
	if (pte)
		*pte = w.entry[1];
	return r == -EIO ? -EIO : 0;
}

/* --- destroy ---------------------------------------------------------------- */

static void destroy_level(struct gpt *g, uint64_t table, int level)
{
	pte_t *t = tab(table);
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		pte_t e = pte_load(&t[i]);
		if (!pte_present(e))
			continue;
		if (level == 2) {
			chunk_drop(g, &t[i]);
		} else {
			destroy_level(g, pte_addr(e, level), level - 1);
			pte_store(&t[i], 0);
			gpt_table_free(g->dom, pte_addr(e, level));
			g->upper--;
			stats_add_table(g, -1);
		}
	}
}

void gpt_destroy(struct gpt *g)
{
	if (!g)
		return;
	/* Taking our own lock orders this against the last public call on g
	 * from another thread (the caller must not start new ones). */
	pthread_mutex_lock(&g->lock);
	destroy_level(g, g->pt.root, PT_LEVELS);
	gpt_table_free(g->dom, g->pt.root);
	pthread_mutex_unlock(&g->lock);
	struct gpt_domain *dom = g->dom;
	pthread_mutex_lock(&dom->lock);
	dom->live_gpts--;
	pthread_mutex_unlock(&dom->lock);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
