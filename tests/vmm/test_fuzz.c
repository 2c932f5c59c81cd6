/*
 * test_fuzz.c - the fuzzing front end on real KVM: the planted bugs of each
 * guest target replay as the right crash (vector, CR2, signal), the three
 * reset modes agree, coverage reaches the map and is stable across resets,
 * the coverage map is the caller's memory (outside the GPT, untouched by
 * reset), the forkserver protocol works
 * byte for byte (including a timeout: the sentinel pid killed), and real
 * afl-fuzz runs against `cowvm fuzz-target`, executes, and grows coverage.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"
#include "gpt.h"
#include "kvm_test_util.h"

#define MAP 65536u

static uint8_t *new_map(void)
{
	void *p = NULL;
	cr_assert_eq(posix_memalign(&p, 4096, MAP), 0);
	memset(p, 0, MAP);
	return p;
}

static struct fuzz *open_target(const char *target, enum fuzz_reset mode, uint8_t *map, uint64_t timeout_ms)
{
	struct fuzz_config c = { .target = target, .reset = mode, .cov = map, .cov_size = MAP,
	                         .timeout_ms = timeout_ms, .mib = 16 };
	if (!strcmp(target, "warm"))
		c.mem_size = 64ull << 20;
	struct vmm_err err = { 0 };
	struct fuzz *f;
	cr_assert_eq(fuzz_open(&c, &f, &err), 0, "fuzz_open(%s): %s", target, err.msg);
	return f;
}

static struct vm_result run(struct fuzz *f, const char *input, size_t len)
{
	struct vm_result res;
	struct vmm_err err = { 0 };
	cr_assert_eq(fuzz_exec(f, input, len, &res, &err), 0, "fuzz_exec: %s", err.msg);
	return res;
}
#define RUN(f, s) run((f), (s), sizeof(s) - 1)

static void expect_exit0(struct vm_result r)
{
	cr_assert_eq(r.end, VM_END_EXIT, "%s", r.msg);
	cr_assert_eq(fuzz_wait_status(&r), 0);
}

static void parser_bugs(enum fuzz_reset mode)
{
	uint8_t *map = new_map();
	struct fuzz *f = open_target("parser", mode, map, 300);
	expect_exit0(RUN(f, "FUZZ"));
	expect_exit0(RUN(f, ""));
	struct vm_result r = RUN(f, "FUZZDIV0");
	cr_assert_eq(r.end, VM_END_EXCEPTION, "%s", r.msg);
	cr_assert_eq(r.exc.vector, 0, "vector %llu", (unsigned long long)r.exc.vector);
	cr_assert_eq(fuzz_wait_status(&r), SIGFPE);
	expect_exit0(RUN(f, "FUZZDIV1")); /* the guest was reset after the crash */
	r = RUN(f, "FUZZWRITE!\xff\x0f");
	cr_assert_eq(r.end, VM_END_EXCEPTION, "%s", r.msg);
	cr_assert_eq(r.exc.vector, 14);
	cr_assert_eq(r.exc.cr2, 64ull << 20, "cr2 %#llx: the guard page is the top of RAM", (unsigned long long)r.exc.cr2);
	cr_assert_eq(r.exc.error_code, 0x6, "user write to a non-present page");
	cr_assert_eq(fuzz_wait_status(&r), SIGSEGV);
	expect_exit0(RUN(f, "FUZZWRITE!\x01\x00")); /* 16 bytes: in bounds */
	r = RUN(f, "FUZZASSERTION");
	cr_assert_eq(r.end, VM_END_ABORT, "%s", r.msg);
	cr_assert_eq(fuzz_wait_status(&r), SIGABRT);
	r = RUN(f, "FUZZLOOP");
	cr_assert_eq(r.end, VM_END_TIMEOUT, "%s", r.msg);
	cr_assert_eq(fuzz_wait_status(&r), SIGKILL);
	expect_exit0(RUN(f, "FUZZ"));
	fuzz_close(f);
	free(map);
}

