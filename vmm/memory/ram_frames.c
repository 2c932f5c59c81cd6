/* ram_frames.c - reference-counted frame numbers for a snapshot family (see ram_frames.h). */
#include "ram_frames.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "fault_inject.h"

static void *reserve(uint64_t bytes)
{
	/* NORESERVE: only the parts of the arrays that are touched cost memory. */
	void *p = vmm_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
	               -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int ram_frames_init(struct ram_frames *f, uint64_t nroot, uint64_t max_private, struct vmm_err *e)
{
	memset(f, 0, sizeof(*f));
	f->nroot = f->next = nroot;
	f->cap = nroot + max_private;
	if (f->cap >= (1ull << 40) || f->cap < nroot)
		return vmm_fail(e, -EINVAL, "frame store too large (%llu frames)", (unsigned long long)f->cap);
	f->ref = reserve(f->cap * sizeof(uint32_t));
	f->freelist = reserve((max_private ? max_private : 1) * sizeof(uint64_t));
	if (!f->ref || !f->freelist) {
		ram_frames_free(f);
		return vmm_fail(e, -ENOMEM, "cannot reserve the frame reference counts");
	}
	pthread_mutex_init(&f->lock, NULL);
	return 0;
}

void ram_frames_free(struct ram_frames *f)
{
	if (f->ref)
		munmap(f->ref, f->cap * sizeof(uint32_t));
	if (f->freelist)
		munmap(f->freelist, (f->cap - f->nroot ? f->cap - f->nroot : 1) * sizeof(uint64_t));
	if (f->ref && f->freelist)
		pthread_mutex_destroy(&f->lock);
	f->ref = NULL;
	f->freelist = NULL;
}

uint64_t ram_frames_live_private(struct ram_frames *f)
{
	pthread_mutex_lock(&f->lock);
	uint64_t n = f->live_private;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static int rf_alloc(void *ctx, uint64_t *frame)
{
	struct ram_frames *f = ctx;
	if (fault_inject_hit(FAULT_FRAME))
		return -ENOMEM;
	pthread_mutex_lock(&f->lock);
	uint64_t n;
	if (f->nfree)
		n = f->freelist[--f->nfree];
	else if (f->next < f->cap)
		n = f->next++;
	else {
		pthread_mutex_unlock(&f->lock);
		return -ENOMEM;
	}
	f->live_private++;
	pthread_mutex_unlock(&f->lock);
	/* The frame is unreachable until we return it: a plain store is fine,
	 * the GPT publishes the entry that names it with release semantics. */
	__atomic_store_n(&f->ref[n], 1, __ATOMIC_RELAXED);
	*frame = n;
	return 0;
}

static void rf_get(void *ctx, uint64_t frame)
{
	struct ram_frames *f = ctx;
	/* RELAXED: the caller holds a reference already (Linux get_page). */
	__atomic_fetch_add(&f->ref[frame], 1, __ATOMIC_RELAXED);
}

static void rf_put(void *ctx, uint64_t frame)
{
	struct ram_frames *f = ctx;
	/* ACQ_REL: the last put must see every other holder's accesses. */
	if (__atomic_sub_fetch(&f->ref[frame], 1, __ATOMIC_ACQ_REL) || frame < f->nroot)
		return;
	pthread_mutex_lock(&f->lock);
	f->freelist[f->nfree++] = frame;
	f->live_private--;
	pthread_mutex_unlock(&f->lock);
}

static int rf_copy(void *ctx, uint64_t dst, uint64_t src)
{
	/* Nothing to move: the host kernel already gave the writing clone its
	 * own copy of the page in its MAP_PRIVATE window. */
	(void)ctx, (void)dst, (void)src;
	return 0;
}

static bool rf_exclusive(void *ctx, uint64_t frame)
{
	struct ram_frames *f = ctx;
	return frame >= f->nroot && __atomic_load_n(&f->ref[frame], __ATOMIC_ACQUIRE) == 1;
}

const struct frame_store_ops ram_frames_ops = {
	.alloc = rf_alloc, .get = rf_get, .put = rf_put, .copy = rf_copy, .exclusive = rf_exclusive,
};
