/*
 * harness.c - guest-stub/fuzz_targets.c (the `parser` and `warm` targets)
 * as a native AFL++ target, built with afl-cc in LLVM mode by
 * bench/fuzz_native.sh, for the comparison in docs/fuzzing.md:
 *
 *   harness target=parser|warm [mib=N] [huge=0|1]
 *
 * The warm-up (fuzz_target_prepare: the warm state) runs once, then the
 * forkserver starts (__AFL_INIT: deferred), so each forked child begins
 * where the guest's snapshot does. Built with -DNATIVE_PERSISTENT, one
 * process runs input after input (__AFL_LOOP) instead of a fork each.
 * Inputs come from AFL's shared memory (as cowvm's do). The heap is
 * mmap'd and madvise'd MADV_NOHUGEPAGE (4 KiB pages) or, with huge=1,
 * MADV_HUGEPAGE (2 MiB transparent huge pages, touched before the fork).
 * The output buffer ends at a PROT_NONE page, like the guest's at the top
 * of RAM, so FUZZWRITE! faults the same way.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest.h"

#define MiB (1ull << 20)
#define HUGE (2ull << 20)
#define PAGE 4096ull
#define IN_SIZE (64ull << 10)

#ifndef __AFL_FUZZ_TESTCASE_LEN
/* Without afl-cc: one input from stdin, so the harness builds and runs
 * anywhere (a smoke test). */
static unsigned char stdin_buf[IN_SIZE];
static ssize_t stdin_len;
#define __AFL_FUZZ_INIT() int afl_fuzz_unused
#define __AFL_INIT() (stdin_len = read(0, stdin_buf, sizeof(stdin_buf)))
#define __AFL_FUZZ_TESTCASE_BUF stdin_buf
#define __AFL_FUZZ_TESTCASE_LEN (stdin_len < 0 ? 0 : stdin_len)
#define __AFL_LOOP(n) (loop_once++ == 0)
static int loop_once __attribute__((unused));
#endif

__AFL_FUZZ_INIT();

static int nargs;
static char **args;

const char *wl_arg(const struct workload_env *env, const char *key)
{
	(void)env;
	size_t k = strlen(key);
	for (int i = 0; i < nargs; i++)
		if (!strncmp(args[i], key, k) && args[i][k] == '=')
			return args[i] + k + 1;
	return NULL;
}

uint64_t wl_arg_u64(const struct workload_env *env, const char *key, uint64_t dflt, int *bad)
{
	const char *v = wl_arg(env, key);
	if (!v)
		return dflt;
	char *end;
	uint64_t n = strtoull(v, &end, 0);
	if (!*v || *end)
		*bad = 1;
	return n;
}

int cg_streq(const char *a, const char *b) { return !strcmp(a, b); }
void cg_print(const char *s) { fputs(s, stderr); }
static volatile uint64_t report_sink;
int cg_report(const char *key, uint64_t value)
{
	(void)key;
	report_sink = value;
	return 0;
}
int64_t cg_snapshot(void) { return 1; }
void fuzz_cov_init(uint64_t base, uint64_t size) { (void)base, (void)size; }
void fuzz_abort(void) { abort(); }

/* n bytes, 2 MiB aligned, with the page size asked for. */
static void *heap_map(uint64_t n, int huge)
{
	uint8_t *p = mmap(NULL, n + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uint8_t *a = (uint8_t *)(((uintptr_t)p + HUGE - 1) & ~(HUGE - 1));
	if (madvise(a, n, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		return NULL;
	return a;
}

int main(int argc, char **argv)
{
	nargs = argc - 1;
	args = argv + 1;
	int bad = 0;
	uint64_t mib = wl_arg_u64(NULL, "mib", 256, &bad);
	int huge = (int)wl_arg_u64(NULL, "huge", 0, &bad);
	const char *t = wl_arg(NULL, "target");
	uint64_t heap = t && !strcmp(t, "warm") ? (mib + 1) * MiB : MiB;
	struct workload_env env = { .ncpus = 1 };
	uint8_t *h = heap_map(heap, huge), *in = aligned_alloc(PAGE, IN_SIZE);
	/* The output buffer: one page, then a guard page. */
	uint8_t *out = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bad || !h || !in || out == MAP_FAILED || mprotect(out + PAGE, PAGE, PROT_NONE)) {
		fprintf(stderr, "harness: bad arguments or out of memory\n");
		return 3;
	}
	env.heap_base = (uintptr_t)h;
	env.heap_size = heap;
	env.in_base = (uintptr_t)in;
	env.in_size = IN_SIZE;
	env.out_base = (uintptr_t)out;
	env.out_size = PAGE;
	int r = fuzz_target_prepare(&env);
	if (r)
		return r;
	__AFL_INIT();
	unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
	struct cowvm_fuzz_input *fi = (struct cowvm_fuzz_input *)in;
#ifdef NATIVE_PERSISTENT
	while (__AFL_LOOP(100000)) {
#endif
		uint64_t len = (uint64_t)__AFL_FUZZ_TESTCASE_LEN;
		if (len > IN_SIZE - sizeof(*fi))
			len = IN_SIZE - sizeof(*fi);
		fi->len = len;
		memcpy(fi->data, buf, len);
		fuzz_target_input(&env);
#ifdef NATIVE_PERSISTENT
	}
#endif
	return 0;
}
