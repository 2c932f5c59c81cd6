/*
 * bzimage_build.h - synthetic bzImage files for the boot-protocol tests
 * (tests/boot/test_linux_boot.c) and the fuzz seeds (tests/security/
 * make_seeds.c): a boot sector + setup sectors holding a struct
 * setup_header at 0x1f1, then a protected-mode "kernel" of patterned bytes.
 * Not a bootable kernel: only the header a loader reads is real.
 */
#ifndef COWVM_BZIMAGE_BUILD_H
#define COWVM_BZIMAGE_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <asm/bootparam.h>

struct bz {
	struct setup_header h; /* written at 0x1f1 whole (123 bytes), whatever the jump says */
	size_t kernel_len;     /* bytes after the setup sectors */
	uint8_t fill_after_hdr; /* byte written from the header's end (0x202 + jump offset) to 0x290 */
};

/* A valid protocol-2.15 64-bit relocatable bzImage: 4 setup sectors,
 * 8 KiB of kernel, init_size 8 MiB, pref_address 16 MiB, 2 MiB alignment. */
static inline void bz_default(struct bz *b)
{
	memset(b, 0, sizeof(*b));
	struct setup_header *h = &b->h;
	h->setup_sects = 4;
	h->root_flags = 1;
	h->vid_mode = 0x0f01;      /* an image value the loader must overwrite */
	h->root_dev = 0x0801;
	h->boot_flag = 0xaa55;
	h->jump = (uint16_t)(0xeb | (0x26c - 0x202) << 8);
	h->header = 0x53726448;    /* "HdrS" */
	h->version = 0x020f;
	h->kernel_version = 0x1234;
	h->loadflags = LOADED_HIGH;
	h->setup_move_size = 0x8000;
	h->code32_start = 0x100000;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->min_alignment = 21;
	h->xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h->cmdline_size = 2047;
	h->initrd_addr_max = 0x7fffffff;
	h->payload_offset = 0x3a0;
	h->payload_length = 0x1000;
	h->pref_address = 0x1000000;
	h->init_size = 0x800000;
	h->handover_offset = 0x190;
	h->kernel_info_offset = 0x2000;
	b->kernel_len = 8192;
	h->syssize = (uint32_t)(b->kernel_len / 16);
	b->fill_after_hdr = 0xcc;
}

static inline size_t bz_setup_bytes(const struct bz *b)
{
	return ((size_t)(b->h.setup_sects ? b->h.setup_sects : 4) + 1) * 512;
}

/* Kernel byte i: a pattern that differs from its neighbours. */
static inline uint8_t bz_kernel_byte(size_t i) { return (uint8_t)(i * 13 + 7 + (i >> 8)); }

/* The image (malloc'd, *len bytes). */
static inline uint8_t *bz_build(const struct bz *b, size_t *len)
{
	size_t setup = bz_setup_bytes(b);
	*len = setup + b->kernel_len;
	uint8_t *img = calloc(1, *len > 0x290 ? *len : 0x290);
	for (size_t i = 0; i < 0x1f1; i++)
		img[i] = (uint8_t)(0x40 + i % 31);          /* boot sector filler */
	memcpy(img + 0x1f1, &b->h, sizeof(b->h));
	size_t end = 0x202 + (size_t)(int8_t)(b->h.jump >> 8);
	if ((b->h.jump & 0xff) == 0xeb && end >= 0x1f1 + 16 && end < 0x290)
		memset(img + end, b->fill_after_hdr, 0x290 - end); /* setup code after the header */
	for (size_t i = 0x290; i < setup && i < *len; i++)
		img[i] = (uint8_t)(0x90 ^ i);
	for (size_t i = 0; i < b->kernel_len; i++)
		img[setup + i] = bz_kernel_byte(i);
	return img;
}

#endif
