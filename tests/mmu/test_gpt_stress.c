/*
 * test_gpt_stress.c - multi-threaded GPT stress test, meant to run clean
 * under ThreadSanitizer (tools/run_tests.sh).
 *
 * A snapshot P (32 MiB, 16 leaves, every page with known contents) is never
 * written after setup. At the same time:
 *   - NCLONE threads each own a clone of P and write random pages, so the
 *     clones break COW on the same shared leaves concurrently (copy at
 *     refcount > 1, reuse once the others have left); each also clones its
 *     own clone now and then, writes into the grandchild and destroys it, and
 *     resets chunks of its clone back to P;
 *   - one thread clones P and destroys the clone in a loop (refcount
 *     increments under P's lock racing with the other holders' decrements),
 *     and every third time clones one of the busy clones instead and writes
 *     into that copy while its owner writes on: its writes copy leaves the
 *     owner still holds, or reuse leaves the owner left behind with the
 *     owner's GPT_WRITTEN bits in them (cleared on the reuse); its written
 *     set must then be exactly the pages it wrote;
 *   - NVCPU threads fault within ONE GPT (a clone of P), each writing its own
 *     pages (page % NVCPU == id) spread over all the shared leaves.
 * Every thread checks what it reads against its own model, and the clone
 * threads check now and then that their written set (gpt_for_each_written)
 * is exactly the pages they wrote since their last reset of each chunk; at
 * the end all contents are checked, everything is destroyed and nothing may
 * leak.
 * One Criterion test. Env: GPT_STRESS_SEED (default 7), GPT_STRESS_ITERS
 * (default 20000 per thread). The meson suite 'stress' also runs it built
 * with ThreadSanitizer (build-tsan, tools/run_tests.sh).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt.h"
#include "gpt_mock.h"

/*
 * Test harness. Normally a Criterion test. Criterion cannot start under
 * ThreadSanitizer (its runner maps an inheritable arena at random fixed
 * addresses that collide with TSan's shadow, then crashes: Snaipe/Criterion
 * issue #274), so the TSan build (build-tsan, -DGPT_STRESS_TAP, see
 * tests/mmu/meson.build) compiles the same test body with a minimal TAP
 * runner instead; meson runs it with protocol 'tap' and
 * tools/test_summary.py counts TAP results like Criterion ones.
 */
#define TEST_NAME "gpt_stress::clones_and_vcpus_break_cow_concurrently"
#ifndef GPT_STRESS_TAP
#include <criterion/criterion.h>
#define REQUIRE(cond, ...) cr_assert(cond, __VA_ARGS__)
#define EXPECT(cond, ...) cr_expect(cond, __VA_ARGS__)
#define NOTE(...) cr_log_info(__VA_ARGS__)
#else
static int tap_expect_failed;
#define TAP_DIAG(...)                              \
	do {                                       \
		printf("# ");                      \
		printf(__VA_ARGS__);               \
		printf("\n");                      \
	} while (0)
#define REQUIRE(cond, ...)                                                     \
	do {                                                                   \
		if (!(cond)) {                                                 \
			TAP_DIAG("%s:%d: %s", __FILE__, __LINE__, #cond);      \
			TAP_DIAG(__VA_ARGS__);                                 \
			printf("not ok 1 - %s\n", TEST_NAME);                  \
			fflush(stdout);                                        \
			exit(1);                                               \
		}                                                              \
	} while (0)
#define EXPECT(cond, ...)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			TAP_DIAG("%s:%d: %s", __FILE__, __LINE__, #cond);      \
			TAP_DIAG(__VA_ARGS__);                                 \
			tap_expect_failed = 1;                                 \
		}                                                              \
	} while (0)
#define NOTE(...) TAP_DIAG(__VA_ARGS__)
#endif

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

/* Worker threads cannot fail a Criterion test themselves (the abort is a
 * longjmp on the test's own thread), so a failed check records the first
 * message, tells every thread to stop, and the test thread asserts after
 * the join. */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char fail_msg[512];

static void record_failure(const char *cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void record_failure(const char *cond, const char *fmt, ...)
{
	pthread_mutex_lock(&fail_lock);
	if (!__atomic_load_n(&failed, __ATOMIC_RELAXED)) {
		int n = snprintf(fail_msg, sizeof(fail_msg), "seed=%" PRIu64 ": %s: ", seed, cond);
		if (n < 0 || n >= (int)sizeof(fail_msg))
			n = 0;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(fail_msg + n, sizeof(fail_msg) - (size_t)n, fmt, ap);
		va_end(ap);
		__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&fail_lock);
}
static bool stop(void) { return __atomic_load_n(&failed, __ATOMIC_RELAXED); }

#define CHECK(cond, ...)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			record_failure(#cond, __VA_ARGS__);                               \
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
	uint8_t *written; /* written since the last reset of the page's chunk */
};
static struct clone_arg ca[NCLONE];

