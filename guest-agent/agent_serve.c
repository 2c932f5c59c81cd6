/*
 * agent_serve.c - cowvm-agent's commands over a transport and the system
 * actions (struct agent_ctx): serve (warm up, snapshot, answer one request
 * per clone), info, report, exit. The unit tests run them against a mock
 * transport and mock system actions.
 */
#include "agent.h"

#include <errno.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define WARM_SAMPLES 64 /* pages agent_warm_check reads */

int agent_check_window(struct agent_ctx *c, struct cowvm_agent_info *info)
{
	char err[160];
	int r = agent_read_info(c->t, info);
	if (r) {
		fprintf(c->log, "cowvm-agent: cannot read the agent info page: %s\n", strerror(-r));
		return AGENT_EXIT_FAIL;
	}
	r = agent_info_check(info, err, sizeof(err));
	if (r) {
		fprintf(c->log, "cowvm-agent: %s\n", err);
		return r == -ENODEV ? AGENT_EXIT_NOT_COWVM : AGENT_EXIT_FAIL;
	}
	return 0;
}

/* ---- warm state ----------------------------------------------------------------- */
uint64_t agent_warm_word(uint64_t page)
{
	return cowvm_warm_value(page) ^ 0x6d726177746e6761ull; /* "agntwarm" */
}

int agent_warm_build(uint64_t mib, uint8_t **mem)
{
	*mem = NULL;
	if (mib == 0)
		return 0;
	if (mib > AGENT_WARM_MIB_MAX)
		return -EINVAL;
	size_t bytes = (size_t)mib << 20;
	uint8_t *m = malloc(bytes);
	if (!m)
		return -ENOMEM;
	for (uint64_t page = 0; page < bytes / 4096; page++) {
		uint64_t w = agent_warm_word(page);
		uint64_t *q = (uint64_t *)(m + page * 4096);
		for (unsigned i = 0; i < 4096 / 8; i++)
			q[i] = w;
	}
	*mem = m;
	return 0;
}

int agent_warm_check(const uint8_t *mem, uint64_t mib)
{
	uint64_t pages = mib * 256;
	if (!mem || pages == 0)
		return 0;
	uint64_t stride = pages > WARM_SAMPLES ? pages / WARM_SAMPLES : 1;
	for (uint64_t page = 0; page < pages; page += stride) {
		const uint64_t *q = (const uint64_t *)(mem + page * 4096);
		uint64_t w = agent_warm_word(page);
		for (unsigned i = 0; i < 4096 / 8; i++)
			if (q[i] != w)
				return -EIO;
	}
	return 0;
}

/* ---- serve ------------------------------------------------------------------------ */
static void report(struct agent_ctx *c, const char *key, uint64_t value)
{
	int64_t r = agent_hc_report(c->t, key, value);
	if (r < 0)
		fprintf(c->log, "cowvm-agent: report %s: %s\n", key, strerror((int)-r));
}

/* (a) not twins: fresh entropy and the host's time. Failures are logged,
 * not fatal: the request is still answered. */
static void individualize(struct agent_ctx *c, const struct cowvm_agent_info *info, uint64_t clone)
{
	alignas(8) uint8_t pool[128];
	int n = agent_entropy_build(info, clone, pool, sizeof(pool));
	if (n > 0) {
		static const uint8_t zero[COWVM_AGENT_RANDOM];
		if (!memcmp(info->random, zero, sizeof(zero)))
			fprintf(c->log, "cowvm-agent: the info page has no random bytes: nothing credited\n");
		int r = c->sys->add_entropy(pool, (size_t)n);
		if (r)
			fprintf(c->log, "cowvm-agent: adding entropy: %s\n", strerror(-r));
	}
	if (info->host_realtime_ns > 0) {
		int r = c->sys->set_clock(info->host_realtime_ns);
		if (r)
			fprintf(c->log, "cowvm-agent: setting the clock: %s\n", strerror(-r));
	} else {
		fprintf(c->log, "cowvm-agent: no host time in the info page (%" PRId64 "): clock kept\n",
		        info->host_realtime_ns);
	}
}

/* (b) the request: returns its status; the response bytes go to resp. */
static int run_request(struct agent_ctx *c, const struct agent_args *a,
                       const struct cowvm_agent_info *info, uint8_t *resp, size_t cap, size_t *len)
{
	uint8_t *in = malloc(info->in_size + 1);
	size_t clen;
	int status;
	*len = 0;
	if (!in) {
		*len = (size_t)snprintf((char *)resp, cap, "cowvm-agent: out of memory for the request\n");
		return AGENT_STATUS_NOEXEC;
	}
	int r = agent_win_read(c->t, info->in_gpa, in, info->in_size);
	if (!r)
		r = agent_request_parse(in, info->in_size, &clen);
	if (r) {
		int m = snprintf((char *)resp, cap, "cowvm-agent: bad request: %s\n",
		                 r == -EBADMSG ? "no NUL in the input buffer" : strerror(-r));
		status = AGENT_STATUS_NOEXEC;
		*len = m < 0 ? 0 : (size_t)m < cap ? (size_t)m : cap;
	} else if (clen == 0) {
		status = 0;
	} else {
		struct agent_run_result rr;
		r = agent_run(c->sh, (const char *)in, a->timeout_s * 1000u, resp, cap, &rr);
		if (r) {
			int m = snprintf((char *)resp, cap, "cowvm-agent: cannot run the request: %s\n",
			                 strerror(-r));
			*len = m < 0 ? 0 : (size_t)m < cap ? (size_t)m : cap;
		} else {
			*len = rr.len;
		}
		status = rr.status;
	}
	free(in);
	return status;
}

