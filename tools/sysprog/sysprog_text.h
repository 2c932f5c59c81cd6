/*
 * sysprog_text.h - the text form of system-call programs (docs/sysprog.md)
 * for the host tool cowvm-prog and the tests:
 *
 *   sysprog_names.c    x86_64 system-call names <-> numbers
 *   sysprog_compile.c  text -> binary (abi/cowvm_sysprog.h)
 *   sysprog_print.c    parsed binary (guest-agent/sysprog.h) -> text
 *
 * compile(print(p)) gives p's bytes back exactly.
 */
#ifndef COWVM_SYSPROG_TEXT_H
#define COWVM_SYSPROG_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sysprog.h"

/* Largest binary program: the header, 64 records of 6 INT arguments and a
 * full data area (a BUF costs 3 bytes plus its data, less than 9 + data). */
#define SYSPROG_BIN_MAX                                                                   \
	(SYSPROG_HEADER_SIZE +                                                           \
	 SYSPROG_MAX_CALLS * (SYSPROG_CALL_SIZE + SYSPROG_MAX_ARGS * (1 + SYSPROG_INT_SIZE)) + \
	 SYSPROG_DATA_MAX)
/* Largest text program cowvm-prog reads. */
#define SYSPROG_TEXT_MAX (4u << 20)

/* Number of the x86_64 system call `name` (len bytes, not NUL-terminated):
 * a table name, or syscall_N (N decimal, 0..65535). -1 if unknown. */
long sysprog_name_nr(const char *name, size_t len);
/* Table name of nr, or NULL (print writes syscall_N). */
const char *sysprog_nr_name(unsigned nr);
/* The table, for tests: entry i (NULL past the end). */
const char *sysprog_name_at(unsigned i, unsigned *nr);

/* Compiles text (len bytes) into out (cap bytes, SYSPROG_BIN_MAX is always
 * enough); *outlen = bytes written. 0, or -EINVAL with err = "LINE:COL:
 * problem" (1-based) for the first error. */
int sysprog_compile(const char *text, size_t len, uint8_t *out, size_t cap, size_t *outlen,
                    char *err, size_t errlen);

/* Writes the text form of p (calls 0..p->ncalls-1) to f, one call per line,
 * each labelled rN. Returns 0 or -EIO. */
int sysprog_print(const struct sysprog *p, FILE *f);

#endif
