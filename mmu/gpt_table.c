/*
 * gpt_table.c - the GPT domain and its table allocator.
 *
 * Tables come from 2 MiB-aligned slabs. The first SLAB_HDR_PAGES pages of a
 * slab hold the slab header and one struct gpt_meta per table; the other
 * pages are tables. So a table address (what the engine stores in entries)
 * finds its metadata with a mask and a shift: the leaf descriptor the COW
 * logic needs, with no side table, no lookup and 0.8% overhead.
 * Tables are also the engine's table addresses: host pointers, 4 KiB
 * aligned, below 2^47, so they fit PTE_ADDR_MASK.
 */
#include "gpt_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SLAB_BYTES     (2u << 20)
#define SLAB_HDR_PAGES 4u
#define SLAB_TABLES    (512u - SLAB_HDR_PAGES)
#define FREE_END       0xffffu

struct gpt_slab {
	struct gpt_slab *next, *prev; /* dom->avail list (slabs with a free table) */
	struct gpt_domain *dom;
	uint32_t nfree;
	uint16_t free_head;
	struct gpt_meta meta[SLAB_TABLES];
};
_Static_assert(sizeof(struct gpt_meta) == 32, "meta size");
_Static_assert(sizeof(struct gpt_slab) <= SLAB_HDR_PAGES * PT_TABLE_SIZE, "slab header");

static struct gpt_slab *slab_of(uint64_t table)
{
	return (struct gpt_slab *)(uintptr_t)(table & ~(uint64_t)(SLAB_BYTES - 1));
}
static unsigned slot_of(uint64_t table)
{
	return (unsigned)((table & (SLAB_BYTES - 1)) >> 12) - SLAB_HDR_PAGES;
}

struct gpt_meta *gpt_meta(uint64_t table)
{
	return &slab_of(table)->meta[slot_of(table)];
}

static void avail_unlink(struct gpt_domain *dom, struct gpt_slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		dom->avail = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

static void avail_push(struct gpt_domain *dom, struct gpt_slab *s)
{
	s->prev = NULL;
	s->next = dom->avail;
	if (dom->avail)
		dom->avail->prev = s;
	dom->avail = s;
}

int gpt_table_alloc(struct gpt_domain *dom, uint64_t *table)
{
	if (dom->cfg.table_fail && dom->cfg.table_fail(dom->cfg.table_fail_ctx))
		return -ENOMEM;
	pthread_mutex_lock(&dom->lock);
	struct gpt_slab *s = dom->avail;
	if (!s) {
		s = aligned_alloc(SLAB_BYTES, SLAB_BYTES);
		if (!s) {
			pthread_mutex_unlock(&dom->lock);
			return -ENOMEM;
		}
		memset(s, 0, sizeof(*s));
		s->dom = dom;
		s->nfree = SLAB_TABLES;
		for (unsigned i = 0; i < SLAB_TABLES; i++)
			s->meta[i].next_free = (uint16_t)(i + 1 < SLAB_TABLES ? i + 1 : FREE_END);
		s->free_head = 0;
		dom->nslabs++;
		avail_push(dom, s);
	}
	unsigned i = s->free_head;
	s->free_head = s->meta[i].next_free;
	if (--s->nfree == 0)
		avail_unlink(dom, s);
	dom->live_tables++;
	pthread_mutex_unlock(&dom->lock);

	uint64_t t = (uint64_t)(uintptr_t)s + (uint64_t)(i + SLAB_HDR_PAGES) * PT_TABLE_SIZE;
	memset(tab(t), 0, PT_TABLE_SIZE);
	/* The new table is private to the caller until it publishes it with a
	 * release store (L6), so plain initialisation is fine. */
	s->meta[i] = (struct gpt_meta){ .refcount = 1 };
	*table = t;
	return 0;
}

void gpt_table_free(struct gpt_domain *dom, uint64_t table)
{
	struct gpt_slab *s = slab_of(table);
	unsigned i = slot_of(table);
	pthread_mutex_lock(&dom->lock);
	s->meta[i].next_free = s->free_head;
	s->free_head = (uint16_t)i;
	if (s->nfree++ == 0)
		avail_push(dom, s);
	dom->live_tables--;
	if (s->nfree == SLAB_TABLES && dom->avail != s) {
		/* keep at most the head slab cached; give empty ones back */
		avail_unlink(dom, s);
		dom->nslabs--;
		free(s);
	} else if (s->nfree == SLAB_TABLES && s->next) {
		avail_unlink(dom, s);
		dom->nslabs--;
		free(s);
	}
	pthread_mutex_unlock(&dom->lock);
}

/* struct pt_ops over the slabs, so the engine (pt_init, pt_walk) runs on
 * GPT tables unchanged. */
static int ops_alloc(void *ctx, uint64_t *table) { return gpt_table_alloc(ctx, table); }
static void ops_free(void *ctx, uint64_t table) { gpt_table_free(ctx, table); }
static pte_t *ops_ptr(void *ctx, uint64_t table)
{
	(void)ctx;
	return table ? tab(table) : NULL;
}

int gpt_domain_create(const struct gpt_domain_config *cfg, struct gpt_domain **out)
{
	if (!cfg || !cfg->fs || !cfg->fs->alloc || !cfg->fs->get || !cfg->fs->put || !cfg->fs->copy)
		return -EINVAL;
	struct gpt_domain *dom = calloc(1, sizeof(*dom));
	if (!dom)
		return -ENOMEM;
	dom->cfg = *cfg;
	dom->ops = (struct pt_ops){ ops_alloc, ops_free, ops_ptr };
	int r = pthread_mutex_init(&dom->lock, NULL);
	if (r) {
		free(dom);
		return -r;
	}
	*out = dom;
	return 0;
}

uint64_t gpt_domain_live_tables(struct gpt_domain *dom)
{
	pthread_mutex_lock(&dom->lock);
	uint64_t n = dom->live_tables;
	pthread_mutex_unlock(&dom->lock);
	return n;
}

int gpt_domain_destroy(struct gpt_domain *dom)
{
	pthread_mutex_lock(&dom->lock);
	bool busy = dom->live_tables || dom->live_gpts;
	pthread_mutex_unlock(&dom->lock);
	if (busy)
		return -EBUSY;
	while (dom->avail) {
		struct gpt_slab *s = dom->avail;
		avail_unlink(dom, s);
		free(s);
	}
	pthread_mutex_destroy(&dom->lock);
	free(dom);
	return 0;
}
