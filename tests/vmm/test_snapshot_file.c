/*
 * test_snapshot_file.c - snapshot files on real KVM: a saved and reloaded
 * snapshot clones into guests that report exactly what clones of the
 * in-memory snapshot report; memory and vCPU state survive byte for byte;
 * root files are sparse (only non-zero pages), layer files hold only the
 * layer's pages and load their parent chain; and every kind of corrupt file
 * is rejected with its own message, without crashing, leaking descriptors
 * or returning a half-loaded snapshot.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clone.h"
#include "cowvm_abi.h"
#include "kvm_test_util.h"
#include "snapfile_test_util.h"
#include "snapshot.h"
#include "snapshot_file.h"

#define MiB (1ull << 20)
#define PAGE 4096ull

/* ---- helpers --------------------------------------------------------------- */


/* Clone s once, run it to the end, return its result. */
static void clone_run(struct snapshot *s, bool snapshots, struct vm_result *res, uint64_t *id)
{
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000, .snapshots = snapshots };
	struct vmm_err err = { 0 };
	struct vm *c;
	cr_assert_eq(vm_clone(NULL, s, &o, &c, &err), 0, "vm_clone: %s", err.msg);
	cr_assert_eq(vm_run(c, res, &err), 0, "%s", err.msg);
	if (id)
		*id = c->clone_id;
	vm_destroy(c);
}

/* Clone s, run to the guest's next snapshot request, take the layer, let the
 * maker finish. */
static struct snapshot *make_layer(struct snapshot *s, uint64_t *maker)
{
	struct clone_opts o = { .console = quiet, .timeout_ms = 20000, .snapshots = true };
	struct vmm_err err = { 0 };
	struct vm *c;
	cr_assert_eq(vm_clone(NULL, s, &o, &c, &err), 0, "vm_clone: %s", err.msg);
	struct vm_result res;
	cr_assert_eq(vm_run(c, &res, &err), 0, "%s", err.msg);
	cr_assert_eq(res.end, VM_END_SNAPSHOT, "ended with %d: %s", res.end, res.msg);
	cr_assert_eq(report(&res, "snap.bad"), 0);
	struct snapshot *l;
	cr_assert_eq(snapshot_take(c, &l, &err), 0, "snapshot_take of a clone: %s", err.msg);
	cr_assert_eq(vm_run(c, &res, &err), 0, "%s", err.msg);
	cr_assert_eq(res.end, VM_END_EXIT, "%s", res.msg);
	*maker = c->clone_id;
	vm_destroy(c);
	return l;
}

static void assert_same_pages(const struct snapshot *a, const struct snapshot *b)
{
	cr_assert_eq(a->meta.mem_size, b->meta.mem_size);
	for (uint64_t g = 0; g < a->meta.mem_size / PAGE; g++)
		cr_assert_eq(memcmp(snapshot_page(a, g), snapshot_page(b, g), PAGE), 0,
		             "page %llu differs", (unsigned long long)g);
}

static void assert_same_meta(const struct snapshot *a, const struct snapshot *b)
{
	const struct snap_meta *x = &a->meta, *y = &b->meta;
	cr_assert_eq(x->mem_size, y->mem_size);
	cr_assert_eq(x->nvcpus, y->nvcpus);
	cr_assert_eq(x->parked_mask, y->parked_mask);
	cr_assert_eq(x->hc_gpa, y->hc_gpa);
	cr_assert_eq(memcmp(&x->layout, &y->layout, sizeof(x->layout)), 0);
	cr_assert_eq(memcmp(&x->workload, &y->workload, sizeof(x->workload)), 0);
	cr_assert_eq(x->clock, y->clock);
	cr_assert_null(x->pc, "a guest-stub snapshot has no PC state");
	cr_assert_null(y->pc, "a guest-stub snapshot has no PC state");
	for (unsigned i = 0; i < x->nvcpus; i++)
		cr_assert_eq(memcmp(&x->vcpu[i], &y->vcpu[i], sizeof(x->vcpu[i])), 0,
		             "vCPU %u state differs", i);
}

/* ---- the hash --------------------------------------------------------------- */

