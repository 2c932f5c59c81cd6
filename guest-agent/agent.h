/*
 * agent.h - the pieces of cowvm-agent (the guest side of cowvm's Linux agent
 * window, abi/cowvm_abi.h "Linux guests: the agent window"), split so the
 * pure parts build natively into the unit tests:
 *
 *   agent_args.c      command-line parsing
 *   agent_frame.c     info-page checks, request parsing, response framing,
 *                     the entropy buffer for RNDADDENTROPY
 *   agent_transport.c the window's bounds and the hypercalls, over any
 *                     struct agent_transport (the real one: agent_devmem.c;
 *                     the tests' mock: tests/linux/agent_mock.c)
 *   agent_run.c       a shell command with its output captured and a time limit
 *   agent_serve.c     the commands (serve, info, report, exit) over a
 *                     transport and struct agent_sys
 *   agent_sys.c       the real struct agent_sys (entropy pool, clock)
 *   agent_devmem.c    the real transport: /dev/mem and port I/O
 *   agent_cov.c       fuzz input framing, KCOV PCs to AFL edges (pure)
 *   agent_fuzz.c      the fuzz command: KCOV, the AFL map, the snapshot, one
 *                     system-call program per run (sysprog.h)
 *   cowvm-agent.c     main
 *
 * Every function returns 0 (or a count) or a negative errno; none exits.
 */
#ifndef COWVM_AGENT_H
#define COWVM_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cowvm_abi.h"

/* Exit statuses of cowvm-agent itself (the guest's, not the VM's). */
#define AGENT_EXIT_OK        0
#define AGENT_EXIT_FAIL      1  /* a step failed (the reason on stderr) */
#define AGENT_EXIT_USAGE     2  /* bad arguments */
#define AGENT_EXIT_NOT_COWVM 3  /* no agent info page: not running under cowvm */

/* Status of a request that could not run (serve reports it as "status"),
 * beside the command's own exit status (0..255, 128+N for signal N). */
#define AGENT_STATUS_TIMEOUT 124 /* killed at the time limit (as timeout(1)) */
#define AGENT_STATUS_NOEXEC  125 /* malformed request, or fork/pipe failed */
#define AGENT_STATUS_NOSH    127 /* /bin/sh could not be executed */

#define AGENT_WARM_MIB_MAX   (1u << 20)  /* 1 TiB: only an overflow bound */
#define AGENT_TIMEOUT_DEFAULT 60u        /* seconds a request may run */
#define AGENT_TIMEOUT_MAX    86400u

/* ---- arguments (agent_args.c) --------------------------------------------- */
enum agent_cmd {
	AGENT_CMD_HELP = 1,
	AGENT_CMD_SERVE,
	AGENT_CMD_INFO,
	AGENT_CMD_REPORT,
	AGENT_CMD_EXIT,
	AGENT_CMD_FUZZ,
};

struct agent_args {
	enum agent_cmd cmd;
	uint64_t warm_mib;      /* serve --warm-mib N (default 0) */
	unsigned timeout_s;     /* serve --timeout SEC (default AGENT_TIMEOUT_DEFAULT) */
	const char *key;        /* report KEY (1..COWVM_HC_KEY_MAX-1 bytes) */
	uint64_t value;         /* report VALUE (decimal, 0x hex, or -N as int64) */
	unsigned status;        /* exit STATUS (0..255) */
};

/* Fills *a from argv[1..]; on a usage error returns -EINVAL with the reason
 * in err (a NUL-terminated line without the newline). */
int agent_parse_args(int argc, char *const argv[], struct agent_args *a, char *err, size_t errlen);
/* Strict numbers: the whole string, no sign (u64), decimal or 0x hex. */
int agent_parse_u64(const char *s, uint64_t *out);
extern const char agent_usage[];

/* ---- pure framing (agent_frame.c) ------------------------------------------ */
/* Checks the info page: magic (-ENODEV: not running under cowvm), version
 * (-EPROTO), and that the input and output buffers lie inside the window
 * after the hypercall page and are at most COWVM_IOBUF_SIZE (-ERANGE).
 * The reason goes to err. */
int agent_info_check(const struct cowvm_agent_info *info, char *err, size_t errlen);

