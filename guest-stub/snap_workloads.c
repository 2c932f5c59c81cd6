/*
 * snap_workloads.c - ring-3 workloads that ask for a snapshot of themselves
 * (COWVM_HC_SNAPSHOT): snaptest (clone isolation and layers, checked by the
 * host against cowvm_snap_value) and warm (the serverless shape: build a
 * warm table once, answer one request per clone).
 */
#include "guest.h"

#define PAGE 4096ull
#define QW_PER_PAGE (PAGE / 8)

/* Which clone wrote the pattern this memory holds (0: the snapshot's own);
 * lives in guest RAM, so a layer snapshot carries it to its clones. */
static volatile uint64_t pattern_writer;

/* Count pages of buf whose first qword differs from the pattern of `writer`
 * on pages < touch and of the snapshot (0) on the rest. */
static uint64_t check_pattern(volatile uint64_t *buf, uint64_t npages, uint64_t touch, uint64_t writer)
{
	uint64_t bad = 0;
	for (uint64_t p = 0; p < npages; p++) {
		uint64_t want = cowvm_snap_value(p, p < touch ? writer : 0);
		if (buf[p * QW_PER_PAGE] != want || buf[p * QW_PER_PAGE + 1] != p)
			bad++;
	}
	return bad;
}

static uint64_t fold_pages(volatile uint64_t *buf, uint64_t npages)
{
	uint64_t h = COWVM_FOLD_INIT;
	for (uint64_t p = 0; p < npages; p++)
		h = cowvm_fold(h, buf[p * QW_PER_PAGE]);
	return h;
}

/*
 * snaptest mib=N layers=L touch=T aps=A: fill N MiB (first two qwords of
 * each page: cowvm_snap_value(p, 0), p), snapshot. A clone checks it sees
 * the pattern of whoever wrote last, writes its own into the first T pages
 * (default all), checks again and reports snap.id, snap.bad, snap.checksum.
 * With layers=1 the first clone generation snapshots again (a layer); the
 * clones of that layer check they see the layer's pattern.
 * With aps=1 the other vCPUs do not park: each loops writing its own page
 * and doing MMIO (wl_snaptest_ap), and vCPU 0 snapshots while they run;
 * in a clone it waits until each has gone round its loop AP_SPINS more
 * times and reports snap.apbad (inconsistencies they saw) and
 * snap.apstuck (vCPUs that did not get round).
 */
/* One page per vCPU, written only by that vCPU: its loop count, and a
 * ring of values derived from it. */
#define AP_RING 500
struct ap_page {
	volatile uint64_t count;
	volatile uint64_t ring[AP_RING];
} __attribute__((aligned(4096)));
static struct ap_page ap_pages[COWVM_MAX_VCPUS];
static volatile uint64_t ap_bad;     /* inconsistencies seen by any AP */
static volatile uint64_t ap_started; /* APs in their loop */
#define AP_SPINS 2000
#define AP_BLOCK_NR 63 /* no handler: -ENOSYS */

static uint64_t ap_value(uint64_t cpu, uint64_t n)
{
	return cowvm_snap_value(n, cpu) ^ n;
}

/*
 * A secondary vCPU of snaptest with aps=1 (else it returns at once and
 * parks): forever, check that its page holds what it last wrote (its count
 * lives in a register, so a restore that puts back memory and registers
 * of different moments shows), write the next values, read an unbacked
 * address (an MMIO exit KVM completes with all-ones at the next KVM_RUN)
 * and every 16th round ring the doorbell with a hypercall no handler has.
 */
void wl_snaptest_ap(const struct workload_env *env)
{
	int badarg = 0;
	if (!wl_arg_u64(env, "aps", 0, &badarg) || badarg || env->cpu >= COWVM_MAX_VCPUS)
		return;
	struct ap_page *pg = &ap_pages[env->cpu];
	uint64_t n = pg->count;
	__atomic_fetch_add(&ap_started, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		uint64_t bad = pg->count != n || pg->ring[n % AP_RING] != (n ? ap_value(env->cpu, n) : 0);
		n++;
		pg->ring[n % AP_RING] = ap_value(env->cpu, n);
		pg->count = n;
		bad += *(volatile uint64_t *)(uintptr_t)(COWVM_GPA_DOORBELL + 16) != ~0ull;
		if (n % 16 == 0)
			bad += cg_hypercall(AP_BLOCK_NR, n, 0, 0, 0, 0) != -38; /* -ENOSYS */
		if (bad)
			__atomic_fetch_add(&ap_bad, bad, __ATOMIC_SEQ_CST);
	}
}

/* vCPU 0: wait until every AP has gone round its loop `spins` more times
 * than now (bounded); returns how many did not. */
static uint64_t wait_for_aps(const struct workload_env *env, uint64_t spins)
{
	uint64_t from[COWVM_MAX_VCPUS], stuck = 0;
	for (uint64_t c = 1; c < env->ncpus && c < COWVM_MAX_VCPUS; c++)
		from[c] = ap_pages[c].count;
	for (uint64_t c = 1; c < env->ncpus && c < COWVM_MAX_VCPUS; c++) {
		uint64_t t;
		for (t = 0; t < (1ull << 32) && ap_pages[c].count - from[c] < spins; t++)
			__asm__ volatile("pause");
		stuck += ap_pages[c].count - from[c] < spins;
	}
	return stuck;
}

