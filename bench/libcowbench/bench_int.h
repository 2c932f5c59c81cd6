/*
 * bench_int.h - internals of libcowbench shared by the suites: the run
 * context, the result store (rows -> tables, JSON, plots), VM helpers (boot
 * a bench guest and snapshot it, clone it with cowvm or build a baseline VM:
 * fresh VM + MAP_PRIVATE, eager copy, userfaultfd write-protect or copy),
 * userfaultfd, and the fork helper process.
 */
#ifndef COWBENCH_INT_H
#define COWBENCH_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "clone.h"
#include "cowbench.h"
#include "cowvm_bench.h"
#include "snapshot.h"
#include "stats.h"
#include "vm.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PAGE 4096ull
#define CHUNK (2ull << 20)

/* ---- results ---------------------------------------------------------------- */

#define ROW_MAX_EXTRA 10

/* One measurement: a latency (st, microseconds, over repeats) or a memory
 * figure (extras only). n == 0 with `na` set: the method is unavailable. */
struct brow {
	char suite[16], kind[12], method[64];
	uint64_t size;              /* guest memory, bytes */
	char pkey[16];              /* extra parameter ("dirty", "pattern" ...) or "" */
	double pval;                /* its numeric value */
	char pstr[32];              /* its string value (pattern, state) */
	struct bstat st;
	char na[160];
	unsigned nextra;
	struct { char k[32]; double v; } extra[ROW_MAX_EXTRA];
};

struct bratio {
	char suite[16], name[112];
	double value;
	char target[24];
	int met;                    /* -1: no target */
};

struct bslope {
	char method[64];
	double slope, intercept, r2;
	unsigned npoints;
};

struct bres {
	struct brow *rows;
	size_t nrows, cap;
	struct bratio ratios[96];
	unsigned nratios;
	struct bslope slopes[16];
	unsigned nslopes;
};

/* ---- context ---------------------------------------------------------------- */

struct fork_helper;

struct bctx {
	const struct bench_opts *o;
	struct bres res;
	double t0_us;               /* start of the run */
	double tsc_khz;             /* guest TSC kHz (KVM_GET_TSC_KHZ; host calibration as fallback) */
	const char *tsc_source;
	double tsc_khz_host;        /* host rdtsc vs CLOCK_MONOTONIC */
	struct fork_helper *fh;     /* the fork-style baseline's process (NULL: unavailable) */
	char fh_na[160];
	char uffd_wp_na[160], uffd_copy_na[160]; /* "" = available */
	unsigned nplots;
	char plot_errs[512];
};

/* ---- helpers (common.c) ----------------------------------------------------- */

