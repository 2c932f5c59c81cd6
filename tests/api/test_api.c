/*
 * test_api.c - the public libcowvm API (include/cowvm/cowvm.h) as a program
 * that embeds it sees it: this file includes only <cowvm/cowvm.h> (no
 * internal header, no struct field) and links the shared library. Boots the
 * built-in guest-stub and an SDK guest ($SDK_PROBE), snapshots, saves,
 * loads, clones through a pool with requests and responses, resets,
 * clones from two threads at once; and every error path's code and
 * message, the thread-local last error, the version, and that the shared
 * library exports nothing but the API.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cowvm/cowvm.h>

static void need_kvm(void)
{
	if (access("/dev/kvm", R_OK | W_OK))
		cr_skip_test("KVM test skipped: /dev/kvm is missing or not usable");
}

static const char *probe(void)
{
	const char *p = getenv("SDK_PROBE");
	cr_assert_not_null(p, "$SDK_PROBE is not set (run through meson test)");
	return p;
}

struct console {
	pthread_mutex_t lock;
	char buf[4096];
	size_t len;
};

static void capture(void *ctx, const char *buf, size_t len)
{
	struct console *c = ctx;
	pthread_mutex_lock(&c->lock);
	size_t n = len < sizeof(c->buf) - 1 - c->len ? len : sizeof(c->buf) - 1 - c->len;
	memcpy(c->buf + c->len, buf, n);
	c->len += n;
	c->buf[c->len] = 0;
	pthread_mutex_unlock(&c->lock);
}

#define OK(call) cr_assert_eq((call), 0, "%s: %s", #call, cowvm_last_error())

static void expect_fail(int r, int code, const char *msg, const char *what)
{
	cr_expect_eq(r, code, "%s: returned %d, expected %d (%s)", what, r, code, cowvm_last_error());
	cr_expect_not_null(strstr(cowvm_last_error(), msg), "%s: message '%s' lacks '%s'", what,
	                   cowvm_last_error(), msg);
}

Test(api, version)
{
	cr_expect_eq(cowvm_version(), COWVM_VERSION);
	cr_expect_eq(COWVM_VERSION, (unsigned)(COWVM_VERSION_MAJOR << 16 | COWVM_VERSION_MINOR << 8 |
	                                       COWVM_VERSION_PATCH));
	cr_expect_str_eq(cowvm_version_string(), COWVM_VERSION_STRING);
	cr_expect_str_eq(COWVM_VERSION_STRING, PROJECT_VERSION); /* meson's project version */
}

/* The shared library exports the API and nothing of the VMM inside it. */
Test(api, only_the_api_is_exported)
{
	cr_expect_not_null(dlsym(RTLD_DEFAULT, "cowvm_vm_create"));
	cr_expect_not_null(dlsym(RTLD_DEFAULT, "cowvm_clone"));
	static const char *const internal[] = { "vm_create", "vm_run", "vm_clone", "snapshot_load", "gpt_clone",
		                                "pt_map", "vmm_fail", "wl_parse", "bootinfo_write", "guest_stub_elf" };
	for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++)
		cr_expect_null(dlsym(RTLD_DEFAULT, internal[i]), "libcowvm.so exports %s", internal[i]);
}

