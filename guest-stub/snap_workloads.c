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
 * snaptest mib=N layers=L touch=T: fill N MiB (first two qwords of each
 * page: cowvm_snap_value(p, 0), p), snapshot. A clone checks it sees the
 * pattern of whoever wrote last, writes its own into the first T pages
 * (default all), checks again and reports snap.id, snap.bad, snap.checksum.
 * With layers=1 the first clone generation snapshots again (a layer); the
 * clones of that layer check they see the layer's pattern.
 */
int wl_snaptest(const struct workload_env *env)
{
	int badarg = 0;
	uint64_t mib = wl_arg_u64(env, "mib", 4, &badarg);
	uint64_t layers = wl_arg_u64(env, "layers", 0, &badarg);
	uint64_t base = (env->heap_base + PAGE - 1) & ~(PAGE - 1);
	uint64_t avail = env->heap_size - (base - env->heap_base);
	if (badarg || !mib || mib > avail >> 20) {
		print("snaptest: bad arguments (mib must be 1..heap size)\n");
		return 3;
	}
	uint64_t npages = mib << 8;
	uint64_t touch = wl_arg_u64(env, "touch", npages, &badarg);
	if (touch > npages)
		touch = npages;
	volatile uint64_t *buf = (volatile uint64_t *)(uintptr_t)base;
	for (uint64_t p = 0; p < npages; p++) {
		buf[p * QW_PER_PAGE] = cowvm_snap_value(p, 0);
		buf[p * QW_PER_PAGE + 1] = p;
	}
	int64_t id = hc_snapshot();
	if (id < 0) {
		print("snaptest: the VMM took no snapshot\n");
		return 5;
	}
	if (id == 0) {
		print("snaptest: original\n");
		hc_report("snap.id", 0);
		return 0;
	}
	for (;;) {
		uint64_t bad = check_pattern(buf, npages, touch, pattern_writer);
		for (uint64_t p = 0; p < touch; p++)
			buf[p * QW_PER_PAGE] = cowvm_snap_value(p, (uint64_t)id);
		bad += check_pattern(buf, npages, touch, (uint64_t)id);
		hc_report("snap.id", (uint64_t)id);
		hc_report("snap.seen", pattern_writer);
		hc_report("snap.bad", bad);
		hc_report("snap.checksum", fold_pages(buf, npages));
		if (bad || !layers)
			return bad ? 1 : 0;
		/* Snapshot this clone's state as a layer; its clones start here. */
		layers--;
		pattern_writer = (uint64_t)id;
		int64_t id2 = hc_snapshot();
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
		print("warm: bad arguments (mib must be 1..heap size)\n");
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
	hc_report("warm.slots", nslots);
	int64_t id = hc_snapshot();
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
	hc_report("warm.clone", (uint64_t)id);
	hc_report("warm.status", status);
	return (int)status;
}