/* The request in an input buffer's `size` bytes: a NUL-terminated command.
 * Sets *len to the command's length (0: no command; also for size 0).
 * -EBADMSG if no NUL lies within the buffer. */
int agent_request_parse(const uint8_t *buf, size_t size, size_t *len);

/* Frames a response for an output buffer of out_size bytes into frame
 * (at least out_size bytes): a little-endian uint64 length, then the bytes,
 * truncated to out_size - 8. Returns the frame's length (0 if out_size < 8:
 * no room for the header, nothing is stored). *stored = bytes kept. */
size_t agent_response_frame(const void *data, size_t len, size_t out_size, uint8_t *frame,
                            size_t *stored);

/* The RNDADDENTROPY argument (struct rand_pool_info, linux/random.h):
 * entropy_count = 8 * COWVM_AGENT_RANDOM bits (0 if the random bytes are all
 * zero: nothing to credit), buf = random[] || clone || generation ||
 * host_realtime_ns (little-endian). Writes it to out (cap bytes, 4-byte
 * aligned); returns its size or -ENOSPC. */
#define AGENT_ENTROPY_BYTES (COWVM_AGENT_RANDOM + 3 * 8)
int agent_entropy_build(const struct cowvm_agent_info *info, uint64_t clone, void *out, size_t cap);

/* ---- transport (agent_transport.c) ------------------------------------------ */
struct agent_transport;
struct agent_transport_ops {
	/* Copies len bytes at guest-physical gpa (inside the window, checked by
	 * the caller) from or to buf. 0 or -errno. */
	int (*read)(struct agent_transport *t, uint64_t gpa, void *buf, size_t len);
	int (*write)(struct agent_transport *t, uint64_t gpa, const void *buf, size_t len);
	/* Rings the hypercall port with the block's address; when it returns the
	 * VMM has written the block's ret. 0 or -errno (the ring itself failed). */
	int (*ring)(struct agent_transport *t, uint64_t block_gpa);
};
struct agent_transport {
	const struct agent_transport_ops *ops;
	const char *name;       /* "mmap", "pread", "mock" */
};

/* Layout of the hypercall page (COWVM_AGENT_HCALL_GPA). */
#define AGENT_BLOCK_GPA   COWVM_AGENT_HCALL_GPA            /* struct cowvm_hcall */
#define AGENT_KEY_GPA     (COWVM_AGENT_HCALL_GPA + 0x100)  /* REPORT key */
#define AGENT_TEXT_GPA    (COWVM_AGENT_HCALL_GPA + 0x200)  /* console text */
#define AGENT_TEXT_MAX    (0x1000u - 0x200u)
/* Written into ret before ringing: still there afterwards means no VMM
 * answered (agent_hcall returns -ENXIO). */
#define AGENT_RET_UNSET   INT64_MIN

/* Bounds-checked window access: -EFAULT outside [COWVM_AGENT_GPA, COWVM_AGENT_END). */
int agent_win_read(struct agent_transport *t, uint64_t gpa, void *buf, size_t len);
int agent_win_write(struct agent_transport *t, uint64_t gpa, const void *buf, size_t len);
int agent_read_info(struct agent_transport *t, struct cowvm_agent_info *info);

/* One hypercall through the block at AGENT_BLOCK_GPA; *ret = the VMM's ret.
 * Returns 0, or -errno when the call could not be made or was not answered. */
int agent_hcall(struct agent_transport *t, uint64_t nr, const uint64_t args[5], int64_t *ret);
/* The helpers return the hypercall's ret (or the transport's -errno). */
int64_t agent_hc_snapshot(struct agent_transport *t);
int64_t agent_hc_report(struct agent_transport *t, const char *key, uint64_t value);
int64_t agent_hc_exit(struct agent_transport *t, unsigned status);
/* Bytes already in the window, in COWVM_HC_WRITE_MAX chunks. */
int64_t agent_hc_write_gpa(struct agent_transport *t, uint64_t gpa, uint64_t len);
/* Bytes from agent memory, through the text area, in AGENT_TEXT_MAX chunks. */
int64_t agent_hc_print(struct agent_transport *t, const void *buf, size_t len);

