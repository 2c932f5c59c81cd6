/*
 * test_linux_snapshot.c - a warm Linux guest snapshotted, cloned and reset
 * (suite 'linux': these machines' KVM cannot run a stock kernel, so
 * tools/run_tests.sh runs this inside QEMU with nested KVM). Through the
 * library, like a serverless host: the guest agent (guest-agent/) builds
 * warm state and asks for the snapshot; every clone runs one shell command
 * from its input buffer and answers through the agent.
 *
 * Checks: every clone's answer is its own (its number, its own UUID and
 * urandom bytes, the host's wall-clock time); files, processes and memory a
 * clone made are gone after a reset (the whole guest window equals the
 * snapshot, and the guest itself finds no trace); no clone logs a soft
 * lockup, an RCU stall or a clock warning; a 2-vCPU guest clones too.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include "../vmm/kvm_test_util.h"
#include "clone.h"
#include "linux_vm.h"
#include "pc_state.h"
#include "snapshot.h"

#define NCLONES 20
#define BOOT_TIMEOUT_MS 300000
#define RUN_TIMEOUT_MS 60000

static const char *const bad_signs[] = {
	"soft lockup", "rcu: INFO", "self-detected stall", "hung_task", "timekeeping watchdog",
	"Marking clocksource", "Kernel panic", "BUG:", "Oops", "WARNING:", "segfault", NULL,
};

static void check_console(const struct console_buf *c, const char *who)
{
	if (getenv("LINUX_TEST_CMDLINE"))
		return; /* a debugging run with a chattier kernel */
	for (const char *const *b = bad_signs; *b; b++)
		cr_assert_null(memmem(c->data, c->len, *b, strlen(*b)), "%s: the console shows '%s':\n%.*s", who, *b,
		               (int)c->len, c->data);
}

static void *need_file(const char *env, size_t *len)
{
	const char *p = getenv(env);
	if (!p || access(p, R_OK))
		cr_skip_test("%s is not set or not readable (tools/linux_guest.sh makes it)", env);
	return slurp(p, len);
}

/* Boot the agent guest with `vcpus`, run it to its snapshot request, take
 * the snapshot, and let the original finish. */
