/*
 * snapshot.c - taking snapshots and building them from parts (see
 * snapshot.h): RAM into a sealed memfd, the family's frame store and GPT
 * domain, the snapshot's GPT, vCPU states, and for layers the captured
 * pages and the overlay (pages that differ from the root).
 */
#include "snapshot.h"
#include "pc_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fault_inject.h"
#include <unistd.h>

#include "gpt.h"
#include "kvm_ioctl.h"

#define PAGE 4096ull
#define CHUNK (2ull << 20)
/* Private frames a family may have live at once (frame numbers are
 * reserved, not allocated: the arrays behind them are NORESERVE). */
#define FAMILY_MAX_PRIVATE (1ull << 30)

static inline int bit_test(const uint64_t *b, uint64_t i) { return (int)((b[i / 64] >> (i % 64)) & 1); }
static inline void bit_set(uint64_t *b, uint64_t i) { b[i / 64] |= 1ull << (i % 64); }

int snapshot_memfd(uint64_t size, struct vmm_err *e)
{
	int fd = fault_inject_hit(FAULT_MEMFD) ? (errno = EMFILE, -1)
	                                       : memfd_create("cowvm-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return vmm_fail(e, -errno, "memfd_create failed: %s", strerror(errno));
	if (ftruncate(fd, (off_t)size)) {
		int err = errno;
		close(fd);
		return vmm_fail(e, -err, "sizing the snapshot memfd to %llu MiB failed: %s",
		                (unsigned long long)(size >> 20), strerror(err));
	}
	return fd;
}

static void family_put(struct snap_family *f)
{
	if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	if (f->dom)
		gpt_domain_destroy(f->dom);
	ram_frames_free(&f->frames);
	free(f);
}

static bool table_fail(void *ctx)
{
	(void)ctx;
	return fault_inject_hit(FAULT_GPT_TABLE);
}

static int family_create(uint64_t mem_size, struct snap_family **out, struct vmm_err *e)
{
	struct snap_family *f = calloc(1, sizeof(*f));
	if (!f)
		return vmm_fail(e, -ENOMEM, "out of memory for a snapshot family");
	atomic_init(&f->refs, 1);
	f->mem_size = mem_size;
	f->npages = mem_size / PAGE;
	int r = ram_frames_init(&f->frames, f->npages, FAMILY_MAX_PRIVATE, e);
	if (r) {
		free(f);
		return r;
	}
	struct gpt_domain_config dc = { .fs = &ram_frames_ops, .fs_ctx = &f->frames,
	                                .table_fail = table_fail, .table_fail_ctx = NULL };
	r = gpt_domain_create(&dc, &f->dom);
	if (r) {
		family_put(f);
		return vmm_fail(e, r, "cannot create the GPT domain: %s", strerror(-r));
	}
	*out = f;
	return 0;
}

void snapshot_get(struct snapshot *s)
{
	/* RELAXED: the caller already holds a reference. */
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void snapshot_put(struct snapshot *s)
{
	while (s && atomic_fetch_sub(&s->refs, 1) == 1) {
		struct snapshot *parent = s->parent;
		if (s->gpt)
			gpt_destroy(s->gpt);
		if (s->map)
			munmap((void *)s->map, s->meta.mem_size);
		if (s->memfd >= 0)
			close(s->memfd);
		free(s->captured);
		free(s->overlay);
		free(s->chunk_overlay);
		free(s->meta.vcpu);
		free(s->meta.pc);
		for (struct snap_file_ref *f = atomic_load(&s->file), *p; f; f = p) {
			p = f->prev;
			free(f);
		}
		family_put(s->fam);
		free(s);
		s = parent; /* drop the reference s held on its parent */
	}
}

const struct snapshot *snapshot_root(const struct snapshot *s)
{
	while (s->parent)
		s = s->parent;
	return s;
}

const uint8_t *snapshot_page(const struct snapshot *s, uint64_t gfn)
{
	for (; s->parent; s = s->parent)
		if (bit_test(s->captured, gfn))
			return s->map + gfn * PAGE;
	return s->map + gfn * PAGE;
}

/* Common part: a snapshot object with meta copied, memfd sealed and mapped. */
static int snap_new(const struct snap_meta *m, int memfd, struct snapshot **out, struct vmm_err *e)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct vcpu_state *vs = m->nvcpus && m->nvcpus <= COWVM_MAX_VCPUS ? calloc(m->nvcpus, sizeof(*vs)) : NULL;
	struct pc_state *pc = m->pc ? malloc(sizeof(*pc)) : NULL;
	if (!s || !vs || (m->pc && !pc)) {
		free(s);
		free(vs);
		free(pc);
		close(memfd);
		return vmm_fail(e, m->nvcpus && m->nvcpus <= COWVM_MAX_VCPUS ? -ENOMEM : -EINVAL,
		                "cannot allocate the snapshot (%u vCPUs)", m->nvcpus);
	}
	atomic_init(&s->refs, 1);
	s->meta = *m;
	memcpy(vs, m->vcpu, m->nvcpus * sizeof(*vs));
	s->meta.vcpu = vs;
	if (pc)
		*pc = *m->pc;
	s->meta.pc = pc;
	s->memfd = memfd;
	uint64_t cwords = (m->mem_size / CHUNK + 63) / 64;
	s->chunk_overlay = calloc(cwords, 8);
	if (!s->chunk_overlay) {
		snapshot_put(s);
		return vmm_fail(e, -ENOMEM, "out of memory for the snapshot");
	}
	/* Seal: nobody (us included) can change the snapshot's RAM any more;
	 * clones map it MAP_PRIVATE and get their own copy of what they write. */
	if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
		int err = errno;
		snapshot_put(s);
		return vmm_fail(e, -err, "sealing the snapshot memfd failed: %s", strerror(err));
	}
	void *p = vmm_mmap(NULL, m->mem_size, PROT_READ, MAP_SHARED | MAP_NORESERVE, memfd, 0);
	if (p == MAP_FAILED) {
		int err = errno;
		snapshot_put(s);
		return vmm_fail(e, -err, "mapping the snapshot memfd failed: %s", strerror(err));
	}
	s->map = p;
	*out = s;
	return 0;
}

