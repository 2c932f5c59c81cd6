/*
 * agent_args.c - cowvm-agent's command line: the usage text and a strict
 * parser (every number whole, in range; every extra word refused).
 */
#include "agent.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

const char agent_usage[] =
	"usage: cowvm-agent COMMAND [ARGS]\n"
	"The guest side of cowvm's Linux agent window (run as root under cowvm).\n"
	"\n"
	"  serve [--warm-mib N] [--timeout SEC]\n"
	"        build N MiB of warm state (default 0), then ask cowvm for a snapshot.\n"
	"        In the original: report agent_original=1 and end the VM (status 0).\n"
	"        In clone N: mix the host's random bytes into the entropy pool, set\n"
	"        the clock from the host's, run the input buffer's command with\n"
	"        /bin/sh -c (at most SEC seconds, default 60), put its output in the\n"
	"        output buffer and on the console, report clone=N and status=S, end\n"
	"        the VM with status S. Without snapshots (-ENOSYS) serve as clone 0.\n"
	"  fuzz  kernel fuzzing under `cowvm fuzz-target --kernel`: turn KCOV on,\n"
	"        map cowvm's AFL map, ask for a snapshot; then (every run) run the\n"
	"        input buffer's system-call program (docs/sysprog.md), count its\n"
	"        kernel coverage into the map as AFL edges, end the VM with status 0\n"
	"  info  print the agent info page\n"
	"  report KEY VALUE\n"
	"        one COWVM_HC_REPORT (KEY 1..63 bytes; VALUE decimal, 0x hex or -N)\n"
	"  exit STATUS\n"
	"        end the VM with STATUS (0..255)\n"
	"  help, -h, --help\n"
	"        this text\n"
	"\n"
	"Request: a NUL-terminated shell command at the start of the input buffer\n"
	"(empty: no command). Response: a little-endian uint64 length, then that\n"
	"many bytes of the command's stdout and stderr (truncated to the buffer).\n"
	"Status: the command's exit status, 128+N if signal N ended it, 124 at the\n"
	"time limit, 125 for a malformed request, 127 if /bin/sh did not run.\n"
	"Exit status of cowvm-agent: 0 done, 1 failure, 2 usage, 3 not running under cowvm.\n";

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int agent_parse_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return -EINVAL;
	}
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

/* VALUE of report: a u64, or -N (N <= 2^63) stored as the int64's bits. */
static int parse_value(const char *s, uint64_t *out)
{
	uint64_t v;
	if (s && s[0] == '-') {
		int r = agent_parse_u64(s + 1, &v);
		if (r)
			return r;
		if (v > (1ull << 63))
			return -ERANGE;
		*out = (uint64_t)0 - v;
		return 0;
	}
	return agent_parse_u64(s, out);
}

static int parse_serve(int argc, char *const argv[], int i, struct agent_args *a, char *err,
                       size_t errlen)
{
	for (; i < argc; i++) {
		const char *opt = argv[i], *val = NULL;
		const char *eq = strchr(opt, '=');
		size_t olen = eq ? (size_t)(eq - opt) : strlen(opt);
		int is_warm = olen == 10 && !strncmp(opt, "--warm-mib", 10);
		int is_timeout = olen == 9 && !strncmp(opt, "--timeout", 9);
		if (!is_warm && !is_timeout)
			return fail(err, errlen, "serve: unknown argument '%s'", opt);
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return fail(err, errlen, "serve: %s needs a number", opt);
		uint64_t v;
		if (agent_parse_u64(val, &v))
			return fail(err, errlen, "serve: %.*s '%s' is not a number", (int)olen, opt, val);
		if (is_warm) {
			if (v > AGENT_WARM_MIB_MAX)
				return fail(err, errlen, "serve: --warm-mib %llu is over %u",
				            (unsigned long long)v, AGENT_WARM_MIB_MAX);
			a->warm_mib = v;
		} else {
			if (v == 0 || v > AGENT_TIMEOUT_MAX)
				return fail(err, errlen, "serve: --timeout %llu is not in 1..%u",
				            (unsigned long long)v, AGENT_TIMEOUT_MAX);
			a->timeout_s = (unsigned)v;
		}
	}
	return 0;
}

int agent_parse_args(int argc, char *const argv[], struct agent_args *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->timeout_s = AGENT_TIMEOUT_DEFAULT;
	if (errlen)
		err[0] = 0;
	if (argc < 2 || !argv[1])
		return fail(err, errlen, "a command is missing (serve, fuzz, info, report, exit, help)");
	const char *cmd = argv[1];
	int nargs = argc - 2;
	if (!strcmp(cmd, "help") || !strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		a->cmd = AGENT_CMD_HELP;
		return 0;
	}
	if (!strcmp(cmd, "serve")) {
		a->cmd = AGENT_CMD_SERVE;
		return parse_serve(argc, argv, 2, a, err, errlen);
	}
	if (!strcmp(cmd, "fuzz")) {
		if (nargs)
			return fail(err, errlen, "fuzz takes no arguments");
		a->cmd = AGENT_CMD_FUZZ;
		return 0;
	}
	if (!strcmp(cmd, "info")) {
		if (nargs)
			return fail(err, errlen, "info takes no arguments");
		a->cmd = AGENT_CMD_INFO;
		return 0;
	}
	if (!strcmp(cmd, "report")) {
		if (nargs != 2)
			return fail(err, errlen, "report needs KEY VALUE");
		size_t klen = strlen(argv[2]);
		if (klen == 0 || klen >= COWVM_HC_KEY_MAX)
			return fail(err, errlen, "report: KEY must be 1..%u bytes (got %zu)",
			            COWVM_HC_KEY_MAX - 1, klen);
		if (parse_value(argv[3], &a->value))
			return fail(err, errlen, "report: VALUE '%s' is not a 64-bit number", argv[3]);
		a->key = argv[2];
		a->cmd = AGENT_CMD_REPORT;
		return 0;
	}
	if (!strcmp(cmd, "exit")) {
		uint64_t v;
		if (nargs != 1)
			return fail(err, errlen, "exit needs STATUS");
		if (agent_parse_u64(argv[2], &v) || v > 255)
			return fail(err, errlen, "exit: STATUS '%s' is not in 0..255", argv[2]);
		a->status = (unsigned)v;
		a->cmd = AGENT_CMD_EXIT;
		return 0;
	}
	return fail(err, errlen, "unknown command '%s' (serve, fuzz, info, report, exit, help)", cmd);
}
