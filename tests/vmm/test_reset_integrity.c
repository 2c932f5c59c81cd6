/*
 * test_reset_integrity.c - a clone or a reset returns exactly to its
 * snapshot, also after a hostile clone ran on the same pooled shell
 * (issue 10): VMM writes into guest RAM are tracked, pending KVM I/O never
 * survives a restore, the VM clock restarts from the snapshot, the
 * coverage memslot does not outlive a release, a host without the dirty
 * ring still reuses shells, and a failed clone does not use up a number.
 * Guests: tests/vmm/guests/integrity.c (one ELF per mode).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clone.h"
#include "fault_inject.h"
#include "kvm_test_util.h"
#include "snapshot.h"
#include "snapshot_file.h"
#include "vcpu_fast.h"

#define MiB (1ull << 20)
#define PAGE 4096ull

/* Boot a test guest (env var `guest` names its ELF) and take its snapshot;
 * *orig (may be NULL) gets the original's run up to the snapshot. */
static struct snapshot *snapshot_of(const char *guest, unsigned vcpus, uint64_t coverage,
                                    struct vm_result *orig)
{
	const char *path = getenv(guest);
	cr_assert(path, "%s not set (run through meson test)", guest);
	size_t len;
	void *img = slurp(path, &len);
	struct vm_config cfg = { .mem_size = 64 * MiB, .nvcpus = vcpus, .guest_image = img,
	                         .guest_image_len = len, .timeout_ms = 20000, .console = quiet,
	                         .snapshots = true, .coverage_size = coverage };
	struct vmm_err err = { 0 };
	struct vm *vm;
	cr_assert_eq(vm_create(&cfg, &vm, &err), 0, "vm_create: %s", err.msg);
	struct vm_result res;
	cr_assert_eq(vm_run(vm, &res, &err), 0, "%s", err.msg);
	cr_assert_eq(res.end, VM_END_SNAPSHOT, "the guest did not ask for its snapshot: %s", res.msg);
	if (orig)
		*orig = res;
	struct snapshot *s;
	cr_assert_eq(snapshot_take(vm, &s, &err), 0, "snapshot_take: %s", err.msg);
	vm_destroy(vm);
	free(img);
	return s;
}

static void run_ok(struct vm *vm, struct vm_result *res)
{
	struct vmm_err err = { 0 };
	cr_assert_eq(vm_run(vm, res, &err), 0, "%s", err.msg);
	cr_assert_eq(res->end, VM_END_EXIT, "%s", res->msg);
	cr_assert_eq(res->status, 0, "%s", res->msg);
}

/* ---- 1. VMM writes go through the tracked path --------------------------- */

/* A clone points a hypercall block at the boot info, a page-table page or
 * its own text; the VMM's `ret` lands there. The next clones on the same
 * shell must see the snapshot's bytes everywhere (before they run, and in
 * what they read), and every reset must bring the whole window back. */
Test(integrity, hypercall_results_never_outlive_a_reset)
{
	REQUIRE_KVM();
	struct snapshot *s = snapshot_of("INTEGRITY_HOSTILE_HC", 1, 0, NULL);
	struct vm_pool *pool;
	struct vmm_err err = { 0 };
	cr_assert_eq(vm_pool_create(1, &pool, &err), 0);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	static const uint64_t pages[3] = { COWVM_GPA_BOOTINFO, COWVM_GPA_PGTABLES, 0 };
	static const char *const keys[3] = { "ret_bootinfo", "ret_pgtable", "ret_text" };
	for (unsigned i = 1; i <= 7; i++) {
		struct vm *vm;
		cr_assert_eq(vm_clone(pool, s, &o, &vm, &err), 0, "clone %u: %s", i, err.msg);
		cr_assert_eq(vm->clone_id, i);
		assert_window_is_snapshot(vm, vm->snap, "a new clone on a pooled shell");
		struct vm_result res;
		run_ok(vm, &res);
		uint64_t text_block = report(&res, "text_block");
		cr_assert(text_block >= COWVM_GPA_IMAGE_MIN && text_block % PAGE == 0);
		for (int k = 0; k < 3; k++) {
			uint64_t page = k < 2 ? pages[k] : text_block;
			uint64_t want;
			memcpy(&want, snapshot_page(s, page / PAGE) + offsetof(struct cowvm_hcall, ret), 8);
			cr_assert_eq(report(&res, keys[k]), want, "clone %u read %#llx at %s's ret, snapshot has %#llx",
			             i, (unsigned long long)report(&res, keys[k]), keys[k], (unsigned long long)want);
		}
		cr_assert_eq(vm_reset(vm, NULL, &err), 0, "%s", err.msg);
		assert_window_is_snapshot(vm, vm->snap, "after vm_reset");
		vm_release(pool, vm);
	}
	struct vm_pool_stats st;
	vm_pool_get_stats(pool, &st);
	cr_assert_eq(st.created, 1, "every clone should reuse the one shell (created %llu)",
	             (unsigned long long)st.created);
	vm_pool_destroy(pool);
	snapshot_put(s);
}