Test(fuzz, parser_bugs_cow, .timeout = 60) { REQUIRE_KVM(); parser_bugs(FUZZ_RESET_COW); }
Test(fuzz, parser_bugs_fresh, .timeout = 60) { REQUIRE_KVM(); parser_bugs(FUZZ_RESET_FRESH); }
Test(fuzz, parser_bugs_copy, .timeout = 60) { REQUIRE_KVM(); parser_bugs(FUZZ_RESET_COPY); }

/* The parser runs in ring 3: after the clone's first run every reset
 * restores its vCPU the fast way (vcpu_fast.h), until an input enters
 * ring 0 (a #DE goes through the IDT): that reset is a full one, and the
 * next ring-3-only one is fast again. The old path never is. */
Test(fuzz, parser_resets_take_the_fast_path, .timeout = 60)
{
	REQUIRE_KVM();
	uint8_t *map = new_map();
	struct fuzz *f = open_target("parser", FUZZ_RESET_COW, map, 1000);
	struct fuzz_stats st;
	for (int i = 0; i < 20; i++)
		expect_exit0(RUN(f, "FUZZ"));
	fuzz_get_stats(f, &st);
	cr_assert_eq(st.inputs, 20);
	cr_assert_eq(st.vcpus_full, 1, "%llu full restores in 20 ring-3 runs", (unsigned long long)st.vcpus_full);
	cr_assert_eq(st.vcpus_fast, 19);
	struct vm_result r = RUN(f, "FUZZDIV0");
	cr_assert_eq(fuzz_wait_status(&r), SIGFPE);
	expect_exit0(RUN(f, "FUZZ"));
	fuzz_get_stats(f, &st);
	cr_assert_eq(st.vcpus_full, 2, "the #DE's ring-0 handler did not force a full restore");
	cr_assert_eq(st.vcpus_fast, 20);
	fuzz_close(f);
	struct fuzz_config c = { .target = "parser", .cov = map, .cov_size = MAP, .timeout_ms = 1000,
	                         .old_path = true };
	struct vmm_err err = { 0 };
	cr_assert_eq(fuzz_open(&c, &f, &err), 0, "%s", err.msg);
	for (int i = 0; i < 5; i++)
		expect_exit0(RUN(f, "FUZZ"));
	fuzz_get_stats(f, &st);
	cr_assert_eq(st.vcpus_fast, 0, "the old path took the fast one");
	cr_assert_eq(st.vcpus_full, 5);
	fuzz_close(f);
	free(map);
}

Test(fuzz, syscall_target_crashes_in_ring0, .timeout = 60)
{
	REQUIRE_KVM();
	uint8_t *map = new_map();
	struct fuzz *f = open_target("syscall", FUZZ_RESET_COW, map, 1000);
	/* toggle, set state 7, drop, read: no bug without state 0x1337 */
	expect_exit0(RUN(f, "\x02\x05\x00\x01\x07\x00\x03\x00\x00\x04\x05\x00"));
	struct vm_result r = RUN(f, "\x01\x37\x13\x03\x00\x00\x04\x05\x00");
	cr_assert_eq(r.end, VM_END_EXCEPTION, "%s", r.msg);
	cr_assert_eq(r.exc.vector, 14);
	cr_assert_eq(r.exc.cr2, 5, "NULL + 5");
	cr_assert_eq(r.exc.error_code & 4, 0, "the fault must come from ring 0 (error %#llx)",
	             (unsigned long long)r.exc.error_code);
	cr_assert_eq(fuzz_wait_status(&r), SIGSEGV);
	/* A plain #UD (not the gate's marker) is still an exception. */
	expect_exit0(RUN(f, "\x00\x00\x00"));
	fuzz_close(f);
	free(map);
}

Test(fuzz, warm_target_reads_its_state_then_parses, .timeout = 60)
{
	REQUIRE_KVM();
	uint8_t *map = new_map();
	struct fuzz *f = open_target("warm", FUZZ_RESET_COW, map, 1000);
	struct vm_result a = RUN(f, "FUZZ"), b = RUN(f, "FUZZ");
	uint64_t va, vb;
	cr_assert_eq(vm_result_report(&a, "fuzz.warm", &va), 0);
	cr_assert_eq(vm_result_report(&b, "fuzz.warm", &vb), 0);
	cr_assert_eq(va, vb);
	cr_assert_neq(va, 0);
	struct vm_result r = RUN(f, "FUZZDIV0");
	cr_assert_eq(fuzz_wait_status(&r), SIGFPE);
	fuzz_close(f);
	free(map);
}

