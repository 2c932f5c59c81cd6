/*
 * gpt_mock.h - a frame store for the GPT tests: real 4 KiB contents (so a
 * test can check reads byte for byte), per-frame refcounts, counters to
 * detect leaks and underflows, and failure injection for frame and table
 * allocations. Thread-safe.
 */
#ifndef COWVM_TESTS_GPT_MOCK_H
#define COWVM_TESTS_GPT_MOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gpt.h"

struct gpt_mock {
	pthread_mutex_t lock;    /* free list and data pointers */
	uint64_t cap;            /* frames 1..cap-1 */
	uint32_t *ref;           /* atomic per-frame refcount */
	uint8_t **data;          /* contents (NULL when !with_data) */
	uint64_t *free_list;
	uint64_t nfree, next_new;
	bool with_data;
	/* counters (atomic) */
	uint64_t live, allocs, copies, underflows;
	/* failure injection: >0 counts down successful allocations, the one
	 * that finds 1 fails and disarms; 0 = off */
	int64_t fail_frame, fail_table;
	struct frame_store_ops ops;
	struct gpt_domain *dom;
};

/* Create the mock and a domain over it. */
int gpt_mock_init(struct gpt_mock *m, uint64_t cap, bool with_data);
/* Destroy the domain (must be empty) and the mock. Returns the number of
 * frames still live (0 = no leak) or -1 if the domain is busy. */
long gpt_mock_fini(struct gpt_mock *m);
uint8_t *gpt_mock_data(struct gpt_mock *m, uint64_t frame);
uint32_t gpt_mock_ref(struct gpt_mock *m, uint64_t frame);
uint64_t gpt_mock_live(struct gpt_mock *m);
/* n fresh consecutive frames, first one aligned to align, ref 1 each. */
int gpt_mock_alloc_range(struct gpt_mock *m, uint64_t n, uint64_t align, uint64_t *first);
void gpt_mock_put(struct gpt_mock *m, uint64_t frame);
/* Make the (n)th frame / table allocation from now fail (n >= 1). */
void gpt_mock_fail_frame(struct gpt_mock *m, int64_t n);
void gpt_mock_fail_table(struct gpt_mock *m, int64_t n);

#endif
