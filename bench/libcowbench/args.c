/* args.c - `cowvm bench` command line (see cowbench.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cowbench.h"
#include "size_parse.h"

#define MiB (1ull << 20)
#define BENCH_SIZE_MIN (16 * MiB)
#define BENCH_SIZE_MAX (64ull << 30)

static const char *const suite_names[BENCH_NSUITES] = { "clone", "fault", "memory", "reset" };

const char *bench_suite_name(enum bench_suite s)
{
	return (unsigned)s < BENCH_NSUITES ? suite_names[s] : NULL;
}

void bench_usage(FILE *f)
{
	fprintf(f,
	        "usage: cowvm bench [SUITE...] [--sizes LIST] [--repeat N] [--json FILE]\n"
	        "                   [--plot DIR] [--quick]\n"
	        "\n"
	        "Benchmark cowvm's clones against the other ways to copy a VM, every figure\n"
	        "measured in the same run and shown as a ratio against its baseline\n"
	        "(docs/benchmarks.md). Needs /dev/kvm.\n"
	        "\n"
	        "suites (default: all, in this order):\n"
	        "  clone    clone latency vs guest memory for cowvm (pooled shell + GPT clone +\n"
	        "           MAP_PRIVATE), eager copy, fork of a process holding the memory,\n"
	        "           fresh KVM VM + MAP_PRIVATE, userfaultfd-wp and -copy registration;\n"
	        "           median, p99 and the fitted slope in us per GiB\n"
	        "  fault    per-access latency of guest writes after a clone: every page of a\n"
	        "           512 MiB buffer in order, then 1,000,000 random page writes\n"
	        "  memory   host RSS and table bytes of the snapshot holder and of a clone\n"
	        "           after clone, after touching 1%% and 100%% (the seed's VmRSS/VmPTE)\n"
	        "  reset    reset latency vs dirty pages (1 ... 65536): cowvm reset, a fresh\n"
	        "           VM per run, copying all RAM back\n"
	        "\n"
	        "options:\n"
	        "  --sizes LIST   guest sizes of the clone suite (default 64M,256M,512M,1G,4G;\n"
	        "                 --quick: 64M,256M); 16M..64G, multiples of 2 MiB, at most %d\n"
	        "  --repeat N     repeats of each cheap measurement (default 20, --quick 5);\n"
	        "                 work that grows with memory repeats fewer times at large sizes\n"
	        "  --json FILE    one JSON object per measurement, one per line ('-': stdout)\n"
	        "  --plot DIR     PNG plots made with gnuplot (with their .gp and .dat) in DIR\n"
	        "  --quick        small sizes and few repeats: under two minutes (CI smoke)\n"
	        "\n"
	        "Tables go to stdout, progress to stderr. Exit status 0; %d on bad arguments or\n"
	        "without /dev/kvm; 204 if a VMM operation fails.\n",
	        BENCH_MAX_SIZES, 2);
}

static int bad(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return 2;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int parse_sizes(const char *arg, struct bench_opts *o, char *err, size_t errlen)
{
	char buf[512];
	if (!*arg)
		return bad(err, errlen, "cowvm bench: --sizes needs a list like 64M,1G");
	if (strlen(arg) >= sizeof(buf))
		return bad(err, errlen, "cowvm bench: --sizes list is too long");
	strcpy(buf, arg);
	o->nsizes = 0;
	char *p = buf;
	for (;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = 0;
		uint64_t v;
		if (!*p)
			return bad(err, errlen, "cowvm bench: empty entry in --sizes '%.100s'", arg);
		if (parse_size(p, &v) || v < BENCH_SIZE_MIN || v > BENCH_SIZE_MAX || v % (2 * MiB))
			return bad(err, errlen,
			           "cowvm bench: bad --sizes entry '%.40s' (sizes like 64M or 4G: multiples of 2 MiB "
			           "from 16M to 64G)", p);
		for (unsigned i = 0; i < o->nsizes; i++)
			if (o->sizes[i] == v)
				return bad(err, errlen, "cowvm bench: size '%.40s' given twice in --sizes", p);
		if (o->nsizes == BENCH_MAX_SIZES)
			return bad(err, errlen, "cowvm bench: at most %d sizes in --sizes", BENCH_MAX_SIZES);
		o->sizes[o->nsizes++] = v;
		if (!comma)
			break;
		p = comma + 1;
	}
	qsort(o->sizes, o->nsizes, sizeof(o->sizes[0]), cmp_u64);
	return 0;
}

int bench_parse_args(int argc, char **argv, struct bench_opts *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	if (errlen)
		err[0] = 0;
	const char *sizes = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		bool takes = !strcmp(a, "--sizes") || !strcmp(a, "--repeat") || !strcmp(a, "--json") ||
		             !strcmp(a, "--plot");
		if (takes) {
			if (i + 1 >= argc)
				return bad(err, errlen, "cowvm bench: %s needs a value (try cowvm help bench)", a);
			val = argv[++i];
		} else if (!strncmp(a, "--", 2) && strchr(a, '=')) {
			/* --opt=value */
			size_t k = (size_t)(strchr(a, '=') - a);
			static const char *const kv[] = { "--sizes", "--repeat", "--json", "--plot" };
			for (unsigned j = 0; j < 4; j++)
				if (strlen(kv[j]) == k && !strncmp(a, kv[j], k)) {
					a = kv[j];
					val = argv[i] + k + 1;
					takes = true;
				}
			if (!takes)
				return bad(err, errlen, "cowvm bench: unknown option '%.60s' (try cowvm help bench)", argv[i]);
		}
		if (takes && !strcmp(a, "--sizes")) {
			sizes = val;
		} else if (takes && !strcmp(a, "--repeat")) {
			char *end;
			errno = 0;
			long long v = strtoll(val, &end, 10);
			if (!*val || *end || errno || v < 1 || v > BENCH_MAX_REPEAT)
				return bad(err, errlen, "cowvm bench: bad --repeat '%.40s' (a whole number from 1 to %u)", val,
				           BENCH_MAX_REPEAT);
			o->repeat = (unsigned)v;
		} else if (takes && !strcmp(a, "--json")) {
			if (!*val)
				return bad(err, errlen, "cowvm bench: --json needs a file name ('-' for stdout)");
			o->json_path = val;
		} else if (takes && !strcmp(a, "--plot")) {
			if (!*val)
				return bad(err, errlen, "cowvm bench: --plot needs a directory");
			o->plot_dir = val;
		} else if (!strcmp(a, "--quick")) {
			o->quick = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			bench_usage(stdout);
			return 1;
		} else if (a[0] == '-') {
			return bad(err, errlen, "cowvm bench: unknown option '%.60s' (try cowvm help bench)", a);
		} else {
			int s = -1;
			for (int k = 0; k < BENCH_NSUITES; k++)
				if (!strcmp(a, suite_names[k]))
					s = k;
			if (s < 0)
				return bad(err, errlen, "cowvm bench: unknown suite '%.40s' (suites: clone, fault, memory, reset)",
				           a);
			o->suite[s] = true;
		}
	}
	bool any = false;
	for (int k = 0; k < BENCH_NSUITES; k++)
		any |= o->suite[k];
	if (!any)
		for (int k = 0; k < BENCH_NSUITES; k++)
			o->suite[k] = true;
	int r = parse_sizes(sizes ? sizes : o->quick ? "64M,256M" : "64M,256M,512M,1G,4G", o, err, errlen);
	if (r)
		return r;
	if (!o->repeat)
		o->repeat = o->quick ? 5 : 20;
	return 0;
}
