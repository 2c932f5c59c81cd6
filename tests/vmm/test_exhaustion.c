/*
 * test_exhaustion.c - resource exhaustion: every memfd_create, mmap, KVM
 * ioctl, GPT table and frame allocation that clone, reset and snapshot make
 * is failed in turn (vmm/base/fault_inject.h). Each failure must come back as an
 * error with a message, and leave no partial state: no fd, table, frame or
 * snapshot reference leaked, the snapshot still clones correctly, a failed
 * reset can be retried to the exact snapshot state. Each loop also proves
 * the injection worked: every failure reached the armed call and carries
 * the injected error, at least one failure was injected, and the run that
 * succeeds is the one whose armed call was never reached. Pool limits on
 * live clones and their memory are enforced with a clear message.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clone.h"
#include "cowvm_abi.h"
#include "fault_inject.h"
#include "gpt.h"
#include "kvm_test_util.h"
#include "snapshot.h"

#define MiB (1ull << 20)
#define MAX_TRIES 400

static struct vm *boot_to_snapshot(const char *workload)
{
	struct vm_config cfg = { .mem_size = 64 * MiB, .nvcpus = 1, .timeout_ms = 20000, .console = quiet,
	                         .snapshots = true };
	struct vmm_err err = { 0 };
	cr_assert_eq(wl_parse(workload, &cfg.workload, &err), 0);
	struct vm *vm;
	cr_assert_eq(vm_create(&cfg, &vm, &err), 0, "%s", err.msg);
	struct vm_result res;
	cr_assert_eq(vm_run(vm, &res, &err), 0);
	cr_assert_eq(res.end, VM_END_SNAPSHOT, "%s", res.msg);
	return vm;
}

static struct snapshot *make_snapshot(void)
{
	return boot_snapshot("snaptest:mib=2,touch=64", 64 * MiB);
}

struct baseline {
	int fds;
	uint64_t tables, frames;
	unsigned refs;
};

static struct baseline measure(struct snapshot *s)
{
	return (struct baseline){ count_fds(), gpt_domain_live_tables(s->fam->dom),
	                          ram_frames_live_private(&s->fam->frames), atomic_load(&s->refs) };
}

static void expect_baseline(struct snapshot *s, struct baseline b, const char *what)
{
	struct baseline now = measure(s);
	cr_assert_eq(now.fds, b.fds, "%s: fds %d, before %d", what, now.fds, b.fds);
	cr_assert_eq(now.tables, b.tables, "%s: GPT tables %llu, before %llu", what,
	             (unsigned long long)now.tables, (unsigned long long)b.tables);
	cr_assert_eq(now.frames, b.frames, "%s: private frames %llu, before %llu", what,
	             (unsigned long long)now.frames, (unsigned long long)b.frames);
	cr_assert_eq(now.refs, b.refs, "%s: snapshot references %u, before %u", what, now.refs, b.refs);
}

/* Run a clone and check its guest's own verdict. */
static void run_ok(struct vm *c)
{
	struct vmm_err err = { 0 };
	struct vm_result res;
	cr_assert_eq(vm_run(c, &res, &err), 0, "%s", err.msg);
	cr_assert_eq(res.end, VM_END_EXIT, "%s", res.msg);
	uint64_t bad = 1;
	cr_assert_eq(vm_result_report(&res, "snap.bad", &bad), 0);
	cr_assert_eq(bad, 0);
}

static const char *site_name(enum fault_site s)
{
	static const char *const n[] = { "memfd", "mmap", "KVM ioctl", "GPT table", "frame" };
	return n[s];
}

/* What each site returns when it fails (vmm/base/fault_inject.h's callers). */
static int injected_error(enum fault_site s)
{
	static const int e[] = { -EMFILE, -ENOMEM, -EIO, -ENOMEM, -ENOMEM };
	return e[s];
}

/* A failed operation: the armed call was reached (calls counted from the
 * arming include it) and its error is what came back. */
static void assert_injected(enum fault_site site, unsigned n, unsigned calls, int r, const char *op,
                            const char *msg)
{
	cr_assert_geq(calls, n, "%s failed (%d: %s) before reaching %s call #%u: not the injected failure", op, r,
	              msg, site_name(site), n);
	cr_assert_eq(r, injected_error(site), "%s with %s #%u failed: returned %d (%s), not the injected %d", op,
	             site_name(site), n, r, msg, injected_error(site));
	cr_assert_neq(msg[0], 0, "%s with %s #%u failed without a message", op, site_name(site), n);
}