int snapshot_root_create(const struct snap_meta *m, int memfd, struct snapshot **out,
                         struct vmm_err *e)
{
	struct snapshot *s;
	int r = snap_new(m, memfd, &s, e);
	if (r)
		return r;
	r = family_create(m->mem_size, &s->fam, e);
	if (!r) {
		r = gpt_create(s->fam->dom, &s->gpt);
		/* Frame n is page n of the memfd; not PRIVATE: every clone shares. */
		r = r ?: gpt_map(s->gpt, 0, m->mem_size, 0, GPT_WRITABLE);
		if (r)
			r = vmm_fail(e, r, "building the snapshot's GPT failed: %s", strerror(-r));
	}
	if (r) {
		snapshot_put(s);
		return r;
	}
	*out = s;
	return 0;
}

/* Sorted union of two sorted unique arrays. */
static uint64_t *merge_sorted(const uint64_t *a, uint64_t na, const uint64_t *b, uint64_t nb,
                              uint64_t *n)
{
	uint64_t *o = malloc((na + nb ? na + nb : 1) * sizeof(uint64_t));
	if (!o)
		return NULL;
	uint64_t i = 0, j = 0, k = 0;
	while (i < na || j < nb) {
		if (j == nb || (i < na && a[i] < b[j]))
			o[k++] = a[i++];
		else if (i == na || b[j] < a[i])
			o[k++] = b[j++];
		else {
			o[k++] = a[i++];
			j++;
		}
	}
	*n = k;
	return o;
}

