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
#include <errno.h>
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

/* ---- isolation: 100 clones on 4 threads ------------------------------------ */

struct iso_arg {
	struct snapshot *s;
	struct vm_pool *pool;
	int n;
	int failures;
	char why[600];
	uint64_t ids[100];
};

static void *iso_thread(void *p)
{
	struct iso_arg *a = p;
	struct clone_opts o = { .console = quiet, .timeout_ms = 30000 };
	for (int i = 0; i < a->n; i++) {
		struct vmm_err err = { 0 };
		struct vm *c;
		if (vm_clone(a->pool, a->s, &o, &c, &err)) {
			snprintf(a->why, sizeof(a->why), "vm_clone: %s", err.msg);
			a->failures++;
			return NULL;
		}
		/* Fresh, or a shell another thread released: exactly the snapshot. */
		struct window_diff d;
		if (window_diff(c, a->s, &d)) {
			char m[200];
			window_diff_str(&d, m, sizeof(m));
			snprintf(a->why, sizeof(a->why), "clone %llu starts from another memory: %s",
			         (unsigned long long)c->clone_id, m);
			a->failures++;
			vm_destroy(c);
			return NULL;
		}
		struct vm_result res;
		uint64_t id = 0, bad = 1, sum = 0;
		if (vm_run(c, &res, &err) || res.end != VM_END_EXIT || res.status ||
		    vm_result_report(&res, "snap.id", &id) || vm_result_report(&res, "snap.bad", &bad) ||
		    vm_result_report(&res, "snap.checksum", &sum) || id != c->clone_id || bad ||
		    sum != model_checksum(4 << 8, 4 << 8, id)) {
			snprintf(a->why, sizeof(a->why), "clone %llu: end %d status %d id %llu bad %llu: %s",
			         (unsigned long long)c->clone_id, res.end, res.status, (unsigned long long)id,
			         (unsigned long long)bad, res.msg);
			a->failures++;
		}
		a->ids[i] = id;
		vm_release(a->pool, c);
	}
	return NULL;
}

