/*
 * snap_bench.c - snapshot, clone and reset benchmark on real KVM
 * (docs/benchmarks-snapshot.md). Everything is measured side by side in
 * one run; figures are medians over repeats, p99 and min are shown too;
 * nothing is asserted on absolute times (only on guest results: a clone
 * that does not exit 0, or a snaptest clone that sees the wrong memory,
 * stops the benchmark, because its times would mean nothing).
 *
 * Suites:
 *   clone   per guest size: vm_clone alone and vm_clone + vm_run up to the
 *           guest's first exit after the snapshot point (the bench guest's
 *           `bench` clone exits at once), for
 *             pool        a pooled shell already showing the snapshot
 *                         (vm_release puts it back after each clone),
 *             pool-remap  a pooled shell that showed another snapshot of the
 *                         same size (window remapped MAP_FIXED, memslot kept),
 *             fresh       vm_clone(NULL): KVM_CREATE_VM + vCPUs + memslot +
 *                         MAP_PRIVATE window each time (Firecracker-style),
 *             eager       copy all of the snapshot's RAM into a fresh
 *                         anonymous mapping (THP and 4 KiB pages), touching
 *                         every page (pread from
 *                         the memfd: reading the memfd's holes through its
 *                         mapping would allocate tmpfs pages for good).
 *   reset   64 MiB guest, snaptest:mib=N,touch=D for D = 1, 16, 256, 4096:
 *           vm_reset after each run (only the reset is timed), against a
 *           fresh VM per run (vm_clone(NULL) + vm_destroy) and a pooled
 *           clone + vm_release per run.
 *   remap   the reset heuristic: k private pages in each of 8 chunks,
 *           reset copying pages (reset_remap_min = UINT32_MAX) vs dropping
 *           the chunk (reset_remap_min = 1), plus the guest's next run
 *           writing the same pages (write only, and write + read the chunks).
 *   memory  vm_mem_stats of an idle clone (fresh shell, pooled shell) and of
 *           a clone that wrote 1% / 100% of a 32 MiB buffer.
 *
 * Usage: snap-bench [--quick] [--repeat N] [--sizes 64M,512M,4G]
 *                   [--suites clone,vcpu,reset,remap,memory] [--json FILE]
 * Progress goes to stderr; tables then JSON (one object per line) to
 * stdout, or the JSON to FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clone.h"
#include "gpt.h"
#include "cowvm_abi.h"
#include "size_parse.h"
#include "snapshot.h"
#include "stats.h"
#include "vm.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PAGE 4096ull
#define CHUNK (2ull << 20)


/* ---- small utilities ------------------------------------------------------ */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "snap-bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "  ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static const char *size_name(uint64_t b, char *buf, size_t n)
{
	if (b >= GiB && b % GiB == 0)
		snprintf(buf, n, "%lluG", (unsigned long long)(b / GiB));
	else
		snprintf(buf, n, "%lluM", (unsigned long long)(b / MiB));
	return buf;
}

/* Samples and their statistics: bench/libcowbench/stats.h. */
#define samples bsamples
#define stat3 bstat

static void s_add(struct samples *s, double x)
{
	if (bs_add(s, x))
		die("out of memory");
}

static void s_free(struct samples *s) { bs_free(s); }
static struct stat3 s_stat(struct samples *s) { return bs_stat(s); }

/* ---- results -------------------------------------------------------------- */

struct row {
	char suite[16], method[48];
	uint64_t size;          /* guest memory, bytes */
	char param[24];         /* JSON key of the extra parameter, "" if none */
	double pval;
	struct stat3 st;
};

static struct row *rows;
static size_t nrows, caprows;
static FILE *json_out;
static char *json_buf; /* JSON lines, printed at the end */
static size_t json_len;
static FILE *json_mem;

static struct row *add_row(const char *suite, const char *method, uint64_t size, const char *param,
                           double pval, struct samples *s)
{
	if (nrows == caprows) {
		caprows = caprows ? caprows * 2 : 64;
		rows = realloc(rows, caprows * sizeof(*rows));
		if (!rows)
			die("out of memory");
	}
	struct row *r = &rows[nrows++];
	memset(r, 0, sizeof(*r));
	snprintf(r->suite, sizeof(r->suite), "%s", suite);
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->size = size;
	if (param)
		snprintf(r->param, sizeof(r->param), "%s", param);
	r->pval = pval;
	r->st = s_stat(s);
	fprintf(json_mem,
	        "{\"bench\":\"snap-bench\",\"suite\":\"%s\",\"method\":\"%s\",\"size\":%llu", suite,
	        method, (unsigned long long)size);
	if (param)
		fprintf(json_mem, ",\"%s\":%.0f", param, pval);
	fprintf(json_mem, ",\"n\":%zu,\"median_us\":%.2f,\"p99_us\":%.2f,\"min_us\":%.2f}\n", r->st.n,
	        r->st.median, r->st.p99, r->st.min);
	return r;
}

static const struct row *find_row(const char *suite, const char *method, uint64_t size,
                                  double pval)
{
	for (size_t i = 0; i < nrows; i++)
		if (!strcmp(rows[i].suite, suite) && !strcmp(rows[i].method, method) &&
		    rows[i].size == size && rows[i].pval == pval)
			return &rows[i];
	return NULL;
}

struct ratio {
	char name[96];
	double value;
	char target[24];
	int met; /* -1: no target */
};
static struct ratio ratios[64];
static unsigned nratios;

static void add_ratio(const char *name, double value, const char *target, int met)
{
	if (nratios == sizeof(ratios) / sizeof(ratios[0]))
		return;
	struct ratio *r = &ratios[nratios++];
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->value = value;
	snprintf(r->target, sizeof(r->target), "%s", target ? target : "");
	r->met = met;
	fprintf(json_mem, "{\"bench\":\"snap-bench\",\"suite\":\"ratio\",\"name\":\"%s\",\"value\":%.3f", name,
	        value);
	if (target)
		fprintf(json_mem, ",\"target\":\"%s\",\"met\":%s", target, met ? "true" : "false");
	fprintf(json_mem, "}\n");
}

/* ---- guests ---------------------------------------------------------------- */

static void quiet(void *ctx, const char *buf, size_t len) { (void)ctx, (void)buf, (void)len; }

