/*
 * gpt_internal.h - structures and helpers shared by the gpt_*.c files.
 *
 * LOCKING AND MEMORY ORDERING (the rules every gpt_*.c function follows)
 *
 * L1. struct gpt.lock (a mutex) protects everything that belongs to one GPT:
 *     its upper tables and PD entries, the entries and counters of the leaves
 *     it holds EXCLUSIVELY (PDE RW set), its stats and its cow switch. Every
 *     public function takes it for its whole duration; vCPU threads of one VM
 *     therefore serialise their faults (a fault is a few hundred ns; the VMM
 *     harvests dirty rings in batches anyway). The mutex is also what orders
 *     a lookup against a concurrent free of a table of the same GPT.
 *
 * L2. Two GPTs meet only on SHARED leaves (PDE RW clear). Shared state:
 *       refcount  number of GPTs whose PD maps the leaf (atomic);
 *       owner     the GPT accounting it, or NULL (atomic pointer);
 *       entries   read by every holder; the only write while shared is the
 *                 clearing of GPT_PRIVATE by a holder that copies the leaf
 *                 (atomic fetch-and; every copier writes the same value);
 *       nprivate  set to 0 by such a copier (atomic store).
 *     npresent/npinned/nwritten and the GPT_WRITTEN bits do not change while
 *     a leaf is shared: the writer (GPT_PDE_WRITER in its PDE) reads them,
 *     and a non-writer that reuses the leaf clears them only once it is the
 *     sole holder (refcount 1, L3), before it sets its PDE writable.
 *
 * L3. Only a HOLDER can add a reference (clone of the holder, or reset whose
 *     source is the holder), and it does so under the holder's own lock.
 *     Hence: a holder that sees refcount == 1 under its lock is the only
 *     holder, and nobody can raise the count behind its back. That is why
 *     the reuse decision (refcount == 1 -> make the PDE writable) needs no
 *     compare-and-swap: there is no window between the check and the reuse
 *     in which another GPT can start sharing the leaf (the race the RFC was
 *     criticised for: its page_ref_add_unless() then fallback). A count of 2
 *     can drop to 1 meanwhile; then we copy needlessly and our put frees the
 *     old leaf: wasteful, correct.
 *
 * L4. Ordering of the last-holder hand-over. A holder that leaves a leaf
 *     (copy, drop, destroy, reset) first finishes every access to it (reads
 *     of entries, PRIVATE clearing, owner := NULL when it was the owner) and
 *     then decrements refcount with RELEASE. The next holder either sees
 *     refcount == 1 with an ACQUIRE load (reuse) or gets 0 from an ACQ_REL
 *     decrement (free): both synchronise with the release, so the reuser
 *     sees owner == NULL and the cleared PRIVATE bits, and the freer cannot
 *     free memory another thread still reads. Increments are RELAXED: the
 *     incrementer already holds a reference (like Linux refcount_inc).
 *
 * L5. owner is only compared with "self": only g stores owner = g (under
 *     g's lock, at reuse/copy/clone/reset) and only the owner stores NULL.
 *     So "owner == me" read under my lock cannot change under me; relaxed
 *     loads and stores suffice, ordering comes from L4. A GPT never leaves
 *     a dangling owner: it clears owner before its release-decrement.
 *
 * L6. Entry stores that publish a table (a PDE to a filled leaf) use
 *     pte_store (release) so a reader never sees a half-filled table; entry
 *     loads are pte_load (acquire).
 *
 * L7. gpt_reset_range locks two GPTs: always in address order (lower
 *     address first), the only place two GPT locks are held. The domain
 *     mutex (table slabs) is a leaf lock: nothing is locked under it.
 *
 * INVARIANTS (checked by the property test)
 *   I1. PDE RW set  =>  refcount == 1 and owner == this GPT. (The converse
 *       does not hold: a shared leaf whose co-holders left stays
 *       write-protected, refcount 1, until the next write reuses it.)
 *   I2. An entry with GPT_PRIVATE in an exclusive leaf names a frame with
 *       exactly one reference, plus one when it is GPT_PINNED (the pin's).
 *       GPT_PINNED entries are PRIVATE.
 *   I3. A leaf with npinned > 0 is exclusive.
 *   I4. refcount == number of PDs pointing to the leaf.
 *   I5. PDE RW set => GPT_PDE_WRITER set; at most one PD entry per leaf
 *       carries GPT_PDE_WRITER (only a leaf's creator or its sole holder
 *       sets it; sharing never passes it on).
 */
#ifndef COWVM_MMU_GPT_INTERNAL_H
#define COWVM_MMU_GPT_INTERNAL_H

#include "gpt.h"

#include <pthread.h>

/* Leaf metadata lives in the header pages of the 2 MiB slab that holds the
 * table (gpt_table.c): table address -> slab base -> meta[], no lookup. */