Test(snapshot, hundred_clones_on_four_threads_are_isolated, .timeout = 300)
{
	REQUIRE_KVM();
	struct snapshot *s = boot_snapshot("snaptest:mib=4", 64 * MiB);
	struct vm_pool *pool;
	struct vmm_err err = { 0 };
	cr_assert_eq(vm_pool_create(4, &pool, &err), 0);
	struct iso_arg a[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct iso_arg){ .s = s, .pool = pool, .n = 25 };
		cr_assert_eq(pthread_create(&t[i], NULL, iso_thread, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	char seen[101] = { 0 };
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(a[i].failures, 0, "thread %d: %s", i, a[i].why);
		for (int j = 0; j < 25; j++) {
			cr_assert(a[i].ids[j] >= 1 && a[i].ids[j] <= 100, "clone id %llu", (unsigned long long)a[i].ids[j]);
			cr_assert_not(seen[a[i].ids[j]], "clone id %llu twice", (unsigned long long)a[i].ids[j]);
			seen[a[i].ids[j]] = 1;
		}
	}
	/* Every clone wrote all 1024 pages, and every clone started from the
	 * snapshot's bytes in its whole window (checked in iso_thread): 96 of
	 * them on shells that vm_release had reset. */
	struct vm_pool_stats ps;
	vm_pool_get_stats(pool, &ps);
	cr_assert_leq(ps.created, 4, "pool created %llu shells for 4 threads", (unsigned long long)ps.created);
	cr_assert_geq(ps.reused, 96);
	vm_pool_destroy(pool);
	snapshot_put(s);
}

/* ---- reset ---------------------------------------------------------------- */

static void save_state(struct vm *vm, unsigned i, struct vcpu_state *st)
{
	struct vmm_err err = { 0 };
	cr_assert_eq(clone_vcpu_state(vm, i, st, &err), 0, "vCPU %u: %s", i, err.msg);
}

static void assert_same_state(const struct vcpu_state *a, const struct vcpu_state *b, const char *what)
{
	char why[200];
	cr_assert_eq(vcpu_state_diff(a, b, why, sizeof(why)), 0, "%s: %s", what, why);
}

static void reset_is_bit_exact(enum dirty_mode dm, unsigned remap_min)
{
	struct snapshot *s = boot_snapshot("snaptest:mib=8,touch=1500", 64 * MiB);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000, .dirty = dm, .reset_remap_min = remap_min };
	struct vmm_err err = { 0 };
	struct vm *c;
	cr_assert_eq(vm_clone(NULL, s, &o, &c, &err), 0, "%s", err.msg);
	assert_window_is_snapshot(c, s, "fresh clone");
	struct vcpu_state st0, st1;
	save_state(c, 0, &st0);
	struct vm_result res1, res2;
	run_clone(c, &res1);
	cr_assert_eq(res1.end, VM_END_EXIT, "%s", res1.msg);
	cr_assert_eq(report(&res1, "snap.bad"), 0);
	struct window_diff d;
	cr_assert_geq(window_diff(c, s, &d), 1500, "the run changed %llu pages", (unsigned long long)d.npages);
	struct reset_stats rs;
	cr_assert_eq(vm_reset(c, &rs, &err), 0, "vm_reset: %s", err.msg);
	/* The guest wrote 1500 pages (plus its stack): all of them were seen. */
	cr_assert_geq(rs.dirty_pages, 1500, "reset saw %llu dirty pages", (unsigned long long)rs.dirty_pages);
	cr_assert_lt(rs.dirty_pages, 1600);
	assert_window_is_snapshot(c, s, "after reset");
	save_state(c, 0, &st1);
	assert_same_state(&st0, &st1, "after reset");
	/* Same input, same output: the second run reports exactly the same. */
	run_clone(c, &res2);
	cr_assert_eq(res2.end, VM_END_EXIT, "%s", res2.msg);
	cr_assert_eq(res2.nreports, res1.nreports);
	for (unsigned i = 0; i < res1.nreports; i++) {
		cr_assert_str_eq(res1.reports[i].key, res2.reports[i].key);
		cr_assert_eq(res1.reports[i].value, res2.reports[i].value, "%s differs", res1.reports[i].key);
	}
	cr_assert_eq(vm_reset(c, &rs, &err), 0, "%s", err.msg);
	assert_window_is_snapshot(c, s, "after the second reset");
	vm_destroy(c);
	snapshot_put(s);
}

Test(reset, restores_memory_and_registers_bit_exactly_dirty_ring) { REQUIRE_KVM(); reset_is_bit_exact(DIRTY_RING, UINT32_MAX); }
Test(reset, restores_memory_and_registers_bit_exactly_chunk_drop) { REQUIRE_KVM(); reset_is_bit_exact(DIRTY_RING, 1); }
Test(reset, restores_memory_and_registers_bit_exactly_dirty_bitmap) { REQUIRE_KVM(); reset_is_bit_exact(DIRTY_BITMAP, RESET_REMAP_MIN_DEFAULT); }

