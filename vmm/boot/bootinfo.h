/*
 * bootinfo.h - the boot-info FDT the VMM hands the guest (keys in
 * cowvm_abi.h), built with libfdt into guest RAM at COWVM_GPA_BOOTINFO.
 */
#ifndef COWVM_BOOTINFO_H
#define COWVM_BOOTINFO_H

#include <stdint.h>

#include "err.h"
#include "guest_mem.h"
#include "workload_spec.h"

struct bootinfo {
	uint64_t mem_size;
	unsigned ncpus;
	const struct wl_request *workload;
	uint64_t heap_base, heap_size;
	uint64_t in_base, in_size, out_base, out_size;
	uint64_t coverage_size;     /* bytes of AFL map at COWVM_GPA_COVERAGE, 0 = none */
};

int bootinfo_write(struct guest_mem *mem, const struct bootinfo *bi, struct vmm_err *e);

#endif