struct gpt_meta {
	uint32_t refcount;   /* L2/L3/L4 */
	uint16_t npresent;   /* present entries */
	uint16_t nprivate;   /* GPT_PRIVATE entries */
	uint16_t npinned;    /* GPT_PINNED entries (> 0: exclusive leaf) */
	uint16_t next_free;  /* slab free list while unallocated */
	uint16_t nwritten;   /* GPT_WRITTEN entries (L2: fixed while shared) */
	uint16_t pad;
	struct gpt *owner;   /* L5 */
	uint64_t pad2;
};

struct gpt_slab;

struct gpt_domain {
	struct gpt_domain_config cfg;
	struct pt_ops ops;        /* table ops over the slabs, ctx = domain */
	pthread_mutex_t lock;     /* slab lists and counters (L7: leaf lock) */
	struct gpt_slab *avail;   /* slabs with a free table */
	uint64_t live_tables;
	uint64_t nslabs;
	uint64_t live_gpts;
};

struct gpt {
	struct pt pt;             /* the engine instance: root, ops, ctx = domain */
	struct gpt_domain *dom;
	pthread_mutex_t lock;     /* L1 */
	bool cow;
	uint64_t upper;           /* upper tables (for table_bytes audits) */
	struct gpt_stats st;
};

/* gpt_table.c */
int gpt_table_alloc(struct gpt_domain *dom, uint64_t *table);
void gpt_table_free(struct gpt_domain *dom, uint64_t table);
struct gpt_meta *gpt_meta(uint64_t table);

static inline pte_t *tab(uint64_t table) { return (pte_t *)(uintptr_t)table; }
static inline uint64_t pte_frame(pte_t e) { return (e & PTE_ADDR_MASK) >> 12; }

/* relaxed atomics on metadata fields (ordering: see L4) */
#define RD(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WR(x, v)  __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

#define FS(g) ((g)->dom->cfg.fs)
#define FSC(g) ((g)->dom->cfg.fs_ctx)

#define PDE_LEAF_FLAGS (PTE_P | PTE_US)
#define GPT_ENTRY_FLAGS (GPT_WRITABLE | GPT_ACCESSED | GPT_DIRTY | GPT_PRIVATE | GPT_PINNED | GPT_WRITTEN)
/* PD entry of a leaf this GPT made or made exclusive: it is the writer */
#define PDE_MINE (PDE_LEAF_FLAGS | PTE_RW | GPT_PDE_WRITER)

/* gpt.c: the one COW helper and the entry helper every walker uses */
enum leaf_action { LEAF_HOLE, LEAF_EXCL, LEAF_REUSE, LEAF_COPY, LEAF_SPLIT, LEAF_NEW };
struct leaf_res {
	enum leaf_action action;
	pte_t *pde;
	uint64_t base;          /* 2 MiB chunk */
	uint64_t table;         /* preallocated table (COPY, SPLIT, NEW) */
	pte_t *up_slot[2];      /* upper tables allocated on the way (cancel) */
	uint64_t up_table[2];
	int nup;
};
int pde_slot(struct gpt *g, uint64_t gpa, bool alloc, pte_t **slot, struct leaf_res *r);
int leaf_reserve(struct gpt *g, uint64_t gpa, bool create, struct leaf_res *r);
uint64_t leaf_commit(struct gpt *g, struct leaf_res *r);
void leaf_cancel(struct gpt *g, struct leaf_res *r);
int leaf_make_exclusive(struct gpt *g, uint64_t gpa, bool create, uint64_t *leaf);
void leaf_set(struct gpt *g, uint64_t table, unsigned i, pte_t e);
void leaf_put(struct gpt *g, uint64_t table);
void chunk_drop(struct gpt *g, pte_t *pde);
void leaf_free(struct gpt *g, uint64_t table);
int leaf_copy_prepare(struct gpt *g, uint64_t src, uint64_t dst, struct gpt *owner);
void leaf_copy_commit_src(struct gpt *g, pte_t pde);
void huge_share(struct gpt *src, pte_t *src_pde, struct gpt *dst, pte_t *dst_pde);
int gpt_check_range(uint64_t gpa, uint64_t size);
int gpt_fault_locked(struct gpt *g, uint64_t gpa, bool pin, uint64_t *frame);

/* gpt_walk.c: visit every present PD entry of [addr, end), level by level,
 * skipping absent upper tables; fn may change or clear the PD entry. */
typedef int (*gpt_pde_fn)(struct gpt *g, pte_t *pde, uint64_t addr, uint64_t next, void *arg);
int gpt_walk_pdes(struct gpt *g, uint64_t addr, uint64_t end, gpt_pde_fn fn, void *arg);
/* -EBUSY if a page of [addr, end) is pinned (lock held), else 0. */
int gpt_range_pinned(struct gpt *g, uint64_t addr, uint64_t end);

#endif