Test(api, config_errors)
{
	cowvm_config *c;
	OK(cowvm_config_new(&c));
	expect_fail(cowvm_config_set_memory(c, 3u << 20), -EINVAL, "multiple of 2 MiB", "3 MiB");
	expect_fail(cowvm_config_set_memory(c, 128ull << 30), -EINVAL, "4 MiB..64 GiB", "128 GiB");
	expect_fail(cowvm_config_set_vcpus(c, 0), -EINVAL, "must be 1..16", "0 vCPUs");
	expect_fail(cowvm_config_set_vcpus(c, 17), -EINVAL, "must be 1..16", "17 vCPUs");
	expect_fail(cowvm_config_set_guest_file(c, "/nonexistent/g.elf"), -ENOENT,
	            "cannot read guest '/nonexistent/g.elf'", "missing file");
	expect_fail(cowvm_config_set_guest_file(c, "/dev/zero"), -EINVAL, "not a regular file", "/dev/zero");
	expect_fail(cowvm_config_set_guest_file(c, "/tmp"), -EINVAL, "not a regular file", "a directory");
	expect_fail(cowvm_config_add_arg(c, "", "v"), -EINVAL, "key must be 1..31 bytes", "empty key");
	expect_fail(cowvm_config_add_arg(c, "a=b", "v"), -EINVAL, "without '='", "key with =");
	expect_fail(cowvm_config_add_arg(c, "k", ""), -EINVAL, "value 1..63 bytes", "empty value");
	for (int i = 0; i < 8; i++) {
		char k[8];
		snprintf(k, sizeof(k), "k%d", i);
		OK(cowvm_config_add_arg(c, k, "1"));
	}
	expect_fail(cowvm_config_add_arg(c, "k8", "1"), -E2BIG, "too many arguments (at most 8)", "9th");
	expect_fail(cowvm_config_new(NULL), -EINVAL, "out is NULL", "NULL out");
	cowvm_config_free(c);
	cowvm_config_free(NULL);
}

Test(api, create_errors)
{
	need_kvm();
	cowvm_config *c;
	cowvm_vm *vm = (cowvm_vm *)1;
	OK(cowvm_config_new(&c));
	OK(cowvm_config_set_workload(c, "nosuch"));
	expect_fail(cowvm_vm_create(c, &vm), -EINVAL, "unknown workload 'nosuch'", "built-in workload");
	cr_expect_null(vm);
	OK(cowvm_config_set_workload(c, "memtouch"));
	OK(cowvm_config_add_arg(c, "bogus", "1"));
	expect_fail(cowvm_vm_create(c, &vm), -EINVAL, "workload memtouch: unknown argument 'bogus'", "bad key");
	cowvm_config_free(c);
	OK(cowvm_config_new(&c));
	static const char text[] = "not an ELF at all, just text....................................";
	OK(cowvm_config_set_guest_image(c, text, sizeof(text), "text"));
	expect_fail(cowvm_vm_create(c, &vm), -ENOEXEC, "invalid guest ELF", "not an ELF");
	cowvm_config_free(c);
}

static void *fail_other(void *arg)
{
	(void)arg;
	cowvm_config_set_memory(NULL, 0); /* "cowvm_config_set_memory: config is NULL" */
	return NULL;
}

Test(api, last_error_is_per_thread)
{
	cowvm_config *c;
	OK(cowvm_config_new(&c));
	cowvm_config_set_vcpus(c, 99);
	char mine[256];
	snprintf(mine, sizeof(mine), "%s", cowvm_last_error());
	pthread_t t;
	/* Another thread fails differently; ours must not change. */
	cr_assert_eq(pthread_create(&t, NULL, fail_other, NULL), 0);
	pthread_join(t, NULL);
	cr_expect_str_eq(cowvm_last_error(), mine);
	cr_expect_not_null(strstr(mine, "99 vCPUs"), "'%s'", mine);
	cowvm_config_free(c);
}

