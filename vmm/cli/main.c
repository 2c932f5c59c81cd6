/*
 * main.c - the cowvm command line: dispatch to a subcommand. Only the CLI
 * prints library errors and chooses exit codes (cowvm_abi.h COWVM_EXIT_*).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cowvm_abi.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "cowvm - a minimal KVM VMM built for cloning whole VMs\n"
	        "\n"
	        "usage: cowvm <command> [options]\n"
	        "\n"
	        "commands:\n"
	        "  run       boot a guest (the built-in guest-stub by default) and run a workload\n"
	        "  clone     run N clones of a snapshot file, print latency and memory\n"
	        "  stats     show a snapshot file and the memory of one clone of it\n"
	        "  fuzz-target  run a guest fuzz target as an AFL++ forkserver target\n"
	        "  replay    rerun fuzz inputs in the guest, print crash reports\n"
	        "  bench     benchmark clones against fork, eager copy, fresh VMs and userfaultfd\n"
	        "  help      show this help, or `cowvm help run` for a command's options\n"
	        "\n"
	        "exit codes (README.md has them per command): run: the guest's exit status\n"
	        "  (0..200), %d guest exception, %d timeout, %d triple fault; clone, replay:\n"
	        "  0 all ok, 1 a clone failed or an input crashed; every command: %d bad\n"
	        "  arguments or input, %d KVM/VMM failure\n",
	        COWVM_EXIT_EXCEPTION, COWVM_EXIT_TIMEOUT, COWVM_EXIT_SHUTDOWN, COWVM_EXIT_USAGE,
	        COWVM_EXIT_VMM_ERROR);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return COWVM_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		if (argc > 2 && !strcmp(argv[2], "run"))
			cli_run_usage(stdout);
		else if (argc > 2 && !strcmp(argv[2], "clone"))
			cli_clone_usage(stdout);
		else if (argc > 2 && !strcmp(argv[2], "stats"))
			cli_stats_usage(stdout);
		else if (argc > 2 && (!strcmp(argv[2], "fuzz-target") || !strcmp(argv[2], "replay")))
			cli_fuzz_usage(stdout);
		else if (argc > 2 && !strcmp(argv[2], "bench"))
			cli_bench_usage(stdout);
		else {
			usage(stdout);
			printf("\n");
			cli_run_usage(stdout);
		}
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("cowvm 0.1.0\n");
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cli_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "clone"))
		return cli_clone(argc - 1, argv + 1);
	if (!strcmp(cmd, "stats"))
		return cli_stats(argc - 1, argv + 1);
	if (!strcmp(cmd, "fuzz-target"))
		return cli_fuzz_target(argc - 1, argv + 1);
	if (!strcmp(cmd, "replay"))
		return cli_replay(argc - 1, argv + 1);
	if (!strcmp(cmd, "bench"))
		return cli_bench(argc - 1, argv + 1);
	fprintf(stderr, "cowvm: unknown command '%s' (try cowvm --help)\n", cmd);
	return COWVM_EXIT_USAGE;
}
