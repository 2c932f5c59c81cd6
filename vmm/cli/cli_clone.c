/*
 * cli_clone.c - `cowvm clone` and `cowvm stats`: load a snapshot file, run N
 * clones of it on J threads (pooled KVM shells) and print clone-latency
 * percentiles and memory per clone, and on request each clone's end,
 * reports and response (--reports, --json); or print a snapshot's contents
 * and the memory of one clone before and after it runs (the seed's
 * VmRSS/VmPTE table).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "clone.h"
#include "json.h"
#include "size_parse.h"
#include "snapshot_file.h"

#define MAX_CLONES 1000000u
#define MAX_JOBS 64u

void cli_clone_usage(FILE *f)
{
	fprintf(f,
	        "usage: cowvm clone --from FILE [-n N] [--jobs J] [--input FILE | --request FILE]\n"
	        "                   [--timeout MS] [--console] [--bitmap] [--reports]\n"
	        "                   [--json FILE|-]\n"
	        "\n"
	        "Load a snapshot file (see `cowvm run --snapshot-out`) and run N clones of it\n"
	        "to completion on J threads, each resuming right after the guest's snapshot\n"
	        "call. Prints clone latency (vm_clone call) and run time percentiles, exit\n"
	        "statuses and memory per clone.\n"
	        "\n"
	        "  --from FILE       the snapshot file (a layer loads its parents too)\n"
	        "  -n N              clones to run (default 1, at most %u)\n"
	        "  --jobs J          threads running clones at once (default 1, at most %u)\n"
	        "  --input FILE      bytes written into every clone's input buffer first\n"
	        "                    (at most 64 KiB; the warm workload reads a request)\n"
	        "  --request FILE    FILE's bytes as a request message (struct cowvm_msg, at\n"
	        "                    most %u bytes) in every clone's input buffer: what a\n"
	        "                    guest reads with cg_request (docs/guest-sdk.md)\n"
	        "  --timeout MS      stop a clone after MS milliseconds (default 10000)\n"
	        "  --console         show the clones' console output (default: hidden)\n"
	        "  --bitmap          track guest writes with the dirty bitmap instead of\n"
	        "                    the dirty ring\n"
	        "  --reports         after each clone, a line \"clone N: END\" with its end\n"
	        "                    (exit STATUS, exception, timeout, ...), then its reports\n"
	        "                    (\"  report KEY=VALUE (HEX)\") and its response message,\n"
	        "                    if its output buffer holds one (\"  response \"...\"\")\n"
	        "  --json FILE|-     one JSON object per clone, one per line, to FILE (or\n"
	        "                    stdout: the summary and --reports then go to stderr):\n"
	        "                    clone (its number), end, status (the exit status, or\n"
	        "                    what `cowvm run` would exit with: %d exception, %d\n"
	        "                    timeout, %d triple fault, %d VMM error), message (for\n"
	        "                    ends other than exit), reports {KEY: VALUE}, clone_us,\n"
	        "                    run_us, and response (a string, one character per byte)\n"
	        "                    when there is one\n"
	        "\n"
	        "Lines and objects come in the order clones finish. Exit status 0 if every\n"
	        "clone exited 0, 1 if any clone failed, %d on bad arguments or an\n"
	        "unreadable snapshot, %d on a VMM failure.\n",
	        MAX_CLONES, MAX_JOBS, (unsigned)COWVM_MSG_MAX, COWVM_EXIT_EXCEPTION, COWVM_EXIT_TIMEOUT,
	        COWVM_EXIT_SHUTDOWN, COWVM_EXIT_VMM_ERROR, COWVM_EXIT_USAGE, COWVM_EXIT_VMM_ERROR);
}

void cli_stats_usage(FILE *f)
{
	fprintf(f,
	        "usage: cowvm stats --from FILE [--timeout MS]\n"
	        "\n"
	        "Print what a snapshot file holds, then clone it once and print the clone's\n"
	        "memory right after the clone and after it ran: host RSS of the guest window\n"
	        "and its private part, GPT private/shared pages, GPT table bytes, shared and\n"
	        "private leaf tables (VmRSS/VmPTE of the COW PTE RFC, for VMs).\n");
}

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *sorted, unsigned n, double p)
{
	unsigned i = (unsigned)(p / 100.0 * (n - 1) + 0.5);
	return sorted[i < n ? i : n - 1];
}

static int load(const char *cmd, const char *path, struct snapshot **s)
{
	struct vmm_err err = { 0 };
	int r = snapshot_load(path, s, &err);
	if (r) {
		fprintf(stderr, "cowvm %s: %s\n", cmd, err.msg);
		return cli_exit_for(r);
	}
	return 0;
}

/* What to show of each clone (--reports, --json). */
struct show {
	FILE *human;     /* --reports lines (stdout, or stderr with --json -) */
	FILE *json;      /* --json objects, or NULL */
	bool reports;
};

