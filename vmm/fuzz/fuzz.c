/* fuzz.c - run fuzz inputs in a snapshot-reset guest (see fuzz.h). */
#include "fuzz.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "snapshot.h"

#define MiB (1ull << 20)

struct fuzz {
	struct fuzz_config cfg;
	struct snapshot *snap;      /* NULL in boot mode */
	struct vm *vm;              /* cow, copy: the one clone; fresh, boot: NULL between inputs
	                             * (boot: a VM that stopped at the snapshot request) */
	struct clone_opts opts;
	uint64_t max_input;
	struct fuzz_stats st;
	/* The console of the current input (or the boot), its first bytes. */
	char con[FUZZ_CONSOLE_MAX + 1]; /* + its NUL: con[con_len] == 0 */
	size_t con_len;
	bool con_trunc;
};

/* Every console byte of every VM passes here: kept for fuzz_console, then
 * to the caller's sink. */
static void console_keep(void *ctx, const char *buf, size_t len)
{
	struct fuzz *f = ctx;
	size_t room = FUZZ_CONSOLE_MAX - f->con_len, n = len < room ? len : room;
	memcpy(f->con + f->con_len, buf, n);
	f->con_len += n;
	f->con[f->con_len] = 0;
	f->con_trunc |= n < len;
	if (f->cfg.console)
		f->cfg.console(f->cfg.console_ctx, buf, len);
}

static void console_clear(struct fuzz *f)
{
	f->con_len = 0;
	f->con[0] = 0;
	f->con_trunc = false;
}

const char *fuzz_console(const struct fuzz *f, size_t *len, bool *truncated)
{
	*len = f->con_len;
	if (truncated)
		*truncated = f->con_trunc;
	return f->con;
}

const char *fuzz_report_line(const char *con, size_t len, char *out, size_t n)
{
	/* The kernel's own report shapes (6.1): "BUG: kernel NULL pointer
	 * dereference", "BUG: KASAN: ...", "WARNING: CPU: 0 PID: 1 at ...",
	 * "Oops: 0002 [#1] SMP", "general protection fault, ...", "kernel BUG
	 * at ...", "UBSAN: ...", "Kernel panic - not syncing: ...". */
	static const char *const marks[] = { "BUG: ", "WARNING: CPU: ", "Oops: ", "general protection fault",
	                                     "kernel BUG at ", "UBSAN: ", "Kernel panic - not syncing" };
	const char *best = NULL;
	for (size_t k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
		const char *p = memmem(con, len, marks[k], strlen(marks[k]));
		if (p && (!best || p < best))
			best = p;
	}
	if (!best)
		return NULL;
	const char *end = memchr(best, '\n', (size_t)(con + len - best));
	int l = (int)((end ? end : con + len) - best);
	if (l && best[l - 1] == '\r')
		l--;
	snprintf(out, n, "%.*s", l, best);
	return out;
}

const char *fuzz_kernel_report(const struct fuzz *f, char *out, size_t n)
{
	if (!fuzz_is_linux(&f->cfg))
		return NULL; /* a guest-stub target's console is its own business */
	return fuzz_report_line(f->con, f->con_len, out, n);
}

static uint64_t fold_text(uint64_t h, const char *p, size_t n, bool skip_digits)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (skip_digits && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			continue;
		h = cowvm_fold(h, c);
	}
	return h;
}

uint64_t fuzz_crash_signature(const char *con, size_t len)
{
	char head[200];
	if (!fuzz_report_line(con, len, head, sizeof(head)))
		return 0;
	/* The report line without its numbers (addresses, CPU, PID: one kind
	 * of crash, whatever the run), and the function of the first "RIP: "
	 * line after it, up to its "+offset". Hex letters go too, so
	 * "0000000000000000" and "ffffffff81234567" fold alike. */
	uint64_t h = fold_text(COWVM_FOLD_INIT, head, strlen(head), true);
	const char *rip = memmem(con, len, "RIP: ", 5);
	if (rip) {
		const char *end = con + len, *colon = memchr(rip, ':', (size_t)(end - rip));
		const char *sym = colon ? memchr(colon + 1, ':', (size_t)(end - colon - 1)) : NULL;
		if (sym) {
			sym++;
			size_t n = 0;
			while (sym + n < end && sym[n] != '+' && sym[n] != '\r' && sym[n] != '\n')
				n++;
			h = fold_text(h, sym, n, false);
		}
	}
	return h ? h : 1;
}

/* The console hook: a Linux input that ended normally but made the kernel
 * report (a WARN, or anything that does not panic) is a crash too. And a
 * crash leaves its signature in the coverage map as two edges: a kernel
 * that panicked never let the agent count the program's coverage, and AFL
 * keeps a crash only if its map shows something new (per kind of crash:
 * the same signature is the same edges). */
