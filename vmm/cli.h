/* cli.h - subcommands of the cowvm command line (main.c dispatches). */
#ifndef COWVM_CLI_H
#define COWVM_CLI_H
#include <stdio.h>
/* One stderr line "cowvm CMD: <fmt with arg> (try cowvm help CMD)";
 * returns COWVM_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, const char *arg)
	__attribute__((format(printf, 2, 0)));
int cli_run(int argc, char **argv);
void cli_run_usage(FILE *f);
int cli_clone(int argc, char **argv);
void cli_clone_usage(FILE *f);
int cli_stats(int argc, char **argv);
void cli_stats_usage(FILE *f);
int cli_fuzz_target(int argc, char **argv);
int cli_replay(int argc, char **argv);
void cli_fuzz_usage(FILE *f);
int cli_bench(int argc, char **argv);
void cli_bench_usage(FILE *f);
#endif
