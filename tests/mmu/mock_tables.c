/*
 * mock_tables.c - mock struct pt_ops over a private pool of 4 KiB tables
 * named by fake physical addresses. See mock_tables.h.
 */
#include "mock_tables.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOCK_POISON 0x5a5a5a5a5a5a5a5aull

uint64_t mock_table_addr(unsigned i)
{
	return MOCK_TABLE_BASE + (uint64_t)i * PT_TABLE_SIZE;
}

int mock_table_index(uint64_t addr)
{
	if (addr < MOCK_TABLE_BASE || (addr & (PT_TABLE_SIZE - 1)))
		return -1;
	uint64_t i = (addr - MOCK_TABLE_BASE) / PT_TABLE_SIZE;
	return i < MOCK_MAX_TABLES ? (int)i : -1;
}

bool mock_is_table(const struct mock_tables *m, uint64_t addr)
{
	int i = mock_table_index(addr);
	return i >= 0 && m->used[i];
}

pte_t *mock_table(struct mock_tables *m, uint64_t addr)
{
	return mock_is_table(m, addr) ? m->pool[mock_table_index(addr)] : NULL;
}

static int mock_alloc_table(void *ctx, uint64_t *table_addr)
{
	struct mock_tables *m = ctx;
	m->alloc_calls++;
	if (m->fail_in && --m->fail_in == 0) {
		m->failed_allocs++;
		return m->fail_errno;
	}
	for (unsigned i = 0; i < MOCK_MAX_TABLES; i++) {
		if (m->used[i])
			continue;
		m->used[i] = true;
		memset(m->pool[i], 0, PT_TABLE_SIZE);
		m->allocs++;
		m->live++;
		*table_addr = mock_table_addr(i);
		return 0;
	}
	m->failed_allocs++;
	return -ENOMEM;
}

static void mock_free_table(void *ctx, uint64_t table_addr)
{
	struct mock_tables *m = ctx;
	int i = mock_table_index(table_addr);
	if (i < 0 || !m->used[i]) {
		m->bad_frees++;
		return;
	}
	/* Poison it: a stale use through a kept host pointer shows up. */
	for (unsigned k = 0; k < PT_ENTRIES; k++)
		m->pool[i][k] = MOCK_POISON;
	m->used[i] = false;
	m->frees++;
	m->live--;
}

static pte_t *mock_table_ptr(void *ctx, uint64_t table_addr)
{
	return mock_table(ctx, table_addr);
}

const struct pt_ops mock_ops = {
	.alloc_table = mock_alloc_table,
	.free_table = mock_free_table,
	.table_ptr = mock_table_ptr,
};

void mock_init(struct mock_tables *m)
{
	memset(m, 0, sizeof(*m));
	m->pool = calloc(MOCK_MAX_TABLES, sizeof(*m->pool));
	if (!m->pool) {
		perror("mock_init");
		abort();
	}
	m->fail_errno = -ENOMEM;
}

void mock_fini(struct mock_tables *m)
{
	free(m->pool);
	m->pool = NULL;
}

void mock_fail_nth_alloc(struct mock_tables *m, unsigned n)
{
	m->fail_in = n;
}

/* Deliberately not pt_index()/pte_addr(): the reference walker must not
 * share code with the engine it checks. */
static unsigned ref_index(uint64_t va, int level)
{
	return (unsigned)(va >> (12 + 9 * (level - 1))) & 511u;
}

pte_t *mock_entry(struct mock_tables *m, uint64_t root, uint64_t va, int level)
{
	uint64_t table = root;
	for (int l = 4; l >= level; l--) {
		pte_t *t = mock_table(m, table);
		if (!t)
			return NULL;
		pte_t *slot = &t[ref_index(va, l)];
		if (l == level)
			return slot;
		pte_t e = *slot;
		if (!(e & PTE_P) || (l <= 3 && (e & PTE_PS)))
			return NULL;
		table = e & 0x000ffffffffff000ull;
	}
	return NULL;
}

pte_t mock_plant(struct mock_tables *m, uint64_t root, uint64_t va, int level, pte_t value)
{
	pte_t *slot = mock_entry(m, root, va, level);
	if (!slot) {
		fprintf(stderr, "mock_plant: no entry for va %#llx at level %d\n",
		        (unsigned long long)va, level);
		abort();
	}
	pte_t old = *slot;
	*slot = value;
	return old;
}

int mock_present_count(struct mock_tables *m, uint64_t addr)
{
	pte_t *t = mock_table(m, addr);
	if (!t)
		return -1;
	int n = 0;
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		n += (t[i] & PTE_P) != 0;
	return n;
}
