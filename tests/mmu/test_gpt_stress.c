/*
 * test_gpt_stress.c - multi-threaded GPT stress test, meant to run clean
 * under ThreadSanitizer (see docs/mmu.md for the tsan build).
 *
 * A snapshot P (32 MiB, 16 leaves, every page with known contents) is never
 * written after setup. At the same time:
 *   - NCLONE threads each own a clone of P and write random pages, so the
 *     clones break COW on the same shared leaves concurrently (copy at
 *     refcount > 1, reuse once the others have left); each also clones its
 *     own clone now and then, writes into the grandchild and destroys it, and
 *     resets chunks of its clone back to P;
 *   - one thread clones P and destroys the clone in a loop (refcount
 *     increments under P's lock racing with the other holders' decrements);
 *   - NVCPU threads fault within ONE GPT (a clone of P), each writing its own
 *     pages (page % NVCPU == id) spread over all the shared leaves.
 * Every thread checks what it reads against its own model; at the end all
 * contents are checked, everything is destroyed and nothing may leak.
 * Env: GPT_STRESS_SEED, GPT_STRESS_ITERS.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt.h"
#include "gpt_mock.h"

#define MB (1ull << 20)
#define PG 4096ull
#define SIZE (32 * MB)
#define NPAGES (SIZE / PG)
#define NCLONE 4
#define NVCPU 4
#define FRAMES (1u << 17)

static struct gpt_mock M;
static struct gpt *P, *G;
static uint64_t seed;
static int iters;
static int failed;

#define CHECK(cond, ...)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "FAIL seed=%" PRIu64 ": %s: ", seed, #cond);        \
			fprintf(stderr, __VA_ARGS__);                                     \
			fprintf(stderr, "\n");                                            \
			__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);                   \
			return NULL;                                                      \
		}                                                                         \
	} while (0)

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

/* page contents: first and last word carry the value, the rest a pattern */
static void fill(uint8_t *d, uint32_t v)
{
	uint32_t *w = (uint32_t *)d;
	for (unsigned i = 0; i < 1024; i += 64)
		w[i] = v ^ i;
	w[1023] = v;
}
static int matches(const uint8_t *d, uint32_t v)
{
	const uint32_t *w = (const uint32_t *)d;
	for (unsigned i = 0; i < 1024; i += 64)
		if (w[i] != (v ^ i))
			return 0;
	return w[1023] == v;
}
static uint32_t base_val(uint64_t p) { return (uint32_t)p + 1; }

static int read_check(struct gpt *g, uint64_t p, uint32_t want)
{
	uint64_t f;
	if (gpt_lookup(g, p * PG, &f, NULL))
		return 0;
	return matches(gpt_mock_data(&M, f), want);
}

static int write_page(struct gpt *g, uint64_t p, uint32_t v)
{
	uint64_t f;
	int r = gpt_write_fault(g, p * PG, &f);
	if (r)
		return r;
	fill(gpt_mock_data(&M, f), v);
	return 0;
}

struct clone_arg {
	int id;
	struct gpt *c;
	uint32_t *model;
};

static void *clone_thread(void *argp)
{
	struct clone_arg *a = argp;
	uint64_t s = seed * 31 + (uint64_t)a->id + 1;
	for (int it = 0; it < iters; it++) {
		uint64_t p = rnd(&s) % NPAGES;
		unsigned k = rnd(&s) % 100;
		if (k < 70) {
			uint32_t v = 0x40000000u | ((uint32_t)a->id << 24) | (uint32_t)it;
			CHECK(write_page(a->c, p, v) == 0, "clone %d write", a->id);
			a->model[p] = v;
		} else if (k < 90) {
			CHECK(read_check(a->c, p, a->model[p]), "clone %d page %" PRIu64, a->id, p);
		} else if (k < 95) {
			/* grandchild: shares our leaves (and P's), written, destroyed */
			struct gpt *gc;
			CHECK(gpt_clone(a->c, &gc) == 0, "grandchild");
			for (int j = 0; j < 16; j++) {
				uint64_t q = rnd(&s) % NPAGES;
				CHECK(write_page(gc, q, 0x7f000000u | (uint32_t)j) == 0, "gc write");
				CHECK(read_check(a->c, q, a->model[q]), "parent sees child write");
			}
			gpt_destroy(gc);
		} else {
			uint64_t c = (rnd(&s) % (SIZE / GPT_LEAF_SIZE)) * GPT_LEAF_SIZE;
			CHECK(gpt_reset_range(a->c, P, c, GPT_LEAF_SIZE) == 0, "reset");
			for (uint64_t q = c / PG; q < (c + GPT_LEAF_SIZE) / PG; q++)
				a->model[q] = base_val(q);
		}
	}
	return NULL;
}

