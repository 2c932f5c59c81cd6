/* clone.c - clone, reset, release and the shell pool (see clone.h). */
#include "clone.h"
#include "pc_devices.h"
#include "pc_state.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "gpt.h"
#include "kvm_ioctl.h"
#include "vcpu_fast.h"

#define PAGE 4096ull
#define CHUNK (2ull << 20)

struct vm_pool {
	pthread_mutex_t lock; /* idle[], stats: held only to take or put a shell */
	unsigned max_idle, nidle;
	struct vm **idle;
	struct vm_pool_stats st;
	unsigned max_live;
	uint64_t max_mem;
};

void vm_pool_set_limits(struct vm_pool *p, unsigned max_live, uint64_t max_mem)
{
	pthread_mutex_lock(&p->lock);
	p->max_live = max_live;
	p->max_mem = max_mem;
	pthread_mutex_unlock(&p->lock);
}

/* Count a new clone against the limits, or say which one it breaks. */
static int pool_admit(struct vm_pool *p, uint64_t mem, struct vmm_err *e)
{
	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	int r = 0;
	if (p->max_live && p->st.live >= p->max_live)
		r = vmm_fail(e, -EAGAIN, "clone limit reached: %u clones alive (vm_pool_set_limits)", p->max_live);
	else if (p->max_mem && p->st.live_mem + mem > p->max_mem)
		r = vmm_fail(e, -EAGAIN, "memory limit reached: %llu MiB of clones alive, limit %llu MiB",
		             (unsigned long long)(p->st.live_mem >> 20), (unsigned long long)(p->max_mem >> 20));
	if (r) {
		p->st.refused++;
	} else {
		p->st.live++;
		p->st.live_mem += mem;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

static void pool_unadmit(struct vm_pool *p, uint64_t mem)
{
	pthread_mutex_lock(&p->lock);
	p->st.live--;
	p->st.live_mem -= mem;
	pthread_mutex_unlock(&p->lock);
}

void vm_pool_forget(struct vm *vm)
{
	if (vm->pool) {
		pool_unadmit(vm->pool, vm->mem.size);
		vm->pool = NULL;
	}
}

int vm_pool_create(unsigned max_idle, struct vm_pool **out, struct vmm_err *e)
{
	struct vm_pool *p = calloc(1, sizeof(*p));
	if (p)
		p->idle = calloc(max_idle ? max_idle : 1, sizeof(*p->idle));
	if (!p || !p->idle) {
		free(p);
		return vmm_fail(e, -ENOMEM, "out of memory for the VM pool");
	}
	pthread_mutex_init(&p->lock, NULL);
	p->max_idle = max_idle;
	*out = p;
	return 0;
}

void vm_pool_destroy(struct vm_pool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nidle; i++)
		vm_destroy(p->idle[i]);
	pthread_mutex_destroy(&p->lock);
	free(p->idle);
	free(p);
}

void vm_pool_get_stats(struct vm_pool *p, struct vm_pool_stats *st)
{
	pthread_mutex_lock(&p->lock);
	*st = p->st;
	st->idle = p->nidle;
	pthread_mutex_unlock(&p->lock);
}

/* Take the best idle shell for s: one already showing s, else one of the
 * same shape (memory size, vCPUs, dirty mode), else NULL. */
static struct vm *pool_take(struct vm_pool *p, const struct snapshot *s, enum dirty_mode dm)
{
	if (!p)
		return NULL;
	pthread_mutex_lock(&p->lock);
	int best = -1;
	for (unsigned i = 0; i < p->nidle; i++) {
		struct vm *v = p->idle[i];
		if (v->mem.size != s->meta.mem_size || v->nvcpus != s->meta.nvcpus || v->dlog.requested != dm ||
		    (v->pc != NULL) != (s->meta.pc != NULL))
			continue; /* a PC snapshot needs a PC shell (irqchip, PIT, devices) and vice versa */
		if (v->clean_for == s) {
			best = (int)i;
			break;
		}
		if (best < 0)
			best = (int)i;
	}
	struct vm *v = NULL;
	if (best >= 0) {
		v = p->idle[best];
		p->idle[best] = p->idle[--p->nidle];
		if (v->clean_for == s)
			p->st.reused++;
		else
			p->st.remapped++;
	}
	pthread_mutex_unlock(&p->lock);
	return v;
}

/* Make the window show s: root memfd mapped, then the pages the layers
 * changed copied in (O(overlay), zero for a root snapshot). */
static void apply_overlay(struct vm *vm, const struct snapshot *s)
{
	for (uint64_t i = 0; i < s->noverlay; i++) {
		uint64_t gfn = s->overlay[i];
		memcpy(vm->mem.host + gfn * PAGE, snapshot_page(s, gfn), PAGE);
	}
}

/* ---- the fast vCPU reset (vcpu_fast.h) -------------------------------------- */

static const void *snap_page(void *ctx, uint64_t gpa)
{
	const struct snapshot *s = ctx;
	return gpa < s->meta.mem_size ? snapshot_page(s, gpa / PAGE) : NULL;
}

/* v's proof for vs (vcpu_fast.h), made once per snapshot state; NULL if
 * this vCPU never takes the fast path. */
static struct vcpu_fast_plan *plan_for(struct vm *vm, struct vcpu *v, const struct vcpu_state *vs)
{
	if (v->old_path || !v->sync_regs || vm->pc || !vm->gpt)
		return NULL;
	if (!v->plan && !(v->plan = calloc(1, sizeof(*v->plan))))
		return NULL;
	if (v->plan->key != vs) {
		const struct snapshot *s = vm->snap;
		struct vcpu_fast_env env = { .mem_size = s->meta.mem_size, .page = snap_page, .ctx = vm->snap };
		env.host_writes[env.nhost_writes][0] = s->meta.layout.in_base;
		env.host_writes[env.nhost_writes++][1] = s->meta.layout.in_size;
		if (s->meta.hc_gpa) {
			env.host_writes[env.nhost_writes][0] = s->meta.hc_gpa + offsetof(struct cowvm_hcall, ret);
			env.host_writes[env.nhost_writes++][1] = sizeof(int64_t);
		}
		vcpu_fast_plan_make(vs, &env, v->plan);
	}
	return v->plan;
}

/* What vm_reset may skip for v rests on: it was restored in full to vs
 * since it last ran anything unprovable, and vs itself is provably
 * ring-3 only (the plan). */
static const struct vcpu_fast_plan *fast_candidate(struct vm *vm, struct vcpu *v, const struct vcpu_state *vs)
{
	if (v->restored != vs || atomic_load(&v->tainted))
		return NULL;
	const struct vcpu_fast_plan *p = plan_for(vm, v, vs);
	return p && p->eligible ? p : NULL;
}

struct voids_arg {
	struct vm *vm;
	const struct vcpu_fast_plan *p;
};

static int page_voids(void *arg, uint64_t gpa, uint64_t frame)
{
	(void)frame;
	struct voids_arg *a = arg;
	return vcpu_fast_write_voids(a->p, gpa, gpa_ptr(&a->vm->mem, gpa, PAGE),
	                             snapshot_page(a->vm->snap, gpa / PAGE));
}

/* Does a page written since the last reset (by the guest, KVM or the VMM:
 * the GPT's written set, harvested) void the plan? A failed walk counts
 * as yes. One walk per 2 MiB chunk that holds a table or watched page. */
static bool plan_voided(struct vm *vm, const struct vcpu_fast_plan *p)
{
	struct voids_arg a = { .vm = vm, .p = p };
	for (uint64_t i = 0; i < p->nchunks; i++)
		if (gpt_for_each_written(vm->gpt, p->chunks[i], CHUNK, page_voids, &a))
			return true;
	return false;
}

/* Every vCPU back to vm->snap: the fast way where fast[i] (the plan holds
 * and none of its pages was written), else in full. A full restore first
 * finishes a completion left pending (and registers left in kvm_run), as
 * vcpu_drain_io says. `may_fast` (vm_reset): make the plan of a vCPU
 * restored in full, by which its next run's hypercalls are judged. */
static int restore_vcpus(struct vm *vm, const struct snapshot *s, const bool *fast, bool may_fast,
                         struct reset_stats *st, struct vmm_err *e)
{
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		const struct vcpu_state *vs = &s->meta.vcpu[i];
		int r;
		if (fast[i]) {
			r = vcpu_fast_restore(v, vs, e);
			st->vcpus_fast++;
		} else {
			v->restored = NULL; /* unknown until the restore is through */
			r = vcpu_drain_io(v, e);
			r = r ?: vcpu_state_restore(v->fd, vs, e);
			if (v->tsc_offset_attr)
				r = r ?: vcpu_state_restore_tsc(v->fd, vs, e);
			st->vcpus_full++;
		}
		if (r) {
			v->restored = NULL;
			return r;
		}
		v->restored = vs;
		atomic_store(&v->tainted, false);
		if (may_fast && !fast[i])
			plan_for(vm, v, vs);
		v->parked = (s->meta.parked_mask >> i) & 1;
	}
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* The snapshot hypercall returns the clone's number in this clone; a PC
 * guest's agent also finds it, with fresh randomness and the host's time,
 * in its info page. */
static int write_clone_id(struct vm *vm, struct vmm_err *e)
{
	int r = vm->pc ? pc_agent_info_write(vm, vm->clone_id, ++vm->generation, e) : 0;
	if (r || !vm->snap->meta.hc_gpa)
		return r; /* no hc_gpa: taken by the VMM, not asked for by the guest */
	int64_t ret = (int64_t)vm->clone_id;
	return vm_guest_write(vm, vm->snap->meta.hc_gpa + offsetof(struct cowvm_hcall, ret), &ret,
	                      sizeof(ret), e);
}

/*
 * Everything but memory back to vm->snap, in one place for vm_clone,
 * vm_reset and vm_reset_copy:
 *  1. pending I/O of the last run completed on every vCPU (vcpu_drain_io):
 *     KVM_SET_REGS does not cancel it, and the next KVM_RUN would finish
 *     the old instruction over the restored registers;
 *  2. the VM clock (KVM_SET_CLOCK) before any vCPU runs again, so kvmclock
 *     restarts from the snapshot's time in every clone and after every
 *     reset, whatever the shell's own age;
 *  3. a PC guest's interrupt controllers, PIT and devices (pc_state.h),
 *     before the vCPUs, whose LAPICs deliver into them;
 *  4. every vCPU's state, then for a PC KVM_KVMCLOCK_CTRL (the guest's
 *     watchdogs must not count the time the snapshot slept).
 * KVM itself may write guest memory meanwhile: a string IN completed by
 * the drain, and the kvmclock wall-clock struct, which KVM rewrites (with
 * the host's time now) whenever MSR_KVM_WALL_CLOCK_NEW is set. Those writes
 * are logged like the guest's, so memory is reset after this, not before
 * (restore_then_reset).
 * vm_reset (`may_fast`) restores a vCPU that provably ran only ring-3 code
 * the fast way (vcpu_fast.h): the proof reads the pages written since the
 * last reset, so the dirty log is harvested first; its drain may be left
 * to the next KVM_RUN when the pending completion changes nothing; the VM
 * clock is set only if some vCPU takes the full path or uses kvmclock.
 * PC guests never take it: for them the order above is unchanged.
 */
static int restore_machine(struct vm *vm, bool may_fast, struct reset_stats *st, struct vmm_err *e)
{
	struct snapshot *s = vm->snap;
	int r = 0;
	bool fast[COWVM_MAX_VCPUS] = { false }, any_fast = false;
	uint64_t t0 = mono_ns();
	for (unsigned i = 0; !r && i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		fast[i] = may_fast && fast_candidate(vm, v, &s->meta.vcpu[i]);
		any_fast |= fast[i];
		/* A fast candidate may leave a completion that writes nothing
		 * (vcpu_fast.h) to its next KVM_RUN; restore_vcpus drains it if
		 * the vCPU takes the full path after all. */
		if (!fast[i] || !vcpu_io_completes_clean(v))
			r = vcpu_drain_io(v, e);
	}
	/* The fast path's proof looks at the pages written since the last
	 * reset: all of them must be in the GPT first. */
	if (!r && any_fast)
		r = vm_harvest_dirty(vm, e);
	bool all_fast = true, clock = false;
	for (unsigned i = 0; !r && i < vm->nvcpus; i++) {
		const struct vcpu_fast_plan *p = fast[i] ? vm->vcpus[i].plan : NULL;
		fast[i] = p && !plan_voided(vm, p);
		all_fast &= fast[i];
		clock |= fast[i] && p->kvmclock;
	}
	/* Nothing in a guest that took the fast path reads the VM clock unless
	 * it enabled kvmclock (vcpu_fast.h). */
	if (!r && (!all_fast || clock)) {
		struct kvm_clock_data c = { .clock = s->meta.clock };
		r = KVM_IOCTL(vm->vm_fd, KVM_SET_CLOCK, &c, e);
		r = r < 0 ? r : 0;
	}
	r = r ?: (s->meta.pc ? pc_state_restore(vm, s->meta.pc, e) : 0);
	r = r ?: restore_vcpus(vm, s, fast, may_fast, st, e);
	r = r ?: (s->meta.pc ? pc_kvmclock_paused(vm, e) : 0);
	st->ns_machine += mono_ns() - t0;
	return r;
}

/* After memory is the snapshot's: the per-run fields of the VM object, then
 * the writes that differ from the snapshot on purpose: the clone's number
 * in the snapshot hypercall's `ret` and, for a PC, the agent info page. */
static int finish_restore(struct vm *vm, struct vmm_err *e)
{
	vm->snap_hc_gpa = 0;
	atomic_store(&vm->gpt_error, 0);
	atomic_store(&vm->mmio_exits, 0);
	atomic_store(&vm->unknown_io, 0);
	return write_clone_id(vm, e);
}

static int reset_memory(struct vm *vm, struct reset_stats *st, struct vmm_err *e);

/* vm_clone's shell already shows the snapshot: only what KVM wrote while
 * the machine state was restored needs resetting, usually nothing. */
static int restore_then_reset(struct vm *vm, struct vmm_err *e)
{
	struct reset_stats st = { 0 };
	int r = restore_machine(vm, false, &st, e);
	uint64_t seen = atomic_load(&vm->dirty_seen);
	r = r ?: vm_harvest_dirty(vm, e);
	if (!r && atomic_load(&vm->dirty_seen) != seen)
		r = reset_memory(vm, &st, e);
	return r ?: finish_restore(vm, e);
}

int vm_clone(struct vm_pool *pool, struct snapshot *s, const struct clone_opts *o,
             struct vm **out, struct vmm_err *e)
{
	*out = NULL;
	enum dirty_mode dm = o->dirty == DIRTY_OFF ? DIRTY_RING : o->dirty;
	const struct snapshot *root = snapshot_root(s);
	int r = pool_admit(pool, s->meta.mem_size, e);
	if (r)
		return r;
	struct vm *vm = pool_take(pool, s, dm);
	if (vm && vm->clean_for != s && vm->gpt) {
		gpt_destroy(vm->gpt); /* before the family it belongs to may go */
		vm->gpt = NULL;
	}
	if (vm && vm->clean_for != s) {
		r = guest_mem_remap_file(&vm->mem, root->memfd, e);
		if (!r)
			apply_overlay(vm, s);
	} else if (!vm) {
		bool pc = s->meta.pc != NULL;
		r = vm_create_machine(s->meta.mem_size, s->meta.nvcpus, dm, root->memfd, pc, &vm, e);
		r = r ?: (pc ? pc_devices_create(vm, e) : 0);
		if (!r) {
			apply_overlay(vm, s);
			if (pool) {
				pthread_mutex_lock(&pool->lock);
				pool->st.created++;
				pthread_mutex_unlock(&pool->lock);
			}
		}
	}
	if (r) {
		vm_destroy(vm);
		if (pool)
			pool_unadmit(pool, s->meta.mem_size);
		return r;
	}
	vm->pool = pool; /* counted: vm_destroy / vm_release give it back */
	snapshot_put(vm->clean_for);
	vm->clean_for = NULL;
	snapshot_get(s);
	vm->snap = s;
	vm->cfg.mem_size = s->meta.mem_size;
	vm->cfg.nvcpus = s->meta.nvcpus;
	vm->cfg.workload = s->meta.workload;
	vm->cfg.timeout_ms = o->timeout_ms;
	vm->cfg.console = o->console;
	vm->cfg.console_ctx = o->console_ctx;
	vm->cfg.snapshots = o->snapshots;
	vm->cfg.should_stop = o->should_stop;
	vm->cfg.should_stop_ctx = o->should_stop_ctx;
	vm->cfg.reset_remap_min = o->reset_remap_min ? o->reset_remap_min : RESET_REMAP_MIN_DEFAULT;
	vm->layout = s->meta.layout;
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		/* Whatever this shell ran before (a snapshot since freed may
		 * have lived at the address of s): nothing is known. */
		struct vcpu *v = &vm->vcpus[i];
		v->restored = NULL;
		if (v->plan)
			v->plan->key = NULL;
		v->old_path = o->old_path;
	}
	atomic_store(&vm->dirty_seen, 0);
	/* A pooled shell released clean for s kept its GPT: reset made it
	 * equal to a fresh gpt_clone of s. */
	r = vm->gpt ? 0 : gpt_clone(s->gpt, &vm->gpt);
	if (r)
		r = vmm_fail(e, r, "cloning the snapshot's GPT failed: %s", strerror(-r));
	/* The clone's number is claimed only once nothing can fail any more
	 * (a failed clone must not use one up): write the next free number,
	 * then claim it; if another thread claimed it meanwhile, write the
	 * new next one (this clone's memory is ours alone until we return). */
	unsigned long long id = atomic_load(&s->next_clone);
	vm->clone_id = id + 1;
	r = r ?: restore_then_reset(vm, e);
	while (!r && !atomic_compare_exchange_weak(&s->next_clone, &id, id + 1)) {
		vm->clone_id = id + 1; /* id now holds the number taken meanwhile */
		r = write_clone_id(vm, e);
	}
	if (r) {
		vm_destroy(vm);
		return r;
	}
	*out = vm;
	return 0;
}