int snapshot_layer_create(struct snapshot *parent, const struct snap_meta *m, int memfd,
                          const uint64_t *gfns, uint64_t n, struct snapshot **out,
                          struct vmm_err *e)
{
	if (m->mem_size != parent->meta.mem_size) {
		close(memfd);
		return vmm_fail(e, -EINVAL, "layer memory size %llu MiB differs from its parent's %llu MiB",
		                (unsigned long long)(m->mem_size >> 20),
		                (unsigned long long)(parent->meta.mem_size >> 20));
	}
	uint64_t npages = m->mem_size / PAGE;
	for (uint64_t i = 0; i < n; i++)
		if (gfns[i] >= npages || (i && gfns[i] <= gfns[i - 1])) {
			close(memfd);
			return vmm_fail(e, -EINVAL, "layer page list is not sorted, unique and inside RAM");
		}
	struct snapshot *s;
	int r = snap_new(m, memfd, &s, e);
	if (r)
		return r;
	snapshot_get(parent);
	s->parent = parent;
	s->depth = parent->depth + 1;
	atomic_fetch_add(&parent->fam->refs, 1);
	s->fam = parent->fam;
	s->ncaptured = n;
	s->captured = calloc((npages + 63) / 64, 8);
	s->overlay = merge_sorted(parent->overlay, parent->noverlay, gfns, n, &s->noverlay);
	if (!s->captured || !s->overlay) {
		snapshot_put(s);
		return vmm_fail(e, -ENOMEM, "out of memory for the layer's page maps");
	}
	for (uint64_t i = 0; i < n; i++)
		bit_set(s->captured, gfns[i]);
	for (uint64_t i = 0; i < s->noverlay; i++)
		bit_set(s->chunk_overlay, s->overlay[i] * PAGE / CHUNK);
	/* The layer's GPT: share all of the parent's leaves, then record each
	 * captured page as written (its leaf is broken out of COW, the page gets
	 * a private frame): exactly the state a clone that wrote them is in. */
	r = gpt_clone(parent->gpt, &s->gpt);
	for (uint64_t i = 0; !r && i < n; i++)
		r = gpt_write_fault(s->gpt, gfns[i] * PAGE, NULL);
	if (r) {
		snapshot_put(s);
		return vmm_fail(e, r, "building the layer's GPT failed: %s", strerror(-r));
	}
	*out = s;
	return 0;
}

/* ---- taking a snapshot of a stopped VM ----------------------------------- */

bool snapshot_page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	for (unsigned i = 0; i < PAGE / 8; i++)
		if (q[i])
			return 0;
	return 1;
}

/* Which pages of [host, host + npages pages) exist (present or swapped out,
 * from /proc/self/pagemap: bit 63 present, bit 62 swapped); a page never
 * touched reads as zero and needs no copy. Without pagemap every page is
 * looked at (zero pages are still skipped by the caller). */
#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
static int page_exists(int pagemap, const uint8_t *host, uint64_t p, uint64_t *buf, uint64_t *buf_first,
                       uint64_t *buf_n, uint64_t npages)
{
	if (pagemap < 0)
		return 1;
	if (p < *buf_first || p >= *buf_first + *buf_n) {
		uint64_t n = npages - p < 4096 ? npages - p : 4096;
		off_t off = (off_t)(((uintptr_t)host / PAGE + p) * 8);
		ssize_t got = pread(pagemap, buf, n * 8, off);
		if (got != (ssize_t)(n * 8))
			return 1; /* cannot tell: look at the page */
		*buf_first = p;
		*buf_n = n;
	}
	return (buf[p - *buf_first] & (PM_PRESENT | PM_SWAPPED)) != 0;
}

/* Root: copy every existing non-zero page of the booted VM's anonymous RAM
 * into the memfd (holes elsewhere). */
static int capture_root(struct vm *vm, int memfd, uint64_t *copied, struct vmm_err *e)
{
	uint64_t size = vm->mem.size, npages = size / PAGE;
	uint64_t *pm = malloc(4096 * sizeof(uint64_t));
	uint8_t *dst = vmm_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, memfd, 0);
	int err = dst == MAP_FAILED ? errno : 0;
	if (!pm || dst == MAP_FAILED) {
		free(pm);
		return vmm_fail(e, -(pm ? err : ENOMEM), "cannot map the snapshot memfd for writing: %s",
		                strerror(pm ? err : ENOMEM));
	}
	int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t n = 0, first = 0, nbuf = 0;
	for (uint64_t p = 0; p < npages; p++) {
		const uint8_t *src = vm->mem.host + p * PAGE;
		if (!page_exists(pagemap, vm->mem.host, p, pm, &first, &nbuf, npages) || snapshot_page_is_zero(src))
			continue;
		memcpy(dst + p * PAGE, src, PAGE);
		n++;
	}
	if (pagemap >= 0)
		close(pagemap);
	munmap(dst, size); /* before sealing: F_SEAL_WRITE needs no writable mapping */
	free(pm);
	*copied = n;
	return 0;
}

