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