Test(api, builtin_guest_with_arguments)
{
	need_kvm();
	static struct console con = { .lock = PTHREAD_MUTEX_INITIALIZER };
	cowvm_config *c;
	cowvm_vm *vm;
	OK(cowvm_config_new(&c));
	OK(cowvm_config_set_workload(c, "memtouch:op=read"));
	OK(cowvm_config_add_arg(c, "mib", "4"));
	OK(cowvm_config_set_console(c, capture, &con));
	OK(cowvm_vm_create(c, &vm));
	cowvm_config_free(c); /* the VM does not need it any more */
	cr_expect_eq(cowvm_vm_end(vm), COWVM_END_NONE);
	cr_expect_eq(cowvm_vm_exit_status(vm), -1);
	OK(cowvm_vm_run(vm));
	cr_expect_eq(cowvm_vm_end(vm), COWVM_END_EXIT);
	cr_expect_eq(cowvm_vm_exit_status(vm), 0);
	cr_expect_str_eq(con.buf, "memtouch: mode=seq op=read mib=4 iters=1 checksum=0x51d88627df287325\n");
	uint64_t v;
	OK(cowvm_vm_report(vm, "memtouch.checksum", &v));
	cr_expect_eq(v, 0x51d88627df287325ull);
	cr_expect_eq(cowvm_vm_report_count(vm), 2u);
	const char *k;
	OK(cowvm_vm_report_at(vm, 1, &k, &v));
	cr_expect_str_eq(k, "memtouch.tsc");
	expect_fail(cowvm_vm_report_at(vm, 2, &k, &v), -ENOENT, "no report 2", "report 2");
	expect_fail(cowvm_vm_report(vm, "nosuch", &v), -ENOENT, "no report 'nosuch'", "report nosuch");
	cr_expect_eq(cowvm_vm_clone_number(vm), 0u);
	expect_fail(cowvm_vm_reset(vm), -EINVAL, "only a clone", "reset of a booted VM");
	cowvm_vm_destroy(vm);
}

Test(api, ends_and_buffers)
{
	need_kvm();
	cowvm_config *c;
	cowvm_vm *vm;
	OK(cowvm_config_new(&c));
	OK(cowvm_config_set_guest_file(c, probe()));
	OK(cowvm_config_add_arg(c, "mode", "fault"));
	OK(cowvm_vm_create(c, &vm));
	OK(cowvm_vm_run(vm));
	cr_expect_eq(cowvm_vm_end(vm), COWVM_END_EXCEPTION);
	cr_expect_eq(cowvm_vm_exit_status(vm), 201);
	cr_expect_not_null(strstr(cowvm_vm_end_message(vm), "#PF"), "'%s'", cowvm_vm_end_message(vm));
	/* Buffers: sizes, bounds, and no response message yet. */
	cr_expect_eq(cowvm_vm_input_size(vm), 65536u);
	cr_expect_eq(cowvm_vm_output_size(vm), 65536u);
	char b[16];
	expect_fail(cowvm_vm_write_input(vm, 65530, "0123456789", 10), -EINVAL, "outside the 65536-byte input",
	            "input past the end");
	expect_fail(cowvm_vm_read_output(vm, (size_t)-1, b, 2), -EINVAL, "outside the 65536-byte output",
	            "wrapping offset");
	expect_fail(cowvm_vm_response(vm, b, sizeof(b), NULL), -ENOMSG, "no response message", "no response");
	static char big[COWVM_VM_MSG_MAX + 1];
	expect_fail(cowvm_vm_request(vm, big, sizeof(big)), -E2BIG, "at most 65528", "request too big");
	OK(cowvm_vm_request(vm, big, COWVM_VM_MSG_MAX));
	cowvm_vm_destroy(vm);

	/* A timeout; --workload's name for a guest (any, unchecked). */
	cowvm_config_free(c);
	OK(cowvm_config_new(&c));
	OK(cowvm_config_set_guest_file(c, probe()));
	OK(cowvm_config_set_workload(c, "my-name:mode=spin"));
	OK(cowvm_config_set_timeout_ms(c, 200));
	OK(cowvm_vm_create(c, &vm));
	cowvm_config_free(c);
	OK(cowvm_vm_run(vm));
	cr_expect_eq(cowvm_vm_end(vm), COWVM_END_TIMEOUT, "%s", cowvm_vm_end_message(vm));
	cr_expect_eq(cowvm_vm_exit_status(vm), 202);
	cowvm_vm_destroy(vm);
}

/* The snapshot of sdk_probe's snap mode, taken through the API and saved
 * to path (a template, filled in). */