struct job {
	const struct show *show;
	struct snapshot *s;
	struct vm_pool *pool;
	const struct clone_opts *o;
	const void *input;
	size_t input_len;
	pthread_mutex_t *lock;
	unsigned *next, total;
	double *clone_us, *run_us;
	unsigned *failed, *vmm_errors;
	struct vm_mem_stats *mem;   /* summed memory right after the runs */
	char first_error[300];
};

static const char *end_name(enum vm_end end)
{
	switch (end) {
	case VM_END_EXIT: return "exit";
	case VM_END_EXCEPTION: return "exception";
	case VM_END_TIMEOUT: return "timeout";
	case VM_END_SHUTDOWN: return "shutdown";
	case VM_END_SNAPSHOT: return "snapshot";
	case VM_END_ABORT: return "abort";
	default: return "error";
	}
}

/* The status a clone's end stands for: its exit status, or what `cowvm run`
 * exits with for that end. */
static int end_status(const struct vm_result *res)
{
	switch (res->end) {
	case VM_END_EXIT: return res->status;
	case VM_END_EXCEPTION:
	case VM_END_ABORT: return COWVM_EXIT_EXCEPTION;
	case VM_END_TIMEOUT: return COWVM_EXIT_TIMEOUT;
	case VM_END_SHUTDOWN: return COWVM_EXIT_SHUTDOWN;
	default: return COWVM_EXIT_VMM_ERROR;
	}
}

/* The response message in the clone's output buffer (struct cowvm_msg):
 * its length and bytes in a new buffer, or -1 when there is none. */
static long read_response(struct vm *vm, uint8_t **out)
{
	struct cowvm_msg m;
	*out = NULL;
	if (vm_guest_read(vm, vm->layout.out_base, &m, sizeof(m), NULL) || m.magic != COWVM_MSG_MAGIC ||
	    m.len > COWVM_MSG_MAX || m.len > vm->layout.out_size - sizeof(m))
		return -1;
	*out = malloc(m.len ? m.len : 1);
	if (!*out || vm_guest_read(vm, vm->layout.out_base + sizeof(m), *out, m.len, NULL)) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return (long)m.len;
}

/* Bytes as a JSON string body (json) or C-like text (!json): printable
 * ASCII as is, quote and backslash escaped, newline and tab as \n and \t,
 * every other byte \u00XX (JSON) or \xXX. */
static void put_bytes(FILE *f, const uint8_t *p, size_t n, bool json)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(f, "\\%c", p[i]);
		else if (p[i] == '\n' || p[i] == '\t')
			fputs(p[i] == '\n' ? "\\n" : "\\t", f);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			fputc(p[i], f);
		else
			fprintf(f, json ? "\\u%04x" : "\\x%02x", p[i]);
	}
}

