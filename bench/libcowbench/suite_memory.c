/*
 * suite_memory.c - memory after a clone (docs/benchmarks.md, suite 3): the
 * seed's VmRSS/VmPTE table, for VMs. A guest fills (nearly) all of its RAM
 * and snapshots: the snapshot is the holder ("parent"). Then a clone right
 * after vm_clone, one that wrote 1 % of the buffer (5 pages in every 2 MiB
 * chunk, 0.98 %), one that wrote all of it, and an idle clone on a pooled
 * shell that last ran the 100 % clone. For each: host RSS of the guest
 * window (smaps Rss), its private part (smaps Anonymous: pages copied for
 * this clone), cowvm's table bytes (GPT upper tables + leaves it owns), and
 * the host page tables of the window (this process's VmPTE, before vs now).
 * Beside it, the seed's own experiment on this machine: a process holding
 * the same size populated forks; VmRSS/VmPTE of parent and child right
 * after fork, after the child wrote 1 % and 100 % of the pages.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_int.h"
#include "gpt.h"
#include "plot.h"

static uint64_t self_pte(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return 0;
	char line[256];
	unsigned long long kb = 0, v;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPTE: %llu kB", &v) == 1)
			kb = v;
	fclose(f);
	return kb << 10;
}

static struct brow *mrow(struct bctx *c, const char *method, uint64_t size, const char *state, uint64_t rss,
                         uint64_t priv, uint64_t table, double host_pte)
{
	struct brow *w = res_memory(c, "memory", method, size);
	row_param(w, "state", 0, state);
	row_extra(w, "rss_bytes", (double)rss);
	row_extra(w, "private_bytes", (double)priv);
	row_extra(w, "table_bytes", (double)table);
	if (!isnan(host_pte))
		row_extra(w, "host_pte_bytes", host_pte);
	row_extra(w, "rss_pct_of_guest", 100.0 * (double)rss / (double)size);
	return w;
}

/* Memory size of the suite: 1 GiB (the seed's table), --quick 256 MiB. */
static uint64_t mem_size(const struct bctx *c)
{
	return c->o->quick ? 256 * MiB : GiB;
}

static void clone_state(struct bctx *c, struct snapshot *s, struct vm_pool *pool, const char *state,
                        const struct cowvm_bench_cmd *cmd)
{
	uint64_t pte0 = self_pte();
	struct vm *vm = bx_clone(pool, s);
	if (cmd) {
		bx_cmd(vm, cmd);
		bx_run(vm, NULL, state);
	}
	struct vm_mem_stats ms;
	struct vmm_err err = { 0 };
	if (vm_mem_stats(vm, &ms, &err))
		bdie("vm_mem_stats: %s", err.msg);
	double pte = (double)self_pte() - (double)pte0;
	struct brow *w = mrow(c, "cowvm", s->meta.mem_size, state, ms.host_rss_bytes, ms.host_private_bytes,
	                      ms.gpt_table_bytes, pte);
	row_extra(w, "gpt_private_pages", (double)ms.gpt_private_pages);
	row_extra(w, "leaves_shared", (double)ms.leaves_shared);
	row_extra(w, "leaves_private", (double)ms.leaves_private);
	if (pool)
		vm_release(pool, vm);
	else
		vm_destroy(vm);
}

static const struct brow *find_mem(struct bctx *c, const char *method, const char *state)
{
	for (size_t i = 0; i < c->res.nrows; i++) {
		const struct brow *r = &c->res.rows[i];
		if (!strcmp(r->suite, "memory") && !strcmp(r->method, method) && !strcmp(r->pstr, state))
			return r;
	}
	return NULL;
}

