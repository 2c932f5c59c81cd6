/*
 * cli_fuzz.c - `cowvm fuzz-target` (an AFL++ forkserver target, no AFL
 * patches) and `cowvm replay` (rerun inputs, print crash reports).
 *
 * Forkserver (AFL++ 4.04c protocol, fds 198 = control in, 199 = status out):
 * we send a hello with FS_OPT_ENABLED | FS_OPT_MAPSIZE (and FS_OPT_SHDMEM_FUZZ
 * when AFL offers shared-memory test cases, whose confirmation we read back);
 * then per input AFL writes 4 bytes, we answer with a "child pid" and, after
 * the run, a wait(2)-style status. The guest is not a process, so the pid is
 * a SENTINEL: a tiny process that only sleeps. AFL kills it on a timeout; the
 * run supervisor notices within 10 ms (should_stop polls waitpid), stops the
 * guest cleanly and we report SIGKILL; the next input gets a new sentinel.
 *
 * One wake-up per input: AFL reads the child pid right after it writes the
 * control message and only then starts its timer, so we announce the pid
 * of the NEXT run together with the status of this one (8 bytes, one
 * write), and AFL finds it waiting. Two sentinels take turns: the one
 * announced for run k+1 is never the one AFL may still kill for run k
 * (AFL's control message for run k+1 says whether it did, and we then
 * replace that one). COWVM_FUZZ_OLD_PATH=1 keeps the old order (pid after
 * the control message) and the old per-input VMM path, for measurements.
 *
 * Hangs: AFL files a run as a hang only if ITS timer fired (it killed the
 * child); a SIGKILL status that arrives before its timer is a crash. So
 * under AFL cowvm's own time limit never reports first: without --timeout
 * there is none (AFL's timer ends every hang), and when --timeout stops a
 * guest earlier, the status is held until AFL kills the sentinel.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fuzz.h"
#include "pc_layout.h"
#include "size_parse.h"

#define FORKSRV_CTL 198
#define FORKSRV_ST 199
#define FS_OPT_ENABLED 0x80000001u
#define FS_OPT_MAPSIZE 0x40000000u
#define FS_OPT_SHDMEM_FUZZ 0x01000000u
#define FS_OPT_SET_MAPSIZE(x) (((x) - 1) << 1)
#define AFL_DEFAULT_MAP 65536u
#define SENTINEL_STACK 16384

void cli_fuzz_usage(FILE *f)
{
	fprintf(f,
	        "usage: cowvm fuzz-target --target T [--mem SIZE] [--mib N] [--reset-mode M]\n"
	        "                         [--timeout MS] [FILE]\n"
	        "       cowvm fuzz-target --kernel BZIMAGE --initrd FILE [--cmdline STR]\n"
	        "                         [--mem SIZE] [--reset-mode M] [--timeout MS]\n"
	        "                         [--console-dir DIR] [FILE]\n"
	        "       cowvm replay (--target T | --kernel BZIMAGE --initrd FILE ...) FILE...\n"
	        "\n"
	        "fuzz-target runs a guest-stub fuzz target as an AFL++ forkserver target:\n"
	        "  afl-fuzz -i seeds -o out -- cowvm fuzz-target --target parser @@\n"
	        "The guest warms up and snapshots itself once; every input then runs in the\n"
	        "guest reset to that snapshot. Coverage (gcc trace-pc edges in the guest)\n"
	        "goes straight into AFL's shared memory, mapped into the guest. Inputs come\n"
	        "from FILE (@@), from AFL's shared-memory test cases when offered, or from\n"
	        "stdin. Guest exceptions are crashes: #PF/#GP SIGSEGV, #UD SIGILL, #DE\n"
	        "SIGFPE, target abort SIGABRT. Outside AFL it runs FILE (or stdin) once.\n"
	        "replay reruns inputs and prints one line each, with the exception report\n"
	        "of a crash; it exits 1 if any input crashed.\n"
	        "\n"
	        "With --kernel, the Linux kernel is fuzzed (docs/fuzzing.md, \"Fuzzing the\n"
	        "Linux kernel\"): its initramfs runs `cowvm-agent fuzz`, which turns KCOV on\n"
	        "and asks for the snapshot; every input is a system-call program\n"
	        "(docs/sysprog.md) run in the guest reset to it, its kernel coverage\n"
	        "counted into AFL's map. A kernel oops, BUG or panic reboots the guest: a\n"
	        "crash (SIGSEGV); a kernel report that does not panic (a WARN) on the\n"
	        "console is a crash too (SIGABRT). replay prints the crash's console text.\n"
	        "The command line must tell the initramfs to run the agent (the tests'\n"
	        "init.sh: cowvm.test=fuzz).\n"
	        "\n"
	        "  --target T        parser | warm | syscall (see docs/fuzzing.md)\n"
	        "  --kernel PATH     a bzImage with KCOV (tools/fuzz_kernel.sh builds one)\n"
	        "  --initrd PATH     its initramfs, whose init runs `cowvm-agent fuzz`\n"
	        "  --cmdline STR     the kernel command line (default \"" FUZZ_LINUX_CMDLINE "\")\n"
	        "  --console-dir DIR fuzz-target: keep the console text of every crashing\n"
	        "                    input in DIR/crash-HASH.txt (HASH: FNV-1a of the input\n"
	        "                    as run: its first 64 KiB - 8 bytes)\n"
	        "  --mem SIZE        guest RAM (default 64M, 512M for warm, 256M for a kernel)\n"
	        "  --mib N           warm state of the warm target in MiB (default 256)\n"
	        "  --reset-mode M    cow (default: copy back dirtied pages) | fresh (new\n"
	        "                    KVM VM per input) | copy (copy all RAM back; targets\n"
	        "                    only) | boot (a kernel booted afresh per input: the\n"
	        "                    cold-boot baseline; not under AFL, whose timer would\n"
	        "                    count the boot)\n"
	        "  --timeout MS      per-input limit (default 1000, 10000 for a kernel;\n"
	        "                    booting a kernel to its snapshot may take 600 s). Under AFL there is none\n"
	        "                    unless given: AFL's -t decides, and a run this limit\n"
	        "                    stops is reported only once AFL's own timer fires\n"
	        "                    (so AFL files it under hangs/, not crashes/)\n"
	        "\n"
	        "COWVM_FUZZ_OLD_PATH=1 runs the per-input path from before the fast reset\n"
	        "(every vCPU register set restored by ioctl, a timer per run, the child pid\n"
	        "sent after AFL's control message): for measurements (docs/fuzzing.md).\n");
}

struct sentinel {
	pid_t pid;
	char *stack;
};

static int sentinel_main(void *arg)
{
	(void)arg;
	/* Shares our memory (CLONE_VM): raw system calls only, no libc state.
	 * It dies with us, or when AFL kills it on a timeout. */
	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* Its copies of our fds (the forkserver pipes among them) would keep
	 * them open after we exit: close them all. */
	syscall(SYS_close_range, 0, ~0u, 0);
	for (;;)
		syscall(SYS_pause);
	return 0;
}