double now_us(void);
void bprogress(struct bctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bdie(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
const char *size_name(uint64_t bytes, char *buf, size_t n); /* "64M", "4G" */
/* Repeats of a cheap measurement, and of one whose work is O(bytes). */
unsigned reps_cheap(const struct bctx *c);
unsigned reps_costly(const struct bctx *c, uint64_t bytes);

struct brow *res_latency(struct bctx *c, const char *suite, const char *method, uint64_t size,
                         const struct bsamples *s);
struct brow *res_na(struct bctx *c, const char *suite, const char *method, uint64_t size, const char *why);
struct brow *res_memory(struct bctx *c, const char *suite, const char *method, uint64_t size);
void row_param(struct brow *r, const char *key, double v, const char *str);
void row_extra(struct brow *r, const char *key, double v);
double row_extra_get(const struct brow *r, const char *key); /* NaN if absent */
/* Latency row of suite/method/size with parameter value pval (and pstr
 * when not NULL). NULL if none or unavailable. */
const struct brow *res_find(const struct bctx *c, const char *suite, const char *method, uint64_t size,
                            double pval, const char *pstr);
void res_ratio(struct bctx *c, const char *suite, const char *name, double value, const char *target, int met);
void res_slope(struct bctx *c, const char *method, double slope, double intercept, double r2, unsigned n);
void res_write_json(const struct bctx *c, FILE *f);
void res_free(struct bres *r);

/* Table helpers (stdout). */
void print_us(double us);            /* fixed-width: "  72.4us", " 188.0ms", "  3.02s" */
void print_cell_ratio(double r);     /* fixed-width "x12.3" */
void note_plot(struct bctx *c, int r, const char *err);

/* ---- VMs (vmx.c) ------------------------------------------------------------- */

/* Boot the bench guest (bench:mib=fill_mib) in `mem` bytes of RAM, run it
 * to its snapshot call and take the snapshot. */
struct snapshot *bx_boot(struct bctx *c, uint64_t mem, uint64_t fill_mib, double *us);
/* cowvm clone of s from pool (NULL: a new shell), dirty ring tracking;
 * bx_clone_dirty: with dirty mode dm (DIRTY_RING or DIRTY_BITMAP). */
struct vm *bx_clone(struct vm_pool *pool, struct snapshot *s);
struct vm *bx_clone_dirty(struct vm_pool *pool, struct snapshot *s, enum dirty_mode dm);
/* Write a bench command into the clone's input buffer (recorded as a write). */
void bx_cmd(struct vm *vm, const struct cowvm_bench_cmd *cmd);
/* Run to the guest's exit; exit status must be 0. */
void bx_run(struct vm *vm, struct vm_result *res, const char *what);
/* Report `key` of the last run, or bdie. */
uint64_t bx_report(const struct vm_result *res, const char *key);

enum bvm_kind { BVM_FRESH, BVM_EAGER, BVM_UFFD_WP, BVM_UFFD_COPY };
struct uffd_ctx;
/* A baseline VM holding a clone of s (no dirty tracking, no GPT): a new KVM
 * VM whose RAM window is MAP_PRIVATE of the snapshot memfd (FRESH), a
 * private copy of all of it (EAGER), that copy write-protected with
 * userfaultfd, faults served by a thread that saves the page and lifts
 * the protection (UFFD_WP), or empty anonymous memory filled page by page
 * with UFFDIO_COPY from the snapshot by a thread (UFFD_COPY). */
struct bvm {
	struct vm *vm;
	enum bvm_kind kind;
	struct uffd_ctx *u;
	double copy_us, register_us;   /* eager copy; userfaultfd setup */
};
void bvm_create(struct snapshot *s, enum bvm_kind kind, struct bvm *b);
void bvm_destroy(struct bvm *b);
const char *bvm_name(enum bvm_kind k);
/* Eager copy of s's RAM into `dst` (size bytes, fresh anonymous memory). */
void bx_eager_copy(const struct snapshot *s, uint8_t *dst);

/* Guest TSC frequency from a vCPU (KVM_GET_TSC_KHZ), 0 if unknown. */
double bx_vcpu_tsc_khz(struct vm *vm);
double host_tsc_khz(void);

/* ---- userfaultfd (uffd.c) ---------------------------------------------------- */

/* "" if the method works here, else the reason (for "n/a (reason)"). */
void uffd_probe(bool wp, char *why, size_t n);
/* Open a userfaultfd and register [base, base+size): MODE_WP plus
 * UFFDIO_WRITEPROTECT of the range (wp), or MODE_MISSING. -errno + why. */
int uffd_setup(bool wp, void *base, uint64_t size, int *fd, char *why, size_t n);
/* Serve faults of `fd` on a thread: wp: copy the page into a save ring and
 * lift the protection; missing: UFFDIO_COPY the page from src + offset. */
struct uffd_ctx *uffd_serve(int fd, bool wp, uint8_t *base, uint64_t size, const uint8_t *src);
/* Stop the thread, close the fd; returns the faults served. */
uint64_t uffd_stop(struct uffd_ctx *u);

/* ---- the fork-style baseline (forkhelper.c) ---------------------------------- */

/* A process forked at start (small: before any VM or snapshot exists)
 * that holds a populated anonymous mapping and forks on request. */
struct fork_helper *fh_start(char *why, size_t n);
void fh_stop(struct fork_helper *h);
/* Map and populate `bytes` (4 KiB pages, MADV_NOHUGEPAGE); returns us. */
double fh_map(struct fork_helper *h, uint64_t bytes);
void fh_unmap(struct fork_helper *h);
/* One fork() of the holder (the child exits at once): its latency in us. */
double fh_fork(struct fork_helper *h);
/* The seed's VmRSS/VmPTE table: the holder, and a child right after fork
 * that wrote `pct` % of the pages (0 = none). Bytes. */
struct fh_mem {
	uint64_t parent_rss, parent_pte, child_rss, child_pte, child_anon;
};
void fh_mem(struct fork_helper *h, double pct, struct fh_mem *m);

/* ---- suites ------------------------------------------------------------------ */

void suite_clone(struct bctx *c);
void suite_fault(struct bctx *c);
void suite_memory(struct bctx *c);
void suite_reset(struct bctx *c);

#endif
