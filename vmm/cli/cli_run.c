/* cli_run.c - `cowvm run`: boot a guest, show its console, exit with its status. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "size_parse.h"
#include "snapshot.h"
#include "snapshot_file.h"
#include "vm.h"

#define GUEST_FILE_MAX (64u << 20)

void cli_run_usage(FILE *f)
{
	fprintf(f,
	        "usage: cowvm run [--mem SIZE] [--vcpus N] [--timeout MS]\n"
	        "                 [--workload NAME[:k=v,...]] [--guest PATH] [--reports]\n"
	        "                 [--snapshot-out FILE]\n"
	        "\n"
	        "Boot a guest on KVM, print its console (COM1 and the write hypercall)\n"
	        "on stdout and exit with the guest's exit status.\n"
	        "\n"
	        "  --mem SIZE        guest RAM, e.g. 64M, 1G (multiple of 2 MiB, 4M..64G;\n"
	        "                    default 64M)\n"
	        "  --vcpus N         vCPUs, 1..%d (default 1); vCPU 0 runs the workload,\n"
	        "                    the others park\n"
	        "  --timeout MS      stop the guest after MS milliseconds (exit %d)\n"
	        "  --workload SPEC   workload of the built-in guest-stub (default hello):\n"
	        "%s"
	        "  --guest PATH      boot this static x86_64 ELF instead of the built-in\n"
	        "                    guest-stub (it must follow docs/architecture.md)\n"
	        "  --reports         print the guest's reported values (key=value) on stderr\n"
	        "  --snapshot-out FILE  when the guest asks for a snapshot (snaptest, warm),\n"
	        "                    save it to FILE (see `cowvm clone`); the guest then runs\n"
	        "                    on as the original. Without it the guest is told no\n"
	        "                    snapshot was taken. FILE is replaced: it must be absent\n"
	        "                    or a regular file in a folder we can write (checked\n"
	        "                    before the guest runs)\n"
	        "  -h, --help        this help\n"
	        "\n"
	        "A guest exception ends the run with a one-line report on stderr and exit\n"
	        "%d; a triple fault exits %d; a KVM failure exits %d; bad arguments, a bad\n"
	        "guest image, a --guest that is not a regular file, an unusable\n"
	        "--snapshot-out target or a missing /dev/kvm exit %d.\n",
	        COWVM_MAX_VCPUS, COWVM_EXIT_TIMEOUT, wl_help(), COWVM_EXIT_EXCEPTION,
	        COWVM_EXIT_SHUTDOWN, COWVM_EXIT_VMM_ERROR, COWVM_EXIT_USAGE);
}

/* Take the snapshot the guest asked for and write it to `path`. */
static int save_snapshot(struct vm *vm, const char *path, struct vmm_err *e)
{
	struct snapshot *s;
	int r = snapshot_take(vm, &s, e);
	if (r)
		return r;
	r = snapshot_save(s, path, e);
	if (!r)
		fprintf(stderr, "cowvm: snapshot saved to %s (%llu MiB guest, %llu non-zero pages)\n", path,
		        (unsigned long long)(s->meta.mem_size >> 20), (unsigned long long)s->ncaptured);
	snapshot_put(s);
	return r;
}

static void print_reports(int show, const struct vm_result *before, const struct vm_result *after)
{
	const struct vm_result *phase[2] = { before, after };
	for (int p = 0; show && p < 2; p++)
		for (unsigned i = 0; phase[p] && i < phase[p]->nreports; i++)
			fprintf(stderr, "report %s=%llu (%#llx)\n", phase[p]->reports[i].key,
			        (unsigned long long)phase[p]->reports[i].value,
			        (unsigned long long)phase[p]->reports[i].value);
}

