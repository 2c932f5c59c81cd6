/*
 * gpt_mock.c - mock frame store for the GPT tests (see gpt_mock.h).
 */
#include "gpt_mock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define AT_LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)

static bool take_failure(int64_t *ctr)
{
	int64_t v = __atomic_load_n(ctr, __ATOMIC_RELAXED);
	while (v > 0) {
		if (__atomic_compare_exchange_n(ctr, &v, v - 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return v == 1;
	}
	return false;
}

static int new_frame_locked(struct gpt_mock *m, uint64_t *frame)
{
	uint64_t f;
	if (m->nfree)
		f = m->free_list[--m->nfree];
	else if (m->next_new < m->cap)
		f = m->next_new++;
	else
		return -ENOMEM;
	if (m->with_data) {
		m->data[f] = calloc(1, 4096);
		if (!m->data[f]) {
			m->free_list[m->nfree++] = f;
			return -ENOMEM;
		}
	}
	__atomic_store_n(&m->ref[f], 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&m->live, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->allocs, 1, __ATOMIC_RELAXED);
	*frame = f;
	return 0;
}

static int m_alloc(void *ctx, uint64_t *frame)
{
	struct gpt_mock *m = ctx;
	if (take_failure(&m->fail_frame))
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	int r = new_frame_locked(m, frame);
	pthread_mutex_unlock(&m->lock);
	return r;
}

static void m_get(void *ctx, uint64_t f)
{
	struct gpt_mock *m = ctx;
	if (f == 0 || f >= m->cap || __atomic_fetch_add(&m->ref[f], 1, __ATOMIC_RELAXED) == 0)
		__atomic_add_fetch(&m->underflows, 1, __ATOMIC_RELAXED); /* get on a dead frame */
}

static void m_put(void *ctx, uint64_t f)
{
	struct gpt_mock *m = ctx;
	if (f == 0 || f >= m->cap) {
		__atomic_add_fetch(&m->underflows, 1, __ATOMIC_RELAXED);
		return;
	}
	uint32_t old = __atomic_fetch_sub(&m->ref[f], 1, __ATOMIC_ACQ_REL);
	if (old == 0) {
		__atomic_add_fetch(&m->underflows, 1, __ATOMIC_RELAXED);
		return;
	}
	if (old != 1)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->with_data) {
		free(m->data[f]);
		m->data[f] = NULL;
	}
	m->free_list[m->nfree++] = f;
	pthread_mutex_unlock(&m->lock);
	__atomic_sub_fetch(&m->live, 1, __ATOMIC_RELAXED);
}

static int m_copy(void *ctx, uint64_t dst, uint64_t src)
{
	struct gpt_mock *m = ctx;
	__atomic_add_fetch(&m->copies, 1, __ATOMIC_RELAXED);
	if (m->with_data)
		memcpy(gpt_mock_data(m, dst), gpt_mock_data(m, src), 4096);
	return 0;
}

static bool m_exclusive(void *ctx, uint64_t f)
{
	struct gpt_mock *m = ctx;
	return AT_LOAD(m->ref[f]) == 1;
}

static bool m_table_fail(void *ctx)
{
	return take_failure(&((struct gpt_mock *)ctx)->fail_table);
}

int gpt_mock_init(struct gpt_mock *m, uint64_t cap, bool with_data)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->cap = cap;
	m->next_new = 1;
	m->with_data = with_data;
	m->ref = calloc(cap, sizeof(*m->ref));
	m->free_list = calloc(cap, sizeof(*m->free_list));
	m->data = with_data ? calloc(cap, sizeof(*m->data)) : NULL;
	if (!m->ref || !m->free_list || (with_data && !m->data))
		return -ENOMEM;
	m->ops = (struct frame_store_ops){ m_alloc, m_get, m_put, m_copy, m_exclusive };
	struct gpt_domain_config cfg = { .fs = &m->ops, .fs_ctx = m,
	                                 .table_fail = m_table_fail, .table_fail_ctx = m };
	return gpt_domain_create(&cfg, &m->dom);
}

long gpt_mock_fini(struct gpt_mock *m)
{
	if (m->dom && gpt_domain_destroy(m->dom))
		return -1;
	long live = (long)m->live;
	if (m->with_data)
		for (uint64_t f = 0; f < m->cap; f++)
			free(m->data[f]);
	free(m->data);
	free(m->ref);
	free(m->free_list);
	pthread_mutex_destroy(&m->lock);
	return live;
}

uint8_t *gpt_mock_data(struct gpt_mock *m, uint64_t frame)
{
	pthread_mutex_lock(&m->lock);
	uint8_t *p = m->data ? m->data[frame] : NULL;
	pthread_mutex_unlock(&m->lock);
	return p;
}

uint32_t gpt_mock_ref(struct gpt_mock *m, uint64_t frame) { return AT_LOAD(m->ref[frame]); }
uint64_t gpt_mock_live(struct gpt_mock *m) { return AT_LOAD(m->live); }
void gpt_mock_put(struct gpt_mock *m, uint64_t frame) { m_put(m, frame); }
void gpt_mock_fail_frame(struct gpt_mock *m, int64_t n) { __atomic_store_n(&m->fail_frame, n, __ATOMIC_RELAXED); }
void gpt_mock_fail_table(struct gpt_mock *m, int64_t n) { __atomic_store_n(&m->fail_table, n, __ATOMIC_RELAXED); }

int gpt_mock_alloc_range(struct gpt_mock *m, uint64_t n, uint64_t align, uint64_t *first)
{
	pthread_mutex_lock(&m->lock);
	uint64_t f = (m->next_new + align - 1) / align * align;
	int r = 0;
	if (f + n > m->cap) {
		r = -ENOMEM;
	} else {
		/* frames skipped for alignment go to the free list */
		while (m->next_new < f)
			m->free_list[m->nfree++] = m->next_new++;
		for (uint64_t i = 0; i < n && !r; i++) {
			uint64_t got;
			m->next_new = f + i;
			uint64_t save = m->nfree;
			m->nfree = 0; /* force a fresh number */
			r = new_frame_locked(m, &got);
			m->nfree = save;
		}
		*first = f;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}
