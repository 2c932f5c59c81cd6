/*
 * gpt.h - the guest-physical table (GPT): one per VM, maps every 4 KiB
 * guest-physical frame to a backing frame of a frame store, with leaf tables
 * shared copy-on-write between clones (after the Linux "Copy-On-Write PTE
 * table" RFC). Built on the page-table engine (pt.h): same 4-level radix,
 * same helpers. See docs/mmu.md for the state machine, locking and numbers.
 *
 * Vocabulary
 *   leaf      a level-1 table (512 entries, 2 MiB of guest-physical space).
 *   shared    a leaf mapped through a write-protected PDE (RW clear): it may
 *             be mapped by several GPTs and is read-only for all of them.
 *   exclusive a leaf mapped through a writable PDE: only this GPT holds it.
 *   owner     the one GPT that accounts a leaf (its pages in rss_owned, the
 *             leaf in table_bytes), or nobody after the owner left it.
 *   pinned    a leaf with pinned frames (GPT_PINNED entries) is never
 *             shared: clone and reset copy it at once.
 *   written   the pages written (gpt_write_fault) since the GPT got them by
 *             create, clone or reset: the set a reset must restore.
 *
 * Leaf entry bits (the entry word is frame << 12 | flags, SDM layout):
 *   GPT_PRESENT  (PTE_P)   the page is mapped.
 *   GPT_WRITABLE (PTE_RW)  the guest may write it (a permission; protect
 *                          changes it; a write to a !WRITABLE page -EACCES).
 *   GPT_ACCESSED (PTE_A), GPT_DIRTY (PTE_D)  set by a write fault; dirty is
 *                          cleared by gpt_clear_dirty (soft-dirty style).
 *   GPT_PRIVATE  (PTE_SW0, bit 9)  ownership only: the frame is referenced
 *                          by this leaf only (plus the pin's reference when
 *                          PINNED), so a write can go in place. Set by
 *                          populate / page COW / demand-zero; cleared (in both
 *                          copies) when a leaf is copied. It says nothing about
 *                          who wrote the page (a leaf reused after its other
 *                          holders left keeps PRIVATE bits it did not write).
 *   GPT_PINNED   (PTE_SW1, bit 10) pinned: the pin holds one frame reference
 *                          of its own, and the page refuses to be unmapped
 *                          (discard, remap, reset: -EBUSY) until unpinned.
 *   GPT_WRITTEN  (PTE_SW2, bit 11) the dirty set: written through
 *                          gpt_write_fault since this GPT got the page (from
 *                          create, clone or reset). This is what a reset must
 *                          restore; gpt_for_each_written enumerates it. Only
 *                          meaningful in a leaf whose PD entry carries
 *                          GPT_PDE_WRITER: a shared leaf's WRITTEN bits
 *                          belong to the one holder that wrote them.
 * A PDE pointing to a leaf is table | P | US, plus RW when exclusive, plus
 *   GPT_PDE_WRITER (bit 52, the lowest of the SW bits 58:52 the SDM leaves
 *                          to software in every entry format) when the leaf's
 *                          WRITTEN bits are this GPT's written set: set on
 *                          every leaf this GPT makes or makes exclusive, kept
 *                          when a clone / reset of this GPT shares the leaf,
 *                          never given to the GPT that takes the reference.
 *                          So cloning a clone keeps the clone's dirty set, and
 *                          a leaf reused by a non-writer has its stale WRITTEN
 *                          bits cleared first.
 * A 2 MiB mapping (GPT_HUGE) is a PD entry with PS set and the same bits
 * (never WRITTEN: a write splits it first).
 *
 * Errors are -errno; nothing aborts. GPAs are below GPT_GPA_LIMIT, 4 KiB
 * aligned. Range operations work chunk by chunk (2 MiB): an -ENOMEM in the
 * middle leaves the chunks before it done and the failing chunk untouched,
 * except where noted (gpt_map, gpt_populate undo everything).
 *
 * Threads: every function may be called from any thread; calls on one GPT
 * serialise on its mutex, calls on different GPTs of one domain run in
 * parallel (they meet only on leaf refcounts, see gpt_internal.h).
 */
#ifndef COWVM_MMU_GPT_H
#define COWVM_MMU_GPT_H

#include <stdbool.h>
#include <stdint.h>

#include "frame_store.h"
#include "pt.h"

#define GPT_PRESENT  PTE_P
#define GPT_WRITABLE PTE_RW
#define GPT_ACCESSED PTE_A
#define GPT_DIRTY    PTE_D
#define GPT_HUGE     PTE_PS
#define GPT_PRIVATE  PTE_SW0
#define GPT_PINNED   PTE_SW1
#define GPT_WRITTEN  PTE_SW2
#define GPT_PDE_WRITER (1ull << PTE_SW_HI_SHIFT)

#define GPT_GPA_LIMIT (1ull << 47)
#define GPT_LEAF_SIZE PAGE_SIZE_2M
#define GPT_LEAF_PAGES 512u

struct gpt_domain;
struct gpt;