/* ---- 2. pending KVM I/O never survives a restore -------------------------- */

static void assert_state_is(const struct vcpu_state *got, const struct vcpu_state *want, unsigned cpu, unsigned iter)
{
	char why[256];
	cr_assert_eq(vcpu_state_diff(got, want, why, sizeof(why)), 0, "reset %u, vCPU %u: %s", iter, cpu, why);
}

/* vCPU 1 does MMIO reads (one and two fragments) in a loop while vCPU 0
 * ends every run: vCPU 1 is stopped right after an MMIO exit in most runs.
 * After each of hundreds of resets the full register file of both vCPUs is
 * the snapshot's, also after the next KVM entry. */
static void mmio_race(bool pooled)
{
	struct snapshot *s = snapshot_of("INTEGRITY_MMIO_RACE", 2, 0, NULL);
	cr_assert_eq(s->meta.parked_mask, 0);
	struct vm_pool *pool = NULL;
	struct vmm_err err = { 0 };
	if (pooled)
		cr_assert_eq(vm_pool_create(1, &pool, &err), 0);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	struct vm *vm;
	cr_assert_eq(vm_clone(pool, s, &o, &vm, &err), 0, "%s", err.msg);
	unsigned pending_seen = 0, iter;
	/* At least 200 runs, more (up to 2000) until the race has happened 21
	 * times: how often it does depends on the machine's load (ASan, other
	 * jobs on the 2 CPUs). */
	for (iter = 0; iter < 2000 && (iter < 200 || pending_seen <= 20); iter++) {
		struct vm_result res;
		run_ok(vm, &res);
		pending_seen += vm->vcpus[1].io_pending;
		if (pooled) {
			vm_release(pool, vm);
			cr_assert_eq(vm_clone(pool, s, &o, &vm, &err), 0, "%s", err.msg);
		} else {
			cr_assert_eq(vm_reset(vm, NULL, &err), 0, "%s", err.msg);
		}
		for (unsigned c = 0; c < 2; c++) {
			struct vcpu_state st;
			cr_assert_eq(clone_vcpu_state(vm, c, &st, &err), 0, "%s", err.msg);
			assert_state_is(&st, &s->meta.vcpu[c], c, iter);
		}
	}
	/* The race this guards must have happened, or the test proved nothing. */
	cr_assert_gt(pending_seen, 20, "vCPU 1 stopped with I/O pending in only %u of %u runs", pending_seen, iter);
	if (pooled)
		vm_release(pool, vm);
	else
		vm_destroy(vm);
	vm_pool_destroy(pool);
	snapshot_put(s);
}

Test(integrity, pending_mmio_never_survives_a_reset, .timeout = 300) { REQUIRE_KVM(); mmio_race(false); }
Test(integrity, pending_mmio_never_survives_a_pooled_clone, .timeout = 300) { REQUIRE_KVM(); mmio_race(true); }

/* ---- 3. the VM clock restarts from the snapshot --------------------------- */

/* The guest waits until kvmclock reads >= 400 ms, then snapshots. A clone
 * in a new shell (whose own clock would start near 0), and a pooled clone
 * after the host waited 600 ms (whose shell's clock ran on), both read a
 * time just after the snapshot's. */
