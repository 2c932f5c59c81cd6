/* fuzz.c - run fuzz inputs in a snapshot-reset guest (see fuzz.h). */
#include "fuzz.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "snapshot.h"

#define MiB (1ull << 20)

struct fuzz {
	struct fuzz_config cfg;
	struct snapshot *snap;
	struct vm *vm;              /* cow, copy: the one clone; fresh: NULL between inputs */
	struct clone_opts opts;
	uint64_t max_input;
	struct fuzz_stats st;
};

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

void fuzz_get_stats(const struct fuzz *f, struct fuzz_stats *st) { *st = f->st; }

int fuzz_parse_reset(const char *s, enum fuzz_reset *out)
{
	static const char *const names[] = { "cow", "fresh", "copy" };
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*out = (enum fuzz_reset)i;
			return 0;
		}
	return -EINVAL;
}

const char *fuzz_reset_name(enum fuzz_reset r)
{
	return r == FUZZ_RESET_COW ? "cow" : r == FUZZ_RESET_FRESH ? "fresh" : "copy";
}

uint64_t fuzz_max_input(const struct fuzz *f) { return f->max_input; }

static int new_clone(struct fuzz *f, struct vmm_err *e)
{
	int r = vm_clone(NULL, f->snap, &f->opts, &f->vm, e);
	if (!r && f->cfg.cov_size)
		r = vm_map_coverage(f->vm, f->cfg.cov, f->cfg.cov_size, e);
	if (r) {
		vm_destroy(f->vm);
		f->vm = NULL;
	}
	return r;
}

int fuzz_config_resolve(struct fuzz_config *c, struct vmm_err *e)
{
	bool warm = c->target && !strcmp(c->target, "warm");
	if (!c->mem_size)
		c->mem_size = warm ? 512 * MiB : 64 * MiB;
	if (!c->mib)
		c->mib = 256;
	if (!c->timeout_ms)
		c->timeout_ms = 1000;
	/* The warm target builds its state in guest RAM before its snapshot. */
	if (warm && c->mib >= c->mem_size / MiB)
		return vmm_fail(e, -EINVAL, "warm state of %llu MiB with %llu MiB of guest memory: give --mem more than --mib",
		                (unsigned long long)c->mib, (unsigned long long)(c->mem_size / MiB));
	return 0;
}

int fuzz_open(const struct fuzz_config *c, struct fuzz **out, struct vmm_err *e)
{
	*out = NULL;
	struct fuzz *f = calloc(1, sizeof(*f));
	if (!f)
		return vmm_fail(e, -ENOMEM, "out of memory");
	f->cfg = *c;
	int r = fuzz_config_resolve(&f->cfg, e);
	if (r) {
		free(f);
		return r;
	}
	c = &f->cfg;
	char spec[96];
	snprintf(spec, sizeof(spec), "fuzz:target=%s,mib=%llu", c->target ? c->target : "",
	         (unsigned long long)c->mib);
	struct vm_config vc = { .mem_size = f->cfg.mem_size, .nvcpus = 1, .timeout_ms = 120000,
	                        .snapshots = true, .coverage_size = c->cov_size,
	                        .console = c->console, .console_ctx = c->console_ctx };
	r = wl_parse(spec, &vc.workload, e);
	struct vm *boot = NULL;
	r = r ?: vm_create(&vc, &boot, e);
	if (!r && c->cov_size)
		r = vm_map_coverage(boot, c->cov, c->cov_size, e);
	struct vm_result res;
	r = r ?: vm_run(boot, &res, e);
	if (!r && res.end != VM_END_SNAPSHOT)
		r = vmm_fail(e, -EINVAL, "fuzz target '%s' did not reach its snapshot: %s", spec, res.msg);
	r = r ?: snapshot_take(boot, &f->snap, e);
	vm_destroy(boot);
	uint64_t limit = c->timeout_ms == FUZZ_TIMEOUT_NONE ? 0 : c->timeout_ms; /* vm: 0 = none */
	f->opts = (struct clone_opts){ .console = c->console, .console_ctx = c->console_ctx,
	                               .timeout_ms = limit, .should_stop = c->should_stop,
	                               .should_stop_ctx = c->should_stop_ctx, .old_path = c->old_path };
	if (!r) {
		f->max_input = f->snap->meta.layout.in_size - sizeof(struct cowvm_fuzz_input);
		if (c->reset != FUZZ_RESET_FRESH)
			r = new_clone(f, e);
	}
	if (r) {
		fuzz_close(f);
		return r;
	}
	*out = f;
	return 0;
}

int fuzz_exec(struct fuzz *f, const void *data, uint64_t len, struct vm_result *res, struct vmm_err *e)
{
	if (len > f->max_input)
		len = f->max_input;
	uint64_t t0 = mono_ns();
	int r = f->vm ? 0 : new_clone(f, e);
	if (r)
		return r;
	uint64_t in = f->vm->layout.in_base;
	r = vm_guest_write(f->vm, in, &len, sizeof(len), e);
	r = r ?: vm_guest_write(f->vm, in + sizeof(len), data, len, e);
	uint64_t t1 = mono_ns();
	r = r ?: vm_run(f->vm, res, e);
	uint64_t t2 = mono_ns();
	f->st.inputs++;
	f->st.ns_input += t1 - t0;
	f->st.ns_run += t2 - t1;
	if (r)
		return r;
	struct reset_stats rs = { 0 };
	switch (f->cfg.reset) {
	case FUZZ_RESET_COW:
		r = vm_reset(f->vm, &rs, e);
		f->st.vcpus_fast += rs.vcpus_fast;
		f->st.vcpus_full += rs.vcpus_full;
		f->st.ns_reset_machine += rs.ns_machine;
		f->st.ns_reset_memory += rs.ns_memory;
		f->st.ns_reset_rest += mono_ns() - t2 - rs.ns_machine - rs.ns_memory;
		return r;
	case FUZZ_RESET_COPY:
		r = vm_reset_copy(f->vm, e);
		break;
	case FUZZ_RESET_FRESH:
		vm_destroy(f->vm);
		f->vm = NULL;
		break;
	}
	f->st.ns_reset_machine += mono_ns() - t2;
	return r;
}

void fuzz_close(struct fuzz *f)
{
	if (!f)
		return;
	vm_destroy(f->vm);
	snapshot_put(f->snap);
	free(f);
}

static int vector_signal(uint64_t v)
{
	switch (v) {
	case 0: case 16: case 19: return SIGFPE;   /* #DE, #MF, #XM */
	case 6: return SIGILL;                      /* #UD */
	case 1: case 3: return SIGTRAP;             /* #DB, #BP */
	case 17: return SIGBUS;                     /* #AC */
	default: return SIGSEGV;                    /* #PF, #GP, #SS, ... */
	}
}

int fuzz_wait_status(const struct vm_result *res)
{
	switch (res->end) {
	case VM_END_EXIT: return (res->status & 0xff) << 8;
	case VM_END_EXCEPTION: return vector_signal(res->exc.vector);
	case VM_END_ABORT: return SIGABRT;
	case VM_END_TIMEOUT: return SIGKILL;
	case VM_END_SHUTDOWN: return SIGSEGV;
	default: return SIGSYS;
	}
}