/* Boot `spec` in a `mem`-byte guest, run it to its snapshot request, take it. */
static struct snapshot *boot_snapshot(const char *spec, uint64_t mem, double *boot_us)
{
	struct vm_config cfg = { .mem_size = mem, .nvcpus = 1, .timeout_ms = 60000, .console = quiet,
	                         .snapshots = true };
	struct vmm_err err = { 0 };
	if (wl_parse(spec, &cfg.workload, &err))
		die("workload %s: %s", spec, err.msg);
	double t0 = now_us();
	struct vm *vm;
	if (vm_create(&cfg, &vm, &err))
		die("vm_create (%s): %s", spec, err.msg);
	struct vm_result res;
	if (vm_run(vm, &res, &err))
		die("vm_run (%s): %s", spec, err.msg);
	if (res.end != VM_END_SNAPSHOT)
		die("%s: the guest ended (%d: %s) instead of asking for a snapshot", spec, res.end, res.msg);
	struct snapshot *s;
	if (snapshot_take(vm, &s, &err))
		die("snapshot_take (%s): %s", spec, err.msg);
	vm_destroy(vm);
	if (boot_us)
		*boot_us = now_us() - t0;
	return s;
}

static void run_ok(struct vm *vm, const char *what)
{
	struct vm_result res;
	struct vmm_err err = { 0 };
	if (vm_run(vm, &res, &err))
		die("%s: vm_run: %s", what, err.msg);
	if (res.end != VM_END_EXIT || res.status != 0)
		die("%s: clone ended with %d status %d: %s", what, res.end, res.status, res.msg);
	uint64_t bad;
	if (!vm_result_report(&res, "snap.bad", &bad) && bad)
		die("%s: snaptest clone saw %llu wrong pages", what, (unsigned long long)bad);
}

static struct vm *clone_or_die(struct vm_pool *pool, struct snapshot *s, unsigned remap_min)
{
	struct clone_opts o = { .console = quiet, .timeout_ms = 60000, .reset_remap_min = remap_min };
	struct vmm_err err = { 0 };
	struct vm *vm;
	if (vm_clone(pool, s, &o, &vm, &err))
		die("vm_clone: %s", err.msg);
	return vm;
}

static void reset_or_die(struct vm *vm, struct reset_stats *st)
{
	struct vmm_err err = { 0 };
	if (vm_reset(vm, st, &err))
		die("vm_reset: %s", err.msg);
}

/* ---- options ---------------------------------------------------------------- */

struct opts {
	bool quick;
	unsigned repeat;          /* base repeat count */
	uint64_t sizes[8];
	unsigned nsizes;
	bool suite_clone, suite_vcpu, suite_reset, suite_remap, suite_memory;
	const char *json_path;
};

static unsigned reps(const struct opts *o, unsigned scale_div)
{
	unsigned n = o->repeat / (scale_div ? scale_div : 1);
	return n ? n : 1;
}

/* ---- suite 1: clone latency ----------------------------------------------- */

struct clone_sizes {
	struct snapshot *snap[8]; /* per size: bench:mib=1 (kept for the memory suite) */
};