Test(reset, gpt_tracks_exactly_the_written_pages)
{
	REQUIRE_KVM();
	struct snapshot *s = boot_snapshot("snaptest:mib=4,touch=100", 64 * MiB);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	struct vmm_err err = { 0 };
	struct vm *c;
	cr_assert_eq(vm_clone(NULL, s, &o, &c, &err), 0, "%s", err.msg);
	struct vm_mem_stats m;
	cr_assert_eq(vm_mem_stats(c, &m, &err), 0, "%s", err.msg);
	cr_assert_eq(m.leaves_private, 1);
	cr_assert_eq(m.leaves_shared, 64 * MiB / (2 * MiB) - 1);
	/* The truth, independent of the dirty log that feeds the GPT: a fresh
	 * clone's window is a MAP_PRIVATE mapping of the snapshot memfd, so the
	 * pages anybody wrote (the guest through KVM, the VMM through its
	 * tracked write helper) are exactly the window's private anonymous
	 * pages: present (bit 63) or swapped (bit 62) and not a file page (bit
	 * 61) in /proc/self/pagemap; pages only read are file pages. The GPT's
	 * written set must be that set, page for page, in both directions:
	 * right after the clone (only the clone's number was written, into the
	 * hypercall block) and after the run (heap, stack and, on KVMs with
	 * two-dimensional paging, page-table pages the MMU set A/D bits in). */
	uint64_t npages = c->mem.size / PAGE, id_page = UINT64_MAX;
	uint64_t *pm = calloc(npages, sizeof(*pm));
	FILE *pf = fopen("/proc/self/pagemap", "rb");
	cr_assert(pm && pf);
	for (int phase = 0; phase < 2; phase++) {
		if (phase == 1) {
			struct vm_result res;
			run_clone(c, &res);
			cr_assert_eq(res.end, VM_END_EXIT, "%s", res.msg);
			/* what the run left in the dirty log, into the GPT */
			cr_assert_eq(vm_harvest_dirty(c, &err), 0, "%s", err.msg);
		}
		cr_assert_eq(fseeko(pf, (off_t)((uintptr_t)c->mem.host / PAGE * 8), SEEK_SET), 0);
		cr_assert_eq(fread(pm, 8, npages, pf), npages, "reading pagemap");
		uint64_t n = 0;
		for (uint64_t p = 0; p < npages; p++) {
			bool host = (pm[p] & (1ull << 62)) || ((pm[p] & (1ull << 63)) && !(pm[p] & (1ull << 61)));
			uint64_t fl;
			cr_assert_eq(gpt_lookup(c->gpt, p * PAGE, NULL, &fl), 0, "page %#llx", (unsigned long long)p);
			cr_assert_eq(!!(fl & GPT_WRITTEN), host,
			             "%s, page %#llx: the GPT says %s, the host kernel says %s",
			             phase ? "after the run" : "after the clone", (unsigned long long)p,
			             (fl & GPT_WRITTEN) ? "written" : "not written", host ? "written" : "not written");
			n += host;
			if (phase == 0 && host)
				id_page = p;
		}
		struct gpt_stats gs;
		gpt_get_stats(c->gpt, &gs);
		cr_assert_eq(gs.written, n, "written counter %llu, %llu pages", (unsigned long long)gs.written,
		             (unsigned long long)n);
		if (phase == 0)
			cr_assert_eq(n, 1, "%llu pages written right after the clone, want the id page only",
			             (unsigned long long)n);
		else
			cr_assert_geq(n, 101, "%llu pages written by the run", (unsigned long long)n);
	}
	fclose(pf);
	free(pm);
	/* the 100 heap pages the guest wrote, each in a frame of its own */
	for (uint64_t p = 0; p < 100; p++) {
		uint64_t frame, flags;
		uint64_t gpa = ((c->layout.heap_base + PAGE - 1) & ~(PAGE - 1)) + p * PAGE;
		cr_assert_eq(gpt_lookup(c->gpt, gpa, &frame, &flags), 0);
		cr_assert(flags & GPT_WRITTEN, "heap page %llu not written in the GPT", (unsigned long long)p);
		cr_assert_geq(frame, s->fam->frames.nroot, "page %llu still names a snapshot frame", (unsigned long long)p);
	}
	/* After a reset only the clone's number (written again) is written. */
	struct reset_stats rs;
	cr_assert_eq(vm_reset(c, &rs, &err), 0, "%s", err.msg);
	for (uint64_t p = 0; p < npages; p++) {
		uint64_t fl;
		cr_assert_eq(gpt_lookup(c->gpt, p * PAGE, NULL, &fl), 0);
		cr_assert_eq(!!(fl & GPT_WRITTEN), p == id_page, "after the reset, page %#llx is %s",
		             (unsigned long long)p, (fl & GPT_WRITTEN) ? "written" : "not written");
	}
	struct gpt_stats gs;
	gpt_get_stats(c->gpt, &gs);
	cr_assert_eq(gs.written, 1);
	vm_destroy(c);
	snapshot_put(s);
}