static int sentinel_ensure(struct sentinel *s)
{
	if (s->pid > 0)
		return 0;
	/* CLONE_VM: no copy of our (large) page tables, unlike fork(). */
	s->pid = clone(sentinel_main, s->stack + SENTINEL_STACK, CLONE_VM | SIGCHLD, NULL);
	return s->pid > 0 ? 0 : -errno;
}

/* Reap the sentinel if it died (AFL killed it: a timeout). */
static bool sentinel_dead(struct sentinel *s)
{
	int st;
	if (s->pid > 0 && waitpid(s->pid, &st, WNOHANG) == s->pid) {
		s->pid = -1;
		return true;
	}
	return false;
}

/* AFL closed its end of the control pipe: it is gone, nobody will kill
 * the sentinel any more. Waits up to ms for that. */
static bool afl_gone(int ms)
{
	struct pollfd p = { .fd = FORKSRV_CTL, .events = POLLIN };
	return poll(&p, 1, ms) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

struct watch {
	struct sentinel *sen; /* the pid AFL was given for this run */
	bool gone;            /* AFL went away */
};

/* should_stop hook, polled every 10 ms while a guest runs: AFL's timer
 * fired (it killed the sentinel), or AFL itself is gone. */
static bool afl_says_stop(void *ctx)
{
	struct watch *w = ctx;
	if (sentinel_dead(w->sen))
		return true;
	return w->gone = w->gone || afl_gone(0);
}

/* Our own --timeout stopped the guest, not AFL: hold the status until
 * AFL's timer fires (it kills the sentinel) so AFL sees a timeout, not a
 * SIGKILL "crash" that beat its timer. */
static void wait_for_afl_timeout(struct watch *w)
{
	while (w->sen->pid > 0 && !w->gone && !sentinel_dead(w->sen))
		w->gone = afl_gone(10);
}

static void sentinel_stop(struct sentinel *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = -1;
}

/* Tell AFL a run's child pid: s's, started if needed. With `status`, the
 * status of the run before goes out first, in the same write. 0; 1 if AFL
 * is gone; -1 (with a message) if the sentinel cannot start. */
static int announce(struct sentinel *s, const int32_t *status)
{
	if (sentinel_ensure(s)) {
		fprintf(stderr, "cowvm fuzz-target: cannot start the sentinel process: %s\n", strerror(errno));
		return -1;
	}
	uint32_t out[2] = { status ? (uint32_t)*status : (uint32_t)s->pid, (uint32_t)s->pid };
	size_t n = status ? 8 : 4;
	return write(FORKSRV_ST, out, n) == (ssize_t)n ? 0 : 1;
}

struct opts {
	struct fuzz_config fc;
	int first_file;    /* index of the first FILE in argv */
	bool timeout_set;  /* --timeout given */
	const char *kernel_path, *initrd_path, *console_dir;
	void *kernel, *initrd; /* the files' bytes (opts_free) */
};

static void opts_free(struct opts *o)
{
	free(o->kernel);
	free(o->initrd);
	o->kernel = o->initrd = NULL;
}

/* --kernel and --initrd into o->fc: 0, or an exit code after a message. */
static int read_kernel_files(const char *cmd, struct opts *o)
{
	char why[300];
	if (!o->kernel_path)
		return o->initrd_path || o->fc.cmdline ? cli_usage_error(cmd, "%s", "--initrd and --cmdline need --kernel") : 0;
	if (o->fc.target)
		return cli_usage_error(cmd, "%s", "--target and --kernel exclude each other");
	if (!o->initrd_path)
		return cli_usage_error(cmd, "%s", "--kernel needs --initrd (an initramfs that runs `cowvm-agent fuzz`)");
	if (cli_read_file(o->kernel_path, CLI_KERNEL_FILE_MAX, 0, &o->kernel, &o->fc.kernel_len, why, sizeof(why))) {
		fprintf(stderr, "cowvm %s: cannot read kernel '%s': %s\n", cmd, o->kernel_path, why);
		return COWVM_EXIT_USAGE;
	}
	if (cli_read_file(o->initrd_path, PC_MEM_MAX, 0, &o->initrd, &o->fc.initrd_len, why, sizeof(why))) {
		fprintf(stderr, "cowvm %s: cannot read initrd '%s': %s\n", cmd, o->initrd_path, why);
		opts_free(o);
		return COWVM_EXIT_USAGE;
	}
	o->fc.kernel = o->kernel;
	o->fc.initrd = o->initrd;
	return 0;
}

static int parse_opts(const char *cmd, int argc, char **argv, struct opts *o, int *code)
{
	static const struct option lo[] = {
		{ "target", required_argument, 0, 't' },  { "mem", required_argument, 0, 'm' },
		{ "mib", required_argument, 0, 'b' },     { "reset-mode", required_argument, 0, 'r' },
		{ "timeout", required_argument, 0, 'T' }, { "help", no_argument, 0, 'h' },
		{ "kernel", required_argument, 0, 'k' },  { "initrd", required_argument, 0, 'i' },
		{ "cmdline", required_argument, 0, 'l' }, { "console-dir", required_argument, 0, 'c' },
		{ 0, 0, 0, 0 },
	};
	memset(o, 0, sizeof(*o));
	uint64_t v;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			if (strcmp(optarg, "parser") && strcmp(optarg, "warm") && strcmp(optarg, "syscall"))
				return *code = cli_usage_error(cmd, "unknown target '%s' (parser|warm|syscall)", optarg), -1;
			o->fc.target = optarg;
			break;
		case 'm':
			if (cli_parse_mem(cmd, optarg, &o->fc.mem_size))
				return *code = COWVM_EXIT_USAGE, -1;
			break;
		case 'b':
			if (parse_u64_arg(optarg, &v) || !v || v > 65536)
				return *code = cli_usage_error(cmd, "bad warm state size '%s' (MiB)", optarg), -1;
			o->fc.mib = v;
			break;
		case 'r':
			if (fuzz_parse_reset(optarg, &o->fc.reset))
				return *code = cli_usage_error(cmd, "bad reset mode '%s' (cow|fresh|copy|boot)", optarg), -1;
			break;
		case 'T':
			if (parse_u64_arg(optarg, &v) || !v || v > 3600000)
				return *code = cli_usage_error(cmd, "bad timeout '%s' (1..3600000 ms)", optarg), -1;
			o->fc.timeout_ms = v;
			o->timeout_set = true;
			break;
		case 'k': o->kernel_path = optarg; break;
		case 'i': o->initrd_path = optarg; break;
		case 'l': o->fc.cmdline = optarg; break;
		case 'c':
			if (strcmp(cmd, "fuzz-target"))
				return *code = cli_usage_error(cmd, "%s", "--console-dir is for fuzz-target"), -1;
			o->console_dir = optarg;
			break;
		case 'h':
			cli_fuzz_usage(stdout);
			return *code = 0, -1;
		default:
			return *code = cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]), -1;
		}
	}
	if (!o->fc.target && !o->kernel_path)
		return *code = cli_usage_error(cmd, "%s", "--target or --kernel is required"), -1;
	if (o->console_dir) {
		struct stat st;
		if (stat(o->console_dir, &st) || !S_ISDIR(st.st_mode))
			return *code = cli_usage_error(cmd, "--console-dir '%s' is not a folder", o->console_dir), -1;
	}
	if ((*code = read_kernel_files(cmd, o)))
		return -1;
	const char *old = getenv("COWVM_FUZZ_OLD_PATH");
	o->fc.old_path = old && *old && strcmp(old, "0");
	/* Refuse here what the guest would refuse before its snapshot. */
	struct vmm_err err;
	if (fuzz_config_resolve(&o->fc, &err)) {
		opts_free(o);
		return *code = cli_usage_error(cmd, "%s", err.msg), -1;
	}
	o->first_file = optind;
	return 0;
}