static void eager_copy_once(const struct snapshot *s, bool huge, struct samples *copy)
{
	uint64_t size = s->meta.mem_size;
	double t0 = now_us();
	uint8_t *dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (dst == MAP_FAILED)
		die("eager copy: mmap of %llu MiB failed: %s", (unsigned long long)(size >> 20), strerror(errno));
	madvise(dst, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	/* pread copies every page (holes read as zeros without allocating
	 * tmpfs pages) and writes, so faults in, every destination page. */
	for (uint64_t off = 0; off < size;) {
		ssize_t n = pread(s->memfd, dst + off, size - off > 64 * MiB ? 64 * MiB : size - off, (off_t)off);
		if (n <= 0)
			die("eager copy: pread of the snapshot memfd failed: %s", n ? strerror(errno) : "EOF");
		off += (uint64_t)n;
	}
	double t1 = now_us();
	s_add(copy, t1 - t0);
	munmap(dst, size);
}

/* Samples of one guest size in the clone suite. */
struct clone_samples {
	struct samples c, cr, rel, rc, rcr, fc, fcr, des, gc, gd, vr;
};

static void suite_clone(const struct opts *o, struct clone_sizes *cs)
{
	unsigned ns = o->nsizes;
	fprintf(stderr, "clone latency (sizes:");
	for (unsigned i = 0; i < ns; i++)
		fprintf(stderr, " %lluM", (unsigned long long)(o->sizes[i] >> 20));
	fprintf(stderr, ")\n");
	struct snapshot *s2[8];
	struct vm_pool *pa[8], *pb[8];
	struct clone_samples cs_[8];
	memset(cs_, 0, sizeof(cs_));
	struct vmm_err err = { 0 };
	bool big = false;
	for (unsigned si = 0; si < ns; si++) {
		char sn[16];
		double boot;
		cs->snap[si] = boot_snapshot("bench:mib=1", o->sizes[si], &boot);
		s2[si] = boot_snapshot("bench:mib=1", o->sizes[si], NULL);
		progress("%s: booted and snapshotted in %.1f ms (%llu non-zero pages)",
		         size_name(o->sizes[si], sn, sizeof(sn)), boot / 1000,
		         (unsigned long long)cs->snap[si]->ncaptured);
		if (vm_pool_create(1, &pa[si], &err) || vm_pool_create(1, &pb[si], &err))
			die("%s", err.msg);
		big |= o->sizes[si] >= 2 * GiB;
	}

	/* Rounds: in each, every size and every method once, so that load
	 * on the (shared) host hits every figure alike:
	 *   (a)  pool A, one shell, always showing s (reused);
	 *   (a') pool B, one shell, alternately given s and s2 (remapped);
	 *   (b)  a fresh shell per clone, destroyed after its run;
	 *   breakdown: gpt_clone + gpt_destroy of s's GPT, and the vCPU
	 *        state restore on a pooled clone. */
	unsigned n = big ? reps(o, 2) * 3 / 2 : reps(o, 1), warm = 3;
	for (unsigned i = 0; i < warm + n; i++) {
		bool keep = i >= warm;
		for (unsigned si = 0; si < ns; si++) {
			struct snapshot *s = cs->snap[si];
			struct clone_samples *m = &cs_[si];
			double t0 = now_us();
			struct vm *vm = clone_or_die(pa[si], s, 0);
			double t1 = now_us();
			run_ok(vm, "pool clone");
			double t2 = now_us();
			vm_release(pa[si], vm);
			double t3 = now_us();
			if (keep) {
				s_add(&m->c, t1 - t0);
				s_add(&m->cr, t2 - t0);
				s_add(&m->rel, t3 - t2);
			}

			struct snapshot *which = i % 2 ? s : s2[si];
			t0 = now_us();
			vm = clone_or_die(pb[si], which, 0);
			t1 = now_us();
			run_ok(vm, "pool-remap clone");
			t2 = now_us();
			vm_release(pb[si], vm);
			if (keep) {
				s_add(&m->rc, t1 - t0);
				s_add(&m->rcr, t2 - t0);
			}

			t0 = now_us();
			vm = clone_or_die(NULL, s, 0);
			t1 = now_us();
			run_ok(vm, "fresh clone");
			t2 = now_us();
			vm_destroy(vm);
			t3 = now_us();
			if (keep) {
				s_add(&m->fc, t1 - t0);
				s_add(&m->fcr, t2 - t0);
				s_add(&m->des, t3 - t2);
			}

			struct gpt *g;
			t0 = now_us();
			if (gpt_clone(s->gpt, &g))
				die("gpt_clone failed");
			t1 = now_us();
			gpt_destroy(g);
			t2 = now_us();
			vm = clone_or_die(pa[si], s, 0);
			t3 = now_us();
			for (unsigned v = 0; v < vm->nvcpus; v++)
				if (vcpu_state_restore(vm->vcpus[v].fd, &s->meta.vcpu[v], &err))
					die("vcpu_state_restore: %s", err.msg);
			double t4 = now_us();
			vm_release(pa[si], vm);
			if (keep) {
				s_add(&m->gc, t1 - t0);
				s_add(&m->gd, t2 - t1);
				s_add(&m->vr, t4 - t3);
			}
		}
		if (i == warm)
			progress("round 1 of %u done", n);
	}
	for (unsigned si = 0; si < ns; si++) {
		uint64_t size = o->sizes[si];
		char sn[16];
		size_name(size, sn, sizeof(sn));
		struct vm_pool_stats psa, psb;
		vm_pool_get_stats(pa[si], &psa);
		vm_pool_get_stats(pb[si], &psb);
		if (psa.created != 1 || psb.created != 1 || psb.remapped != warm + n - 1)
			die("%s: the pools did not reuse their shells (A: created %llu; B: created %llu, remapped %llu)",
			    sn, (unsigned long long)psa.created, (unsigned long long)psb.created,
			    (unsigned long long)psb.remapped);
		vm_pool_destroy(pa[si]);
		vm_pool_destroy(pb[si]);
		snapshot_put(s2[si]);
		struct clone_samples *m = &cs_[si];
		progress("%s pool: clone %.1f us, clone+run %.1f us, release %.1f us", sn, s_stat(&m->c).median,
		         s_stat(&m->cr).median, s_stat(&m->rel).median);
		progress("%s pool-remap: clone %.1f us, clone+run %.1f us", sn, s_stat(&m->rc).median,
		         s_stat(&m->rcr).median);
		progress("%s fresh: clone %.1f us, clone+run %.1f us, destroy %.1f us", sn, s_stat(&m->fc).median,
		         s_stat(&m->fcr).median, s_stat(&m->des).median);
		add_row("clone", "pool clone", size, NULL, 0, &m->c);
		add_row("clone", "pool clone+run", size, NULL, 0, &m->cr);
		add_row("clone", "pool release", size, NULL, 0, &m->rel);
		add_row("clone", "pool-remap clone", size, NULL, 0, &m->rc);
		add_row("clone", "pool-remap clone+run", size, NULL, 0, &m->rcr);
		add_row("clone", "fresh clone", size, NULL, 0, &m->fc);
		add_row("clone", "fresh clone+run", size, NULL, 0, &m->fcr);
		add_row("clone", "fresh destroy", size, NULL, 0, &m->des);
		add_row("clone", "  gpt_clone", size, NULL, 0, &m->gc);
		add_row("clone", "  gpt_destroy", size, NULL, 0, &m->gd);
		add_row("clone", "  vcpu restore", size, NULL, 0, &m->vr);
		struct samples *all[] = { &m->c, &m->cr, &m->rel, &m->rc, &m->rcr, &m->fc, &m->fcr, &m->des,
		                          &m->gc, &m->gd, &m->vr };
		for (unsigned k = 0; k < sizeof(all) / sizeof(all[0]); k++)
			s_free(all[k]);
	}

	/* (c) eager copy of all RAM into anonymous memory, with transparent
	 * huge pages (MADV_HUGEPAGE) and with 4 KiB pages (MADV_NOHUGEPAGE),
	 * interleaved; the ratios take the faster of the two. */
	for (unsigned si = 0; si < ns; si++) {
		uint64_t size = o->sizes[si];
		char sn[16];
		size_name(size, sn, sizeof(sn));
		unsigned ne = size >= 2 * GiB ? (o->quick ? 1 : 3) : size >= 256 * MiB ? (o->quick ? 2 : 5)
		                                                                       : reps(o, 4);
		bool four_k = !o->quick || size < 2 * GiB;
		struct samples c = { 0 }, e4 = { 0 };
		for (unsigned i = 0; i < ne; i++) {
			eager_copy_once(cs->snap[si], true, &c);
			if (four_k)
				eager_copy_once(cs->snap[si], false, &e4);
		}
		progress("%s eager copy: %.1f ms (THP), %.1f ms (4 KiB pages)", sn, s_stat(&c).median / 1000,
		         four_k ? s_stat(&e4).median / 1000 : NAN);
		add_row("clone", "eager copy THP", size, NULL, 0, &c);
		if (four_k)
			add_row("clone", "eager copy 4K", size, NULL, 0, &e4);
		s_free(&c), s_free(&e4);
	}
}

/* ---- suite 1b: what a vCPU state restore costs, ioctl by ioctl ----------- */

static unsigned msr_batch_accepted, msr_batch_total;

static void suite_vcpu(const struct opts *o, struct snapshot *s)
{
	fprintf(stderr, "vCPU restore, ioctl by ioctl\n");
	struct vm *vm = clone_or_die(NULL, s, 0);
	int fd = vm->vcpus[0].fd;
	const struct vcpu_state *vs = &s->meta.vcpu[0];
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[VCPU_STATE_MAX_MSRS];
	} mb;
	struct kvm_vcpu_events ev = vs->events;
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
	struct kvm_regs regs;
	enum { REGS, XSAVE, XCRS, SREGS, MSRS, MSRS1, MP, EVENTS, DEBUG, GETREGS, ALL, NK };
	static const char *names[NK] = { "KVM_SET_REGS", "KVM_SET_XSAVE", "KVM_SET_XCRS", "KVM_SET_SREGS",
	                                 "KVM_SET_MSRS batch", "KVM_SET_MSRS rest 1 by 1", "KVM_SET_MP_STATE",
	                                 "KVM_SET_VCPU_EVENTS", "KVM_SET_DEBUGREGS", "KVM_GET_REGS (floor)",
	                                 "vcpu_state_restore" };
	struct samples sm[NK];
	memset(sm, 0, sizeof(sm));
	struct vmm_err err = { 0 };
	unsigned n = reps(o, 1);
	for (unsigned i = 0; i < n + 2; i++) {
		double t[NK + 1];
		t[0] = now_us();
		int bad = ioctl(fd, KVM_SET_REGS, &vs->regs) < 0;
		t[1] = now_us();
		bad |= ioctl(fd, KVM_SET_XSAVE, &vs->xsave) < 0;
		t[2] = now_us();
		bad |= ioctl(fd, KVM_SET_XCRS, &vs->xcrs) < 0;
		t[3] = now_us();
		bad |= ioctl(fd, KVM_SET_SREGS, &vs->sregs) < 0;
		t[4] = now_us();
		memset(&mb.h, 0, sizeof(mb.h));
		mb.h.nmsrs = vs->nmsrs;
		memcpy(mb.e, vs->msrs, vs->nmsrs * sizeof(mb.e[0]));
		int acc = ioctl(fd, KVM_SET_MSRS, &mb);
		t[5] = now_us();
		for (uint32_t j = acc < 0 ? 0 : (uint32_t)acc; j < vs->nmsrs; j++) {
			mb.h.nmsrs = 1;
			mb.e[0] = vs->msrs[j];
			ioctl(fd, KVM_SET_MSRS, &mb);
		}
		t[6] = now_us();
		bad |= ioctl(fd, KVM_SET_MP_STATE, &vs->mp_state) < 0;
		t[7] = now_us();
		bad |= ioctl(fd, KVM_SET_VCPU_EVENTS, &ev) < 0;
		t[8] = now_us();
		bad |= ioctl(fd, KVM_SET_DEBUGREGS, &vs->debugregs) < 0;
		t[9] = now_us();
		bad |= ioctl(fd, KVM_GET_REGS, &regs) < 0;
		t[10] = now_us();
		if (vcpu_state_restore(fd, vs, &err))
			die("vcpu_state_restore: %s", err.msg);
		t[11] = now_us();
		if (bad || acc < 0)
			die("a vCPU state ioctl failed: %s", strerror(errno));
		msr_batch_accepted = (unsigned)acc;
		msr_batch_total = vs->nmsrs;
		if (i >= 2)
			for (unsigned k = 0; k < NK; k++)
				s_add(&sm[k], t[k + 1] - t[k]);
	}
	vm_destroy(vm);
	for (unsigned k = 0; k < NK; k++) {
		add_row("vcpu", names[k], 0, NULL, 0, &sm[k]);
		s_free(&sm[k]);
	}
	progress("%u MSRs, the batch took %u%s%#x", vs->nmsrs, msr_batch_accepted,
	         msr_batch_accepted < vs->nmsrs ? ", stopping at MSR " : "",
	         msr_batch_accepted < vs->nmsrs ? vs->msrs[msr_batch_accepted].index : 0);
}

