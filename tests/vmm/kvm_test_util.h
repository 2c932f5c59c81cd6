/*
 * kvm_test_util.h - helpers for integration tests that boot real guests:
 * a visible skip when /dev/kvm is missing, console capture, one-call boot.
 */
#ifndef COWVM_KVM_TEST_UTIL_H
#define COWVM_KVM_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stddef.h>

#include "vm.h"

/* Skip the current test, visibly, if KVM cannot be used here. */
#define REQUIRE_KVM()                                                              \
	do {                                                                       \
		if (!kvm_usable())                                                 \
			cr_skip_test("KVM test skipped: /dev/kvm is missing or not usable"); \
	} while (0)

int kvm_usable(void);

struct console_buf {
	char data[1 << 16];
	size_t len;
};
void console_capture(void *ctx, const char *buf, size_t len);

struct boot {
	struct vm_result res;
	struct console_buf con;
	double seconds;       /* wall time of vm_run */
	struct elf_image image;
};

/* Create a VM with `workload` ("name:k=v"), mem bytes, vcpus, timeout (ms,
 * 0 = none) and optional guest image; run it; destroy it. Asserts creation. */
void boot_guest(struct boot *b, const char *workload, uint64_t mem, unsigned vcpus,
                uint64_t timeout_ms, const void *image, size_t image_len);
/* Read a whole file (test guests); asserts success. Caller frees. */
void *slurp(const char *path, size_t *len);

/* ---- snapshot tests ---- */
struct snapshot;
/* A console that drops everything. */
void quiet(void *ctx, const char *buf, size_t len);
/* Boot `workload` (64 MiB.. `mem`, 1 vCPU) with snapshots on, run it to its
 * snapshot request and take the snapshot; asserts every step. */
struct snapshot *boot_snapshot(const char *workload, uint64_t mem);
/* Value of report `key`; asserts it exists. */
uint64_t report(const struct vm_result *r, const char *key);
/* Host model of snaptest's checksum for clone `id` that wrote `touch` of
 * `npages` pages. */
uint64_t model_checksum(uint64_t npages, uint64_t touch, uint64_t id);
/* Open file descriptors of this process. */
int count_fds(void);

#endif
