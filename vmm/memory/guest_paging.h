/*
 * guest_paging.h - build the guest's own x86_64 page tables inside guest RAM
 * with the mmu/ page-table engine (tables are allocated from the
 * COWVM_GPA_PGTABLES window; table addresses are guest-physical).
 */
#ifndef COWVM_GUEST_PAGING_H
#define COWVM_GUEST_PAGING_H

#include <stdint.h>

#include "err.h"
#include "guest_mem.h"
#include "pt.h"

struct guest_paging {
	struct guest_mem *mem;
	uint64_t next, end;   /* bump allocator over [COWVM_GPA_PGTABLES, end) */
	struct pt pt;         /* root = the guest's CR3 */
};

int guest_paging_init(struct guest_paging *gp, struct guest_mem *mem, struct vmm_err *e);
/* Identity-map [start, end) with the largest pages alignment allows
 * (2 MiB, else 4 KiB) and the given leaf flags. */
int guest_paging_map(struct guest_paging *gp, uint64_t start, uint64_t end, pte_t flags,
                     struct vmm_err *e);

#endif
