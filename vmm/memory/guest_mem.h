/*
 * guest_mem.h - guest RAM and the one checked helper that turns a
 * guest-physical range into a host pointer. Nobody else does that arithmetic:
 * every guest-supplied address and length goes through gpa_ptr().
 */
#ifndef COWVM_GUEST_MEM_H
#define COWVM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct guest_mem {
	uint8_t *host;  /* host mapping of guest-physical [0, size) */
	uint64_t size;
	int owned;      /* host mapping was created by guest_mem_alloc */
};

/* Anonymous, lazily populated RAM of `size` bytes (multiple of 4 KiB). */
int guest_mem_alloc(struct guest_mem *m, uint64_t size, struct vmm_err *e);
/* RAM that starts as the contents of file `fd` (a snapshot memfd), mapped
 * MAP_PRIVATE: O(1) in size; the host kernel shares unwritten pages with
 * the file and copies a page on its first write. */
int guest_mem_map_file(struct guest_mem *m, uint64_t size, int fd, struct vmm_err *e);
/* Replace the contents of m's window in place (MAP_FIXED, same address, so
 * a KVM memslot over it stays valid: KVM sees an MMU-notifier invalidation)
 * with file `fd` (MAP_PRIVATE), or with empty anonymous memory if fd < 0. */
int guest_mem_remap_file(struct guest_mem *m, int fd, struct vmm_err *e);
void guest_mem_free(struct guest_mem *m);

/* Host pointer for [gpa, gpa+len) or NULL if any byte lies outside RAM or
 * the range overflows. len 0 is allowed (gpa must still be <= size). */
static inline void *gpa_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (gpa > m->size || len > m->size - gpa)
		return NULL;
	return m->host + gpa;
}

#endif
