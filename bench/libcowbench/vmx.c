/* vmx.c - bench guests, cowvm clones and the baseline VMs (bench_int.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench_int.h"
#include "cowvm_abi.h"

static void quiet(void *ctx, const char *buf, size_t len) { (void)ctx, (void)buf, (void)len; }

struct snapshot *bx_boot(struct bctx *c, uint64_t mem, uint64_t fill_mib, double *us)
{
	(void)c;
	struct vm_config cfg = { .mem_size = mem, .nvcpus = 1, .timeout_ms = 600000, .console = quiet,
	                         .snapshots = true };
	char spec[64];
	snprintf(spec, sizeof(spec), "bench:mib=%llu", (unsigned long long)fill_mib);
	struct vmm_err err = { 0 };
	if (wl_parse(spec, &cfg.workload, &err))
		bdie("%s: %s", spec, err.msg);
	double t0 = now_us();
	struct vm *vm;
	if (vm_create(&cfg, &vm, &err))
		bdie("vm_create (%s): %s", spec, err.msg);
	struct vm_result res;
	if (vm_run(vm, &res, &err))
		bdie("vm_run (%s): %s", spec, err.msg);
	if (res.end != VM_END_SNAPSHOT)
		bdie("%s: the guest ended (%d: %s) instead of asking for a snapshot", spec, res.end, res.msg);
	if (!c->tsc_khz) {
		double k = bx_vcpu_tsc_khz(vm);
		if (k > 0) {
			c->tsc_khz = k;
			c->tsc_source = "KVM_GET_TSC_KHZ";
		}
	}
	struct snapshot *s;
	if (snapshot_take(vm, &s, &err))
		bdie("snapshot_take (%s): %s", spec, err.msg);
	vm_destroy(vm);
	if (us)
		*us = now_us() - t0;
	return s;
}

struct vm *bx_clone(struct vm_pool *pool, struct snapshot *s)
{
	return bx_clone_dirty(pool, s, DIRTY_RING);
}

struct vm *bx_clone_dirty(struct vm_pool *pool, struct snapshot *s, enum dirty_mode dm)
{
	struct clone_opts o = { .console = quiet, .timeout_ms = 600000, .dirty = dm };
	struct vmm_err err = { 0 };
	struct vm *vm;
	if (vm_clone(pool, s, &o, &vm, &err))
		bdie("vm_clone: %s", err.msg);
	return vm;
}

void bx_cmd(struct vm *vm, const struct cowvm_bench_cmd *cmd)
{
	struct vmm_err err = { 0 };
	struct cowvm_bench_cmd c = *cmd;
	c.magic = COWVM_BENCH_MAGIC;
	if (vm_guest_write(vm, vm->layout.in_base, &c, sizeof(c), &err))
		bdie("writing the bench command: %s", err.msg);
}

void bx_run(struct vm *vm, struct vm_result *res, const char *what)
{
	struct vm_result local;
	if (!res)
		res = &local;
	struct vmm_err err = { 0 };
	if (vm_run(vm, res, &err))
		bdie("%s: vm_run: %s", what, err.msg);
	if (res->end != VM_END_EXIT || res->status != 0)
		bdie("%s: the clone ended with %d, status %d: %s", what, res->end, res->status, res->msg);
}

uint64_t bx_report(const struct vm_result *res, const char *key)
{
	uint64_t v;
	if (vm_result_report(res, key, &v))
		bdie("the guest did not report %s", key);
	return v;
}

double bx_vcpu_tsc_khz(struct vm *vm)
{
	if (!vm->nvcpus)
		return 0;
	int r = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
	return r > 0 ? (double)r : 0;
}

double host_tsc_khz(void)
{
	uint64_t a = __builtin_ia32_rdtsc();
	double t0 = now_us();
	struct timespec d = { 0, 20 * 1000 * 1000 };
	nanosleep(&d, NULL);
	uint64_t b = __builtin_ia32_rdtsc();
	double t1 = now_us();
	return (double)(b - a) / (t1 - t0) * 1000.0;
}

/* ---- baseline VMs ------------------------------------------------------------ */