/* ---- reset ----------------------------------------------------------------- */

struct leaf_list {
	uint64_t *gpa;
	unsigned *nwritten;
	uint64_t n, cap;
};

static int collect_leaf(void *arg, uint64_t leaf_gpa, unsigned nwritten)
{
	struct leaf_list *l = arg;
	if (l->n == l->cap) {
		uint64_t ncap = l->cap ? l->cap * 2 : 64;
		uint64_t *g = realloc(l->gpa, ncap * sizeof(*g));
		if (g)
			l->gpa = g;
		unsigned *c = g ? realloc(l->nwritten, ncap * sizeof(*c)) : NULL;
		if (!c)
			return -ENOMEM;
		l->nwritten = c;
		l->cap = ncap;
	}
	l->gpa[l->n] = leaf_gpa;
	l->nwritten[l->n++] = nwritten;
	return 0;
}

struct restore_arg {
	struct vm *vm;
	uint64_t copied;
};

static int restore_page(void *arg, uint64_t gpa, uint64_t frame)
{
	(void)frame;
	struct restore_arg *a = arg;
	uint8_t *dst = gpa_ptr(&a->vm->mem, gpa, PAGE);
	if (!dst)
		return -EFAULT;
	memcpy(dst, snapshot_page(a->vm->snap, gpa / PAGE), PAGE);
	dirty_log_mark_restored(&a->vm->dlog, gpa / PAGE, 1);
	a->copied++;
	return 0;
}