Test(snapshot_file, xxh64_matches_reference_vectors)
{
	/* Reference values from libxxhash 0.8.1 (XXH64). */
	static const char spam[] = "Nobody inspects the spammish repetition";
	uint8_t big[1280];
	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	struct { const void *p; size_t n; uint64_t h0, h12345; } v[] = {
		{ "", 0, 0xef46db3751d8e999ull, 0x95584af7701f808dull },
		{ "a", 1, 0xd24ec4f1a98c6e5bull, 0x747b860523d69ab6ull },
		{ "abc", 3, 0x44bc2cf5ad770999ull, 0x01700e64f6f23509ull },
		{ spam, sizeof(spam) - 1, 0xfbcea83c8a378bf1ull, 0x081a876428a9313bull },
		{ big, sizeof(big), 0xafc184ad7938a354ull, 0x1262d0d8880182c3ull },
	};
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		cr_assert_eq(snapfile_xxh64(v[i].p, v[i].n, 0), v[i].h0, "vector %u", i);
		cr_assert_eq(snapfile_xxh64(v[i].p, v[i].n, 12345), v[i].h12345, "vector %u seeded", i);
	}
	/* Streaming in uneven pieces gives the one-shot value. */
	for (size_t step = 1; step < 70; step += 3) {
		struct snapfile_xxh64 h;
		snapfile_xxh64_init(&h, 0);
		for (size_t o = 0; o < sizeof(big); o += step)
			snapfile_xxh64_update(&h, big + o, sizeof(big) - o < step ? sizeof(big) - o : step);
		cr_assert_eq(snapfile_xxh64_final(&h), 0xafc184ad7938a354ull, "step %zu", step);
	}
}

/* ---- round trip ------------------------------------------------------------- */

Test(snapshot_file, root_round_trip_clones_like_the_original)
{
	REQUIRE_KVM();
	make_dir();
	int fds0 = count_fds();
	struct snapshot *s = boot_snapshot("snaptest:mib=4", 64 * MiB);
	const char *path = path_in("root.snap");
	int fds = count_fds();
	save_ok(s, path);
	no_temp_files();
	cr_assert_eq(count_fds(), fds, "save leaked descriptors");
	struct snapshot *l = load_ok(path);
	cr_assert_null(l->parent);
	cr_assert_eq(l->depth, 0);
	cr_assert_eq(l->ncaptured, s->ncaptured);
	assert_same_meta(s, l);
	assert_same_pages(s, l);

	/* Clones of both report the same. */
	for (int i = 1; i <= 2; i++) {
		struct vm_result a, b;
		clone_run(s, false, &a, NULL);
		clone_run(l, false, &b, NULL);
		cr_assert_eq(a.end, VM_END_EXIT, "%s", a.msg);
		cr_assert_eq(b.end, VM_END_EXIT, "%s", b.msg);
		cr_assert_eq(b.status, 0);
		cr_assert_eq(report(&b, "snap.id"), (uint64_t)i);
		cr_assert_eq(report(&a, "snap.id"), report(&b, "snap.id"));
		cr_assert_eq(report(&b, "snap.bad"), 0);
		cr_assert_eq(report(&b, "snap.checksum"), model_checksum(4 << 8, 4 << 8, (uint64_t)i));
		cr_assert_eq(report(&a, "snap.checksum"), report(&b, "snap.checksum"));
	}

	/* Saving the loaded snapshot gives the same bytes (the same ID). */
	const char *again = path_in("again.snap");
	save_ok(l, again);
	size_t n1, n2;
	uint8_t *f1 = read_whole(path, &n1), *f2 = read_whole(again, &n2);
	cr_assert_eq(n1, n2);
	cr_assert_eq(memcmp(f1, f2, n1), 0, "re-saved file differs");
	free(f1);
	free(f2);
	/* Overwriting an existing file replaces it atomically. */
	save_ok(s, again);
	no_temp_files();
	snapshot_put(l);
	snapshot_put(s);
	cr_assert_eq(count_fds(), fds0, "descriptors leaked");
	remove_dir();
}

/* snapshot_save renames over its target: it refuses one that is not a
 * regular file (the library's own check, whatever its caller checked),
 * leaves it as it was and leaves no temporary file. */
