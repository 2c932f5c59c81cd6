/* kvm_test_util.c - see kvm_test_util.h. */
#include "kvm_test_util.h"
#include "pc_state.h"

#include "cowvm_abi.h"
#include "snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int ok = ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
	close(fd);
	return ok;
}

void console_capture(void *ctx, const char *buf, size_t len)
{
	struct console_buf *c = ctx;
	size_t room = sizeof(c->data) - 1 - c->len;
	if (len > room)
		len = room;
	memcpy(c->data + c->len, buf, len);
	c->len += len;
	c->data[c->len] = 0;
}

void boot_guest(struct boot *b, const char *workload, uint64_t mem, unsigned vcpus,
                uint64_t timeout_ms, const void *image, size_t image_len)
{
	memset(b, 0, sizeof(*b));
	struct vm_config cfg = {
		.mem_size = mem, .nvcpus = vcpus, .timeout_ms = timeout_ms,
		.guest_image = image, .guest_image_len = image_len,
		.console = console_capture, .console_ctx = &b->con,
	};
	struct vmm_err err = { 0 };
	cr_assert_eq(wl_parse(workload, &cfg.workload, &err), 0, "wl_parse(%s): %s", workload, err.msg);
	struct vm *vm;
	int r = vm_create(&cfg, &vm, &err);
	cr_assert_eq(r, 0, "vm_create: %s", err.msg);
	b->image = vm->image;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = vm_run(vm, &b->res, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	b->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	vm_destroy(vm);
	cr_assert_eq(r, 0, "vm_run: %s", err.msg);
}

void *slurp(const char *path, size_t *len)
{
	cr_assert_not_null(path, "test guest path not set in the environment");
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	void *p = malloc((size_t)n);
	cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

void quiet(void *ctx, const char *buf, size_t len)
{
	(void)ctx, (void)buf, (void)len;
}

struct snapshot *boot_snapshot(const char *workload, uint64_t mem)
{
	struct vm_config cfg = { .mem_size = mem, .nvcpus = 1, .timeout_ms = 20000,
	                         .console = quiet, .snapshots = true };
	struct vmm_err err = { 0 };
	cr_assert_eq(wl_parse(workload, &cfg.workload, &err), 0, "%s", err.msg);
	struct vm *vm;
	cr_assert_eq(vm_create(&cfg, &vm, &err), 0, "vm_create: %s", err.msg);
	struct vm_result res;
	cr_assert_eq(vm_run(vm, &res, &err), 0, "%s", err.msg);
	cr_assert_eq(res.end, VM_END_SNAPSHOT, "ended with %d: %s", res.end, res.msg);
	struct snapshot *s;
	cr_assert_eq(snapshot_take(vm, &s, &err), 0, "snapshot_take: %s", err.msg);
	vm_destroy(vm);
	return s;
}

uint64_t report(const struct vm_result *r, const char *key)
{
	uint64_t v = 0;
	cr_assert_eq(vm_result_report(r, key, &v), 0, "no report %s (end %d: %s)", key, r->end, r->msg);
	return v;
}

uint64_t model_checksum(uint64_t npages, uint64_t touch, uint64_t id)
{
	uint64_t h = COWVM_FOLD_INIT;
	for (uint64_t p = 0; p < npages; p++)
		h = cowvm_fold(h, cowvm_snap_value(p, p < touch ? id : 0));
	return h;
}

int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- a clone against its snapshot ---- */

uint64_t window_diff(const struct vm *vm, const struct snapshot *s, struct window_diff *d)
{
	const uint64_t page = 4096;
	memset(d, 0, sizeof(*d));
	uint64_t ret_gpa = s->meta.hc_gpa ? s->meta.hc_gpa + offsetof(struct cowvm_hcall, ret) : UINT64_MAX;
	uint8_t want[4096];
	for (uint64_t g = 0; g < s->meta.mem_size / page; g++) {
		const uint8_t *got = vm->mem.host + g * page;
		const uint8_t *exp = snapshot_page(s, g);
		if (ret_gpa / page == g || (s->meta.pc && g == COWVM_AGENT_GPA / page)) {
			/* The byte ranges a clone holds that its snapshot does not:
			 * the snapshot call's `ret` and a PC guest's agent info page
			 * (its per-clone fields: number, generation, time, random). */
			memcpy(want, exp, page);
			if (ret_gpa / page == g) {
				int64_t id = (int64_t)vm->clone_id;
				memcpy(want + ret_gpa % page, &id, sizeof(id));
			}
			if (s->meta.pc && g == COWVM_AGENT_GPA / page) {
				const struct cowvm_agent_info *ai = (const void *)got;
				struct cowvm_agent_info *w = (void *)want;
				if (ai->clone_id == vm->clone_id) {
					w->clone_id = ai->clone_id;
					w->generation = ai->generation;
					w->host_realtime_ns = ai->host_realtime_ns;
					memcpy(w->random, ai->random, sizeof(w->random));
				}
			}
			exp = want;
		}
		if (!memcmp(got, exp, page))
			continue;
		if (!d->npages++) {
			uint64_t off = 0;
			while (got[off] == exp[off])
				off++;
			d->first_gfn = g;
			d->first_off = off;
			d->got = got[off];
			d->want = exp[off];
		}
	}
	return d->npages;
}

void window_diff_str(const struct window_diff *d, char *buf, size_t n)
{
	if (!d->npages)
		snprintf(buf, n, "no page differs");
	else
		snprintf(buf, n, "%llu pages differ, first gpa %#llx: byte +%#llx is %#x, snapshot %#x",
		         (unsigned long long)d->npages, (unsigned long long)(d->first_gfn * 4096),
		         (unsigned long long)d->first_off, d->got, d->want);
}

int clone_vcpu_state(struct vm *vm, unsigned i, struct vcpu_state *st, struct vmm_err *e)
{
	/* What the next KVM_RUN does first: finish any I/O KVM still holds
	 * half done (whatever the VMM believes). immediate_exit: no guest
	 * code runs; anything but EINTR means I/O was still pending. */
	struct vcpu *v = &vm->vcpus[i];
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELAXED);
	int r = ioctl(v->fd, KVM_RUN, 0);
	int err = errno;
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_RELAXED);
	if (r >= 0 || err != EINTR)
		return vmm_fail(e, -EIO, "vCPU %u: KVM_RUN with immediate_exit returned %d (errno %d, exit %u): "
		                "I/O was still pending", i, r, err, v->run->exit_reason);
	return vcpu_state_save(v->fd, &vm->msrs, vm->pc != NULL, st, e);
}