/* The eager-copy baseline of a size: the faster of THP and 4 KiB pages. */
static const struct row *eager_best(uint64_t size)
{
	const struct row *t = find_row("clone", "eager copy THP", size, 0), *k = find_row("clone", "eager copy 4K", size, 0);
	if (!t || !k)
		return t ? t : k;
	return k->st.median < t->st.median ? k : t;
}

static void clone_ratios(const struct opts *o)
{
	char name[96];
	uint64_t lo = 0, hi = 0;
	for (unsigned i = 0; i < o->nsizes; i++) {
		uint64_t size = o->sizes[i];
		if (!lo || size < lo)
			lo = size;
		if (size > hi)
			hi = size;
		char sn[16];
		size_name(size, sn, sizeof(sn));
		const struct row *pc = find_row("clone", "pool clone", size, 0),
		                 *pcr = find_row("clone", "pool clone+run", size, 0),
		                 *fc = find_row("clone", "fresh clone", size, 0),
		                 *fcr = find_row("clone", "fresh clone+run", size, 0),
		                 *ec = eager_best(size);
		if (!pc || !pcr || !fc || !fcr || !ec)
			continue;
		snprintf(name, sizeof(name), "fresh clone / pool clone @%s", sn);
		add_ratio(name, fc->st.median / pc->st.median, NULL, -1);
		snprintf(name, sizeof(name), "fresh clone+run / pool clone+run @%s", sn);
		add_ratio(name, fcr->st.median / pcr->st.median, NULL, -1);
		snprintf(name, sizeof(name), "eager copy (best) / pool clone+run @%s", sn);
		add_ratio(name, ec->st.median / pcr->st.median, NULL, -1);
	}
	if (lo == hi)
		return;
	char a[16], b[16];
	size_name(hi, a, sizeof(a));
	size_name(lo, b, sizeof(b));
	const char *methods[] = { "pool clone", "pool clone+run", "pool-remap clone+run", "fresh clone",
	                          "fresh clone+run", "eager copy (best)" };
	for (unsigned m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
		bool eager = !strcmp(methods[m], "eager copy (best)");
		const struct row *h = eager ? eager_best(hi) : find_row("clone", methods[m], hi, 0),
		                 *l = eager ? eager_best(lo) : find_row("clone", methods[m], lo, 0);
		if (!h || !l)
			continue;
		double r = h->st.median / l->st.median;
		snprintf(name, sizeof(name), "%s(%s) / %s(%s)", methods[m], a, methods[m], b);
		bool targeted = m < 2;
		add_ratio(name, r, targeted ? "<= 1.2" : NULL, targeted ? r <= 1.2 : -1);
	}
}

/* ---- suite 2: reset vs dirty pages ---------------------------------------- */