/* ---- layers ---------------------------------------------------------------- */

Test(layers, clone_of_a_clone_snapshot_reads_the_layer)
{
	REQUIRE_KVM();
	struct snapshot *root = boot_snapshot("snaptest:mib=4,layers=1,touch=16", 64 * MiB);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000, .snapshots = true };
	struct vmm_err err = { 0 };
	struct vm *a;
	cr_assert_eq(vm_clone(NULL, root, &o, &a, &err), 0, "%s", err.msg);
	struct vm_result res;
	run_clone(a, &res);
	cr_assert_eq(res.end, VM_END_SNAPSHOT, "%s", res.msg);
	cr_assert_eq(report(&res, "snap.bad"), 0);
	struct snapshot *layer;
	cr_assert_eq(snapshot_take(a, &layer, &err), 0, "snapshot_take of a clone: %s", err.msg);
	cr_assert_not_null(layer->parent);
	cr_assert_eq(layer->depth, 1);
	/* Only what the clone changed: 16 heap pages, stack, the id page. */
	cr_assert_geq(layer->ncaptured, 16);
	cr_assert_leq(layer->ncaptured, 32, "layer captured %llu pages", (unsigned long long)layer->ncaptured);
	/* The clone that made the layer runs on and finishes. */
	run_clone(a, &res);
	cr_assert_eq(res.end, VM_END_EXIT, "%s", res.msg);
	cr_assert_eq(res.status, 0);
	uint64_t maker = a->clone_id;
	vm_destroy(a);
	for (int i = 0; i < 3; i++) {
		struct vm *b;
		cr_assert_eq(vm_clone(NULL, layer, &o, &b, &err), 0, "%s", err.msg);
		run_clone(b, &res);
		cr_assert_eq(res.end, VM_END_EXIT, "%s", res.msg);
		cr_assert_eq(report(&res, "snap.seen"), maker, "layer clone saw writer %llu",
		             (unsigned long long)report(&res, "snap.seen"));
		cr_assert_eq(report(&res, "snap.bad"), 0);
		cr_assert_eq(report(&res, "snap.id"), (uint64_t)i + 1);
		/* And reset of a layer clone goes back to the layer. */
		uint64_t sum = report(&res, "snap.checksum");
		cr_assert_eq(vm_reset(b, NULL, &err), 0, "%s", err.msg);
		run_clone(b, &res);
		cr_assert_eq(report(&res, "snap.seen"), maker);
		cr_assert_eq(report(&res, "snap.checksum"), sum);
		vm_destroy(b);
	}
	snapshot_put(root); /* the layer keeps its parent alive */
	struct vm *b;
	cr_assert_eq(vm_clone(NULL, layer, &o, &b, &err), 0, "%s", err.msg);
	run_clone(b, &res);
	cr_assert_eq(report(&res, "snap.seen"), maker);
	vm_destroy(b);
	snapshot_put(layer);
}

/* ---- serverless shape: warm ------------------------------------------------ */