/* Memory and GPT back to the snapshot (vCPUs stopped). */
static int reset_memory(struct vm *vm, struct reset_stats *st, struct vmm_err *e)
{
	struct snapshot *s = vm->snap;
	int r = vm_harvest_dirty(vm, e);
	if (r)
		return r;
	struct leaf_list l = { 0 };
	r = gpt_for_each_written_leaf(vm->gpt, 0, vm->mem.size, collect_leaf, &l);
	if (r) {
		free(l.gpa);
		free(l.nwritten);
		return vmm_fail(e, r, "listing the clone's dirty leaves failed: %s", strerror(-r));
	}
	struct restore_arg ra = { .vm = vm };
	for (uint64_t i = 0; !r && i < l.n; i++) {
		uint64_t chunk = l.gpa[i];
		st->dirty_pages += l.nwritten[i];
		bool overlay = (s->chunk_overlay[chunk / CHUNK / 64] >> (chunk / CHUNK % 64)) & 1;
		/* Many written pages and nothing layered in this chunk: one
		 * madvise instead of hundreds of copies; the window shows the
		 * root memfd again and the pages refault (docs/snapshots.md). */
		if (l.nwritten[i] >= vm->cfg.reset_remap_min && !overlay &&
		    !madvise(vm->mem.host + chunk, CHUNK, MADV_DONTNEED)) {
			st->chunks_dropped++;
			dirty_log_mark_restored(&vm->dlog, chunk / PAGE, CHUNK / PAGE);
		}
		else
			r = gpt_for_each_written(vm->gpt, chunk, CHUNK, restore_page, &ra);
		r = r ?: gpt_reset_range(vm->gpt, s->gpt, chunk, CHUNK);
		if (r)
			r = vmm_fail(e, r, "resetting chunk %#llx failed: %s", (unsigned long long)chunk,
			             strerror(-r));
		else
			st->leaves_reshared++;
	}
	st->pages_copied += ra.copied;
	free(l.gpa);
	free(l.nwritten);
	/* Bitmap mode: the restored pages must fault (and be logged) on their
	 * next write again. */
	return r ?: dirty_log_reprotect(&vm->dlog, false, e);
}