/* Counters that run on by design. The TSC: KVM takes a host write of
 * IA32_TSC that lies within one second of the running value as a
 * synchronisation and keeps the running TSC (kvm_synchronize_tsc), so a
 * restored TSC is only within about a second of the snapshot's (seen here:
 * 0.3 s apart); 2^33 cycles is 3.3 s at 2.6 GHz, while a TSC that was not
 * restored at all is off by the host's uptime (~10^12 cycles here).
 * Hyper-V's partition reference counter is kvmclock in 100 ns units, which
 * KVM_SET_CLOCK restores: within 100 ms. Hyper-V's vCPU runtime counter
 * (KVMs with Hyper-V emulation list it as saveable, seen in the nested
 * QEMU runs, docs/nested-qemu.md) is host run time, never restored. */
#define MSR_IA32_TSC 0x10
#define HV_X64_MSR_VP_RUNTIME 0x40000010
#define HV_X64_MSR_TIME_REF_COUNT 0x40000020
/* Does this host let a VMM set a vCPU's TSC at all? Set it far from the
 * running value and read it back. Hosts where the guest reads the host's
 * TSC directly (PVM, as here) answer no: there the TSC is not compared. */
static int tsc_settable(void)
{
	static int cached = -1;
	if (cached >= 0)
		return cached;
	cached = 0;
	int k = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vmfd = k < 0 ? -1 : ioctl(k, KVM_CREATE_VM, 0);
	int v = vmfd < 0 ? -1 : ioctl(vmfd, KVM_CREATE_VCPU, 0);
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = { .h = { .nmsrs = 1 }, .e = { .index = MSR_IA32_TSC, .data = 1ull << 50 } };
	if (v >= 0 && ioctl(v, KVM_SET_MSRS, &m) == 1) {
		m.e.data = 0;
		if (ioctl(v, KVM_GET_MSRS, &m) == 1)
			cached = m.e.data - (1ull << 50) < (1ull << 33);
	}
	if (v >= 0)
		close(v);
	if (vmfd >= 0)
		close(vmfd);
	if (k >= 0)
		close(k);
	if (!cached)
		fprintf(stderr, "note: this host does not let a VMM set the guest TSC: TSC not compared\n");
	return cached;
}

