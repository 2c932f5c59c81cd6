/*
 * sdk_probe.c - a guest built on the guest SDK exactly as a user builds one
 * (one C file, pkg-config's flags): each `mode` argument exercises one part
 * of cowguest.h and prints or reports what it saw, for tests/sdk/test_sdk.c
 * to compare byte for byte.
 *
 *   mode=printf  a fixed set of cg_printf / cg_snprintf conversions
 *   mode=args    the name, the argument count and every key=value in order
 *   mode=heap    malloc/calloc/realloc/free patterns; reports heap.* values
 *   mode=msg     echo the request upper-cased as the response; exit 0, or
 *                9 when there is no request
 *   mode=snap    build a warm table of n values (default 100000) on the
 *                heap, snapshot; the original prints "original: R" (R the
 *                snapshot call's return) and exits 0; clone N checks the
 *                table, scribbles over it, responds "clone N sum S" (and
 *                ": " plus the request upper-cased, if there is one),
 *                reports snap.clone and snap.ok and exits 0 (4 if the table
 *                was not intact); then=fault|spin|exit3 makes each clone
 *                fault, spin or exit 3 after reporting instead
 *   mode=exit    exit with status=N
 *   mode=spin    loop forever (for timeouts)
 *   mode=fault   read address 1 (the NULL guard page; 1 = the argument count)
 *   mode=ap      every secondary vCPU reports ap.<cpu> = cpu * 10 + 1
 *   mode=ring0   a ring-0 call through the gate (cg_ring0_handler below)
 */
#include <cowguest.h>

static const char *volatile null_string; /* NULL, unknown to gcc's checks */

static int do_printf(void)
{
	char buf[32];
	cg_printf("d=%d i=%i neg=%d u=%u\n", 42, -7, -2147483647 - 1, 4000000000u);
	cg_printf("x=%x X=%X o=%o p=%p\n", 0xbeefu, 0xbeefu, 8u, (void *)0x1000);
	cg_printf("ll=%lld llu=%llu llx=%llx\n", -9223372036854775807ll - 1, 18446744073709551615ull,
	          0x123456789abcdefull);
	cg_printf("z=%zu hh=%hhd h=%hu\n", (size_t)12345, 300, 70000);
	cg_printf("[%5d] [%-5d] [%05d] [%+d] [% d] [%.3d] [%8.3x]\n", 42, 42, 42, 42, 42, 7, 0xab);
	cg_printf("[%s] [%8s] [%-8s] [%.2s] [%*s] [%c] [%%] [%s]\n", "abc", "abc", "abc", "abc", 4, "x",
	          'Q', null_string);
	int n = cg_snprintf(buf, 8, "%s-%d", "truncated", 123);
	cg_printf("snprintf n=%d buf=%s\n", n, buf);
	n = cg_snprintf(buf, sizeof(buf), "%08llx", 0xabcull);
	cg_printf("snprintf n=%d buf=%s\n", n, buf);
	return 0;
}

static int do_args(void)
{
	unsigned n = cg_arg_count();
	cg_printf("name=%s count=%u\n", cg_name(), n);
	for (unsigned i = 0; i < n; i++) {
		const char *k, *v;
		if (cg_arg_at(i, &k, &v))
			return 2;
		cg_printf("arg %u: %s=%s\n", i, k, v);
	}
	const char *k, *v;
	uint64_t num;
	int r = cg_arg_u64("num", 5, &num);
	cg_printf("past the end: %d; missing: %s; num: %d %llu\n", cg_arg_at(n, &k, &v),
	          cg_arg("no-such-key") ? "found" : "NULL", r, (unsigned long long)num);
	return 0;
}

