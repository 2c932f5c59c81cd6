/*
 * elf_loader.h - load a static x86_64 ELF64 executable (the guest-stub or a
 * user-supplied guest) into guest RAM. Every header field is validated
 * against the file size and the allowed guest-physical window before any
 * byte is copied.
 */
#ifndef COWVM_ELF_LOADER_H
#define COWVM_ELF_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "guest_mem.h"

#define ELF_MAX_SEGMENTS 16

struct elf_segment {
	uint64_t gpa;      /* page-aligned load address */
	uint64_t memsz;    /* bytes in memory (rounded up to pages when mapped) */
	int writable, executable;
};

struct elf_image {
	uint64_t entry;
	uint64_t end;      /* first byte after the highest segment, page-aligned */
	unsigned nseg;
	struct elf_segment seg[ELF_MAX_SEGMENTS];
};

/*
 * Validate img[0..len) and copy its PT_LOAD segments into mem. Segments must
 * be page-aligned, lie within [lo, hi), not overlap (at page granularity, as
 * they get their own page permissions), and the entry point must be inside
 * an executable segment. -ENOEXEC with a message naming the defect.
 * Nothing is written to guest memory unless the whole image is valid.
 */
int elf_load(const void *img, size_t len, struct guest_mem *mem, uint64_t lo,
             uint64_t hi, struct elf_image *out, struct vmm_err *e);

#endif