/* Read a whole input (file or fd) up to max bytes; longer inputs are cut. */
static int read_input(int fd, uint8_t *buf, uint64_t max, uint64_t *len)
{
	uint64_t n = 0;
	while (n < max) {
		ssize_t r = pread(fd, buf + n, max - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ESPIPE) /* a pipe: plain reads */
			r = read(fd, buf + n, max - n);
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (uint64_t)r;
	}
	*len = n;
	return 0;
}

/* A whole input file (a regular file: never blocks), cut to max bytes,
 * read straight into buf (AFL's @@ runs this once per input). */
static int read_path(const char *path, uint8_t *buf, uint64_t max, uint64_t *len, char *why, size_t n)
{
	struct stat st;
	int fd = cli_open_regular(path, &st, why, n);
	if (fd < 0)
		return fd;
	int r = read_input(fd, buf, max, len);
	close(fd);
	if (r)
		snprintf(why, n, "%s", strerror(-r));
	return r;
}

static void describe(struct fuzz *f, const struct vm_result *res, int status, char *buf, size_t n)
{
	char head[200];
	if (WIFEXITED(status) && res->end == VM_END_EXIT)
		snprintf(buf, n, "exit %d", res->status);
	else if (fuzz_kernel_report(f, head, sizeof(head)))
		snprintf(buf, n, "CRASH %s: kernel: %s", sigabbrev_np(WTERMSIG(status)) ?: "?", head);
	else
		snprintf(buf, n, "CRASH %s: %s", sigabbrev_np(WTERMSIG(status)) ?: "?", res->msg);
}