static unsigned map_bits(const uint8_t *m)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MAP; i++)
		n += m[i] != 0;
	return n;
}

Test(fuzz, coverage_reaches_the_map_and_is_stable, .timeout = 60)
{
	REQUIRE_KVM();
	uint8_t *map = new_map();
	struct fuzz *f = open_target("parser", FUZZ_RESET_COW, map, 1000);
	uint8_t *first = malloc(MAP);
	unsigned prev = 0;
	const char *inputs[] = { "X", "FU", "FUZZ", "FUZZDI", "FUZZWRIT" };
	for (unsigned i = 0; i < 5; i++) {
		memset(map, 0, MAP);
		run(f, inputs[i], strlen(inputs[i]));
		unsigned bits = map_bits(map);
		cr_assert_gt(bits, prev, "input '%s' reached %u map bytes, the shorter one %u", inputs[i], bits, prev);
		prev = bits;
	}
	/* The same input twice, with a crash in between: identical maps. */
	memset(map, 0, MAP);
	RUN(f, "FUZZWRIT");
	memcpy(first, map, MAP);
	RUN(f, "FUZZDIV0");
	memset(map, 0, MAP);
	RUN(f, "FUZZWRIT");
	cr_assert_eq(memcmp(first, map, MAP), 0, "coverage differs between two runs of one input");
	free(first);
	fuzz_close(f);
	free(map);
}

/* A page of the written set outside guest RAM fails the walk. */
static int written_outside_ram(void *arg, uint64_t gpa, uint64_t frame)
{
	(void)frame;
	return gpa >= *(const uint64_t *)arg ? -ERANGE : 0;
}

/* The coverage window is the caller's map itself (memslot 1 over the host
 * memory), not guest RAM: the guest's coverage stores land in that memory,
 * the clone's GPT has no entry for it (it used to hold "pinned" fresh
 * frames that had nothing to do with the map) and writes none there, and
 * a reset leaves the map alone. */
Test(fuzz, coverage_map_is_the_callers_memory_outside_the_gpt)
{
	REQUIRE_KVM();
	/* Build a clone by hand to look at its GPT. */
	uint8_t *map = new_map(), *seen = malloc(MAP);
	cr_assert_not_null(seen);
	struct vm_config cfg = { .mem_size = 64ull << 20, .nvcpus = 1, .timeout_ms = 5000, .snapshots = true,
	                         .coverage_size = MAP, .console = NULL };
	struct vmm_err err = { 0 };
	cr_assert_eq(wl_parse("fuzz:target=parser", &cfg.workload, &err), 0);
	struct vm *vm, *c;
	cr_assert_eq(vm_create(&cfg, &vm, &err), 0, "%s", err.msg);
	cr_assert_eq(vm_map_coverage(vm, map, MAP, &err), 0, "%s", err.msg);
	struct vm_result res;
	cr_assert_eq(vm_run(vm, &res, &err), 0);
	cr_assert_eq(res.end, VM_END_SNAPSHOT, "%s", res.msg);
	struct snapshot *s;
	cr_assert_eq(snapshot_take(vm, &s, &err), 0, "%s", err.msg);
	struct clone_opts o = { .timeout_ms = 5000 };
	cr_assert_eq(vm_clone(NULL, s, &o, &c, &err), 0, "%s", err.msg);
	cr_assert_eq(vm_map_coverage(c, map, MAP, &err), 0, "%s", err.msg);
	for (int run = 0; run < 2; run++) {
		for (uint64_t off = 0; off < MAP; off += 4096)
			cr_assert_eq(gpt_lookup(c->gpt, COWVM_GPA_COVERAGE + off, NULL, NULL), -ENOENT,
			             "run %d: the GPT maps coverage page %#llx", run, (unsigned long long)off);
		/* one input, as fuzz_exec passes it */
		const char in[] = "FUZZWRIT";
		uint64_t len = sizeof(in) - 1;
		cr_assert_eq(vm_guest_write(c, c->layout.in_base, &len, sizeof(len), &err), 0, "%s", err.msg);
		cr_assert_eq(vm_guest_write(c, c->layout.in_base + sizeof(len), in, len, &err), 0, "%s", err.msg);
		memset(map, 0, MAP);
		cr_assert_eq(vm_run(c, &res, &err), 0, "%s", err.msg);
		cr_assert_eq(res.end, VM_END_EXIT, "%s", res.msg);
		cr_assert_gt(map_bits(map), 0, "run %d: the guest's coverage did not reach the caller's map", run);
		if (run == 0)
			memcpy(seen, map, MAP);
		else
			cr_assert_eq(memcmp(seen, map, MAP), 0, "same input after a reset, other coverage");
		uint64_t ram = c->mem.size;
		cr_assert_eq(gpt_for_each_written(c->gpt, 0, GPT_GPA_LIMIT, written_outside_ram, &ram), 0,
		             "run %d: the written set reaches outside guest RAM", run);
		struct reset_stats rs;
		cr_assert_eq(vm_reset(c, &rs, &err), 0, "%s", err.msg);
		cr_assert_eq(memcmp(seen, map, MAP), 0, "run %d: the reset changed the caller's map", run);
	}
	vm_destroy(c);
	vm_destroy(vm);
	snapshot_put(s);
	free(seen);
	free(map);
}