int vm_reset(struct vm *vm, struct reset_stats *st, struct vmm_err *e)
{
	struct reset_stats dummy;
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (!vm->snap)
		return vmm_fail(e, -EINVAL, "vm_reset: this VM is not a clone");
	/* Machine state first: memory is reset after it, so whatever KVM
	 * wrote into guest memory while restoring is reset too. */
	int r = restore_machine(vm, true, st, e);
	uint64_t t0 = mono_ns();
	r = r ?: reset_memory(vm, st, e);
	st->ns_memory = mono_ns() - t0;
	return r ?: finish_restore(vm, e);
}

int vm_reset_copy(struct vm *vm, struct vmm_err *e)
{
	if (!vm->snap)
		return vmm_fail(e, -EINVAL, "vm_reset_copy: this VM is not a clone");
	struct reset_stats st = { 0 };
	int r = restore_machine(vm, false, &st, e); /* first: see restore_machine */
	r = r ?: vm_harvest_dirty(vm, e); /* empties the log; the GPT is reset whole below */
	if (r)
		return r;
	memcpy(vm->mem.host, snapshot_root(vm->snap)->map, vm->mem.size);
	apply_overlay(vm, vm->snap);
	r = gpt_reset_range(vm->gpt, vm->snap->gpt, 0, vm->mem.size);
	if (r)
		return vmm_fail(e, r, "resetting the GPT failed: %s", strerror(-r));
	r = dirty_log_reprotect(&vm->dlog, true, e);
	return r ?: finish_restore(vm, e);
}