/* ---- running a request (agent_run.c) ---------------------------------------- */
struct agent_run_result {
	int status;       /* exit status, 128+N (signal N), or AGENT_STATUS_* */
	size_t len;       /* bytes kept in out (<= cap) */
	size_t total;     /* bytes the command wrote (more than len: truncated) */
};
/* Runs `/bin/sh -c cmd` (stdin /dev/null, stdout and stderr into one pipe,
 * its own process group), keeping the first `cap` output bytes in out. At
 * timeout_ms the group is killed (status AGENT_STATUS_TIMEOUT); once the
 * shell has exited, what is left in the pipe is read and the group killed
 * (background children do not hold the response). Returns 0 or -errno when
 * nothing could be started (r->status is then AGENT_STATUS_NOEXEC). */
int agent_run(const char *sh, const char *cmd, unsigned timeout_ms, uint8_t *out, size_t cap,
              struct agent_run_result *r);

/* ---- the system actions of a clone (agent_sys.c; mocked in tests) ---------- */
struct agent_sys {
	/* RNDADDENTROPY with the struct rand_pool_info in buf, then a crng
	 * reseed (RNDRESEEDCRNG). 0 or -errno. */
	int (*add_entropy)(const void *buf, size_t len);
	/* clock_settime(CLOCK_REALTIME, ns since the epoch). 0 or -errno. */
	int (*set_clock)(int64_t ns);
};
extern const struct agent_sys agent_sys_real;

/* ---- the commands (agent_serve.c) ------------------------------------------- */
/* Each returns cowvm-agent's exit status (AGENT_EXIT_*, or for serve the
 * request's status when HC_EXIT returned). Messages go to `log` (stderr in
 * the guest). */
struct agent_ctx {
	struct agent_transport *t;
	const struct agent_sys *sys;
	FILE *log;
	const char *sh;         /* "/bin/sh" */
};
int agent_cmd_serve(struct agent_ctx *c, const struct agent_args *a);
int agent_cmd_info(struct agent_ctx *c, FILE *out);
int agent_cmd_report(struct agent_ctx *c, const struct agent_args *a);
int agent_cmd_exit(struct agent_ctx *c, const struct agent_args *a);
/* Checks the info page (agent_info_check) and says why it is unusable. */
int agent_check_window(struct agent_ctx *c, struct cowvm_agent_info *info);

/* Warm state: `mib` MiB, every page holding agent_warm_word(page) in each
 * qword; agent_warm_check samples up to 64 pages. */
uint64_t agent_warm_word(uint64_t page);
int agent_warm_build(uint64_t mib, uint8_t **mem);
int agent_warm_check(const uint8_t *mem, uint64_t mib);

/* ---- kernel fuzzing (agent_cov.c pure, agent_fuzz.c real) ----------------- */
/* Counts the edges of the PC sequence pcs[0..n) into map (size bytes; any
 * size, power of two or not), AFL-style: map[id(pc) ^ (id(prev) >> 1)]++. */
void agent_cov_edges(const uint64_t *pcs, size_t n, volatile uint8_t *map, size_t size);
/* The struct cowvm_fuzz_input in an input buffer of `size` bytes: *data
 * and *len name its bytes. -EMSGSIZE: buffer smaller than the header;
 * -EBADMSG: the length runs past the buffer. */
int agent_fuzz_input(const uint8_t *buf, size_t size, const uint8_t **data, size_t *len);
/* KCOV buffer: program counters kept per run (more are dropped by KCOV). */
#define AGENT_KCOV_WORDS (1u << 18)
/* The agent's own fds (/dev/mem's) live at this number and up, which a
 * program may not close or replace (sysprog policy); the fuzz command
 * closes them all before the snapshot. */
#define AGENT_FD_RESERVED 900
int agent_cmd_fuzz(struct agent_ctx *c);

/* ---- the real transport (agent_devmem.c) ------------------------------------ */
/* Opens /dev/mem and maps the window (pread/pwrite if mmap is refused).
 * Port access (iopl(3), else ioperm of the hypercall ports) is taken at the
 * first ring, after a command has checked the info page. */
int agent_devmem_open(struct agent_transport **t, char *err, size_t errlen);
/* Closes /dev/mem's fd once both windows are mapped (the mappings stay):
 * 0, or -EBUSY when the transport still needs it (pread or port I/O). */
int agent_devmem_close_fd(struct agent_transport *t);

#endif
