/*
 * test_linux_fuzz.c - fuzzing the Linux kernel through cowvm (issue 15;
 * suite 'linux': runs inside QEMU with nested KVM, see tools/run_tests.sh).
 * The guest is the fuzzing kernel (tools/fuzz_kernel.sh: KCOV, the planted
 * /proc/cowvm_bug) with the test initramfs, whose init runs
 * `cowvm-agent fuzz` (cowvm.test=fuzz).
 *
 *  coverage   through the library (fuzz.h), one boot: an empty program has
 *             no kernel edges at all (KCOV counts the program's system
 *             calls, nothing else); a program's edges are many and the same
 *             after every reset (the stability figure is printed); two
 *             programs differ; bytes that are no program run nothing.
 *  modes      seed 0 twice in a fresh VM per input and in a cold boot per
 *             input (the baselines): the same edges as with the reset.
 *  replay     `cowvm replay` of a seed, the planted bug's program, the seed,
 *             the planted warning's program, the seed: exit 0; a crash whose
 *             headline is the kernel's NULL dereference report and whose
 *             console names cowvm_bug_trigger; exit 0 again on the reset
 *             guest; a crash from the console hook (a WARN, no panic);
 *             exit 0. Exit status 1 (a crash).
 *  afl        afl-fuzz -V 90 on three seeds: it executes inputs and finds new
 *             coverage (corpus beyond the seeds), the stability AFL measures
 *             is printed.
 *  find       (built as test_linux_fuzz_find, -DKFUZZ_FIND, suite
 *             'linux-slow', run by hand: it may take minutes) afl-fuzz from
 *             the same seeds and the dictionary, with AFL's
 *             deterministic stages and its queue in order (-D -Z: bit flips
 *             walk the first seed, bug-near, one bit away from the bug, before
 *             anything else; with AFL's weighted-random queue the crash came
 *             after 26 s in one run and after more than 6 minutes in
 *             another), until its first crash
 *             (AFL_BENCH_UNTIL_CRASH, at most 15 minutes): the crash
 *             is the planted bug (the console text fuzz-target kept for it
 *             names cowvm_bug_trigger, and `cowvm replay` of AFL's saved
 *             input reports the NULL dereference again).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../vmm/kvm_test_util.h"
#include "fuzz.h"
#include "spawn.h"

#define MAP 65536u
#define REPEAT 5

static const char *need_env(const char *name)
{
	const char *p = getenv(name);
	if (!p || access(p, R_OK))
		cr_skip_test("%s is not set or not readable (tools/run_tests.sh sets up the Linux guests)", name);
	return p;
}

static const char *fuzz_cmdline(void)
{
	static char buf[512];
	snprintf(buf, sizeof(buf), "%s cowvm.test=fuzz", FUZZ_LINUX_CMDLINE);
	return buf;
}

static unsigned edges(const uint8_t *m)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MAP; i++)
		n += m[i] != 0;
	return n;
}

static unsigned common(const uint8_t *a, const uint8_t *b)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MAP; i++)
		n += a[i] && b[i];
	return n;
}

static void run_one(struct fuzz *f, uint8_t *map, const void *in, size_t len, const char *what)
{
	struct vm_result res;
	struct vmm_err e = { 0 };
	memset(map, 0, MAP); /* AFL clears its map before every run */
	cr_assert_eq(fuzz_exec(f, in, len, &res, &e), 0, "%s: %s", what, e.msg);
	size_t clen;
	const char *con = fuzz_console(f, &clen, NULL);
	cr_assert_eq(res.end, VM_END_EXIT, "%s ended as %d (%s); console:\n%.*s", what, res.end, res.msg,
	             (int)clen, con);
	cr_assert_eq(res.status, 0, "%s: agent status %d", what, res.status);
}

