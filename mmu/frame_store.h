/*
 * frame_store.h - the backing-frame interface the GPT maps guest frames to.
 *
 * A "frame" is an opaque 4 KiB backing page named by a number: a page offset
 * in a memfd for the VMM, an index into a mock in the tests. The GPT stores
 * frame numbers in its leaf entries (frame << 12, so a frame number must be
 * below 2^40) and keeps one reference per entry that names the frame:
 * a frame mapped by two leaf tables (after a leaf copy) has two references,
 * whatever the number of VMs that share those leaves.
 *
 * Every op may be called from several threads at once (one GPT per thread,
 * clones on other threads): implementations must be thread-safe.
 */
#ifndef COWVM_MMU_FRAME_STORE_H
#define COWVM_MMU_FRAME_STORE_H

#include <stdbool.h>
#include <stdint.h>

struct frame_store_ops {
	/* New frame with zeroed contents and one reference. 0 or -errno
	 * (-ENOMEM); on error nothing was allocated. */
	int (*alloc)(void *ctx, uint64_t *frame);
	/* Take one more reference on a live frame. Cannot fail. */
	void (*get)(void *ctx, uint64_t frame);
	/* Drop one reference; the store frees the frame at zero. */
	void (*put)(void *ctx, uint64_t frame);
	/* Copy the 4 KiB contents of src into dst (dst freshly allocated).
	 * 0 or -errno; on error dst is unchanged. */
	int (*copy)(void *ctx, uint64_t dst, uint64_t src);
	/* Optional (may be NULL): true if the frame has exactly one reference.
	 * The GPT only asks about a frame referenced by a leaf it holds
	 * exclusively, so "1" cannot become "2" under it (only a holder of a
	 * referencing leaf can add references). NULL = never reuse, always
	 * copy on the first write after a leaf copy. */
	bool (*exclusive)(void *ctx, uint64_t frame);
};

#endif