static void make_snapshot(char *path)
{
	static struct console con = { .lock = PTHREAD_MUTEX_INITIALIZER };
	cowvm_config *c;
	cowvm_vm *vm;
	cowvm_snapshot *s;
	OK(cowvm_config_new(&c));
	OK(cowvm_config_set_guest_file(c, probe()));
	OK(cowvm_config_add_arg(c, "mode", "snap"));
	OK(cowvm_config_add_arg(c, "n", "1000"));
	OK(cowvm_config_set_memory(c, 32u << 20));
	OK(cowvm_config_set_console(c, capture, &con));
	OK(cowvm_vm_create(c, &vm));
	cowvm_config_free(c);
	OK(cowvm_vm_run(vm));
	cr_assert_eq(cowvm_vm_end(vm), COWVM_END_SNAPSHOT, "%s", cowvm_vm_end_message(vm));
	OK(cowvm_snapshot_take(vm, &s));
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	OK(cowvm_snapshot_save(s, path));
	cr_expect_str_eq(cowvm_snapshot_name(s), "sdk_probe.elf");
	cowvm_snapshot_put(s);
	/* The original runs on and sees 0 from its snapshot call. */
	OK(cowvm_vm_run(vm));
	cr_expect_eq(cowvm_vm_end(vm), COWVM_END_EXIT);
	cr_expect_eq(cowvm_vm_exit_status(vm), 0);
	cr_expect_str_eq(con.buf, "original: 0\n");
	cowvm_vm_destroy(vm);
}