Test(integrity, clones_read_the_snapshot_clock, .timeout = 120)
{
	REQUIRE_KVM();
	struct vm_result res;
	struct snapshot *s = snapshot_of("INTEGRITY_CLOCK", 1, 0, &res);
	struct vmm_err err = { 0 };
	cr_assert_neq(report(&res, "pvclock_version"), 0, "kvmclock never filled the guest's page");
	uint64_t t_snap = report(&res, "t_snap");
	cr_assert_geq(t_snap, 400000000ull);
	cr_assert_neq(s->meta.clock, 0, "no VM clock in the snapshot");

	struct vm_pool *pool;
	cr_assert_eq(vm_pool_create(1, &pool, &err), 0);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	for (int i = 0; i < 3; i++) {
		struct vm *vm;
		cr_assert_eq(vm_clone(pool, s, &o, &vm, &err), 0, "%s", err.msg);
		run_ok(vm, &res);
		uint64_t t = report(&res, "t_run");
		/* t_snap was read just before the snapshot, so t >= t_snap; the
		 * guest reads t right after resuming: well under 300 ms later. */
		cr_assert(t >= t_snap && t - t_snap < 300000000ull,
		          "clone %d read kvmclock %llu ns, the snapshot was taken at %llu ns", i,
		          (unsigned long long)t, (unsigned long long)t_snap);
		/* And after a reset, on the same VM. */
		usleep(600000);
		cr_assert_eq(vm_reset(vm, NULL, &err), 0, "%s", err.msg);
		run_ok(vm, &res);
		t = report(&res, "t_run");
		cr_assert(t >= t_snap && t - t_snap < 300000000ull, "after reset: kvmclock %llu ns, snapshot %llu ns",
		          (unsigned long long)t, (unsigned long long)t_snap);
		vm_release(pool, vm);
		usleep(600000); /* the pooled shell's own clock runs on */
	}
	/* The clock travels in the snapshot file (format version 2). */
	char file[] = "/tmp/cowvm-clock-XXXXXX";
	int fd = mkstemp(file);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(snapshot_save(s, file, &err), 0, "%s", err.msg);
	struct snapshot *l;
	cr_assert_eq(snapshot_load(file, &l, &err), 0, "%s", err.msg);
	unlink(file);
	cr_assert_eq(l->meta.clock, s->meta.clock);
	struct vm *vm;
	cr_assert_eq(vm_clone(pool, l, &o, &vm, &err), 0, "%s", err.msg);
	run_ok(vm, &res);
	uint64_t t = report(&res, "t_run");
	cr_assert(t >= t_snap && t - t_snap < 300000000ull, "clone of the loaded file: kvmclock %llu ns, snapshot %llu ns",
	          (unsigned long long)t, (unsigned long long)t_snap);
	vm_release(pool, vm);
	snapshot_put(l);
	vm_pool_destroy(pool);
	snapshot_put(s);
}

/* ---- 6. pool hazards ------------------------------------------------------- */

/* A clone with a coverage map attached, released; the next clone on the
 * same shell has no map attached and writes the coverage window: the
 * first clone's map (host memory its owner may have freed) must not change. */
Test(integrity, released_coverage_map_is_not_written_by_the_next_clone)
{
	REQUIRE_KVM();
	struct snapshot *s = snapshot_of("INTEGRITY_COVERAGE", 1, 4096, NULL);
	struct vm_pool *pool;
	struct vmm_err err = { 0 };
	cr_assert_eq(vm_pool_create(1, &pool, &err), 0);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	uint64_t *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(map, MAP_FAILED);
	struct vm *vm;
	cr_assert_eq(vm_clone(pool, s, &o, &vm, &err), 0, "%s", err.msg);
	cr_assert_eq(vm_map_coverage(vm, map, 4096, &err), 0, "%s", err.msg);
	struct vm_result res;
	run_ok(vm, &res);
	cr_assert_eq(map[0], 0xc0e0ull << 48 | 1, "the first clone's write did not reach its map: %#llx",
	             (unsigned long long)map[0]);
	vm_release(pool, vm);
	cr_assert_eq(vm_clone(pool, s, &o, &vm, &err), 0, "%s", err.msg);
	run_ok(vm, &res);
	cr_assert_eq(map[0], 0xc0e0ull << 48 | 1, "clone 2 wrote into the released clone's coverage map: %#llx",
	             (unsigned long long)map[0]);
	vm_release(pool, vm);
	struct vm_pool_stats st;
	vm_pool_get_stats(pool, &st);
	cr_assert_eq(st.reused, 1, "the second clone did not run on the pooled shell");
	vm_pool_destroy(pool);
	munmap(map, 4096);
	snapshot_put(s);
}