int cli_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mem", required_argument, 0, 'm' },     { "vcpus", required_argument, 0, 'c' },
		{ "timeout", required_argument, 0, 't' }, { "workload", required_argument, 0, 'w' },
		{ "guest", required_argument, 0, 'g' },   { "reports", no_argument, 0, 'r' },
		{ "snapshot-out", required_argument, 0, 's' },
		{ "help", no_argument, 0, 'h' },          { 0, 0, 0, 0 },
	};
	const char *snap_out = NULL;
	struct vm_config cfg = { .mem_size = 64ull << 20, .nvcpus = 1 };
	struct vmm_err err = { 0 };
	const char *workload = "hello", *guest_path = NULL;
	int show_reports = 0, c;
	uint64_t n;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (cli_parse_mem("run", optarg, &cfg.mem_size))
				return COWVM_EXIT_USAGE;
			break;
		case 'c':
			if (parse_u64_arg(optarg, &n) || !n || n > COWVM_MAX_VCPUS)
				return cli_usage_error("run", "bad vCPU count '%s' (1..16)", optarg);
			cfg.nvcpus = (unsigned)n;
			break;
		case 't':
			if (parse_u64_arg(optarg, &n) || !n || n > 86400000ull)
				return cli_usage_error("run", "bad timeout '%s' (1..86400000 ms)", optarg);
			cfg.timeout_ms = n;
			break;
		case 'w': workload = optarg; break;
		case 'g': guest_path = optarg; break;
		case 'r': show_reports = 1; break;
		case 's': snap_out = optarg; break;
		case 'h': cli_run_usage(stdout); return 0;
		default:
			return cli_usage_error("run", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
	if (wl_parse(workload, &cfg.workload, &err))
		return cli_usage_error("run", "%s", err.msg);
	char why[300];
	/* Before the guest runs: a target we must not or cannot replace. */
	int bad = snap_out ? cli_check_output(snap_out, why, sizeof(why)) : 0;
	if (bad) {
		fprintf(stderr, "cowvm run: --snapshot-out %s\n", why);
		return cli_exit_for(bad);
	}
	void *img = NULL;
	if (guest_path) {
		int r = cli_read_file(guest_path, GUEST_FILE_MAX, 0, &img, &cfg.guest_image_len, why, sizeof(why));
		if (r) {
			fprintf(stderr, "cowvm run: cannot read guest '%s': %s\n", guest_path, why);
			return cli_exit_for(r);
		}
		cfg.guest_image = img;
	}

	cfg.snapshots = snap_out != NULL;
	struct vm *vm;
	int r = vm_create(&cfg, &vm, &err);
	if (r) {
		fprintf(stderr, "cowvm run: %s\n", err.msg);
		free(img);
		return cli_exit_for(r);
	}
	/* The reports of the run before the snapshot: the run after it starts
	 * a new result, and --reports shows both, in order. */
	struct vm_result res = { .end = VM_END_ERROR }, before = { .nreports = 0 };
	r = vm_run(vm, &res, &err);
	if (!r && res.end == VM_END_SNAPSHOT) {
		before = res;
		r = save_snapshot(vm, snap_out, &err);
		if (r) {
			fflush(stdout);
			fprintf(stderr, "cowvm run: %s\n", err.msg);
			print_reports(show_reports, &before, NULL);
			vm_destroy(vm);
			free(img);
			/* -EEXIST: snapshot_save found something other than a
			 * regular file at the target by now (it checks again right
			 * before its rename): bad input, like the check above. */
			return r == -EEXIST ? COWVM_EXIT_USAGE : COWVM_EXIT_VMM_ERROR;
		}
		vm->cfg.snapshots = false; /* one snapshot per run: later requests hear -ENOSYS */
		res = (struct vm_result){ .end = VM_END_ERROR };
		r = vm_run(vm, &res, &err);
	}
	fflush(stdout);
	int code;
	switch (res.end) {
	case VM_END_EXIT: code = res.status; break;
	case VM_END_EXCEPTION:
	case VM_END_ABORT:
		fprintf(stderr, "cowvm: %s\n", res.msg);
		code = COWVM_EXIT_EXCEPTION;
		break;
	case VM_END_TIMEOUT:
		fprintf(stderr, "cowvm: %s\n", res.msg);
		code = COWVM_EXIT_TIMEOUT;
		break;
	case VM_END_SHUTDOWN:
		fprintf(stderr, "cowvm: %s\n", res.msg);
		code = COWVM_EXIT_SHUTDOWN;
		break;
	default:
		fprintf(stderr, "cowvm: %s\n", r ? err.msg : res.msg);
		code = COWVM_EXIT_VMM_ERROR;
		break;
	}
	print_reports(show_reports, &before, &res);
	vm_destroy(vm);
	free(img);
	return code;
}
