/* guest_paging.c - guest page tables in guest RAM (see guest_paging.h). */
#include "guest_paging.h"

#include <errno.h>
#include <string.h>

#include "cowvm_abi.h"

static int gp_alloc(void *ctx, uint64_t *addr)
{
	struct guest_paging *gp = ctx;
	if (gp->next + PT_TABLE_SIZE > gp->end)
		return -ENOMEM;
	void *p = gpa_ptr(gp->mem, gp->next, PT_TABLE_SIZE);
	if (!p)
		return -ENOMEM;
	memset(p, 0, PT_TABLE_SIZE);
	*addr = gp->next;
	gp->next += PT_TABLE_SIZE;
	return 0;
}

/* Only addresses inside the page-table window are tables: a corrupt entry
 * can never turn into a pointer elsewhere in guest RAM or the host. */
static pte_t *gp_ptr(void *ctx, uint64_t addr)
{
	struct guest_paging *gp = ctx;
	if (addr < COWVM_GPA_PGTABLES || addr >= gp->next || (addr & (PT_TABLE_SIZE - 1)))
		return NULL;
	return gpa_ptr(gp->mem, addr, PT_TABLE_SIZE);
}

static const struct pt_ops guest_paging_ops = {
	.alloc_table = gp_alloc,
	.free_table = NULL, /* tables live in guest RAM and die with it */
	.table_ptr = gp_ptr,
};

int guest_paging_init(struct guest_paging *gp, struct guest_mem *mem, struct vmm_err *e)
{
	gp->mem = mem;
	gp->next = COWVM_GPA_PGTABLES;
	gp->end = COWVM_PGTABLES_END;
	int r = pt_init(&gp->pt, &guest_paging_ops, gp);
	if (r)
		return vmm_fail(e, r, "cannot allocate the guest's PML4: %s", strerror(-r));
	return 0;
}

int guest_paging_map(struct guest_paging *gp, uint64_t start, uint64_t end, pte_t flags,
                     struct vmm_err *e)
{
	for (uint64_t a = start; a < end;) {
		uint64_t sz = (!(a & (PAGE_SIZE_2M - 1)) && end - a >= PAGE_SIZE_2M) ? PAGE_SIZE_2M : PAGE_SIZE_4K;
		/* Map runs of equal page size in one call. */
		uint64_t n = sz;
		while (a + n < end && (sz == PAGE_SIZE_2M ? end - (a + n) >= PAGE_SIZE_2M
		                                          : ((a + n) & (PAGE_SIZE_2M - 1)) != 0))
			n += sz;
		int r = pt_map(&gp->pt, a, a, n, sz, flags);
		if (r)
			return vmm_fail(e, r, "guest page tables: mapping %#llx..%#llx failed: %s",
			                (unsigned long long)a, (unsigned long long)(a + n), strerror(-r));
		a += n;
	}
	return 0;
}