/* A host without the dirty ring (forced here) gives bitmap shells for ring
 * requests: the pool must still reuse them. */
Test(integrity, pool_reuses_shells_when_the_ring_falls_back_to_the_bitmap)
{
	REQUIRE_KVM();
	cr_assert_eq(setenv("COWVM_NO_DIRTY_RING", "1", 1), 0);
	struct snapshot *s = snapshot_of("INTEGRITY_COVERAGE", 1, 0, NULL);
	struct vm_pool *pool;
	struct vmm_err err = { 0 };
	cr_assert_eq(vm_pool_create(2, &pool, &err), 0);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000, .dirty = DIRTY_RING };
	for (int i = 0; i < 3; i++) {
		struct vm *vm;
		cr_assert_eq(vm_clone(pool, s, &o, &vm, &err), 0, "%s", err.msg);
		cr_assert_eq(vm->dlog.mode, DIRTY_BITMAP, "the ring was not forced off");
		struct vm_result res;
		run_ok(vm, &res);
		cr_assert_eq(vm_reset(vm, NULL, &err), 0, "%s", err.msg);
		assert_window_is_snapshot(vm, vm->snap, "bitmap-mode reset");
		vm_release(pool, vm);
	}
	struct vm_pool_stats st;
	vm_pool_get_stats(pool, &st);
	cr_assert_eq(st.created, 1, "bitmap shells were not reused: %llu created", (unsigned long long)st.created);
	cr_assert_eq(st.reused, 2);
	vm_pool_destroy(pool);
	snapshot_put(s);
	unsetenv("COWVM_NO_DIRTY_RING");
}

/* ---- 7. small state -------------------------------------------------------- */

/* A clone that fails (an injected KVM ioctl failure) takes no number: the
 * next clone is number 1 and its guest sees 1. */
Test(integrity, failed_clone_takes_no_clone_number)
{
	REQUIRE_KVM();
	struct snapshot *s = snapshot_of("INTEGRITY_COVERAGE", 1, 0, NULL);
	struct vmm_err err = { 0 };
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	struct vm *vm;
	unsigned failed = 0;
	/* Fail each KVM ioctl of a clone in turn, the last ones first (they
	 * come after the point where a number used to be taken). */
	for (unsigned nth = 1; nth < 400; nth++) {
		fault_inject_arm(FAULT_KVM_IOCTL, nth);
		int r = vm_clone(NULL, s, &o, &vm, &err);
		bool fired = fault_inject_calls(FAULT_KVM_IOCTL) >= nth;
		fault_inject_disarm_all();
		if (!fired) {
			cr_assert_eq(r, 0, "%s", err.msg);
			vm_destroy(vm);
			break;
		}
		cr_assert_neq(r, 0, "ioctl %u failed but vm_clone succeeded", nth);
		failed++;
	}
	cr_assert_gt(failed, 5, "no clone failed: the injection did not fire");
	/* One clone succeeded at the end of the loop: it must have been number 1. */
	cr_assert_eq(atomic_load(&s->next_clone), 1, "%u failed clones took %llu numbers", failed,
	             (unsigned long long)atomic_load(&s->next_clone) - 1);
	cr_assert_eq(vm_clone(NULL, s, &o, &vm, &err), 0, "%s", err.msg);
	cr_assert_eq(vm->clone_id, 2);
	struct vm_result res;
	run_ok(vm, &res);
	vm_destroy(vm);
	snapshot_put(s);
}

/* vm_reset_copy and vm_reset leave the same clone: same memory, same vCPU
 * state, same per-run fields. */
