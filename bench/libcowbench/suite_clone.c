/*
 * suite_clone.c - clone latency vs guest memory size, every method in the
 * same rounds (docs/benchmarks.md, suite 1):
 *   cowvm                 vm_clone on a pooled shell already showing the
 *                         snapshot: GPT clone (O(memory / 2 MiB)) + vCPU
 *                         restore; the window is the MAP_PRIVATE mapping of
 *                         the snapshot memfd the shell keeps
 *   cowvm + run           ... and the run to the guest's first exit
 *   fresh VM + MAP_PRIVATE  KVM_CREATE_VM, vCPU, memslot over a new
 *                         MAP_PRIVATE mapping of the memfd, vCPU restore
 *                         (Firecracker-style restore), + run likewise
 *   eager copy            mmap + copy all RAM from the snapshot, with
 *                         transparent huge pages and with 4 KiB pages
 *   fork                  fork() of a process holding a populated anonymous
 *                         mapping of the guest's size (the child exits at once)
 *   uffd-wp registration  userfaultfd + UFFDIO_REGISTER(MODE_WP) +
 *                         UFFDIO_WRITEPROTECT of a populated private copy
 *                         (the copy itself is the eager copy row)
 *   uffd-copy registration  mmap of empty memory + userfaultfd +
 *                         UFFDIO_REGISTER(MODE_MISSING)
 * Rounds: phase 1, the methods whose cost does not grow with memory
 * (cowvm, fresh VM, uffd-copy), runs each of them once at every size per
 * round, so a burst of load on the shared host hits all of those figures
 * alike. Phase 2, afterwards and size by size: the methods whose work is
 * O(memory) (eager copy, fork, uffd-wp), in reps_costly rounds.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench_int.h"
#include "plot.h"

enum { M_COWVM, M_COWVM_RUN, M_FRESH, M_FRESH_RUN, M_EAGER_THP, M_EAGER_4K, M_FORK, M_UFFD_WP, M_UFFD_COPY, NM };
static const char *const mname[NM] = {
	"cowvm", "cowvm + run", "fresh VM + MAP_PRIVATE", "fresh VM + run", "eager copy (THP)",
	"eager copy (4 KiB)", "fork (page-table copy)", "uffd-wp registration", "uffd-copy registration",
};
/* rows of the main table, in order; M_COWVM is the baseline of the ratios */
static const int show[] = { M_COWVM, M_COWVM_RUN, M_FRESH, M_FRESH_RUN, M_FORK, M_EAGER_THP,
                            M_EAGER_4K, M_UFFD_WP, M_UFFD_COPY };

