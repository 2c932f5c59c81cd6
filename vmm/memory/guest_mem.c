/* guest_mem.c - guest RAM allocation (see guest_mem.h). */
#include "guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "fault_inject.h"

/* A new window of `size` bytes: anonymous (fd < 0) or MAP_PRIVATE of fd. */
static int map_window(struct guest_mem *m, uint64_t size, int fd, struct vmm_err *e)
{
	memset(m, 0, sizeof(*m));
	if (!size || size & 0xfff)
		return vmm_fail(e, -EINVAL, "guest memory size %#llx is not a positive multiple of 4 KiB",
		                (unsigned long long)size);
	int flags = MAP_PRIVATE | MAP_NORESERVE | (fd < 0 ? MAP_ANONYMOUS : 0);
	void *p = vmm_mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED)
		return vmm_fail(e, -errno, "mmap of %llu MiB guest RAM failed: %s",
		                (unsigned long long)(size >> 20), strerror(errno));
	m->host = p;
	m->size = size;
	m->owned = 1;
	return 0;
}

int guest_mem_alloc(struct guest_mem *m, uint64_t size, struct vmm_err *e)
{
	return map_window(m, size, -1, e);
}

void guest_mem_free(struct guest_mem *m)
{
	if (m->owned && m->host)
		munmap(m->host, m->size);
	memset(m, 0, sizeof(*m));
}

int guest_mem_map_file(struct guest_mem *m, uint64_t size, int fd, struct vmm_err *e)
{
	return map_window(m, size, fd, e);
}

int guest_mem_remap_file(struct guest_mem *m, int fd, struct vmm_err *e)
{
	int flags = MAP_PRIVATE | MAP_NORESERVE | MAP_FIXED | (fd < 0 ? MAP_ANONYMOUS : 0);
	void *p = vmm_mmap(m->host, m->size, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED)
		return vmm_fail(e, -errno, "remapping %llu MiB of guest RAM failed: %s",
		                (unsigned long long)(m->size >> 20), strerror(errno));
	return 0;
}
