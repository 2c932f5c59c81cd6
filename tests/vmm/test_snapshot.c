/*
 * test_snapshot.c - integration tests of snapshot, clone and reset on real
 * KVM with the guest-stub's snaptest and warm workloads: clones resume right
 * after the snapshot hypercall with their number, are isolated from each
 * other and from the snapshot, reset restores memory and registers
 * bit-exactly, layers (a snapshot of a clone) read what they should, the
 * pool reuses shells, and nothing leaks.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clone.h"
#include "cowvm_abi.h"
#include "gpt.h"
#include "kvm_test_util.h"
#include "snapshot.h"

#define MiB (1ull << 20)
#define PAGE 4096ull

static void quiet(void *ctx, const char *buf, size_t len) { (void)ctx, (void)buf, (void)len; }

/* Boot `workload` with snapshots on, run to its snapshot request, take it. */
static struct snapshot *boot_snapshot(const char *workload, uint64_t mem)
{
	struct vm_config cfg = { .mem_size = mem, .nvcpus = 1, .timeout_ms = 20000,
	                         .console = quiet, .snapshots = true };
	struct vmm_err err = { 0 };
	cr_assert_eq(wl_parse(workload, &cfg.workload, &err), 0, "%s", err.msg);
	struct vm *vm;
	cr_assert_eq(vm_create(&cfg, &vm, &err), 0, "vm_create: %s", err.msg);
	struct vm_result res;
	cr_assert_eq(vm_run(vm, &res, &err), 0, "%s", err.msg);
	cr_assert_eq(res.end, VM_END_SNAPSHOT, "ended with %d: %s", res.end, res.msg);
	struct snapshot *s;
	cr_assert_eq(snapshot_take(vm, &s, &err), 0, "snapshot_take: %s", err.msg);
	vm_destroy(vm);
	return s;
}

static uint64_t report(const struct vm_result *r, const char *key)
{
	uint64_t v = 0;
	cr_assert_eq(vm_result_report(r, key, &v), 0, "no report %s (end %d: %s)", key, r->end, r->msg);
	return v;
}

/* Host model of snaptest's checksum for a clone that wrote `touch` pages. */
static uint64_t model_checksum(uint64_t npages, uint64_t touch, uint64_t id)
{
	uint64_t h = COWVM_FOLD_INIT;
	for (uint64_t p = 0; p < npages; p++)
		h = cowvm_fold(h, cowvm_snap_value(p, p < touch ? id : 0));
	return h;
}

static void run_clone(struct vm *vm, struct vm_result *res)
{
	struct vmm_err err = { 0 };
	cr_assert_eq(vm_run(vm, res, &err), 0, "%s", err.msg);
}

Test(snapshot, original_resumes_with_zero)
{
	REQUIRE_KVM();
	struct vm_config cfg = { .mem_size = 64 * MiB, .nvcpus = 1, .timeout_ms = 20000,
	                         .console = quiet, .snapshots = true };
	struct vmm_err err = { 0 };
	cr_assert_eq(wl_parse("snaptest:mib=2", &cfg.workload, &err), 0);
	struct vm *vm;
	cr_assert_eq(vm_create(&cfg, &vm, &err), 0, "%s", err.msg);
	struct vm_result res;
	run_clone(vm, &res);
	cr_assert_eq(res.end, VM_END_SNAPSHOT, "%s", res.msg);
	struct snapshot *s;
	cr_assert_eq(snapshot_take(vm, &s, &err), 0, "%s", err.msg);
	run_clone(vm, &res); /* the original runs on */
	cr_assert_eq(res.end, VM_END_EXIT, "%s", res.msg);
	cr_assert_eq(res.status, 0);
	cr_assert_eq(report(&res, "snap.id"), 0);
	vm_destroy(vm);
	snapshot_put(s);
}

Test(snapshot, clone_resumes_after_hypercall_with_its_number)
{
	REQUIRE_KVM();
	struct snapshot *s = boot_snapshot("snaptest:mib=4", 64 * MiB);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	struct vmm_err err = { 0 };
	for (int i = 1; i <= 3; i++) {
		struct vm *c;
		cr_assert_eq(vm_clone(NULL, s, &o, &c, &err), 0, "vm_clone: %s", err.msg);
		cr_assert_eq(c->clone_id, (uint64_t)i);
		struct vm_result res;
		run_clone(c, &res);
		cr_assert_eq(res.end, VM_END_EXIT, "clone %d: %s", i, res.msg);
		cr_assert_eq(res.status, 0, "clone %d exit %d", i, res.status);
		cr_assert_eq(report(&res, "snap.id"), (uint64_t)i);
		cr_assert_eq(report(&res, "snap.bad"), 0);
		cr_assert_eq(report(&res, "snap.checksum"), model_checksum(4 << 8, 4 << 8, (uint64_t)i));
		vm_destroy(c);
	}
	snapshot_put(s);
}
