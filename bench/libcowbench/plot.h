/*
 * plot.h - PNG plots through gnuplot (Debian package gnuplot-nox): each plot
 * is written as DIR/NAME.dat (data) and DIR/NAME.gp (script), then
 * `gnuplot NAME.gp` runs in DIR and makes DIR/NAME.png. The .dat and .gp
 * stay, so a plot can be remade or restyled by hand.
 */
#ifndef COWBENCH_PLOT_H
#define COWBENCH_PLOT_H

#include <stdbool.h>
#include <stddef.h>

struct plot_series {
	const char *label;
	size_t n;
	const double *x, *y; /* NaN y: point left out */
};

struct plot_axes {
	const char *title, *xlabel, *ylabel;
	bool logx, logy;
};

/* Lines with points, one per series. 0, or -errno with a message in err. */
int plot_lines(const char *dir, const char *name, const struct plot_axes *a,
               const struct plot_series *s, size_t ns, char *err, size_t errlen);

/* Clustered bars: ngroups groups along x (labels groups[]), one bar per
 * series in each group; y[i * ngroups + g] is series i in group g (NaN:
 * no bar). */
int plot_bars(const char *dir, const char *name, const struct plot_axes *a,
              const char *const *groups, size_t ngroups, const char *const *series, size_t nseries,
              const double *y, char *err, size_t errlen);

/* Is gnuplot on PATH? */
bool plot_have_gnuplot(void);

/* gnuplot double-quoted string body of s (quote and backslash escaped). */
void plot_quote(const char *s, char *out, size_t outlen);

#endif
