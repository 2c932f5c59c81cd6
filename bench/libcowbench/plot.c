/* plot.c - gnuplot scripts and PNGs (see plot.h). */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

void plot_quote(const char *s, char *out, size_t outlen)
{
	size_t n = 0;
	for (; *s && n + 2 < outlen; s++) {
		if (*s == '"' || *s == '\\')
			out[n++] = '\\';
		out[n++] = (*s == '\n') ? ' ' : *s;
	}
	out[n] = 0;
}

bool plot_have_gnuplot(void)
{
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char p[4200];
		snprintf(p, sizeof(p), "%s/gnuplot", d);
		if (!access(p, X_OK))
			return true;
	}
	return false;
}

static FILE *open_in(const char *dir, const char *name, const char *ext, char *err, size_t errlen)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s.%s", dir, name, ext);
	FILE *f = fopen(p, "we");
	if (!f)
		fail(err, errlen, -errno, "cannot write %s: %s", p, strerror(errno));
	return f;
}

static void header(FILE *g, const char *name, const struct plot_axes *a)
{
	char t[512], xl[256], yl[256];
	plot_quote(a->title ? a->title : name, t, sizeof(t));
	plot_quote(a->xlabel ? a->xlabel : "", xl, sizeof(xl));
	plot_quote(a->ylabel ? a->ylabel : "", yl, sizeof(yl));
	fprintf(g, "# made by cowvm bench (bench/libcowbench/plot.c); run: gnuplot %s.gp\n", name);
	fprintf(g, "set terminal pngcairo size 960,600 noenhanced font \"sans,10\"\n");
	fprintf(g, "set output \"%s.png\"\n", name);
	fprintf(g, "set title \"%s\"\nset xlabel \"%s\"\nset ylabel \"%s\"\n", t, xl, yl);
	fprintf(g, "set grid\nset key outside right top\n");
	/* ten distinguishable colours and point shapes (the default cycle has 8) */
	static const char *const col[] = { "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e",
	                                   "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22" };
	for (unsigned i = 0; i < 10; i++)
		fprintf(g, "set linetype %u lc rgb \"%s\" lw 2 pt %u\n", i + 1, col[i], i % 7 + 1 + (i >= 7));
	fprintf(g, "set linetype cycle 10\n");
	if (a->logx)
		fprintf(g, "set logscale x 2\n");
	if (a->logy)
		fprintf(g, "set logscale y 10\nset format y \"%%g\"\n");
}

static int run_gnuplot(const char *dir, const char *name, char *err, size_t errlen)
{
	if (!plot_have_gnuplot())
		return fail(err, errlen, -ENOENT,
		            "gnuplot is not installed (apt-get install gnuplot-nox): %s/%s.gp written, no PNG", dir,
		            name);
	char script[512];
	snprintf(script, sizeof(script), "%s.gp", name);
	char *argv[] = { "gnuplot", script, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	/* gnuplot resolves the script's relative paths from its cwd */
	int r = posix_spawn_file_actions_addchdir_np(&fa, dir);
	pid_t pid;
	r = r ?: posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		return fail(err, errlen, -r, "cannot run gnuplot: %s", strerror(r));
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return fail(err, errlen, -errno, "waitpid(gnuplot): %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return fail(err, errlen, -EIO, "gnuplot %s/%s.gp failed (status %d)", dir, name, st);
	return 0;
}

static int prepare(const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0777) && errno != EEXIST)
		return fail(err, errlen, -errno, "cannot create %s: %s", dir, strerror(errno));
	return 0;
}

int plot_lines(const char *dir, const char *name, const struct plot_axes *a,
               const struct plot_series *s, size_t ns, char *err, size_t errlen)
{
	int r = prepare(dir, err, errlen);
	if (r)
		return r;
	FILE *d = open_in(dir, name, "dat", err, errlen);
	if (!d)
		return -EIO;
	FILE *g = open_in(dir, name, "gp", err, errlen);
	if (!g) {
		fclose(d);
		return -EIO;
	}
	header(g, name, a);
	fprintf(g, "plot ");
	unsigned idx = 0;
	for (size_t i = 0; i < ns; i++) {
		size_t pts = 0;
		for (size_t k = 0; k < s[i].n; k++)
			pts += isfinite(s[i].y[k]) && (!a->logy || s[i].y[k] > 0);
		if (!pts)
			continue;
		char lab[256];
		plot_quote(s[i].label, lab, sizeof(lab));
		fprintf(d, "# %s\n", lab);
		for (size_t k = 0; k < s[i].n; k++)
			if (isfinite(s[i].y[k]) && (!a->logy || s[i].y[k] > 0))
				fprintf(d, "%.9g %.9g\n", s[i].x[k], s[i].y[k]);
		fprintf(d, "\n\n");
		fprintf(g, "%s\"%s.dat\" index %u using 1:2 with linespoints title \"%s\"",
		        idx ? ", \\\n     " : "", name, idx, lab);
		idx++;
	}
	if (!idx)
		fprintf(g, "0 notitle");
	fprintf(g, "\n");
	int bad = ferror(d) | ferror(g);
	bad |= fclose(d) | fclose(g);
	if (bad)
		return fail(err, errlen, -EIO, "writing %s/%s.{dat,gp} failed", dir, name);
	return run_gnuplot(dir, name, err, errlen);
}

int plot_bars(const char *dir, const char *name, const struct plot_axes *a,
              const char *const *groups, size_t ngroups, const char *const *series, size_t nseries,
              const double *y, char *err, size_t errlen)
{
	int r = prepare(dir, err, errlen);
	if (r)
		return r;
	FILE *d = open_in(dir, name, "dat", err, errlen);
	if (!d)
		return -EIO;
	FILE *g = open_in(dir, name, "gp", err, errlen);
	if (!g) {
		fclose(d);
		return -EIO;
	}
	struct plot_axes ax = *a;
	ax.logx = false; /* categories along x */
	header(g, name, &ax);
	fprintf(g, "set style data histograms\nset style histogram clustered gap 1\n"
	           "set style fill solid 0.85 border -1\nset boxwidth 0.9\nset xtics rotate by -20\n");
	if (a->logy)
		fprintf(g, "set yrange [*:*]\n");
	/* columns: group label, then one column per series ('?' = missing) */
	fprintf(d, "group");
	for (size_t i = 0; i < nseries; i++) {
		char lab[256];
		plot_quote(series[i], lab, sizeof(lab));
		fprintf(d, " \"%s\"", lab);
	}
	fprintf(d, "\n");
	for (size_t gi = 0; gi < ngroups; gi++) {
		char lab[256];
		plot_quote(groups[gi], lab, sizeof(lab));
		fprintf(d, "\"%s\"", lab);
		for (size_t i = 0; i < nseries; i++) {
			double v = y[i * ngroups + gi];
			if (isfinite(v) && (!a->logy || v > 0))
				fprintf(d, " %.9g", v);
			else
				fprintf(d, " ?");
		}
		fprintf(d, "\n");
	}
	fprintf(g, "set datafile missing \"?\"\nplot ");
	for (size_t i = 0; i < nseries; i++)
		fprintf(g, "%s\"%s.dat\" using %zu:xtic(1) title columnheader(%zu)", i ? ", \\\n     " : "", name,
		        i + 2, i + 2);
	if (!nseries)
		fprintf(g, "0 notitle");
	fprintf(g, "\n");
	int bad = ferror(d) | ferror(g);
	bad |= fclose(d) | fclose(g);
	if (bad)
		return fail(err, errlen, -EIO, "writing %s/%s.{dat,gp} failed", dir, name);
	return run_gnuplot(dir, name, err, errlen);
}