static void *churn_thread(void *argp)
{
	(void)argp;
	for (int it = 0; it < iters / 8; it++) {
		struct gpt *c;
		CHECK(gpt_clone(P, &c) == 0, "churn clone");
		if (it % 2)
			CHECK(write_page(c, (uint64_t)it % NPAGES, 1) == 0, "churn write");
		gpt_destroy(c);
	}
	return NULL;
}

struct vcpu_arg {
	int id;
	uint32_t *model; /* shared array, each thread only its own pages */
};

static void *vcpu_thread(void *argp)
{
	struct vcpu_arg *a = argp;
	uint64_t s = seed * 77 + (uint64_t)a->id + 1;
	for (int it = 0; it < iters; it++) {
		uint64_t p = (rnd(&s) % (NPAGES / NVCPU)) * NVCPU + (uint64_t)a->id;
		if (rnd(&s) % 4) {
			uint32_t v = 0x20000000u | ((uint32_t)a->id << 24) | (uint32_t)it;
			CHECK(write_page(G, p, v) == 0, "vcpu %d write", a->id);
			a->model[p] = v;
		} else {
			CHECK(read_check(G, p, a->model[p]), "vcpu %d page %" PRIu64, a->id, p);
		}
	}
	return NULL;
}

int main(void)
{
	const char *e = getenv("GPT_STRESS_SEED");
	seed = e ? strtoull(e, NULL, 0) : 7;
	e = getenv("GPT_STRESS_ITERS");
	iters = e ? atoi(e) : 20000;
	printf("gpt stress: seed=%" PRIu64 " iters=%d (GPT_STRESS_SEED, GPT_STRESS_ITERS)\n", seed, iters);
	if (gpt_mock_init(&M, FRAMES, true) || gpt_create(M.dom, &P) ||
	    gpt_populate(P, 0, SIZE, GPT_WRITABLE)) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	for (uint64_t p = 0; p < NPAGES; p++) {
		uint64_t f;
		gpt_lookup(P, p * PG, &f, NULL);
		fill(gpt_mock_data(&M, f), base_val(p));
	}
	struct clone_arg ca[NCLONE];
	for (int i = 0; i < NCLONE; i++) {
		ca[i].id = i;
		ca[i].model = malloc(NPAGES * sizeof(uint32_t));
		for (uint64_t p = 0; p < NPAGES; p++)
			ca[i].model[p] = base_val(p);
		if (gpt_clone(P, &ca[i].c))
			return 1;
	}
	uint32_t *vmodel = malloc(NPAGES * sizeof(uint32_t));
	for (uint64_t p = 0; p < NPAGES; p++)
		vmodel[p] = base_val(p);
	if (gpt_clone(P, &G))
		return 1;
	struct vcpu_arg va[NVCPU];

	pthread_t th[NCLONE + NVCPU + 1];
	int n = 0;
	for (int i = 0; i < NCLONE; i++)
		pthread_create(&th[n++], NULL, clone_thread, &ca[i]);
	for (int i = 0; i < NVCPU; i++) {
		va[i] = (struct vcpu_arg){ i, vmodel };
		pthread_create(&th[n++], NULL, vcpu_thread, &va[i]);
	}
	pthread_create(&th[n++], NULL, churn_thread, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	if (failed)
		return 1;

	/* final check of every page of every GPT, then tear down */
	for (uint64_t p = 0; p < NPAGES; p++) {
		if (!read_check(P, p, base_val(p)) || !read_check(G, p, vmodel[p])) {
			fprintf(stderr, "FAIL final page %" PRIu64 "\n", p);
			return 1;
		}
		for (int i = 0; i < NCLONE; i++)
			if (!read_check(ca[i].c, p, ca[i].model[p])) {
				fprintf(stderr, "FAIL final clone %d page %" PRIu64 "\n", i, p);
				return 1;
			}
	}
	struct gpt_stats st;
	uint64_t copies = 0, reuses = 0;
	for (int i = 0; i < NCLONE; i++) {
		gpt_get_stats(ca[i].c, &st);
		copies += st.breaks_copy;
		reuses += st.breaks_reuse;
		gpt_destroy(ca[i].c);
		free(ca[i].model);
	}
	gpt_get_stats(G, &st);
	printf("gpt stress: clones broke COW %" PRIu64 " times by copy, %" PRIu64 " by reuse; one-GPT: %" PRIu64 " copies\n",
	       copies, reuses, st.breaks_copy);
	gpt_destroy(G);
	gpt_destroy(P);
	free(vmodel);
	if (gpt_domain_live_tables(M.dom) || gpt_mock_live(&M) || M.underflows) {
		fprintf(stderr, "FAIL leak: tables %" PRIu64 " frames %" PRIu64 "\n",
		        gpt_domain_live_tables(M.dom), gpt_mock_live(&M));
		return 1;
	}
	if (gpt_mock_fini(&M) != 0)
		return 1;
	printf("gpt stress: PASS\n");
	return 0;
}
