/*
 * boot_info.c - the guest SDK's boot-info accessors (libcowguest): name,
 * arguments, vCPU count, RAM size, buffers, and the request/response
 * messages in the buffers. Each call reads the FDT afresh through the
 * bounds-checked reader (fdt.c): the blob is read-only and small, and no
 * state means every vCPU may call these at any time.
 */
#include "sdk_int.h"

#define ARGS_PATH "/chosen/" COWVM_FDT_ARGS_NODE

static int view(struct fdt_view *v)
{
	uint64_t a = __atomic_load_n(&cg_fdt_addr, __ATOMIC_RELAXED);
	return a ? fdt_open(v, a) : -1;
}

int cg_boot_pair(const char *name, uint64_t *a, uint64_t *b)
{
	struct fdt_view v;
	return view(&v) || fdt_u64_pair(&v, "/chosen", name, a, b) ? -1 : 0;
}

static void pair(const char *name, uint64_t *a, uint64_t *b)
{
	if (cg_boot_pair(name, a, b))
		*a = *b = 0; /* cg_start checked they exist */
}

const char *cg_name(void)
{
	struct fdt_view v;
	const char *s = view(&v) ? 0 : fdt_string(&v, "/chosen", COWVM_FDT_WORKLOAD);
	return s ? s : "";
}

const char *cg_arg(const char *key)
{
	struct fdt_view v;
	return view(&v) ? 0 : fdt_string(&v, ARGS_PATH, key);
}

int cg_arg_u64(const char *key, uint64_t dflt, uint64_t *out)
{
	const char *s = cg_arg(key);
	*out = dflt;
	if (!s)
		return 0;
	return cg_parse_u64(s, out) ? (*out = dflt, -1) : 0;
}

/* Argument i with a terminated string value, or NULL. */
static const char *arg_at(const struct fdt_view *v, unsigned i, const char **key)
{
	uint32_t len;
	const char *p = fdt_prop_at(v, ARGS_PATH, i, key, &len);
	if (p && (!len || p[len - 1]))
		return "";  /* not a string (the VMM writes none such) */
	return p;
}

unsigned cg_arg_count(void)
{
	struct fdt_view v;
	const char *k;
	unsigned n = 0;
	if (view(&v))
		return 0;
	while (arg_at(&v, n, &k))
		n++;
	return n;
}

int cg_arg_at(unsigned i, const char **key, const char **value)
{
	struct fdt_view v;
	const char *val = view(&v) ? 0 : arg_at(&v, i, key);
	if (!val)
		return -1;
	*value = val;
	return 0;
}

unsigned cg_ncpus(void)
{
	struct fdt_view v;
	uint32_t len;
	const uint8_t *n = view(&v) ? 0 : fdt_prop(&v, "/chosen", COWVM_FDT_NCPUS, &len);
	return (n && len == 4) ? ((uint32_t)n[0] << 24 | (uint32_t)n[1] << 16 | (uint32_t)n[2] << 8 | n[3]) : 1;
}

uint64_t cg_mem_size(void)
{
	struct fdt_view v;
	uint64_t base, size;
	if (view(&v) || fdt_u64_pair(&v, "/memory@0", "reg", &base, &size))
		return 0;
	return size;
}

void *cg_input(size_t *size)
{
	uint64_t a, b;
	pair(COWVM_FDT_INPUT, &a, &b);
	*size = (size_t)b;
	return (void *)(uintptr_t)a;
}

void *cg_output(size_t *size)
{
	uint64_t a, b;
	pair(COWVM_FDT_OUTPUT, &a, &b);
	*size = (size_t)b;
	return (void *)(uintptr_t)a;
}

void *cg_heap_region(size_t *size)
{
	uint64_t a, b;
	pair(COWVM_FDT_HEAP, &a, &b);
	*size = (size_t)b;
	return (void *)(uintptr_t)a;
}

int cg_request(const void **data, size_t *len)
{
	size_t size;
	const volatile struct cowvm_msg *m = cg_input(&size);
	if (!m || size < COWVM_MSG_HDR)
		return -1;
	uint32_t n = m->len;
	if (m->magic != COWVM_MSG_MAGIC || n > size - COWVM_MSG_HDR)
		return -1;
	*data = (const void *)m->data;
	*len = n;
	return 0;
}

int cg_respond(const void *data, size_t len)
{
	size_t size;
	struct cowvm_msg *m = cg_output(&size);
	if (!m || size < COWVM_MSG_HDR || len > size - COWVM_MSG_HDR)
		return -1;
	memmove(m->data, data, len);
	m->len = (uint32_t)len;
	m->magic = COWVM_MSG_MAGIC;
	return 0;
}