/* A Linux guest's crash: its console text, framed. */
static void print_console(struct fuzz *f, FILE *out)
{
	size_t len;
	bool trunc;
	const char *con = fuzz_console(f, &len, &trunc);
	fprintf(out, "--- guest console (%zu bytes%s) ---\n", len, trunc ? ", cut" : "");
	fwrite(con, 1, len, out);
	if (len && con[len - 1] != '\n')
		fputc('\n', out);
	fprintf(out, "--- end of guest console ---\n");
}

/* FNV-1a: the ABI's fold, a byte at a time. */
static uint64_t fnv1a(const uint8_t *p, uint64_t n)
{
	uint64_t h = COWVM_FOLD_INIT;
	for (uint64_t i = 0; i < n; i++)
		h = cowvm_fold(h, p[i]);
	return h;
}

/* --console-dir: DIR/crash-HASH.txt = the crash line and the console of
 * the input (AFL names its crash files itself; the hash ties them). */
static void keep_console(struct fuzz *f, const char *dir, const uint8_t *in, uint64_t len, const char *line)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/crash-%016llx.txt", dir, (unsigned long long)fnv1a(in, len)) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "cowvm fuzz-target: --console-dir '%s' is too long a path\n", dir);
		return;
	}
	FILE *out = fopen(path, "w");
	if (!out) {
		fprintf(stderr, "cowvm fuzz-target: cannot write '%s': %s\n", path, strerror(errno));
		return;
	}
	fprintf(out, "%s\n", line);
	print_console(f, out);
	if (fclose(out))
		fprintf(stderr, "cowvm fuzz-target: cannot write '%s': %s\n", path, strerror(errno));
}

