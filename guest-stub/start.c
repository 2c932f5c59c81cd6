/*
 * start.c - the guest SDK's ring-3 start (libcowguest): check the boot
 * info once, then run the guest's main() on vCPU 0 and exit with its
 * status, or cg_ap_main(cpu) on the other vCPUs and park them.
 *
 * Exit statuses of the SDK itself (before main runs): 120 the boot info is
 * not a readable FDT, 121 it lacks the heap, input or output buffer.
 */
#include "sdk_int.h"

uint64_t cg_fdt_addr;

void cg_start(uint64_t fdt, uint64_t cpu)
{
	/* Every vCPU stores the same value (the VMM passes COWVM_GPA_BOOTINFO
	 * to all of them), so the order in which they do so does not matter. */
	__atomic_store_n(&cg_fdt_addr, fdt, __ATOMIC_RELAXED);
	struct fdt_view v;
	uint64_t a, b;
	if (fdt_open(&v, fdt)) {
		cg_print("cowguest: bad boot info\n");
		cg_exit(120);
	}
	if (fdt_u64_pair(&v, "/chosen", COWVM_FDT_HEAP, &a, &b) ||
	    fdt_u64_pair(&v, "/chosen", COWVM_FDT_INPUT, &a, &b) ||
	    fdt_u64_pair(&v, "/chosen", COWVM_FDT_OUTPUT, &a, &b)) {
		cg_print("cowguest: boot info lacks heap/input/output\n");
		cg_exit(121);
	}
	if (cpu != 0) {
		/* HLT from ring 3 would be a #GP: the VMM parks this vCPU. */
		cg_ap_main((unsigned)cpu);
		cg_park();
	}
	cg_exit(main());
}