/* A domain: the frame store and the table allocator shared by a family of
 * GPTs that share leaves (a snapshot and all its clones). */
struct gpt_domain_config {
	const struct frame_store_ops *fs;
	void *fs_ctx;
	/* Optional fault injection, consulted before every table allocation:
	 * returning true makes that allocation fail with -ENOMEM. */
	bool (*table_fail)(void *ctx);
	void *table_fail_ctx;
};

int gpt_domain_create(const struct gpt_domain_config *cfg, struct gpt_domain **out);
/* -EBUSY (and nothing freed) while GPTs or tables of the domain are live. */
int gpt_domain_destroy(struct gpt_domain *dom);
/* Tables (upper and leaf) currently allocated in the domain. */
uint64_t gpt_domain_live_tables(struct gpt_domain *dom);

/* Per-VM accounting, updated in the same locked step as each operation.
 * The RFC's VmRSS is rss_owned, its VmPTE is table_bytes. */
struct gpt_stats {
	uint64_t rss_owned;      /* frames in leaves this GPT owns + its 2 MiB maps */
	uint64_t rss_shared;     /* frames mapped through shared (write-protected) leaves */
	uint64_t rss_private;    /* PRIVATE frames in exclusive leaves and 2 MiB maps */
	uint64_t written;        /* pages in the written set (GPT_WRITTEN under GPT_PDE_WRITER) */
	uint64_t table_bytes;    /* upper tables + owned leaves, 4096 each */
	uint64_t leaves_shared;  /* PDEs write-protected (COW pending) */
	uint64_t leaves_private; /* PDEs writable (leaf exclusive to this GPT) */
	uint64_t huge;           /* 2 MiB mappings */
	/* event counters */
	uint64_t breaks_copy;    /* leaf copied on break-COW */
	uint64_t breaks_reuse;   /* leaf reused in place at refcount 1 */
	uint64_t frames_copied;  /* page-level COW copies */
	uint64_t leaves_eager;   /* leaves copied eagerly by clone/reset */
};

int gpt_create(struct gpt_domain *dom, struct gpt **out);
/* Drop every reference this GPT holds; the last holder of a leaf frees it
 * (and drops its frame references). */
void gpt_destroy(struct gpt *g);

/*
 * Clone: copy the upper levels, share every leaf (one reference more, PDE
 * write-protected in parent and child; the parent becomes the owner of the
 * leaves it held exclusively). Leaves with pinned frames, and every leaf
 * when the parent has COW off, are copied at once (pinned frames are copied
 * for the child, unpinned; the parent keeps them and its pins). 2 MiB
 * mappings are copied as a PDE with a reference on each of their 512
 * frames. The parent's written set is unchanged, the child's is empty. On
 * error the parent is unchanged and *child untouched.
 */
int gpt_clone(struct gpt *parent, struct gpt **child);

/*
 * COW switch (default on). Off: clone copies every leaf eagerly, so writes
 * after a clone never break COW on a leaf (no leaf-copy latency on the
 * fault path, no shared-leaf bookkeeping) at the price of O(guest memory)
 * clone time and table memory per clone. The child inherits the setting.
 */
void gpt_set_cow(struct gpt *g, bool on);
bool gpt_cow(struct gpt *g);

/*
 * Map [gpa, gpa+size) to frames frame0, frame0+1, ... taking one reference
 * on each. flags: GPT_WRITABLE, GPT_PRIVATE (the caller vouches the frames
 * are only mapped here), GPT_HUGE (use 2 MiB entries; gpa, size and frame0
 * must be 2 MiB / 512-frame aligned). -EEXIST if any page is mapped (checked
 * first), -EINVAL for bad arguments, -ENOMEM (all undone).
 */
int gpt_map(struct gpt *g, uint64_t gpa, uint64_t size, uint64_t frame0, uint64_t flags);
/* Map fresh zeroed frames (PRIVATE) from the store; same rules, no GPT_HUGE. */
int gpt_populate(struct gpt *g, uint64_t gpa, uint64_t size, uint64_t flags);

/* Frame and entry flags (GPT_* bits, GPT_HUGE for a 2 MiB mapping) at gpa.
 * -ENOENT if not mapped. Either out pointer may be NULL. */
int gpt_lookup(struct gpt *g, uint64_t gpa, uint64_t *frame, uint64_t *flags);

/*
 * A write to gpa (a guest store, or a page from KVM's dirty ring):
 * break COW on the leaf (reuse at refcount 1, copy otherwise), split a
 * 2 MiB mapping, then page-level COW (reuse the frame if exclusive, copy
 * otherwise), and mark the page PRIVATE | WRITTEN | DIRTY | ACCESSED. A
 * hole gets a fresh zeroed frame (demand zero). *frame (may be NULL)
 * receives the frame to write. -EACCES if the page is mapped without
 * GPT_WRITABLE, -ENOMEM on allocation failure: then the tables, counters
 * and refcounts are exactly as they were.
 */
int gpt_write_fault(struct gpt *g, uint64_t gpa, uint64_t *frame);