/* Collect a written set into a page bitmap. */
struct wset {
	uint8_t *seen;
	uint64_t n, bad;
};
static int mark_written(void *arg, uint64_t gpa, uint64_t frame)
{
	(void)frame;
	struct wset *w = arg;
	if (gpa / PG >= NPAGES) {
		w->bad++;
		return 0;
	}
	w->seen[gpa / PG]++;
	w->n++;
	return 0;
}
/* 0 if g's written set is exactly the pages with want[p] != 0, else the
 * first page that differs + 1 (or NPAGES + 1 for a page out of range). */
static uint64_t written_differs(struct gpt *g, const uint8_t *want, uint8_t *scratch)
{
	memset(scratch, 0, NPAGES);
	struct wset w = { .seen = scratch };
	if (gpt_for_each_written(g, 0, GPT_GPA_LIMIT, mark_written, &w) || w.bad)
		return NPAGES + 1;
	for (uint64_t p = 0; p < NPAGES; p++)
		if (scratch[p] != (want[p] != 0))
			return p + 1;
	return 0;
}

static void *clone_thread(void *argp)
{
	struct clone_arg *a = argp;
	uint64_t s = seed * 31 + (uint64_t)a->id + 1;
	uint8_t scratch[NPAGES];
	for (int it = 0; it < iters && !stop(); it++) {
		uint64_t p = rnd(&s) % NPAGES;
		unsigned k = rnd(&s) % 100;
		if (k < 70) {
			uint32_t v = 0x40000000u | ((uint32_t)a->id << 24) | (uint32_t)it;
			CHECK(write_page(a->c, p, v) == 0, "clone %d write", a->id);
			a->model[p] = v;
			a->written[p] = 1;
		} else if (k < 90) {
			CHECK(read_check(a->c, p, a->model[p]), "clone %d page %" PRIu64, a->id, p);
			if (k == 89) {
				uint64_t d = written_differs(a->c, a->written, scratch);
				CHECK(d == 0, "clone %d: written set differs at page %" PRIu64, a->id, d - 1);
			}
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
			for (uint64_t q = c / PG; q < (c + GPT_LEAF_SIZE) / PG; q++) {
				a->model[q] = base_val(q);
				a->written[q] = 0;
			}
		}
	}
	return NULL;
}

static uint64_t churn_reuses; /* read after the join */

