/*
 * heap.c - the guest SDK's heap (libcowguest): first fit over the boot
 * info's heap region (image end .. input buffer). Every block starts with a
 * 16-byte header (its size, header included, and whether it is free);
 * blocks tile the arena, so the next block is at this one + size, and a
 * free block is merged with free neighbours: the following one when it is
 * freed or searched, all runs of free blocks by the walk in cg_malloc.
 * Not thread-safe: one vCPU at a time. The arena and its headers are guest
 * RAM, so a snapshot keeps the heap as it was and each clone goes on from
 * there.
 */
#include "sdk_int.h"

#define ALIGN 16u
#define HDR sizeof(struct block)

struct block {
	uint64_t size;   /* bytes, header included, multiple of ALIGN */
	uint64_t free;   /* 1 free, 0 used; anything else: a corrupted heap */
};

static uint8_t *arena;      /* first block; NULL before the first use */
static uint64_t arena_size; /* bytes, multiple of ALIGN */
static uint64_t used;       /* bytes handed out (payloads) */

static int init(void)
{
	if (arena)
		return 0;
	size_t size;
	uint8_t *base = cg_heap_region(&size);
	uint64_t start = ((uint64_t)(uintptr_t)base + ALIGN - 1) & ~(uint64_t)(ALIGN - 1);
	uint64_t end = ((uint64_t)(uintptr_t)base + size) & ~(uint64_t)(ALIGN - 1);
	if (!base || end <= start + HDR)
		return -1;
	arena = (uint8_t *)(uintptr_t)start;
	arena_size = end - start;
	struct block *b = (struct block *)arena;
	b->size = arena_size;
	b->free = 1;
	return 0;
}

static struct block *next_of(struct block *b)
{
	uint8_t *n = (uint8_t *)b + b->size;
	return n < arena + arena_size ? (struct block *)n : 0;
}

/* Merge the free blocks that follow free block b into it. */
static void merge_after(struct block *b)
{
	struct block *n;
	while ((n = next_of(b)) && n->free == 1)
		b->size += n->size;
}

void *cg_malloc(size_t n)
{
	if (init() || n > arena_size)
		return 0;
	if (!n)
		n = 1; /* a block of its own, not the next block's header */
	uint64_t need = ((uint64_t)n + HDR + ALIGN - 1) & ~(uint64_t)(ALIGN - 1);
	for (struct block *b = (struct block *)arena; b; b = next_of(b)) {
		if (b->free != 1)
			continue;
		merge_after(b);
		if (b->size < need)
			continue;
		if (b->size - need >= HDR + ALIGN) {
			/* Split: the rest stays free. */
			struct block *rest = (struct block *)((uint8_t *)b + need);
			rest->size = b->size - need;
			rest->free = 1;
			b->size = need;
		}
		b->free = 0;
		used += b->size - HDR;
		return (uint8_t *)b + HDR;
	}
	return 0;
}

/* The block of payload p, or NULL if p is not one cg_malloc returned. */
static struct block *block_of(void *p)
{
	uint8_t *q = p;
	if (!arena || q < arena + HDR || q >= arena + arena_size || ((uintptr_t)q & (ALIGN - 1)))
		return 0;
	struct block *b = (struct block *)(q - HDR);
	return b->free == 0 && b->size <= arena_size ? b : 0;
}

void cg_free(void *p)
{
	struct block *b = p ? block_of(p) : 0;
	if (!b)
		return;
	b->free = 1;
	used -= b->size - HDR;
	merge_after(b);
}

void *cg_calloc(size_t count, size_t n)
{
	if (n && count > (size_t)-1 / n)
		return 0;
	void *p = cg_malloc(count * n);
	if (p)
		memset(p, 0, count * n);
	return p;
}

void *cg_realloc(void *p, size_t n)
{
	if (!p)
		return cg_malloc(n);
	struct block *b = block_of(p);
	if (!b)
		return 0;
	uint64_t have = b->size - HDR;
	if (n <= have)
		return p;
	void *q = cg_malloc(n);
	if (q) {
		memcpy(q, p, have);
		cg_free(p);
	}
	return q;
}

size_t cg_heap_used(void)
{
	return (size_t)used;
}

size_t cg_heap_largest_free(void)
{
	uint64_t best = 0;
	if (init())
		return 0;
	for (struct block *b = (struct block *)arena; b; b = next_of(b))
		if (b->free == 1) {
			merge_after(b);
			if (b->size - HDR > best)
				best = b->size - HDR;
		}
	return (size_t)best;
}