const char *bvm_name(enum bvm_kind k)
{
	switch (k) {
	case BVM_FRESH: return "fresh VM + MAP_PRIVATE";
	case BVM_EAGER: return "eager copy";
	case BVM_UFFD_WP: return "uffd-wp";
	case BVM_UFFD_COPY: return "uffd-copy";
	}
	return "?";
}

void bx_eager_copy(const struct snapshot *s, uint8_t *dst)
{
	const struct snapshot *root = snapshot_root(s);
	uint64_t size = s->meta.mem_size;
	/* pread: holes read as zeros without allocating tmpfs pages (reading
	 * them through the memfd's mapping would), and every destination page
	 * is written, so faulted in. */
	for (uint64_t off = 0; off < size;) {
		uint64_t len = size - off > 64 * MiB ? 64 * MiB : size - off;
		ssize_t n = pread(root->memfd, dst + off, len, (off_t)off);
		if (n <= 0)
			bdie("eager copy: pread of the snapshot memfd failed: %s", n ? strerror(errno) : "EOF");
		off += (uint64_t)n;
	}
	/* a layer's pages over the root's */
	for (uint64_t i = 0; i < s->noverlay; i++)
		memcpy(dst + s->overlay[i] * PAGE, snapshot_page(s, s->overlay[i]), PAGE);
}

void bvm_create(struct snapshot *s, enum bvm_kind kind, struct bvm *b)
{
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	struct vmm_err err = { 0 };
	const struct snapshot *root = snapshot_root(s);
	uint64_t size = s->meta.mem_size;
	struct vm *vm;
	if (vm_create_shell(size, s->meta.nvcpus, DIRTY_OFF, kind == BVM_FRESH ? root->memfd : -1, &vm, &err))
		bdie("%s: creating the VM: %s", bvm_name(kind), err.msg);
	b->vm = vm;
	if (kind != BVM_FRESH)
		madvise(vm->mem.host, size, MADV_NOHUGEPAGE); /* 4 KiB pages, as the seed's */
	if (kind == BVM_FRESH) {
		for (uint64_t i = 0; i < s->noverlay; i++)
			memcpy(vm->mem.host + s->overlay[i] * PAGE, snapshot_page(s, s->overlay[i]), PAGE);
	} else if (kind == BVM_EAGER || kind == BVM_UFFD_WP) {
		double t0 = now_us();
		bx_eager_copy(s, vm->mem.host);
		b->copy_us = now_us() - t0;
	}
	if (kind == BVM_UFFD_WP || kind == BVM_UFFD_COPY) {
		bool wp = kind == BVM_UFFD_WP;
		char why[160];
		int fd;
		double t0 = now_us();
		if (uffd_setup(wp, vm->mem.host, size, &fd, why, sizeof(why)))
			bdie("%s: %s", bvm_name(kind), why);
		b->register_us = now_us() - t0;
		b->u = uffd_serve(fd, wp, vm->mem.host, size, wp ? NULL : root->map);
	}
	/* What vm_clone does after the memory: vCPUs, run settings, the
	 * clone's number into the snapshot call's `ret`. */
	vm->cfg.workload = s->meta.workload;
	vm->cfg.timeout_ms = 600000;
	vm->cfg.console = quiet;
	vm->cfg.snapshots = false;
	vm->layout = s->meta.layout;
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		if (vcpu_state_restore(vm->vcpus[i].fd, &s->meta.vcpu[i], &err))
			bdie("%s: vcpu_state_restore: %s", bvm_name(kind), err.msg);
		vm->vcpus[i].parked = (s->meta.parked_mask >> i) & 1;
	}
	if (s->meta.hc_gpa) {
		int64_t id = (int64_t)(atomic_fetch_add(&s->next_clone, 1) + 1);
		if (vm_guest_write(vm, s->meta.hc_gpa + offsetof(struct cowvm_hcall, ret), &id, sizeof(id), &err))
			bdie("%s: writing the clone number: %s", bvm_name(kind), err.msg);
	}
}

void bvm_destroy(struct bvm *b)
{
	if (b->u)
		uffd_stop(b->u);
	vm_destroy(b->vm);
	memset(b, 0, sizeof(*b));
}
