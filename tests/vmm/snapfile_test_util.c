/*
 * snapfile_test_util.c - helpers of the snapshot-file tests
 * (test_snapshot_file.c, test_snapshot_file_pc.c): a scratch directory,
 * whole-file reads and writes, resealing an edited file's metadata
 * checksum, and a load that must fail with a given message without a
 * half-loaded snapshot or a leaked descriptor.
 */
#include "snapfile_test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm_test_util.h"

static char *g_paths[256]; /* paths made by path_in, freed by remove_dir */
static unsigned g_npaths;

char g_dir[64];

void make_dir(void)
{
	strcpy(g_dir, "/tmp/cowvm-snapfile-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir), "mkdtemp: %s", strerror(errno));
}

void remove_dir(void)
{
	DIR *d = opendir(g_dir);
	if (!d)
		return;
	struct dirent *de;
	char p[512];
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", g_dir, de->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(g_dir);
	while (g_npaths)
		free(g_paths[--g_npaths]);
}

/* A path in g_dir, valid until remove_dir. */
const char *path_in(const char *name)
{
	char *p;
	cr_assert_lt(g_npaths, 256u);
	cr_assert_geq(asprintf(&p, "%s/%s", g_dir, name), 0);
	return g_paths[g_npaths++] = p;
}

uint8_t *read_whole(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	uint8_t *p = malloc((size_t)st.st_size + 1);
	cr_assert_eq(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

void write_whole(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, p, len), (ssize_t)len);
	close(fd);
}


/* Recompute the metadata checksum, so a changed field meets its own check
 * (with data_offset itself changed the loader stops before the checksum). */
void reseal(uint8_t *file, size_t len)
{
	struct snapfile_header *h = hdr(file);
	h->meta_sum = 0;
	h->meta_sum = snapfile_xxh64(file, h->data_offset < len ? h->data_offset : len, 0);
}

/* Load `path`: it must fail with `want` in the message, leave *out NULL and
 * leak no descriptor. */
void expect_fail(const char *path, const char *want, const char *what)
{
	int fds = count_fds();
	struct vmm_err err = { 0 };
	struct snapshot *s = (struct snapshot *)0x1;
	int r = snapshot_load(path, &s, &err);
	cr_assert_lt(r, 0, "%s: loaded", what);
	cr_assert_eq(r, err.code, "%s: returned %d, message code %d", what, r, err.code);
	/* A defect of the file is bad input (the CLI exits 2), never a host
	 * failure like -EIO or -ENOMEM (exit 204): snapshot_file.h. */
	cr_assert(r == -EINVAL || r == -EBADMSG || r == -ENOTSUP || r == -ESTALE || r == -ELOOP ||
	          r == -ENOENT, "%s: code %d (%s) is not one of a bad file's", what, r, strerror(-r));
	cr_assert_null(s, "%s: half-loaded snapshot", what);
	if (want)
		cr_assert_not_null(strstr(err.msg, want), "%s: message \"%s\" lacks \"%s\"", what,
		                   err.msg, want);
	cr_assert_eq(count_fds(), fds, "%s: descriptors leaked", what);
}

/* A modified copy of file `src` must fail to load with `want`. */
void corrupt_case(const char *src, mutate_fn mut, const char *want, const char *what)
{
	size_t len;
	uint8_t *f = read_whole(src, &len);
	f = realloc(f, len + 8192);
	mut(f, &len);
	const char *dst = path_in("corrupt.snap");
	write_whole(dst, f, len);
	free(f);
	expect_fail(dst, want, what);
}

struct stat stat_of(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
	return st;
}

void save_ok(const struct snapshot *s, const char *path)
{
	struct vmm_err err = { 0 };
	cr_assert_eq(snapshot_save(s, path, &err), 0, "snapshot_save %s: %s", path, err.msg);
}

struct snapshot *load_ok(const char *path)
{
	struct vmm_err err = { 0 };
	struct snapshot *s;
	cr_assert_eq(snapshot_load(path, &s, &err), 0, "snapshot_load %s: %s", path, err.msg);
	cr_assert_not_null(s);
	return s;
}

void no_temp_files(void)
{
	DIR *d = opendir(g_dir);
	struct dirent *de;
	while ((de = readdir(d)))
		cr_assert_null(strstr(de->d_name, ".tmp"), "temporary file %s left behind", de->d_name);
	closedir(d);
}