static void clone_under(enum fault_site site)
{
	struct snapshot *s = make_snapshot();
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	struct baseline b = measure(s);
	unsigned failures = 0;
	for (unsigned n = 1; n <= MAX_TRIES; n++) {
		struct vmm_err err = { 0 };
		struct vm *c = (struct vm *)1;
		fault_inject_arm(site, n);
		int r = vm_clone(NULL, s, &o, &c, &err);
		unsigned calls = fault_inject_calls(site);
		fault_inject_disarm_all();
		if (!r) {
			cr_assert_lt(calls, n, "%s call #%u was armed and reached, yet vm_clone succeeded: the injected failure was lost",
			             site_name(site), n);
			cr_assert_gt(failures, 0, "vm_clone makes no %s call: nothing was injected", site_name(site));
			assert_window_is_snapshot(c, s, "the clone after the injected failures");
			run_ok(c);
			vm_destroy(c);
			expect_baseline(s, b, "after the clone that succeeded");
			cr_log_info("vm_clone: %u %s failures injected, each clean", failures, site_name(site));
			snapshot_put(s);
			return;
		}
		failures++;
		assert_injected(site, n, calls, r, "vm_clone", err.msg);
		cr_assert_null(c, "a failed vm_clone must not return a VM");
		char what[400];
		snprintf(what, sizeof(what), "vm_clone with %s #%u failed (%s)", site_name(site), n, err.msg);
		expect_baseline(s, b, what);
	}
	cr_assert_fail("vm_clone never succeeded within %d injected failures", MAX_TRIES);
}

Test(exhaustion, clone_memfd_mmap, .timeout = 120) { REQUIRE_KVM(); clone_under(FAULT_MMAP); }
Test(exhaustion, clone_kvm_ioctls, .timeout = 300) { REQUIRE_KVM(); clone_under(FAULT_KVM_IOCTL); }
Test(exhaustion, clone_gpt_tables, .timeout = 120) { REQUIRE_KVM(); clone_under(FAULT_GPT_TABLE); }
Test(exhaustion, clone_frames, .timeout = 120) { REQUIRE_KVM(); clone_under(FAULT_FRAME); }

static void reset_under(enum fault_site site)
{
	struct snapshot *s = make_snapshot();
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	struct vmm_err err = { 0 };
	struct vm *c;
	cr_assert_eq(vm_clone(NULL, s, &o, &c, &err), 0, "%s", err.msg);
	unsigned failures = 0;
	for (unsigned n = 1;; n++) {
		cr_assert_leq(n, MAX_TRIES, "vm_reset never succeeded within %d injected failures", MAX_TRIES);
		run_ok(c);
		fault_inject_arm(site, n);
		err.msg[0] = 0;
		int r = vm_reset(c, NULL, &err);
		unsigned calls = fault_inject_calls(site);
		fault_inject_disarm_all();
		if (!r) {
			cr_assert_lt(calls, n, "%s call #%u was armed and reached, yet vm_reset succeeded: the injected failure was lost",
			             site_name(site), n);
			cr_assert_gt(failures, 0, "vm_reset makes no %s call: nothing was injected", site_name(site));
			assert_window_is_snapshot(c, s, "after the reset that succeeded");
			cr_log_info("vm_reset: %u %s failures injected, each retried cleanly", failures, site_name(site));
			break;
		}
		failures++;
		assert_injected(site, n, calls, r, "vm_reset", err.msg);
		/* Retried without failures, the reset reaches the snapshot exactly. */
		cr_assert_eq(vm_reset(c, NULL, &err), 0, "retry after %s #%u: %s", site_name(site), n, err.msg);
		char what[100];
		snprintf(what, sizeof(what), "after a reset retried (%s #%u)", site_name(site), n);
		assert_window_is_snapshot(c, s, what);
	}
	vm_destroy(c);
	snapshot_put(s);
}

Test(exhaustion, reset_kvm_ioctls, .timeout = 300) { REQUIRE_KVM(); reset_under(FAULT_KVM_IOCTL); }
Test(exhaustion, reset_gpt_tables, .timeout = 120) { REQUIRE_KVM(); reset_under(FAULT_GPT_TABLE); }
Test(exhaustion, reset_frames, .timeout = 120) { REQUIRE_KVM(); reset_under(FAULT_FRAME); }