/* ---- the forkserver protocol, driven by hand --------------------------------- */

struct fsrv {
	pid_t pid;
	int ctl, st; /* our ends: write control, read status */
};

static const char *cowvm_bin(void)
{
	const char *b = getenv("COWVM_BIN");
	cr_assert_not_null(b, "COWVM_BIN is not set (run through meson test)");
	return b;
}

static void fsrv_start_env(struct fsrv *s, const char *input_path, char **envp);

static void fsrv_start(struct fsrv *s, const char *input_path)
{
	char *envp[] = { NULL };
	fsrv_start_env(s, input_path, envp);
}

static void fsrv_start_env(struct fsrv *s, const char *input_path, char **envp)
{
	int ctl[2], st[2];
	/* O_CLOEXEC: the child keeps only the dup2'd 198/199, so closing our
	 * control end is an EOF for it. */
	cr_assert_eq(pipe2(ctl, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(st, O_CLOEXEC), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, ctl[0], 198);
	posix_spawn_file_actions_adddup2(&fa, st[1], 199);
	char *argv[] = { (char *)"cowvm", (char *)"fuzz-target", (char *)"--target", (char *)"parser",
	                 (char *)"--timeout", (char *)"20000", (char *)input_path, NULL };
	cr_assert_eq(posix_spawn(&s->pid, cowvm_bin(), &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(ctl[0]);
	close(st[1]);
	s->ctl = ctl[1];
	s->st = st[0];
}

/* The process exists and has not died (a zombie still answers kill 0). */
static bool alive(uint32_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *st = strrchr(buf, ')'); /* "pid (comm) S ..." */
	return st && st[1] == ' ' && st[2] != 'Z' && st[2] != 'X';
}

static uint32_t rd(struct fsrv *s)
{
	uint32_t v;
	cr_assert_eq(read(s->st, &v, 4), 4, "forkserver closed its status pipe");
	return v;
}

static void put_input(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

Test(forkserver, protocol_statuses_and_timeout_kill, .timeout = 120)
{
	REQUIRE_KVM();
	char path[] = "/tmp/cowvm-fsrv-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	struct fsrv s;
	fsrv_start(&s, path);
	uint32_t hello = rd(&s);
	cr_assert_eq(hello & 0x80000001u, 0x80000001u, "hello %#x lacks FS_OPT_ENABLED", hello);
	cr_assert_eq(hello & 0x40000000u, 0x40000000u, "hello %#x lacks FS_OPT_MAPSIZE", hello);
	cr_assert_eq(((hello & 0x00fffffe) >> 1) + 1, MAP, "announced map size");
	struct { const char *in; size_t len; int status; } cases[] = {
		{ "FUZZ", 4, 0 },
		{ "FUZZDIV0", 8, SIGFPE },
		{ "FUZZWRITE!\xff\x0f", 12, SIGSEGV },
		{ "FUZZASSERTION", 13, SIGABRT },
		{ "FUZZ", 4, 0 },
	};
	/* Two sentinels take turns (the next run's pid is announced with each
	 * status, cli_fuzz.c): without a timeout, the same two alternate. */
	uint32_t zero = 0, pids[2] = { 0, 0 };
	for (unsigned i = 0; i < 5; i++) {
		put_input(path, cases[i].in, cases[i].len);
		cr_assert_eq(write(s.ctl, &zero, 4), 4);
		uint32_t pid = rd(&s);
		cr_assert_gt((int32_t)pid, 0);
		cr_assert_eq(kill((pid_t)pid, 0), 0, "the child pid %u does not exist", pid);
		if (i >= 2)
			cr_assert_eq(pid, pids[i % 2], "the sentinels changed without a timeout");
		else if (i == 1)
			cr_assert_neq(pid, pids[0], "run 1 has the pid AFL may still kill for run 0");
		pids[i % 2] = pid;
		int32_t status = (int32_t)rd(&s);
		cr_assert_eq(status, cases[i].status, "input %u: status %#x, expected %#x", i, status, cases[i].status);
	}
	/* AFL's timer fired just as our status came (a late kill): AFL kills
	 * the pid of the run that ended, files it as a timeout, and says so
	 * in the next control message. The next runs get live sentinels and
	 * run to their end (a dead one would stop them as timeouts). */
	uint32_t one = 1;
	put_input(path, "FUZZ", 4);
	cr_assert_eq(write(s.ctl, &zero, 4), 4);
	uint32_t late = rd(&s);
	cr_assert_eq((int32_t)rd(&s), 0);
	cr_assert_eq(kill((pid_t)late, SIGKILL), 0);
	usleep(20000); /* dead, not reaped: a zombie */
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(write(s.ctl, k ? &zero : &one, 4), 4);
		uint32_t p = rd(&s);
		cr_assert(alive(p), "after a late kill, the dead pid %u was announced", p);
		cr_assert_eq((int32_t)rd(&s), 0, "a run after a late kill did not end normally");
	}
	/* A hang: kill the reported pid the way AFL does on its timeout. */
	put_input(path, "FUZZLOOP", 8);
	cr_assert_eq(write(s.ctl, &zero, 4), 4);
	uint32_t pid = rd(&s);
	usleep(100000);
	cr_assert_eq(kill((pid_t)pid, SIGKILL), 0);
	int32_t status = (int32_t)rd(&s);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "hang status %#x", status);
	/* The next input runs normally, with a new sentinel. */
	put_input(path, "FUZZ", 4);
	cr_assert_eq(write(s.ctl, &one, 4), 4);
	uint32_t pid2 = rd(&s);
	cr_assert_neq(pid2, pid);
	cr_assert_eq((int32_t)rd(&s), 0);
	/* AFL goes away: the forkserver exits 0 and its sentinel dies with it. */
	close(s.ctl);
	int ws;
	cr_assert_eq(waitpid(s.pid, &ws, 0), s.pid);
	cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "forkserver ended with %#x", ws);
	usleep(50000);
	cr_assert_neq(kill((pid_t)pid2, 0), 0, "the sentinel outlived the forkserver");
	close(s.st);
	unlink(path);
}

/* afl-fuzz run with a small AFL_MAP_SIZE first probes the target's map
 * size with a large AFL_MAP_SIZE in the environment but hands it a shm of
 * the small size: cowvm must use (and announce) only what the segment
 * holds. Before, it mapped 64 KiB over a 4 KiB segment and the guest's
 * coverage stores failed KVM_RUN with EFAULT. */
Test(forkserver, coverage_map_never_exceeds_afls_shm, .timeout = 120)
{
	REQUIRE_KVM();
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	cr_assert_geq(id, 0);
	char path[] = "/tmp/cowvm-fsrv-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	char shm_env[64];
	snprintf(shm_env, sizeof(shm_env), "__AFL_SHM_ID=%d", id);
	char *envp[] = { shm_env, (char *)"AFL_MAP_SIZE=8000000", NULL };
	struct fsrv s;
	fsrv_start_env(&s, path, envp);
	uint32_t hello = rd(&s);
	cr_assert_eq(((hello & 0x00fffffe) >> 1) + 1, 4096, "announced map size %u, the shm holds 4096",
	             ((hello & 0x00fffffe) >> 1) + 1);
	uint32_t zero = 0;
	for (int i = 0; i < 3; i++) {
		put_input(path, "FUZZWRIT", 8);
		cr_assert_eq(write(s.ctl, &zero, 4), 4);
		rd(&s); /* pid */
		cr_assert_eq((int32_t)rd(&s), 0, "run %d did not exit 0", i);
	}
	uint8_t *map = shmat(id, NULL, 0);
	cr_assert_neq(map, (void *)-1);
	unsigned bits = 0;
	for (unsigned i = 0; i < 4096; i++)
		bits += map[i] != 0;
	cr_assert_gt(bits, 0, "no coverage reached the 4 KiB map");
	shmdt(map);
	close(s.ctl);
	int ws;
	cr_assert_eq(waitpid(s.pid, &ws, 0), s.pid);
	cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "forkserver ended with %#x", ws);
	close(s.st);
	shmctl(id, IPC_RMID, NULL);
	unlink(path);
}

