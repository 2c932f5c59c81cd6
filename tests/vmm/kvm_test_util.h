/*
 * kvm_test_util.h - helpers for integration tests that boot real guests:
 * a visible skip when /dev/kvm is missing, console capture, one-call boot,
 * and the checks every clone/reset test shares: a clone's whole guest
 * window against its snapshot, and vCPU state against a saved state.
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

/* ---- a clone against its snapshot ----
 * What a clone (fresh, reset, or taken from the pool) must hold: in every
 * page of its guest window (vm->mem.host, the memory KVM maps) the bytes of
 * snapshot_page(s, gfn), except the snapshot hypercall's `ret`, which holds
 * the clone's number (vm->clone_id). Compared byte for byte, not hashed,
 * so a failure names the page. No Criterion asserts inside: usable from
 * worker threads. */
struct window_diff {
	uint64_t npages;      /* pages that differ */
	uint64_t first_gfn;   /* the first of them (valid if npages) */
	uint64_t first_off;   /* first differing byte in that page */
	uint8_t got, want;    /* the bytes there: window, snapshot */
};
uint64_t window_diff(const struct vm *vm, const struct snapshot *s, struct window_diff *d);
/* One line describing d ("3 pages differ, first gfn 0x..: byte +0x.. is .. not .."). */
void window_diff_str(const struct window_diff *d, char *buf, size_t n);
/* Assert that the clone's window is exactly its snapshot (see above);
 * `what` (a string) says when, for the message. */
#define assert_window_is_snapshot(vm, s, what)                                        \
	do {                                                                          \
		struct window_diff wd_;                                               \
		char wd_msg_[200];                                                    \
		window_diff((vm), (s), &wd_);                                         \
		window_diff_str(&wd_, wd_msg_, sizeof(wd_msg_));                      \
		cr_assert_eq(wd_.npages, 0, "%s: the window is not the snapshot: %s", (what), wd_msg_); \
	} while (0)

/* vCPU i's whole state as the next KVM entry would find it: pending I/O
 * is completed the way KVM_RUN does first (immediate_exit, so a completion
 * left over from the last run shows up in the registers), then saved;
 * -errno + message, also if I/O of several fragments was still pending. */
int clone_vcpu_state(struct vm *vm, unsigned i, struct vcpu_state *st, struct vmm_err *e);
/* 0 if a and b are equal in every part (the running counters: the TSC
 * within ~3 s, Hyper-V's reference counter within 100 ms, Hyper-V's vCPU runtime not
 * compared; XSTATE_BV not compared, see the .c), else 1 and a description
 * of the first difference in why. */
int vcpu_state_diff(const struct vcpu_state *a, const struct vcpu_state *b, char *why, size_t n);

#endif