static void *churn_thread(void *argp)
{
	(void)argp;
	uint64_t s = seed * 131 + 7;
	uint8_t want[NPAGES], scratch[NPAGES];
	for (int it = 0; it < iters / 8 && !stop(); it++) {
		struct gpt *c;
		bool of_clone = it % 3 == 2;
		/* ca[i].c is fixed for the whole run; its thread works on it
		 * meanwhile (calls on one GPT serialise on its lock) */
		CHECK(gpt_clone(of_clone ? ca[(it / 3) % NCLONE].c : P, &c) == 0, "churn clone");
		if (of_clone) {
			memset(want, 0, sizeof(want));
			for (int j = 0; j < 8; j++) {
				uint64_t q = rnd(&s) % NPAGES;
				CHECK(write_page(c, q, 0x10000000u | (uint32_t)j) == 0, "churn write");
				want[q] = 1;
			}
			uint64_t d = written_differs(c, want, scratch);
			CHECK(d == 0, "clone of a clone: written set differs at page %" PRIu64, d - 1);
			struct gpt_stats st;
			gpt_get_stats(c, &st);
			churn_reuses += st.breaks_reuse;
		} else if (it % 2) {
			CHECK(write_page(c, (uint64_t)it % NPAGES, 1) == 0, "churn write");
		}
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
	for (int it = 0; it < iters && !stop(); it++) {
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

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

/* The whole mix at once; ~1 s natively, ~15 s under ThreadSanitizer. */
static void stress_body(void)
{
	seed = env_u64("GPT_STRESS_SEED", 7);
	iters = (int)env_u64("GPT_STRESS_ITERS", 20000);
	NOTE("gpt stress: seed=%" PRIu64 " iters=%d (GPT_STRESS_SEED, GPT_STRESS_ITERS)", seed, iters);
	REQUIRE(gpt_mock_init(&M, FRAMES, true) == 0, "mock init");
	REQUIRE(gpt_create(M.dom, &P) == 0, "create P");
	REQUIRE(gpt_populate(P, 0, SIZE, GPT_WRITABLE) == 0, "populate P");
	for (uint64_t p = 0; p < NPAGES; p++) {
		uint64_t f;
		REQUIRE(gpt_lookup(P, p * PG, &f, NULL) == 0, "lookup page %" PRIu64, p);
		fill(gpt_mock_data(&M, f), base_val(p));
	}
	for (int i = 0; i < NCLONE; i++) {
		ca[i].id = i;
		ca[i].model = malloc(NPAGES * sizeof(uint32_t));
		ca[i].written = calloc(NPAGES, 1);
		REQUIRE(ca[i].model && ca[i].written, "malloc");
		for (uint64_t p = 0; p < NPAGES; p++)
			ca[i].model[p] = base_val(p);
		REQUIRE(gpt_clone(P, &ca[i].c) == 0, "clone %d", i);
	}
	uint32_t *vmodel = malloc(NPAGES * sizeof(uint32_t));
	REQUIRE(vmodel, "malloc");
	for (uint64_t p = 0; p < NPAGES; p++)
		vmodel[p] = base_val(p);
	REQUIRE(gpt_clone(P, &G) == 0, "clone G");
	struct vcpu_arg va[NVCPU];

	pthread_t th[NCLONE + NVCPU + 1];
	int n = 0;
	for (int i = 0; i < NCLONE; i++)
		REQUIRE(pthread_create(&th[n++], NULL, clone_thread, &ca[i]) == 0, "pthread_create");
	for (int i = 0; i < NVCPU; i++) {
		va[i] = (struct vcpu_arg){ i, vmodel };
		REQUIRE(pthread_create(&th[n++], NULL, vcpu_thread, &va[i]) == 0, "pthread_create");
	}
	REQUIRE(pthread_create(&th[n++], NULL, churn_thread, NULL) == 0, "pthread_create");
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	REQUIRE(!failed, "%s (replay: GPT_STRESS_SEED=%" PRIu64 ")", fail_msg, seed);

	/* final check of every page of every GPT, then tear down */
	for (uint64_t p = 0; p < NPAGES; p++) {
		REQUIRE(read_check(P, p, base_val(p)), "final: snapshot page %" PRIu64, p);
		REQUIRE(read_check(G, p, vmodel[p]), "final: vcpu GPT page %" PRIu64, p);
		for (int i = 0; i < NCLONE; i++)
			REQUIRE(read_check(ca[i].c, p, ca[i].model[p]), "final: clone %d page %" PRIu64, i, p);
	}
	struct gpt_stats st;
	uint64_t copies = 0, reuses = 0;
	for (int i = 0; i < NCLONE; i++) {
		gpt_get_stats(ca[i].c, &st);
		copies += st.breaks_copy;
		reuses += st.breaks_reuse;
		gpt_destroy(ca[i].c);
		free(ca[i].model);
		free(ca[i].written);
	}
	gpt_get_stats(G, &st);
	NOTE("gpt stress: clones broke COW %" PRIu64 " times by copy, %" PRIu64 " by reuse; one-GPT: %" PRIu64 " copies; "
	     "clones of busy clones reused %" PRIu64 " leaves",
	     copies, reuses, st.breaks_copy, churn_reuses);
	/* both break paths must have been exercised, or the test proves little */
	EXPECT(iters < 1000 || (copies > 0 && reuses > 0), "break-COW copy %" PRIu64 " reuse %" PRIu64, copies, reuses);
	gpt_destroy(G);
	gpt_destroy(P);
	free(vmodel);
	REQUIRE(gpt_domain_live_tables(M.dom) == 0, "tables leaked: %" PRIu64, gpt_domain_live_tables(M.dom));
	REQUIRE(gpt_mock_live(&M) == 0, "frames leaked: %" PRIu64, gpt_mock_live(&M));
	REQUIRE(M.underflows == 0, "frame refcount underflow");
	REQUIRE(gpt_mock_fini(&M) == 0, "fini");
}

#ifndef GPT_STRESS_TAP
Test(gpt_stress, clones_and_vcpus_break_cow_concurrently, .timeout = 500)
{
	stress_body();
}
#else
int main(void)
{
	printf("1..1\n");
	fflush(stdout);
	stress_body();
	printf("%s 1 - %s\n", tap_expect_failed ? "not ok" : "ok", TEST_NAME);
	return tap_expect_failed;
}
#endif