static void console_drop(void *ctx, const char *buf, size_t len) { (void)ctx, (void)buf, (void)len; }

static uint8_t *local_map(uint64_t size)
{
	void *p = NULL;
	return posix_memalign(&p, 4096, size) ? NULL : memset(p, 0, size);
}

int cli_replay(int argc, char **argv)
{
	struct opts o;
	int code;
	if (parse_opts("replay", argc, argv, &o, &code))
		return code;
	if (o.first_file >= argc) {
		opts_free(&o);
		return cli_usage_error("replay", "%s", "no input FILE given");
	}
	o.fc.cov_size = AFL_DEFAULT_MAP;
	o.fc.cov = local_map(o.fc.cov_size);
	o.fc.console = console_drop;
	struct vmm_err err = { 0 };
	struct fuzz *f;
	if (!o.fc.cov || fuzz_open(&o.fc, &f, &err)) {
		fprintf(stderr, "cowvm replay: %s\n", o.fc.cov ? err.msg : "out of memory");
		free(o.fc.cov);
		opts_free(&o);
		return COWVM_EXIT_VMM_ERROR;
	}
	uint64_t max = fuzz_max_input(f);
	uint8_t *buf = malloc(max);
	int crashed = 0, bad = buf ? 0 : COWVM_EXIT_VMM_ERROR;
	if (!buf)
		fprintf(stderr, "cowvm replay: out of memory\n");
	for (int i = o.first_file; buf && i < argc; i++) {
		uint64_t len;
		char why[200];
		int r = read_path(argv[i], buf, max, &len, why, sizeof(why));
		if (r) {
			fprintf(stderr, "cowvm replay: cannot read '%s': %s\n", argv[i], why);
			bad = bad ? bad : cli_exit_for(r);
			continue;
		}
		struct vm_result res;
		if (fuzz_exec(f, buf, len, &res, &err)) {
			fprintf(stderr, "cowvm replay: %s: %s\n", argv[i], err.msg);
			bad = COWVM_EXIT_VMM_ERROR;
			break;
		}
		int st = fuzz_wait_status(&res);
		char line[400];
		describe(f, &res, st, line, sizeof(line));
		printf("%s: %s\n", argv[i], line);
		if (!WIFEXITED(st) && fuzz_is_linux(&o.fc))
			print_console(f, stdout);
		crashed |= !WIFEXITED(st);
	}
	fflush(stdout);
	free(buf);
	fuzz_close(f);
	free(o.fc.cov);
	opts_free(&o);
	return bad ? bad : crashed;
}

