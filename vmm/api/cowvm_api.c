/*
 * cowvm_api.c - the public API of libcowvm (include/cowvm/cowvm.h): opaque
 * handles over the internal objects (struct vm, struct snapshot, struct
 * vm_pool) and a thin layer over vm_create / vm_run / snapshot_take /
 * snapshot_save / snapshot_load / vm_clone / vm_reset / vm_release /
 * vm_destroy. Errors: -errno, and the internal struct vmm_err message
 * copied to a thread-local buffer (cowvm_last_error). The only code here
 * beyond the wrapping: a guest file is read without blocking (regular
 * files only), and the request/response framing (struct cowvm_msg).
 */
#include "cowvm/cowvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clone.h"
#include "cowvm_abi.h"
#include "snapshot.h"
#include "snapshot_file.h"
#include "vm.h"
#include "workload_spec.h"

_Static_assert(COWVM_VM_MSG_MAX == COWVM_MSG_MAX, "the public message limit is the ABI's");

#define GUEST_FILE_MAX (64u << 20)    /* as `cowvm run --guest` */
#define DEFAULT_MEM (64ull << 20)
#define DEFAULT_CLONE_TIMEOUT_MS 10000

/* ---- errors ------------------------------------------------------------- */

static _Thread_local char last_error[256];

const char *cowvm_last_error(void)
{
	return last_error;
}

__attribute__((format(printf, 2, 3))) static int fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return code;
}

/* An internal error: its code and message. */
static int fail_e(int code, const struct vmm_err *e)
{
	return fail(code, "%s", e->msg[0] ? e->msg : strerror(-code));
}

#define NEED(p, what)                                                    \
	do {                                                             \
		if (!(p))                                                \
			return fail(-EINVAL, "%s: %s is NULL", __func__, what); \
	} while (0)

unsigned cowvm_version(void)
{
	return COWVM_VERSION;
}

const char *cowvm_version_string(void)
{
	return COWVM_VERSION_STRING;
}

/* ---- configuration ------------------------------------------------------ */

struct cowvm_config {
	uint64_t mem, timeout_ms;
	unsigned vcpus;
	bool snapshots;
	void *image;               /* ELF bytes (owned), NULL: the guest-stub */
	size_t image_len;
	char name[WL_NAME_MAX + 1];
	char *spec;                /* --workload, or NULL */
	unsigned nargs;
	char args[WL_MAX_ARGS][WL_KEY_MAX + WL_VALUE_MAX + 2]; /* "key=value" */
	cowvm_console_fn console;
	void *console_ctx;
};

int cowvm_config_new(cowvm_config **out)
{
	NEED(out, "out");
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return fail(-ENOMEM, "out of memory for a configuration");
	(*out)->mem = DEFAULT_MEM;
	(*out)->vcpus = 1;
	(*out)->snapshots = true;
	return 0;
}

void cowvm_config_free(cowvm_config *c)
{
	if (!c)
		return;
	free(c->image);
	free(c->spec);
	free(c);
}

int cowvm_config_set_memory(cowvm_config *c, uint64_t bytes)
{
	NEED(c, "config");
	if (bytes < VM_MEM_MIN || bytes > VM_MEM_MAX || bytes % (2u << 20))
		return fail(-EINVAL, "guest memory %llu bytes: must be a multiple of 2 MiB, 4 MiB..64 GiB",
		            (unsigned long long)bytes);
	c->mem = bytes;
	return 0;
}

int cowvm_config_set_vcpus(cowvm_config *c, unsigned n)
{
	NEED(c, "config");
	if (!n || n > COWVM_MAX_VCPUS)
		return fail(-EINVAL, "%u vCPUs: must be 1..%d", n, COWVM_MAX_VCPUS);
	c->vcpus = n;
	return 0;
}

int cowvm_config_set_timeout_ms(cowvm_config *c, uint64_t ms)
{
	NEED(c, "config");
	c->timeout_ms = ms;
	return 0;
}

/* Read the regular file at path (at most max bytes) without ever blocking:
 * stat first (a device is never opened), open non-blocking, check what
 * was opened. */