Test(snapshot_file, save_refuses_to_replace_what_is_not_a_regular_file)
{
	REQUIRE_KVM();
	make_dir();
	struct snapshot *s = boot_snapshot("snaptest:mib=4", 64 * MiB);
	const char *fifo = path_in("fifo"), *dir = path_in("dir"), *link = path_in("link");
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_assert_eq(mkdir(dir, 0700), 0);
	cr_assert_eq(symlink(path_in("elsewhere"), link), 0);
	const char *targets[] = { fifo, dir, link };
	for (int i = 0; i < 3; i++) {
		struct vmm_err err = { 0 };
		cr_assert_lt(snapshot_save(s, targets[i], &err), 0, "%s was replaced", targets[i]);
		cr_assert(strstr(err.msg, "not a regular file"), "message: %s", err.msg);
		no_temp_files();
	}
	struct stat st;
	cr_assert(S_ISFIFO(stat_of(fifo).st_mode));
	cr_assert(S_ISDIR(stat_of(dir).st_mode));
	cr_assert_eq(lstat(link, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	rmdir(dir);
	snapshot_put(s);
	remove_dir();
}

Test(snapshot_file, root_file_is_sparse)
{
	REQUIRE_KVM();
	make_dir();
	struct snapshot *s = boot_snapshot("snaptest:mib=4", 64 * MiB);
	const char *path = path_in("root.snap");
	save_ok(s, path);
	struct stat st = stat_of(path);
	uint64_t alloc = (uint64_t)st.st_blocks * 512;
	size_t len;
	uint8_t *f = read_whole(path, &len);
	struct snapfile_header h = *hdr(f);
	free(f);
	fprintf(stderr, "root file of a 64 MiB guest with 4 MiB touched: %llu bytes, %llu allocated, "
	        "%llu pages in %llu runs, %llu non-zero pages in the snapshot\n",
	        (unsigned long long)st.st_size, (unsigned long long)alloc,
	        (unsigned long long)h.npages, (unsigned long long)h.nruns,
	        (unsigned long long)s->ncaptured);
	cr_assert_eq(h.npages, s->ncaptured, "file holds %llu pages, snapshot has %llu non-zero",
	             (unsigned long long)h.npages, (unsigned long long)s->ncaptured);
	cr_assert_geq((uint64_t)st.st_size, 4 * MiB);
	cr_assert_lt((uint64_t)st.st_size, 6 * MiB, "file is %llu bytes", (unsigned long long)st.st_size);
	cr_assert_lt(alloc, 8 * MiB, "file allocates %llu bytes", (unsigned long long)alloc);
	/* The loaded snapshot's memory is sparse too: only the stored pages. */
	struct snapshot *l = load_ok(path);
	struct stat ms;
	cr_assert_eq(fstat(l->memfd, &ms), 0);
	cr_assert_lt((uint64_t)ms.st_blocks * 512, 8 * MiB, "memfd allocates %llu bytes",
	             (unsigned long long)ms.st_blocks * 512);
	snapshot_put(l);
	snapshot_put(s);
	remove_dir();
}

/* Zero pages stored in a file (another writer's, or a sparse file of any
 * size) stay holes in the loaded snapshot's memfd. */
Test(snapshot_file, stored_zero_pages_allocate_nothing)
{
	REQUIRE_KVM();
	make_dir();
	struct snapshot *s = boot_snapshot("snaptest:mib=4", 64 * MiB);
	const char *path = path_in("root.snap");
	save_ok(s, path);
	size_t len;
	uint8_t *f = read_whole(path, &len);
	struct snapfile_header *h = hdr(f);
	memset(f + h->data_offset, 0, len - h->data_offset);
	h->data_sum = snapfile_xxh64(f + h->data_offset, len - h->data_offset, 0);
	reseal(f, len);
	write_whole(path, f, len);
	struct snapshot *l = load_ok(path);
	struct stat ms;
	cr_assert_eq(fstat(l->memfd, &ms), 0);
	cr_assert_eq(ms.st_blocks, 0, "memfd allocates %llu bytes for zero pages",
	             (unsigned long long)ms.st_blocks * 512);
	static const uint8_t zero[PAGE];
	for (uint64_t g = 0; g < l->meta.mem_size / PAGE; g++)
		cr_assert_eq(memcmp(snapshot_page(l, g), zero, PAGE), 0);
	snapshot_put(l);
	free(f);
	snapshot_put(s);
	remove_dir();
}

/* ---- layers ----------------------------------------------------------------- */

Test(snapshot_file, layer_file_holds_only_its_pages_and_loads_its_parent)
{
	REQUIRE_KVM();
	make_dir();
	int fds = count_fds();
	struct snapshot *root = boot_snapshot("snaptest:mib=4,layers=1,touch=16", 64 * MiB);
	uint64_t maker;
	struct snapshot *layer = make_layer(root, &maker);
	const char *rpath = path_in("root.snap"), *lpath = path_in("layer.snap");

	/* A layer cannot be saved before its parent. */
	struct vmm_err err = { 0 };
	cr_assert_lt(snapshot_save(layer, lpath, &err), 0);
	cr_assert_not_null(strstr(err.msg, "never saved"), "%s", err.msg);
	cr_assert_eq(access(lpath, F_OK), -1);
	no_temp_files();

	save_ok(root, rpath);
	save_ok(layer, lpath);
	struct stat rst = stat_of(rpath), lst = stat_of(lpath);
	size_t len;
	uint8_t *f = read_whole(lpath, &len);
	struct snapfile_header h = *hdr(f);
	free(f);
	fprintf(stderr, "root file %llu bytes (%llu allocated); layer file %llu bytes (%llu allocated), "
	        "%llu pages (layer captured %llu)\n", (unsigned long long)rst.st_size,
	        (unsigned long long)rst.st_blocks * 512, (unsigned long long)lst.st_size,
	        (unsigned long long)lst.st_blocks * 512, (unsigned long long)h.npages,
	        (unsigned long long)layer->ncaptured);
	cr_assert_eq(h.kind, SNAPFILE_KIND_LAYER);
	cr_assert_eq(h.npages, layer->ncaptured);
	cr_assert_leq(h.npages, 32); /* + page-table pages on KVMs with 2D paging */
	cr_assert_leq((uint64_t)lst.st_size, h.data_offset + 32 * PAGE);
	cr_assert_lt((uint64_t)lst.st_size, 160 * 1024, "layer file is %llu bytes",
	             (unsigned long long)lst.st_size);

	/* Clones of the in-memory layer, for comparison. */
	struct vm_result mem_res;
	clone_run(layer, false, &mem_res, NULL);
	cr_assert_eq(report(&mem_res, "snap.seen"), maker);

	struct snapshot *l = load_ok(lpath);
	cr_assert_not_null(l->parent);
	cr_assert_eq(l->depth, 1);
	cr_assert_null(l->parent->parent);
	cr_assert_eq(l->ncaptured, layer->ncaptured);
	assert_same_meta(layer, l);
	assert_same_meta(root, l->parent);
	assert_same_pages(layer, l);
	assert_same_pages(root, l->parent);

	struct vm_result res;
	uint64_t id;
	clone_run(l, false, &res, &id);
	cr_assert_eq(res.end, VM_END_EXIT, "%s", res.msg);
	cr_assert_eq(res.status, 0);
	cr_assert_eq(report(&res, "snap.id"), id);
	cr_assert_eq(report(&res, "snap.seen"), maker, "clone of the loaded layer saw writer %llu",
	             (unsigned long long)report(&res, "snap.seen"));
	cr_assert_eq(report(&res, "snap.bad"), 0);
	cr_assert_eq(report(&res, "snap.checksum"), report(&mem_res, "snap.checksum"));

	/* The loaded layer can be saved again (it remembers its parent's file),
	 * but not over its parent's file. */
	save_ok(l, path_in("layer2.snap"));
	cr_assert_lt(snapshot_save(l, rpath, &err), 0);
	cr_assert_not_null(strstr(err.msg, "ancestors"), "%s", err.msg);
	struct snapshot *again = load_ok(path_in("layer2.snap"));
	snapshot_put(again);
	snapshot_put(l);
	snapshot_put(layer);
	snapshot_put(root);
	cr_assert_eq(count_fds(), fds, "descriptors leaked");
	remove_dir();
}

/* template -> warmed -> per-request: each level's file holds its own pages. */
Test(snapshot_file, three_level_chain)
{
	REQUIRE_KVM();
	make_dir();
	struct snapshot *root = boot_snapshot("snaptest:mib=4,layers=2,touch=16", 64 * MiB);
	uint64_t m1, m2;
	struct snapshot *l1 = make_layer(root, &m1);
	struct snapshot *l2 = make_layer(l1, &m2);
	cr_assert_eq(l2->depth, 2);
	save_ok(root, path_in("t.snap"));
	save_ok(l1, path_in("w.snap"));
	save_ok(l2, path_in("r.snap"));
	cr_assert_lt((uint64_t)stat_of(path_in("w.snap")).st_size, 160 * 1024);
	cr_assert_lt((uint64_t)stat_of(path_in("r.snap")).st_size, 160 * 1024);
	struct vm_result a, b;
	clone_run(l2, false, &a, NULL);
	struct snapshot *l = load_ok(path_in("r.snap"));
	cr_assert_eq(l->depth, 2);
	assert_same_pages(l2, l);
	clone_run(l, false, &b, NULL);
	cr_assert_eq(b.end, VM_END_EXIT, "%s", b.msg);
	cr_assert_eq(report(&b, "snap.seen"), m2);
	cr_assert_eq(report(&b, "snap.bad"), 0);
	cr_assert_eq(report(&b, "snap.checksum"), report(&a, "snap.checksum"));
	snapshot_put(l);

	/* Files moved together still load: the parent is found beside the layer. */
	char moved[80];
	snprintf(moved, sizeof(moved), "%s-moved", g_dir);
	cr_assert_eq(rename(g_dir, moved), 0, "%s", strerror(errno));
	char rp[160];
	snprintf(rp, sizeof(rp), "%s/r.snap", moved);
	struct vmm_err err = { 0 };
	int r = snapshot_load(rp, &l, &err);
	cr_assert_eq(rename(moved, g_dir), 0);
	cr_assert_eq(r, 0, "%s", err.msg);
	assert_same_pages(l2, l);
	snapshot_put(l);
	snapshot_put(l2);
	snapshot_put(l1);
	snapshot_put(root);
	remove_dir();
}

/* 64 layers above a root save and load; the format refuses one more. */
Test(snapshot_file, chain_depth_is_bounded)
{
	REQUIRE_KVM();
	make_dir();
	struct snapshot *s[SNAPFILE_MAX_DEPTH + 2];
	s[0] = boot_snapshot("snaptest:mib=1,layers=65,touch=1", 16 * MiB);
	save_ok(s[0], path_in("0.snap"));
	char name[32];
	for (int i = 1; i <= SNAPFILE_MAX_DEPTH + 1; i++) {
		uint64_t maker;
		s[i] = make_layer(s[i - 1], &maker);
		cr_assert_eq(s[i]->depth, (unsigned)i);
		snprintf(name, sizeof(name), "%d.snap", i);
		struct vmm_err err = { 0 };
		int r = snapshot_save(s[i], path_in(name), &err);
		if (i <= SNAPFILE_MAX_DEPTH)
			cr_assert_eq(r, 0, "depth %d: %s", i, err.msg);
		else
			cr_assert(r < 0 && strstr(err.msg, "layers"), "depth %d saved: %s", i, err.msg);
	}
	snprintf(name, sizeof(name), "%d.snap", SNAPFILE_MAX_DEPTH);
	int fds = count_fds();
	struct snapshot *l = load_ok(path_in(name));
	cr_assert_eq(l->depth, SNAPFILE_MAX_DEPTH);
	snapshot_put(l);
	cr_assert_eq(count_fds(), fds);

	/* A hand-made layer on top of the deepest file: one too many. */
	size_t len;
	uint8_t *f = read_whole(path_in(name), &len);
	struct snapfile_header *h = hdr(f);
	char *top = realpath(path_in(name), NULL);
	cr_assert_eq(h->parent_path_len, strlen(top)); /* same directory, same length of name */
	memcpy(f + sizeof(*h) + h->workload_size, top, strlen(top));
	struct stat st = stat_of(top);
	size_t tlen;
	uint8_t *tf = read_whole(top, &tlen);
	h->parent_id = hdr(tf)->meta_sum;
	h->parent_size = (uint64_t)st.st_size;
	reseal(f, len);
	write_whole(path_in("65.snap"), f, len);
	free(tf);
	free(top);
	free(f);
	expect_fail(path_in("65.snap"), "deeper than", "65 layers");
	for (int i = SNAPFILE_MAX_DEPTH + 1; i >= 0; i--)
		snapshot_put(s[i]);
	remove_dir();
}

/* ---- corrupt files ----------------------------------------------------------- */

/* A root file and a layer file (and an unrelated root) in g_dir. */
static void make_files(void)
{
	make_dir();
	struct snapshot *root = boot_snapshot("snaptest:mib=4,layers=1,touch=16", 64 * MiB);
	uint64_t maker;
	struct snapshot *layer = make_layer(root, &maker);
	save_ok(root, path_in("root.snap"));
	save_ok(layer, path_in("layer.snap"));
	snapshot_put(layer);
	snapshot_put(root);
	struct snapshot *other = boot_snapshot("snaptest:mib=2", 32 * MiB);
	save_ok(other, path_in("other.snap"));
	snapshot_put(other);
}

static void m_magic(uint8_t *f, size_t *n) { (void)n; f[0] ^= 0x20; }
static void m_version(uint8_t *f, size_t *n) { hdr(f)->version = SNAPFILE_VERSION + 1; reseal(f, *n); }
static void m_data(uint8_t *f, size_t *n) { (void)n; f[hdr(f)->data_offset + 4096 + 100] ^= 1; }
static void m_last_byte(uint8_t *f, size_t *n) { f[*n - 1] ^= 0x80; }
static void m_meta(uint8_t *f, size_t *n) { (void)n; f[sizeof(struct snapfile_header) + 900] ^= 4; }
static void m_mem_odd(uint8_t *f, size_t *n) { hdr(f)->mem_size = 63 * MiB; reseal(f, *n); }
static void m_mem_huge(uint8_t *f, size_t *n) { hdr(f)->mem_size = 128ull << 30; reseal(f, *n); }
static void m_mem_zero(uint8_t *f, size_t *n) { hdr(f)->mem_size = 0; reseal(f, *n); }
static void m_mem_max(uint8_t *f, size_t *n) { hdr(f)->mem_size = ~0ull & ~((2ull << 20) - 1); reseal(f, *n); }
static void m_cpus0(uint8_t *f, size_t *n) { hdr(f)->nvcpus = 0; reseal(f, *n); }
static void m_cpus17(uint8_t *f, size_t *n) { hdr(f)->nvcpus = 17; reseal(f, *n); }
static void m_cpus_max(uint8_t *f, size_t *n) { hdr(f)->nvcpus = ~0u; reseal(f, *n); }
static void m_trailing(uint8_t *f, size_t *n) { memset(f + *n, 0, 10); *n += 10; }
static void m_file_size(uint8_t *f, size_t *n) { hdr(f)->file_size += 4096; reseal(f, *n); }
static void m_xsave(uint8_t *f, size_t *n) { hdr(f)->vcpu_part[SNAPFILE_VCPU_XSAVE] = 8192; reseal(f, *n); }
static void m_reserved(uint8_t *f, size_t *n) { hdr(f)->reserved = 1; reseal(f, *n); }
static void m_kind(uint8_t *f, size_t *n) { hdr(f)->kind = 7; reseal(f, *n); }
static void m_data_off(uint8_t *f, size_t *n) { hdr(f)->data_offset = 1ull << 40; reseal(f, *n); }
static void m_npages(uint8_t *f, size_t *n) { hdr(f)->npages = ~0ull; reseal(f, *n); }
static void m_parked(uint8_t *f, size_t *n) { hdr(f)->parked_mask = 2; reseal(f, *n); }
static void m_hc(uint8_t *f, size_t *n) { hdr(f)->hc_gpa = hdr(f)->mem_size - 8; reseal(f, *n); }
static void m_heap(uint8_t *f, size_t *n) { hdr(f)->layout[1] = ~0ull; reseal(f, *n); }

static uint8_t *runs_of(uint8_t *f)
{
	struct snapfile_header *h = hdr(f);
	return f + sizeof(*h) + h->workload_size + h->parent_path_len + h->nvcpus * h->vcpu_record_size;
}
static void m_run_range(uint8_t *f, size_t *n)
{
	(void)n;
	struct snapfile_run r;
	uint8_t *p = runs_of(f) + (hdr(f)->nruns - 1) * sizeof(r);
	memcpy(&r, p, sizeof(r));
	r.first = hdr(f)->mem_size / PAGE - r.count + 1;
	memcpy(p, &r, sizeof(r));
	reseal(f, *n);
}
static void m_run_order(uint8_t *f, size_t *n)
{
	(void)n;
	struct snapfile_run a, b;
	uint8_t *p = runs_of(f);
	cr_assert_geq(hdr(f)->nruns, 2);
	memcpy(&a, p, sizeof(a));
	memcpy(&b, p + sizeof(a), sizeof(b));
	memcpy(p, &b, sizeof(b));
	memcpy(p + sizeof(a), &a, sizeof(a));
	reseal(f, *n);
}
static void m_nmsrs(uint8_t *f, size_t *n)
{
	(void)n;
	struct snapfile_header *h = hdr(f);
	uint32_t bad = VCPU_STATE_MAX_MSRS + 1;
	/* nmsrs follows the parts before the MSR entries (the record is packed). */
	size_t off = sizeof(*h) + h->workload_size + h->parent_path_len;
	for (int i = 0; i < SNAPFILE_VCPU_MSR_ENTRY; i++)
		off += h->vcpu_part[i];
	memcpy(f + off, &bad, 4);
	reseal(f, *n);
}

Test(snapshot_file, corrupt_root_files_are_rejected_with_their_own_message)
{
	REQUIRE_KVM();
	make_files();
	const char *root = path_in("root.snap");
	struct { mutate_fn fn; const char *want, *what; } cases[] = {
		{ m_magic, "bad magic", "bad magic" },
		{ m_version, "unsupported snapshot file version", "bad version" },
		{ m_data, "page data checksum mismatch", "flipped page byte" },
		{ m_last_byte, "page data checksum mismatch", "flipped last byte" },
		{ m_meta, "metadata checksum mismatch", "flipped metadata byte" },
		{ m_mem_odd, "bad memory size", "63 MiB" },
		{ m_mem_huge, "bad memory size", "128 GiB" },
		{ m_mem_zero, "bad memory size", "0 bytes" },
		{ m_mem_max, "bad memory size", "~0 bytes" },
		{ m_cpus0, "bad vCPU count 0", "0 vCPUs" },
		{ m_cpus17, "bad vCPU count 17", "17 vCPUs" },
		{ m_cpus_max, "bad vCPU count", "2^32-1 vCPUs" },
		{ m_trailing, "trailing data", "trailing bytes" },
		{ m_file_size, "truncated", "file size field too large" },
		{ m_xsave, "vCPU state layout mismatch", "xsave size" },
		{ m_reserved, "reserved", "reserved field" },
		{ m_kind, "unknown snapshot kind", "kind" },
		{ m_data_off, "bad section layout", "page data offset" },
		{ m_npages, "bad page count", "page count" },
		{ m_parked, "bad parked mask", "parked vCPU 1 of 1" },
		{ m_hc, "bad hypercall address", "hypercall block past RAM" },
		{ m_heap, "bad guest layout", "heap past RAM" },
		{ m_run_range, "page index out of range", "run past RAM" },
		{ m_run_order, "not sorted", "runs swapped" },
		{ m_nmsrs, "MSRs", "129 MSRs" },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		corrupt_case(root, cases[i].fn, cases[i].want, cases[i].what);
	expect_fail(path_in("absent.snap"), "cannot open", "missing file");
	expect_fail(g_dir, "not a regular file", "directory");
	remove_dir();
}

Test(snapshot_file, truncation_at_every_length_is_rejected)
{
	REQUIRE_KVM();
	make_files();
	size_t len;
	uint8_t *f = read_whole(path_in("layer.snap"), &len);
	uint64_t data = hdr(f)->data_offset;
	const char *t = path_in("trunc.snap");
	write_whole(t, f, len);
	free(f);
	int fd = open(t, O_WRONLY);
	cr_assert_geq(fd, 0);
	/* Every length below the end of the first two pages of data, then every
	 * 4093rd byte to the end (the layer file is small: every length). */
	for (uint64_t n = len; n-- > 0;) {
		cr_assert_eq(ftruncate(fd, (off_t)n), 0);
		expect_fail(t, "truncated", "truncated layer");
	}
	close(fd);
	f = read_whole(path_in("root.snap"), &len);
	data = hdr(f)->data_offset;
	write_whole(t, f, len);
	free(f);
	fd = open(t, O_WRONLY);
	for (uint64_t n = len; n-- > 0;) {
		if (n > data + 2 * PAGE && n % 4093)
			continue;
		cr_assert_eq(ftruncate(fd, (off_t)n), 0);
		expect_fail(t, "truncated", "truncated root");
	}
	close(fd);
	/* The named lengths. */
	write_whole(t, "", 0);
	expect_fail(t, "truncated", "empty");
	f = read_whole(path_in("root.snap"), &len);
	write_whole(t, f, sizeof(struct snapfile_header) - 1);
	expect_fail(t, "truncated", "header - 1");
	free(f);
	remove_dir();
}

Test(snapshot_file, every_flipped_metadata_byte_is_rejected)
{
	REQUIRE_KVM();
	make_files();
	const char *names[] = { "root.snap", "layer.snap" };
	for (int k = 0; k < 2; k++) {
		size_t len;
		uint8_t *f = read_whole(path_in(names[k]), &len);
		uint64_t meta = hdr(f)->data_offset;
		const char *t = path_in("flip.snap");
		write_whole(t, f, len);
		int fd = open(t, O_WRONLY);
		cr_assert_geq(fd, 0);
		for (uint64_t i = 0; i < meta; i++) {
			uint8_t b = f[i] ^ (uint8_t)(1u << (i % 8));
			cr_assert_eq(pwrite(fd, &b, 1, (off_t)i), 1);
			expect_fail(t, NULL, "flipped metadata byte");
			cr_assert_eq(pwrite(fd, &f[i], 1, (off_t)i), 1);
		}
		close(fd);
		free(f);
	}
	remove_dir();
}

/* Header fields set to absurd values with a valid checksum: each is rejected
 * by its own check (or, if harmless, loads), never a crash or a leak. */
Test(snapshot_file, absurd_header_values_with_valid_checksum)
{
	REQUIRE_KVM();
	make_files();
	size_t len;
	uint8_t *orig = read_whole(path_in("layer.snap"), &len);
	const uint64_t vals[] = { 0, 1, 4095, 4096, 1ull << 31, 1ull << 32, 1ull << 63, ~0ull };
	const char *t = path_in("absurd.snap");
	uint8_t *f = malloc(len);
	for (size_t off = 8; off < sizeof(struct snapfile_header); off += 4) {
		if (off == offsetof(struct snapfile_header, meta_sum) ||
		    off == offsetof(struct snapfile_header, meta_sum) + 4)
			continue;
		for (unsigned v = 0; v < sizeof(vals) / sizeof(vals[0]); v++)
			for (int width = 4; width <= 8; width += 4) {
				if (off + (size_t)width > sizeof(struct snapfile_header))
					continue;
				memcpy(f, orig, len);
				memcpy(f + off, &vals[v], (size_t)width);
				if (!memcmp(f, orig, len))
					continue;
				reseal(f, len);
				write_whole(t, f, len);
				int fds = count_fds();
				struct vmm_err err = { 0 };
				struct snapshot *s;
				int r = snapshot_load(t, &s, &err);
				if (r == 0) /* e.g. another hypercall address inside RAM */
					snapshot_put(s);
				else
					cr_assert_null(s);
				cr_assert_eq(count_fds(), fds, "offset %zu value %llx: leak", off,
				             (unsigned long long)vals[v]);
			}
	}
	free(f);
	free(orig);
	remove_dir();
}

Test(snapshot_file, layer_with_missing_or_replaced_parent_is_rejected)
{
	REQUIRE_KVM();
	make_files();
	const char *root = path_in("root.snap"), *layer = path_in("layer.snap");
	const char *moved = path_in("root.moved");

	/* Missing parent. */
	cr_assert_eq(rename(root, moved), 0);
	expect_fail(layer, "is missing", "missing parent");
	cr_assert_eq(rename(moved, root), 0);
	struct snapshot *ok = load_ok(layer);
	snapshot_put(ok);

	/* Parent replaced by another (valid) snapshot file. */
	cr_assert_eq(rename(root, moved), 0);
	size_t len;
	uint8_t *other = read_whole(path_in("other.snap"), &len);
	write_whole(root, other, len);
	free(other);
	expect_fail(layer, "does not match", "replaced parent");

	/* Parent replaced by a corrupt copy of itself (same size, same header). */
	uint8_t *f = read_whole(moved, &len);
	f[len - 5] ^= 1;
	write_whole(root, f, len);
	free(f);
	expect_fail(layer, "page data checksum mismatch", "corrupt parent");

	/* Parent replaced by a re-saved parent with different content. */
	f = read_whole(moved, &len);
	hdr(f)->hc_gpa += 8;
	reseal(f, len);
	write_whole(root, f, len);
	free(f);
	expect_fail(layer, "does not match", "rewritten parent");

	/* A layer cannot be saved once its parent's file has changed. */
	cr_assert_eq(rename(moved, root), 0);
	struct snapshot *l = load_ok(layer);
	f = read_whole(path_in("other.snap"), &len);
	write_whole(root, f, len);
	free(f);
	struct vmm_err err = { 0 };
	cr_assert_lt(snapshot_save(l, path_in("layer2.snap"), &err), 0);
	cr_assert_not_null(strstr(err.msg, "no longer holds"), "%s", err.msg);
	snapshot_put(l);
	remove_dir();
}
