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
	if (!d->bitmap)
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
	d->bitmap = NULL;
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

int dirty_ring_harvest(const struct dirty_log *d, struct dirty_ring *r, dirty_page_fn fn,
                       void *arg, uint64_t *count, struct vmm_err *e)
{
	uint64_t n = 0;
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
		n++;
	}
	if (n || r->reset_pending) {
		int x = KVM_IOCTL(d->vm_fd, KVM_RESET_DIRTY_RINGS, 0, e);
		r->reset_pending = x < 0;
		if (x < 0 && !rc)
			rc = x;
	}
	if (count)
		*count += n;
	return rc;
}

static int harvest_bitmap(struct dirty_log *d, dirty_page_fn fn, void *arg, uint64_t *count,
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
	/* Re-protect exactly the pages we consumed. */
	struct kvm_clear_dirty_log clr = { .slot = d->slot, .num_pages = (uint32_t)d->npages,
	                                   .first_page = 0, .dirty_bitmap = d->bitmap };
	r = n ? KVM_IOCTL(d->vm_fd, KVM_CLEAR_DIRTY_LOG, &clr, e) : 0;
	if (count)
		*count += n;
	return r < 0 ? r : 0;
}

int dirty_log_harvest(struct dirty_log *d, struct dirty_ring *rings, unsigned nrings,
                      dirty_page_fn fn, void *arg, uint64_t *count, struct vmm_err *e)
{
	if (d->mode == DIRTY_BITMAP)
		return harvest_bitmap(d, fn, arg, count, e);
	for (unsigned i = 0; d->mode == DIRTY_RING && i < nrings; i++) {
		int r = dirty_ring_harvest(d, &rings[i], fn, arg, count, e);
		if (r)
			return r;
	}
	return 0;
}