static int read_regular(const char *path, size_t max, void **buf, size_t *len)
{
	struct stat st;
	if (stat(path, &st))
		return fail(-errno, "cannot read guest '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(-EINVAL, "cannot read guest '%s': not a regular file", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fail(-errno, "cannot read guest '%s': %s", path, strerror(errno));
	int r = 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		r = fail(-EINVAL, "cannot read guest '%s': not a regular file", path);
	else if ((uint64_t)st.st_size > max)
		r = fail(-EFBIG, "cannot read guest '%s': larger than %zu bytes", path, max);
	uint8_t *p = r ? NULL : malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!r && !p)
		r = fail(-ENOMEM, "out of memory for guest '%s'", path);
	size_t n = 0;
	while (!r && n < (size_t)st.st_size) {
		ssize_t k = read(fd, p + n, (size_t)st.st_size - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			r = fail(k ? -errno : -EINVAL, "cannot read guest '%s': %s", path,
			         k ? strerror(errno) : "it shrank while being read");
		else
			n += (size_t)k;
	}
	close(fd);
	if (r) {
		free(p);
		return r;
	}
	*buf = p;
	*len = n;
	return 0;
}

static int set_image(cowvm_config *c, void *img, size_t len, const char *name_or_path)
{
	free(c->image);
	c->image = img;
	c->image_len = len;
	struct wl_request w;
	wl_set_image_name(&w, name_or_path ? name_or_path : "guest");
	memcpy(c->name, w.name, sizeof(c->name));
	return 0;
}

int cowvm_config_set_guest_file(cowvm_config *c, const char *path)
{
	NEED(c, "config");
	NEED(path, "path");
	void *img = NULL;
	size_t len = 0;
	int r = read_regular(path, GUEST_FILE_MAX, &img, &len);
	return r ? r : set_image(c, img, len, path);
}

int cowvm_config_set_guest_image(cowvm_config *c, const void *elf, size_t len, const char *name)
{
	NEED(c, "config");
	NEED(elf, "elf");
	if (len > GUEST_FILE_MAX)
		return fail(-EFBIG, "guest image of %zu bytes: at most %u", len, GUEST_FILE_MAX);
	void *img = malloc(len ? len : 1);
	if (!img)
		return fail(-ENOMEM, "out of memory for the guest image");
	memcpy(img, elf, len);
	/* A name, not a path: keep any '/' from making it a basename. */
	char nm[WL_NAME_MAX + 1] = "guest";
	if (name) {
		size_t n = strlen(name);
		n = n > WL_NAME_MAX ? WL_NAME_MAX : n;
		memcpy(nm, name, n);
		nm[n] = 0;
		for (size_t i = 0; i < n; i++)
			if (nm[i] == '/')
				nm[i] = '_';
	}
	return set_image(c, img, len, nm);
}

int cowvm_config_set_workload(cowvm_config *c, const char *spec)
{
	NEED(c, "config");
	NEED(spec, "spec");
	char *s = strdup(spec);
	if (!s)
		return fail(-ENOMEM, "out of memory");
	free(c->spec);
	c->spec = s;
	return 0;
}

int cowvm_config_add_arg(cowvm_config *c, const char *key, const char *value)
{
	NEED(c, "config");
	NEED(key, "key");
	NEED(value, "value");
	size_t kl = strlen(key), vl = strlen(value);
	if (!kl || kl > WL_KEY_MAX || !vl || vl > WL_VALUE_MAX || strchr(key, '='))
		return fail(-EINVAL, "argument '%.40s': key must be 1..%d bytes without '=', value 1..%d bytes", key,
		            WL_KEY_MAX, WL_VALUE_MAX);
	if (c->nargs == WL_MAX_ARGS)
		return fail(-E2BIG, "too many arguments (at most %d)", WL_MAX_ARGS);
	snprintf(c->args[c->nargs++], sizeof(c->args[0]), "%s=%s", key, value);
	return 0;
}

int cowvm_config_set_snapshots(cowvm_config *c, int enable)
{
	NEED(c, "config");
	c->snapshots = enable != 0;
	return 0;
}

int cowvm_config_set_console(cowvm_config *c, cowvm_console_fn fn, void *ctx)
{
	NEED(c, "config");
	c->console = fn;
	c->console_ctx = ctx;
	return 0;
}

/* ---- VMs ------------------------------------------------------------------ */

struct cowvm_vm {
	struct vm *vm;
	bool clone;                /* from cowvm_clone: pool may be released to */
	struct vm_pool *pool;
	bool ran;
	struct vm_result res;
};

static int wrap_vm(struct vm *vm, bool clone, struct vm_pool *pool, cowvm_vm **out)
{
	cowvm_vm *h = calloc(1, sizeof(*h));
	if (!h) {
		vm_destroy(vm);
		return fail(-ENOMEM, "out of memory for a VM handle");
	}
	h->vm = vm;
	h->clone = clone;
	h->pool = pool;
	*out = h;
	return 0;
}

int cowvm_vm_create(const cowvm_config *c, cowvm_vm **out)
{
	NEED(c, "config");
	NEED(out, "out");
	*out = NULL;
	struct vm_config cfg = { .mem_size = c->mem, .nvcpus = c->vcpus, .guest_image = c->image,
	                         .guest_image_len = c->image_len, .timeout_ms = c->timeout_ms,
	                         .console = c->console, .console_ctx = c->console_ctx,
	                         .snapshots = c->snapshots };
	struct vmm_err e = { 0 };
	int r = 0;
	/* Built-in guest: its workloads are checked; a guest: any name and
	 * arguments (as `cowvm run --guest --workload --arg`). */
	if (!c->image)
		r = wl_parse(c->spec ? c->spec : "hello", &cfg.workload, &e);
	else if (c->spec)
		r = wl_parse_any(c->spec, &cfg.workload, &e);
	else
		memcpy(cfg.workload.name, c->name, sizeof(c->name));
	for (unsigned i = 0; !r && i < c->nargs; i++)
		r = wl_add_arg(&cfg.workload, c->args[i], c->image == NULL, &e);
	if (r)
		return fail_e(r, &e);
	struct vm *vm;
	r = vm_create(&cfg, &vm, &e);
	if (r)
		return fail_e(r, &e);
	return wrap_vm(vm, false, NULL, out);
}

int cowvm_vm_run(cowvm_vm *h)
{
	NEED(h, "vm");
	struct vmm_err e = { 0 };
	h->res = (struct vm_result){ .end = VM_END_ERROR };
	int r = vm_run(h->vm, &h->res, &e);
	if (r) {
		h->ran = false;
		return fail_e(r, &e);
	}
	h->ran = true;
	return 0;
}

int cowvm_vm_end(const cowvm_vm *h)
{
	if (!h || !h->ran)
		return COWVM_END_NONE;
	switch (h->res.end) {
	case VM_END_EXIT: return COWVM_END_EXIT;
	case VM_END_EXCEPTION: return COWVM_END_EXCEPTION;
	case VM_END_TIMEOUT: return COWVM_END_TIMEOUT;
	case VM_END_SHUTDOWN: return COWVM_END_SHUTDOWN;
	case VM_END_SNAPSHOT: return COWVM_END_SNAPSHOT;
	case VM_END_ABORT: return COWVM_END_ABORT;
	default: return COWVM_END_ERROR;
	}
}

int cowvm_vm_exit_status(const cowvm_vm *h)
{
	switch (cowvm_vm_end(h)) {
	case COWVM_END_NONE: return -1;
	case COWVM_END_EXIT: return h->res.status;
	case COWVM_END_EXCEPTION:
	case COWVM_END_ABORT: return COWVM_EXIT_EXCEPTION;
	case COWVM_END_TIMEOUT: return COWVM_EXIT_TIMEOUT;
	case COWVM_END_SHUTDOWN: return COWVM_EXIT_SHUTDOWN;
	default: return COWVM_EXIT_VMM_ERROR;
	}
}

const char *cowvm_vm_end_message(const cowvm_vm *h)
{
	return h && h->ran ? h->res.msg : "";
}

unsigned cowvm_vm_report_count(const cowvm_vm *h)
{
	return h && h->ran ? h->res.nreports : 0;
}

int cowvm_vm_report_at(const cowvm_vm *h, unsigned i, const char **key, uint64_t *value)
{
	NEED(h, "vm");
	if (i >= cowvm_vm_report_count(h))
		return fail(-ENOENT, "no report %u (the last run made %u)", i, cowvm_vm_report_count(h));
	if (key)
		*key = h->res.reports[i].key;
	if (value)
		*value = h->res.reports[i].value;
	return 0;
}

int cowvm_vm_report(const cowvm_vm *h, const char *key, uint64_t *value)
{
	NEED(h, "vm");
	NEED(key, "key");
	uint64_t v;
	if (!h->ran || vm_result_report(&h->res, key, &v))
		return fail(-ENOENT, "no report '%.64s' in the last run", key);
	if (value)
		*value = v;
	return 0;
}

uint64_t cowvm_vm_clone_number(const cowvm_vm *h)
{
	return h && h->clone ? h->vm->clone_id : 0;
}

size_t cowvm_vm_input_size(const cowvm_vm *h)
{
	return h ? (size_t)h->vm->layout.in_size : 0;
}

size_t cowvm_vm_output_size(const cowvm_vm *h)
{
	return h ? (size_t)h->vm->layout.out_size : 0;
}

int cowvm_vm_write_input(cowvm_vm *h, size_t offset, const void *data, size_t len)
{
	NEED(h, "vm");
	NEED(data || !len, "data");
	const struct vm_layout *l = &h->vm->layout;
	if (offset > l->in_size || len > l->in_size - offset)
		return fail(-EINVAL, "input bytes [%zu, +%zu) outside the %llu-byte input buffer", offset, len,
		            (unsigned long long)l->in_size);
	struct vmm_err e = { 0 };
	int r = vm_guest_write(h->vm, l->in_base + offset, data, len, &e);
	return r ? fail_e(r, &e) : 0;
}

int cowvm_vm_read_output(cowvm_vm *h, size_t offset, void *buf, size_t len)
{
	NEED(h, "vm");
	NEED(buf || !len, "buf");
	const struct vm_layout *l = &h->vm->layout;
	if (offset > l->out_size || len > l->out_size - offset)
		return fail(-EINVAL, "output bytes [%zu, +%zu) outside the %llu-byte output buffer", offset, len,
		            (unsigned long long)l->out_size);
	struct vmm_err e = { 0 };
	int r = vm_guest_read(h->vm, l->out_base + offset, buf, len, &e);
	return r ? fail_e(r, &e) : 0;
}

int cowvm_vm_request(cowvm_vm *h, const void *data, size_t len)
{
	NEED(h, "vm");
	if (len > COWVM_MSG_MAX || len + COWVM_MSG_HDR > h->vm->layout.in_size)
		return fail(-E2BIG, "a request of %zu bytes: at most %u", len, (unsigned)COWVM_MSG_MAX);
	struct cowvm_msg m = { COWVM_MSG_MAGIC, (uint32_t)len };
	/* The bytes first, the header last (the guest is not running). */
	int r = cowvm_vm_write_input(h, COWVM_MSG_HDR, data, len);
	return r ? r : cowvm_vm_write_input(h, 0, &m, sizeof(m));
}

int cowvm_vm_response(cowvm_vm *h, void *buf, size_t cap, size_t *len)
{
	NEED(h, "vm");
	struct cowvm_msg m;
	int r = cowvm_vm_read_output(h, 0, &m, sizeof(m));
	if (r)
		return r;
	if (m.magic != COWVM_MSG_MAGIC || m.len > COWVM_MSG_MAX || m.len + COWVM_MSG_HDR > h->vm->layout.out_size)
		return fail(-ENOMSG, "no response message in the output buffer");
	if (len)
		*len = m.len;
	if (m.len > cap)
		return fail(-ENOBUFS, "the response has %u bytes, the buffer %zu", m.len, cap);
	r = cowvm_vm_read_output(h, COWVM_MSG_HDR, buf, m.len);
	return r ? r : (int)m.len;
}

int cowvm_vm_set_console(cowvm_vm *h, cowvm_console_fn fn, void *ctx)
{
	NEED(h, "vm");
	h->vm->cfg.console = fn;
	h->vm->cfg.console_ctx = ctx;
	return 0;
}

int cowvm_vm_reset(cowvm_vm *h)
{
	NEED(h, "vm");
	if (!h->clone)
		return fail(-EINVAL, "only a clone can be reset to its snapshot");
	struct vmm_err e = { 0 };
	struct reset_stats st;
	int r = vm_reset(h->vm, &st, &e);
	h->ran = false;
	return r ? fail_e(r, &e) : 0;
}

void cowvm_vm_destroy(cowvm_vm *h)
{
	if (!h)
		return;
	vm_destroy(h->vm);
	free(h);
}

/* ---- snapshots ---------------------------------------------------------- */

struct cowvm_snapshot {
	struct snapshot *s;        /* one reference */
};

static int wrap_snap(struct snapshot *s, cowvm_snapshot **out)
{
	*out = malloc(sizeof(**out));
	if (!*out) {
		snapshot_put(s);
		return fail(-ENOMEM, "out of memory for a snapshot handle");
	}
	(*out)->s = s;
	return 0;
}

int cowvm_snapshot_take(cowvm_vm *h, cowvm_snapshot **out)
{
	NEED(h, "vm");
	NEED(out, "out");
	*out = NULL;
	struct vmm_err e = { 0 };
	struct snapshot *s;
	int r = snapshot_take(h->vm, &s, &e);
	return r ? fail_e(r, &e) : wrap_snap(s, out);
}

int cowvm_snapshot_save(const cowvm_snapshot *s, const char *path)
{
	NEED(s, "snapshot");
	NEED(path, "path");
	struct vmm_err e = { 0 };
	int r = snapshot_save(s->s, path, &e);
	return r ? fail_e(r, &e) : 0;
}

int cowvm_snapshot_load(const char *path, cowvm_snapshot **out)
{
	NEED(path, "path");
	NEED(out, "out");
	*out = NULL;
	struct vmm_err e = { 0 };
	struct snapshot *s;
	int r = snapshot_load(path, &s, &e);
	return r ? fail_e(r, &e) : wrap_snap(s, out);
}

void cowvm_snapshot_put(cowvm_snapshot *s)
{
	if (!s)
		return;
	snapshot_put(s->s);
	free(s);
}

uint64_t cowvm_snapshot_memory(const cowvm_snapshot *s)
{
	return s ? s->s->meta.mem_size : 0;
}

unsigned cowvm_snapshot_vcpus(const cowvm_snapshot *s)
{
	return s ? s->s->meta.nvcpus : 0;
}

const char *cowvm_snapshot_name(const cowvm_snapshot *s)
{
	return s ? s->s->meta.workload.name : "";
}

/* ---- pools and clones ------------------------------------------------------ */

struct cowvm_pool {
	struct vm_pool *p;
	struct clone_opts o;
};

int cowvm_pool_create(unsigned max_idle, cowvm_pool **out)
{
	NEED(out, "out");
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return fail(-ENOMEM, "out of memory for a pool");
	struct vmm_err e = { 0 };
	int r = vm_pool_create(max_idle, &(*out)->p, &e);
	if (r) {
		free(*out);
		*out = NULL;
		return fail_e(r, &e);
	}
	(*out)->o.timeout_ms = DEFAULT_CLONE_TIMEOUT_MS;
	return 0;
}

void cowvm_pool_destroy(cowvm_pool *p)
{
	if (!p)
		return;
	vm_pool_destroy(p->p);
	free(p);
}

int cowvm_pool_set_timeout_ms(cowvm_pool *p, uint64_t ms)
{
	NEED(p, "pool");
	p->o.timeout_ms = ms;
	return 0;
}

int cowvm_pool_set_console(cowvm_pool *p, cowvm_console_fn fn, void *ctx)
{
	NEED(p, "pool");
	p->o.console = fn;
	p->o.console_ctx = ctx;
	return 0;
}

int cowvm_pool_set_limits(cowvm_pool *p, unsigned max_live, uint64_t max_memory)
{
	NEED(p, "pool");
	vm_pool_set_limits(p->p, max_live, max_memory);
	return 0;
}

int cowvm_clone(cowvm_pool *p, cowvm_snapshot *s, cowvm_vm **out)
{
	NEED(p, "pool");
	NEED(s, "snapshot");
	NEED(out, "out");
	*out = NULL;
	struct vmm_err e = { 0 };
	struct vm *vm;
	int r = vm_clone(p->p, s->s, &p->o, &vm, &e);
	return r ? fail_e(r, &e) : wrap_vm(vm, true, p->p, out);
}

void cowvm_release(cowvm_vm *h)
{
	if (!h)
		return;
	if (h->clone)
		vm_release(h->pool, h->vm);
	else
		vm_destroy(h->vm);
	free(h);
}