static void snapshot_under(enum fault_site site)
{
	struct vm *vm = boot_to_snapshot("snaptest:mib=2,touch=64");
	int fds0 = count_fds();
	unsigned failures = 0;
	for (unsigned n = 1; n <= MAX_TRIES; n++) {
		struct vmm_err err = { 0 };
		struct snapshot *s = (struct snapshot *)1;
		fault_inject_arm(site, n);
		int r = snapshot_take(vm, &s, &err);
		unsigned calls = fault_inject_calls(site);
		fault_inject_disarm_all();
		if (!r) {
			cr_assert_lt(calls, n, "%s call #%u was armed and reached, yet snapshot_take succeeded: the injected failure was lost",
			             site_name(site), n);
			cr_assert_gt(failures, 0, "snapshot_take makes no %s call: nothing was injected", site_name(site));
			/* The snapshot is whole: its clones are right. */
			struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
			struct vm *c;
			cr_assert_eq(vm_clone(NULL, s, &o, &c, &err), 0, "%s", err.msg);
			assert_window_is_snapshot(c, s, "a clone of the snapshot taken after the injected failures");
			run_ok(c);
			vm_destroy(c);
			snapshot_put(s);
			cr_assert_eq(count_fds(), fds0);
			cr_log_info("snapshot_take: %u %s failures injected, each clean", failures, site_name(site));
			vm_destroy(vm);
			return;
		}
		failures++;
		assert_injected(site, n, calls, r, "snapshot_take", err.msg);
		cr_assert_null(s, "a failed snapshot_take must not return a snapshot");
		cr_assert_eq(count_fds(), fds0, "snapshot_take with %s #%u failed (%s) and leaked an fd",
		             site_name(site), n, err.msg);
	}
	cr_assert_fail("snapshot_take never succeeded");
}

Test(exhaustion, snapshot_memfd, .timeout = 120) { REQUIRE_KVM(); snapshot_under(FAULT_MEMFD); }
Test(exhaustion, snapshot_mmap, .timeout = 120) { REQUIRE_KVM(); snapshot_under(FAULT_MMAP); }
Test(exhaustion, snapshot_kvm_ioctls, .timeout = 300) { REQUIRE_KVM(); snapshot_under(FAULT_KVM_IOCTL); }
Test(exhaustion, snapshot_gpt_tables, .timeout = 120) { REQUIRE_KVM(); snapshot_under(FAULT_GPT_TABLE); }

Test(limits, pool_limits_live_clones_and_memory)
{
	REQUIRE_KVM();
	struct snapshot *s = make_snapshot();
	struct vm_pool *pool;
	struct vmm_err err = { 0 };
	cr_assert_eq(vm_pool_create(4, &pool, &err), 0);
	vm_pool_set_limits(pool, 2, 0);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	struct vm *a, *b, *c;
	cr_assert_eq(vm_clone(pool, s, &o, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(vm_clone(pool, s, &o, &b, &err), 0, "%s", err.msg);
	cr_assert_eq(vm_clone(pool, s, &o, &c, &err), -EAGAIN);
	cr_assert_not_null(strstr(err.msg, "clone limit reached"), "%s", err.msg);
	vm_release(pool, a);
	cr_assert_eq(vm_clone(pool, s, &o, &c, &err), 0, "a released clone frees its place: %s", err.msg);
	vm_destroy(b);
	vm_destroy(c);
	vm_pool_set_limits(pool, 0, 100 * MiB); /* one 64 MiB clone fits, two do not */
	cr_assert_eq(vm_clone(pool, s, &o, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(vm_clone(pool, s, &o, &b, &err), -EAGAIN);
	cr_assert_not_null(strstr(err.msg, "memory limit reached"), "%s", err.msg);
	run_ok(a);
	vm_release(pool, a);
	struct vm_pool_stats st;
	vm_pool_get_stats(pool, &st);
	cr_assert_eq(st.live, 0);
	cr_assert_eq(st.live_mem, 0);
	cr_assert_eq(st.refused, 2);
	vm_pool_destroy(pool);
	snapshot_put(s);
}