Test(warm, each_clone_answers_its_own_request)
{
	REQUIRE_KVM();
	struct snapshot *s = boot_snapshot("warm:mib=16", 64 * MiB);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	struct vmm_err err = { 0 };
	struct vm_pool *pool;
	cr_assert_eq(vm_pool_create(2, &pool, &err), 0);
	for (uint64_t i = 1; i <= 10; i++) {
		struct vm *c;
		cr_assert_eq(vm_clone(pool, s, &o, &c, &err), 0, "%s", err.msg);
		uint64_t req[2 + 8] = { COWVM_REQ_MAGIC, 8 };
		uint64_t want = COWVM_FOLD_INIT;
		for (int k = 0; k < 8; k++) {
			req[2 + k] = i * 1000 + (uint64_t)k;
			want = cowvm_fold(want, cowvm_warm_value(req[2 + k]));
		}
		cr_assert_eq(vm_guest_write(c, c->layout.in_base, req, sizeof(req), &err), 0, "%s", err.msg);
		struct vm_result res;
		run_clone(c, &res);
		cr_assert_eq(res.end, VM_END_EXIT, "%s", res.msg);
		cr_assert_eq(res.status, 0);
		struct cowvm_response resp;
		cr_assert_eq(vm_guest_read(c, c->layout.out_base, &resp, sizeof(resp), &err), 0);
		cr_assert_eq(resp.magic, COWVM_RESP_MAGIC);
		cr_assert_eq(resp.clone, c->clone_id);
		cr_assert_eq(resp.status, 0);
		cr_assert_eq(resp.nkeys, 8);
		cr_assert_eq(resp.sum, want);
		vm_release(pool, c);
	}
	/* A bad request gets status 1, not a crash. */
	struct vm *c;
	cr_assert_eq(vm_clone(pool, s, &o, &c, &err), 0, "%s", err.msg);
	uint64_t bad[2] = { 0xdead, 1u << 30 };
	cr_assert_eq(vm_guest_write(c, c->layout.in_base, bad, sizeof(bad), &err), 0);
	struct vm_result res;
	run_clone(c, &res);
	cr_assert_eq(res.status, 1);
	/* Host writes outside RAM are refused. */
	cr_assert_eq(vm_guest_write(c, c->mem.size - 8, bad, sizeof(bad), &err), -EFAULT);
	vm_release(pool, c);
	vm_pool_destroy(pool);
	snapshot_put(s);
}

/* ---- lifetime: 1,000 clones, no leaks ---------------------------------------- */

Test(lifetime, thousand_clones_leak_nothing, .timeout = 600)
{
	REQUIRE_KVM();
	struct snapshot *s = boot_snapshot("snaptest:mib=1,touch=4", 64 * MiB);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	struct vmm_err err = { 0 };
	uint64_t tables0 = gpt_domain_live_tables(s->fam->dom);
	int fds0 = count_fds();
	struct vm_pool *pool;
	cr_assert_eq(vm_pool_create(2, &pool, &err), 0);
	for (int i = 0; i < 1000; i++) {
		struct vm *c;
		/* Every 10th without the pool: a full KVM VM create/destroy. */
		struct vm_pool *p = i % 10 ? pool : NULL;
		cr_assert_eq(vm_clone(p, s, &o, &c, &err), 0, "clone %d: %s", i, err.msg);
		struct vm_result res;
		run_clone(c, &res);
		cr_assert_eq(res.end, VM_END_EXIT, "clone %d: %s", i, res.msg);
		if (i % 3 == 0)
			vm_release(p, c);
		else
			vm_destroy(c);
	}
	vm_pool_destroy(pool);
	cr_assert_eq(count_fds(), fds0, "fds leaked");
	cr_assert_eq(gpt_domain_live_tables(s->fam->dom), tables0, "GPT tables leaked");
	cr_assert_eq(ram_frames_live_private(&s->fam->frames), 0, "private frames leaked");
	snapshot_put(s);
	cr_assert_eq(count_fds(), fds0 - 1, "the snapshot's memfd was not closed");
}

/* ---- several vCPUs ------------------------------------------------------------ */

/*
 * snaptest with aps=1 on 4 vCPUs: the three secondaries never park; each
 * loops writing its own page, reading an unbacked address (an MMIO exit
 * whose completion KVM holds until the next KVM_RUN) and ringing the
 * doorbell, while vCPU 0 asks for the snapshot. So the snapshot, and every
 * clone and reset, stop vCPUs in the middle of such exits. Each clone and
 * each reset must give back the snapshot's memory (whole window) and every
 * vCPU's exact saved state, with no I/O completion left over from the run
 * before; the secondaries' own checks (their count is in a register, their
 * page in memory) must pass in every run.
 */
