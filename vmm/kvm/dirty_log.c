/* dirty_log.c - KVM dirty ring and dirty bitmap harvesting (see dirty_log.h). */
#include "dirty_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fault_inject.h"

#include "kvm_ioctl.h"

#define PAGE 4096ull

static int enable_ring(struct dirty_log *d, int kvm_fd, struct vmm_err *e)
{
	const char *no_ring = getenv("COWVM_NO_DIRTY_RING");
	if (no_ring && !strcmp(no_ring, "1"))
		return -ENOTSUP; /* pretend a host without the ring (dirty_log.h) */
	long cap = KVM_CAP_DIRTY_LOG_RING;
	int max = kvm_check_cap(kvm_fd, cap);
	if (max <= 0) {
		cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
		max = kvm_check_cap(kvm_fd, cap);
	}
	if (max <= 0)
		return -ENOTSUP;
	uint32_t bytes = DIRTY_RING_ENTRIES * (uint32_t)sizeof(struct kvm_dirty_gfn);
	while (bytes > (uint32_t)max)
		bytes >>= 1;
	struct kvm_enable_cap ec = { .cap = (uint32_t)cap, .args = { bytes } };
	int r = KVM_IOCTL(d->vm_fd, KVM_ENABLE_CAP, &ec, e);
	if (r < 0)
		return r;
	d->ring_entries = bytes / (uint32_t)sizeof(struct kvm_dirty_gfn);
	d->mode = DIRTY_RING;
	return 0;
}

static int enable_bitmap(struct dirty_log *d, int kvm_fd, struct vmm_err *e)
{
	int caps = kvm_check_cap(kvm_fd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (!(caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
		return vmm_fail(e, -ENOTSUP, "KVM has neither KVM_CAP_DIRTY_LOG_RING nor "
		                "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: cannot track guest writes");
	/* Without KVM_DIRTY_LOG_INITIALLY_SET: pages start write-protected, so
	 * the first write to each is logged. */
	struct kvm_enable_cap ec = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
	                             .args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE } };
	int r = KVM_IOCTL(d->vm_fd, KVM_ENABLE_CAP, &ec, e);
	if (r < 0)
		return r;
	d->bitmap = calloc((d->npages + 63) / 64, sizeof(uint64_t));
	d->restored = calloc((d->npages + 63) / 64, sizeof(uint64_t));
	d->restored_lo = UINT64_MAX;
	if (!d->bitmap || !d->restored)
		return vmm_fail(e, -ENOMEM, "out of memory for the dirty bitmap");
	d->mode = DIRTY_BITMAP;
	return 0;
}

int dirty_log_enable(struct dirty_log *d, int kvm_fd, int vm_fd, enum dirty_mode want,
                     uint64_t npages, struct vmm_err *e)
{
	memset(d, 0, sizeof(*d));
	d->vm_fd = vm_fd;
	d->npages = npages;
	d->requested = want;
	if (want == DIRTY_OFF)
		return 0;
	if (want == DIRTY_RING) {
		int r = enable_ring(d, kvm_fd, e);
		if (r != -ENOTSUP)
			return r;
	}
	return enable_bitmap(d, kvm_fd, e);
}

void dirty_log_free(struct dirty_log *d)
{
	free(d->bitmap);
	free(d->restored);
	d->bitmap = d->restored = NULL;
}

uint32_t dirty_log_slot_flags(const struct dirty_log *d)
{
	return d->mode == DIRTY_OFF ? 0 : KVM_MEM_LOG_DIRTY_PAGES;
}

int dirty_ring_map(const struct dirty_log *d, int vcpu_fd, struct dirty_ring *r, struct vmm_err *e)
{
	memset(r, 0, sizeof(*r));
	if (d->mode != DIRTY_RING)
		return 0;
	size_t len = (size_t)d->ring_entries * sizeof(struct kvm_dirty_gfn);
	void *p = vmm_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd,
	               (off_t)(KVM_DIRTY_LOG_PAGE_OFFSET * PAGE));
	if (p == MAP_FAILED)
		return vmm_fail(e, -errno, "mmap of the vCPU dirty ring failed: %s", strerror(errno));
	r->gfns = p;
	r->entries = d->ring_entries;
	return 0;
}

void dirty_ring_unmap(struct dirty_ring *r)
{
	if (r->gfns)
		munmap(r->gfns, (size_t)r->entries * sizeof(struct kvm_dirty_gfn));
	memset(r, 0, sizeof(*r));
}