/* Clone s, send req, run, check the response and reports of clone n. */
static void serve(cowvm_pool *p, cowvm_snapshot *s, const char *req, cowvm_vm **keep)
{
	cowvm_vm *vm;
	OK(cowvm_clone(p, s, &vm));
	uint64_t n = cowvm_vm_clone_number(vm);
	cr_assert_gt(n, 0u);
	OK(cowvm_vm_request(vm, req, strlen(req)));
	OK(cowvm_vm_run(vm));
	cr_assert_eq(cowvm_vm_end(vm), COWVM_END_EXIT, "%s", cowvm_vm_end_message(vm));
	cr_assert_eq(cowvm_vm_exit_status(vm), 0);
	char want[128], got[128];
	int w = snprintf(want, sizeof(want), "clone %llu sum 332833500: ", (unsigned long long)n);
	for (const char *q = req; *q; q++)
		want[w++] = (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
	want[w] = 0;
	int len = cowvm_vm_response(vm, got, sizeof(got) - 1, NULL);
	cr_assert_eq(len, (int)strlen(want), "response length %d: %s", len, cowvm_last_error());
	got[len] = 0;
	cr_assert_str_eq(got, want);
	uint64_t v;
	OK(cowvm_vm_report(vm, "snap.clone", &v));
	cr_assert_eq(v, n);
	OK(cowvm_vm_report(vm, "snap.ok", &v));
	cr_assert_eq(v, 1u);
	if (keep)
		*keep = vm;
	else
		cowvm_release(vm);
}

Test(api, snapshot_file_pool_clones_reset, .timeout = 120)
{
	need_kvm();
	char path[] = "/tmp/cowvm-api-snap-XXXXXX";
	make_snapshot(path);
	cowvm_snapshot *s;
	OK(cowvm_snapshot_load(path, &s));
	cr_expect_eq(cowvm_snapshot_memory(s), 32u << 20);
	cr_expect_eq(cowvm_snapshot_vcpus(s), 1u);
	cr_expect_str_eq(cowvm_snapshot_name(s), "sdk_probe.elf");
	cowvm_pool *p;
	OK(cowvm_pool_create(2, &p));
	OK(cowvm_pool_set_console(p, capture, &(struct console){ .lock = PTHREAD_MUTEX_INITIALIZER }));
	for (int i = 0; i < 5; i++)
		serve(p, s, i % 2 ? "odd" : "even request", NULL);
	/* A clone reset to its snapshot answers again, with its own number. */
	cowvm_vm *vm;
	serve(p, s, "first", &vm);
	uint64_t n = cowvm_vm_clone_number(vm);
	OK(cowvm_vm_reset(vm));
	cr_expect_eq(cowvm_vm_end(vm), COWVM_END_NONE);
	cr_expect_eq(cowvm_vm_clone_number(vm), n);
	OK(cowvm_vm_request(vm, "again", 5));
	OK(cowvm_vm_run(vm));
	char got[64];
	size_t len;
	expect_fail(cowvm_vm_response(vm, got, 4, &len), -ENOBUFS, "the buffer 4", "small buffer");
	cr_expect_eq(len, strlen("clone 6 sum 332833500: AGAIN"));
	int r = cowvm_vm_response(vm, got, sizeof(got), NULL);
	cr_assert_eq(r, (int)len);
	cr_expect(!memcmp(got, "clone 6 sum 332833500: AGAIN", len), "'%.*s'", r, got);
	cowvm_vm_destroy(vm); /* a clone may be destroyed instead of released */
	/* The snapshot handle may go before its clones. */
	OK(cowvm_clone(p, s, &vm));
	cowvm_snapshot_put(s);
	OK(cowvm_vm_run(vm));
	cr_expect_eq(cowvm_vm_exit_status(vm), 0);
	cowvm_release(vm);
	cowvm_pool_destroy(p);
	unlink(path);
}

Test(api, pool_limits)
{
	need_kvm();
	char path[] = "/tmp/cowvm-api-snap-XXXXXX";
	make_snapshot(path);
	cowvm_snapshot *s;
	OK(cowvm_snapshot_load(path, &s));
	cowvm_pool *p;
	cowvm_vm *a, *b;
	OK(cowvm_pool_create(1, &p));
	OK(cowvm_pool_set_limits(p, 1, 0));
	OK(cowvm_clone(p, s, &a));
	expect_fail(cowvm_clone(p, s, &b), -EAGAIN, "limit", "second live clone");
	cr_expect_null(b);
	cowvm_release(a);
	OK(cowvm_clone(p, s, &b));
	cowvm_release(b);
	cowvm_pool_destroy(p);
	cowvm_snapshot_put(s);
	unlink(path);
}

Test(api, load_errors)
{
	cowvm_snapshot *s;
	expect_fail(cowvm_snapshot_load("/nonexistent.snap", &s), -ENOENT, "/nonexistent.snap", "missing");
	cr_expect_null(s);
	expect_fail(cowvm_snapshot_load("/etc/passwd", &s), -EINVAL, "/etc/passwd", "not a snapshot");
}

struct worker {
	cowvm_pool *p;
	cowvm_snapshot *s;
	int ok;
};

/* No Criterion asserts off the main thread: count what was right. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 20; i++) {
		cowvm_vm *vm;
		char got[64], want[64];
		if (cowvm_clone(w->p, w->s, &vm))
			continue;
		int r = cowvm_vm_request(vm, "x", 1) || cowvm_vm_run(vm) ? -1 : cowvm_vm_response(vm, got, 63, NULL);
		snprintf(want, sizeof(want), "clone %llu sum 332833500: X", (unsigned long long)cowvm_vm_clone_number(vm));
		w->ok += r == (int)strlen(want) && !memcmp(got, want, (size_t)r) && cowvm_vm_exit_status(vm) == 0;
		cowvm_release(vm);
	}
	return NULL;
}

Test(api, two_threads_clone_one_snapshot, .timeout = 120)
{
	need_kvm();
	char path[] = "/tmp/cowvm-api-snap-XXXXXX";
	make_snapshot(path);
	cowvm_snapshot *s;
	OK(cowvm_snapshot_load(path, &s));
	cowvm_pool *p;
	OK(cowvm_pool_create(2, &p));
	OK(cowvm_pool_set_console(p, capture, &(struct console){ .lock = PTHREAD_MUTEX_INITIALIZER }));
	struct worker w[2] = { { p, s, 0 }, { p, s, 0 } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	cr_expect_eq(w[0].ok + w[1].ok, 40, "%d + %d of 40 clones answered right", w[0].ok, w[1].ok);
	cowvm_pool_destroy(p);
	cowvm_snapshot_put(s);
	unlink(path);
}
