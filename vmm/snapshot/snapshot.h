/*
 * snapshot.h - a frozen guest: the complete state of every vCPU and guest
 * RAM as a sealed memfd plus a GPT (mmu/gpt.h) whose leaves name the frames.
 *
 * A ROOT snapshot is taken from a booted VM: its memfd holds all of RAM
 * (written sparsely: pages the guest never touched or left zero are holes).
 * A LAYER is taken from a clone: its memfd holds only the pages the clone
 * changed since its snapshot (at their guest-physical offsets, holes
 * elsewhere) and it refers to its parent. The content of page p of
 * snapshot S is that of the nearest layer from S up that captured p, else
 * the root's (snapshot_page). All snapshots that descend from one root form
 * a family: one frame store and one GPT domain, so their GPTs share leaves.
 *
 * Snapshots are reference counted: the creator, child layers, clones and
 * pooled shells each hold one. All functions are thread-safe.
 */
#ifndef COWVM_SNAPSHOT_H
#define COWVM_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "ram_frames.h"
#include "vcpu_state.h"
#include "vm.h"

struct pc_state;

struct snap_family {
	atomic_uint refs;          /* snapshots of the family */
	uint64_t mem_size, npages;
	struct ram_frames frames;
	struct gpt_domain *dom;
};

/* What a snapshot records besides memory (also what a file stores). */
struct snap_meta {
	uint64_t mem_size;
	unsigned nvcpus;
	uint32_t parked_mask;      /* vCPUs that parked for good */
	struct vm_layout layout;
	uint64_t hc_gpa;           /* hypercall block: clone number goes to its `ret` */
	/* The VM clock (KVM_GET_CLOCK's `clock`, ns of kvmclock) when the
	 * snapshot was taken: set again (KVM_SET_CLOCK) before a clone or a
	 * reset clone runs, so guest time restarts from here. */
	uint64_t clock;
	struct wl_request workload;
	struct vcpu_state *vcpu;   /* nvcpus entries (copied by the constructors) */
	/* A PC (Linux) guest's machine state (pc_state.h), copied by the
	 * constructors; NULL for a guest-stub VM. Clones of it are PC shells. */
	struct pc_state *pc;
};

/* A file the snapshot was saved to or loaded from (snapshot_file.c):
 * layers saved later refer to the newest one by path and ID. Entries are
 * pushed atomically and freed only with the snapshot, so readers need no
 * lock. */
struct snap_file_ref {
	struct snap_file_ref *prev;
	uint64_t id;               /* the file's ID (its metadata checksum) */
	uint64_t size;             /* the file's length in bytes */
	char path[];               /* absolute */
};

struct snapshot {
	atomic_uint refs;
	struct snapshot *parent;   /* NULL for a root */
	struct snap_family *fam;
	unsigned depth;            /* 0 for a root */
	struct snap_meta meta;
	int memfd;                 /* sealed: F_SEAL_WRITE|SHRINK|GROW|SEAL */
	const uint8_t *map;        /* read-only shared mapping of memfd */
	uint64_t *captured;        /* layer: bitmap of the pages in memfd */
	uint64_t ncaptured;        /* layer: pages captured; root: non-zero pages */
	uint64_t *overlay;         /* sorted gfns whose content is not the root's */
	uint64_t noverlay;
	uint64_t *chunk_overlay;   /* bitmap per 2 MiB chunk: has overlay pages */
	struct gpt *gpt;
	atomic_ullong next_clone;  /* clone numbers handed out (1, 2, ...) */
	_Atomic(struct snap_file_ref *) file; /* newest first; NULL: never saved */
};

/* Take a snapshot of a VM stopped after VM_END_SNAPSHOT (or any stopped VM):
 * completes pending I/O, saves every vCPU, captures RAM (a root from a
 * booted VM, a layer from a clone). The VM may run on afterwards as the
 * original (it sees `ret` 0 from its snapshot hypercall). */
int snapshot_take(struct vm *vm, struct snapshot **out, struct vmm_err *e);

/* Constructors used by snapshot_take and the file loader. memfd is taken
 * over (closed on error too), unsealed on entry; the root's holds all of
 * RAM; a layer's holds the n pages gfns[] (sorted, unique) at their offsets. */
int snapshot_root_create(const struct snap_meta *m, int memfd, struct snapshot **out,
                         struct vmm_err *e);
int snapshot_layer_create(struct snapshot *parent, const struct snap_meta *m, int memfd,
                          const uint64_t *gfns, uint64_t n, struct snapshot **out,
                          struct vmm_err *e);

void snapshot_get(struct snapshot *s);
void snapshot_put(struct snapshot *s); /* NULL is fine */

/* The 4 KiB content of guest frame gfn (< mem_size / 4096) in s. */
const uint8_t *snapshot_page(const struct snapshot *s, uint64_t gfn);
/* The root of s's chain. */
const struct snapshot *snapshot_root(const struct snapshot *s);

/* True if the 4 KiB page at p is all zero (holes in snapshot memory). */
bool snapshot_page_is_zero(const uint8_t *p);

/* A new memfd of `size` bytes that allows sealing. */
int snapshot_memfd(uint64_t size, struct vmm_err *e);

#endif
