/*
 * agent_mock.h - a mock agent window for tests/linux/test_agent_unit.c: the
 * window is a plain array, a ring is handled here the way cowvm's hypercall
 * table would (WRITE, REPORT, EXIT, SNAPSHOT checked and recorded), and the
 * system actions (entropy, clock) only record their arguments. No /dev/mem,
 * no port I/O, no change to the host's clock or entropy pool.
 */
#ifndef COWVM_TESTS_AGENT_MOCK_H
#define COWVM_TESTS_AGENT_MOCK_H

#include "agent.h"

#define MOCK_WIN_LEN   (COWVM_AGENT_END - COWVM_AGENT_GPA)
#define MOCK_MAX_CALLS 64
#define MOCK_CONSOLE   (256 * 1024)

struct mock_call {
	uint64_t nr;
	uint64_t args[5];
	char key[COWVM_HC_KEY_MAX]; /* REPORT: the key read from the window */
};

struct agent_mock {
	struct agent_transport t;   /* first */
	uint8_t win[MOCK_WIN_LEN];
	/* script */
	int64_t snapshot_ret;       /* what COWVM_HC_SNAPSHOT returns */
	void (*on_snapshot)(struct agent_mock *m); /* e.g. the clone's info page */
	int ring_error;             /* ring returns this (-errno) */
	int no_answer;              /* ring leaves ret untouched */
	/* record */
	struct mock_call calls[MOCK_MAX_CALLS];
	unsigned ncalls;
	unsigned bad_access;        /* ops called outside the window */
	char console[MOCK_CONSOLE];
	size_t console_len;
	void *user;
};

/* A mock with a valid info page (the ABI's buffers, clone_id 0). */
void mock_init(struct agent_mock *m);
struct cowvm_agent_info *mock_info(struct agent_mock *m);
uint8_t *mock_at(struct agent_mock *m, uint64_t gpa);
/* The value of the last REPORT of key; -1 (as uint64) and *found 0 if none. */
uint64_t mock_report(const struct agent_mock *m, const char *key, int *found);
unsigned mock_count(const struct agent_mock *m, uint64_t nr);

/* struct agent_sys that records. */
struct mock_sys_rec {
	uint8_t entropy[256];
	size_t entropy_len;
	unsigned entropy_calls;
	int64_t clock_ns;
	unsigned clock_calls;
	int entropy_ret, clock_ret;
};
extern struct mock_sys_rec mock_sys_rec;
extern const struct agent_sys mock_sys;

#endif
