/* fault_inject.c - see fault_inject.h. */
#include "fault_inject.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>

static atomic_uint armed[FAULT_NSITES]; /* nth call to fail, 0 = off */
static atomic_uint calls[FAULT_NSITES];

void fault_inject_arm(enum fault_site site, unsigned nth)
{
	atomic_store(&calls[site], 0);
	atomic_store(&armed[site], nth);
}

void fault_inject_disarm_all(void)
{
	for (int i = 0; i < FAULT_NSITES; i++)
		fault_inject_arm((enum fault_site)i, 0);
}

bool fault_inject_hit(enum fault_site site)
{
	unsigned nth = atomic_load_explicit(&armed[site], memory_order_relaxed);
	if (!nth)
		return false;
	return atomic_fetch_add(&calls[site], 1) + 1 == nth;
}

unsigned fault_inject_calls(enum fault_site site)
{
	return atomic_load(&calls[site]);
}

void *vmm_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (fault_inject_hit(FAULT_MMAP)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return mmap(addr, len, prot, flags, fd, off);
}