/* Delete the coverage memslot: it points at host memory the caller owns
 * (an AFL map) and may free once the clone is released; a later clone on
 * this shell must not write there. */
static int unmap_coverage(struct vm *vm, struct vmm_err *e)
{
	if (!vm->coverage_size)
		return 0;
	struct kvm_userspace_memory_region slot = { .slot = 1, .guest_phys_addr = COWVM_GPA_COVERAGE };
	int r = KVM_IOCTL(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot, e);
	if (r < 0)
		return r;
	vm->coverage_size = 0;
	return 0;
}

void vm_release(struct vm_pool *pool, struct vm *vm)
{
	if (!vm)
		return;
	vm_pool_forget(vm);
	struct reset_stats st;
	struct vmm_err e;
	if (!pool || !vm->snap || unmap_coverage(vm, &e) || reset_memory(vm, &st, &e)) {
		vm_destroy(vm);
		return;
	}
	/* The window now shows vm->snap exactly: keep that knowledge (and the
	 * reference that makes it meaningful) for the next clone of it. */
	vm->clean_for = vm->snap;
	vm->snap = NULL;
	pthread_mutex_lock(&pool->lock);
	if (pool->nidle < pool->max_idle) {
		pool->idle[pool->nidle++] = vm;
		vm = NULL;
	}
	pthread_mutex_unlock(&pool->lock);
	vm_destroy(vm);
}

