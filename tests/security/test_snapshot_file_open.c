/*
 * test_snapshot_file_open.c - what snapshot_load() opens. A snapshot file is
 * untrusted input and a layer names its parent by path, so a hostile file
 * can point the loader at anything on the host. Opening must not block or
 * have side effects: a FIFO (open would wait for a writer forever) or a
 * device is refused as "not a regular file" at once. No KVM needed: the
 * files are made with snapshot_root_create/snapshot_layer_create and
 * snapshot_save over a memfd.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot.h"
#include "snapshot_file.h"

#define MiB (1ull << 20)

static char dir[64];

static void make_dir(void)
{
	strcpy(dir, "/tmp/cowvm-open-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	/* A blocked open() would hang the test: fail it after 10 s instead. */
	alarm(10);
}

static struct snapshot *root_snapshot(void)
{
	struct vcpu_state vs;
	memset(&vs, 0, sizeof(vs));
	struct snap_meta m = { .mem_size = 4 * MiB, .nvcpus = 1, .vcpu = &vs };
	strcpy(m.workload.name, "hello");
	struct vmm_err e = { 0 };
	int fd = snapshot_memfd(m.mem_size, &e);
	cr_assert_geq(fd, 0, "%s", e.msg);
	cr_assert_eq(pwrite(fd, "x", 1, 4096), 1);
	struct snapshot *s;
	cr_assert_eq(snapshot_root_create(&m, fd, &s, &e), 0, "%s", e.msg);
	return s;
}

Test(snapshot_open, fifo_is_refused_without_blocking)
{
	make_dir();
	char path[128];
	snprintf(path, sizeof(path), "%s/fifo.snap", dir);
	cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo: %s", strerror(errno));
	struct snapshot *s = (struct snapshot *)1;
	struct vmm_err e = { 0 };
	cr_assert_eq(snapshot_load(path, &s, &e), -EINVAL);
	cr_assert_null(s);
	cr_assert(strstr(e.msg, "not a regular file"), "%s", e.msg);
	unlink(path);
	rmdir(dir);
}

Test(snapshot_open, layer_naming_a_fifo_parent_is_refused_without_blocking)
{
	make_dir();
	char parent[128], layer[128];
	snprintf(parent, sizeof(parent), "%s/parent.snap", dir);
	snprintf(layer, sizeof(layer), "%s/layer.snap", dir);
	struct vmm_err e = { 0 };
	struct snapshot *r = root_snapshot(), *l;
	cr_assert_eq(snapshot_save(r, parent, &e), 0, "%s", e.msg);
	struct vcpu_state vs;
	memset(&vs, 0, sizeof(vs));
	struct snap_meta m = r->meta;
	int fd = snapshot_memfd(m.mem_size, &e);
	uint64_t gfn = 2;
	cr_assert_eq(pwrite(fd, "y", 1, gfn * 4096), 1);
	cr_assert_eq(snapshot_layer_create(r, &m, fd, &gfn, 1, &l, &e), 0, "%s", e.msg);
	cr_assert_eq(snapshot_save(l, layer, &e), 0, "%s", e.msg);
	snapshot_put(l);
	snapshot_put(r);
	/* The parent's path now holds a FIFO. */
	cr_assert_eq(unlink(parent), 0);
	cr_assert_eq(mkfifo(parent, 0600), 0);
	struct snapshot *s = (struct snapshot *)1;
	cr_assert_eq(snapshot_load(layer, &s, &e), -EINVAL, "%s", e.msg);
	cr_assert_null(s);
	cr_assert(strstr(e.msg, "not a regular file"), "%s", e.msg);
	unlink(parent);
	unlink(layer);
	rmdir(dir);
}

Test(snapshot_open, device_is_refused)
{
	struct snapshot *s = (struct snapshot *)1;
	struct vmm_err e = { 0 };
	cr_assert_eq(snapshot_load("/dev/null", &s, &e), -EINVAL);
	cr_assert_null(s);
	cr_assert(strstr(e.msg, "not a regular file"), "%s", e.msg);
}
