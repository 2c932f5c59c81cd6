/*
 * snapfile_test_util.h - helpers of the snapshot-file tests (see
 * snapfile_test_util.c). Every helper asserts (Criterion) what it does.
 */
#ifndef COWVM_SNAPFILE_TEST_UTIL_H
#define COWVM_SNAPFILE_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "snapshot.h"
#include "snapshot_file.h"

/* A scratch directory (make_dir), paths in it (valid until remove_dir,
 * which deletes the files and the directory). */
extern char g_dir[64];
void make_dir(void);
void remove_dir(void);
const char *path_in(const char *name);

/* Whole files (read_whole's buffer is malloc'd, one spare byte). */
uint8_t *read_whole(const char *path, size_t *len);
void write_whole(const char *path, const void *p, size_t len);
struct stat stat_of(const char *path);

static inline struct snapfile_header *hdr(uint8_t *file) { return (struct snapfile_header *)file; }

/* Recompute the metadata checksum, so a changed field meets its own check
 * (with data_offset itself changed the loader stops before the checksum). */
void reseal(uint8_t *file, size_t len);

/* Load `path`: it must fail with `want` in the message (NULL: any), leave
 * *out NULL and leak no descriptor. */
void expect_fail(const char *path, const char *want, const char *what);

/* A modified copy of file `src` (its buffer has 8 KiB to spare) must fail
 * to load with `want`. */
typedef void (*mutate_fn)(uint8_t *file, size_t *len);
void corrupt_case(const char *src, mutate_fn mut, const char *want, const char *what);

void save_ok(const struct snapshot *s, const char *path);
struct snapshot *load_ok(const char *path);
/* No PATH.tmp.* file is left in g_dir. */
void no_temp_files(void);

#endif