static uint8_t *map_anon(uint64_t size, bool huge)
{
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		bdie("mmap of %llu MiB failed: %s", (unsigned long long)(size >> 20), strerror(errno));
	madvise(p, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return p;
}

static double median_of(struct bctx *c, int m, uint64_t size)
{
	const struct brow *r = res_find(c, "clone", mname[m], size, 0, NULL);
	return r ? r->st.median : NAN;
}

/* The eager-copy baseline: the faster of THP and 4 KiB pages. */
static double eager_best(struct bctx *c, uint64_t size)
{
	double a = median_of(c, M_EAGER_THP, size), b = median_of(c, M_EAGER_4K, size);
	return isnan(a) ? b : isnan(b) ? a : a < b ? a : b;
}

struct csize {
	uint64_t size;
	char sn[16];
	struct snapshot *s;
	struct vm_pool *pool;
	struct bsamples sm[NM];
};

/* Phase 1, one round at one size: the methods whose cost does not grow
 * with memory. */
static void cheap_round(struct bctx *c, struct csize *z, bool keep)
{
	struct bsamples *sm = z->sm;
	/* cowvm: pooled shell */
	double t0 = now_us();
	struct vm *vm = bx_clone(z->pool, z->s);
	double t1 = now_us();
	bx_run(vm, NULL, "cowvm clone");
	double t2 = now_us();
	vm_release(z->pool, vm);
	if (keep) {
		bs_add(&sm[M_COWVM], t1 - t0);
		bs_add(&sm[M_COWVM_RUN], t2 - t0);
	}
	/* a fresh KVM VM with a MAP_PRIVATE window */
	struct bvm b;
	t0 = now_us();
	bvm_create(z->s, BVM_FRESH, &b);
	t1 = now_us();
	bx_run(b.vm, NULL, "fresh VM");
	t2 = now_us();
	bvm_destroy(&b);
	if (keep) {
		bs_add(&sm[M_FRESH], t1 - t0);
		bs_add(&sm[M_FRESH_RUN], t2 - t0);
	}
	/* userfaultfd MISSING on empty memory */
	if (!c->uffd_copy_na[0]) {
		char why[160];
		int fd;
		t0 = now_us();
		uint8_t *p = mmap(NULL, z->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			bdie("mmap: %s", strerror(errno));
		if (uffd_setup(false, p, z->size, &fd, why, sizeof(why)))
			bdie("uffd-copy registration: %s", why);
		t1 = now_us();
		close(fd);
		munmap(p, z->size);
		if (keep)
			bs_add(&sm[M_UFFD_COPY], t1 - t0);
	}
}

/* Phase 2 at one size: the methods whose work is O(memory), in fewer
 * rounds. Apart from phase 1 because copying and freeing hundreds of MiB
 * in this process slows the next clone and run for a while (measured
 * here: a pooled clone 27 -> 77 us right after a 64 MiB copy + munmap),
 * which would charge the baselines' cost to cowvm. */
static void costly(struct bctx *c, struct csize *z)
{
	struct bsamples *sm = z->sm;
	uint64_t size = z->size;
	if (c->fh) {
		double t = fh_map(c->fh, size);
		bprogress(c, "clone %s: the fork baseline's holder populated %s in %.0f ms", z->sn, z->sn, t / 1000);
	}
	unsigned nx = reps_costly(c, size);
	double last = now_us();
	for (unsigned k = 0; k < nx; k++) {
		if (c->fh)
			bs_add(&sm[M_FORK], fh_fork(c->fh));
		/* eager copies: THP, then 4 KiB pages; the 4 KiB copy is then the
		 * populated private memory the uffd-wp registration protects */
		double t0 = now_us();
		uint8_t *d = map_anon(size, true);
		bx_eager_copy(z->s, d);
		double t1 = now_us();
		munmap(d, size);
		bs_add(&sm[M_EAGER_THP], t1 - t0);
		t0 = now_us();
		d = map_anon(size, false);
		bx_eager_copy(z->s, d);
		t1 = now_us();
		bs_add(&sm[M_EAGER_4K], t1 - t0);
		if (!c->uffd_wp_na[0]) {
			char why[160];
			int fd;
			t0 = now_us();
			if (uffd_setup(true, d, size, &fd, why, sizeof(why)))
				bdie("uffd-wp registration: %s", why);
			t1 = now_us();
			close(fd);
			bs_add(&sm[M_UFFD_WP], t1 - t0);
		}
		munmap(d, size);
		if (now_us() - last > 10e6) {
			bprogress(c, "clone %s: costly round %u of %u", z->sn, k + 1, nx);
			last = now_us();
		}
	}
	if (c->fh)
		fh_unmap(c->fh);
}

static void finish(struct bctx *c, struct csize *z)
{
	uint64_t size = z->size;
	struct vm_pool_stats ps;
	vm_pool_get_stats(z->pool, &ps);
	if (ps.created != 1)
		bdie("clone %s: the pool created %llu shells instead of reusing one", z->sn, (unsigned long long)ps.created);
	vm_pool_destroy(z->pool);
	snapshot_put(z->s);
	for (int m = 0; m < NM; m++) {
		if (m == M_FORK && !c->fh)
			res_na(c, "clone", mname[m], size, c->fh_na);
		else if (m == M_UFFD_WP && c->uffd_wp_na[0])
			res_na(c, "clone", mname[m], size, c->uffd_wp_na);
		else if (m == M_UFFD_COPY && c->uffd_copy_na[0])
			res_na(c, "clone", mname[m], size, c->uffd_copy_na);
		else
			res_latency(c, "clone", mname[m], size, &z->sm[m]);
		bs_free(&z->sm[m]);
	}
	bprogress(c, "clone %s: cowvm %.1f us, fresh VM %.1f us, fork %.1f us, eager copy %.1f ms", z->sn,
	          median_of(c, M_COWVM, size), median_of(c, M_FRESH, size), median_of(c, M_FORK, size),
	          eager_best(c, size) / 1000);
}

/* Phase 1 runs every size in each round (all snapshots are small: the
 * guest wrote 1 MiB), so load that changes during the run hits every size
 * alike and the flatness ratio compares like with like. */
static void run_all(struct bctx *c)
{
	const struct bench_opts *o = c->o;
	struct csize z[BENCH_MAX_SIZES];
	memset(z, 0, sizeof(z));
	struct vmm_err err = { 0 };
	for (unsigned i = 0; i < o->nsizes; i++) {
		z[i].size = o->sizes[i];
		size_name(z[i].size, z[i].sn, sizeof(z[i].sn));
		double boot;
		z[i].s = bx_boot(c, z[i].size, 1, &boot);
		if (vm_pool_create(1, &z[i].pool, &err))
			bdie("%s", err.msg);
		bprogress(c, "clone %s: bench guest booted and snapshotted in %.0f ms", z[i].sn, boot / 1000);
	}
	unsigned n = reps_cheap(c), warm = 2;
	double last = now_us();
	for (unsigned r = 0; r < warm + n; r++) {
		for (unsigned i = 0; i < o->nsizes; i++)
			cheap_round(c, &z[i], r >= warm);
		if (now_us() - last > 10e6 || r + 1 == warm + n) {
			bprogress(c, "clone: round %u of %u (cowvm, fresh VM, uffd-copy at every size)", r + 1, warm + n);
			last = now_us();
		}
	}
	for (unsigned i = 0; i < o->nsizes; i++) {
		costly(c, &z[i]);
		finish(c, &z[i]);
	}
}

static void targets(struct bctx *c)
{
	const struct bench_opts *o = c->o;
	char name[112];
	for (unsigned i = 0; i < o->nsizes; i++) {
		uint64_t size = o->sizes[i];
		char sn[16];
		size_name(size, sn, sizeof(sn));
		double cw = median_of(c, M_COWVM, size), fk = median_of(c, M_FORK, size), eg = eager_best(c, size);
		if (!isnan(fk)) {
			snprintf(name, sizeof(name), "cowvm / fork @%s", sn);
			bool t = size == 512 * MiB;
			res_ratio(c, "clone", name, cw / fk, t ? "<= 0.0625 (1/16)" : NULL, t ? cw / fk <= 1.0 / 16 : -1);
		}
		if (!isnan(eg)) {
			snprintf(name, sizeof(name), "cowvm / eager copy (faster of THP, 4 KiB) @%s", sn);
			bool t = size == GiB;
			res_ratio(c, "clone", name, cw / eg, t ? "<= 0.01 (1/100)" : NULL, t ? cw / eg <= 0.01 : -1);
		}
		double fr = median_of(c, M_FRESH, size), wp = median_of(c, M_UFFD_WP, size);
		snprintf(name, sizeof(name), "cowvm / fresh VM + MAP_PRIVATE @%s", sn);
		res_ratio(c, "clone", name, cw / fr, NULL, -1);
		if (!isnan(wp)) {
			snprintf(name, sizeof(name), "cowvm / uffd-wp registration @%s", sn);
			res_ratio(c, "clone", name, cw / wp, NULL, -1);
		}
	}
	if (o->nsizes < 2)
		return;
	uint64_t lo = o->sizes[0], hi = o->sizes[o->nsizes - 1];
	char a[16], b[16];
	size_name(hi, a, sizeof(a));
	size_name(lo, b, sizeof(b));
	for (int m = 0; m < 2; m++) {
		double r = median_of(c, m, hi) / median_of(c, m, lo);
		snprintf(name, sizeof(name), "%s(%s) / %s(%s)", mname[m], a, mname[m], b);
		res_ratio(c, "clone", name, r, m == M_COWVM ? "<= 1.2" : NULL, m == M_COWVM ? r <= 1.2 : -1);
	}
}

static void slopes(struct bctx *c)
{
	const struct bench_opts *o = c->o;
	for (unsigned k = 0; k < sizeof(show) / sizeof(show[0]); k++) {
		int m = show[k];
		double x[BENCH_MAX_SIZES], y[BENCH_MAX_SIZES];
		unsigned np = 0;
		for (unsigned i = 0; i < o->nsizes; i++) {
			double v = median_of(c, m, o->sizes[i]);
			if (isnan(v))
				continue;
			x[np] = (double)o->sizes[i] / (double)GiB;
			y[np++] = v;
		}
		double sl, ic, r2;
		if (np >= 2 && !bfit_line(x, y, np, &sl, &ic, &r2))
			res_slope(c, mname[m], sl, ic, r2, np);
	}
}

static const struct bslope *slope_of(struct bctx *c, const char *method)
{
	for (unsigned i = 0; i < c->res.nslopes; i++)
		if (!strcmp(c->res.slopes[i].method, method))
			return &c->res.slopes[i];
	return NULL;
}

static void table(struct bctx *c)
{
	const struct bench_opts *o = c->o;
	char sn[16];
	printf("\n== clone: latency vs guest memory (median of the repeats; p99 in the JSON) ==\n");
	printf("%-24s", "method");
	for (unsigned i = 0; i < o->nsizes; i++)
		printf(" %9s", size_name(o->sizes[i], sn, sizeof(sn)));
	printf(" %14s %6s\n", "slope us/GiB", "n");
	for (unsigned k = 0; k < sizeof(show) / sizeof(show[0]); k++) {
		int m = show[k];
		printf("%-24s", mname[m]);
		const char *na = NULL;
		unsigned nmin = 0;
		for (unsigned i = 0; i < o->nsizes; i++) {
			print_us(median_of(c, m, o->sizes[i]));
			for (size_t r = 0; r < c->res.nrows; r++) {
				const struct brow *w = &c->res.rows[r];
				if (!strcmp(w->suite, "clone") && !strcmp(w->method, mname[m]) && w->size == o->sizes[i]) {
					if (w->na[0])
						na = w->na;
					else if (!nmin || w->st.n < nmin)
						nmin = (unsigned)w->st.n;
				}
			}
		}
		const struct bslope *s = slope_of(c, mname[m]);
		if (s)
			printf(" %14.1f", s->slope);
		else
			printf(" %14s", "-");
		printf(" %6u", nmin);
		if (na)
			printf("  n/a (%s)", na);
		printf("\n");
	}
	printf("\n-- each method / cowvm (same run; how many times cowvm's clone it costs) --\n");
	printf("%-24s", "method");
	for (unsigned i = 0; i < o->nsizes; i++)
		printf(" %9s", size_name(o->sizes[i], sn, sizeof(sn)));
	printf("\n");
	for (unsigned k = 1; k < sizeof(show) / sizeof(show[0]); k++) {
		int m = show[k];
		if (m == M_COWVM_RUN)
			continue;
		printf("%-24s", mname[m]);
		for (unsigned i = 0; i < o->nsizes; i++)
			print_cell_ratio(median_of(c, m, o->sizes[i]) /
			                 median_of(c, m == M_COWVM_RUN || m == M_FRESH_RUN ? M_COWVM_RUN : M_COWVM,
			                           o->sizes[i]));
		printf("%s\n", m == M_FRESH_RUN ? "  (against cowvm + run)" : "");
	}
	printf("\n-- ratios and targets --\n");
	for (unsigned i = 0; i < c->res.nratios; i++) {
		const struct bratio *q = &c->res.ratios[i];
		if (strcmp(q->suite, "clone"))
			continue;
		printf("%-60s %10.4f", q->name, q->value);
		if (q->met >= 0)
			printf("   target %-18s %s", q->target, q->met ? "met" : "MISSED");
		printf("\n");
	}
	fflush(stdout);
}

static void plot(struct bctx *c)
{
	const struct bench_opts *o = c->o;
	struct plot_series s[NM];
	double x[NM][BENCH_MAX_SIZES], y[NM][BENCH_MAX_SIZES];
	size_t ns = 0;
	for (unsigned k = 0; k < sizeof(show) / sizeof(show[0]); k++) {
		int m = show[k];
		for (unsigned i = 0; i < o->nsizes; i++) {
			x[ns][i] = (double)o->sizes[i] / (double)MiB;
			y[ns][i] = median_of(c, m, o->sizes[i]);
		}
		s[ns] = (struct plot_series){ mname[m], o->nsizes, x[ns], y[ns] };
		ns++;
	}
	struct plot_axes a = { "clone latency vs guest memory (median, same run)", "guest memory (MiB)",
	                       "latency (us)", true, true };
	char err[256];
	int r = plot_lines(c->o->plot_dir, "clone_latency", &a, s, ns, err, sizeof(err));
	note_plot(c, r, err);
}

void suite_clone(struct bctx *c)
{
	const struct bench_opts *o = c->o;
	bprogress(c, "suite clone: %u sizes, repeat %u (costly methods fewer at large sizes)", o->nsizes,
	          reps_cheap(c));
	run_all(c);
	slopes(c);
	targets(c);
	table(c);
	if (o->plot_dir)
		plot(c);
}