/* Under the job lock: one clone's --reports lines and --json object. */
static void show_clone(const struct show *sh, uint64_t clone, int r, const char *err, const struct vm_result *res,
                       const uint8_t *resp, long resp_len, double clone_us, double run_us)
{
	const char *end = r ? "error" : end_name(res->end);
	int status = r ? COWVM_EXIT_VMM_ERROR : end_status(res);
	const char *msg = r ? err : res->msg;
	unsigned nrep = r ? 0 : res->nreports;
	if (sh->reports) {
		if (!r && res->end == VM_END_EXIT)
			fprintf(sh->human, "clone %llu: exit %d\n", (unsigned long long)clone, status);
		else
			fprintf(sh->human, "clone %llu: %s (%d): %s\n", (unsigned long long)clone, end, status, msg);
		for (unsigned i = 0; i < nrep; i++)
			fprintf(sh->human, "  report %s=%llu (%#llx)\n", res->reports[i].key,
			        (unsigned long long)res->reports[i].value, (unsigned long long)res->reports[i].value);
		if (resp_len >= 0) {
			fputs("  response \"", sh->human);
			put_bytes(sh->human, resp, (size_t)resp_len, false);
			fputs("\"\n", sh->human);
		}
	}
	if (sh->json) {
		char esc[512];
		FILE *f = sh->json;
		fprintf(f, "{\"clone\":%llu,\"end\":\"%s\",\"status\":%d", (unsigned long long)clone, end, status);
		if (r || res->end != VM_END_EXIT) {
			json_escape(msg, esc, sizeof(esc));
			fprintf(f, ",\"message\":\"%s\"", esc);
		}
		fputs(",\"reports\":{", f);
		for (unsigned i = 0; i < nrep; i++) {
			json_escape(res->reports[i].key, esc, sizeof(esc));
			fprintf(f, "%s\"%s\":%llu", i ? "," : "", esc, (unsigned long long)res->reports[i].value);
		}
		fprintf(f, "},\"clone_us\":%.1f,\"run_us\":%.1f", clone_us, run_us);
		if (resp_len >= 0) {
			fputs(",\"response\":\"", f);
			put_bytes(f, resp, (size_t)resp_len, true);
			fputc('"', f);
		}
		fputs("}\n", f);
	}
}

static void *job_main(void *p)
{
	struct job *j = p;
	for (;;) {
		pthread_mutex_lock(j->lock);
		unsigned i = (*j->next)++;
		pthread_mutex_unlock(j->lock);
		if (i >= j->total)
			return NULL;
		struct vmm_err err = { 0 };
		struct vm *vm;
		double t0 = now_us();
		int r = vm_clone(j->pool, j->s, j->o, &vm, &err);
		double t1 = now_us();
		struct vm_result res = { .end = VM_END_ERROR };
		if (!r && j->input_len)
			r = vm_guest_write(vm, vm->layout.in_base, j->input, j->input_len, &err);
		if (!r)
			r = vm_run(vm, &res, &err);
		double t2 = now_us();
		struct vm_mem_stats m = { 0 };
		if (!r)
			vm_mem_stats(vm, &m, NULL);
		uint8_t *resp = NULL;
		long resp_len = -1;
		bool show = j->show->reports || j->show->json;
		if (!r && show)
			resp_len = read_response(vm, &resp);
		pthread_mutex_lock(j->lock);
		if (show)
			show_clone(j->show, vm ? vm->clone_id : 0, r, err.msg, &res, resp, resp_len, t1 - t0,
			           t2 - t1);
		free(resp);
		j->clone_us[i] = t1 - t0;
		j->run_us[i] = t2 - t1;
		if (r || res.end != VM_END_EXIT || res.status) {
			(*j->failed)++;
			*j->vmm_errors += r || res.end == VM_END_ERROR;
			if (!j->first_error[0])
				snprintf(j->first_error, sizeof(j->first_error), "clone %u: %s", i + 1,
				         r ? err.msg : res.msg);
		}
		j->mem->host_rss_bytes += m.host_rss_bytes;
		j->mem->host_private_bytes += m.host_private_bytes;
		j->mem->gpt_private_pages += m.gpt_private_pages;
		j->mem->gpt_table_bytes += m.gpt_table_bytes;
		pthread_mutex_unlock(j->lock);
		vm_release(j->pool, vm);
	}
}

static void console_drop(void *ctx, const char *buf, size_t len) { (void)ctx, (void)buf, (void)len; }
static void console_stderr(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	fwrite(buf, 1, len, stderr);
}