#ifndef KFUZZ_FIND
Test(kfuzz, coverage_is_the_programs_kernel_edges_and_stable, .timeout = 1500)
{
	size_t klen, ilen, alen, blen;
	void *kernel = slurp(need_env("LINUX_FUZZ_KERNEL"), &klen);
	void *initrd = slurp(need_env("LINUX_INITRD"), &ilen);
	void *a = slurp(need_env("FUZZ_SEED_0"), &alen);
	void *b = slurp(need_env("FUZZ_SEED_1"), &blen);
	uint8_t *map = aligned_alloc(4096, MAP), *first = malloc(MAP), *other = malloc(MAP);
	struct fuzz_config c = { .kernel = kernel, .kernel_len = klen, .initrd = initrd, .initrd_len = ilen,
	                         .cmdline = fuzz_cmdline(), .cov = map, .cov_size = MAP,
	                         .timeout_ms = 60000 };
	struct fuzz *f;
	struct vmm_err e = { 0 };
	cr_assert_eq(fuzz_open(&c, &f, &e), 0, "fuzz_open: %s", e.msg);

	/* No program (header only, zero calls), and bytes that are not one. */
	static const uint8_t empty[8] = { 'C', 'S', 'Y', 'S', 1, 0, 0, 0 };
	cr_assert_eq(memcmp(empty, a, 6), 0, "FUZZ_SEED_0 does not start with the format's magic and version");
	run_one(f, map, empty, sizeof(empty), "empty program");
	cr_assert_eq(edges(map), 0, "an empty program has %u kernel edges: KCOV saw more than the program",
	             edges(map));
	run_one(f, map, "garbage, no magic", 17, "garbage");
	cr_assert_eq(edges(map), 0);

	/* Seed 0, REPEAT times: the same edges after every reset. */
	run_one(f, map, a, alen, "seed 0");
	memcpy(first, map, MAP);
	unsigned n0 = edges(first), worst = n0;
	cr_assert_gt(n0, 20, "seed 0 has only %u edges", n0);
	for (int i = 1; i < REPEAT; i++) {
		run_one(f, map, a, alen, "seed 0 again");
		unsigned same = common(first, map);
		unsigned uni = n0 + edges(map) - same;
		if (same < worst)
			worst = same;
		printf("kfuzz: seed 0 run %d: %u edges, %u shared with run 0 (of %u in either)\n", i + 1,
		       edges(map), same, uni);
		/* Interrupts are not in KCOV's trace, but a timer tick can still
		 * move the task (e.g. a page fault retried): allow a little. */
		cr_assert_geq(same * 100, uni * 90, "run %d shares only %u of %u edges with run 0", i + 1, same, uni);
	}
	run_one(f, map, b, blen, "seed 1");
	memcpy(other, map, MAP);
	cr_assert_gt(edges(other), 20);
	/* Different system calls, different kernel code: at least a fifth of
	 * the edges of either is not the other's. */
	unsigned both = common(first, other), uni = edges(first) + edges(other) - both;
	printf("kfuzz: seed 0 %u edges, seed 1 %u edges, %u shared\n", edges(first), edges(other), both);
	cr_assert_leq(both * 5, uni * 4, "seed 0 and seed 1 share %u of %u edges", both, uni);
	struct fuzz_stats st;
	fuzz_get_stats(f, &st);
	printf("kfuzz: stability of seed 0 over %d resets: %.1f%% of its edges in every run; "
	       "%llu inputs, run %.1f ms, reset %.1f ms per input\n",
	       REPEAT, 100.0 * worst / n0, (unsigned long long)st.inputs, st.ns_run / 1e6 / st.inputs,
	       (st.ns_reset_machine + st.ns_reset_memory + st.ns_reset_rest) / 1e6 / st.inputs);
	fuzz_close(f);
	free(kernel);
	free(initrd);
	free(a);
	free(b);
	free(map);
	free(first);
	free(other);
}
#endif

