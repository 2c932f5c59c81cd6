/*
 * fuzz_targets.c - the guest-stub's fuzz targets (workload `fuzz`), compiled
 * with -fsanitize-coverage=trace-pc so every edge reaches AFL++ through the
 * coverage map (fuzz_rt.c). The workload prepares its state, asks for a
 * snapshot, then runs ONE input from the input buffer (struct
 * cowvm_fuzz_input) and exits 0; the VMM resets the guest to the snapshot
 * for the next input.
 *
 *   parser   a parser with planted bugs at increasing depth (each magic byte
 *            is its own branch, so coverage guides AFL byte by byte):
 *              "FUZZDIV0"            divide by zero        (#DE -> SIGFPE)
 *              "FUZZWRITE!" + u16 n  write n*16 bytes past a buffer that
 *                                    ends at a guard page   (#PF -> SIGSEGV)
 *              "FUZZASSERTION"       the target aborts      (SIGABRT)
 *              "FUZZLOOP"            a hang (the timeout stops it)
 *   warm     the same parser behind a large warm state: before the snapshot
 *            the guest fills `mib` MiB (default 256) of heap; every input
 *            first reads 512 pages of it (2 MiB), like a lookup in a big
 *            in-memory database, then goes to the parser
 *   syscall  TriforceAFL-style, in ring 0: the input is a sequence of
 *            3-byte records (nr, arg lo, arg hi) issued as system calls
 *            into the stub kernel (kernel_syscall.c; the gate is entry.S)
 */
#include "guest.h"

#define PAGE 4096ull

/* Compare byte i with c, as a branch of its own: the empty asm keeps gcc
 * from merging neighbouring compares into one wide load. */
#define EXPECT(i, c)                                                     \
	do {                                                             \
		if (n <= (i) || d[i] != (uint8_t)(c))                    \
			return 0;                                        \
		__asm__ volatile("" ::: "memory");                       \
	} while (0)

static volatile uint8_t *guard_buf; /* 256 bytes below an unmapped page */
static volatile uint64_t parse_sink; /* keeps results (and the divide) alive */

static int parse(const volatile uint8_t *d, uint64_t n)
{
	EXPECT(0, 'F');
	EXPECT(1, 'U');
	EXPECT(2, 'Z');
	EXPECT(3, 'Z');
	if (n > 4 && d[4] == 'D') {
		EXPECT(5, 'I');
		EXPECT(6, 'V');
		volatile uint64_t num = 1000, den = (uint64_t)(d[7] - '0');
		if (n > 7)
			parse_sink = num / den; /* d[7] == '0': divide error */
		return 0;
	}
	if (n > 4 && d[4] == 'W') {
		EXPECT(5, 'R');
		EXPECT(6, 'I');
		EXPECT(7, 'T');
		EXPECT(8, 'E');
		EXPECT(9, '!');
		if (n < 12)
			return 0;
		uint64_t len = ((uint64_t)d[10] | (uint64_t)d[11] << 8) * 16;
		for (uint64_t i = 0; i < len; i++) /* bug: no bound: runs into the guard page */
			guard_buf[i] = d[4 + i % 8];
		return 1;
	}
	if (n > 4 && d[4] == 'L') {
		EXPECT(5, 'O');
		EXPECT(6, 'O');
		EXPECT(7, 'P');
		for (;;) /* a planted hang: the fuzzer's timeout must stop it */
			__asm__ volatile("pause");
	}
	if (n > 4 && d[4] == 'A') {
		EXPECT(5, 'S');
		EXPECT(6, 'S');
		EXPECT(7, 'E');
		EXPECT(8, 'R');
		EXPECT(9, 'T');
		EXPECT(10, 'I');
		EXPECT(11, 'O');
		EXPECT(12, 'N');
		fuzz_abort();
	}
	return 0;
}

static volatile uint64_t *warm_table;
static uint64_t warm_words;

static uint64_t warm_lookup(const volatile uint8_t *d, uint64_t n)
{
	uint64_t h = COWVM_FOLD_INIT;
	for (uint64_t i = 0; i < n && i < 8; i++)
		h = cowvm_fold(h, d[i]);
	uint64_t sum = 0, stride = PAGE / 8;
	for (uint64_t i = 0; i < 512; i++)
		sum += warm_table[(h + i * stride) % warm_words];
	return sum;
}

static int64_t sys(uint64_t nr, uint64_t arg)
{
	int64_t r;
	/* The stub kernel's system-call gate (entry.S isr6): ud2 + "CS". */
	__asm__ volatile("ud2; .byte 0x43, 0x53" : "=a"(r) : "a"(nr), "D"(arg) : "memory");
	return r;
}

/* The workload in two halves, so the same code also builds as a native
 * AFL++ target (bench/fuzz/native/, bench/fuzz_native.sh): the state a
 * snapshot captures, then one input from the input buffer. */
int fuzz_target_prepare(const struct workload_env *env);
int fuzz_target_input(const struct workload_env *env);

static int fuzz_warm, fuzz_syscalls;

int fuzz_target_prepare(const struct workload_env *env)
{
	int bad = 0;
	const char *target = wl_arg(env, "target");
	uint64_t mib = wl_arg_u64(env, "mib", 256, &bad);
	fuzz_warm = target && cg_streq(target, "warm");
	fuzz_syscalls = target && cg_streq(target, "syscall");
	if (bad || !target || (!fuzz_warm && !fuzz_syscalls && !cg_streq(target, "parser"))) {
		cg_print("fuzz: target must be parser|warm|syscall\n");
		return 3;
	}
	uint64_t base = (env->heap_base + PAGE - 1) & ~(PAGE - 1);
	uint64_t avail = env->heap_size - (base - env->heap_base);
	if (fuzz_warm) {
		if (!mib || mib > avail >> 20) {
			cg_print("fuzz: mib must be 1..heap size\n");
			return 3;
		}
		warm_table = (volatile uint64_t *)(uintptr_t)base;
		warm_words = (mib << 20) / 8;
		for (uint64_t i = 0; i < warm_words; i++)
			warm_table[i] = cowvm_warm_value(i);
	}
	/* The output buffer ends at the top of RAM, which the page tables do
	 * not map beyond: its last 256 bytes sit right below a guard page. */
	guard_buf = (volatile uint8_t *)(uintptr_t)(env->out_base + env->out_size - 256);
	return 0;
}

int fuzz_target_input(const struct workload_env *env)
{
	const volatile struct cowvm_fuzz_input *in = (const volatile struct cowvm_fuzz_input *)(uintptr_t)env->in_base;
	uint64_t n = in->len;
	if (n > env->in_size - sizeof(*in))
		n = env->in_size - sizeof(*in);
	const volatile uint8_t *d = in->data;
	if (fuzz_syscalls) {
		for (uint64_t i = 0; i + 3 <= n; i += 3)
			sys(d[i], (uint64_t)d[i + 1] | (uint64_t)d[i + 2] << 8);
		return 0;
	}
	if (fuzz_warm)
		cg_report("fuzz.warm", warm_lookup(d, n));
	parse(d, n);
	return 0;
}

int wl_fuzz(const struct workload_env *env)
{
	int r = fuzz_target_prepare(env);
	if (r)
		return r;
	/* Coverage starts here: no instrumented code runs between this and
	 * the snapshot, so the map sees nothing of the warm-up and every
	 * clone starts from the same prev location. */
	fuzz_cov_init(env->cov_base, env->cov_size);
	int64_t id = cg_snapshot();
	(void)id; /* original or clone: both run the input */
	return fuzz_target_input(env);
}
