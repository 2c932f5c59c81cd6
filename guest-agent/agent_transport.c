/*
 * agent_transport.c - the agent window over a struct agent_transport:
 * every access bounds-checked against [COWVM_AGENT_GPA, COWVM_AGENT_END),
 * and the hypercalls (a struct cowvm_hcall at AGENT_BLOCK_GPA, its address
 * rung on COWVM_HC_PORT, the VMM's ret read back from the block).
 */
#include "agent.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static int in_window(uint64_t gpa, size_t len)
{
	return gpa >= COWVM_AGENT_GPA && gpa <= COWVM_AGENT_END && len <= COWVM_AGENT_END - gpa;
}

int agent_win_read(struct agent_transport *t, uint64_t gpa, void *buf, size_t len)
{
	if (!in_window(gpa, len))
		return -EFAULT;
	return len ? t->ops->read(t, gpa, buf, len) : 0;
}

int agent_win_write(struct agent_transport *t, uint64_t gpa, const void *buf, size_t len)
{
	if (!in_window(gpa, len))
		return -EFAULT;
	return len ? t->ops->write(t, gpa, buf, len) : 0;
}

int agent_read_info(struct agent_transport *t, struct cowvm_agent_info *info)
{
	return agent_win_read(t, COWVM_AGENT_GPA, info, sizeof(*info));
}

int agent_hcall(struct agent_transport *t, uint64_t nr, const uint64_t args[5], int64_t *ret)
{
	struct cowvm_hcall hc = { .nr = nr, .ret = AGENT_RET_UNSET };
	if (args)
		memcpy(hc.args, args, sizeof(hc.args));
	int r = agent_win_write(t, AGENT_BLOCK_GPA, &hc, sizeof(hc));
	if (r)
		return r;
	r = t->ops->ring(t, AGENT_BLOCK_GPA);
	if (r)
		return r;
	int64_t v;
	r = agent_win_read(t, AGENT_BLOCK_GPA + offsetof(struct cowvm_hcall, ret), &v, sizeof(v));
	if (r)
		return r;
	if (v == AGENT_RET_UNSET)
		return -ENXIO; /* nobody wrote ret: no cowvm behind the port */
	*ret = v;
	return 0;
}

static int64_t call(struct agent_transport *t, uint64_t nr, uint64_t a0, uint64_t a1)
{
	uint64_t args[5] = { a0, a1, 0, 0, 0 };
	int64_t ret;
	int r = agent_hcall(t, nr, args, &ret);
	return r ? r : ret;
}

int64_t agent_hc_snapshot(struct agent_transport *t)
{
	return call(t, COWVM_HC_SNAPSHOT, 0, 0);
}

int64_t agent_hc_exit(struct agent_transport *t, unsigned status)
{
	return call(t, COWVM_HC_EXIT, status & 0xff, 0);
}

int64_t agent_hc_report(struct agent_transport *t, const char *key, uint64_t value)
{
	char k[COWVM_HC_KEY_MAX];
	size_t n = strnlen(key, sizeof(k));
	if (n == 0 || n >= sizeof(k))
		return -EINVAL;
	memcpy(k, key, n + 1);
	int r = agent_win_write(t, AGENT_KEY_GPA, k, n + 1);
	if (r)
		return r;
	return call(t, COWVM_HC_REPORT, AGENT_KEY_GPA, value);
}

int64_t agent_hc_write_gpa(struct agent_transport *t, uint64_t gpa, uint64_t len)
{
	if (!in_window(gpa, len))
		return -EFAULT;
	while (len) {
		uint64_t n = len < COWVM_HC_WRITE_MAX ? len : COWVM_HC_WRITE_MAX;
		int64_t r = call(t, COWVM_HC_WRITE, gpa, n);
		if (r < 0)
			return r;
		gpa += n;
		len -= n;
	}
	return 0;
}

int64_t agent_hc_print(struct agent_transport *t, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		size_t n = len < AGENT_TEXT_MAX ? len : AGENT_TEXT_MAX;
		int r = agent_win_write(t, AGENT_TEXT_GPA, p, n);
		if (r)
			return r;
		int64_t w = call(t, COWVM_HC_WRITE, AGENT_TEXT_GPA, n);
		if (w < 0)
			return w;
		p += n;
		len -= n;
	}
	return 0;
}
