/*
 * linux_serverless.c - the serverless measurement for Linux guests: one
 * request answered by a warm Linux service (the guest agent holding
 * --warm-mib of warm state), three ways, in the same run:
 *   cold    boot the kernel per request (the agent gets no snapshot and
 *           serves the request itself);
 *   fresh   a fresh KVM VM per request whose RAM is the snapshot file's
 *           memory mapped MAP_PRIVATE, vCPUs and devices restored (the
 *           Firecracker way; vm_clone without a shell pool);
 *   cowvm   a clone from a pool of shells (vm_clone + vm_release), the
 *           guest-physical table shared copy-on-write.
 * Prints per-request latency (median, p90), the clone call alone, host
 * memory private to each clone, and every figure as a ratio to cold boot.
 * Absolute times under nested QEMU mean little; the ratios are the result
 * (docs/linux-guests.md).
 *
 *   linux-serverless [KERNEL INITRD [N requests, default 20] [COLD boots, default 2]]
 * Without arguments the files come from LINUX_KERNEL / LINUX_INITRD (how
 * tools/qemu_test.sh --suite linux-bench runs it inside nested QEMU).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "clone.h"
#include "linux_vm.h"
#include "snapshot.h"

#define REQUEST "echo served-by-$(cat /proc/sys/kernel/random/uuid)"
#define CMDLINE "console=ttyS0 quiet panic=-1 pci=off cowvm.test=agent cowvm.warm_mib=32"

static void drop(void *ctx, const char *buf, size_t len) { (void)ctx; (void)buf; (void)len; }

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, unsigned n, double p)
{
	qsort(v, n, sizeof(*v), cmp);
	unsigned i = (unsigned)(p * (n - 1) + 0.5);
	return v[i];
}

/* The request into the agent's input buffer, run to the agent's exit. */
static int serve(struct vm *vm, struct vmm_err *e)
{
	int r = vm_guest_write(vm, vm->layout.in_base, REQUEST, sizeof(REQUEST), e);
	struct vm_result res;
	r = r ?: vm_run(vm, &res, e);
	if (!r && (res.end != VM_END_EXIT || res.status != 0))
		r = vmm_fail(e, -EIO, "request ended %d status %d: %s", res.end, res.status, res.msg);
	return r;
}

static struct vm_config config(void *k, size_t kl, void *i, size_t il, bool snapshots)
{
	return (struct vm_config){ .mem_size = 256ull << 20, .nvcpus = 1, .timeout_ms = 300000, .console = drop,
	                           .kernel = k, .kernel_len = kl, .initrd = i, .initrd_len = il,
	                           .cmdline = CMDLINE, .snapshots = snapshots };
}

