/*
 * mock_tables.h - a mock struct pt_ops for the page-table engine tests.
 *
 * Tables live in a private pool and are named by fake "physical" addresses
 * (MOCK_TABLE_BASE + i * 4 KiB), never by host pointers: the engine can only
 * reach a table through table_ptr, so a test that passes proves it does.
 *
 * The mock keeps no global state: the test owns a struct mock_tables and
 * passes it as the ops context.
 */
#ifndef COWVM_TESTS_MOCK_TABLES_H
#define COWVM_TESTS_MOCK_TABLES_H

#include <stdbool.h>
#include <stdint.h>

#include "pt.h"

#define MOCK_MAX_TABLES 512
#define MOCK_TABLE_BASE 0x100000ull
/* A 4 KiB aligned address that fits an entry's address field but is not a
 * table of the pool: plant it to simulate a corrupt entry. */
#define MOCK_BAD_ADDR   0xdead000ull

struct mock_tables {
	pte_t (*pool)[PT_ENTRIES]; /* MOCK_MAX_TABLES tables */
	bool used[MOCK_MAX_TABLES];
	unsigned allocs;       /* successful alloc_table calls */
	unsigned frees;        /* valid free_table calls */
	unsigned live;         /* allocs - frees */
	unsigned alloc_calls;  /* every alloc_table call, failed ones too */
	unsigned failed_allocs;
	unsigned bad_frees;    /* free_table of an address that is not a live table */
	unsigned fail_in;      /* 0: off; n: the n-th alloc from now fails */
	int fail_errno;        /* error returned by the injected failure */
};

extern const struct pt_ops mock_ops;

void mock_init(struct mock_tables *m);
void mock_fini(struct mock_tables *m);

/* Make the n-th alloc_table call from now (n >= 1) fail with -ENOMEM;
 * n == 0 turns injection off. One-shot. */
void mock_fail_nth_alloc(struct mock_tables *m, unsigned n);

/* Pool address of table i, and the reverse (-1 if not a pool address). */
uint64_t mock_table_addr(unsigned i);
int mock_table_index(uint64_t addr);
/* True if addr names a live (allocated) table of the pool. */
bool mock_is_table(const struct mock_tables *m, uint64_t addr);
/* Table address -> entries, NULL unless addr is a live table. */
pte_t *mock_table(struct mock_tables *m, uint64_t addr);

/*
 * Independent reference walker (does not use the engine): pointer to the
 * entry for va at `level` (4..1) starting from root, or NULL if a table on
 * the way is missing, is a large leaf, or is not a live pool table.
 */
pte_t *mock_entry(struct mock_tables *m, uint64_t root, uint64_t va, int level);
/* Overwrite that entry (e.g. with MOCK_BAD_ADDR | PTE_P); returns the old
 * value. The entry must exist (aborts otherwise). */
pte_t mock_plant(struct mock_tables *m, uint64_t root, uint64_t va, int level, pte_t value);
/* Number of present entries in the table at addr (-1 if not a table). */
int mock_present_count(struct mock_tables *m, uint64_t addr);

#endif