Test(integrity, reset_copy_and_reset_restore_the_same_state)
{
	REQUIRE_KVM();
	struct snapshot *s = snapshot_of("INTEGRITY_HOSTILE_HC", 1, 0, NULL);
	struct vmm_err err = { 0 };
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	struct vm *vm;
	cr_assert_eq(vm_clone(NULL, s, &o, &vm, &err), 0, "%s", err.msg);
	for (int round = 0; round < 4; round++) {
		struct vm_result res;
		run_ok(vm, &res);
		atomic_store(&vm->gpt_error, -ENOMEM); /* per-run fields a run may leave set */
		vm->snap_hc_gpa = 0x1234;
		int r = round % 2 ? vm_reset_copy(vm, &err) : vm_reset(vm, NULL, &err);
		cr_assert_eq(r, 0, "%s", err.msg);
		assert_window_is_snapshot(vm, vm->snap, round % 2 ? "after vm_reset_copy" : "after vm_reset");
		cr_assert_eq(vm->snap_hc_gpa, 0, "round %d: snap_hc_gpa survived the reset", round);
		cr_assert_eq(atomic_load(&vm->gpt_error), 0, "round %d: gpt_error survived the reset", round);
		struct vcpu_state st;
		cr_assert_eq(clone_vcpu_state(vm, 0, &st, &err), 0, "%s", err.msg);
		assert_state_is(&st, &s->meta.vcpu[0], 0, (unsigned)round);
	}
	vm_destroy(vm);
	snapshot_put(s);
}

/* ---- 8. what a guest changes between snapshot and reset (issue 13) ---------- */

/* tests/vmm/guests/cpu_state.c: its snapshot values, and the offsets of
 * what it changes in the legacy XSAVE area (SDM Vol. 1 table 10-2). */
#define CS_XMM_LO 0x0123456789abcdefull
#define CS_XMM_HI 0xfedcba9876543210ull
#define CS_MXCSR 0x3f80u
#define CS_FCW 0x027fu
#define CS_GSBASE 0x5a5a5a5a0000ull
#define CS_DR0 0x7000ull
#define XSAVE_FCW 0
#define XSAVE_MXCSR 24
#define XSAVE_XMM15 (160 + 15 * 16)
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_SYSENTER_ESP 0x175

static uint64_t msr_of(const struct vcpu_state *s, uint32_t index)
{
	for (uint32_t i = 0; i < s->nmsrs; i++)
		if (s->msrs[i].index == index)
			return s->msrs[i].data;
	cr_assert_fail("MSR %#x is not in the vCPU state", index);
	return 0;
}

static uint64_t xsave_u64(const struct vcpu_state *s, unsigned off)
{
	uint64_t v;
	memcpy(&v, (const uint8_t *)s->xsave.region + off, 8);
	return v;
}

/* Runs that change FPU/SSE state in ring 3 only ('u'), or that also change
 * DR0-DR3, DR7 and two MSRs in ring 0 ('k'), or that make the VMM write a
 * hypercall result onto a page table ('h'), each followed by vm_reset:
 * every run finds the snapshot's values (the guest reports them), every
 * run really changed them (read back before the reset), and after every
 * reset the whole vCPU state is the snapshot's, as the next entry finds
 * it. A ring-3-only run is reset the fast way (vcpu_fast.h), a run that
 * entered ring 0 or whose hypercall wrote a page table in full, and so is
 * the first run of a clone. */