/* ---- real afl-fuzz ------------------------------------------------------------- */

static int have_afl(void)
{
	return access("/usr/bin/afl-fuzz", X_OK) == 0;
}

static uint64_t stat_value(const char *stats, const char *key)
{
	const char *p = strstr(stats, key);
	cr_assert_not_null(p, "fuzzer_stats lacks %s", key);
	p = strchr(p, ':');
	return strtoull(p + 1, NULL, 10);
}

Test(afl, afl_fuzz_runs_cowvm_and_coverage_grows, .timeout = 180)
{
	REQUIRE_KVM();
	if (!have_afl())
		cr_skip_test("afl-fuzz test skipped: /usr/bin/afl-fuzz is missing (Debian package afl++)");
	char dir[] = "/tmp/cowvm-afl-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char cmd[2048];
	/* Seeds: a plain one, and one that hangs (AFL must skip it after its
	 * timeout kills our sentinel, and go on). */
	snprintf(cmd, sizeof(cmd),
	         "mkdir -p %s/in && printf FUZZ > %s/in/a && printf FUZZLOOP > %s/in/hang && "
	         "cd %s && AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 "
	         "AFL_NO_AFFINITY=1 AFL_NO_CRASH_README=1 timeout -k 10 120 afl-fuzz -i in -o out -t 300 -V 12 "
	         "-- %s fuzz-target --target parser @@ > afl.log 2>&1",
	         dir, dir, dir, dir, cowvm_bin());
	int rc = system(cmd);
	char path[512];
	snprintf(path, sizeof(path), "%s/out/default/fuzzer_stats", dir);
	FILE *f = fopen(path, "r");
	static char stats[8192], log[65536];
	memset(stats, 0, sizeof(stats));
	memset(log, 0, sizeof(log));
	if (f) {
		fread(stats, 1, sizeof(stats) - 1, f);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/afl.log", dir);
	f = fopen(path, "r");
	if (f) {
		fread(log, 1, sizeof(log) - 1, f);
		fclose(f);
	}
	cr_assert_eq(rc, 0, "afl-fuzz failed (%d); log tail:\n%s", rc, log);
	uint64_t execs = stat_value(stats, "execs_done"), corpus = stat_value(stats, "corpus_count");
	uint64_t edges = stat_value(stats, "edges_found");
	cr_log_info("afl-fuzz: %llu execs, corpus %llu, edges %llu", (unsigned long long)execs,
	            (unsigned long long)corpus, (unsigned long long)edges);
	cr_assert_gt(execs, 1000, "only %llu executions", (unsigned long long)execs);
	cr_assert_gt(corpus, 1, "coverage did not grow: corpus %llu (log:\n%s)", (unsigned long long)corpus, log);
	cr_assert_gt(edges, 5);
	cr_assert_not_null(strstr(log, "Test case results in a timeout"),
	                   "AFL did not see the hanging seed time out:\n%s", log);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	system(cmd);
}

/* ---- hangs are hangs (issue 13, item 3) ------------------------------------------ */

/* Files in dir whose name starts with "id:"; *sig9 counts those named as
 * killed by SIGKILL (",sig:09,") and *loops those whose bytes start with
 * the planted hang "FUZZLOOP". */
static unsigned afl_entries(const char *dir, unsigned *sig9, unsigned *loops)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "cd %s 2>/dev/null && for f in id:*; do [ -f \"$f\" ] || continue; "
	         "case $f in *,sig:09,*) s=1;; *) s=0;; esac; "
	         "case $(head -c 8 \"$f\") in FUZZLOOP) l=1;; *) l=0;; esac; echo \"$s $l\"; done", dir);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	unsigned n = 0, s, l;
	*sig9 = *loops = 0;
	while (fscanf(p, "%u %u", &s, &l) == 2) {
		n++;
		*sig9 += s;
		*loops += l;
	}
	pclose(p);
	return n;
}