/* --request FILE: the file's bytes framed as a struct cowvm_msg in a new
 * buffer (*input, *len). 0, or an exit code after a message. */
static int read_request(const char *path, void **input, size_t *len)
{
	char why[300];
	void *data;
	size_t n;
	int r = cli_read_file(path, COWVM_MSG_MAX, 0, &data, &n, why, sizeof(why));
	if (r) {
		if (r == -EFBIG)
			snprintf(why, sizeof(why), "larger than %u bytes (a request fills the 64 KiB input buffer "
			         "with an %u-byte header)", (unsigned)COWVM_MSG_MAX, COWVM_MSG_HDR);
		fprintf(stderr, "cowvm clone: cannot use request '%s': %s\n", path, why);
		return cli_exit_for(r);
	}
	struct cowvm_msg *m = malloc(sizeof(*m) + n);
	if (!m) {
		free(data);
		fprintf(stderr, "cowvm clone: out of memory\n");
		return COWVM_EXIT_VMM_ERROR;
	}
	m->magic = COWVM_MSG_MAGIC;
	m->len = (uint32_t)n;
	memcpy(m->data, data, n);
	free(data);
	*input = m;
	*len = sizeof(*m) + n;
	return 0;
}

int cli_clone(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, 0, 'f' },   { "jobs", required_argument, 0, 'j' },
		{ "input", required_argument, 0, 'i' },  { "timeout", required_argument, 0, 't' },
		{ "console", no_argument, 0, 'c' },      { "bitmap", no_argument, 0, 'b' },
		{ "reports", no_argument, 0, 'r' },      { "json", required_argument, 0, 'J' },
		{ "request", required_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 },
	};
	const char *from = NULL, *input_path = NULL, *json_path = NULL, *request_path = NULL;
	struct show show = { .human = stdout };
	uint64_t n = 1, jobs = 1, v;
	struct clone_opts o = { .timeout_ms = 10000, .console = console_drop };
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hn:", opts, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 'i': input_path = optarg; break;
		case 'n':
			if (parse_u64_arg(optarg, &n) || !n || n > MAX_CLONES)
				return cli_usage_error("clone", "bad clone count '%s'", optarg);
			break;
		case 'j':
			if (parse_u64_arg(optarg, &jobs) || !jobs || jobs > MAX_JOBS)
				return cli_usage_error("clone", "bad job count '%s'", optarg);
			break;
		case 't':
			if (parse_u64_arg(optarg, &v) || !v || v > 86400000ull)
				return cli_usage_error("clone", "bad timeout '%s' (1..86400000 ms)", optarg);
			o.timeout_ms = v;
			break;
		case 'c': o.console = NULL; break;
		case 'b': o.dirty = DIRTY_BITMAP; break;
		case 'r': show.reports = true; break;
		case 'J': json_path = optarg; break;
		case 'q': request_path = optarg; break;
		case 'h': cli_clone_usage(stdout); return 0;
		default: return cli_usage_error("clone", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("clone", "unexpected argument '%s'", argv[optind]);
	if (!from)
		return cli_usage_error("clone", "%s", "--from FILE is required");
	if (input_path && request_path)
		return cli_usage_error("clone", "%s", "--input and --request both fill the input buffer: give one");
	void *input = NULL;
	size_t input_len = 0;
	if (request_path) {
		int code = read_request(request_path, &input, &input_len);
		if (code)
			return code;
	}
	if (input_path) {
		char why[300];
		int r = cli_read_file(input_path, COWVM_IOBUF_SIZE, 0, &input, &input_len, why, sizeof(why));
		if (r) {
			fprintf(stderr, "cowvm clone: cannot use input '%s': %s\n", input_path,
			        r == -EFBIG ? "larger than the 64 KiB input buffer" : why);
			return cli_exit_for(r);
		}
	}
	struct snapshot *s;
	int code = load("clone", from, &s);
	if (code) {
		free(input);
		return code;
	}
	/* --json - : stdout holds only the JSON lines; all else goes to stderr. */
	FILE *out = stdout;
	if (json_path && !strcmp(json_path, "-")) {
		show.json = stdout;
		show.human = out = stderr;
		if (!o.console)
			o.console = console_stderr;
	} else if (json_path) {
		show.json = fopen(json_path, "w");
		if (!show.json) {
			fprintf(stderr, "cowvm clone: cannot write --json file '%s': %s\n", json_path, strerror(errno));
			free(input);
			snapshot_put(s);
			return cli_exit_for(-errno);
		}
	}
	if (jobs > n)
		jobs = n;
	struct vmm_err err = { 0 };
	struct vm_pool *pool = NULL;
	double *clone_us = calloc(n, sizeof(double)), *run_us = calloc(n, sizeof(double));
	if (!clone_us || !run_us || vm_pool_create((unsigned)jobs, &pool, &err)) {
		fprintf(stderr, "cowvm clone: out of memory\n");
		free(clone_us), free(run_us), free(input);
		snapshot_put(s);
		if (show.json && show.json != stdout)
			fclose(show.json);
		return COWVM_EXIT_VMM_ERROR;
	}
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	unsigned next = 0, failed = 0, vmm_errors = 0;
	struct vm_mem_stats mem = { 0 };
	struct job j = { .show = &show, .s = s, .pool = pool, .o = &o, .input = input, .input_len = input_len,
	                 .lock = &lock, .next = &next, .total = (unsigned)n, .clone_us = clone_us,
	                 .run_us = run_us, .failed = &failed, .vmm_errors = &vmm_errors, .mem = &mem };
	pthread_t th[MAX_JOBS];
	unsigned started = 0;
	double t0 = now_us();
	for (unsigned i = 0; i < jobs; i++)
		started += pthread_create(&th[i], NULL, job_main, &j) == 0;
	if (!started)
		job_main(&j);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	double wall = now_us() - t0;
	fflush(stdout);

	qsort(clone_us, n, sizeof(double), cmp_double);
	qsort(run_us, n, sizeof(double), cmp_double);
	unsigned ok = (unsigned)n - failed;
	fprintf(out, "snapshot %s: %llu MiB, %u vCPU(s), layer depth %u\n", from,
	       (unsigned long long)(s->meta.mem_size >> 20), s->meta.nvcpus, s->depth);
	fprintf(out, "clones: %llu run on %llu thread(s) in %.1f ms (%.0f clones/s); %u ok, %u failed\n",
	       (unsigned long long)n, (unsigned long long)jobs, wall / 1e3, (double)n / (wall / 1e6), ok, failed);
	fprintf(out, "%-22s %10s %10s %10s %10s %10s\n", "latency (us)", "p50", "p90", "p99", "max", "min");
	fprintf(out, "%-22s %10.1f %10.1f %10.1f %10.1f %10.1f\n", "clone (vm_clone)", pct(clone_us, n, 50),
	       pct(clone_us, n, 90), pct(clone_us, n, 99), clone_us[n - 1], clone_us[0]);
	fprintf(out, "%-22s %10.1f %10.1f %10.1f %10.1f %10.1f\n", "run to guest exit", pct(run_us, n, 50),
	       pct(run_us, n, 90), pct(run_us, n, 99), run_us[n - 1], run_us[0]);
	fprintf(out, "memory per clone after its run (mean): host RSS %.1f KiB, private %.1f KiB, "
	       "GPT private pages %.1f, GPT tables %.1f KiB\n",
	       (double)mem.host_rss_bytes / n / 1024, (double)mem.host_private_bytes / n / 1024,
	       (double)mem.gpt_private_pages / n, (double)mem.gpt_table_bytes / n / 1024);
	struct vm_pool_stats ps;
	vm_pool_get_stats(pool, &ps);
	fprintf(out, "shells: %llu created, %llu reused clean, %llu remapped\n", (unsigned long long)ps.created,
	       (unsigned long long)ps.reused, (unsigned long long)ps.remapped);
	if (failed)
		fprintf(stderr, "cowvm clone: %u clone(s) failed; first: %s\n", failed, j.first_error);
	vm_pool_destroy(pool);
	snapshot_put(s);
	free(clone_us), free(run_us), free(input);
	if (show.json && (show.json == stdout ? fflush(stdout) : fclose(show.json))) {
		fprintf(stderr, "cowvm clone: writing the --json output failed: %s\n", strerror(errno));
		return COWVM_EXIT_VMM_ERROR;
	}
	return vmm_errors ? COWVM_EXIT_VMM_ERROR : failed ? 1 : 0;
}