#define AP_ROUNDS 8   /* clones, each on the pool's one shell */
#define AP_RUNS 6     /* runs per clone, a reset after each */
static void assert_vcpus_are_snapshot(struct vm *c, const struct snapshot *s, const char *when, int round, int run)
{
	for (unsigned i = 0; i < c->nvcpus; i++) {
		struct vcpu_state st;
		char what[100];
		save_state(c, i, &st);
		snprintf(what, sizeof(what), "vCPU %u %s (clone %d, run %d)", i, when, round, run);
		assert_same_state(&s->meta.vcpu[i], &st, what);
	}
}

Test(snapshot, four_vcpu_guest_clones_and_resets, .timeout = 300)
{
	REQUIRE_KVM();
	struct vm_config cfg = { .mem_size = 64 * MiB, .nvcpus = 4, .timeout_ms = 20000, .console = quiet,
	                         .snapshots = true };
	struct vmm_err err = { 0 };
	cr_assert_eq(wl_parse("snaptest:mib=2,aps=1", &cfg.workload, &err), 0, "%s", err.msg);
	struct vm *vm;
	cr_assert_eq(vm_create(&cfg, &vm, &err), 0, "%s", err.msg);
	struct vm_result res;
	run_clone(vm, &res);
	cr_assert_eq(res.end, VM_END_SNAPSHOT, "%s", res.msg);
	struct snapshot *s;
	cr_assert_eq(snapshot_take(vm, &s, &err), 0, "%s", err.msg);
	vm_destroy(vm);
	cr_assert_eq(s->meta.nvcpus, 4);
	cr_assert_eq(s->meta.parked_mask, 0, "secondaries parked before the snapshot (mask %#x)", s->meta.parked_mask);
	struct vm_pool *pool;
	cr_assert_eq(vm_pool_create(1, &pool, &err), 0);
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	for (int round = 0; round < AP_ROUNDS; round++) {
		struct vm *c;
		cr_assert_eq(vm_clone(pool, s, &o, &c, &err), 0, "%s", err.msg);
		cr_assert_eq(c->nvcpus, 4);
		struct vm_pool_stats ps;
		vm_pool_get_stats(pool, &ps);
		cr_assert_eq(ps.reused, (uint64_t)round, "clone %d did not reuse the released shell", round);
		char when[64];
		snprintf(when, sizeof(when), "clone %d", round);
		assert_window_is_snapshot(c, s, when);
		assert_vcpus_are_snapshot(c, s, "after the clone", round, 0);
		for (int run = 0; run < AP_RUNS; run++) {
			run_clone(c, &res);
			cr_assert_eq(res.end, VM_END_EXIT, "clone %d run %d: %s", round, run, res.msg);
			cr_assert_eq(res.status, 0, "clone %d run %d: exit %d", round, run, res.status);
			cr_assert_eq(report(&res, "snap.bad"), 0);
			cr_assert_eq(report(&res, "snap.checksum"), model_checksum(2 << 8, 2 << 8, c->clone_id));
			cr_assert_eq(report(&res, "snap.apstuck"), 0, "secondaries did not run (clone %d run %d)", round, run);
			cr_assert_eq(report(&res, "snap.apbad"), 0, "secondaries' checks failed: own page, MMIO all-ones or doorbell -ENOSYS (clone %d run %d)",
			             round, run);
			cr_assert_eq(vm_reset(c, NULL, &err), 0, "%s", err.msg);
			snprintf(when, sizeof(when), "clone %d, reset after run %d", round, run);
			assert_window_is_snapshot(c, s, when);
			assert_vcpus_are_snapshot(c, s, "after reset", round, run);
		}
		vm_release(pool, c);
	}
	vm_pool_destroy(pool);
	snapshot_put(s);
}