struct collect {
	uint64_t *gfn;
	uint64_t n, cap;
};

static int collect_page(void *arg, uint64_t gpa, uint64_t frame)
{
	(void)frame;
	struct collect *c = arg;
	if (c->n == c->cap) {
		uint64_t ncap = c->cap ? c->cap * 2 : 1024;
		uint64_t *g = realloc(c->gfn, ncap * sizeof(uint64_t));
		if (!g)
			return -ENOMEM;
		c->gfn = g;
		c->cap = ncap;
	}
	c->gfn[c->n++] = gpa / PAGE;
	return 0;
}

/* Layer: the clone's written pages (what it changed since its snapshot). */
static int capture_layer(struct vm *vm, int memfd, struct collect *c, struct vmm_err *e)
{
	int r = vm_harvest_dirty(vm, e);
	if (r)
		return r;
	r = gpt_for_each_written(vm->gpt, 0, vm->mem.size, collect_page, c);
	if (r)
		return vmm_fail(e, r, "listing the clone's written pages failed: %s", strerror(-r));
	for (uint64_t i = 0; i < c->n; i++) {
		uint64_t off = c->gfn[i] * PAGE;
		const uint8_t *src = gpa_ptr(&vm->mem, off, PAGE);
		if (!src || pwrite(memfd, src, PAGE, (off_t)off) != (ssize_t)PAGE)
			return vmm_fail(e, -EIO, "writing page %#llx to the layer memfd failed",
			                (unsigned long long)off);
	}
	return 0;
}

int snapshot_take(struct vm *vm, struct snapshot **out, struct vmm_err *e)
{
	*out = NULL;
	struct vcpu_state *vs = calloc(vm->nvcpus, sizeof(*vs));
	if (!vs)
		return vmm_fail(e, -ENOMEM, "out of memory for vCPU state");
	struct snap_meta m = { .mem_size = vm->mem.size, .nvcpus = vm->nvcpus, .layout = vm->layout,
	                       .hc_gpa = vm->snap_hc_gpa, .workload = vm->cfg.workload, .vcpu = vs };
	int r = 0;
	/* VM-wide kvmclock, read with every vCPU stopped (KVM_GET_CLOCK). */
	struct kvm_clock_data clk = { 0 };
	r = KVM_IOCTL(vm->vm_fd, KVM_GET_CLOCK, &clk, e);
	r = r < 0 ? r : 0;
	m.clock = clk.clock;
	for (unsigned i = 0; !r && i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (v->parked)
			m.parked_mask |= 1u << i;
		r = vcpu_drain_io(v, e);
		r = r ?: vcpu_state_save(v->fd, &vm->msrs, vm->pc != NULL, &vs[i], e);
	}
	/* A PC's interrupt controllers, PIT and devices, after every vCPU's
	 * pending I/O is complete (a finished OUT may have changed them). */
	struct pc_state pcs;
	if (!r && vm->pc) {
		r = pc_state_save(vm, &pcs, e);
		m.pc = &pcs;
	}
	int memfd = r ? r : snapshot_memfd(vm->mem.size, e);
	if (memfd < 0) {
		free(vs);
		return memfd;
	}
	if (!vm->snap) {
		uint64_t copied = 0;
		r = capture_root(vm, memfd, &copied, e);
		if (r)
			close(memfd);
		else
			r = snapshot_root_create(&m, memfd, out, e);
		if (!r)
			(*out)->ncaptured = copied;
	} else {
		struct collect c = { 0 };
		r = capture_layer(vm, memfd, &c, e);
		if (r)
			close(memfd);
		else
			r = snapshot_layer_create(vm->snap, &m, memfd, c.gfn, c.n, out, e);
		free(c.gfn);
	}
	free(vs);
	return r;
}