static void suite_reset(const struct opts *o)
{
	static const unsigned dirty[] = { 1, 16, 256, 4096 };
	const uint64_t size = 64 * MiB;
	fprintf(stderr, "reset latency vs dirty pages (64 MiB guest)\n");
	for (unsigned di = 0; di < sizeof(dirty) / sizeof(dirty[0]); di++) {
		unsigned d = dirty[di];
		unsigned mib = (d + 255) / 256;
		char spec[64];
		snprintf(spec, sizeof(spec), "snaptest:mib=%u,touch=%u", mib, d);
		struct snapshot *s = boot_snapshot(spec, size, NULL);

		/* Interleaved per round: (1) reset of one clone after each of its
		 * runs (only the reset is "reset"), (2) a fresh VM per run,
		 * (3) a pooled clone per run, released (= reset) after it. */
		struct vm *rvm = clone_or_die(NULL, s, 0), *dvm = clone_or_die(NULL, s, 64);
		run_ok(rvm, spec);
		run_ok(dvm, spec);
		struct vm_pool *pool;
		struct vmm_err err = { 0 };
		if (vm_pool_create(1, &pool, &err))
			die("%s", err.msg);
		unsigned n = d >= 4096 ? reps(o, 4) : reps(o, 1), warm = 2;
		struct samples rs = { 0 }, run = { 0 }, dp = { 0 }, cd = { 0 }, full = { 0 }, pcr = { 0 },
		               pfull = { 0 }, drs = { 0 }, drun = { 0 };
		for (unsigned i = 0; i < warm + n; i++) {
			bool keep = i >= warm;
			struct reset_stats st;
			double t0 = now_us();
			reset_or_die(rvm, &st);
			double t1 = now_us();
			run_ok(rvm, spec);
			double t2 = now_us();
			if (keep) {
				s_add(&rs, t1 - t0);
				s_add(&run, t2 - t1);
				s_add(&dp, (double)st.dirty_pages);
			}

			/* (1') the same with chunks of >= 64 private pages dropped
			 * (MADV_DONTNEED) instead of copied: the old default */
			t0 = now_us();
			reset_or_die(dvm, &st);
			t1 = now_us();
			run_ok(dvm, spec);
			t2 = now_us();
			if (keep) {
				s_add(&drs, t1 - t0);
				s_add(&drun, t2 - t1);
			}

			t0 = now_us();
			struct vm *vm = clone_or_die(NULL, s, 0);
			t1 = now_us();
			run_ok(vm, spec);
			t2 = now_us();
			vm_destroy(vm);
			double t3 = now_us();
			if (keep) {
				s_add(&cd, (t1 - t0) + (t3 - t2));
				s_add(&full, t3 - t0);
			}

			t0 = now_us();
			vm = clone_or_die(pool, s, 0);
			t1 = now_us();
			run_ok(vm, spec);
			t2 = now_us();
			vm_release(pool, vm);
			t3 = now_us();
			if (keep) {
				s_add(&pcr, (t1 - t0) + (t3 - t2));
				s_add(&pfull, t3 - t0);
			}
		}
		vm_destroy(rvm);
		vm_destroy(dvm);
		vm_pool_destroy(pool);
		snapshot_put(s);
		progress("%s: reset %.1f us (%.0f dirty pages), run %.1f us; fresh VM clone+destroy %.1f us; "
		         "pool clone+release %.1f us", spec, s_stat(&rs).median, s_stat(&dp).median,
		         s_stat(&run).median, s_stat(&cd).median, s_stat(&pcr).median);
		add_row("reset", "reset", size, "dirty", d, &rs);
		add_row("reset", "run after reset", size, "dirty", d, &run);
		/* dirty pages the reset found (a count, not a time) */
		add_row("reset", "dirty pages found", size, "dirty", d, &dp);
		add_row("reset", "reset, drop >= 64", size, "dirty", d, &drs);
		add_row("reset", "run after reset, drop >= 64", size, "dirty", d, &drun);
		add_row("reset", "fresh clone+destroy", size, "dirty", d, &cd);
		add_row("reset", "fresh clone+run+destroy", size, "dirty", d, &full);
		add_row("reset", "pool clone+release", size, "dirty", d, &pcr);
		add_row("reset", "pool clone+run+release", size, "dirty", d, &pfull);
		s_free(&rs), s_free(&run), s_free(&dp), s_free(&cd), s_free(&full), s_free(&pcr), s_free(&pfull),
			s_free(&drs), s_free(&drun);

		const struct row *r = find_row("reset", "reset", size, d),
		                 *f = find_row("reset", "fresh clone+destroy", size, d),
		                 *rr = find_row("reset", "run after reset", size, d),
		                 *ff = find_row("reset", "fresh clone+run+destroy", size, d);
		char name[96];
		snprintf(name, sizeof(name), "fresh clone+destroy / reset @%u dirty", d);
		add_ratio(name, f->st.median / r->st.median, d == 16 ? ">= 20" : NULL,
		          d == 16 ? f->st.median / r->st.median >= 20 : -1);
		snprintf(name, sizeof(name), "fresh exec / reset exec (incl. run) @%u dirty", d);
		add_ratio(name, ff->st.median / (r->st.median + rr->st.median), NULL, -1);
	}
}

/* ---- suite 2b: copy vs drop per chunk ------------------------------------- */

#define REMAP_CHUNKS 8

static void suite_remap(const struct opts *o)
{
	static const unsigned per[] = { 0, 1, 8, 32, 64, 128, 256, 512 };
	const uint64_t size = 64 * MiB;
	fprintf(stderr, "reset: copy pages vs drop chunk (%d chunks of 2 MiB, 64 MiB guest)\n", REMAP_CHUNKS);
	for (unsigned rd = 0; rd < 2; rd++) {
		for (unsigned pi = 0; pi < sizeof(per) / sizeof(per[0]); pi++) {
			unsigned k = per[pi];
			char spec[96];
			snprintf(spec, sizeof(spec), "bench:mib=%u,op=chunks,per=%u,chunks=%u,read=%u", 2 * REMAP_CHUNKS, k,
			         REMAP_CHUNKS, rd);
			struct snapshot *s = boot_snapshot(spec, size, NULL);
			/* Two clones of s, one per method, reset and run in turn. */
			struct vm *vm[2];
			struct samples rs[2] = { 0 }, run[2] = { 0 }, tot[2] = { 0 };
			struct reset_stats last[2];
			for (unsigned m = 0; m < 2; m++) {
				vm[m] = clone_or_die(NULL, s, m ? 1 : UINT32_MAX);
				run_ok(vm[m], spec);
			}
			unsigned n = reps(o, 2), warm = 2;
			for (unsigned i = 0; i < warm + n; i++)
				for (unsigned m = 0; m < 2; m++) {
					double t0 = now_us();
					reset_or_die(vm[m], &last[m]);
					double t1 = now_us();
					run_ok(vm[m], spec);
					double t2 = now_us();
					if (i >= warm) {
						s_add(&rs[m], t1 - t0);
						s_add(&run[m], t2 - t1);
						s_add(&tot[m], t2 - t0);
					}
				}
			for (unsigned m = 0; m < 2; m++) {
				bool drop = m == 1;
				vm_destroy(vm[m]);
				if (drop ? last[m].chunks_dropped < (k ? REMAP_CHUNKS : 0) : last[m].chunks_dropped)
					die("%s: %s reset dropped %llu chunks", spec, drop ? "drop" : "copy",
					    (unsigned long long)last[m].chunks_dropped);
				char method[48];
				snprintf(method, sizeof(method), "%s %s", drop ? "drop" : "copy", rd ? "w+r" : "w");
				progress("per=%-3u read=%u %s: reset %.1f us, next run %.1f us (chunks dropped %llu, "
				         "pages copied %llu)", k, rd, drop ? "drop" : "copy", s_stat(&rs[m]).median,
				         s_stat(&run[m]).median, (unsigned long long)last[m].chunks_dropped,
				         (unsigned long long)last[m].pages_copied);
				char mr[64], mu[64], mt[64];
				snprintf(mr, sizeof(mr), "%s reset", method);
				snprintf(mu, sizeof(mu), "%s run", method);
				snprintf(mt, sizeof(mt), "%s reset+run", method);
				add_row("remap", mr, size, "per_chunk", k, &rs[m]);
				add_row("remap", mu, size, "per_chunk", k, &run[m]);
				add_row("remap", mt, size, "per_chunk", k, &tot[m]);
				s_free(&rs[m]), s_free(&run[m]), s_free(&tot[m]);
			}
			snapshot_put(s);
		}
	}
}