int dirty_ring_collect(const struct dirty_log *d, struct dirty_ring *r, dirty_page_fn fn,
                       void *arg, uint64_t *count, struct vmm_err *e)
{
	int rc = 0;
	while (r->gfns) {
		struct kvm_dirty_gfn *g = &r->gfns[r->fetch & (r->entries - 1)];
		/* ACQUIRE pairs with KVM publishing the entry (flags last): the
		 * slot and offset we read next are the ones KVM wrote. */
		uint32_t flags = __atomic_load_n(&g->flags, __ATOMIC_ACQUIRE);
		if (!(flags & KVM_DIRTY_GFN_F_DIRTY))
			break;
		if (g->slot != d->slot || g->offset >= d->npages) {
			rc = vmm_fail(e, -EIO, "dirty ring entry for slot %u page %llu is outside guest RAM",
			              g->slot, (unsigned long long)g->offset);
			break;
		}
		rc = fn(arg, g->offset);
		if (rc)
			break;
		/* RELEASE: we are done with the entry before KVM may reuse it. */
		__atomic_store_n(&g->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		r->fetch++;
		(*count)++;
	}
	return rc;
}

int dirty_log_reset_rings(struct dirty_log *d, bool consumed, struct vmm_err *e)
{
	if (!consumed && !atomic_load(&d->reset_pending))
		return 0;
	int x = KVM_IOCTL(d->vm_fd, KVM_RESET_DIRTY_RINGS, 0, e);
	atomic_store(&d->reset_pending, x < 0);
	return x < 0 ? x : 0;
}

int dirty_ring_harvest(struct dirty_log *d, struct dirty_ring *r, dirty_page_fn fn,
                       void *arg, uint64_t *count, struct vmm_err *e)
{
	uint64_t n = 0;
	int rc = dirty_ring_collect(d, r, fn, arg, &n, e);
	int x = dirty_log_reset_rings(d, n > 0, e);
	if (count)
		*count += n;
	return rc ? rc : x;
}

int dirty_log_harvest_bitmap(struct dirty_log *d, dirty_page_fn fn, void *arg, uint64_t *count,
                             struct vmm_err *e)
{
	size_t words = (d->npages + 63) / 64;
	memset(d->bitmap, 0, words * 8);
	struct kvm_dirty_log log = { .slot = d->slot, .dirty_bitmap = d->bitmap };
	int r = KVM_IOCTL(d->vm_fd, KVM_GET_DIRTY_LOG, &log, e);
	if (r < 0)
		return r;
	uint64_t n = 0;
	for (size_t w = 0; w < words; w++)
		for (uint64_t bits = d->bitmap[w]; bits; bits &= bits - 1) {
			uint64_t gfn = w * 64 + (uint64_t)__builtin_ctzll(bits);
			if (gfn >= d->npages)
				break;
			int rc = fn(arg, gfn);
			if (rc)
				return rc;
			n++;
		}
	/* No KVM_CLEAR_DIRTY_LOG here: a page the GPT now holds as private stays
	 * writable in KVM, so the guest writes it again at full speed, and its
	 * bit stays set (KVM_GET_DIRTY_LOG with manual protection does not clear
	 * bits; seeing a page twice is harmless). Reset re-protects the pages
	 * it restores (dirty_log_reprotect). */
	if (count)
		*count += n;
	return 0;
}

void dirty_log_mark_restored(struct dirty_log *d, uint64_t gfn, uint64_t n)
{
	if (d->mode != DIRTY_BITMAP)
		return;
	for (uint64_t g = gfn; g < gfn + n && g < d->npages; g++)
		d->restored[g / 64] |= 1ull << (g % 64);
	if (gfn < d->restored_lo)
		d->restored_lo = gfn;
	if (gfn + n > d->restored_hi)
		d->restored_hi = gfn + n < d->npages ? gfn + n : d->npages;
}

int dirty_log_reprotect(struct dirty_log *d, bool all, struct vmm_err *e)
{
	if (d->mode != DIRTY_BITMAP)
		return 0; /* the ring re-protects at every harvest */
	if (all)
		dirty_log_mark_restored(d, 0, d->npages);
	if (d->restored_lo >= d->restored_hi)
		return 0;
	/* KVM wants first_page and num_pages multiples of 64 (or reaching the
	 * end of the slot): clear the words that hold the marked range. */
	uint64_t lo = d->restored_lo & ~63ull, hi = (d->restored_hi + 63) & ~63ull;
	if (hi > d->npages)
		hi = d->npages;
	struct kvm_clear_dirty_log clr = { .slot = d->slot, .first_page = lo,
	                                   .num_pages = (uint32_t)(hi - lo),
	                                   .dirty_bitmap = d->restored + lo / 64 };
	int r = KVM_IOCTL(d->vm_fd, KVM_CLEAR_DIRTY_LOG, &clr, e);
	if (r < 0)
		return r; /* marks kept: the next reset clears them */
	memset(d->restored + lo / 64, 0, (hi - lo + 63) / 64 * 8);
	d->restored_lo = UINT64_MAX;
	d->restored_hi = 0;
	return 0;
}