static int serve_clone(struct agent_ctx *c, const struct agent_args *a, uint64_t clone,
                       const uint8_t *warm)
{
	struct cowvm_agent_info info;
	/* The clone's own info page (the VMM rewrote it before resuming us). */
	int rc = agent_check_window(c, &info);
	if (rc)
		return rc;
	if (info.clone_id != clone)
		fprintf(c->log, "cowvm-agent: the info page says clone %" PRIu64 ", the snapshot call %" PRIu64 "\n",
		        info.clone_id, clone);
	individualize(c, &info, clone);

	size_t cap = info.out_size >= 8 ? info.out_size - 8 : 0;
	uint8_t *resp = malloc(cap + 1), *frame = malloc(info.out_size + 1);
	if (!resp || !frame) {
		free(resp);
		free(frame);
		fprintf(c->log, "cowvm-agent: out of memory for the response\n");
		return AGENT_EXIT_FAIL;
	}
	size_t len, stored;
	int status = run_request(c, a, &info, resp, cap, &len);
	size_t flen = agent_response_frame(resp, len, info.out_size, frame, &stored);
	int r = agent_win_write(c->t, info.out_gpa, frame, flen);
	if (r)
		fprintf(c->log, "cowvm-agent: writing the response: %s\n", strerror(-r));
	else if (stored) {
		int64_t w = agent_hc_write_gpa(c->t, info.out_gpa + 8, stored);
		if (w < 0)
			fprintf(c->log, "cowvm-agent: console write: %s\n", strerror((int)-w));
	}
	free(resp);
	free(frame);

	if (a->warm_mib)
		report(c, "warm_ok", agent_warm_check(warm, a->warm_mib) == 0);
	report(c, "clone", clone);
	report(c, "status", (uint64_t)status);
	int64_t e = agent_hc_exit(c->t, (unsigned)status & 0xff);
	if (e < 0)
		fprintf(c->log, "cowvm-agent: exit: %s\n", strerror((int)-e));
	return status & 0xff;
}

int agent_cmd_serve(struct agent_ctx *c, const struct agent_args *a)
{
	struct cowvm_agent_info info;
	int rc = agent_check_window(c, &info);
	if (rc)
		return rc;
	uint8_t *warm;
	int r = agent_warm_build(a->warm_mib, &warm);
	if (r) {
		fprintf(c->log, "cowvm-agent: cannot build %" PRIu64 " MiB of warm state: %s\n",
		        a->warm_mib, strerror(-r));
		return AGENT_EXIT_FAIL;
	}
	int64_t s = agent_hc_snapshot(c->t);
	if (s == 0) {
		report(c, "agent_original", 1);
		int64_t e = agent_hc_exit(c->t, 0);
		if (e < 0)
			fprintf(c->log, "cowvm-agent: exit: %s\n", strerror((int)-e));
		rc = AGENT_EXIT_OK;
	} else {
		uint64_t clone = 0;
		if (s < 0)
			fprintf(c->log, "cowvm-agent: no snapshot (%s): serving as clone 0\n",
			        strerror((int)-s));
		else
			clone = (uint64_t)s;
		rc = serve_clone(c, a, clone, warm);
	}
	free(warm); /* only reached when the VM did not end */
	return rc;
}

/* ---- info, report, exit ------------------------------------------------------------ */
/* Prints the fields as they are (for debugging), then checks them. */
int agent_cmd_info(struct agent_ctx *c, FILE *out)
{
	struct cowvm_agent_info info;
	int r = agent_read_info(c->t, &info);
	if (r) {
		fprintf(c->log, "cowvm-agent: cannot read the agent info page: %s\n", strerror(-r));
		return AGENT_EXIT_FAIL;
	}
	fprintf(out, "magic            %#" PRIx64 "\n", info.magic);
	fprintf(out, "version          %u\n", info.version);
	fprintf(out, "ncpus            %u\n", info.ncpus);
	fprintf(out, "input            %#" PRIx64 " + %#" PRIx64 "\n", info.in_gpa, info.in_size);
	fprintf(out, "output           %#" PRIx64 " + %#" PRIx64 "\n", info.out_gpa, info.out_size);
	fprintf(out, "clone_id         %" PRIu64 "\n", info.clone_id);
	fprintf(out, "generation       %" PRIu64 "\n", info.generation);
	fprintf(out, "host_realtime_ns %" PRId64 "\n", info.host_realtime_ns);
	fprintf(out, "random           ");
	for (unsigned i = 0; i < COWVM_AGENT_RANDOM; i++)
		fprintf(out, "%02x", info.random[i]);
	fprintf(out, "\ncoverage         %#" PRIx64 " + %#" PRIx64 "\n", info.cov_gpa, info.cov_size);
	fprintf(out, "transport        %s\n", c->t->name);
	fflush(out);
	return agent_check_window(c, &info);
}

int agent_cmd_report(struct agent_ctx *c, const struct agent_args *a)
{
	struct cowvm_agent_info info;
	int rc = agent_check_window(c, &info);
	if (rc)
		return rc;
	int64_t r = agent_hc_report(c->t, a->key, a->value);
	if (r < 0) {
		fprintf(c->log, "cowvm-agent: report %s: %s\n", a->key, strerror((int)-r));
		return AGENT_EXIT_FAIL;
	}
	return AGENT_EXIT_OK;
}

int agent_cmd_exit(struct agent_ctx *c, const struct agent_args *a)
{
	struct cowvm_agent_info info;
	int rc = agent_check_window(c, &info);
	if (rc)
		return rc;
	int64_t r = agent_hc_exit(c->t, a->status);
	if (r < 0) {
		fprintf(c->log, "cowvm-agent: exit: %s\n", strerror((int)-r));
		return AGENT_EXIT_FAIL;
	}
	return (int)a->status;
}
