/* kvm_test_util.c - see kvm_test_util.h. */
#include "kvm_test_util.h"

#include "cowvm_abi.h"
#include "snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
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