static int do_heap(void)
{
	size_t region;
	cg_heap_region(&region);
	uint8_t *a = cg_malloc(100), *b = cg_malloc(1000), *c = cg_malloc(10);
	if (!a || !b || !c || ((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) & 15)
		return 2;
	memset(a, 0xaa, 100);
	memset(b, 0xbb, 1000);
	memset(c, 0xcc, 10);
	cg_report("heap.used3", cg_heap_used());
	cg_free(b);
	uint8_t *d = cg_malloc(500); /* first fit: b's place */
	cg_report("heap.reuse", d == b);
	cg_free(d);
	uint64_t *z = cg_calloc(64, 8);
	uint64_t sum = 0;
	for (int i = 0; i < 64; i++)
		sum += z[i];
	cg_report("heap.calloc_zero", sum == 0);
	uint8_t *a2 = cg_realloc(a, 5000);
	int kept = a2 != 0;
	for (int i = 0; kept && i < 100; i++)
		kept = a2[i] == 0xaa;
	cg_report("heap.realloc_kept", kept);
	cg_report("heap.too_big", cg_malloc(region + 1) == 0);
	cg_report("heap.overflow", cg_calloc((size_t)1 << 40, (size_t)1 << 40) == 0);
	cg_free(a2);
	cg_free(c);
	cg_free(z);
	cg_free((void *)0);
	cg_report("heap.used_end", cg_heap_used());
	/* Everything freed and merged: one block as large as at the start. */
	size_t largest = cg_heap_largest_free();
	cg_report("heap.whole", largest + 16 >= (region & ~(size_t)15) - 16);
	void *big = cg_malloc(largest);
	cg_report("heap.largest_fits", big != 0);
	cg_free(big);
	cg_printf("heap ok\n");
	return 0;
}

static int do_msg(void)
{
	const char *req;
	size_t len;
	if (cg_request((const void **)&req, &len)) {
		cg_printf("no request\n");
		return 9;
	}
	char out[256];
	size_t n = len < sizeof(out) ? len : sizeof(out);
	for (size_t i = 0; i < n; i++)
		out[i] = req[i] >= 'a' && req[i] <= 'z' ? (char)(req[i] - 32) : req[i];
	cg_report("msg.len", len);
	return cg_respond(out, n) ? 3 : 0;
}

static int do_snap(void)
{
	uint64_t nvals;
	if (cg_arg_u64("n", 100000, &nvals) || !nvals)
		return 2;
	uint64_t *t = cg_malloc(nvals * 8);
	if (!t)
		return 2;
	for (uint64_t i = 0; i < nvals; i++)
		t[i] = i * i;
	int64_t id = cg_snapshot();
	if (id <= 0) {
		cg_printf("original: %lld\n", (long long)id);
		return 0;
	}
	uint64_t sum = 0, ok = 1;
	for (uint64_t i = 0; i < nvals; i++) {
		ok &= t[i] == i * i;
		sum += t[i];
		t[i] = (uint64_t)id; /* each clone scribbles; the next must not see it */
	}
	char r[300];
	const char *req;
	size_t len;
	int n = cg_snprintf(r, sizeof(r), "clone %lld sum %llu", (long long)id, (unsigned long long)sum);
	if (!cg_request((const void **)&req, &len)) {
		n += cg_snprintf(r + n, sizeof(r) - (size_t)n, ": ");
		for (size_t i = 0; i < len && n < (int)sizeof(r); i++)
			r[n++] = req[i] >= 'a' && req[i] <= 'z' ? (char)(req[i] - 32) : req[i];
	}
	cg_respond(r, (size_t)n);
	cg_report("snap.clone", (uint64_t)id);
	cg_report("snap.ok", ok);
	const char *then = cg_arg("then");
	if (then && cg_streq(then, "fault"))
		return (int)*(volatile uint64_t *)(uintptr_t)(cg_arg_count() * 16); /* NULL guard page */
	if (then && cg_streq(then, "spin"))
		for (;;)
			__asm__ volatile("pause");
	if (then && cg_streq(then, "exit3"))
		return 3;
	return ok ? 0 : 4;
}

static volatile uint64_t ring0_seen;
static volatile unsigned aps_done;

CG_RING0 int64_t cg_ring0_handler(unsigned gate, uint64_t nr, uint64_t arg)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	ring0_seen = cs & 3; /* the privilege level we run at: 0 */
	return gate == 'S' ? (int64_t)(nr * 1000 + arg) : -1;
}

void cg_ap_main(unsigned cpu)
{
	if (cg_streq(cg_arg("mode") ? cg_arg("mode") : "", "ap")) {
		char key[16];
		cg_snprintf(key, sizeof(key), "ap.%u", cpu);
		cg_report(key, cpu * 10 + 1);
		__atomic_fetch_add(&aps_done, 1, __ATOMIC_SEQ_CST);
	}
}

int main(void)
{
	const char *mode = cg_arg("mode");
	uint64_t v;
	if (!mode)
		mode = "";
	if (cg_streq(mode, "printf"))
		return do_printf();
	if (cg_streq(mode, "args"))
		return do_args();
	if (cg_streq(mode, "heap"))
		return do_heap();
	if (cg_streq(mode, "msg"))
		return do_msg();
	if (cg_streq(mode, "snap"))
		return do_snap();
	if (cg_streq(mode, "exit"))
		return cg_arg_u64("status", 0, &v) ? 99 : (int)v;
	if (cg_streq(mode, "spin"))
		for (;;)
			__asm__ volatile("pause");
	if (cg_streq(mode, "fault"))
		return (int)*(volatile uint64_t *)(uintptr_t)cg_arg_count() /* 1 arg: address 1 */;
	if (cg_streq(mode, "ap")) {
		/* Wait until every secondary vCPU has reported (bounded). */
		for (uint64_t i = 0; i < (1ull << 32) && aps_done < cg_ncpus() - 1; i++)
			__asm__ volatile("pause");
		cg_printf("ncpus=%u aps=%u\n", cg_ncpus(), aps_done);
		return 0;
	}
	if (cg_streq(mode, "ring0")) {
		int64_t r = cg_ring0_call(7, 42);
		cg_printf("ring0 returned %lld at cpl %llu\n", (long long)r, (unsigned long long)ring0_seen);
		return 0;
	}
	cg_printf("unknown mode '%s'\n", mode);
	return 1;
}
