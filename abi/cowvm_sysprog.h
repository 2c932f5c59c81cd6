/*
 * cowvm_sysprog.h - the binary SYSTEM-CALL PROGRAM format of kernel fuzzing
 * (issue 15, docs/sysprog.md). AFL++ mutates a file of this format; cowvm
 * puts it into the guest's input buffer (struct cowvm_fuzz_input in
 * cowvm_abi.h); the guest agent parses it (guest-agent/sysprog.c) and runs
 * its calls (guest-agent/sysprog_exec.c). tools/sysprog/cowvm_prog.c
 * compiles the text form to it and prints it back.
 *
 * Freestanding: only fixed-width integer types. Every multi-byte field is
 * LITTLE-ENDIAN and nothing is aligned or padded: the byte offsets below are
 * exact.
 *
 *   header (8 bytes)
 *     +0  u32 magic    SYSPROG_MAGIC = 0x53595343, the bytes "CSYS"
 *     +4  u16 version  SYSPROG_VERSION = 1
 *     +6  u16 ncalls   number of call records that follow, <= SYSPROG_MAX_CALLS
 *   then ncalls call records, one after the other:
 *     +0  u16 nr       x86_64 system-call number (the SYS_* of <sys/syscall.h>)
 *     +2  u8  nargs    0..SYSPROG_MAX_ARGS arguments follow; the missing ones
 *                      (nargs..5) are passed as 0
 *     +3  u8  flags    reserved, must be 0
 *     +4  nargs arguments, each a kind byte and its payload:
 *         u8 kind = SYSPROG_ARG_INT (0)  u64 value         (9 bytes)
 *                                        passed as is
 *         u8 kind = SYSPROG_ARG_BUF (1)  u16 len, len bytes (3 + len)
 *                                        the bytes are copied into the data
 *                                        area; their address is passed
 *         u8 kind = SYSPROG_ARG_OUT (2)  u16 len            (3 bytes)
 *                                        len zero bytes in the data area;
 *                                        their address is passed (results of
 *                                        read, pipe, fstat, ...)
 *         u8 kind = SYSPROG_ARG_RES (3)  u16 index          (3 bytes)
 *                                        the return value of call `index`,
 *                                        which must be an EARLIER call
 *                                        (index < this call's index)
 *   nothing after the last record.
 *
 * Limits: ncalls <= SYSPROG_MAX_CALLS (64); nargs <= 6; a BUF or OUT len
 * <= SYSPROG_MAX_BUF (4096). The data area: each BUF and OUT takes its len
 * rounded up to SYSPROG_DATA_ALIGN (8) bytes, in order, from the start of
 * the area (so every buffer is 8-byte aligned); the sum must be
 * <= SYSPROG_DATA_MAX (65536).
 *
 * Parse modes (guest-agent/sysprog.h):
 *   STRICT  (cowvm-prog, tests): every byte must be as above; the first
 *           violation is an error naming its byte offset and the problem.
 *           Trailing bytes after the last record are an error.
 *   LENIENT (the fuzzing agent, over AFL-mutated bytes): a bad header
 *           (fewer than 8 bytes, magic, version) runs nothing; otherwise
 *           the longest prefix of whole, valid records runs (at most
 *           SYSPROG_MAX_CALLS, whatever ncalls says): parsing stops at the
 *           first record that is truncated or invalid in any way STRICT
 *           would refuse. Trailing bytes are ignored.
 */
#ifndef COWVM_SYSPROG_H
#define COWVM_SYSPROG_H

#include <stdint.h>

#define SYSPROG_MAGIC       0x53595343u /* "CSYS" as little-endian bytes 43 53 59 53 */
#define SYSPROG_VERSION     1u
#define SYSPROG_HEADER_SIZE 8u
#define SYSPROG_CALL_SIZE   4u          /* nr, nargs, flags */

#define SYSPROG_MAX_CALLS   64u
#define SYSPROG_MAX_ARGS    6u
#define SYSPROG_MAX_BUF     4096u
#define SYSPROG_DATA_MAX    65536u
#define SYSPROG_DATA_ALIGN  8u

enum sysprog_arg_kind {
	SYSPROG_ARG_INT = 0, /* u64 value */
	SYSPROG_ARG_BUF = 1, /* u16 len, len bytes */
	SYSPROG_ARG_OUT = 2, /* u16 len */
	SYSPROG_ARG_RES = 3, /* u16 index of an earlier call */
};
#define SYSPROG_ARG_KINDS 4u

/* Payload bytes after the kind byte (BUF: plus len). */
#define SYSPROG_INT_SIZE 8u
#define SYSPROG_U16_SIZE 2u

#endif
