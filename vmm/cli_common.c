/* cli_common.c - what every cowvm subcommand shares (see cli.h). */
#include <stdio.h>

#include "cli.h"
#include "cowvm_abi.h"

int cli_usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "cowvm %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try cowvm help %s)\n", cmd);
	return COWVM_EXIT_USAGE;
}
