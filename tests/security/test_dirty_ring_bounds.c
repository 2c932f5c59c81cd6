/*
 * test_dirty_ring_bounds.c - dirty-ring entries are bounds-checked before
 * they reach the GPT (vmm/kvm/dirty_log.c dirty_ring_harvest): an entry for
 * another memslot or a frame past guest RAM stops the harvest with -EIO and
 * is never handed to the callback. The ring is a plain array here (what KVM
 * would share with us through the vCPU mmap); no KVM needed. The closing
 * KVM_RESET_DIRTY_RINGS goes to a descriptor that is not a VM and fails,
 * which the harvest must report (not ignore) when all entries were good.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "dirty_log.h"

#define ENTRIES 8u
#define NPAGES 16u

struct seen {
	unsigned n;
	uint64_t gfn[64];
};

static int record(void *arg, uint64_t gfn)
{
	struct seen *s = arg;
	cr_assert_lt(gfn, NPAGES, "callback got frame %llu past guest RAM", (unsigned long long)gfn);
	s->gfn[s->n++] = gfn;
	return 0;
}

static void push(struct dirty_ring *r, uint32_t at, uint32_t slot, uint64_t offset)
{
	struct kvm_dirty_gfn *g = &r->gfns[at & (r->entries - 1)];
	g->slot = slot;
	g->offset = offset;
	g->flags = KVM_DIRTY_GFN_F_DIRTY;
}

static void setup(struct dirty_log *d, struct dirty_ring *r)
{
	*d = (struct dirty_log){ .mode = DIRTY_RING, .vm_fd = -1, .slot = 0, .npages = NPAGES,
	                         .ring_entries = ENTRIES };
	*r = (struct dirty_ring){ .gfns = calloc(ENTRIES, sizeof(struct kvm_dirty_gfn)), .entries = ENTRIES };
}

Test(dirty_ring, entry_past_guest_ram_is_refused)
{
	struct dirty_log d;
	struct dirty_ring r;
	setup(&d, &r);
	push(&r, 0, 0, 3);
	push(&r, 1, 0, NPAGES); /* one past the end */
	push(&r, 2, 0, 5);
	struct seen s = { 0 };
	struct vmm_err e = { 0 };
	uint64_t count = 0;
	cr_assert_eq(dirty_ring_harvest(&d, &r, record, &s, &count, &e), -EIO);
	cr_assert_str_not_empty(e.msg);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.gfn[0], 3);
	cr_assert_eq(count, 1);
	cr_assert_eq(r.fetch, 1, "the bad entry must stay unconsumed");
	free(r.gfns);
}

Test(dirty_ring, entry_of_another_slot_is_refused)
{
	struct dirty_log d;
	struct dirty_ring r;
	setup(&d, &r);
	push(&r, 0, 1, 2);
	struct seen s = { 0 };
	struct vmm_err e = { 0 };
	cr_assert_eq(dirty_ring_harvest(&d, &r, record, &s, NULL, &e), -EIO);
	cr_assert_eq(s.n, 0);
	free(r.gfns);
}

Test(dirty_ring, huge_offset_and_wrapped_index_stay_in_bounds)
{
	struct dirty_log d;
	struct dirty_ring r;
	setup(&d, &r);
	r.fetch = 0xfffffffeu; /* the index wraps: entries & (size - 1) */
	push(&r, 0xfffffffeu, 0, 7);
	push(&r, 0xffffffffu, 0, 8);
	push(&r, 0, 0, UINT64_MAX);
	struct seen s = { 0 };
	struct vmm_err e = { 0 };
	cr_assert_eq(dirty_ring_harvest(&d, &r, record, &s, NULL, &e), -EIO);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.gfn[0], 7);
	cr_assert_eq(s.gfn[1], 8);
	free(r.gfns);
}

Test(dirty_ring, good_entries_are_consumed_and_reset_is_checked)
{
	struct dirty_log d;
	struct dirty_ring r;
	setup(&d, &r);
	for (uint32_t i = 0; i < ENTRIES; i++)
		push(&r, i, 0, i);
	struct seen s = { 0 };
	struct vmm_err e = { 0 };
	/* All good; KVM_RESET_DIRTY_RINGS on fd -1 fails: that is reported. */
	cr_assert_eq(dirty_ring_harvest(&d, &r, record, &s, NULL, &e), -EBADF);
	cr_assert_eq(s.n, ENTRIES);
	for (uint32_t i = 0; i < ENTRIES; i++)
		cr_assert_eq(r.gfns[i].flags, KVM_DIRTY_GFN_F_RESET, "entry %u not handed back", i);
	free(r.gfns);
}
