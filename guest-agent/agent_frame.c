/*
 * agent_frame.c - the pure data formats of cowvm-agent: the info page's
 * checks, the request (a NUL-terminated command), the response frame
 * (uint64 length + bytes) and the RNDADDENTROPY buffer. No I/O here: the
 * unit tests run all of it natively.
 */
#include "agent.h"

#include <errno.h>
#include <linux/random.h>
#include <stdarg.h>
#include <string.h>

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

/* A buffer must lie after the hypercall page and end inside the window. */
static int buf_ok(uint64_t gpa, uint64_t size)
{
	const uint64_t lo = COWVM_AGENT_HCALL_GPA + 0x1000;
	return size <= COWVM_IOBUF_SIZE && gpa >= lo && gpa <= COWVM_AGENT_END &&
	       size <= COWVM_AGENT_END - gpa;
}

int agent_info_check(const struct cowvm_agent_info *info, char *err, size_t errlen)
{
	if (errlen)
		err[0] = 0;
	if (info->magic != COWVM_AGENT_MAGIC)
		return fail(err, errlen, -ENODEV,
		            "not running under cowvm (no agent info page at %#llx: magic %#llx)",
		            (unsigned long long)COWVM_AGENT_GPA, (unsigned long long)info->magic);
	if (info->version != COWVM_AGENT_VERSION)
		return fail(err, errlen, -EPROTO, "agent info page version %u, this agent speaks %u",
		            info->version, COWVM_AGENT_VERSION);
	if (!buf_ok(info->in_gpa, info->in_size))
		return fail(err, errlen, -ERANGE,
		            "input buffer [%#llx, +%#llx) is not inside the agent window",
		            (unsigned long long)info->in_gpa, (unsigned long long)info->in_size);
	if (!buf_ok(info->out_gpa, info->out_size))
		return fail(err, errlen, -ERANGE,
		            "output buffer [%#llx, +%#llx) is not inside the agent window",
		            (unsigned long long)info->out_gpa, (unsigned long long)info->out_size);
	return 0;
}

int agent_request_parse(const uint8_t *buf, size_t size, size_t *len)
{
	if (size == 0) {
		*len = 0;
		return 0;
	}
	const uint8_t *nul = memchr(buf, 0, size);
	if (!nul)
		return -EBADMSG;
	*len = (size_t)(nul - buf);
	return 0;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
#define put_le32(p, v) put_le((p), (v), 4)
#define put_le64(p, v) put_le((p), (v), 8)

size_t agent_response_frame(const void *data, size_t len, size_t out_size, uint8_t *frame,
                            size_t *stored)
{
	*stored = 0;
	if (out_size < COWVM_MSG_HDR)
		return 0;
	size_t n = len < out_size - COWVM_MSG_HDR ? len : out_size - COWVM_MSG_HDR;
	if (n > COWVM_MSG_MAX)
		n = COWVM_MSG_MAX;
	/* struct cowvm_msg (abi/cowvm_abi.h): what `cowvm clone --reports/--json`
	 * and the SDK read from an output buffer. */
	put_le32(frame, COWVM_MSG_MAGIC);
	put_le32(frame + 4, (uint32_t)n);
	if (n)
		memcpy(frame + 8, data, n);
	*stored = n;
	return COWVM_MSG_HDR + n;
}

int agent_entropy_build(const struct cowvm_agent_info *info, uint64_t clone, void *out, size_t cap)
{
	size_t need = sizeof(struct rand_pool_info) + AGENT_ENTROPY_BYTES;
	_Static_assert(AGENT_ENTROPY_BYTES % 4 == 0, "rand_pool_info.buf is __u32[]");
	if (cap < need)
		return -ENOSPC;
	struct rand_pool_info *p = out;
	uint8_t *b = (uint8_t *)p->buf;
	int any = 0;
	for (unsigned i = 0; i < COWVM_AGENT_RANDOM; i++)
		any |= info->random[i];
	p->entropy_count = any ? 8 * COWVM_AGENT_RANDOM : 0;
	p->buf_size = AGENT_ENTROPY_BYTES;
	memcpy(b, info->random, COWVM_AGENT_RANDOM);
	put_le64(b + COWVM_AGENT_RANDOM, clone);
	put_le64(b + COWVM_AGENT_RANDOM + 8, info->generation);
	put_le64(b + COWVM_AGENT_RANDOM + 16, (uint64_t)info->host_realtime_ns);
	return (int)need;
}
