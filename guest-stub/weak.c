/*
 * weak.c - the guest SDK's defaults for the hooks a guest may define
 * (cowguest.h): no work on secondary vCPUs, no ring-0 operations. In a file
 * of their own so no call to them is resolved before the final link.
 */
#include "sdk_int.h"

__attribute__((weak)) void cg_ap_main(unsigned cpu)
{
	(void)cpu;
}

__attribute__((weak)) int64_t cg_ring0_handler(unsigned gate, uint64_t nr, uint64_t arg)
{
	(void)gate, (void)nr, (void)arg;
	return -1;
}
