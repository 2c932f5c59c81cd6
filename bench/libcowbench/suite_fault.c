/*
 * suite_fault.c - page-fault latency after a clone (docs/benchmarks.md,
 * suite 2; the seed's "page fault latency" microbenchmarks, inside VMs).
 * A guest fills a buffer (512 MiB of a 1 GiB guest) and snapshots; each
 * clone, made by one of the methods below, runs in ring 3:
 *   clone A  every page of the buffer written in order ("seq"), then
 *            1,000,000 writes to random pages ("rand after seq": every page
 *            is private by then)
 *   clone B  the 1,000,000 random page writes alone ("rand": the seed's
 *            sparse-access experiment on a fresh fork)
 * The guest times every access itself (rdtsc in ring 3, which runs natively
 * here); the host converts cycles with the guest TSC frequency.
 * Methods: cowvm on a pooled shell (steady state: the shell ran the same
 * clone before, so its window's pages are already private host memory and
 * a write costs KVM's write-protect fault for dirty tracking), cowvm on a
 * new shell (vm_clone(NULL): every first write is a host copy-on-write
 * from the snapshot memfd), cowvm on a pooled shell that tracks writes with
 * the dirty bitmap instead of the dirty ring (harvested only when the run
 * ends: no re-protection while the guest runs), fresh VM + MAP_PRIVATE,
 * eager copy (4 KiB pages), uffd-wp, uffd-copy (bench_int.h, struct bvm).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"
#include "plot.h"

enum { F_POOL, F_NEW, F_POOL_BITMAP, F_FRESH, F_EAGER, F_UFFD_WP, F_UFFD_COPY, NF };
static const char *const fname[NF] = { "cowvm (pooled shell)", "cowvm (new shell)", "cowvm (pooled, dirty bitmap)",
                                       "fresh VM + MAP_PRIVATE", "eager copy", "uffd-wp", "uffd-copy" };
enum { P_SEQ, P_RAND_AFTER, P_RAND, NP };
static const char *const pname[NP] = { "seq", "rand after seq", "rand" };
static const char *const pkey[NP] = { "seq", "rand", "rand" }; /* guest report prefix */

struct fsamp {
	struct bsamples mean, p50, p99, max, wall;
};

struct fstate {
	struct fsamp s[NF][NP];
	struct bsamples setup[NF], run[NF][2], faults[NF];
};

static double cyc_us(const struct bctx *c, double cycles)
{
	return cycles * 1000.0 / c->tsc_khz;
}

static void take(struct bctx *c, struct fsamp *f, const struct vm_result *res, const char *pfx)
{
	char k[64];
	snprintf(k, sizeof(k), "bench.%s.n", pfx);
	double n = (double)bx_report(res, k);
	snprintf(k, sizeof(k), "bench.%s.cycles", pfx);
	bs_add(&f->mean, cyc_us(c, (double)bx_report(res, k)) / n);
	snprintf(k, sizeof(k), "bench.%s.p50", pfx);
	bs_add(&f->p50, cyc_us(c, (double)bx_report(res, k)));
	snprintf(k, sizeof(k), "bench.%s.p99", pfx);
	bs_add(&f->p99, cyc_us(c, (double)bx_report(res, k)));
	snprintf(k, sizeof(k), "bench.%s.max", pfx);
	bs_add(&f->max, cyc_us(c, (double)bx_report(res, k)));
	snprintf(k, sizeof(k), "bench.%s.wall", pfx);
	bs_add(&f->wall, cyc_us(c, (double)bx_report(res, k)) / n);
}

