/*
 * agent_mock.c - the mock agent window and system actions (agent_mock.h).
 */
#include "agent_mock.h"

#include <errno.h>
#include <string.h>

static int in_win(uint64_t gpa, size_t len)
{
	return gpa >= COWVM_AGENT_GPA && gpa <= COWVM_AGENT_END && len <= COWVM_AGENT_END - gpa;
}

uint8_t *mock_at(struct agent_mock *m, uint64_t gpa)
{
	return m->win + (gpa - COWVM_AGENT_GPA);
}

struct cowvm_agent_info *mock_info(struct agent_mock *m)
{
	return (struct cowvm_agent_info *)m->win;
}

static int m_read(struct agent_transport *t, uint64_t gpa, void *buf, size_t len)
{
	struct agent_mock *m = (struct agent_mock *)t;
	if (!in_win(gpa, len)) {
		m->bad_access++;
		return -EFAULT;
	}
	memcpy(buf, mock_at(m, gpa), len);
	return 0;
}

static int m_write(struct agent_transport *t, uint64_t gpa, const void *buf, size_t len)
{
	struct agent_mock *m = (struct agent_mock *)t;
	if (!in_win(gpa, len)) {
		m->bad_access++;
		return -EFAULT;
	}
	memcpy(mock_at(m, gpa), buf, len);
	return 0;
}

/* The VMM's side of one hypercall. */
static int64_t handle(struct agent_mock *m, struct mock_call *c)
{
	switch (c->nr) {
	case COWVM_HC_WRITE:
		if (c->args[1] > COWVM_HC_WRITE_MAX)
			return -E2BIG;
		if (!in_win(c->args[0], c->args[1]))
			return -EFAULT;
		if (m->console_len + c->args[1] > sizeof(m->console))
			return -ENOSPC;
		memcpy(m->console + m->console_len, mock_at(m, c->args[0]), c->args[1]);
		m->console_len += c->args[1];
		return 0;
	case COWVM_HC_REPORT: {
		if (!in_win(c->args[0], 1))
			return -EINVAL;
		size_t avail = COWVM_AGENT_END - c->args[0];
		const char *k = (const char *)mock_at(m, c->args[0]);
		size_t n = strnlen(k, avail < COWVM_HC_KEY_MAX ? avail : COWVM_HC_KEY_MAX);
		if (n == 0 || n == COWVM_HC_KEY_MAX || n == avail)
			return -EINVAL;
		memcpy(c->key, k, n);
		c->key[n] = 0;
		return 0;
	}
	case COWVM_HC_EXIT:
		return 0;
	case COWVM_HC_SNAPSHOT:
		if (m->on_snapshot)
			m->on_snapshot(m);
		return m->snapshot_ret;
	default:
		return -ENOSYS;
	}
}

static int m_ring(struct agent_transport *t, uint64_t block_gpa)
{
	struct agent_mock *m = (struct agent_mock *)t;
	struct cowvm_hcall hc;
	if (m->ring_error)
		return m->ring_error;
	if (!in_win(block_gpa, sizeof(hc)) || (block_gpa & 7)) {
		m->bad_access++;
		return -EFAULT;
	}
	memcpy(&hc, mock_at(m, block_gpa), sizeof(hc));
	if (m->ncalls >= MOCK_MAX_CALLS)
		return -ENOSPC;
	struct mock_call *c = &m->calls[m->ncalls++];
	memset(c, 0, sizeof(*c));
	c->nr = hc.nr;
	memcpy(c->args, hc.args, sizeof(c->args));
	if (m->no_answer)
		return 0;
	hc.ret = handle(m, c);
	memcpy(mock_at(m, block_gpa), &hc, sizeof(hc));
	return 0;
}

static const struct agent_transport_ops mock_ops = { m_read, m_write, m_ring };

void mock_init(struct agent_mock *m)
{
	memset(m, 0, sizeof(*m));
	m->t.ops = &mock_ops;
	m->t.name = "mock";
	struct cowvm_agent_info *i = mock_info(m);
	i->magic = COWVM_AGENT_MAGIC;
	i->version = COWVM_AGENT_VERSION;
	i->ncpus = 2;
	i->in_gpa = COWVM_AGENT_IN_GPA;
	i->in_size = COWVM_IOBUF_SIZE;
	i->out_gpa = COWVM_AGENT_OUT_GPA;
	i->out_size = COWVM_IOBUF_SIZE;
}

uint64_t mock_report(const struct agent_mock *m, const char *key, int *found)
{
	uint64_t v = (uint64_t)-1;
	*found = 0;
	for (unsigned i = 0; i < m->ncalls; i++)
		if (m->calls[i].nr == COWVM_HC_REPORT && !strcmp(m->calls[i].key, key)) {
			v = m->calls[i].args[1];
			*found = 1;
		}
	return v;
}

unsigned mock_count(const struct agent_mock *m, uint64_t nr)
{
	unsigned n = 0;
	for (unsigned i = 0; i < m->ncalls; i++)
		n += m->calls[i].nr == nr;
	return n;
}

struct mock_sys_rec mock_sys_rec;

static int s_entropy(const void *buf, size_t len)
{
	mock_sys_rec.entropy_calls++;
	mock_sys_rec.entropy_len = len < sizeof(mock_sys_rec.entropy) ? len : sizeof(mock_sys_rec.entropy);
	memcpy(mock_sys_rec.entropy, buf, mock_sys_rec.entropy_len);
	return mock_sys_rec.entropy_ret;
}

static int s_clock(int64_t ns)
{
	mock_sys_rec.clock_calls++;
	mock_sys_rec.clock_ns = ns;
	return mock_sys_rec.clock_ret;
}

const struct agent_sys mock_sys = { s_entropy, s_clock };