int main(int argc, char **argv)
{
	const char *kpath = argc > 2 ? argv[1] : getenv("LINUX_KERNEL");
	const char *ipath = argc > 2 ? argv[2] : getenv("LINUX_INITRD");
	if (argc == 2 || !kpath || !ipath) {
		fprintf(stderr, "usage: %s [KERNEL INITRD [N] [COLD]] (or LINUX_KERNEL, LINUX_INITRD)\n", argv[0]);
		return 2;
	}
	unsigned n = argc > 3 ? (unsigned)atoi(argv[3]) : 20, ncold = argc > 4 ? (unsigned)atoi(argv[4]) : 2;
	if (n < 1 || n > 10000 || ncold < 1 || ncold > 100) {
		fprintf(stderr, "N must be 1..10000, COLD 1..100\n");
		return 2;
	}
	size_t kl, il;
	void *k = slurp(kpath, &kl), *ird = slurp(ipath, &il);
	if (!k || !ird) {
		fprintf(stderr, "cannot read %s or %s\n", kpath, ipath);
		return 2;
	}
	struct vmm_err e = { 0 };
	double *cold = calloc(ncold, sizeof(double)), *fresh = calloc(n, sizeof(double)),
	       *pooled = calloc(n, sizeof(double)), *clone_call = calloc(n, sizeof(double)),
	       *fresh_call = calloc(n, sizeof(double));
	uint64_t priv_sum = 0;
	int r = 0;
	for (unsigned i = 0; !r && i < ncold; i++) {
		struct vm_config c = config(k, kl, ird, il, false);
		struct vm *vm;
		double t0 = now_s();
		r = vm_create(&c, &vm, &e);
		r = r ?: serve(vm, &e);
		cold[i] = now_s() - t0;
		if (!r)
			vm_destroy(vm);
	}
	/* one boot to the warm snapshot */
	struct snapshot *s = NULL;
	double boot = 0;
	if (!r) {
		struct vm_config c = config(k, kl, ird, il, true);
		struct vm *vm;
		struct vm_result res;
		double t0 = now_s();
		r = vm_create(&c, &vm, &e);
		r = r ?: vm_run(vm, &res, &e);
		if (!r && res.end != VM_END_SNAPSHOT)
			r = vmm_fail(&e, -EIO, "no snapshot request: %s", res.msg);
		r = r ?: snapshot_take(vm, &s, &e);
		boot = now_s() - t0;
		vm_destroy(vm);
	}
	struct clone_opts o = { .console = drop, .timeout_ms = 60000 };
	for (unsigned i = 0; !r && i < n; i++) {
		struct vm *vm;
		double t0 = now_s();
		r = vm_clone(NULL, s, &o, &vm, &e);
		fresh_call[i] = now_s() - t0;
		r = r ?: serve(vm, &e);
		fresh[i] = now_s() - t0;
		vm_destroy(vm);
	}
	struct vm_pool *pool = NULL;
	r = r ?: vm_pool_create(2, &pool, &e);
	for (unsigned i = 0; !r && i < n; i++) {
		struct vm *vm;
		double t0 = now_s();
		r = vm_clone(pool, s, &o, &vm, &e);
		clone_call[i] = now_s() - t0;
		r = r ?: serve(vm, &e);
		pooled[i] = now_s() - t0;
		struct vm_mem_stats ms;
		if (!r && !vm_mem_stats(vm, &ms, &e))
			priv_sum += ms.host_private_bytes;
		vm_release(pool, vm);
	}
	if (r) {
		fprintf(stderr, "linux-serverless: %s\n", e.msg);
		return 1;
	}
	double cold_med = pct(cold, ncold, 0.5);
	printf("linux-serverless: %u requests, warm state 32 MiB, 256 MiB guest; boot to the warm snapshot %.2f s\n", n,
	       boot);
	printf("%-44s %10s %10s %12s\n", "per request", "median s", "p90 s", "cold/this");
	printf("%-44s %10.4f %10.4f %12.1f\n", "cold boot (kernel boot + agent)", cold_med, pct(cold, ncold, 0.9), 1.0);
	double fm = pct(fresh, n, 0.5), pm = pct(pooled, n, 0.5);
	printf("%-44s %10.4f %10.4f %12.1f\n", "fresh VM + MAP_PRIVATE restore (Firecracker)", fm, pct(fresh, n, 0.9),
	       cold_med / fm);
	printf("%-44s %10.4f %10.4f %12.1f\n", "cowvm pooled clone", pm, pct(pooled, n, 0.9), cold_med / pm);
	printf("%-44s %10.6f %10.6f %12s\n", "  of which vm_clone, fresh VM", pct(fresh_call, n, 0.5),
	       pct(fresh_call, n, 0.9), "");
	printf("%-44s %10.6f %10.6f %12s\n", "  of which vm_clone, pooled", pct(clone_call, n, 0.5),
	       pct(clone_call, n, 0.9), "");
	printf("host memory private to a pooled clone after its request: %.1f MiB on average\n",
	       (double)priv_sum / n / (1 << 20));
	vm_pool_destroy(pool);
	snapshot_put(s);
	free(k);
	free(ird);
	return 0;
}
