/*
 * cowvm-agent.c - the guest agent of cowvm: a static Linux program that talks
 * to cowvm from a Linux guest's user space, through the agent window
 * (abi/cowvm_abi.h "Linux guests: the agent window"). Run as root.
 *
 * Transport: /dev/mem maps [COWVM_AGENT_GPA, COWVM_AGENT_END) (pread/pwrite
 * if mmap is refused); a struct cowvm_hcall is built at
 * COWVM_AGENT_HCALL_GPA and its address written with a 32-bit OUT to
 * COWVM_HC_PORT (iopl(3)); the VMM writes ret into the block before the OUT
 * completes. The info page's magic and version are checked first: without
 * them "not running under cowvm" (exit 3) and no port is touched.
 *
 * Commands:
 *   serve [--warm-mib N] [--timeout SEC]
 *       N MiB of warm state (malloc, a pattern in every page, kept), then
 *       COWVM_HC_SNAPSHOT:
 *       ret 0 (the original, after the snapshot): report agent_original=1,
 *           COWVM_HC_EXIT(0);
 *       ret N >= 1 (clone N), or ret < 0 (no snapshots: served as clone 0):
 *         a. not twins: the info page's random bytes, N, generation and host
 *            time into the entropy pool (RNDADDENTROPY crediting 256 bits,
 *            then RNDRESEEDCRNG); CLOCK_REALTIME = host_realtime_ns;
 *         b. the input buffer's NUL-terminated command runs as /bin/sh -c
 *            (stdin /dev/null, stdout+stderr captured, SEC seconds, default
 *            60); the output buffer gets a little-endian uint64 length and
 *            the bytes (truncated to fit); the same bytes go to the console
 *            (COWVM_HC_WRITE);
 *         c. reports warm_ok (with --warm-mib: sampled pages still hold the
 *            pattern), clone=N, status=S; COWVM_HC_EXIT(S & 0xff).
 *       S: the command's exit status, 128+N for signal N, 124 time limit,
 *       125 malformed request (no NUL in the buffer), 127 no /bin/sh;
 *       an empty command is status 0 with an empty response.
 *   fuzz                 kernel fuzzing (agent_fuzz.c): KCOV, the AFL map,
 *                        snapshot, one system-call program per run
 *   info                 the info page's fields
 *   report KEY VALUE     one COWVM_HC_REPORT
 *   exit STATUS          COWVM_HC_EXIT(STATUS)
 * Exit status (when the VM goes on): 0, 1 failure, 2 usage, 3 not under cowvm.
 */
#include "agent.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct agent_args a;
	char err[256];
	if (agent_parse_args(argc, argv, &a, err, sizeof(err))) {
		fprintf(stderr, "cowvm-agent: %s\n%s", err, agent_usage);
		return AGENT_EXIT_USAGE;
	}
	if (a.cmd == AGENT_CMD_HELP) {
		fputs(agent_usage, stdout);
		return AGENT_EXIT_OK;
	}
	struct agent_transport *t;
	if (agent_devmem_open(&t, err, sizeof(err))) {
		fprintf(stderr, "cowvm-agent: %s\n", err);
		return AGENT_EXIT_FAIL;
	}
	struct agent_ctx c = { .t = t, .sys = &agent_sys_real, .log = stderr, .sh = "/bin/sh" };
	/* The console is a serial line: one write per line at most. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	switch (a.cmd) {
	case AGENT_CMD_SERVE:
		return agent_cmd_serve(&c, &a);
	case AGENT_CMD_FUZZ:
		return agent_cmd_fuzz(&c);
	case AGENT_CMD_INFO:
		return agent_cmd_info(&c, stdout);
	case AGENT_CMD_REPORT:
		return agent_cmd_report(&c, &a);
	case AGENT_CMD_EXIT:
		return agent_cmd_exit(&c, &a);
	default:
		return AGENT_EXIT_USAGE;
	}
}