Test(integrity, fpu_debug_registers_and_msrs_come_back, .timeout = 120)
{
	REQUIRE_KVM();
	struct snapshot *s = snapshot_of("CPU_STATE_GUEST", 1, 0, NULL);
	const struct vcpu_state *snap = &s->meta.vcpu[0];
	/* The snapshot holds what the guest set before it. */
	cr_assert_eq(snap->debugregs.db[0], CS_DR0);
	cr_assert_eq(snap->debugregs.db[3], CS_DR0 + 0x3000);
	cr_assert_eq(msr_of(snap, MSR_KERNEL_GS_BASE), CS_GSBASE);
	cr_assert_eq(msr_of(snap, MSR_SYSENTER_ESP), CS_GSBASE >> 8);
	cr_assert_eq(xsave_u64(snap, XSAVE_XMM15), CS_XMM_LO);
	struct vmm_err err = { 0 };
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	struct vm *vm;
	cr_assert_eq(vm_clone(NULL, s, &o, &vm, &err), 0, "%s", err.msg);
	const char modes[] = "uukkukuhu";
	for (unsigned i = 0; modes[i]; i++) {
		char mode = modes[i];
		cr_assert_eq(vm_guest_write(vm, vm->layout.in_base, &mode, 1, &err), 0, "%s", err.msg);
		struct vm_result res;
		run_ok(vm, &res);
		cr_assert_eq(report(&res, "xmm_lo"), CS_XMM_LO, "run %u (%c): XMM15 was not reset", i, mode);
		cr_assert_eq(report(&res, "xmm_hi"), CS_XMM_HI, "run %u (%c)", i, mode);
		cr_assert_eq(report(&res, "mxcsr"), CS_MXCSR, "run %u (%c): MXCSR was not reset", i, mode);
		cr_assert_eq(report(&res, "fcw"), CS_FCW, "run %u (%c): the x87 control word was not reset", i, mode);
		if (mode == 'k') {
			static const char *const dr[4] = { "dr0", "dr1", "dr2", "dr3" };
			for (int k = 0; k < 4; k++)
				cr_assert_eq(report(&res, dr[k]), snap->debugregs.db[k], "run %u: DR%d %#llx, snapshot %#llx", i,
				             k, (unsigned long long)report(&res, dr[k]), (unsigned long long)snap->debugregs.db[k]);
			cr_assert_eq(report(&res, "dr7") & 0xff, snap->debugregs.dr7 & 0xff, "run %u: DR7", i);
			cr_assert_eq(report(&res, "gsbase"), CS_GSBASE, "run %u: IA32_KERNEL_GS_BASE was not reset", i);
			cr_assert_eq(report(&res, "sysenter_esp"), CS_GSBASE >> 8, "run %u: IA32_SYSENTER_ESP", i);
		}
		/* The run changed what it says it changes. */
		struct vcpu_state now;
		cr_assert_eq(clone_vcpu_state(vm, 0, &now, &err), 0, "%s", err.msg);
		cr_assert_neq(xsave_u64(&now, XSAVE_XMM15), CS_XMM_LO, "run %u did not change XMM15", i);
		cr_assert_neq(xsave_u64(&now, XSAVE_MXCSR) & 0xffffffff, CS_MXCSR, "run %u did not change MXCSR", i);
		cr_assert_neq(xsave_u64(&now, XSAVE_FCW) & 0xffff, CS_FCW, "run %u did not change the x87 FCW", i);
		if (mode == 'k') {
			cr_assert_neq(now.debugregs.db[0], CS_DR0, "run %u did not change DR0", i);
			cr_assert_neq(now.debugregs.dr7, snap->debugregs.dr7, "run %u did not change DR7", i);
			cr_assert_neq(msr_of(&now, MSR_KERNEL_GS_BASE), CS_GSBASE, "run %u did not change the MSR", i);
		}
		struct reset_stats st;
		cr_assert_eq(vm_reset(vm, &st, &err), 0, "%s", err.msg);
		const char *why = vm->vcpus[0].plan ? vm->vcpus[0].plan->why : "no plan";
		/* The first run after vm_clone has no plan to judge its
		 * hypercalls by: it is reset in full, and the plan is made. */
		if (mode == 'u' && i > 0)
			cr_assert_eq(st.vcpus_fast, 1, "run %u (ring 3 only) was not reset the fast way: %s", i, why);
		else
			cr_assert_eq(st.vcpus_full, 1, "run %u (%c) was reset the fast way", i, mode);
		cr_assert_eq(clone_vcpu_state(vm, 0, &now, &err), 0, "%s", err.msg);
		assert_state_is(&now, snap, 0, i);
		assert_window_is_snapshot(vm, s, "after vm_reset");
	}
	vm_destroy(vm);
	snapshot_put(s);
}
