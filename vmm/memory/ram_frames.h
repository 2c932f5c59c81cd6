/*
 * ram_frames.h - the frame store (mmu/frame_store.h) behind the GPTs of one
 * snapshot family. Frames [0, nroot) are the pages of the root snapshot's
 * memfd (frame n = page n). Frames from nroot up are "private" frames: a page
 * some clone wrote. Their bytes live in that clone's MAP_PRIVATE window
 * (the host kernel copied the page on the guest's write), or in a layer
 * snapshot's memfd once captured; the store keeps only their reference
 * counts, so `copy` has nothing to move. A root frame is never written in
 * place (the memfd is sealed): `exclusive` says no for it, so the GPT always
 * gives a written root page a private frame.
 */
#ifndef COWVM_RAM_FRAMES_H
#define COWVM_RAM_FRAMES_H

#include <pthread.h>
#include <stdint.h>

#include "err.h"
#include "frame_store.h"

struct ram_frames {
	uint64_t nroot;        /* root frames */
	uint64_t cap;          /* frame numbers reserved (virtual array size) */
	uint32_t *ref;         /* reference count per frame; lazily backed */
	pthread_mutex_t lock;  /* next, freelist (a leaf lock) */
	uint64_t next;         /* bump allocator for private frames */
	uint64_t *freelist;    /* freed private frames, lazily backed, cap - nroot */
	uint64_t nfree;
	uint64_t live_private; /* under lock */
};

extern const struct frame_store_ops ram_frames_ops;

/* max_private: how many private frames may be live at once. */
int ram_frames_init(struct ram_frames *f, uint64_t nroot, uint64_t max_private, struct vmm_err *e);
void ram_frames_free(struct ram_frames *f);
uint64_t ram_frames_live_private(struct ram_frames *f);

#endif
