/*
 * clone.h - fork for VMs: clone a snapshot into a runnable VM, reset a clone
 * back to its snapshot, and pool the KVM "shells" (VM + vCPUs + memslot +
 * RAM window) so a clone does not pay for KVM_CREATE_VM.
 *
 * Clone: take a pooled shell whose window already shows the snapshot (the
 * common case: it ran a clone of the same snapshot and was reset when
 * released; its GPT, reset too, is kept as the clone's), else remap a shell's window MAP_PRIVATE over the snapshot's
 * memfd (MAP_FIXED: KVM sees an MMU-notifier invalidation, the memslot stays),
 * else create a shell. Then gpt_clone the snapshot's GPT (O(memory / 2 MiB)),
 * restore every vCPU and write the clone's number into the snapshot
 * hypercall's `ret`. Guest writes come back through the dirty log.
 *
 * Reset: harvest the dirty log, then per 2 MiB chunk with private pages
 * either copy those pages back from the snapshot or, when many pages of the
 * chunk are private, drop the chunk's private host pages at once
 * (MADV_DONTNEED: the window shows the memfd again, pages refault); then
 * re-share the snapshot's leaves (gpt_reset_range) and restore the vCPUs.
 * O(dirty pages), never O(memory).
 */
#ifndef COWVM_CLONE_H
#define COWVM_CLONE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "snapshot.h"
#include "vm.h"

struct vm_pool;

struct vm_pool_stats {
	uint64_t created;     /* shells made with KVM_CREATE_VM */
	uint64_t reused;      /* clones on a shell already showing the snapshot */
	uint64_t remapped;    /* clones on a shell whose window was remapped */
	uint64_t idle;        /* shells waiting in the pool */
	uint64_t live;        /* clones alive that came from the pool */
	uint64_t live_mem;    /* their guest memory, bytes */
	uint64_t refused;     /* clones refused by a limit */
};

/* A pool keeps at most max_idle released shells. */
int vm_pool_create(unsigned max_idle, struct vm_pool **out, struct vmm_err *e);
/* Limits on the clones made through the pool and alive at once (until
 * vm_release or vm_destroy): their number and their total guest memory.
 * 0 = no limit. vm_clone beyond a limit fails with -EAGAIN and a message. */
void vm_pool_set_limits(struct vm_pool *p, unsigned max_live, uint64_t max_mem);
/* Called by vm_destroy for a clone made through a pool. */
void vm_pool_forget(struct vm *vm);
void vm_pool_destroy(struct vm_pool *p);
void vm_pool_get_stats(struct vm_pool *p, struct vm_pool_stats *st);

/* Default per-chunk threshold (private pages) from which reset drops the
 * whole 2 MiB chunk instead of copying pages back: never. Measured here
 * (docs/benchmarks-snapshot.md), dropping makes the reset itself cheaper
 * from about 32 pages per chunk, but the guest's next run refaults every
 * dropped page it touches (a COW fault, and a read fault for each page it
 * only reads) and that costs more than the copies saved at every density
 * up to a full chunk. reset_remap_min still selects dropping per clone. */
#define RESET_REMAP_MIN_DEFAULT UINT32_MAX

struct clone_opts {
	vm_console_fn console;    /* NULL = stdout */
	void *console_ctx;
	uint64_t timeout_ms;      /* per run, 0 = none */
	bool snapshots;           /* the clone may take layer snapshots */
	enum dirty_mode dirty;    /* DIRTY_RING (default when 0) or DIRTY_BITMAP */
	unsigned reset_remap_min; /* 0 = RESET_REMAP_MIN_DEFAULT; UINT32_MAX = never */
	bool (*should_stop)(void *ctx); /* vm_config.should_stop for the clone's runs */
	void *should_stop_ctx;
	/* Measurements only: vm_reset restores every vCPU in full, each run
	 * makes its own timer, pending I/O is always drained first (the path
	 * before issue 13; vcpu.h, vcpu_fast.h). */
	bool old_path;
};

/* A runnable clone of s (pool may be NULL: a new shell, destroyed by
 * vm_destroy). The clone's number (1, 2, ...) is in (*out)->clone_id. */
int vm_clone(struct vm_pool *pool, struct snapshot *s, const struct clone_opts *o,
             struct vm **out, struct vmm_err *e);

struct reset_stats {
	uint64_t dirty_pages;     /* private pages found */
	uint64_t pages_copied;    /* copied back from the snapshot */
	uint64_t chunks_dropped;  /* 2 MiB chunks dropped with MADV_DONTNEED */
	uint64_t leaves_reshared; /* chunks given the snapshot's leaf again */
	uint64_t vcpus_fast;      /* vCPUs restored the fast way (vcpu_fast.h) */
	uint64_t vcpus_full;      /* vCPUs restored in full (vcpu_state_restore) */
	uint64_t ns_machine;      /* time spent on vCPUs, clock, devices */
	uint64_t ns_memory;       /* time spent on memory and the GPT */
};
/* Bring a stopped clone back to its snapshot: memory, GPT, vCPUs. */
int vm_reset(struct vm *vm, struct reset_stats *st, struct vmm_err *e);

/* The baseline reset: copy ALL of guest RAM back from the snapshot (plus
 * GPT and vCPUs), O(memory). For comparisons (fuzz --reset-mode copy). */
int vm_reset_copy(struct vm *vm, struct vmm_err *e);

/* Give a clone back: reset its memory and keep the shell in the pool (or
 * destroy it when the pool is full, NULL, or the reset fails). */
void vm_release(struct vm_pool *pool, struct vm *vm);

/* Memory of a clone: the GPT's view and the host's (smaps of the window). */
struct vm_mem_stats {
	uint64_t gpt_private_pages, gpt_shared_pages, gpt_table_bytes;
	uint64_t leaves_shared, leaves_private;
	uint64_t host_rss_bytes;       /* window pages resident in this process */
	uint64_t host_private_bytes;   /* of which private to this clone (copied) */
};
int vm_mem_stats(struct vm *vm, struct vm_mem_stats *st, struct vmm_err *e);

#endif