int cli_fuzz_target(int argc, char **argv)
{
	struct opts o;
	int code;
	if (parse_opts("fuzz-target", argc, argv, &o, &code))
		return code;
	if (argc - o.first_file > 1) {
		opts_free(&o);
		return cli_usage_error("fuzz-target", "unexpected argument '%s' (one FILE at most)", argv[o.first_file + 1]);
	}
	const char *path = o.first_file < argc ? argv[o.first_file] : NULL;
	int afl = fcntl(FORKSRV_CTL, F_GETFD) != -1 && fcntl(FORKSRV_ST, F_GETFD) != -1;

	/* Coverage: AFL's shared memory itself, else a private map. */
	const char *shm_id = getenv("__AFL_SHM_ID"), *ms = getenv("AFL_MAP_SIZE");
	/* AFL's shm holds AFL_MAP_SIZE bytes (afl-fuzz first probes with a
	 * large one); we use 64 KiB of it, or less if that is all there is,
	 * and announce the size we use (FS_OPT_MAPSIZE) so AFL adopts it. */
	uint64_t map_size = AFL_DEFAULT_MAP, afl_size = 0;
	if (ms && (parse_u64_arg(ms, &afl_size) || !afl_size ||
	           (afl_size < map_size && afl_size % 4096))) {
		fprintf(stderr, "cowvm fuzz-target: AFL_MAP_SIZE=%s: need a multiple of 4096 (or >= %u)\n", ms,
		        AFL_DEFAULT_MAP);
		opts_free(&o);
		return COWVM_EXIT_USAGE;
	}
	if (afl_size && afl_size < map_size)
		map_size = afl_size;
	uint8_t *cov = NULL, *own = NULL;
	if (shm_id) {
		void *p = shmat(atoi(shm_id), NULL, 0);
		if (p == (void *)-1) {
			fprintf(stderr, "cowvm fuzz-target: shmat(__AFL_SHM_ID=%s): %s\n", shm_id, strerror(errno));
			opts_free(&o);
			return COWVM_EXIT_VMM_ERROR;
		}
		cov = p;
		/* Never map more than the segment holds: when the user sets a
		 * small AFL_MAP_SIZE, afl-fuzz still probes the target with a
		 * large one in the environment but the shm it gives is small,
		 * and guest writes past its end would fail KVM_RUN (EFAULT). */
		struct shmid_ds ds;
		if (!shmctl(atoi(shm_id), IPC_STAT, &ds) && ds.shm_segsz / 4096 * 4096 < map_size)
			map_size = ds.shm_segsz / 4096 * 4096;
		if (!map_size) {
			fprintf(stderr, "cowvm fuzz-target: AFL's coverage map (__AFL_SHM_ID=%s) is smaller than 4 KiB\n",
			        shm_id);
			shmdt(p);
			opts_free(&o);
			return COWVM_EXIT_USAGE;
		}
	} else {
		cov = own = local_map(map_size);
	}
	/* Shared-memory test cases: [u32 length][bytes], AFL++'s layout. */
	const char *fuzz_id = getenv("__AFL_SHM_FUZZ_ID");
	uint8_t *shm_input = NULL;
	if (afl && fuzz_id) {
		void *p = shmat(atoi(fuzz_id), NULL, 0);
		shm_input = p == (void *)-1 ? NULL : p;
	}

	struct sentinel sen[2] = { { .pid = -1, .stack = malloc(SENTINEL_STACK) },
	                           { .pid = -1, .stack = malloc(SENTINEL_STACK) } };
	struct watch watch = { .sen = &sen[0] };
	o.fc.cov = cov;
	o.fc.cov_size = map_size;
	o.fc.console = console_drop;
	o.fc.should_stop = afl ? afl_says_stop : NULL;
	o.fc.should_stop_ctx = &watch;
	if (afl && !o.timeout_set)
		o.fc.timeout_ms = FUZZ_TIMEOUT_NONE; /* AFL's timer ends hangs */
	if (afl && o.fc.reset == FUZZ_RESET_BOOT) {
		fprintf(stderr, "cowvm fuzz-target: --reset-mode boot is a baseline for measurements, not for AFL "
		                "(each input would boot the kernel inside AFL's timer)\n");
		free(own);
		opts_free(&o);
		return COWVM_EXIT_USAGE;
	}
	struct vmm_err err = { 0 };
	struct fuzz *f = NULL;
	if (!cov || !sen[0].stack || !sen[1].stack || fuzz_open(&o.fc, &f, &err)) {
		fprintf(stderr, "cowvm fuzz-target: %s\n", cov && sen[0].stack && sen[1].stack ? err.msg : "out of memory");
		free(own);
		free(sen[0].stack);
		free(sen[1].stack);
		opts_free(&o);
		return COWVM_EXIT_VMM_ERROR;
	}
	uint64_t max = fuzz_max_input(f);
	uint8_t *buf = malloc(max);
	int rc = 0;
	if (!afl) {
		/* Standalone: one run of FILE or stdin, reported like replay. */
		uint64_t len = 0;
		struct vm_result res;
		char why[200] = "out of memory";
		int r = !buf ? -ENOMEM : path ? read_path(path, buf, max, &len, why, sizeof(why))
		                              : read_input(0, buf, max, &len);
		if (r) {
			if (buf && !path)
				snprintf(why, sizeof(why), "%s", strerror(-r));
			fprintf(stderr, "cowvm fuzz-target: cannot read %s%s%s: %s\n", path ? "'" : "stdin",
			        path ? path : "", path ? "'" : "", why);
			rc = buf ? cli_exit_for(r) : COWVM_EXIT_VMM_ERROR;
		} else if (fuzz_exec(f, buf, len, &res, &err)) {
			fprintf(stderr, "cowvm fuzz-target: %s\n", err.msg);
			rc = COWVM_EXIT_VMM_ERROR;
		} else {
			int st = fuzz_wait_status(&res);
			char line[400];
			describe(f, &res, st, line, sizeof(line));
			printf("%s\n", line);
			if (!WIFEXITED(st) && fuzz_is_linux(&o.fc))
				print_console(f, stdout);
			if (!WIFEXITED(st) && o.console_dir)
				keep_console(f, o.console_dir, buf, len, line);
			rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		goto out;
	}

	uint32_t hello = FS_OPT_ENABLED | FS_OPT_MAPSIZE | FS_OPT_SET_MAPSIZE((uint32_t)map_size) |
	                 (shm_input ? FS_OPT_SHDMEM_FUZZ : 0);
	uint32_t msg;
	bool ahead = !o.fc.old_path; /* the next pid goes out with each status */
	unsigned cur = 0;            /* sen[cur]: the sentinel announced for this run */
	if (write(FORKSRV_ST, &hello, 4) != 4 || (shm_input && read(FORKSRV_CTL, &msg, 4) != 4) ||
	    (ahead && announce(&sen[0], NULL) != 0)) {
		fprintf(stderr, "cowvm fuzz-target: forkserver handshake failed\n");
		rc = COWVM_EXIT_VMM_ERROR;
		goto out;
	}
	while (buf && read(FORKSRV_CTL, &msg, 4) == 4) {
		if (ahead && msg) {
			/* AFL timed the last run out and killed its child: the
			 * other sentinel. Make sure it is gone before it is
			 * announced again. */
			sentinel_stop(&sen[cur ^ 1]);
		} else if (!ahead) {
			sentinel_dead(&sen[0]); /* reap a sentinel AFL killed after the last run */
			int a = announce(&sen[0], NULL);
			rc = a < 0 ? COWVM_EXIT_VMM_ERROR : rc;
			if (a)
				break;
		}
		watch.sen = &sen[cur];
		uint64_t len = 0;
		int r = 0;
		if (shm_input) {
			uint32_t l;
			memcpy(&l, shm_input, 4);
			len = l < max ? l : max;
			memcpy(buf, shm_input + 4, len);
		} else {
			char why[200];
			r = path ? read_path(path, buf, max, &len, why, sizeof(why)) : read_input(0, buf, max, &len);
		}
		struct vm_result res = { .end = VM_END_EXIT };
		if (r)
			len = 0; /* unreadable input: run it empty */
		if (fuzz_exec(f, buf, len, &res, &err)) {
			fprintf(stderr, "cowvm fuzz-target: %s\n", err.msg);
			rc = COWVM_EXIT_VMM_ERROR;
			break;
		}
		if (res.end == VM_END_TIMEOUT)
			wait_for_afl_timeout(&watch);
		if (watch.gone)
			break;
		int32_t status = fuzz_wait_status(&res);
		if (o.console_dir && !WIFEXITED(status) && res.end != VM_END_TIMEOUT) {
			char line[400];
			describe(f, &res, status, line, sizeof(line));
			keep_console(f, o.console_dir, buf, len, line);
		}
		if (!ahead) {
			if (write(FORKSRV_ST, &status, 4) != 4)
				break;
			continue;
		}
		cur ^= 1;
		sentinel_dead(&sen[cur]);
		int a = announce(&sen[cur], &status);
		rc = a < 0 ? COWVM_EXIT_VMM_ERROR : rc;
		if (a)
			break;
	}
out:
	for (int i = 0; i < 2; i++) {
		sentinel_stop(&sen[i]);
		free(sen[i].stack);
	}
	free(buf);
	fuzz_close(f);
	free(own);
	opts_free(&o);
	return rc;
}
