/*
 * test_vmm_threads.c - the VMM's own concurrency, for ThreadSanitizer:
 * vm_run's vCPU threads and supervisor (a 4-vCPU guest whose secondaries
 * park while vCPU 0 runs, and a timeout that kicks a spinning guest), and
 * clones of one snapshot made, run, released and destroyed on 4 threads
 * through one shell pool (snapshot and family reference counts, frame
 * store, GPT domain, pool lists, the clone counter).
 *
 * A minimal TAP runner instead of Criterion, because Criterion cannot start
 * under TSan (see tests/mmu/meson.build); tools/test_summary.py counts TAP.
 * Suite 'stress': tools/run_tests.sh runs it in the normal build and in
 * build-tsan. Each case is "# SKIP" without a usable /dev/kvm.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clone.h"
#include "snapshot.h"
#include "vm.h"

#define MiB (1ull << 20)
#define THREADS 4
#define PER_THREAD 25

static int failed;
static char why[512];

static void fail(const char *fmt, ...)
{
	if (failed++)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
}

static void quiet(void *ctx, const char *buf, size_t len) { (void)ctx, (void)buf, (void)len; }

static int kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int n_case;

static void report(const char *name, int skip)
{
	n_case++;
	if (skip)
		printf("ok %d - %s # SKIP /dev/kvm is missing or not usable\n", n_case, name);
	else if (failed)
		printf("not ok %d - %s: %s\n", n_case, name, why);
	else
		printf("ok %d - %s\n", n_case, name);
	fflush(stdout);
	failed = 0;
}

static struct vm *boot(const char *workload, unsigned vcpus, uint64_t timeout_ms, bool snapshots)
{
	struct vm_config cfg = { .mem_size = 64 * MiB, .nvcpus = vcpus, .timeout_ms = timeout_ms,
	                         .console = quiet, .snapshots = snapshots };
	struct vmm_err err = { 0 };
	struct vm *vm = NULL;
	if (wl_parse(workload, &cfg.workload, &err) || vm_create(&cfg, &vm, &err))
		fail("%s: %s", workload, err.msg);
	return vm;
}

static void multi_vcpu_run(void)
{
	struct vm *vm = boot("hello", 4, 20000, false);
	if (!vm)
		return;
	struct vm_result res;
	struct vmm_err err = { 0 };
	if (vm_run(vm, &res, &err) || res.end != VM_END_EXIT || res.status != 0)
		fail("4-vCPU hello: end %d status %d: %s %s", res.end, res.status, res.msg, err.msg);
	vm_destroy(vm);
	/* A spinning guest: the supervisor's timeout kicks the vCPU threads. */
	vm = boot("spin", 2, 200, false);
	if (!vm)
		return;
	if (vm_run(vm, &res, &err) || res.end != VM_END_TIMEOUT)
		fail("spin: end %d: %s %s", res.end, res.msg, err.msg);
	vm_destroy(vm);
}

struct worker {
	struct snapshot *s;
	struct vm_pool *pool;
	pthread_t t;
};

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void *clone_worker(void *arg)
{
	struct worker *w = arg;
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000 };
	for (int i = 0; i < PER_THREAD; i++) {
		struct vmm_err err = { 0 };
		struct vm *c;
		/* Every 4th clone bypasses the pool: a full VM create/destroy. */
		struct vm_pool *p = i % 4 == 3 ? NULL : w->pool;
		if (vm_clone(p, w->s, &o, &c, &err)) {
			pthread_mutex_lock(&fail_lock);
			fail("vm_clone: %s", err.msg);
			pthread_mutex_unlock(&fail_lock);
			return NULL;
		}
		struct vm_result res;
		if (vm_run(c, &res, &err) || res.end != VM_END_EXIT || res.status != 0) {
			pthread_mutex_lock(&fail_lock);
			fail("clone %llu: end %d status %d: %s", (unsigned long long)c->clone_id, res.end,
			     res.status, res.msg);
			pthread_mutex_unlock(&fail_lock);
		}
		if (p)
			vm_release(p, c);
		else
			vm_destroy(c);
	}
	return NULL;
}

static void clones_on_threads(void)
{
	struct vm *vm = boot("snaptest:mib=1,touch=8", 1, 20000, true);
	if (!vm)
		return;
	struct vm_result res;
	struct vmm_err err = { 0 };
	struct snapshot *s = NULL;
	if (vm_run(vm, &res, &err) || res.end != VM_END_SNAPSHOT || snapshot_take(vm, &s, &err)) {
		fail("snapshot: end %d: %s %s", res.end, res.msg, err.msg);
		vm_destroy(vm);
		return;
	}
	vm_destroy(vm);
	struct vm_pool *pool;
	if (vm_pool_create(THREADS, &pool, &err)) {
		fail("pool: %s", err.msg);
		snapshot_put(s);
		return;
	}
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .s = s, .pool = pool };
		pthread_create(&w[i].t, NULL, clone_worker, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(w[i].t, NULL);
	if (!failed && atomic_load(&s->next_clone) != THREADS * PER_THREAD)
		fail("%llu clone numbers handed out, expected %d",
		     (unsigned long long)atomic_load(&s->next_clone), THREADS * PER_THREAD);
	vm_pool_destroy(pool);
	snapshot_put(s);
}

int main(void)
{
	int kvm = kvm_usable();
	printf("1..2\n");
	if (kvm)
		multi_vcpu_run();
	report("vm_run: 4 vCPUs (3 park), timeout kicks a spinning guest", !kvm);
	if (kvm)
		clones_on_threads();
	report("100 clones of one snapshot on 4 threads through one pool", !kvm);
	return 0;
}