/* Seed 0's edges in one engine of mode m (one input after one boot). */
static void mode_edges(enum fuzz_reset m, uint8_t *map)
{
	size_t klen, ilen, alen;
	void *kernel = slurp(need_env("LINUX_FUZZ_KERNEL"), &klen);
	void *initrd = slurp(need_env("LINUX_INITRD"), &ilen);
	void *a = slurp(need_env("FUZZ_SEED_0"), &alen);
	struct fuzz_config c = { .kernel = kernel, .kernel_len = klen, .initrd = initrd, .initrd_len = ilen,
	                         .cmdline = fuzz_cmdline(), .cov = map, .cov_size = MAP, .timeout_ms = 60000,
	                         .reset = m };
	struct fuzz *f;
	struct vmm_err e = { 0 };
	cr_assert_eq(fuzz_open(&c, &f, &e), 0, "fuzz_open (%s): %s", fuzz_reset_name(m), e.msg);
	run_one(f, map, a, alen, fuzz_reset_name(m));
	/* A second input: a fresh VM again, or (boot) a second boot. */
	run_one(f, map, a, alen, fuzz_reset_name(m));
	fuzz_close(f);
	free(kernel);
	free(initrd);
	free(a);
}

#ifndef KFUZZ_FIND
Test(kfuzz, fresh_vm_and_cold_boot_modes_give_the_same_coverage, .timeout = 1500)
{
	uint8_t *cow = aligned_alloc(4096, MAP), *fresh = aligned_alloc(4096, MAP), *boot = aligned_alloc(4096, MAP);
	mode_edges(FUZZ_RESET_COW, cow);
	mode_edges(FUZZ_RESET_FRESH, fresh);
	mode_edges(FUZZ_RESET_BOOT, boot);
	unsigned n = edges(cow);
	printf("kfuzz: seed 0 edges: cow %u, fresh %u (%u shared), boot %u (%u shared)\n", n, edges(fresh),
	       common(cow, fresh), edges(boot), common(cow, boot));
	cr_assert_gt(n, 20);
	/* The same snapshot: the same code runs. */
	cr_assert_geq(common(cow, fresh) * 100, (n + edges(fresh) - common(cow, fresh)) * 90);
	/* A cold boot reaches the same point by another road: the caches
	 * the program meets may differ a little, so less strictly. */
	cr_assert_geq(common(cow, boot) * 100, (n + edges(boot) - common(cow, boot)) * 75);
	free(cow);
	free(fresh);
	free(boot);
}
#endif

#ifndef KFUZZ_FIND
Test(kfuzz, replay_reports_the_planted_bug_and_runs_on, .timeout = 1500)
{
	const char *seed = need_env("FUZZ_SEED_0"), *crash = need_env("FUZZ_CRASH"), *warn = need_env("FUZZ_WARN");
	const char *argv[] = { need_env("COWVM_BIN"), "replay", "--kernel", need_env("LINUX_FUZZ_KERNEL"),
	                       "--initrd", need_env("LINUX_INITRD"), "--cmdline", fuzz_cmdline(),
	                       seed, crash, seed, warn, seed, NULL };
	static struct spawn s;
	cr_assert_eq(spawn_start(&s, argv), 0);
	spawn_wait_exit(&s, 1200);
	char how[64], tail[4096];
	cr_assert(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 1, "replay: %s\n%s", spawn_how(&s, how, sizeof(how)),
	          spawn_tail(&s, tail, sizeof(tail)));
	/* seed, then the oops (a reset: SEGV), then the seed on the reset
	 * guest, then the warning (the console hook: ABRT), then the seed. */
	char want[5][600];
	snprintf(want[0], sizeof(want[0]), "%s: exit 0\n", seed);
	snprintf(want[1], sizeof(want[1]), "%s: CRASH SEGV: kernel: BUG: kernel NULL pointer dereference, address: 0000000000000000\n", crash);
	snprintf(want[2], sizeof(want[2]), "--- end of guest console ---\n%s: exit 0\n", seed);
	snprintf(want[3], sizeof(want[3]), "%s: CRASH ABRT: kernel: WARNING: CPU: 0 PID: ", warn);
	snprintf(want[4], sizeof(want[4]), "--- end of guest console ---\n%s: exit 0\n", seed);
	const char *at = s.out;
	cr_assert(!strncmp(s.out, want[0], strlen(want[0])), "the first line is not the seed's:\n%s", s.out);
	for (int i = 1; i < 5; i++) {
		const char *p = strstr(at, want[i]);
		cr_assert_not_null(p, "missing, in order: '%s'\nin:\n%s", want[i], s.out);
		at = p + strlen(want[i]);
	}
	const char *oops = strstr(s.out, want[1]), *after = strstr(oops, want[2]);
	const char *trig = strstr(oops, "RIP: 0010:cowvm_bug_trigger+");
	cr_assert(trig && trig < after, "the oops' console does not name cowvm_bug_trigger:\n%s", s.out);
	const char *w = strstr(s.out, want[3]), *wend = strchr(w, '\n');
	const char *at_file = strstr(w, " at kernel/cowvm_bug.c:");
	cr_assert(at_file && at_file < wend, "the warning's line does not name kernel/cowvm_bug.c:\n%s", s.out);
	cr_assert_not_null(strstr(w, "cowvm_bug: the planted warning"));
	/* A clean run prints no console. */
	cr_assert_eq(strncmp(s.out + strlen(want[0]), "--- guest console", 17) == 0, 0);
	spawn_end(&s);
}
#endif