int wl_snaptest(const struct workload_env *env)
{
	int badarg = 0;
	uint64_t mib = wl_arg_u64(env, "mib", 4, &badarg);
	uint64_t layers = wl_arg_u64(env, "layers", 0, &badarg);
	uint64_t base = (env->heap_base + PAGE - 1) & ~(PAGE - 1);
	uint64_t avail = env->heap_size - (base - env->heap_base);
	if (badarg || !mib || mib > avail >> 20) {
		cg_print("snaptest: bad arguments (mib must be 1..heap size)\n");
		return 3;
	}
	uint64_t npages = mib << 8;
	uint64_t touch = wl_arg_u64(env, "touch", npages, &badarg);
	if (touch > npages)
		touch = npages;
	uint64_t aps = wl_arg_u64(env, "aps", 0, &badarg) && env->ncpus > 1;
	volatile uint64_t *buf = (volatile uint64_t *)(uintptr_t)base;
	for (uint64_t p = 0; p < npages; p++) {
		buf[p * QW_PER_PAGE] = cowvm_snap_value(p, 0);
		buf[p * QW_PER_PAGE + 1] = p;
	}
	if (aps) {
		/* Snapshot in the middle of the APs' loops, not before them. */
		while (ap_started < env->ncpus - 1)
			__asm__ volatile("pause");
		if (wait_for_aps(env, AP_SPINS)) {
			cg_print("snaptest: secondary vCPUs did not run\n");
			return 6;
		}
	}
	int64_t id = cg_snapshot();
	if (id < 0) {
		cg_print("snaptest: the VMM took no snapshot\n");
		return 5;
	}
	if (id == 0) {
		cg_print("snaptest: original\n");
		cg_report("snap.id", 0);
		return 0;
	}
	for (;;) {
		uint64_t bad = check_pattern(buf, npages, touch, pattern_writer);
		for (uint64_t p = 0; p < touch; p++)
			buf[p * QW_PER_PAGE] = cowvm_snap_value(p, (uint64_t)id);
		bad += check_pattern(buf, npages, touch, (uint64_t)id);
		cg_report("snap.id", (uint64_t)id);
		cg_report("snap.seen", pattern_writer);
		cg_report("snap.bad", bad);
		cg_report("snap.checksum", fold_pages(buf, npages));
		if (aps) {
			cg_report("snap.apstuck", wait_for_aps(env, AP_SPINS));
			cg_report("snap.apbad", ap_bad);
		}
		if (bad || !layers)
			return bad ? 1 : 0;
		/* Snapshot this clone's state as a layer; its clones start here. */
		layers--;
		pattern_writer = (uint64_t)id;
		int64_t id2 = cg_snapshot();
		if (id2 <= 0)
			return id2 < 0 ? 5 : 0; /* the layer's original runs on: done */
		id = id2;
		/* A clone of the layer: it must see the layer creator's pattern,
		 * then write its own like any clone. */
	}
}

/*
 * warm mib=N: a table of 2^k (key, value) slots filling about N MiB, keys
 * placed by an odd multiplicative hash (a bijection on the slots), built
 * before the snapshot. Each clone answers the request in its input buffer.
 */
int wl_warm(const struct workload_env *env)
{
	int badarg = 0;
	uint64_t mib = wl_arg_u64(env, "mib", 16, &badarg);
	uint64_t base = (env->heap_base + PAGE - 1) & ~(PAGE - 1);
	uint64_t avail = env->heap_size - (base - env->heap_base);
	if (badarg || !mib || mib > avail >> 20) {
		cg_print("warm: bad arguments (mib must be 1..heap size)\n");
		return 3;
	}
	uint64_t nslots = 1;
	while (nslots * 2 * 16 <= mib << 20)
		nslots *= 2;
	volatile uint64_t *keys = (volatile uint64_t *)(uintptr_t)base;
	volatile uint64_t *vals = keys + nslots;
	for (uint64_t k = 0; k < nslots; k++) {
		uint64_t pos = (k * 0x9e3779b97f4a7c15ull) & (nslots - 1);
		keys[pos] = k;
		vals[pos] = cowvm_warm_value(k);
	}
	cg_report("warm.slots", nslots);
	int64_t id = cg_snapshot();
	if (id < 0)
		id = 0; /* no snapshot: serve the request as the original */

	const volatile struct cowvm_request *req = (const volatile struct cowvm_request *)(uintptr_t)env->in_base;
	volatile struct cowvm_response *resp = (volatile struct cowvm_response *)(uintptr_t)env->out_base;
	uint64_t n = req->nkeys, sum = COWVM_FOLD_INIT, status = 0;
	if (req->magic == 0) {
		n = 0; /* an empty input buffer: no request, nothing to answer */
	} else if (req->magic != COWVM_REQ_MAGIC || n > COWVM_REQ_MAX_KEYS ||
	           sizeof(*req) + n * 8 > env->in_size) {
		status = 1;
		n = 0;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t k = req->keys[i];
		uint64_t pos = (k * 0x9e3779b97f4a7c15ull) & (nslots - 1);
		if (k >= nslots || keys[pos] != k) {
			status = 2;
			break;
		}
		sum = cowvm_fold(sum, vals[pos]);
	}
	resp->clone = (uint64_t)id;
	resp->status = status;
	resp->nkeys = n;
	resp->sum = sum;
	resp->magic = COWVM_RESP_MAGIC;
	cg_report("warm.clone", (uint64_t)id);
	cg_report("warm.status", status);
	return (int)status;
}
