/* bench.c - `cowvm bench`: run the suites, print, write JSON and plots (cowbench.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_int.h"
#include "json.h"
#include "plot.h"

int bench_run(const struct bench_opts *o)
{
	int kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kfd < 0) {
		fprintf(stderr, "cowvm bench: /dev/kvm is not usable (%s): the benchmarks need KVM\n", strerror(errno));
		return 2;
	}
	close(kfd);
	struct bctx c = { .o = o, .t0_us = now_us() };
	FILE *jf = NULL;
	if (o->json_path && strcmp(o->json_path, "-")) {
		jf = fopen(o->json_path, "we");
		if (!jf) {
			fprintf(stderr, "cowvm bench: cannot write %s: %s\n", o->json_path, strerror(errno));
			return 2;
		}
	}
	if (o->plot_dir && mkdir(o->plot_dir, 0777) && errno != EEXIST) {
		fprintf(stderr, "cowvm bench: cannot create %s: %s\n", o->plot_dir, strerror(errno));
		if (jf)
			fclose(jf);
		return 2;
	}
	if (o->plot_dir && !plot_have_gnuplot())
		fprintf(stderr, "cowvm bench: gnuplot is not installed (apt-get install gnuplot-nox): "
		                "--plot writes the .gp and .dat files only\n");
	/* the fork baseline's holder: forked now, while this process is small */
	if (o->suite[SUITE_CLONE] || o->suite[SUITE_MEMORY]) {
		c.fh = fh_start(c.fh_na, sizeof(c.fh_na));
		if (!c.fh && !c.fh_na[0])
			snprintf(c.fh_na, sizeof(c.fh_na), "cannot start the holder process");
	}
	uffd_probe(true, c.uffd_wp_na, sizeof(c.uffd_wp_na));
	uffd_probe(false, c.uffd_copy_na, sizeof(c.uffd_copy_na));
	c.tsc_khz_host = host_tsc_khz();
	double load0 = bench_loadavg1();
	char sizes[160] = "";
	for (unsigned i = 0; i < o->nsizes; i++) {
		char sn[16];
		size_name(o->sizes[i], sn, sizeof(sn));
		snprintf(sizes + strlen(sizes), sizeof(sizes) - strlen(sizes), "%s%s", i ? "," : "", sn);
	}
	bprogress(&c, "cowvm bench: %s run, repeat %u, sizes %s; uffd-wp %s, uffd-copy %s, fork baseline %s",
	          o->quick ? "quick" : "full", o->repeat, sizes, c.uffd_wp_na[0] ? c.uffd_wp_na : "available",
	          c.uffd_copy_na[0] ? c.uffd_copy_na : "available", c.fh ? "available" : c.fh_na);
	printf("cowvm bench (%s): repeat %u, clone sizes %s\n", o->quick ? "quick" : "full", o->repeat, sizes);
	fflush(stdout);
	if (o->suite[SUITE_FAULT] && !c.tsc_khz) {
		/* the TSC frequency the guests see, before any suite needs it */
		struct snapshot *s = bx_boot(&c, 16 * MiB, 1, NULL);
		snapshot_put(s);
	}
	if (!c.tsc_khz) {
		c.tsc_khz = c.tsc_khz_host;
		c.tsc_source = "host calibration";
	}
	if (o->suite[SUITE_CLONE])
		suite_clone(&c);
	if (o->suite[SUITE_FAULT])
		suite_fault(&c);
	if (o->suite[SUITE_MEMORY])
		suite_memory(&c);
	if (o->suite[SUITE_RESET])
		suite_reset(&c);
	fh_stop(c.fh);
	double secs = (now_us() - c.t0_us) / 1e6, load1 = bench_loadavg1();

	char thp[128], kern[128];
	bench_read_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
	bench_read_line("/proc/sys/kernel/osrelease", kern, sizeof(kern));
	printf("\n== targets (ratios in this run) ==\n");
	unsigned met = 0, total = 0;
	for (unsigned i = 0; i < c.res.nratios; i++) {
		const struct bratio *q = &c.res.ratios[i];
		if (q->met < 0)
			continue;
		total++;
		met += q->met;
		printf("%-7s %-64s %10.4f  %-18s %s\n", q->suite, q->name, q->value, q->target,
		       q->met ? "met" : "MISSED");
	}
	printf("%u of %u targets met\n", met, total);
	printf("\ncowvm bench: %.1f s; load average %.2f at start, %.2f at end on %ld CPUs; kernel %s; THP %s;\n"
	       "guest TSC %.0f kHz (%s; host calibration %.0f kHz)\n",
	       secs, load0, load1, sysconf(_SC_NPROCESSORS_ONLN), kern, thp, c.tsc_khz, c.tsc_source, c.tsc_khz_host);
	if (o->plot_dir)
		printf("plots: %u PNG files in %s%s%s\n", c.nplots, o->plot_dir, c.plot_errs[0] ? "; " : "", c.plot_errs);
	fflush(stdout);

	if (o->json_path) {
		FILE *f = jf ? jf : stdout;
		struct jw w;
		jw_begin(&w, f);
		jw_str(&w, "suite", "env");
		jw_str(&w, "kind", "env");
		jw_str(&w, "mode", o->quick ? "quick" : "full");
		jw_u64(&w, "repeat", o->repeat);
		jw_str(&w, "sizes", sizes);
		jw_num(&w, "seconds", secs);
		jw_num(&w, "loadavg_start", load0);
		jw_num(&w, "loadavg_end", load1);
		jw_num(&w, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
		jw_str(&w, "kernel", kern);
		jw_str(&w, "thp", thp);
		jw_num(&w, "tsc_khz", c.tsc_khz);
		jw_str(&w, "tsc_source", c.tsc_source);
		jw_num(&w, "tsc_khz_host", c.tsc_khz_host);
		jw_str(&w, "uffd_wp", c.uffd_wp_na[0] ? c.uffd_wp_na : "available");
		jw_str(&w, "uffd_copy", c.uffd_copy_na[0] ? c.uffd_copy_na : "available");
		jw_end(&w);
		res_write_json(&c, f);
		if (jf && fclose(jf)) {
			fprintf(stderr, "cowvm bench: writing %s failed: %s\n", o->json_path, strerror(errno));
			res_free(&c.res);
			return 2;
		}
		fflush(stdout);
	}
	bprogress(&c, "done in %.1f s", secs);
	res_free(&c.res);
	return 0;
}