static int read_stat(const char *stats, const char *key, char *val, size_t n)
{
	const char *p = strstr(stats, key);
	if (!p)
		return -1;
	p = strchr(p, ':');
	if (!p)
		return -1;
	p++;
	while (*p == ' ')
		p++;
	size_t l = strcspn(p, "\n");
	snprintf(val, n, "%.*s", (int)l, p);
	return 0;
}

/* afl-fuzz in a new folder DIR (returned) on FUZZ_SEED_0..2 against
 * fuzz-target --kernel, with `extra` afl-fuzz options and environment; its
 * output in DIR/afl.log. Fails the test if afl-fuzz fails. */
static char *run_afl(const char *env, const char *opts, const char *target_opts)
{
	const char *afl = need_env("AFL_FUZZ");
	static char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/kfuzz-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	char in[300], cmd[8192];
	snprintf(in, sizeof(in), "%s/in", dir);
	cr_assert_eq(mkdir(in, 0700), 0);
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "FUZZ_SEED_%d", i);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s/seed%d'", need_env(name), in, i);
		cr_assert_eq(system(cmd), 0);
	}
	/* The fork server's hello comes after the kernel booted (up to a few
	 * minutes nested): AFL_FORKSRV_INIT_TMOUT. -t: one input may take a
	 * second or more under nested QEMU. */
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 "
	         "AFL_FORKSRV_INIT_TMOUT=900000 AFL_NO_AFFINITY=1 AFL_SKIP_BIN_CHECK=1 AFL_FAST_CAL=1 %s "
	         "timeout 1300 '%s' -i in -o out %s -t 10000 -- '%s' fuzz-target --kernel '%s' "
	         "--initrd '%s' --cmdline '%s' %s @@ >'%s/afl.log' 2>&1",
	         dir, env, afl, opts, need_env("COWVM_BIN"), need_env("LINUX_FUZZ_KERNEL"), need_env("LINUX_INITRD"),
	         fuzz_cmdline(), target_opts, dir);
	int rc = system(cmd);
	char path[400];
	snprintf(path, sizeof(path), "%s/afl.log", dir);
	size_t loglen = 0;
	char *log = slurp(path, &loglen);
	cr_assert_eq(rc, 0, "afl-fuzz failed (%d):\n%.*s", rc, (int)(loglen > 6000 ? 6000 : loglen),
	             log + (loglen > 6000 ? loglen - 6000 : 0));
	free(log);
	return dir;
}

