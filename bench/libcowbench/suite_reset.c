/*
 * suite_reset.c - reset latency vs dirty pages (docs/benchmarks.md, suite
 * 4): a clone writes D pages of a buffer the snapshot holds (the bench
 * guest's `pages` command), then is brought back to the snapshot by
 *   cowvm reset      vm_reset: harvest the dirty ring, copy the D pages
 *                    back, re-share the GPT leaves, restore the vCPU
 *   fresh VM         destroy it and make a new one per run (fresh KVM VM +
 *                    MAP_PRIVATE of the snapshot: Firecracker-style)
 *   copy-back        vm_reset_copy: copy ALL of guest RAM back
 * Only the reset is timed ("reset"); the guest's next run is timed apart
 * ("+ run": a reset that leaves memory mapped makes the next run cheaper).
 * Every run writes the command into the input buffer, one more dirty page.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench_int.h"
#include "plot.h"

enum { R_COWVM, R_COWVM_RUN, R_FRESH, R_FRESH_RUN, R_COPY, R_COPY_RUN, NR };
static const char *const rname[NR] = { "cowvm reset", "cowvm reset + run", "fresh VM", "fresh VM + run",
                                       "copy-back", "copy-back + run" };

void suite_reset(struct bctx *c)
{
	const struct bench_opts *o = c->o;
	static const unsigned dirty_full[] = { 1, 16, 256, 4096, 65536 }, dirty_quick[] = { 1, 16, 256, 4096 };
	const unsigned *dirty = o->quick ? dirty_quick : dirty_full;
	unsigned nd = o->quick ? 4 : 5;
	uint64_t size = o->quick ? 64 * MiB : 512 * MiB;
	uint64_t fill = (dirty[nd - 1] + 255) / 256;
	char sn[16];
	size_name(size, sn, sizeof(sn));
	bprogress(c, "suite reset: %s guest, %llu MiB buffer, dirty pages 1..%u", sn, (unsigned long long)fill,
	          dirty[nd - 1]);
	double boot;
	struct snapshot *s = bx_boot(c, size, fill, &boot);
	bprogress(c, "reset: bench guest booted and snapshotted in %.1f s", boot / 1e6);
	double found[8] = { 0 };
	for (unsigned di = 0; di < nd; di++) {
		unsigned d = dirty[di];
		struct cowvm_bench_cmd cmd = { .op = COWVM_BENCH_PAGES, .count = d };
		struct vm *rv = bx_clone(NULL, s), *kv = bx_clone(NULL, s);
		bx_cmd(rv, &cmd);
		bx_run(rv, NULL, "cowvm reset");
		bx_cmd(kv, &cmd);
		bx_run(kv, NULL, "copy-back");
		unsigned n = d >= 65536 ? o->repeat / 5 : d >= 4096 ? o->repeat / 2 : o->repeat, warm = 2;
		if (n < 3)
			n = o->repeat < 3 ? o->repeat : 3;
		struct bsamples sm[NR], dp = { 0 };
		memset(sm, 0, sizeof(sm));
		for (unsigned i = 0; i < warm + n; i++) {
			bool keep = i >= warm;
			struct vmm_err err = { 0 };
			struct reset_stats rs;
			double t0 = now_us();
			if (vm_reset(rv, &rs, &err))
				bdie("vm_reset: %s", err.msg);
			double t1 = now_us();
			bx_cmd(rv, &cmd);
			bx_run(rv, NULL, "cowvm reset");
			double t2 = now_us();
			if (keep) {
				bs_add(&sm[R_COWVM], t1 - t0);
				bs_add(&sm[R_COWVM_RUN], t2 - t0);
				bs_add(&dp, (double)rs.dirty_pages);
			}
			t0 = now_us();
			if (vm_reset_copy(kv, &err))
				bdie("vm_reset_copy: %s", err.msg);
			t1 = now_us();
			bx_cmd(kv, &cmd);
			bx_run(kv, NULL, "copy-back");
			t2 = now_us();
			if (keep) {
				bs_add(&sm[R_COPY], t1 - t0);
				bs_add(&sm[R_COPY_RUN], t2 - t0);
			}
			struct bvm b;
			t0 = now_us();
			bvm_create(s, BVM_FRESH, &b);
			t1 = now_us();
			bx_cmd(b.vm, &cmd);
			bx_run(b.vm, NULL, "fresh VM");
			t2 = now_us();
			bvm_destroy(&b);
			double t3 = now_us();
			if (keep) {
				bs_add(&sm[R_FRESH], (t1 - t0) + (t3 - t2));
				bs_add(&sm[R_FRESH_RUN], t3 - t0);
			}
		}
		vm_destroy(rv);
		vm_destroy(kv);
		found[di] = bs_stat(&dp).median;
		for (int m = 0; m < NR; m++) {
			struct brow *w = res_latency(c, "reset", rname[m], size, &sm[m]);
			row_param(w, "dirty", d, NULL);
			row_extra(w, "dirty_pages_found", found[di]);
			bs_free(&sm[m]);
		}
		bs_free(&dp);
		bprogress(c, "reset: %5u dirty pages: cowvm %.1f us, fresh VM %.1f us, copy-back %.1f us", d,
		          res_find(c, "reset", rname[R_COWVM], size, d, NULL)->st.median,
		          res_find(c, "reset", rname[R_FRESH], size, d, NULL)->st.median,
		          res_find(c, "reset", rname[R_COPY], size, d, NULL)->st.median);
	}
	snapshot_put(s);

	char name[112];
	for (unsigned di = 0; di < nd; di++) {
		unsigned d = dirty[di];
		double cw = res_find(c, "reset", rname[R_COWVM], size, d, NULL)->st.median,
		       cr = res_find(c, "reset", rname[R_COWVM_RUN], size, d, NULL)->st.median,
		       fr = res_find(c, "reset", rname[R_FRESH], size, d, NULL)->st.median,
		       frr = res_find(c, "reset", rname[R_FRESH_RUN], size, d, NULL)->st.median,
		       cp = res_find(c, "reset", rname[R_COPY], size, d, NULL)->st.median;
		snprintf(name, sizeof(name), "fresh VM / cowvm reset @%u dirty", d);
		res_ratio(c, "reset", name, fr / cw, NULL, -1);
		snprintf(name, sizeof(name), "copy-back / cowvm reset @%u dirty", d);
		res_ratio(c, "reset", name, cp / cw, NULL, -1);
		snprintf(name, sizeof(name), "fresh VM + run / cowvm reset + run @%u dirty", d);
		res_ratio(c, "reset", name, frr / cr, NULL, -1);
	}

	printf("\n== reset: latency vs dirty pages, %s guest (median) ==\n", sn);
	printf("%-22s", "method \\ dirty pages");
	for (unsigned di = 0; di < nd; di++)
		printf(" %9u", dirty[di]);
	printf("\n%-22s", "(pages the reset found)");
	for (unsigned di = 0; di < nd; di++)
		printf(" %9.0f", found[di]);
	printf("\n");
	for (int m = 0; m < NR; m++) {
		printf("%-22s", rname[m]);
		for (unsigned di = 0; di < nd; di++)
			print_us(res_find(c, "reset", rname[m], size, dirty[di], NULL)->st.median);
		printf("\n");
	}
	printf("-- against cowvm reset (same run) --\n");
	static const int rr[] = { R_FRESH, R_COPY, R_FRESH_RUN, R_COPY_RUN };
	for (unsigned k = 0; k < 4; k++) {
		int m = rr[k];
		printf("%-22s", rname[m]);
		for (unsigned di = 0; di < nd; di++)
			print_cell_ratio(res_find(c, "reset", rname[m], size, dirty[di], NULL)->st.median /
			                 res_find(c, "reset", rname[m == R_FRESH_RUN || m == R_COPY_RUN ? R_COWVM_RUN : R_COWVM],
			                          size, dirty[di], NULL)->st.median);
		printf("%s\n", m == R_FRESH_RUN || m == R_COPY_RUN ? "  (against cowvm reset + run)" : "");
	}
	fflush(stdout);

	if (o->plot_dir) {
		struct plot_series ps[NR];
		double x[NR][8], y[NR][8];
		for (int m = 0; m < NR; m++) {
			for (unsigned di = 0; di < nd; di++) {
				x[m][di] = dirty[di];
				y[m][di] = res_find(c, "reset", rname[m], size, dirty[di], NULL)->st.median;
			}
			ps[m] = (struct plot_series){ rname[m], nd, x[m], y[m] };
		}
		char title[160], e2[256];
		snprintf(title, sizeof(title), "reset latency vs dirty pages (%s guest, median)", sn);
		struct plot_axes a = { title, "dirty pages", "latency (us)", true, true };
		note_plot(c, plot_lines(o->plot_dir, "reset_latency", &a, ps, NR, e2, sizeof(e2)), e2);
	}
}
