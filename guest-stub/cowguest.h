/*
 * cowguest.h - the cowvm guest SDK (libcowguest): write a guest as one C
 * file with `int main(void)`, build it with one line, run it with
 * `cowvm run --guest FILE` (docs/guest-sdk.md):
 *
 *   gcc -O2 -o myguest.elf myguest.c $(pkg-config --cflags --libs cowguest)
 *
 * The library brings the guest up for you: the ring-0 entry (IDT, exception
 * reporting), the drop to ring 3 on a 64 KiB stack per vCPU, then main() on
 * vCPU 0 (its return value is the exit status) and cg_ap_main() on the
 * others. Everything here runs in ring 3. There is no libc: the functions
 * below, a few string functions and <stdint.h>/<stddef.h>/<stdarg.h> are
 * what a guest has. Freestanding, single-threaded per vCPU; the boot-info
 * accessors, printing and hypercalls may be used from every vCPU, the heap
 * only from one at a time.
 */
#ifndef COWGUEST_H
#define COWGUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "cowvm_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COWGUEST_VERSION_MAJOR 0
#define COWGUEST_VERSION_MINOR 1
#define COWGUEST_VERSION_PATCH 0

/* ---- your entry points ---------------------------------------------------
 * int main(void)               vCPU 0; return = exit status (0..200; the VMM
 *                              clamps larger values to 200)
 * void cg_ap_main(unsigned cpu) every other vCPU (optional: the default
 *                              returns at once); the vCPU parks afterwards
 */
int main(void);
void cg_ap_main(unsigned cpu);

/* ---- console ---------------------------------------------------------------
 * Bytes go to the VMM's console (`cowvm run` prints them on stdout) through
 * the WRITE hypercall, 64 KiB at most per call (longer writes are split).
 * cg_printf formats: %d %i %u %x %X %o %c %s %p %%, flags '-' '0' ' ' '+',
 * width and precision (numbers or '*'), length hh h l ll z j t. No floating
 * point. Returns the number of bytes written (or that would have been, for
 * cg_snprintf, which always NUL-terminates when n > 0).
 */
void cg_write(const void *buf, size_t len);
void cg_print(const char *s);
int cg_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cg_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
int cg_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cg_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* ---- the VMM ---------------------------------------------------------------- */
/* End the whole VM with `status` (0..200). */
__attribute__((noreturn)) void cg_exit(int status);
/* Report a named value to the host (`cowvm run --reports`, `cowvm clone
 * --reports/--json`, the host library's cowvm_vm_report*). Key: 1..63
 * bytes; reporting a key again replaces its value; at most 32 keys per
 * run. 0, or -28 (ENOSPC: a 33rd key), -22 (EINVAL: an empty or too long
 * key). */
int cg_report(const char *key, uint64_t value);
/* Snapshot the whole guest here. Returns 0 in the original (which runs on),
 * N >= 1 in clone number N (each clone resumes right here), < 0 if the VMM
 * takes no snapshot (`cowvm run` without --snapshot-out: -38, ENOSYS). */
int64_t cg_snapshot(void);
/* This vCPU is done; the VM runs on without it. Never returns. */
__attribute__((noreturn)) void cg_park(void);
/* A raw hypercall (enum cowvm_hc_nr in cowvm_abi.h); returns `ret`. */
int64_t cg_hypercall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4);

/* ---- boot info ---------------------------------------------------------------
 * What the VMM told this guest (a read-only device tree the SDK reads with
 * bounds checks). Arguments are `cowvm run --guest F --arg key=value` (or
 * the k=v of --workload NAME:k=v); cg_name() is the --workload NAME, else
 * the guest file's name.
 */
const char *cg_name(void);
/* Value of argument `key`, or NULL. */
const char *cg_arg(const char *key);
/* Numeric argument (decimal or 0x hex): 0 and *out = the number, or *out =
 * dflt and 0 if the key is absent; -1 (and *out = dflt) if it is not a
 * number. */
int cg_arg_u64(const char *key, uint64_t dflt, uint64_t *out);
/* Number of arguments, and argument i (0-based) in the order given: 0, or
 * -1 when i is out of range. */
unsigned cg_arg_count(void);
int cg_arg_at(unsigned i, const char **key, const char **value);
unsigned cg_ncpus(void);
uint64_t cg_mem_size(void);             /* guest RAM, bytes */
/* The buffers (identity-mapped, user read-write): the input buffer holds
 * what the host wrote before this run (`cowvm clone --input`), the output
 * buffer is read by the host after it. Each COWVM_IOBUF_SIZE bytes. */
void *cg_input(size_t *size);
void *cg_output(size_t *size);
/* The free RAM between the end of the image and the buffers. The heap
 * (cg_malloc) allocates from it: use either the heap or this region. */
void *cg_heap_region(size_t *size);
/* Any <u64, u64> property of the boot info's /chosen node (COWVM_FDT_* in
 * cowvm_abi.h, e.g. COWVM_FDT_COVERAGE): 0, or -1 if there is none. */
int cg_boot_pair(const char *name, uint64_t *a, uint64_t *b);

/* ---- messages (struct cowvm_msg in the buffers) -----------------------------
 * cg_request: the request the host put in the input buffer (cowvm_request
 * in the host library): 0 with *data and *len, or -1 if the input buffer
 * holds no well-formed request (an empty buffer: no request at all).
 * cg_respond: write a response into the output buffer for the host
 * (cowvm_response): 0, or -1 if len > COWVM_MSG_MAX. */
int cg_request(const void **data, size_t *len);
int cg_respond(const void *data, size_t len);

/* ---- heap ----------------------------------------------------------------------
 * First-fit allocator over cg_heap_region(), 16-byte aligned blocks,
 * neighbours merged on free. Its state lives in guest RAM, so what was
 * allocated before a snapshot is there in every clone. NULL when full. */
void *cg_malloc(size_t n);
void *cg_calloc(size_t count, size_t n);
void *cg_realloc(void *p, size_t n);
void cg_free(void *p);
/* Bytes the heap has handed out and can still hand out (largest block). */
size_t cg_heap_used(void);
size_t cg_heap_largest_free(void);

/* ---- strings (the usual semantics; weak: a guest may define its own) ----- */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
/* 1 if equal, else 0. */
int cg_streq(const char *a, const char *b);
/* Decimal or 0x-hex, the whole string, no overflow: 0, else -1. */
int cg_parse_u64(const char *s, uint64_t *out);

/* ---- ring 0 (advanced) ------------------------------------------------------------
 * Ring 3 reaches ring 0 only through an exception (docs/architecture.md):
 * cg_ring0_call executes `ud2` plus the marker bytes "CS"; the SDK's #UD
 * handler calls cg_ring0_handler('S', nr, arg) in ring 0 and returns its
 * value. The default handler returns -1. A handler you define runs in ring
 * 0 (emulated, slow on some hosts): mark it CG_RING0 (no SSE registers: the
 * SDK saves no SSE state for it) and keep it short. */
#define CG_RING0 __attribute__((target("general-regs-only")))
int64_t cg_ring0_call(uint64_t nr, uint64_t arg);
int64_t cg_ring0_handler(unsigned gate, uint64_t nr, uint64_t arg);

#ifdef __cplusplus
}
#endif

#endif
