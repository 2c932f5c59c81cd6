/*
 * dirty_log.h - which guest pages KVM saw written: the per-vCPU dirty ring
 * (KVM_CAP_DIRTY_LOG_RING) when the host has it, else the slot's dirty
 * bitmap with manual re-protection (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2).
 * Harvesting hands each written guest frame number to a callback and
 * re-arms tracking for it, so the next write to that page is seen again.
 */
#ifndef COWVM_DIRTY_LOG_H
#define COWVM_DIRTY_LOG_H

#include <linux/kvm.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

enum dirty_mode {
	DIRTY_OFF,    /* no tracking (a plain `cowvm run`) */
	DIRTY_RING,   /* per-vCPU ring, harvested without a syscall per page */
	DIRTY_BITMAP, /* KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG (fallback, and
	               * the better choice for clones that write a lot: pages
	               * stay writable until reset, see dirty_log_reprotect) */
};

#define DIRTY_RING_ENTRIES 65536u /* 1 MiB per vCPU; power of two */

struct dirty_log {
	enum dirty_mode mode;       /* what KVM gave */
	enum dirty_mode requested;  /* what the creator asked for (the pool
	                             * matches shells on this: a host without
	                             * the ring gives BITMAP for RING) */
	int vm_fd;
	uint32_t slot;
	uint64_t npages;         /* frames in the slot */
	uint32_t ring_entries;   /* DIRTY_RING */
	uint64_t *bitmap;        /* DIRTY_BITMAP: npages bits */
	uint64_t *restored;      /* DIRTY_BITMAP: pages to re-protect at reset */
	/* Entries were consumed but KVM_RESET_DIRTY_RINGS failed: until a reset
	 * succeeds their pages are not write-protected again, so later writes
	 * to them would go unseen. The next reset of the rings retries. The
	 * ioctl is VM-wide, hence one flag per VM (vCPU threads set it). */
	atomic_bool reset_pending;
	uint64_t restored_lo, restored_hi; /* range of marked pages */
};

struct dirty_ring {
	struct kvm_dirty_gfn *gfns; /* mmap of the vCPU fd at KVM_DIRTY_LOG_PAGE_OFFSET */
	uint32_t entries;
	uint32_t fetch;             /* next entry to look at (ours, not KVM's) */
};

/* Called for every written guest frame; nonzero stops the harvest (the
 * remaining entries stay for the next one). */
typedef int (*dirty_page_fn)(void *arg, uint64_t gfn);

/* Choose and enable a mode on a new VM (before any vCPU exists). `want`
 * DIRTY_RING falls back to DIRTY_BITMAP if the ring is missing. The
 * environment variable COWVM_NO_DIRTY_RING=1 makes the ring look missing
 * (to test and measure the fallback on hosts that have it). */
int dirty_log_enable(struct dirty_log *d, int kvm_fd, int vm_fd, enum dirty_mode want,
                     uint64_t npages, struct vmm_err *e);
void dirty_log_free(struct dirty_log *d);
/* KVM_MEM_* flag the memslot needs. */
uint32_t dirty_log_slot_flags(const struct dirty_log *d);
/* Map vCPU vcpu_fd's ring (DIRTY_RING only; a no-op otherwise). */
int dirty_ring_map(const struct dirty_log *d, int vcpu_fd, struct dirty_ring *r, struct vmm_err *e);
void dirty_ring_unmap(struct dirty_ring *r);

/* Consume one vCPU's ring (from that vCPU's thread, or with the vCPU
 * stopped) without resetting it; *count grows by the pages seen. */
int dirty_ring_collect(const struct dirty_log *d, struct dirty_ring *r, dirty_page_fn fn,
                       void *arg, uint64_t *count, struct vmm_err *e);
/* KVM_RESET_DIRTY_RINGS (VM-wide: once for all rings) if `consumed` or a
 * previous reset failed. */
int dirty_log_reset_rings(struct dirty_log *d, bool consumed, struct vmm_err *e);
/* Collect one ring, then reset the rings. */
int dirty_ring_harvest(struct dirty_log *d, struct dirty_ring *r, dirty_page_fn fn,
                       void *arg, uint64_t *count, struct vmm_err *e);
/* Re-protection. The ring re-protects every page it hands over at the
 * harvest (KVM_RESET_DIRTY_RINGS), so a page written again after a harvest
 * faults and is reported again even when the GPT already holds it as
 * private: a clone writing more than the ring between resets keeps
 * faulting. In bitmap mode cowvm re-protects lazily: a harvested page stays
 * writable; reset marks the pages it brings back to the snapshot and
 * re-protects exactly those (all = every page). No-ops in ring mode. */
void dirty_log_mark_restored(struct dirty_log *d, uint64_t gfn, uint64_t n);
int dirty_log_reprotect(struct dirty_log *d, bool all, struct vmm_err *e);

/* Harvest the bitmap (DIRTY_BITMAP; vCPUs stopped). */
int dirty_log_harvest_bitmap(struct dirty_log *d, dirty_page_fn fn, void *arg, uint64_t *count,
                             struct vmm_err *e);

#endif