/* ---- memory statistics ----------------------------------------------------- */

static int window_smaps(const void *start, uint64_t *rss, uint64_t *anon)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	char line[256];
	int in = 0, found = 0;
	uintptr_t want = (uintptr_t)start;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = lo == want;
			found |= in;
			continue;
		}
		unsigned long long kb;
		if (in && sscanf(line, "Rss: %llu kB", &kb) == 1)
			*rss = kb << 10;
		else if (in && sscanf(line, "Anonymous: %llu kB", &kb) == 1)
			*anon = kb << 10;
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

int vm_mem_stats(struct vm *vm, struct vm_mem_stats *st, struct vmm_err *e)
{
	memset(st, 0, sizeof(*st));
	if (vm->gpt) {
		int r = vm_harvest_dirty(vm, e);
		if (r)
			return r;
		struct gpt_stats g;
		gpt_get_stats(vm->gpt, &g);
		st->gpt_private_pages = g.rss_private;
		st->gpt_shared_pages = g.rss_shared;
		st->gpt_table_bytes = g.table_bytes;
		st->leaves_shared = g.leaves_shared;
		st->leaves_private = g.leaves_private;
	}
	int r = window_smaps(vm->mem.host, &st->host_rss_bytes, &st->host_private_bytes);
	if (r)
		return vmm_fail(e, r, "reading /proc/self/smaps for the guest window failed: %s", strerror(-r));
	return 0;
}