/* Per chunk cost above the k=0 baseline, for method "copy|drop w|w+r",
 * from the medians (or the minima). */
static bool remap_use_min;
static double remap_per_chunk(const char *method, const char *what, unsigned k)
{
	char m[64];
	snprintf(m, sizeof(m), "%s %s", method, what);
	const struct row *r = find_row("remap", m, 64 * MiB, k), *b = find_row("remap", m, 64 * MiB, 0);
	if (!r || !b)
		return NAN;
	if (remap_use_min)
		return (r->st.min - b->st.min) / REMAP_CHUNKS;
	return (r->st.median - b->st.median) / REMAP_CHUNKS;
}

/* The crossover: the smallest k from which dropping is no slower than
 * copying for every larger k measured; 0 = never. */
static unsigned remap_crossover(bool rd, const char *what)
{
	static const unsigned per[] = { 0, 1, 8, 32, 64, 128, 256, 512 };
	const char *c = rd ? "copy w+r" : "copy w", *d = rd ? "drop w+r" : "drop w";
	unsigned cross = 0;
	for (unsigned p = 7; p >= 1; p--) {
		if (remap_per_chunk(d, what, per[p]) > remap_per_chunk(c, what, per[p]))
			break;
		cross = per[p];
	}
	return cross;
}

/* ---- suite 3: memory of a clone ------------------------------------------- */

struct memrow {
	char method[40];
	uint64_t size;
	struct vm_mem_stats st;
};
static struct memrow memrows[64];
static unsigned nmemrows;

static void add_mem(const char *method, uint64_t size, const struct vm_mem_stats *st)
{
	if (nmemrows == sizeof(memrows) / sizeof(memrows[0]))
		return;
	struct memrow *m = &memrows[nmemrows++];
	snprintf(m->method, sizeof(m->method), "%s", method);
	m->size = size;
	m->st = *st;
	fprintf(json_mem,
	        "{\"bench\":\"snap-bench\",\"suite\":\"memory\",\"method\":\"%s\",\"size\":%llu,"
	        "\"host_rss_bytes\":%llu,\"host_private_bytes\":%llu,\"private_pct\":%.4f,"
	        "\"gpt_table_bytes\":%llu,\"gpt_private_pages\":%llu,\"leaves_shared\":%llu,"
	        "\"leaves_private\":%llu}\n",
	        method, (unsigned long long)size, (unsigned long long)st->host_rss_bytes,
	        (unsigned long long)st->host_private_bytes, 100.0 * (double)st->host_private_bytes / (double)size,
	        (unsigned long long)st->gpt_table_bytes, (unsigned long long)st->gpt_private_pages,
	        (unsigned long long)st->leaves_shared, (unsigned long long)st->leaves_private);
}

static void mem_stats_or_die(struct vm *vm, struct vm_mem_stats *st)
{
	struct vmm_err err = { 0 };
	if (vm_mem_stats(vm, st, &err))
		die("vm_mem_stats: %s", err.msg);
}

static void suite_memory(const struct opts *o, struct clone_sizes *cs)
{
	fprintf(stderr, "memory of a clone\n");
	for (unsigned si = 0; si < o->nsizes; si++) {
		uint64_t size = o->sizes[si];
		char sn[16];
		size_name(size, sn, sizeof(sn));
		struct snapshot *s = cs->snap[si];
		if (!s)
			s = cs->snap[si] = boot_snapshot("bench:mib=1", size, NULL);
		struct vm_mem_stats st;

		struct vm *vm = clone_or_die(NULL, s, 0);
		mem_stats_or_die(vm, &st);
		add_mem("idle fresh clone", size, &st);
		vm_destroy(vm);

		/* A pooled shell after 3 clones ran on it (their private pages
		 * were copied back on release and stay resident). */
		struct vm_pool *pool;
		struct vmm_err err = { 0 };
		if (vm_pool_create(1, &pool, &err))
			die("%s", err.msg);
		for (int i = 0; i < 3; i++) {
			vm = clone_or_die(pool, s, 0);
			run_ok(vm, "memory");
			vm_release(pool, vm);
		}
		vm = clone_or_die(pool, s, 0);
		mem_stats_or_die(vm, &st);
		add_mem("idle pooled clone", size, &st);
		vm_release(pool, vm);
		vm_pool_destroy(pool);

		/* After the clone wrote 1% (5 of 512 pages per chunk) and 100% of
		 * a 32 MiB buffer that the snapshot holds. */
		static const struct { unsigned per; const char *name; } touch[] = {
			{ 5, "clone wrote 1% of 32M" }, { 512, "clone wrote 100% of 32M" } };
		for (unsigned t = 0; t < 2; t++) {
			char spec[64];
			snprintf(spec, sizeof(spec), "bench:mib=32,op=chunks,per=%u", touch[t].per);
			struct snapshot *ts = boot_snapshot(spec, size, NULL);
			vm = clone_or_die(NULL, ts, 0);
			run_ok(vm, spec);
			mem_stats_or_die(vm, &st);
			add_mem(touch[t].name, size, &st);
			vm_destroy(vm);
			snapshot_put(ts);
		}
		progress("%s done", sn);
	}
}