/* One clone by method m running `op`; samples into st. */
static void one(struct bctx *c, struct fstate *st, int m, struct snapshot *s, struct vm_pool **pools,
                const struct cowvm_bench_cmd *cmd, bool keep)
{
	struct vm_result res;
	struct bvm b = { 0 };
	struct vm *vm;
	double t0 = now_us();
	struct vm_pool *pool = m == F_POOL ? pools[0] : m == F_POOL_BITMAP ? pools[1] : NULL;
	if (m == F_POOL || m == F_NEW || m == F_POOL_BITMAP) {
		vm = bx_clone_dirty(pool, s, m == F_POOL_BITMAP ? DIRTY_BITMAP : DIRTY_RING);
	} else {
		static const enum bvm_kind kind[NF] = { [F_FRESH] = BVM_FRESH, [F_EAGER] = BVM_EAGER,
			                                [F_UFFD_WP] = BVM_UFFD_WP, [F_UFFD_COPY] = BVM_UFFD_COPY };
		bvm_create(s, kind[m], &b);
		vm = b.vm;
	}
	double t1 = now_us();
	bx_cmd(vm, cmd);
	double t2 = now_us();
	bx_run(vm, &res, fname[m]);
	double t3 = now_us();
	uint64_t faults = 0;
	if (pool)
		vm_release(pool, vm);
	else if (m == F_NEW)
		vm_destroy(vm);
	else {
		struct uffd_ctx *u = b.u;
		b.u = NULL;
		if (u)
			faults = uffd_stop(u);
		bvm_destroy(&b);
	}
	if (!keep)
		return;
	bool a = cmd->op == COWVM_BENCH_SEQRAND;
	bs_add(&st->setup[m], t1 - t0);
	bs_add(&st->run[m][a ? 0 : 1], t3 - t2);
	if (a) {
		take(c, &st->s[m][P_SEQ], &res, pkey[P_SEQ]);
		take(c, &st->s[m][P_RAND_AFTER], &res, pkey[P_RAND_AFTER]);
	} else {
		take(c, &st->s[m][P_RAND], &res, pkey[P_RAND]);
	}
	if (m == F_UFFD_WP || m == F_UFFD_COPY)
		bs_add(&st->faults[m], (double)faults);
}

static const struct brow *frow(struct bctx *c, int m, int p, uint64_t size)
{
	return res_find(c, "fault", fname[m], size, 0, pname[p]);
}