void suite_memory(struct bctx *c)
{
	uint64_t size = mem_size(c);
	char sn[16];
	size_name(size, sn, sizeof(sn));
	uint64_t fill = size / MiB - 8; /* the heap starts after the image (2 MiB aligned), buffers at the top */
	bprogress(c, "suite memory: %s guest filling %llu MiB", sn, (unsigned long long)fill);
	double boot;
	struct snapshot *s = bx_boot(c, size, fill, &boot);
	bprogress(c, "memory: booted, filled and snapshotted in %.1f s", boot / 1e6);

	/* the holder: the snapshot's memfd and GPT */
	struct stat sb;
	if (fstat(snapshot_root(s)->memfd, &sb))
		bdie("fstat of the snapshot memfd failed");
	struct gpt_stats gs;
	gpt_get_stats(s->gpt, &gs);
	uint64_t held = (uint64_t)sb.st_blocks * 512;
	mrow(c, "cowvm", size, "holder", held, held, gs.table_bytes, NAN);

	struct cowvm_bench_cmd one = { .op = COWVM_BENCH_CHUNKS, .per = 5 },
	                       all = { .op = COWVM_BENCH_SEQ };
	clone_state(c, s, NULL, "after clone", NULL);
	clone_state(c, s, NULL, "wrote 1%", &one);
	clone_state(c, s, NULL, "wrote 100%", &all);
	/* a pooled shell: idle clone on a shell whose last clone wrote 100 % */
	struct vm_pool *pool;
	struct vmm_err err = { 0 };
	if (vm_pool_create(1, &pool, &err))
		bdie("%s", err.msg);
	struct vm *vm = bx_clone(pool, s);
	bx_cmd(vm, &all);
	bx_run(vm, NULL, "pool 100%");
	vm_release(pool, vm);
	clone_state(c, s, pool, "pooled, after clone", NULL);
	vm_pool_destroy(pool);
	snapshot_put(s);
	bprogress(c, "memory: cowvm clones measured");

	/* the fork-style baseline: the seed's DEFAULT FORK table */
	if (c->fh) {
		fh_map(c->fh, size);
		static const struct { double pct; const char *state; } st[] = {
			{ 0, "after clone" }, { 1, "wrote 1%" }, { 100, "wrote 100%" } };
		for (unsigned i = 0; i < 3; i++) {
			struct fh_mem m;
			fh_mem(c->fh, st[i].pct, &m);
			if (!i)
				mrow(c, "fork", size, "holder", m.parent_rss, m.parent_rss, m.parent_pte, NAN);
			struct brow *w = mrow(c, "fork", size, st[i].state, m.child_rss, 0, m.child_pte, NAN);
			row_extra(w, "rss_anon_bytes", (double)m.child_anon);
		}
		fh_unmap(c->fh);
		bprogress(c, "memory: fork baseline measured");
	}

	/* the target: idle clone RSS <= 1 % of guest memory */
	const struct brow *idle = find_mem(c, "cowvm", "after clone");
	double pct = idle ? row_extra_get(idle, "rss_pct_of_guest") : NAN;
	res_ratio(c, "memory", "cowvm idle clone host RSS, % of guest memory", pct, "<= 1", pct <= 1.0);
	const struct brow *fi = find_mem(c, "fork", "after clone");
	if (fi && idle)
		res_ratio(c, "memory", "cowvm idle clone RSS / fork child VmRSS",
		          row_extra_get(idle, "rss_bytes") / row_extra_get(fi, "rss_bytes"), NULL, -1);
	const struct brow *pi = find_mem(c, "cowvm", "pooled, after clone");
	if (pi)
		res_ratio(c, "memory", "cowvm idle clone on a pooled shell (last clone wrote 100%), % of guest",
		          row_extra_get(pi, "rss_pct_of_guest"), NULL, -1);

	printf("\n== memory: %s guest, buffer of %llu MiB filled before the snapshot (KiB) ==\n", sn,
	       (unsigned long long)fill);
	printf("%-7s %-22s %14s %14s %8s %14s %14s\n", "method", "state", "RSS", "private", "RSS %",
	       "tables", "host PTEs");
	printf("%-7s %-22s %14s %14s %8s %14s %14s\n", "", "", "(VmRSS)", "(copied)", "of guest",
	       "(GPT / VmPTE)", "(window)");
	for (size_t i = 0; i < c->res.nrows; i++) {
		const struct brow *r = &c->res.rows[i];
		if (strcmp(r->suite, "memory"))
			continue;
		double hp = row_extra_get(r, "host_pte_bytes");
		bool fork = !strcmp(r->method, "fork");
		const char *state = r->pstr;
		if (!strcmp(state, "holder"))
			state = fork ? "parent (holder)" : "snapshot (holder)";
		else if (fork && !strcmp(state, "after clone"))
			state = "child after fork";
		else if (fork)
			state = !strcmp(state, "wrote 1%") ? "child wrote 1%" : "child wrote 100%";
		printf("%-7s %-22s %14.0f", r->method, state, row_extra_get(r, "rss_bytes") / 1024);
		if (fork && strcmp(r->pstr, "holder"))
			printf(" %14s", "-");
		else
			printf(" %14.0f", row_extra_get(r, "private_bytes") / 1024);
		printf(" %7.3f%% %14.0f", row_extra_get(r, "rss_pct_of_guest"), row_extra_get(r, "table_bytes") / 1024);
		if (isnan(hp))
			printf(" %14s\n", "-");
		else
			printf(" %14.0f\n", hp / 1024);
	}
	printf("(RSS: cowvm = the clone's guest window (smaps Rss), fork = the process's VmRSS; private = pages\n"
	       " copied for the clone (smaps Anonymous); tables: cowvm's GPT, fork's VmPTE; host PTEs: page\n"
	       " tables of the window in this process (VmPTE growth while the clone existed))\n");
	for (unsigned i = 0; i < c->res.nratios; i++) {
		const struct bratio *q = &c->res.ratios[i];
		if (strcmp(q->suite, "memory"))
			continue;
		printf("%-72s %10.4f", q->name, q->value);
		if (q->met >= 0)
			printf("   target %-6s %s", q->target, q->met ? "met" : "MISSED");
		printf("\n");
	}
	fflush(stdout);

	if (c->o->plot_dir) {
		static const char *const groups[] = { "holder", "after clone", "wrote 1%", "wrote 100%" };
		static const char *const series[] = { "cowvm RSS", "fork VmRSS", "cowvm tables (GPT)",
		                                      "fork VmPTE" };
		double y[4 * 4];
		for (unsigned g = 0; g < 4; g++) {
			const struct brow *cw = find_mem(c, "cowvm", groups[g]), *fk = find_mem(c, "fork", groups[g]);
			y[0 * 4 + g] = cw ? row_extra_get(cw, "rss_bytes") / 1024 : NAN;
			y[1 * 4 + g] = fk ? row_extra_get(fk, "rss_bytes") / 1024 : NAN;
			y[2 * 4 + g] = cw ? row_extra_get(cw, "table_bytes") / 1024 : NAN;
			y[3 * 4 + g] = fk ? row_extra_get(fk, "table_bytes") / 1024 : NAN;
		}
		char title[160], e2[256];
		snprintf(title, sizeof(title), "memory of holder and clone/child, %s (KiB, log)", sn);
		struct plot_axes a = { title, "", "KiB", false, true };
		note_plot(c, plot_bars(c->o->plot_dir, "memory", &a, groups, 4, series, 4, y, e2, sizeof(e2)), e2);
	}
}