static void console_verdict(struct fuzz *f, struct vm_result *res)
{
	char head[200];
	if (!fuzz_is_linux(&f->cfg))
		return;
	if (res->end == VM_END_EXIT && fuzz_kernel_report(f, head, sizeof(head))) {
		res->end = VM_END_ABORT;
		snprintf(res->msg, sizeof(res->msg), "kernel report on the console: %s", head);
	}
	if (res->end == VM_END_EXIT || res->end == VM_END_TIMEOUT || !f->cfg.cov_size)
		return;
	uint64_t sig = fuzz_crash_signature(f->con, f->con_len);
	if (!sig)
		sig = 0x9e3779b97f4a7c15ull * ((uint64_t)res->end + 1); /* no report: the way it ended */
	f->cfg.cov[sig % f->cfg.cov_size]++;
	f->cfg.cov[(sig >> 32) % f->cfg.cov_size]++;
}

/* For an error message, in out: the last console line that the agent
 * wrote ("cowvm-agent: ..."), else the last non-empty line kept. */
static const char *last_line(const struct fuzz *f, char *out, size_t n)
{
	size_t end = f->con_len;
	for (const char *p = f->con, *q; (q = memmem(p, (size_t)(f->con + f->con_len - p), "cowvm-agent:", 12)); p = q + 1)
		end = (size_t)(q - f->con) + strcspn(q, "\n"); /* to its newline (the buffer ends in NUL: see below) */
	while (end && (f->con[end - 1] == '\n' || f->con[end - 1] == '\r'))
		end--;
	size_t start = end;
	while (start && f->con[start - 1] != '\n')
		start--;
	snprintf(out, n, "%.*s", (int)(end - start), f->con + start);
	return out;
}

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

void fuzz_get_stats(const struct fuzz *f, struct fuzz_stats *st) { *st = f->st; }

int fuzz_parse_reset(const char *s, enum fuzz_reset *out)
{
	static const char *const names[] = { "cow", "fresh", "copy", "boot" };
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*out = (enum fuzz_reset)i;
			return 0;
		}
	return -EINVAL;
}

const char *fuzz_reset_name(enum fuzz_reset r)
{
	return r == FUZZ_RESET_COW ? "cow" : r == FUZZ_RESET_FRESH ? "fresh" : r == FUZZ_RESET_COPY ? "copy" : "boot";
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
	bool warm = c->target && !strcmp(c->target, "warm"), linux = fuzz_is_linux(c);
	if (linux && c->target)
		return vmm_fail(e, -EINVAL, "a kernel and a guest-stub target ('%s') cannot be fuzzed together", c->target);
	if (!linux && !c->target)
		return vmm_fail(e, -EINVAL, "nothing to fuzz: give a target or a kernel");
	if (linux && c->reset == FUZZ_RESET_COPY)
		return vmm_fail(e, -EINVAL, "reset mode copy is for guest-stub targets (a kernel: cow, fresh or boot)");
	if (!linux && c->reset == FUZZ_RESET_BOOT)
		return vmm_fail(e, -EINVAL, "reset mode boot is for kernels (a guest-stub target: cow, fresh or copy)");
	if (!c->mem_size)
		c->mem_size = warm ? 512 * MiB : linux ? 256 * MiB : 64 * MiB;
	if (!c->mib)
		c->mib = 256;
	if (!c->timeout_ms)
		c->timeout_ms = linux ? 10000 : 1000;
	if (!c->boot_timeout_ms)
		c->boot_timeout_ms = linux ? 600000 : 120000;
	if (linux && !c->cmdline)
		c->cmdline = FUZZ_LINUX_CMDLINE;
	/* The warm target builds its state in guest RAM before its snapshot. */
	if (warm && c->mib >= c->mem_size / MiB)
		return vmm_fail(e, -EINVAL, "warm state of %llu MiB with %llu MiB of guest memory: give --mem more than --mib",
		                (unsigned long long)c->mib, (unsigned long long)(c->mem_size / MiB));
	return 0;
}

/* A new VM of the target, run to its snapshot request (it stops there,
 * the request unanswered: the caller takes the snapshot or answers it). */