static char *afl_stats(const char *dir, char *execs, char *corpus, char *stab, char *cvg, char *speed)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/out/default/fuzzer_stats", dir);
	size_t slen;
	char *stats = slurp(path, &slen);
	cr_assert_not_null(stats);
	cr_assert_eq(read_stat(stats, "execs_done", execs, 64), 0);
	cr_assert_eq(read_stat(stats, "corpus_count", corpus, 64), 0);
	cr_assert_eq(read_stat(stats, "stability", stab, 64), 0);
	cr_assert_eq(read_stat(stats, "bitmap_cvg", cvg, 64), 0);
	cr_assert_eq(read_stat(stats, "execs_per_sec", speed, 64), 0);
	return stats;
}

#ifndef KFUZZ_FIND
Test(kfuzz, afl_fuzz_executes_programs_and_finds_coverage, .timeout = 1500)
{
	char *dir = run_afl("", "-V 90", "");
	char execs[64], corpus[64], stab[64], cvg[64], speed[64];
	char *stats = afl_stats(dir, execs, corpus, stab, cvg, speed);
	printf("kfuzz: afl-fuzz 90 s: execs_done %s, execs_per_sec %s, corpus_count %s (3 seeds), "
	       "bitmap_cvg %s, stability %s\n", execs, speed, corpus, cvg, stab);
	cr_assert_geq(atol(execs), 30, "afl-fuzz ran only %s inputs", execs);
	cr_assert_gt(atol(corpus), 3, "no input with new kernel coverage beyond the 3 seeds");
	free(stats);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}
#endif

#ifdef KFUZZ_FIND
Test(kfuzz, afl_fuzz_finds_the_planted_bug, .timeout = 1800)
{
	char copts[200], aopts[600];
	snprintf(copts, sizeof(copts), "--console-dir /tmp/kfuzz-consoles");
	cr_assert_eq(system("rm -rf /tmp/kfuzz-consoles && mkdir /tmp/kfuzz-consoles"), 0);
	snprintf(aopts, sizeof(aopts), "-D -Z -p explore -V 900 -x '%s'", need_env("FUZZ_DICT"));
	double t0 = spawn_now();
	char *dir = run_afl("AFL_BENCH_UNTIL_CRASH=1", aopts, copts);
	double secs = spawn_now() - t0;
	char execs[64], corpus[64], stab[64], cvg[64], speed[64];
	char *stats = afl_stats(dir, execs, corpus, stab, cvg, speed);
	char crashes[64] = "0";
	read_stat(stats, "saved_crashes", crashes, sizeof(crashes));
	char hangs[64] = "?", cycles[64] = "?";
	read_stat(stats, "saved_hangs", hangs, sizeof(hangs));
	read_stat(stats, "cycles_done", cycles, sizeof(cycles));
	printf("kfuzz: afl-fuzz until the first crash: %.0f s (with the boot), execs_done %s, execs_per_sec %s, "
	       "saved_crashes %s, saved_hangs %s, cycles_done %s, corpus_count %s, stability %s\n", secs, execs,
	       speed, crashes, hangs, cycles, corpus, stab);
	cr_assert_geq(atol(crashes), 1, "no crash within 900 s");
	/* The console fuzz-target kept for the crash. */
	cr_assert_eq(system("grep -l 'RIP: 0010:cowvm_bug_trigger' /tmp/kfuzz-consoles/crash-*.txt"), 0,
	             "no kept console names cowvm_bug_trigger");
	/* AFL's saved input, replayed. */
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
	         "f=$(ls '%s'/out/default/crashes/id:* | head -1) && '%s' replay --kernel '%s' --initrd '%s' "
	         "--cmdline '%s' \"$f\" | grep -q 'cowvm_bug_trigger'",
	         dir, need_env("COWVM_BIN"), need_env("LINUX_FUZZ_KERNEL"), need_env("LINUX_INITRD"), fuzz_cmdline());
	cr_assert_eq(system(cmd), 0, "replay of AFL's crash file does not show the planted bug");
	free(stats);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' /tmp/kfuzz-consoles", dir);
	cr_assert_eq(system(cmd), 0);
}
#endif