/* afl-fuzz on the parser for 12 s from the seed "FUZZLOOQ", one bit away
 * from the planted hang "FUZZLOOP" (-D: the deterministic bit flips of the
 * seed come first, so AFL always tries it), with AFL's -t 100 and `env` (AFL's
 * hang timeout) and `args` for cowvm. AFL re-runs the first new hang with
 * its hang timeout (1000 ms, or AFL_HANG_TMOUT) before it files it; a
 * cowvm time limit that reported SIGKILL before AFL's timer made AFL file
 * the hang under crashes/ as sig:09. */
static void hang_lands_in_hangs(const char *env, const char *args)
{
	char dir[] = "/tmp/cowvm-aflhang-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
	         "mkdir -p %s/in && printf FUZZLOOQ > %s/in/a && cd %s && AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 "
	         "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 AFL_NO_CRASH_README=1 %s "
	         "timeout -k 10 120 afl-fuzz -i in -o out -t 100 -D -V 12 -- %s fuzz-target --target parser %s @@ "
	         "> afl.log 2>&1",
	         dir, dir, dir, env, cowvm_bin(), args);
	int rc = system(cmd);
	char hangs[300], crashes[300];
	snprintf(hangs, sizeof(hangs), "%s/out/default/hangs", dir);
	snprintf(crashes, sizeof(crashes), "%s/out/default/crashes", dir);
	unsigned hsig, hloop, csig, cloop;
	unsigned nh = afl_entries(hangs, &hsig, &hloop), nc = afl_entries(crashes, &csig, &cloop);
	cr_log_info("afl-fuzz (%s, cowvm %s): %u hangs (%u FUZZLOOP), %u crashes (%u sig:09, %u FUZZLOOP)", env,
	            args, nh, hloop, nc, csig, cloop);
	cr_assert_eq(rc, 0, "afl-fuzz failed (%d), see %s/afl.log", rc, dir);
	cr_assert_eq(csig, 0, "%u hangs were filed as SIGKILL crashes (%s)", csig, crashes);
	cr_assert_eq(cloop, 0, "%u FUZZLOOP inputs were filed as crashes (%s)", cloop, crashes);
	cr_assert_gt(hloop, 0, "no FUZZLOOP hang in %s (AFL found %u hangs)", hangs, nh);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	system(cmd);
}

/* Without --timeout under AFL cowvm has no time limit of its own: AFL's
 * hang timeout (2 s here, twice cowvm's old 1 s default) ends the hang. */
Test(afl, hang_with_default_timeout_is_a_hang, .timeout = 180)
{
	REQUIRE_KVM();
	if (!have_afl())
		cr_skip_test("afl-fuzz test skipped: /usr/bin/afl-fuzz is missing (Debian package afl++)");
	hang_lands_in_hangs("AFL_HANG_TMOUT=2000", "");
}

/* An explicit --timeout shorter than AFL's hang timeout stops the guest
 * early, but the status waits for AFL's timer. */
Test(afl, hang_with_short_timeout_is_a_hang, .timeout = 180)
{
	REQUIRE_KVM();
	if (!have_afl())
		cr_skip_test("afl-fuzz test skipped: /usr/bin/afl-fuzz is missing (Debian package afl++)");
	hang_lands_in_hangs("", "--timeout 300");
}