/* ---- output --------------------------------------------------------------- */

static void print_us(double us)
{
	if (us >= 100000)
		printf(" %10.1fms", us / 1000);
	else
		printf(" %10.1fus", us);
}

static void print_tables(const struct opts *o)
{
	if (o->suite_clone && o->nsizes) {
		printf("\n== clone latency (median / p99 / min, n) ==\n");
		printf("%-22s", "method");
		for (unsigned i = 0; i < o->nsizes; i++) {
			char sn[16];
			printf(" %12s", size_name(o->sizes[i], sn, sizeof(sn)));
		}
		printf("\n");
		const char *methods[] = { "pool clone", "  gpt_clone", "  vcpu restore", "  gpt_destroy",
		                          "pool clone+run", "pool release", "pool-remap clone",
		                          "pool-remap clone+run", "fresh clone", "fresh clone+run",
		                          "fresh destroy", "eager copy THP", "eager copy 4K" };
		for (unsigned m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
			printf("%-22s", methods[m]);
			for (unsigned i = 0; i < o->nsizes; i++) {
				const struct row *r = find_row("clone", methods[m], o->sizes[i], 0);
				if (r)
					print_us(r->st.median);
				else
					printf(" %12s", "-");
			}
			printf("\n");
		}
		printf("%-22s", "  (p99 pool clone+run)");
		for (unsigned i = 0; i < o->nsizes; i++) {
			const struct row *r = find_row("clone", "pool clone+run", o->sizes[i], 0);
			if (r)
				print_us(r->st.p99);
			else
				printf(" %12s", "-");
		}
		printf("\n");
	}
	if (o->suite_vcpu) {
		printf("\n== vCPU state restore, one ioctl at a time (median / p99 us; %u MSRs, the batch took %u) ==\n",
		       msr_batch_total, msr_batch_accepted);
		for (size_t i = 0; i < nrows; i++)
			if (!strcmp(rows[i].suite, "vcpu"))
				printf("%-28s %9.1f %9.1f\n", rows[i].method, rows[i].st.median, rows[i].st.p99);
	}
	if (o->suite_reset) {
		printf("\n== reset vs dirty pages, 64 MiB guest (median us) ==\n");
		printf("%-28s %10s %10s %10s %10s\n", "method \\ touch=", "1", "16", "256", "4096");
		const char *methods[] = { "dirty pages found", "reset", "run after reset", "reset, drop >= 64",
		                          "run after reset, drop >= 64", "fresh clone+destroy",
		                          "fresh clone+run+destroy", "pool clone+release", "pool clone+run+release" };
		static const unsigned dirty[] = { 1, 16, 256, 4096 };
		for (unsigned m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
			printf("%-28s", methods[m]);
			for (unsigned d = 0; d < 4; d++) {
				const struct row *r = find_row("reset", methods[m], 64 * MiB, dirty[d]);
				printf(" %10.1f", r ? r->st.median : NAN);
			}
			printf("\n");
		}
	}
	if (o->suite_remap) {
		static const unsigned per[] = { 0, 1, 8, 32, 64, 128, 256, 512 };
		printf("\n== reset heuristic: copy pages vs drop the chunk, %d chunks (median us, whole reset / run) ==\n",
		       REMAP_CHUNKS);
		printf("%-20s", "pages per chunk");
		for (unsigned p = 0; p < 8; p++)
			printf(" %9u", per[p]);
		printf("\n");
		const char *methods[] = { "copy w reset", "drop w reset", "copy w run", "drop w run",
		                          "copy w reset+run", "drop w reset+run", "copy w+r reset",
		                          "drop w+r reset", "copy w+r run", "drop w+r run",
		                          "copy w+r reset+run", "drop w+r reset+run" };
		for (unsigned m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
			printf("%-20s", methods[m]);
			for (unsigned p = 0; p < 8; p++) {
				const struct row *r = find_row("remap", methods[m], 64 * MiB, per[p]);
				printf(" %9.1f", r ? r->st.median : NAN);
			}
			printf("\n");
		}
		printf("per chunk, above the k=0 baseline (us): reset+run\n");
		const char *pm[] = { "copy w", "drop w", "copy w+r", "drop w+r" };
		for (unsigned m = 0; m < 4; m++) {
			printf("%-20s", pm[m]);
			for (unsigned p = 0; p < 8; p++)
				printf(" %9.1f", p ? remap_per_chunk(pm[m], "reset+run", per[p]) : 0.0);
			printf("\n");
		}
		printf("per chunk, above the k=0 baseline (us): reset only\n");
		for (unsigned m = 0; m < 4; m++) {
			printf("%-20s", pm[m]);
			for (unsigned p = 0; p < 8; p++)
				printf(" %9.1f", p ? remap_per_chunk(pm[m], "reset", per[p]) : 0.0);
			printf("\n");
		}
		for (unsigned rd = 0; rd < 2; rd++)
			for (unsigned use_min = 0; use_min < 2; use_min++) {
				remap_use_min = use_min;
				unsigned cross = remap_crossover(rd, "reset+run"), cross_reset = remap_crossover(rd, "reset");
				const char *g = rd ? "writes+reads" : "writes", *st = use_min ? "minima" : "medians";
				char name[96];
				snprintf(name, sizeof(name), "crossover pages/chunk, reset+run, guest %s, %s (0 = never)", g, st);
				add_ratio(name, cross, NULL, -1);
				snprintf(name, sizeof(name), "crossover pages/chunk, reset only, guest %s, %s (0 = never)", g, st);
				add_ratio(name, cross_reset, NULL, -1);
				printf("crossover (guest %s the pages, from the %s): dropping the chunk wins ", g, st);
				if (cross)
					printf("from %u pages/chunk", cross);
				else
					printf("never");
				printf(" counting the next run, ");
				if (cross_reset)
					printf("from %u", cross_reset);
				else
					printf("never");
				printf(" counting the reset alone\n");
			}
		remap_use_min = false;
	}
	if (o->suite_memory && nmemrows) {
		printf("\n== memory of a clone (host RSS of the window, private = copied pages) ==\n");
		printf("%-26s %6s %12s %12s %9s %12s %8s %8s\n", "state", "size", "host RSS", "private",
		       "priv %", "GPT tables", "shared", "private");
		printf("%-26s %6s %12s %12s %9s %12s %8s %8s\n", "", "", "", "", "of guest", "", "leaves", "leaves");
		for (unsigned i = 0; i < nmemrows; i++) {
			const struct memrow *m = &memrows[i];
			char sn[16];
			printf("%-26s %6s %10.1fKi %10.1fKi %8.3f%% %10.1fKi %8llu %8llu\n", m->method,
			       size_name(m->size, sn, sizeof(sn)), (double)m->st.host_rss_bytes / KiB,
			       (double)m->st.host_private_bytes / KiB,
			       100.0 * (double)m->st.host_private_bytes / (double)m->size,
			       (double)m->st.gpt_table_bytes / KiB, (unsigned long long)m->st.leaves_shared,
			       (unsigned long long)m->st.leaves_private);
		}
		double worst = 0;
		for (unsigned i = 0; i < nmemrows; i++)
			if (!strncmp(memrows[i].method, "idle", 4)) {
				double pct = 100.0 * (double)memrows[i].st.host_private_bytes / (double)memrows[i].size;
				if (pct > worst)
					worst = pct;
			}
		add_ratio("max idle clone private RSS % of guest memory", worst, "<= 1", worst <= 1.0);
	}
	if (nratios) {
		printf("\n== ratios (same run) ==\n");
		for (unsigned i = 0; i < nratios; i++) {
			const struct ratio *r = &ratios[i];
			printf("%-66s %10.3f", r->name, r->value);
			if (r->met >= 0)
				printf("   target %-7s %s", r->target, r->met ? "met" : "MISSED");
			printf("\n");
		}
	}
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: snap-bench [--quick] [--repeat N] [--sizes 64M,512M,4G]\n"
	           "                  [--suites clone,vcpu,reset,remap,memory] [--json FILE]\n"
	           "  --quick      fewer repeats (under a minute)\n"
	           "  --repeat N   base repeat count (default 100, quick 15); costly cases use fewer\n"
	           "  --sizes L    guest sizes for the clone and memory suites\n"
	           "  --suites L   which suites to run (default all)\n"
	           "  --json FILE  write the JSON lines to FILE instead of stdout\n");
}