/* Set or clear GPT_WRITABLE on mapped pages of the range. */
int gpt_protect(struct gpt *g, uint64_t gpa, uint64_t size, bool writable);
/* Unmap the range and drop its frames (balloon); the pages leave the
 * written set. Whole shared leaves are dropped (one reference less) instead
 * of copied. -EBUSY, and nothing changed, if a page of the range is pinned. */
int gpt_discard(struct gpt *g, uint64_t gpa, uint64_t size);
/* Clear GPT_DIRTY on the range (soft-dirty reset; GPT_WRITTEN stays: only
 * a reset empties the written set). Leaves with no dirty page in the range
 * are not touched (a shared one stays shared). */
int gpt_clear_dirty(struct gpt *g, uint64_t gpa, uint64_t size);
/* Split the 2 MiB mapping covering gpa into an exclusive leaf with the same
 * frames and bits. -ENOENT if gpa is not in a 2 MiB mapping. */
int gpt_split(struct gpt *g, uint64_t gpa);
/* Replace the mapping of [gpa, gpa+size) (mapped or not) with frames
 * frame0.. (one reference each), flags as gpt_map without GPT_HUGE; the
 * pages leave the written set (a new mapping, not a write). -EBUSY, and
 * nothing changed, if a page of the range is pinned. */
int gpt_remap(struct gpt *g, uint64_t gpa, uint64_t size, uint64_t frame0, uint64_t flags);
/*
 * Pin mapped pages: make each frame private to an exclusive leaf (page COW
 * if needed), mark it GPT_PINNED and take one frame reference for the pin;
 * the leaf is then never shared (clone and reset of this GPT copy it), and
 * discard, remap and reset of a range holding the page fail with -EBUSY.
 * Pinning a pinned page changes nothing (one pin per page). -ENOENT on a
 * hole, -EACCES on a read-only page (pages before it stay pinned).
 * Unpin clears GPT_PINNED and drops the pin's reference. gpt_destroy drops
 * the pins with everything else.
 */
int gpt_pin_range(struct gpt *g, uint64_t gpa, uint64_t size);
int gpt_unpin_range(struct gpt *g, uint64_t gpa, uint64_t size);

/* Enumerate the written set (GPT_WRITTEN pages of leaves this GPT is the
 * writer of: exclusive, or shared by a clone / reset of this GPT) in the
 * range, in address order. A nonzero return from cb stops the walk and is
 * returned. The leaf variant gives one call per leaf with at least one
 * written page in the range and its count: O(leaves). */
typedef int (*gpt_page_cb)(void *arg, uint64_t gpa, uint64_t frame);
typedef int (*gpt_leaf_cb)(void *arg, uint64_t leaf_gpa, unsigned nwritten);
int gpt_for_each_written(struct gpt *g, uint64_t gpa, uint64_t size, gpt_page_cb cb, void *arg);
int gpt_for_each_written_leaf(struct gpt *g, uint64_t gpa, uint64_t size, gpt_leaf_cb cb, void *arg);

/*
 * Reset [gpa, gpa+size) (2 MiB aligned) of g to share src's leaves again:
 * per 2 MiB chunk, drop g's leaf (or 2 MiB map) and take a reference on
 * src's, write-protected in both (src becomes the owner of a leaf it held
 * exclusively). A chunk already sharing src's leaf is left alone, so the
 * cost is O(chunks that differ). Pinned leaves of src, or all when src
 * has COW off, are copied. Afterwards g's written set in the range is
 * empty; src's is unchanged. -EBUSY, and nothing changed, if g has a
 * pinned page in the range. g != src, both in one domain.
 */
int gpt_reset_range(struct gpt *g, struct gpt *src, uint64_t gpa, uint64_t size);

void gpt_get_stats(struct gpt *g, struct gpt_stats *out);

/* --- introspection (tests, debugging, audits) ---------------------------- */
struct gpt_leaf_info {
	uint64_t gpa;        /* start of the 2 MiB chunk */
	uint64_t pde;        /* the PD entry word */
	bool huge;           /* a 2 MiB mapping, fields below are zero */
	uint64_t table;      /* leaf table address (identity of the leaf) */
	unsigned refcount;
	bool owned;          /* owner == this GPT */
	bool orphan;         /* no owner */
	unsigned npresent, nprivate, npinned, nwritten;
	/* nwritten counts the leaf's GPT_WRITTEN entries; they are this GPT's
	 * written pages only when pde has GPT_PDE_WRITER. */
};
typedef int (*gpt_info_cb)(void *arg, const struct gpt_leaf_info *info);
/* Every PD entry that maps something (leaf or 2 MiB), in address order. */
int gpt_for_each_leaf(struct gpt *g, gpt_info_cb cb, void *arg);
/* Raw entry words at gpa: *pde (PD entry) and *pte (leaf entry, 0 if none). */
int gpt_debug_entry(struct gpt *g, uint64_t gpa, uint64_t *pde, uint64_t *pte);
/* Number of upper tables (PML4 + PDPTs + PDs) of g. */
uint64_t gpt_upper_tables(struct gpt *g);

#endif