static int boot_to_snapshot(struct fuzz *f, struct vm **out, struct vmm_err *e)
{
	const struct fuzz_config *c = &f->cfg;
	struct vm_config vc = { .mem_size = c->mem_size, .nvcpus = 1, .timeout_ms = c->boot_timeout_ms,
	                        .snapshots = true, .coverage_size = c->cov_size,
	                        .console = console_keep, .console_ctx = f,
	                        .kernel = c->kernel, .kernel_len = c->kernel_len, .initrd = c->initrd,
	                        .initrd_len = c->initrd_len, .cmdline = c->cmdline };
	char spec[96];
	snprintf(spec, sizeof(spec), "fuzz:target=%s,mib=%llu", c->target ? c->target : "",
	         (unsigned long long)c->mib);
	int r = fuzz_is_linux(c) ? 0 : wl_parse(spec, &vc.workload, e);
	struct vm *vm = NULL;
	console_clear(f);
	r = r ?: vm_create(&vc, &vm, e);
	if (!r && c->cov_size)
		r = vm_map_coverage(vm, c->cov, c->cov_size, e);
	struct vm_result res;
	r = r ?: vm_run(vm, &res, e);
	if (!r && res.end != VM_END_SNAPSHOT) {
		char line[200];
		r = fuzz_is_linux(c)
		        ? vmm_fail(e, -EINVAL, "the kernel did not reach the agent's snapshot (%s); its console's last line: '%s'",
		                   res.msg, last_line(f, line, sizeof(line)))
		        : vmm_fail(e, -EINVAL, "fuzz target '%s' did not reach its snapshot: %s", spec, res.msg);
	}
	if (r) {
		vm_destroy(vm);
		return r;
	}
	*out = vm;
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
	struct vm *boot = NULL;
	r = boot_to_snapshot(f, &boot, e);
	if (!r)
		f->max_input = boot->layout.in_size - sizeof(struct cowvm_fuzz_input);
	if (!r && c->reset == FUZZ_RESET_BOOT) {
		f->vm = boot; /* the first input runs in it */
		*out = f;
		return 0;
	}
	r = r ?: snapshot_take(boot, &f->snap, e);
	vm_destroy(boot);
	uint64_t limit = c->timeout_ms == FUZZ_TIMEOUT_NONE ? 0 : c->timeout_ms; /* vm: 0 = none */
	f->opts = (struct clone_opts){ .console = console_keep, .console_ctx = f,
	                               .timeout_ms = limit, .should_stop = c->should_stop,
	                               .should_stop_ctx = c->should_stop_ctx, .old_path = c->old_path };
	if (!r && c->reset != FUZZ_RESET_FRESH)
		r = new_clone(f, e);
	if (r) {
		fuzz_close(f);
		return r;
	}
	*out = f;
	return 0;
}

/* Boot mode: one input in a VM stopped at its snapshot request, which is
 * answered as a clone's would be (ret 1: the agent runs the input). */
static int boot_exec(struct fuzz *f, const void *data, uint64_t len, struct vm_result *res, struct vmm_err *e)
{
	uint64_t t0 = mono_ns();
	int r = f->vm ? 0 : boot_to_snapshot(f, &f->vm, e);
	if (r)
		return r;
	struct vm *vm = f->vm;
	/* The run limit and AFL's stop hook apply to the input, not the boot. */
	vm->cfg.timeout_ms = f->cfg.timeout_ms == FUZZ_TIMEOUT_NONE ? 0 : f->cfg.timeout_ms;
	vm->cfg.should_stop = f->cfg.should_stop;
	vm->cfg.should_stop_ctx = f->cfg.should_stop_ctx;
	int64_t clone = 1;
	uint64_t in = vm->layout.in_base;
	console_clear(f);
	r = vm_guest_write(vm, vm->snap_hc_gpa + offsetof(struct cowvm_hcall, ret), &clone, sizeof(clone), e);
	r = r ?: vm_guest_write(vm, in, &len, sizeof(len), e);
	r = r ?: vm_guest_write(vm, in + sizeof(len), data, len, e);
	uint64_t t1 = mono_ns();
	r = r ?: vm_run(vm, res, e);
	uint64_t t2 = mono_ns();
	if (!r)
		console_verdict(f, res);
	vm_destroy(vm);
	f->vm = NULL;
	f->st.inputs++;
	f->st.ns_input += t1 - t0;
	f->st.ns_run += t2 - t1;
	return r;
}

int fuzz_exec(struct fuzz *f, const void *data, uint64_t len, struct vm_result *res, struct vmm_err *e)
{
	if (len > f->max_input)
		len = f->max_input;
	if (f->cfg.reset == FUZZ_RESET_BOOT)
		return boot_exec(f, data, len, res, e);
	console_clear(f);
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
	if (!r)
		console_verdict(f, res);
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
	case FUZZ_RESET_BOOT: /* boot_exec's; not reached */
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
	case VM_END_REBOOT: return SIGSEGV;   /* a Linux guest panicked (oops=panic panic=-1) */
	case VM_END_HALT:
	case VM_END_POWEROFF: return SIGABRT; /* the agent never finished the input */
	default: return SIGSYS;
	}
}