static void parse_sizes(const char *arg, struct opts *o)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", arg);
	o->nsizes = 0;
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (parse_size(t, &v) || v < VM_MEM_MIN || v > VM_MEM_MAX || v % CHUNK || o->nsizes == 8)
			die("bad --sizes entry '%s' (sizes like 64M, 4G; 2 MiB multiples, up to 8)", t);
		o->sizes[o->nsizes++] = v;
	}
}

int main(int argc, char **argv)
{
	struct opts o = { .repeat = 0, .suite_clone = true, .suite_vcpu = true, .suite_reset = true,
	                  .suite_remap = true, .suite_memory = true };
	const char *sizes = "64M,512M,4G";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--quick"))
			o.quick = true;
		else if (!strcmp(a, "--repeat") && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 1 || v > 100000)
				die("bad --repeat %s", argv[i]);
			o.repeat = (unsigned)v;
		} else if (!strcmp(a, "--sizes") && i + 1 < argc)
			sizes = argv[++i];
		else if (!strcmp(a, "--json") && i + 1 < argc)
			o.json_path = argv[++i];
		else if (!strcmp(a, "--suites") && i + 1 < argc) {
			const char *l = argv[++i];
			o.suite_clone = strstr(l, "clone") != NULL;
			o.suite_vcpu = strstr(l, "vcpu") != NULL;
			o.suite_reset = strstr(l, "reset") != NULL;
			o.suite_remap = strstr(l, "remap") != NULL;
			o.suite_memory = strstr(l, "memory") != NULL;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	parse_sizes(sizes, &o);
	if (!o.repeat)
		o.repeat = o.quick ? 15 : 100;
	if (access("/dev/kvm", R_OK | W_OK))
		die("/dev/kvm is not usable (%s): this benchmark needs KVM", strerror(errno));
	json_mem = open_memstream(&json_buf, &json_len);
	if (!json_mem)
		die("open_memstream failed");
	json_out = stdout;
	if (o.json_path && !(json_out = fopen(o.json_path, "w")))
		die("cannot open %s: %s", o.json_path, strerror(errno));

	double t0 = now_us(), load0 = bench_loadavg1();
	struct clone_sizes cs = { 0 };
	if (o.suite_clone) {
		suite_clone(&o, &cs);
		clone_ratios(&o);
	}
	if (o.suite_vcpu) {
		struct snapshot *vs = cs.snap[0] ? cs.snap[0] : boot_snapshot("bench:mib=1", 64 * MiB, NULL);
		suite_vcpu(&o, vs);
		if (vs != cs.snap[0])
			snapshot_put(vs);
	}
	if (o.suite_reset)
		suite_reset(&o);
	if (o.suite_remap)
		suite_remap(&o);
	if (o.suite_memory)
		suite_memory(&o, &cs);
	for (unsigned i = 0; i < o.nsizes; i++)
		snapshot_put(cs.snap[i]);
	double secs = (now_us() - t0) / 1e6, load1 = bench_loadavg1();
	fprintf(stderr, "done in %.1f s\n", secs);

	char thp[128], kern[128];
	bench_read_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
	bench_read_line("/proc/sys/kernel/osrelease", kern, sizeof(kern));
	printf("snap-bench: %s, repeat %u, %.1f s; load average %.2f at start, %.2f at end on %ld CPUs;\n"
	       "kernel %s, THP %s\n", o.quick ? "quick" : "full", o.repeat, secs, load0, load1,
	       sysconf(_SC_NPROCESSORS_ONLN), kern, thp);
	fprintf(json_mem, "{\"bench\":\"snap-bench\",\"suite\":\"env\",\"mode\":\"%s\",\"repeat\":%u,"
	        "\"seconds\":%.1f,\"loadavg_start\":%.2f,\"loadavg_end\":%.2f,\"cpus\":%ld,"
	        "\"kernel\":\"%s\",\"thp\":\"%s\"}\n", o.quick ? "quick" : "full", o.repeat, secs, load0, load1,
	        sysconf(_SC_NPROCESSORS_ONLN), kern, thp);
	print_tables(&o);
	fflush(json_mem);
	if (json_out == stdout)
		printf("\n");
	fwrite(json_buf, 1, json_len, json_out);
	if (json_out != stdout)
		fclose(json_out);
	fclose(json_mem);
	free(json_buf);
	free(rows);
	return 0;
}
