/* cli.h - subcommands of the cowvm command line (main.c dispatches) and
 * what they share (cli_common.c). */
#ifndef COWVM_CLI_H
#define COWVM_CLI_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
/* One stderr line "cowvm CMD: <fmt with arg> (try cowvm help CMD)";
 * returns COWVM_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, const char *arg)
	__attribute__((format(printf, 2, 0)));
/* The exit code for a library error code (< 0): COWVM_EXIT_USAGE for the
 * codes that mean bad input (a bad image or snapshot file, an unusable
 * path), COWVM_EXIT_VMM_ERROR for the rest (host, KVM or VMM failures). */
int cli_exit_for(int code);
/* Parse a guest memory size (multiple of 2 MiB, VM_MEM_MIN..VM_MEM_MAX);
 * 0, or a usage error printed and COWVM_EXIT_USAGE returned. */
int cli_parse_mem(const char *cmd, const char *arg, uint64_t *out);
/* Read the whole regular file at path, at most max bytes, into a new
 * buffer (*buf, free it). Never blocks: a FIFO, pipe, device, socket or
 * directory is refused (-EINVAL) without being read. A longer file is
 * -EFBIG, or cut to max bytes with CLI_READ_CUT. On error: -errno and a
 * one-line reason in why ("a FIFO or pipe, not a regular file"). */
#define CLI_READ_CUT 1u
struct stat;
/* The open (read-only, non-blocking) descriptor of the regular file at
 * path, *st its stat; -errno and a one-line reason in why for anything
 * else (cli_read_file's checks, for callers that read into their own
 * buffer). */
int cli_open_regular(const char *path, struct stat *st, char *why, size_t whylen);
/* Largest bzImage `--kernel` reads. */
#define CLI_KERNEL_FILE_MAX (256u << 20)
int cli_read_file(const char *path, size_t max, unsigned flags, void **buf, size_t *len,
                  char *why, size_t whylen);
/* Whether a snapshot can be saved to path (before the guest runs): path is
 * a regular file or absent, and a file can be created in its folder.
 * 0, or -errno and a one-line reason in why. */
int cli_check_output(const char *path, char *why, size_t whylen);
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