void suite_fault(struct bctx *c)
{
	const struct bench_opts *o = c->o;
	uint64_t size = o->quick ? 256 * MiB : GiB, buf_mib = o->quick ? 64 : 512;
	uint64_t nrand = o->quick ? 100000 : 1000000;
	unsigned n = o->repeat / 6;
	n = n < 1 ? 1 : n > 5 ? 5 : n;
	char sn[16];
	size_name(size, sn, sizeof(sn));
	bprogress(c, "suite fault: %s guest, %llu MiB buffer, %llu random writes, %u repeats", sn,
	          (unsigned long long)buf_mib, (unsigned long long)nrand, n);
	double boot;
	struct snapshot *s = bx_boot(c, size, buf_mib, &boot);
	bprogress(c, "fault: bench guest filled %llu MiB and snapshotted in %.1f s", (unsigned long long)buf_mib,
	          boot / 1e6);
	struct vm_pool *pools[2];
	struct vmm_err err = { 0 };
	if (vm_pool_create(1, &pools[0], &err) || vm_pool_create(1, &pools[1], &err))
		bdie("%s", err.msg);
	struct vm_pool *pool = pools[0];
	bool avail[NF];
	for (int m = 0; m < NF; m++)
		avail[m] = !(m == F_UFFD_WP && c->uffd_wp_na[0]) && !(m == F_UFFD_COPY && c->uffd_copy_na[0]);
	struct fstate *st = calloc(1, sizeof(*st));
	if (!st)
		bdie("out of memory");
	struct cowvm_bench_cmd ca = { .op = COWVM_BENCH_SEQRAND, .count = nrand, .seed = 1 },
	                       cb = { .op = COWVM_BENCH_RAND, .count = nrand, .seed = 1 };
	/* the pooled shells' first clones: afterwards their windows hold private
	 * copies of every page (the reset copies them back, keeping them) */
	one(c, st, F_POOL, s, pools, &ca, false);
	one(c, st, F_POOL_BITMAP, s, pools, &ca, false);
	/* what the timing itself costs: empty timed accesses */
	double floor_us;
	{
		struct vm *vm = bx_clone(pool, s);
		struct cowvm_bench_cmd ct = { .op = COWVM_BENCH_TSC, .count = 100000 };
		struct vm_result res;
		bx_cmd(vm, &ct);
		bx_run(vm, &res, "tsc");
		vm_release(pool, vm);
		/* the median access: the mean of an empty loop is mostly preemptions */
		floor_us = cyc_us(c, (double)bx_report(&res, "bench.tsc.p50"));
		struct bsamples one_s = { 0 };
		bs_add(&one_s, floor_us);
		struct brow *w = res_latency(c, "fault", "empty timed access (rdtsc pair)", size, &one_s);
		row_param(w, "pattern", 0, "tsc");
		row_extra(w, "mean_us_per_access",
		          cyc_us(c, (double)bx_report(&res, "bench.tsc.cycles")) / (double)bx_report(&res, "bench.tsc.n"));
		bs_free(&one_s);
	}
	for (unsigned r = 0; r < n; r++)
		for (int m = 0; m < NF; m++) {
			if (!avail[m])
				continue;
			double t0 = now_us();
			one(c, st, m, s, pools, &ca, true);
			one(c, st, m, s, pools, &cb, true);
			bprogress(c, "fault: repeat %u/%u %-24s seq %.3f us, rand %.3f us per write (%.1f s)", r + 1, n,
			          fname[m], st->s[m][P_SEQ].mean.v[r], st->s[m][P_RAND].mean.v[r], (now_us() - t0) / 1e6);
		}
	vm_pool_destroy(pools[0]);
	vm_pool_destroy(pools[1]);
	snapshot_put(s);
	for (int m = 0; m < NF; m++) {
		for (int p = 0; p < NP; p++) {
			struct fsamp *f = &st->s[m][p];
			struct brow *w;
			if (!avail[m]) {
				w = res_na(c, "fault", fname[m], size, m == F_UFFD_WP ? c->uffd_wp_na : c->uffd_copy_na);
				row_param(w, "pattern", 0, pname[p]);
				continue;
			}
			w = res_latency(c, "fault", fname[m], size, &f->mean);
			row_param(w, "pattern", 0, pname[p]);
			row_extra(w, "buffer_bytes", (double)(buf_mib * MiB));
			row_extra(w, "accesses", p == P_SEQ ? (double)(buf_mib * MiB / PAGE) : (double)nrand);
			row_extra(w, "access_p50_us", bs_stat(&f->p50).median);
			row_extra(w, "access_p99_us", bs_stat(&f->p99).median);
			row_extra(w, "access_max_us", bs_stat(&f->max).median);
			row_extra(w, "loop_us_per_access", bs_stat(&f->wall).median);
			row_extra(w, "run_ms", bs_stat(&st->run[m][p == P_RAND ? 1 : 0]).median / 1000);
			if (st->faults[m].n)
				row_extra(w, "uffd_faults", bs_stat(&st->faults[m]).median);
			bs_free(&f->mean), bs_free(&f->p50), bs_free(&f->p99), bs_free(&f->max), bs_free(&f->wall);
		}
		if (avail[m]) {
			struct brow *w = res_latency(c, "fault", fname[m], size, &st->setup[m]);
			row_param(w, "pattern", 0, "setup");
		}
		bs_free(&st->setup[m]), bs_free(&st->run[m][0]), bs_free(&st->run[m][1]), bs_free(&st->faults[m]);
	}
	free(st);

	/* ratios and targets */
	char name[112];
	for (int p = 0; p < NP; p++) {
		const struct brow *cw = frow(c, F_POOL, p, size), *cn = frow(c, F_NEW, p, size),
		                 *fr = frow(c, F_FRESH, p, size), *wp = frow(c, F_UFFD_WP, p, size);
		if (cw && fr) {
			snprintf(name, sizeof(name), "%s: cowvm (pooled) / fresh VM, per write", pname[p]);
			bool t = p == P_SEQ;
			res_ratio(c, "fault", name, cw->st.median / fr->st.median, t ? "<= 1" : NULL,
			          t ? cw->st.median <= fr->st.median : -1);
		}
		if (cn && fr) {
			snprintf(name, sizeof(name), "%s: cowvm (new shell) / fresh VM, per write", pname[p]);
			bool t = p == P_SEQ;
			res_ratio(c, "fault", name, cn->st.median / fr->st.median, t ? "<= 1" : NULL,
			          t ? cn->st.median <= fr->st.median : -1);
		}
		const struct brow *cb = frow(c, F_POOL_BITMAP, p, size);
		if (cb && fr) {
			snprintf(name, sizeof(name), "%s: cowvm (pooled, dirty bitmap) / fresh VM, per write", pname[p]);
			res_ratio(c, "fault", name, cb->st.median / fr->st.median, NULL, -1);
		}
		if (cw && wp) {
			snprintf(name, sizeof(name), "%s: cowvm (pooled) / uffd-wp, per write", pname[p]);
			bool t = p == P_SEQ;
			res_ratio(c, "fault", name, cw->st.median / wp->st.median, t ? "< 1" : NULL,
			          t ? cw->st.median < wp->st.median : -1);
		}
		if (cn && wp) {
			snprintf(name, sizeof(name), "%s: cowvm (new shell) / uffd-wp, per write", pname[p]);
			bool t = p == P_SEQ;
			res_ratio(c, "fault", name, cn->st.median / wp->st.median, t ? "< 1" : NULL,
			          t ? cn->st.median < wp->st.median : -1);
		}
	}

	printf("\n== fault: guest writes after a clone, %s guest, %llu MiB buffer (mean us per write, median of %u) ==\n",
	       sn, (unsigned long long)buf_mib, n);
	printf("%-30s %10s %10s %10s %10s %10s %10s %10s\n", "method", "seq", "rand", "rand after", "seq p50",
	       "seq p99", "seq x", "clone");
	printf("%-30s %10s %10s %10s %10s %10s %10s %10s\n", "", "", "", "seq", "(guest)", "(guest)", "fresh VM",
	       "setup");
	const struct brow *base = frow(c, F_FRESH, P_SEQ, size);
	for (int m = 0; m < NF; m++) {
		printf("%-30s", fname[m]);
		if (!avail[m]) {
			printf("  n/a (%s)\n", m == F_UFFD_WP ? c->uffd_wp_na : c->uffd_copy_na);
			continue;
		}
		const struct brow *sq = frow(c, m, P_SEQ, size), *rn = frow(c, m, P_RAND, size),
		                 *ra = frow(c, m, P_RAND_AFTER, size);
		print_us(sq ? sq->st.median : NAN);
		print_us(rn ? rn->st.median : NAN);
		print_us(ra ? ra->st.median : NAN);
		print_us(sq ? row_extra_get(sq, "access_p50_us") : NAN);
		print_us(sq ? row_extra_get(sq, "access_p99_us") : NAN);
		print_cell_ratio(sq && base ? sq->st.median / base->st.median : NAN);
		const struct brow *setup = res_find(c, "fault", fname[m], size, 0, "setup");
		print_us(setup ? setup->st.median : NAN);
		printf("\n");
	}
	printf("(guest p50/p99: per-access histogram, 4 buckets per power of two, lower bounds;\n"
	       " TSC %.0f kHz from %s; an empty timed access (median) costs %.3f us, included above)\n", c->tsc_khz,
	       c->tsc_source, floor_us);
	printf("\n-- ratios and targets --\n");
	for (unsigned i = 0; i < c->res.nratios; i++) {
		const struct bratio *q = &c->res.ratios[i];
		if (strcmp(q->suite, "fault"))
			continue;
		printf("%-60s %10.4f", q->name, q->value);
		if (q->met >= 0)
			printf("   target %-18s %s", q->target, q->met ? "met" : "MISSED");
		printf("\n");
	}
	fflush(stdout);

	if (o->plot_dir) {
		const char *groups[NP];
		const char *series[NF];
		double y[NF * NP];
		size_t ns = 0;
		for (int p = 0; p < NP; p++)
			groups[p] = pname[p];
		for (int m = 0; m < NF; m++) {
			if (!avail[m])
				continue;
			series[ns] = fname[m];
			for (int p = 0; p < NP; p++) {
				const struct brow *w = frow(c, m, p, size);
				y[ns * NP + p] = w ? w->st.median : NAN;
			}
			ns++;
		}
		char title[160], e2[256];
		snprintf(title, sizeof(title), "guest write latency after a clone (%s guest, %llu MiB buffer, mean per write)",
		         sn, (unsigned long long)buf_mib);
		struct plot_axes a = { title, "access pattern", "us per write (log)", false, true };
		note_plot(c, plot_bars(o->plot_dir, "fault_latency", &a, groups, NP, series, ns, y, e2, sizeof(e2)), e2);
	}
}