static void print_mem(const char *when, const struct vm_mem_stats *m, uint64_t mem_size)
{
	printf("%-14s %12llu %12llu %8.3f%% %10llu %10llu %10llu %8llu %8llu\n", when,
	       (unsigned long long)(m->host_rss_bytes >> 10), (unsigned long long)(m->host_private_bytes >> 10),
	       100.0 * (double)m->host_private_bytes / (double)mem_size,
	       (unsigned long long)m->gpt_private_pages, (unsigned long long)m->gpt_shared_pages,
	       (unsigned long long)(m->gpt_table_bytes >> 10), (unsigned long long)m->leaves_private,
	       (unsigned long long)m->leaves_shared);
}

int cli_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, 0, 'f' }, { "timeout", required_argument, 0, 't' },
		{ "help", no_argument, 0, 'h' },       { 0, 0, 0, 0 },
	};
	const char *from = NULL;
	struct clone_opts o = { .timeout_ms = 10000, .console = console_drop };
	uint64_t v;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 't':
			if (parse_u64_arg(optarg, &v) || !v || v > 86400000ull)
				return cli_usage_error("stats", "bad timeout '%s' (1..86400000 ms)", optarg);
			o.timeout_ms = v;
			break;
		case 'h': cli_stats_usage(stdout); return 0;
		default: return cli_usage_error("stats", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("stats", "unexpected argument '%s'", argv[optind]);
	if (!from)
		return cli_usage_error("stats", "%s", "--from FILE is required");
	struct snapshot *s;
	int code = load("stats", from, &s);
	if (code)
		return code;
	struct stat st;
	stat(from, &st);
	printf("snapshot %s\n", from);
	printf("  guest memory      %llu MiB, %u vCPU(s), workload %s\n",
	       (unsigned long long)(s->meta.mem_size >> 20), s->meta.nvcpus, s->meta.workload.name);
	printf("  layer depth       %u%s\n", s->depth, s->depth ? " (a layer over its parent)" : " (root)");
	printf("  pages held        %llu (%s)\n", (unsigned long long)s->ncaptured,
	       s->depth ? "changed by the clone it was taken from" : "non-zero pages of RAM");
	printf("  pages not root's  %llu\n", (unsigned long long)s->noverlay);
	printf("  file              %lld bytes, %lld allocated\n", (long long)st.st_size, (long long)st.st_blocks * 512);
	struct vmm_err err = { 0 };
	struct vm *vm;
	int r = vm_clone(NULL, s, &o, &vm, &err);
	struct vm_mem_stats m0, m1;
	struct vm_result res = { 0 };
	r = r ?: vm_mem_stats(vm, &m0, &err);
	r = r ?: vm_run(vm, &res, &err);
	r = r ?: vm_mem_stats(vm, &m1, &err);
	if (r) {
		fprintf(stderr, "cowvm stats: %s\n", err.msg);
		if (!err.msg[0] || r == -ENOMEM)
			r = 0;
		vm_destroy(vm);
		snapshot_put(s);
		return COWVM_EXIT_VMM_ERROR;
	}
	printf("\none clone (guest ended: %s)\n", res.msg);
	printf("%-14s %12s %12s %9s %10s %10s %10s %8s %8s\n", "", "RSS KiB", "private KiB", "priv/mem",
	       "GPT priv", "GPT shared", "table KiB", "leaves P", "leaves S");
	print_mem("after clone", &m0, s->meta.mem_size);
	print_mem("after run", &m1, s->meta.mem_size);
	vm_destroy(vm);
	snapshot_put(s);
	return 0;
}