static int clock_msr_matches(uint32_t index, uint64_t a, uint64_t b)
{
	uint64_t d = a > b ? a - b : b - a;
	switch (index) {
	case MSR_IA32_TSC: return !tsc_settable() || d < (1ull << 33);
	case HV_X64_MSR_TIME_REF_COUNT: return d < 1000000;
	case HV_X64_MSR_VP_RUNTIME: return 1;
	default: return a == b;
	}
}

static size_t first_diff(const void *a, const void *b)
{
	const uint8_t *x = a, *y = b;
	size_t i = 0;
	while (x[i] == y[i])
		i++;
	return i;
}

int vcpu_state_diff(const struct vcpu_state *a, const struct vcpu_state *b, char *why, size_t n)
{
	/* struct kvm_regs is 18 u64 in this order: name the one that differs. */
	static const char *const reg[] = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9",
	                                   "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags" };
	_Static_assert(sizeof(struct kvm_regs) == sizeof(reg) / sizeof(reg[0]) * 8, "kvm_regs layout");
	const uint64_t *ra = (const uint64_t *)&a->regs, *rb = (const uint64_t *)&b->regs;
	for (unsigned i = 0; i < sizeof(reg) / sizeof(reg[0]); i++) {
		if (ra[i] != rb[i]) {
			snprintf(why, n, "%s %#llx vs %#llx (rip %#llx vs %#llx)", reg[i], (unsigned long long)ra[i],
			         (unsigned long long)rb[i], (unsigned long long)a->regs.rip,
			         (unsigned long long)b->regs.rip);
			return 1;
		}
	}
#define PART(f, name)                                                                  \
	if (memcmp(&a->f, &b->f, sizeof(a->f))) {                                      \
		size_t o = first_diff(&a->f, &b->f);                                   \
		snprintf(why, n, "%s differ at byte %zu: %#x vs %#x (rip %#llx)", name, o, \
		         ((const uint8_t *)&a->f)[o], ((const uint8_t *)&b->f)[o],    \
		         (unsigned long long)a->regs.rip);                             \
		return 1;                                                              \
	}
	PART(sregs, "system registers")
	/* XSAVE: every byte but XSTATE_BV (bytes 512..519). KVM_GET_XSAVE
	 * writes a component's init values when its XSTATE_BV bit is clear,
	 * so equal bytes are equal state; the bit itself only says whether
	 * the CPU tracked the (init-valued) component as in use, which a
	 * KVM_RUN with immediate_exit may change (seen: SSE 2 -> 0 on a
	 * secondary that never touches XMM). */
	struct kvm_xsave xa = a->xsave, xb = b->xsave;
	memset((uint8_t *)&xa + 512, 0, 8);
	memset((uint8_t *)&xb + 512, 0, 8);
	if (memcmp(&xa, &xb, sizeof(xa))) {
		size_t o = first_diff(&xa, &xb);
		snprintf(why, n, "XSAVE states differ at byte %zu: %#x vs %#x (rip %#llx)", o,
		         ((const uint8_t *)&xa)[o], ((const uint8_t *)&xb)[o], (unsigned long long)a->regs.rip);
		return 1;
	}
	PART(xcrs, "XCRs")
	PART(debugregs, "debug registers")
	PART(events, "vCPU events")
	PART(mp_state, "MP states")
#undef PART
	if (a->nmsrs != b->nmsrs) {
		snprintf(why, n, "%u vs %u MSRs", a->nmsrs, b->nmsrs);
		return 1;
	}
	for (uint32_t i = 0; i < a->nmsrs; i++) {
		if (a->msrs[i].index != b->msrs[i].index ||
		    !clock_msr_matches(a->msrs[i].index, a->msrs[i].data, b->msrs[i].data)) {
			snprintf(why, n, "MSR %#x: %#llx vs MSR %#x: %#llx", a->msrs[i].index,
			         (unsigned long long)a->msrs[i].data, b->msrs[i].index,
			         (unsigned long long)b->msrs[i].data);
			return 1;
		}
	}
	return 0;
}