static struct snapshot *warm_snapshot(unsigned vcpus)
{
	size_t klen, ilen;
	void *kernel = need_file("LINUX_KERNEL", &klen);
	void *initrd = need_file("LINUX_INITRD", &ilen);
	static struct console_buf con;
	con.len = 0;
	struct vm_config cfg = {
		.mem_size = 256ull << 20, .nvcpus = vcpus, .timeout_ms = BOOT_TIMEOUT_MS,
		.console = console_capture, .console_ctx = &con, .snapshots = true,
		.kernel = kernel, .kernel_len = klen, .initrd = initrd, .initrd_len = ilen,
		.cmdline = getenv("LINUX_TEST_CMDLINE") ? getenv("LINUX_TEST_CMDLINE") : "console=ttyS0 quiet panic=-1 pci=off cowvm.test=agent cowvm.warm_mib=16",
	};
	struct vm *vm;
	struct vmm_err e = { 0 };
	cr_assert_eq(vm_create(&cfg, &vm, &e), 0, "vm_create: %s", e.msg);
	free(kernel);
	free(initrd);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct vm_result res;
	cr_assert_eq(vm_run(vm, &res, &e), 0, "%s", e.msg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(res.end, VM_END_SNAPSHOT, "boot to the agent's snapshot: end %d (%s); console:\n%.*s", res.end,
	             res.msg, (int)con.len, con.data);
	cr_log_info("linux: %u vCPU(s): boot to the snapshot request %.1f s", vcpus,
	            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	check_console(&con, "boot");
	struct snapshot *s;
	cr_assert_eq(snapshot_take(vm, &s, &e), 0, "snapshot_take: %s", e.msg);
	cr_assert_not_null(s->meta.pc);
	cr_log_info("linux: snapshot XCR0 %#llx, XSTATE_BV %#x", (unsigned long long)s->meta.vcpu[0].xcrs.xcrs[0].value,
	            s->meta.vcpu[0].xsave.region[128]);
	vm->cfg.snapshots = false;
	cr_assert_eq(vm_run(vm, &res, &e), 0, "%s", e.msg);
	cr_assert_eq(res.end, VM_END_EXIT, "the original after its snapshot: end %d (%s)", res.end, res.msg);
	cr_assert_eq(res.status, 0);
	vm_destroy(vm);
	return s;
}

struct answer {
	struct vm_result res;
	struct console_buf con;
	char out[4096];
};

/* Run one request in clone c: the command goes to the input buffer, the
 * agent's answer comes back in the output buffer (struct cowvm_msg). */
static void ask(struct vm *c, const char *cmd, struct answer *a)
{
	struct vmm_err e = { 0 };
	if (getenv("LINUX_TEST_CMDLINE")) {
		for (unsigned i = 0; i < c->nvcpus; i++) {
			struct kvm_sregs sr;
			struct kvm_regs rg;
			ioctl(c->vcpus[i].fd, KVM_GET_SREGS, &sr);
			ioctl(c->vcpus[i].fd, KVM_GET_REGS, &rg);
			const struct vcpu_state *v = &c->snap->meta.vcpu[i];
			cr_log_info("vcpu %u clone: tr base %#llx limit %#x type %u sel %#x; rflags %#llx cs %#x efer %#llx | snap: tr base %#llx limit %#x type %u rflags %#llx cs %#x",
			            i, sr.tr.base, sr.tr.limit, sr.tr.type, sr.tr.selector, rg.rflags, sr.cs.selector, sr.efer,
			            v->sregs.tr.base, v->sregs.tr.limit, v->sregs.tr.type, v->regs.rflags, v->sregs.cs.selector);
		}
	}
	cr_assert_eq(vm_guest_write(c, c->layout.in_base, cmd, strlen(cmd) + 1, &e), 0, "%s", e.msg);
	a->con.len = 0;
	c->cfg.console_ctx = &a->con;
	cr_assert_eq(vm_run(c, &a->res, &e), 0, "%s", e.msg);
	cr_assert_eq(a->res.end, VM_END_EXIT, "clone %llu: end %d (%s); console:\n%.*s",
	             (unsigned long long)c->clone_id, a->res.end, a->res.msg, (int)a->con.len, a->con.data);
	struct cowvm_msg m;
	cr_assert_eq(vm_guest_read(c, c->layout.out_base, &m, sizeof(m), &e), 0, "%s", e.msg);
	cr_assert_eq(m.magic, COWVM_MSG_MAGIC, "clone %llu: no response message", (unsigned long long)c->clone_id);
	uint64_t len = m.len;
	cr_assert_lt(len, sizeof(a->out), "clone %llu: response of %llu bytes", (unsigned long long)c->clone_id,
	             (unsigned long long)len);
	cr_assert_eq(vm_guest_read(c, c->layout.out_base + COWVM_MSG_HDR, a->out, len, &e), 0, "%s", e.msg);
	a->out[len] = 0;
	check_console(&a->con, "clone");
}

static const char *field(const char *out, const char *key, char *buf, size_t n)
{
	const char *p = strstr(out, key);
	cr_assert_not_null(p, "no '%s' in the answer:\n%s", key, out);
	p += strlen(key);
	size_t i = 0;
	while (p[i] && p[i] != '\n' && i + 1 < n) {
		buf[i] = p[i];
		i++;
	}
	buf[i] = 0;
	return buf;
}

/* The request every clone answers: it leaves a file, a background process
 * and 4 MiB of written memory behind, and says who it is. */
#define REQUEST                                                                       \
	"mark=$(test -e /tmp/mark && echo dirty || echo clean); echo x > /tmp/mark; "     \
	"(sleep 1000 &) ; dd if=/dev/zero of=/dev/shm/m bs=1M count=4 2>/dev/null; "       \
	"echo before=$mark; echo uuid=$(cat /proc/sys/kernel/random/uuid); "             \
	"echo rand=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'); "           \
	"echo time=$(date +%s); echo cpus=$(grep -c ^processor /proc/cpuinfo)"

Test(linux, warm_guest_clones_are_not_twins_and_reset_exactly, .timeout = 1500)
{
	REQUIRE_KVM();
	struct snapshot *s = warm_snapshot(1);
	struct vm_pool *pool;
	struct vmm_err e = { 0 };
	cr_assert_eq(vm_pool_create(2, &pool, &e), 0, "%s", e.msg);
	static struct answer a;
	char uuids[NCLONES][64], rands[NCLONES][64], buf[64];
	struct clone_opts o = { .console = console_capture, .console_ctx = &a.con, .timeout_ms = RUN_TIMEOUT_MS };
	for (unsigned i = 0; i < NCLONES; i++) {
		struct vm *c;
		cr_assert_eq(vm_clone(pool, s, &o, &c, &e), 0, "clone %u: %s", i, e.msg);
		ask(c, REQUEST, &a);
		cr_assert_eq(a.res.status, 0, "clone %llu: status %d:\n%s", (unsigned long long)c->clone_id, a.res.status,
		             a.out);
		cr_assert_eq(report(&a.res, "clone"), c->clone_id, "the agent knows its clone number");
		cr_assert_str_eq(field(a.out, "before=", buf, sizeof(buf)), "clean", "clone %llu sees another's file",
		                 (unsigned long long)c->clone_id);
		field(a.out, "uuid=", uuids[i], sizeof(uuids[i]));
		field(a.out, "rand=", rands[i], sizeof(rands[i]));
		cr_assert_eq(strlen(uuids[i]), 36, "uuid '%s'", uuids[i]);
		cr_assert_eq(strlen(rands[i]), 32, "rand '%s'", rands[i]);
		for (unsigned j = 0; j < i; j++) {
			cr_assert_str_neq(uuids[i], uuids[j], "clones %u and %u share a UUID", i, j);
			cr_assert_str_neq(rands[i], rands[j], "clones %u and %u read the same urandom bytes", i, j);
		}
		long long t = atoll(field(a.out, "time=", buf, sizeof(buf)));
		long long now = (long long)time(NULL);
		cr_assert(t > now - 10 && t <= now + 1, "clone %u's wall clock says %lld, the host %lld", i, t, now);
		if (i % 5 == 4) {
			/* reset: everything the request left behind is gone */
			cr_assert_eq(vm_reset(c, NULL, &e), 0, "%s", e.msg);
			struct window_diff wd;
			if (window_diff(c, s, &wd)) {
				const uint8_t *g = c->mem.host + wd.first_gfn * 4096, *w = snapshot_page(s, wd.first_gfn);
				char line[512];
				size_t o = 0;
				for (int k = 0; k < 48; k++)
					o += (size_t)snprintf(line + o, sizeof(line) - o, "%02x/%02x ", g[k], w[k]);
				unsigned nb = 0;
				for (int k = 0; k < 4096; k++)
					nb += g[k] != w[k];
				cr_log_warn("reset diff page %#llx: %u bytes differ; first 48 got/want: %s",
				            (unsigned long long)(wd.first_gfn * 4096), nb, line);
			}
			assert_window_is_snapshot(c, s, "Linux clone after reset");
			ask(c, REQUEST, &a);
			cr_assert_eq(a.res.status, 0, "after reset: %s", a.out);
			cr_assert_str_eq(field(a.out, "before=", buf, sizeof(buf)), "clean", "after a reset the file is back");
		}
		vm_release(pool, c);
	}
	/* A layer: the snapshot of a clone that answered its request. Its own
	 * clones resume right after the agent's exit call: the agent returns
	 * its status to the init, which says so and powers off. */
	struct vm *c;
	cr_assert_eq(vm_clone(pool, s, &o, &c, &e), 0, "%s", e.msg);
	ask(c, "echo layered > /tmp/layer-mark; exit 7", &a);
	cr_assert_eq(a.res.status, 7);
	struct snapshot *l;
	cr_assert_eq(snapshot_take(c, &l, &e), 0, "layer: %s", e.msg);
	cr_assert_eq(l->parent, s);
	cr_assert_not_null(l->meta.pc, "a layer of a PC clone has its own machine state");
	vm_release(pool, c);
	for (int i = 0; i < 2; i++) {
		struct vm *lc;
		cr_assert_eq(vm_clone(pool, l, &o, &lc, &e), 0, "%s", e.msg);
		assert_window_is_snapshot(lc, l, "a clone of the layer");
		a.con.len = 0;
		struct vm_result res;
		cr_assert_eq(vm_run(lc, &res, &e), 0, "%s", e.msg);
		cr_assert_eq(res.end, VM_END_POWEROFF, "layer clone: end %d (%s); console:\n%.*s", res.end, res.msg,
		             (int)a.con.len, a.con.data);
		cr_assert_not_null(memmem(a.con.data, a.con.len, "COWVM-AGENT-RETURNED status=7", 29),
		                   "the layer's agent resumed after its exit call; console:\n%.*s", (int)a.con.len, a.con.data);
		check_console(&a.con, "layer clone");
		vm_release(pool, lc);
	}
	snapshot_put(l);

	struct vm_pool_stats st;
	vm_pool_get_stats(pool, &st);
	cr_log_info("linux: %d clones: %llu shells created, %llu reused, %llu remapped", NCLONES,
	            (unsigned long long)st.created, (unsigned long long)st.reused, (unsigned long long)st.remapped);
	cr_assert_leq(st.created, 2, "clones come from the pool's shells");
	vm_pool_destroy(pool);
	snapshot_put(s);
}

Test(linux, two_vcpu_guest_clones, .timeout = 900)
{
	REQUIRE_KVM();
	struct snapshot *s = warm_snapshot(2);
	static struct answer a;
	struct vmm_err e = { 0 };
	struct clone_opts o = { .console = console_capture, .console_ctx = &a.con, .timeout_ms = RUN_TIMEOUT_MS };
	char buf[64];
	for (unsigned i = 0; i < 3; i++) {
		struct vm *c;
		cr_assert_eq(vm_clone(NULL, s, &o, &c, &e), 0, "%s", e.msg);
		ask(c, REQUEST, &a);
		cr_assert_eq(a.res.status, 0, "%s", a.out);
		cr_assert_str_eq(field(a.out, "cpus=", buf, sizeof(buf)), "2");
		vm_destroy(c);
	}
	snapshot_put(s);
}

/* The serverless demo through the command line: boot the agent guest once
 * with --snapshot-out, then `cowvm clone --from warm.snap -n 5 --input req
 * --json -` answers 5 requests, one per clone, and `cowvm stats` reads the
 * file. Version-3 snapshot files carry the whole PC. */
Test(linux, cli_snapshot_file_and_clones, .timeout = 900)
{
	REQUIRE_KVM();
	const char *bin = getenv("COWVM_BIN"), *k = getenv("LINUX_KERNEL"), *i = getenv("LINUX_INITRD");
	if (!bin || !k || !i)
		cr_skip_test("COWVM_BIN, LINUX_KERNEL or LINUX_INITRD not set");
	char dir[] = "/tmp/cowvm-linux-cli.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char cmd[4096], snap[256], req[256];
	snprintf(snap, sizeof(snap), "%s/warm.snap", dir);
	snprintf(req, sizeof(req), "%s/req", dir);
	FILE *f = fopen(req, "w");
	cr_assert_not_null(f);
	fputs("echo answer-from-clone; cat /proc/sys/kernel/random/uuid", f);
	fputc(0, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	         "%s run --kernel %s --initrd %s --mem 256M --timeout 300000 --snapshot-out %s "
	         "--cmdline 'console=ttyS0 quiet panic=-1 pci=off cowvm.test=agent cowvm.warm_mib=32' </dev/null "
	         ">%s/run.out 2>&1",
	         bin, k, i, snap, dir);
	int rc = system(cmd);
	char out[65536];
	size_t n = 0;
	snprintf(cmd, sizeof(cmd), "%s/run.out", dir);
	if ((f = fopen(cmd, "r"))) {
		n = fread(out, 1, sizeof(out) - 1, f);
		fclose(f);
	}
	out[n] = 0;
	cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "cowvm run --snapshot-out: %d\n%s", rc, out);
	cr_assert_not_null(strstr(out, "snapshot saved to"), "%s", out);
	snprintf(cmd, sizeof(cmd), "%s clone --from %s -n 5 --input %s --timeout 60000 --json - 2>%s/clone.err", bin, snap,
	         req, dir);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	rc = pclose(p);
	cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "cowvm clone: %d\n%s", rc, out);
	unsigned lines = 0;
	for (const char *l = out; (l = strstr(l, "{\"clone\":")); l++) {
		unsigned long long id = strtoull(l + 9, NULL, 10);
		cr_assert(id >= 1 && id <= 5, "clone number %llu", id);
		static const char ok[] = "\"end\":\"exit\",\"status\":0,";
		cr_assert(!strncmp(strchr(l, ',') + 1, ok, sizeof(ok) - 1), "clone %llu: %.200s", id, l);
		lines++;
	}
	cr_assert_eq(lines, 5, "5 clones answered:\n%s", out);
	cr_assert_not_null(strstr(out, "answer-from-clone"), "the response comes back:\n%s", out);
	snprintf(cmd, sizeof(cmd), "%s stats --from %s 2>&1", bin, snap);
	p = popen(cmd, "r");
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	rc = pclose(p);
	cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "cowvm stats: %d\n%s", rc, out);
	cr_assert_not_null(strstr(out, "linux"), "stats names the guest:\n%s", out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}
