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
#include "console_input.h"
#include "linux_vm.h"
#include "pc_devices.h"
#include "pc_layout.h"
#include "size_parse.h"
#include "snapshot.h"
#include "snapshot_file.h"
#include "vm.h"

#define GUEST_FILE_MAX (64u << 20)

void cli_run_usage(FILE *f)
{
	fprintf(f,
	        "usage: cowvm run [--mem SIZE] [--vcpus N] [--timeout MS]\n"
	        "                 [--workload NAME[:k=v,...]] [--guest PATH] [--arg KEY=VALUE]...\n"
	        "                 [--reports] [--snapshot-out FILE]\n"
	        "       cowvm run --kernel BZIMAGE [--initrd FILE] [--cmdline STR]\n"
	        "                 [--mem SIZE] [--vcpus N] [--timeout MS]\n"
	        "\n"
	        "Boot a guest on KVM, print its console (COM1 and the write hypercall)\n"
	        "on stdout and exit with the guest's exit status.\n"
	        "\n"
	        "With --kernel, boot a Linux bzImage (boot protocol 2.12+, 64-bit entry)\n"
	        "on a small PC (docs/linux-guests.md): its COM1 is the console, stdin is\n"
	        "typed into COM1 (a terminal is put in raw mode; Ctrl-A x quits). The\n"
	        "run ends when the guest powers off (exit 0), resets (exit %d), halts\n"
	        "(exit %d) or triple-faults (exit %d).\n"
	        "  --kernel PATH     the bzImage (e.g. /boot/vmlinuz-*)\n"
	        "  --initrd PATH     an initramfs, placed as the kernel header allows\n"
	        "  --cmdline STR     the kernel command line (default \"%s\")\n"
	        "                    --mem defaults to %llu MiB and may be at most %llu MiB\n"
	        "\n"
	        "  --mem SIZE        guest RAM, e.g. 64M, 1G (multiple of 2 MiB, 4M..64G;\n"
	        "                    default 64M)\n"
	        "  --vcpus N         vCPUs, 1..%d (default 1); vCPU 0 runs the workload,\n"
	        "                    the others park\n"
	        "  --timeout MS      stop the guest after MS milliseconds (exit %d)\n"
	        "  --workload SPEC   workload of the built-in guest-stub (default hello):\n"
	        "%s"
	        "  --guest PATH      boot this static x86_64 ELF instead of the built-in\n"
	        "                    guest-stub (at most 64 MiB; a guest built on the guest\n"
	        "                    SDK, docs/guest-sdk.md). Its name (boot info, `cowvm\n"
	        "                    stats`) is the file's name, or --workload's NAME, which\n"
	        "                    is then not checked against the built-in workloads\n"
	        "  --arg KEY=VALUE   one more argument for the guest (repeatable; the value\n"
	        "                    may hold ',' and '='). For --guest any key of letters,\n"
	        "                    digits and ,._+?#- up to %d bytes and any value up to\n"
	        "                    %d bytes; at most %d arguments in all. Without --guest,\n"
	        "                    an argument of the built-in workload, checked as above\n"
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
	        COWVM_EXIT_REBOOT, COWVM_EXIT_HALT, COWVM_EXIT_SHUTDOWN, PC_DEFAULT_CMDLINE,
	        PC_DEFAULT_MEM >> 20, PC_MEM_MAX >> 20,
	        COWVM_MAX_VCPUS, COWVM_EXIT_TIMEOUT, wl_help(), WL_KEY_MAX, WL_VALUE_MAX, WL_MAX_ARGS,
	        COWVM_EXIT_EXCEPTION,
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

/* The exit code and stderr line for how a run ended (res.end). */
static int exit_code_for(const struct vm_result *res, int r, const struct vmm_err *err)
{
	switch (res->end) {
	case VM_END_EXIT: return res->status;
	case VM_END_POWEROFF: return 0;
	default: break;
	}
	fprintf(stderr, "cowvm: %s\n", r ? err->msg : res->msg);
	switch (res->end) {
	case VM_END_EXCEPTION:
	case VM_END_ABORT: return COWVM_EXIT_EXCEPTION;
	case VM_END_TIMEOUT: return COWVM_EXIT_TIMEOUT;
	case VM_END_SHUTDOWN: return COWVM_EXIT_SHUTDOWN;
	case VM_END_REBOOT: return COWVM_EXIT_REBOOT;
	case VM_END_HALT: return COWVM_EXIT_HALT;
	default: return COWVM_EXIT_VMM_ERROR;
	}
}

/* Run vm to its end, taking the one snapshot the guest may ask for and
 * saving it to snap_out; stops the console relay `in` (if any) once the
 * guest is done; destroys vm. Returns the exit code. */
static int run_to_end(struct vm *vm, const char *snap_out, int show_reports, struct console_input *in)
{
	struct vmm_err err = { 0 };
	/* The reports of the run before the snapshot: the run after it starts
	 * a new result, and --reports shows both, in order. */
	struct vm_result res = { .end = VM_END_ERROR }, before = { .nreports = 0 };
	int r = vm_run(vm, &res, &err), code = -1;
	if (!r && res.end == VM_END_SNAPSHOT) {
		before = res;
		r = save_snapshot(vm, snap_out, &err);
		if (r) {
			fprintf(stderr, "cowvm run: %s\n", err.msg);
			/* -EEXIST: snapshot_save found something other than a
			 * regular file at the target by now (it checks again right
			 * before its rename): bad input, like the check before the
			 * run. */
			code = r == -EEXIST ? COWVM_EXIT_USAGE : COWVM_EXIT_VMM_ERROR;
		} else {
			vm->cfg.snapshots = false; /* one snapshot per run: later requests hear -ENOSYS */
			res = (struct vm_result){ .end = VM_END_ERROR };
			r = vm_run(vm, &res, &err);
		}
	}
	if (in)
		console_input_stop(in);
	fflush(stdout);
	bool save_failed = code >= 0;
	if (!save_failed)
		code = exit_code_for(&res, r, &err);
	print_reports(show_reports, &before, save_failed ? NULL : &res);
	vm_destroy(vm);
	return code;
}

/* Ctrl-A x on a terminal: end the run as a timeout would. */
static void quit_run(void *vm)
{
	vm_stop(vm, VM_END_TIMEOUT, 0, NULL, "stopped from the console (Ctrl-A x)");
}

/* `run --kernel`: read the files, boot, relay stdin to COM1 while it runs. */
static int run_linux(struct vm_config *cfg, const char *kernel_path, const char *initrd_path,
                     const char *snap_out, int show_reports)
{
	char why[300];
	void *kernel = NULL, *initrd = NULL;
	int r = cli_read_file(kernel_path, CLI_KERNEL_FILE_MAX, 0, &kernel, &cfg->kernel_len, why, sizeof(why));
	if (r) {
		fprintf(stderr, "cowvm run: cannot read kernel '%s': %s\n", kernel_path, why);
		return cli_exit_for(r);
	}
	cfg->kernel = kernel;
	if (initrd_path) {
		r = cli_read_file(initrd_path, PC_MEM_MAX, 0, &initrd, &cfg->initrd_len, why, sizeof(why));
		if (r) {
			fprintf(stderr, "cowvm run: cannot read initrd '%s': %s\n", initrd_path, why);
			free(kernel);
			return cli_exit_for(r);
		}
		cfg->initrd = initrd;
	}
	struct vmm_err err = { 0 };
	struct vm *vm;
	r = vm_create(cfg, &vm, &err);
	free(kernel);
	free(initrd);
	if (r) {
		fprintf(stderr, "cowvm run: cannot boot kernel '%s': %s\n", kernel_path, err.msg);
		return cli_exit_for(r);
	}
	struct console_input *in = NULL;
	if (console_input_start(&in, STDIN_FILENO, &vm->pc->com1, quit_run, vm, &err))
		fprintf(stderr, "cowvm run: no console input: %s\n", err.msg); /* output still works */
	return run_to_end(vm, snap_out, show_reports, in);
}

int cli_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mem", required_argument, 0, 'm' },     { "vcpus", required_argument, 0, 'c' },
		{ "timeout", required_argument, 0, 't' }, { "workload", required_argument, 0, 'w' },
		{ "guest", required_argument, 0, 'g' },   { "reports", no_argument, 0, 'r' },
		{ "snapshot-out", required_argument, 0, 's' },
		{ "kernel", required_argument, 0, 'k' },  { "initrd", required_argument, 0, 'i' },
		{ "cmdline", required_argument, 0, 'l' }, { "arg", required_argument, 0, 'a' },
		{ "help", no_argument, 0, 'h' },          { 0, 0, 0, 0 },
	};
	const char *kernel_path = NULL, *initrd_path = NULL;
	bool mem_given = false, workload_given = false;
	const char *snap_out = NULL;
	struct vm_config cfg = { .mem_size = 64ull << 20, .nvcpus = 1 };
	struct vmm_err err = { 0 };
	const char *workload = "hello", *guest_path = NULL;
	int show_reports = 0, c;
	uint64_t n;
	const char *args[WL_MAX_ARGS + 1];
	unsigned nargs = 0;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (cli_parse_mem("run", optarg, &cfg.mem_size))
				return COWVM_EXIT_USAGE;
			mem_given = true;
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
		case 'w': workload = optarg; workload_given = true; break;
		case 'k': kernel_path = optarg; break;
		case 'i': initrd_path = optarg; break;
		case 'l': cfg.cmdline = optarg; break;
		case 'g': guest_path = optarg; break;
		case 'a':
			/* One more than fits is kept: wl_add_arg refuses it below. */
			if (nargs <= WL_MAX_ARGS)
				args[nargs++] = optarg;
			break;
		case 'r': show_reports = 1; break;
		case 's': snap_out = optarg; break;
		case 'h': cli_run_usage(stdout); return 0;
		default:
			return cli_usage_error("run", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
	if (kernel_path && (guest_path || workload_given || nargs))
		return cli_usage_error("run", "%s", "--kernel boots Linux: --guest, --workload and --arg do not apply");
	if (!kernel_path && (initrd_path || cfg.cmdline))
		return cli_usage_error("run", "%s", "--initrd and --cmdline need --kernel");
	/* The built-in guest-stub's workloads are known and checked; a foreign
	 * guest gets any name and arguments (syntax and sizes checked). */
	if (guest_path && !workload_given)
		wl_set_image_name(&cfg.workload, guest_path);
	else if (guest_path ? wl_parse_any(workload, &cfg.workload, &err) : wl_parse(workload, &cfg.workload, &err))
		return cli_usage_error("run", "%s", err.msg);
	for (unsigned i = 0; i < nargs; i++)
		if (wl_add_arg(&cfg.workload, args[i], guest_path == NULL, &err))
			return cli_usage_error("run", "%s", err.msg);
	char why[300];
	/* Before the guest runs: a target we must not or cannot replace. */
	int bad = snap_out ? cli_check_output(snap_out, why, sizeof(why)) : 0;
	if (bad) {
		fprintf(stderr, "cowvm run: --snapshot-out %s\n", why);
		return cli_exit_for(bad);
	}
	cfg.snapshots = snap_out != NULL;
	if (kernel_path) {
		if (!mem_given)
			cfg.mem_size = PC_DEFAULT_MEM;
		return run_linux(&cfg, kernel_path, initrd_path, snap_out, show_reports);
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

	struct vm *vm;
	int r = vm_create(&cfg, &vm, &err);
	if (r) {
		fprintf(stderr, "cowvm run: %s\n", err.msg);
		free(img);
		return cli_exit_for(r);
	}
	int code = run_to_end(vm, snap_out, show_reports, NULL);
	free(img);
	return code;
}
