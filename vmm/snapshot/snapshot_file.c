/*
 * snapshot_file.c - saving and loading snapshots (snapshot_file.h; the byte
 * layout, checksums and validation order are in docs/snapshot-format.md).
 *
 * Save: collect the page runs (root: non-zero pages of the memfd's data
 * extents; layer: the captured bitmap), write header, workload, parent path,
 * vCPU records and run table, then the pages straight from the snapshot's
 * mapping, hashing as they go; fill in both checksums last; fsync, rename.
 *
 * Load: header checks, metadata read and checksummed, every value checked,
 * pages read into a new memfd and checksummed, then the parent chain
 * loaded (recursively, bounded), then the snapshot built. Sizes from the
 * file drive no allocation before they are bounded by the limits and by the
 * real file length.
 */
#include "snapshot_file.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cowvm_abi.h"

#define PAGE ((uint64_t)SNAPFILE_PAGE)
#define MiB (1ull << 20)
#define CHUNK (2ull << 20)
#define IO_CHUNK (4ull << 20) /* bytes read (and hashed) per pread */
/* Snapshot files are opened for reading with these too: a path from a file
 * (a layer's parent) may name a FIFO, whose open() would block until a
 * writer comes, or a device; O_NONBLOCK makes that open return at once and
 * the S_ISREG check then refuses it. No effect on regular files. */
#define SNAP_OPEN_FLAGS (O_NONBLOCK | O_NOCTTY)

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the snapshot format is little-endian");
static_assert(sizeof(struct snapfile_header) == 256, "header is 256 bytes");
static_assert(offsetof(struct snapfile_header, meta_sum) == 24, "header layout");
static_assert(offsetof(struct snapfile_header, mem_size) == 48, "header layout");
static_assert(offsetof(struct snapfile_header, vcpu_part) == 128, "header layout");
static_assert(offsetof(struct snapfile_header, nruns) == 168, "header layout");
static_assert(offsetof(struct snapfile_header, clock) == 216, "header layout");
static_assert(offsetof(struct snapfile_header, reserved) == 224, "header layout");
static_assert(sizeof(struct snapfile_run) == 16, "run is 16 bytes");

/* Workload section: name, nargs (u32), args (key, value) x WL_MAX_ARGS. */
#define WL_NAME_SIZE sizeof(((struct wl_request *)0)->name)
#define WL_ARGS_SIZE sizeof(((struct wl_request *)0)->args)
#define WORKLOAD_SIZE (WL_NAME_SIZE + 4 + WL_ARGS_SIZE)

#define MAX_PAGES (VM_MEM_MAX / PAGE)
/* The largest metadata region a valid file can have: header, workload,
 * parent path, vCPU records, a run table of at most one run per two pages
 * (runs never touch: see below), page aligned. */
#define VCPU_RECORD_MAX (sizeof(struct vcpu_state) + 64)
#define META_MAX (((sizeof(struct snapfile_header) + WORKLOAD_SIZE + SNAPFILE_PATH_MAX + \
                    COWVM_MAX_VCPUS * VCPU_RECORD_MAX + (MAX_PAGES / 2 + 1) * 16) + PAGE - 1) & ~(PAGE - 1))

/* ---- XXH64 ------------------------------------------------------------- */

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static inline uint64_t rotl64(uint64_t x, unsigned r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t xround(uint64_t acc, uint64_t in) { return rotl64(acc + in * P2, 31) * P1; }
static inline uint64_t xmerge(uint64_t acc, uint64_t v) { return (acc ^ xround(0, v)) * P1 + P4; }

void snapfile_xxh64_init(struct snapfile_xxh64 *h, uint64_t seed)
{
	memset(h, 0, sizeof(*h));
	h->seed = seed;
	h->v[0] = seed + P1 + P2;
	h->v[1] = seed + P2;
	h->v[2] = seed;
	h->v[3] = seed - P1;
}

static void xstripe(uint64_t v[4], const uint8_t *p)
{
	v[0] = xround(v[0], rd64(p));
	v[1] = xround(v[1], rd64(p + 8));
	v[2] = xround(v[2], rd64(p + 16));
	v[3] = xround(v[3], rd64(p + 24));
}

void snapfile_xxh64_update(struct snapfile_xxh64 *h, const void *data, size_t n)
{
	const uint8_t *p = data;
	h->total += n;
	if (h->nbuf) {
		size_t take = 32 - h->nbuf < n ? 32 - h->nbuf : n;
		memcpy(h->buf + h->nbuf, p, take);
		h->nbuf += (unsigned)take;
		p += take;
		n -= take;
		if (h->nbuf < 32)
			return;
		xstripe(h->v, h->buf);
		h->nbuf = 0;
	}
	uint64_t v[4] = { h->v[0], h->v[1], h->v[2], h->v[3] };
	for (; n >= 32; p += 32, n -= 32)
		xstripe(v, p);
	memcpy(h->v, v, sizeof(v));
	memcpy(h->buf, p, n);
	h->nbuf = (unsigned)n;
}

uint64_t snapfile_xxh64_final(const struct snapfile_xxh64 *h)
{
	uint64_t r;
	if (h->total >= 32) {
		r = rotl64(h->v[0], 1) + rotl64(h->v[1], 7) + rotl64(h->v[2], 12) + rotl64(h->v[3], 18);
		for (int i = 0; i < 4; i++)
			r = xmerge(r, h->v[i]);
	} else {
		r = h->seed + P5;
	}
	r += h->total;
	const uint8_t *p = h->buf;
	unsigned n = h->nbuf;
	for (; n >= 8; p += 8, n -= 8)
		r = rotl64(r ^ xround(0, rd64(p)), 27) * P1 + P4;
	if (n >= 4) {
		r = rotl64(r ^ (uint64_t)rd32(p) * P1, 23) * P2 + P3;
		p += 4;
		n -= 4;
	}
	for (; n; p++, n--)
		r = rotl64(r ^ *p * P5, 11) * P1;
	r ^= r >> 33;
	r *= P2;
	r ^= r >> 29;
	r *= P3;
	r ^= r >> 32;
	return r;
}

uint64_t snapfile_xxh64(const void *p, size_t n, uint64_t seed)
{
	struct snapfile_xxh64 h;
	snapfile_xxh64_init(&h, seed);
	snapfile_xxh64_update(&h, p, n);
	return snapfile_xxh64_final(&h);
}

/* ---- helpers ------------------------------------------------------------ */

static inline int bit_test(const uint64_t *b, uint64_t i) { return (int)((b[i / 64] >> (i % 64)) & 1); }
static inline uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }

/* The vCPU record parts, in file order. */
static void vcpu_parts(uint32_t part[SNAPFILE_VCPU_NPARTS])
{
	part[SNAPFILE_VCPU_REGS] = sizeof(struct kvm_regs);
	part[SNAPFILE_VCPU_SREGS] = sizeof(struct kvm_sregs);
	part[SNAPFILE_VCPU_XSAVE] = sizeof(struct kvm_xsave);
	part[SNAPFILE_VCPU_XCRS] = sizeof(struct kvm_xcrs);
	part[SNAPFILE_VCPU_EVENTS] = sizeof(struct kvm_vcpu_events);
	part[SNAPFILE_VCPU_DEBUGREGS] = sizeof(struct kvm_debugregs);
	part[SNAPFILE_VCPU_MP_STATE] = sizeof(struct kvm_mp_state);
	part[SNAPFILE_VCPU_MSR_ENTRY] = sizeof(struct kvm_msr_entry);
	part[SNAPFILE_VCPU_MAX_MSRS] = VCPU_STATE_MAX_MSRS;
}

static const char *const vcpu_part_name[SNAPFILE_VCPU_NPARTS] = {
	"kvm_regs", "kvm_sregs", "kvm_xsave", "kvm_xcrs", "kvm_vcpu_events", "kvm_debugregs",
	"kvm_mp_state", "kvm_msr_entry", "MSR slots",
};

#define VCPU_RECORD_SIZE                                                                       \
	(sizeof(struct kvm_regs) + sizeof(struct kvm_sregs) + sizeof(struct kvm_xsave) +     \
	 sizeof(struct kvm_xcrs) + sizeof(struct kvm_vcpu_events) +                          \
	 sizeof(struct kvm_debugregs) + sizeof(struct kvm_mp_state) + 8 +                    \
	 VCPU_STATE_MAX_MSRS * sizeof(struct kvm_msr_entry))
static_assert(VCPU_RECORD_SIZE <= VCPU_RECORD_MAX, "vCPU record bound");

/* Field by field: the record has no compiler padding whatever the struct has. */
#define VCPU_FIELDS(X)                                                                         \
	X(regs) X(sregs) X(xsave) X(xcrs) X(events) X(debugregs) X(mp_state) X(nmsrs) X(pad) \
	X(msrs)

static uint8_t *vcpu_encode(uint8_t *p, const struct vcpu_state *v)
{
#define PUT(f)                                 \
	memcpy(p, &v->f, sizeof(v->f));        \
	p += sizeof(v->f);
	VCPU_FIELDS(PUT)
#undef PUT
	return p;
}

static const uint8_t *vcpu_decode(const uint8_t *p, struct vcpu_state *v)
{
#define GET(f)                                 \
	memcpy(&v->f, p, sizeof(v->f));        \
	p += sizeof(v->f);
	VCPU_FIELDS(GET)
#undef GET
	return p;
}

static uint8_t *workload_encode(uint8_t *p, const struct wl_request *w)
{
	uint32_t nargs = w->nargs;
	memcpy(p, w->name, WL_NAME_SIZE);
	memcpy(p + WL_NAME_SIZE, &nargs, 4);
	memcpy(p + WL_NAME_SIZE + 4, w->args, WL_ARGS_SIZE);
	return p + WORKLOAD_SIZE;
}

static const uint8_t *workload_decode(const uint8_t *p, struct wl_request *w)
{
	uint32_t nargs;
	memcpy(w->name, p, WL_NAME_SIZE);
	memcpy(&nargs, p + WL_NAME_SIZE, 4);
	w->nargs = nargs;
	memcpy(w->args, p + WL_NAME_SIZE + 4, WL_ARGS_SIZE);
	return p + WORKLOAD_SIZE;
}

static int write_all(int fd, const void *buf, uint64_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* 0, -errno, or -ENODATA at end of file. */
static int read_at(int fd, void *buf, uint64_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len > (1u << 30) ? (1u << 30) : len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		p += n;
		len -= (uint64_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* ---- save ---------------------------------------------------------------- */

struct runs {
	struct snapfile_run *r;
	uint64_t n, cap, pages;
};

static int runs_add(struct runs *rs, uint64_t gfn)
{
	rs->pages++;
	if (rs->n && rs->r[rs->n - 1].first + rs->r[rs->n - 1].count == gfn) {
		rs->r[rs->n - 1].count++;
		return 0;
	}
	if (rs->n == rs->cap) {
		uint64_t ncap = rs->cap ? rs->cap * 2 : 64;
		struct snapfile_run *r = realloc(rs->r, ncap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		rs->r = r;
		rs->cap = ncap;
	}
	rs->r[rs->n++] = (struct snapfile_run){ gfn, 1 };
	return 0;
}

/* Root: the non-zero pages of the memfd's data extents (holes are zero and
 * are not read: reading them through the mapping would allocate them). */
static int collect_root(const struct snapshot *s, struct runs *rs, struct vmm_err *e)
{
	uint64_t size = s->meta.mem_size;
	off_t pos = 0;
	while ((uint64_t)pos < size) {
		off_t data = lseek(s->memfd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;
		off_t hole = data < 0 ? -1 : lseek(s->memfd, data, SEEK_HOLE);
		if (data < 0 || hole < 0)
			return vmm_fail(e, -errno, "finding the data of the snapshot memfd failed: %s",
			                strerror(errno));
		uint64_t end = (uint64_t)hole < size ? (uint64_t)hole : size;
		for (uint64_t g = (uint64_t)data / PAGE; g < align_up(end, PAGE) / PAGE; g++)
			if (!snapshot_page_is_zero(s->map + g * PAGE) && runs_add(rs, g))
				return vmm_fail(e, -ENOMEM, "out of memory for the page run table");
		pos = (off_t)align_up(end, PAGE);
	}
	return 0;
}

/* Layer: exactly the captured pages. */
static int collect_layer(const struct snapshot *s, struct runs *rs, struct vmm_err *e)
{
	uint64_t npages = s->meta.mem_size / PAGE;
	for (uint64_t w = 0; w < (npages + 63) / 64; w++)
		for (uint64_t bits = s->captured[w]; bits; bits &= bits - 1) {
			uint64_t g = w * 64 + (uint64_t)__builtin_ctzll(bits);
			if (g < npages && runs_add(rs, g))
				return vmm_fail(e, -ENOMEM, "out of memory for the page run table");
		}
	return 0;
}

/* The header of the file at `path` (checked: magic, version, size). */
static int peek_header(const char *path, struct snapfile_header *h)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | SNAP_OPEN_FLAGS);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = fstat(fd, &st) ? -errno : read_at(fd, h, sizeof(*h), 0);
	close(fd);
	if (!r && (memcmp(h->magic, SNAPFILE_MAGIC, 8) || h->version != SNAPFILE_VERSION ||
	           h->file_size != (uint64_t)st.st_size))
		r = -EINVAL;
	return r;
}

static void remember_file(const struct snapshot *s, struct snap_file_ref *f)
{
	/* The list is the one mutable part of a snapshot: entries are only
	 * pushed, and freed with the snapshot (snapshot_put). */
	_Atomic(struct snap_file_ref *) *head = (_Atomic(struct snap_file_ref *) *)&s->file;
	struct snap_file_ref *old = atomic_load(head);
	do
		f->prev = old;
	while (!atomic_compare_exchange_weak(head, &old, f));
}

static struct snap_file_ref *file_ref_new(const char *path, uint64_t id, uint64_t size)
{
	char *abs = realpath(path, NULL);
	if (!abs)
		return NULL;
	size_t len = strlen(abs);
	struct snap_file_ref *f = len <= SNAPFILE_PATH_MAX ? malloc(sizeof(*f) + len + 1) : NULL;
	if (f) {
		f->prev = NULL;
		f->id = id;
		f->size = size;
		memcpy(f->path, abs, len + 1);
	}
	free(abs);
	return f;
}

/* fsync the directory holding `path`, so the rename is durable. */
static int sync_dir(const char *path)
{
	char *dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	char *slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = 0;
	else
		*slash = 0;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) ? -errno : 0;
	close(fd);
	return r == -EINVAL ? 0 : r; /* some file systems cannot sync directories */
}

int snapshot_save(const struct snapshot *s, const char *path, struct vmm_err *e)
{
	struct snapfile_header h = { .version = SNAPFILE_VERSION, .header_size = sizeof(h),
	                             .page_size = SNAPFILE_PAGE, .vcpu_record_size = VCPU_RECORD_SIZE,
	                             .workload_size = WORKLOAD_SIZE };
	memcpy(h.magic, SNAPFILE_MAGIC, 8);
	vcpu_parts(h.vcpu_part);
	const struct snap_meta *m = &s->meta;
	h.mem_size = m->mem_size;
	h.nvcpus = m->nvcpus;
	h.parked_mask = m->parked_mask;
	h.hc_gpa = m->hc_gpa;
	h.clock = m->clock;
	const struct vm_layout *l = &m->layout;
	uint64_t lay[6] = { l->heap_base, l->heap_size, l->in_base, l->in_size, l->out_base, l->out_size };
	memcpy(h.layout, lay, sizeof(lay));

	const struct snap_file_ref *pf = NULL;
	if (s->parent) {
		if (s->depth > SNAPFILE_MAX_DEPTH)
			return vmm_fail(e, -EINVAL, "cannot save a layer %u deep: files allow %d layers",
			                s->depth, SNAPFILE_MAX_DEPTH);
		pf = atomic_load(&s->parent->file);
		if (!pf)
			return vmm_fail(e, -EINVAL, "cannot save the layer: its parent snapshot was never "
			                "saved to or loaded from a file (save the parent first)");
		struct snapfile_header ph;
		int r = peek_header(pf->path, &ph);
		if (r || ph.meta_sum != pf->id || ph.file_size != pf->size)
			return vmm_fail(e, r == -ENOENT ? -ENOENT : -ESTALE,
			                "cannot save the layer: its parent's file %s %s", pf->path,
			                r == -ENOENT ? "is gone" : "no longer holds the parent snapshot");
		/* Writing over an ancestor's file would orphan this very layer. */
		char *real = realpath(path, NULL);
		for (const struct snapshot *a = s->parent; real && a; a = a->parent) {
			const struct snap_file_ref *af = atomic_load(&a->file);
			if (af && !strcmp(af->path, real)) {
				free(real);
				return vmm_fail(e, -EINVAL, "cannot save the layer over %s: that file holds "
				                "one of its ancestors", path);
			}
		}
		free(real);
		h.kind = SNAPFILE_KIND_LAYER;
		h.parent_id = pf->id;
		h.parent_size = pf->size;
		h.parent_path_len = (uint32_t)strlen(pf->path);
	}

	struct runs rs = { 0 };
	int r = s->parent ? collect_layer(s, &rs, e) : collect_root(s, &rs, e);
	if (r) {
		free(rs.r);
		return r;
	}
	h.nruns = rs.n;
	h.npages = rs.pages;
	uint64_t meta_end = sizeof(h) + WORKLOAD_SIZE + h.parent_path_len +
	                    (uint64_t)m->nvcpus * VCPU_RECORD_SIZE + rs.n * sizeof(struct snapfile_run);
	h.data_offset = align_up(meta_end, PAGE);
	h.file_size = h.data_offset + rs.pages * PAGE;

	/* The metadata region, header last (it gets the checksums). */
	uint8_t *meta = calloc(1, h.data_offset);
	if (!meta) {
		free(rs.r);
		return vmm_fail(e, -ENOMEM, "out of memory for the snapshot file's metadata");
	}
	uint8_t *p = workload_encode(meta + sizeof(h), &m->workload);
	if (pf) {
		memcpy(p, pf->path, h.parent_path_len);
		p += h.parent_path_len;
	}
	for (unsigned i = 0; i < m->nvcpus; i++)
		p = vcpu_encode(p, &m->vcpu[i]);
	memcpy(p, rs.r, rs.n * sizeof(struct snapfile_run));

	size_t plen = strlen(path);
	char *tmp = malloc(plen + 12);
	if (!tmp) {
		free(meta);
		free(rs.r);
		return vmm_fail(e, -ENOMEM, "out of memory");
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp.XXXXXX", 12);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = vmm_fail(e, -errno, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		free(meta);
		free(rs.r);
		return r;
	}

	/* Pages first (after the metadata's place), hashing as they are written. */
	struct snapfile_xxh64 dh;
	snapfile_xxh64_init(&dh, 0);
	if (lseek(fd, (off_t)h.data_offset, SEEK_SET) < 0)
		r = -errno;
	for (uint64_t i = 0; !r && i < rs.n; i++) {
		const uint8_t *src = s->map + rs.r[i].first * PAGE;
		uint64_t len = rs.r[i].count * PAGE;
		snapfile_xxh64_update(&dh, src, len);
		r = write_all(fd, src, len);
	}
	if (!r) {
		h.data_sum = snapfile_xxh64_final(&dh);
		memcpy(meta, &h, sizeof(h)); /* meta_sum still 0 */
		h.meta_sum = snapfile_xxh64(meta, h.data_offset, 0);
		memcpy(meta, &h, sizeof(h));
		r = lseek(fd, 0, SEEK_SET) < 0 ? -errno : write_all(fd, meta, h.data_offset);
	}
	if (!r && fsync(fd))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	/* rename() replaces whatever is at `path`: refuse anything but a
	 * regular file there (a device node, FIFO, socket, directory or
	 * symbolic link) at the last moment, not only when the CLI checked. */
	struct stat tst;
	bool not_regular = !r && !lstat(path, &tst) && !S_ISREG(tst.st_mode);
	if (not_regular)
		r = -EEXIST;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r && not_regular) {
		unlink(tmp);
		vmm_fail(e, r, "refusing to replace %s with a snapshot file: it exists and is not a regular file",
		         path);
	} else if (r) {
		unlink(tmp);
		vmm_fail(e, r, "writing snapshot file %s failed: %s", path, strerror(-r));
	} else {
		int dr = sync_dir(path);
		struct snap_file_ref *f = dr ? NULL : file_ref_new(path, h.meta_sum, h.file_size);
		if (dr)
			r = vmm_fail(e, dr, "syncing the directory of %s failed: %s", path, strerror(-dr));
		else if (!f)
			r = vmm_fail(e, -ENOMEM, "cannot record the path of %s", path);
		else
			remember_file(s, f);
	}
	free(tmp);
	free(meta);
	free(rs.r);
	return r;
}

/* ---- load ---------------------------------------------------------------- */

/* What a layer expects of its parent file. */
struct expect {
	uint64_t id, size;
	const char *layer_path;
};

/* One file being loaded. */
struct lf {
	const char *path;
	int fd, memfd;
	struct snapfile_header h;
	uint8_t *meta;            /* [0, data_offset) */
	const uint8_t *runs;      /* in meta, nruns struct snapfile_run (unaligned) */
	const char *parent_path;  /* in meta, parent_path_len bytes */
	struct snap_meta m;
	struct vcpu_state *vcpu;
};

static void lf_free(struct lf *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->memfd >= 0)
		close(f->memfd);
	free(f->meta);
	free(f->vcpu);
}

#define BAD(code, ...) vmm_fail(e, code, __VA_ARGS__)

/* Magic, version, header size, length, section bounds: before anything is
 * read past the header. */
static int check_header(struct lf *f, uint64_t st_size, const struct expect *x, struct vmm_err *e)
{
	const struct snapfile_header *h = &f->h;
	if (memcmp(h->magic, SNAPFILE_MAGIC, 8))
		return BAD(-EINVAL, "bad magic in snapshot file %s (not a cowvm snapshot)", f->path);
	if (h->version != SNAPFILE_VERSION)
		return BAD(-ENOTSUP, "unsupported snapshot file version %u in %s (this build reads %d)",
		           h->version, f->path, SNAPFILE_VERSION);
	if (h->header_size != sizeof(*h))
		return BAD(-EINVAL, "bad header size %u in snapshot file %s (expected %zu)",
		           h->header_size, f->path, sizeof(*h));
	if (h->file_size > st_size)
		return BAD(-EINVAL, "truncated snapshot file %s: %llu bytes, its header says %llu",
		           f->path, (unsigned long long)st_size, (unsigned long long)h->file_size);
	if (h->file_size < st_size)
		return BAD(-EINVAL, "trailing data in snapshot file %s: %llu bytes, its header says %llu",
		           f->path, (unsigned long long)st_size, (unsigned long long)h->file_size);
	if (x && (h->meta_sum != x->id || h->file_size != x->size))
		return BAD(-ESTALE, "parent snapshot file %s does not match layer %s: its ID is %016llx "
		           "(%llu bytes), the layer expects %016llx (%llu bytes); was it replaced?",
		           f->path, x->layer_path, (unsigned long long)h->meta_sum,
		           (unsigned long long)h->file_size, (unsigned long long)x->id,
		           (unsigned long long)x->size);
	if (h->data_offset % PAGE || h->data_offset < sizeof(*h) || h->data_offset > h->file_size ||
	    h->data_offset > META_MAX || (h->file_size - h->data_offset) % PAGE)
		return BAD(-EINVAL, "bad section layout in snapshot file %s: page data at %llu of %llu bytes",
		           f->path, (unsigned long long)h->data_offset, (unsigned long long)h->file_size);
	return 0;
}

static int range_ok(uint64_t base, uint64_t size, uint64_t mem)
{
	return base <= mem && size <= mem - base;
}

static int str_ok(const char *s, size_t cap)
{
	return memchr(s, 0, cap) != NULL;
}

/* Every value, on checksummed metadata. */
static int check_meta(struct lf *f, struct vmm_err *e)
{
	const struct snapfile_header *h = &f->h;
	const char *path = f->path;
	int layer = h->kind == SNAPFILE_KIND_LAYER;
	if (h->kind != SNAPFILE_KIND_ROOT && !layer)
		return BAD(-EINVAL, "unknown snapshot kind %u in %s", h->kind, path);
	if (h->flags || h->reserved0 || h->reserved[0] || h->reserved[1] || h->reserved[2] || h->reserved[3])
		return BAD(-EINVAL, "nonzero reserved header field in snapshot file %s", path);
	if (h->page_size != SNAPFILE_PAGE)
		return BAD(-EINVAL, "bad page size %u in snapshot file %s", h->page_size, path);
	if (h->mem_size % CHUNK || h->mem_size < VM_MEM_MIN || h->mem_size > VM_MEM_MAX)
		return BAD(-EINVAL, "bad memory size %llu bytes in snapshot file %s: must be a multiple "
		           "of 2 MiB in %llu MiB..%llu GiB", (unsigned long long)h->mem_size, path,
		           VM_MEM_MIN / MiB, VM_MEM_MAX >> 30);
	if (h->nvcpus < 1 || h->nvcpus > COWVM_MAX_VCPUS)
		return BAD(-EINVAL, "bad vCPU count %u in snapshot file %s: must be 1..%d", h->nvcpus,
		           path, COWVM_MAX_VCPUS);
	if (h->parked_mask >> h->nvcpus)
		return BAD(-EINVAL, "bad parked mask %#x in snapshot file %s for %u vCPUs",
		           h->parked_mask, path, h->nvcpus);
	uint32_t part[SNAPFILE_VCPU_NPARTS];
	vcpu_parts(part);
	for (int i = 0; i < SNAPFILE_VCPU_NPARTS; i++)
		if (h->vcpu_part[i] != part[i])
			return BAD(-EINVAL, "vCPU state layout mismatch in snapshot file %s: %s is %u, "
			           "this build has %u", path, vcpu_part_name[i], h->vcpu_part[i], part[i]);
	if (h->vcpu_record_size != VCPU_RECORD_SIZE || h->workload_size != WORKLOAD_SIZE)
		return BAD(-EINVAL, "vCPU state layout mismatch in snapshot file %s: record %u, "
		           "workload %u bytes", path, h->vcpu_record_size, h->workload_size);
	uint64_t npages = h->mem_size / PAGE;
	if (h->npages > npages || h->nruns > h->npages)
		return BAD(-EINVAL, "bad page count in snapshot file %s: %llu pages in %llu runs, "
		           "guest memory has %llu", path, (unsigned long long)h->npages,
		           (unsigned long long)h->nruns, (unsigned long long)npages);
	if (layer ? !h->parent_path_len || h->parent_path_len > SNAPFILE_PATH_MAX || !h->parent_size
	          : h->parent_path_len || h->parent_id || h->parent_size)
		return BAD(-EINVAL, "bad parent reference in snapshot file %s (%s, path of %u bytes)",
		           path, layer ? "layer" : "root", h->parent_path_len);
	/* All terms are bounded now: no overflow. */
	uint64_t meta_end = sizeof(*h) + WORKLOAD_SIZE + h->parent_path_len +
	                    (uint64_t)h->nvcpus * VCPU_RECORD_SIZE + h->nruns * sizeof(struct snapfile_run);
	if (h->data_offset != align_up(meta_end, PAGE) ||
	    h->file_size - h->data_offset != h->npages * PAGE)
		return BAD(-EINVAL, "bad section layout in snapshot file %s: sections end at %llu, "
		           "page data at %llu, %llu pages in %llu bytes", path,
		           (unsigned long long)meta_end, (unsigned long long)h->data_offset,
		           (unsigned long long)h->npages, (unsigned long long)(h->file_size - h->data_offset));
	for (uint64_t i = meta_end; i < h->data_offset; i++)
		if (f->meta[i])
			return BAD(-EINVAL, "nonzero padding before the page data in snapshot file %s", path);

	struct snap_meta *m = &f->m;
	const uint8_t *p = workload_decode(f->meta + sizeof(*h), &m->workload);
	const struct wl_request *w = &m->workload;
	int wl_ok = str_ok(w->name, sizeof(w->name)) && w->nargs <= WL_MAX_ARGS;
	for (unsigned i = 0; wl_ok && i < w->nargs; i++)
		wl_ok = str_ok(w->args[i].key, sizeof(w->args[i].key)) &&
		        str_ok(w->args[i].value, sizeof(w->args[i].value));
	if (!wl_ok)
		return BAD(-EINVAL, "bad workload request in snapshot file %s", path);
	m->mem_size = h->mem_size;
	m->nvcpus = h->nvcpus;
	m->parked_mask = h->parked_mask;
	m->hc_gpa = h->hc_gpa;
	m->clock = h->clock;
	m->layout = (struct vm_layout){ h->layout[0], h->layout[1], h->layout[2],
	                                h->layout[3], h->layout[4], h->layout[5] };
	for (int i = 0; i < 6; i += 2)
		if (!range_ok(h->layout[i], h->layout[i + 1], h->mem_size))
			return BAD(-EINVAL, "bad guest layout in snapshot file %s: [%#llx, +%#llx) is "
			           "outside guest memory", path, (unsigned long long)h->layout[i],
			           (unsigned long long)h->layout[i + 1]);
	if (h->hc_gpa && (h->hc_gpa % 8 || !range_ok(h->hc_gpa, sizeof(struct cowvm_hcall), h->mem_size)))
		return BAD(-EINVAL, "bad hypercall address %#llx in snapshot file %s",
		           (unsigned long long)h->hc_gpa, path);
	if (layer) {
		f->parent_path = (const char *)p;
		if (memchr(p, 0, h->parent_path_len) || p[0] != '/')
			return BAD(-EINVAL, "bad parent path in snapshot file %s", path);
		p += h->parent_path_len;
	}
	f->vcpu = calloc(h->nvcpus, sizeof(*f->vcpu));
	if (!f->vcpu)
		return BAD(-ENOMEM, "out of memory for vCPU state");
	for (unsigned i = 0; i < h->nvcpus; i++) {
		p = vcpu_decode(p, &f->vcpu[i]);
		if (f->vcpu[i].nmsrs > VCPU_STATE_MAX_MSRS)
			return BAD(-EINVAL, "bad vCPU state in snapshot file %s: vCPU %u has %u MSRs (max %d)",
			           path, i, f->vcpu[i].nmsrs, VCPU_STATE_MAX_MSRS);
	}
	m->vcpu = f->vcpu;
	f->runs = p;
	uint64_t sum = 0, next = 0;
	for (uint64_t i = 0; i < h->nruns; i++) {
		struct snapfile_run r;
		memcpy(&r, p + i * sizeof(r), sizeof(r));
		if (!r.count || r.first >= npages || r.count > npages - r.first)
			return BAD(-EINVAL, "page index out of range in snapshot file %s: run %llu is "
			           "[%llu, +%llu), guest memory has %llu pages", path, (unsigned long long)i,
			           (unsigned long long)r.first, (unsigned long long)r.count,
			           (unsigned long long)npages);
		if (i && r.first < next)
			return BAD(-EINVAL, "page runs not sorted in snapshot file %s: run %llu starts at "
			           "page %llu, before the end of the previous run (%llu)", path,
			           (unsigned long long)i, (unsigned long long)r.first,
			           (unsigned long long)next);
		next = r.first + r.count;
		sum += r.count;
	}
	if (sum != h->npages)
		return BAD(-EINVAL, "bad page count in snapshot file %s: runs hold %llu pages, the "
		           "header says %llu", path, (unsigned long long)sum, (unsigned long long)h->npages);
	return 0;
}

/* Write the non-zero pages of buf (len bytes, whole pages) to memfd at
 * `at`: zero pages stay holes, which read as zero, so a file padded with
 * zeros (even a sparse one of absurd size) allocates nothing for them. */
static int fill_nonzero(int memfd, const uint8_t *buf, uint64_t len, uint64_t at, struct vmm_err *e)
{
	for (uint64_t p = 0; p < len;) {
		if (snapshot_page_is_zero(buf + p)) {
			p += PAGE;
			continue;
		}
		uint64_t q = p + PAGE;
		while (q < len && !snapshot_page_is_zero(buf + q))
			q += PAGE;
		while (p < q) {
			ssize_t n = pwrite(memfd, buf + p, q - p, (off_t)(at + p));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return BAD(n < 0 ? -errno : -EIO, "filling the snapshot memfd failed: %s",
				           n < 0 ? strerror(errno) : "short write");
			p += (uint64_t)n;
		}
	}
	return 0;
}

/* Read the pages into a new memfd at their guest offsets, checksumming
 * what is read. Through a bounce buffer with pwrite, not a mapping: shmem
 * then neither faults per page nor zeroes pages that are about to be
 * overwritten whole (about a third less CPU). */
static int load_pages(struct lf *f, struct vmm_err *e)
{
	const struct snapfile_header *h = &f->h;
	f->memfd = snapshot_memfd(h->mem_size, e);
	if (f->memfd < 0)
		return f->memfd;
	uint64_t bufsz = h->npages * PAGE < IO_CHUNK ? h->npages * PAGE : IO_CHUNK;
	uint8_t *buf = bufsz ? malloc(bufsz) : NULL;
	if (bufsz && !buf)
		return BAD(-ENOMEM, "out of memory for reading snapshot file %s", f->path);
	struct snapfile_xxh64 dh;
	snapfile_xxh64_init(&dh, 0);
	uint64_t off = h->data_offset;
	int r = 0;
	for (uint64_t i = 0; !r && i < h->nruns; i++) {
		struct snapfile_run run;
		memcpy(&run, f->runs + i * sizeof(run), sizeof(run));
		for (uint64_t done = 0; !r && done < run.count * PAGE; done += bufsz) {
			uint64_t len = run.count * PAGE - done < bufsz ? run.count * PAGE - done : bufsz;
			r = read_at(f->fd, buf, len, off);
			if (r == -ENODATA) {
				r = BAD(-EINVAL, "truncated snapshot file %s: it shrank while being read", f->path);
				break;
			}
			if (r) {
				r = BAD(r, "reading snapshot file %s failed: %s", f->path, strerror(-r));
				break;
			}
			snapfile_xxh64_update(&dh, buf, len);
			r = fill_nonzero(f->memfd, buf, len, run.first * PAGE + done, e);
			off += len;
		}
	}
	free(buf);
	uint64_t sum = snapfile_xxh64_final(&dh);
	if (!r && sum != h->data_sum)
		r = BAD(-EBADMSG, "page data checksum mismatch in snapshot file %s: stored %016llx, "
		        "computed %016llx", f->path, (unsigned long long)h->data_sum,
		        (unsigned long long)sum);
	return r;
}

/* The guest frames of the runs, for snapshot_layer_create. */
static uint64_t *run_gfns(const struct lf *f)
{
	uint64_t *g = malloc((f->h.npages ? f->h.npages : 1) * sizeof(uint64_t));
	uint64_t k = 0;
	for (uint64_t i = 0; g && i < f->h.nruns; i++) {
		struct snapfile_run run;
		memcpy(&run, f->runs + i * sizeof(run), sizeof(run));
		for (uint64_t j = 0; j < run.count; j++)
			g[k++] = run.first + j;
	}
	return g;
}

/* Open a layer's parent: the stored absolute path, else the same file name
 * beside the layer (a chain of files moved together). The ID check makes
 * either safe. */
static int open_parent(const struct lf *f, char **used, struct vmm_err *e)
{
	char *stored = strndup(f->parent_path, f->h.parent_path_len);
	if (!stored)
		return BAD(-ENOMEM, "out of memory");
	int fd = open(stored, O_RDONLY | O_CLOEXEC | SNAP_OPEN_FLAGS);
	int err = errno;
	if (fd < 0 && err == ENOENT) {
		const char *base = strrchr(stored, '/') + 1;
		const char *slash = strrchr(f->path, '/');
		size_t dlen = slash ? (size_t)(slash - f->path) + 1 : 0;
		char *beside = malloc(dlen + strlen(base) + 1);
		if (beside) {
			memcpy(beside, f->path, dlen);
			strcpy(beside + dlen, base);
			char *a = realpath(beside, NULL);
			if (a && strcmp(a, stored)) {
				fd = open(beside, O_RDONLY | O_CLOEXEC | SNAP_OPEN_FLAGS);
				if (fd >= 0) {
					free(stored);
					stored = beside;
					beside = NULL;
				}
			}
			free(a);
			free(beside);
		}
	}
	if (fd < 0) {
		int r = BAD(err == ENOENT ? -ENOENT : -err, "parent snapshot file %s of layer %s is "
		            "missing: %s", stored, f->path, strerror(err));
		free(stored);
		return r;
	}
	*used = stored;
	return fd;
}

static int load_file(const char *path, int fd, unsigned depth, const struct expect *x,
                     struct snapshot **out, struct vmm_err *e)
{
	struct lf f = { .path = path, .fd = fd, .memfd = -1 };
	struct snapshot *parent = NULL;
	char *ppath = NULL;
	uint64_t *gfns = NULL;
	int r = 0;
	struct stat st;
	if (f.fd < 0 && (f.fd = open(path, O_RDONLY | O_CLOEXEC | SNAP_OPEN_FLAGS)) < 0)
		return BAD(-errno, "cannot open snapshot file %s: %s", path, strerror(errno));
	if (fstat(f.fd, &st)) {
		r = BAD(-errno, "cannot stat snapshot file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = BAD(-EINVAL, "snapshot file %s is not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size < sizeof(f.h)) {
		r = BAD(-EINVAL, "truncated snapshot file %s: %llu bytes, a header needs %zu", path,
		        (unsigned long long)st.st_size, sizeof(f.h));
		goto out;
	}
	r = read_at(f.fd, &f.h, sizeof(f.h), 0);
	if (r) {
		r = r == -ENODATA ? BAD(-EINVAL, "truncated snapshot file %s: it shrank while being read", path)
		                  : BAD(r, "reading snapshot file %s failed: %s", path, strerror(-r));
		goto out;
	}
	r = check_header(&f, (uint64_t)st.st_size, x, e);
	if (r)
		goto out;

	/* Metadata: read whole (bounded by META_MAX and the file), checksummed. */
	f.meta = malloc(f.h.data_offset);
	if (!f.meta) {
		r = BAD(-ENOMEM, "out of memory for the metadata of snapshot file %s", path);
		goto out;
	}
	r = read_at(f.fd, f.meta, f.h.data_offset, 0);
	if (r) {
		r = r == -ENODATA ? BAD(-EINVAL, "truncated snapshot file %s: it shrank while being read", path)
		                  : BAD(r, "reading snapshot file %s failed: %s", path, strerror(-r));
		goto out;
	}
	memcpy(&f.h, f.meta, sizeof(f.h)); /* what was checksummed is what is used */
	memset(f.meta + offsetof(struct snapfile_header, meta_sum), 0, sizeof(f.h.meta_sum));
	uint64_t sum = snapfile_xxh64(f.meta, f.h.data_offset, 0);
	if (sum != f.h.meta_sum) {
		r = BAD(-EBADMSG, "metadata checksum mismatch in snapshot file %s: stored %016llx, "
		        "computed %016llx", path, (unsigned long long)f.h.meta_sum, (unsigned long long)sum);
		goto out;
	}
	r = check_header(&f, (uint64_t)st.st_size, x, e); /* again, on the checksummed copy */
	r = r ?: check_meta(&f, e);
	r = r ?: load_pages(&f, e);
	if (r)
		goto out;

	if (f.h.kind == SNAPFILE_KIND_LAYER) {
		if (depth >= SNAPFILE_MAX_DEPTH) {
			r = BAD(-ELOOP, "layer chain deeper than %d files at %s", SNAPFILE_MAX_DEPTH, path);
			goto out;
		}
		int pfd = open_parent(&f, &ppath, e);
		if (pfd < 0) {
			r = pfd;
			goto out;
		}
		struct expect px = { f.h.parent_id, f.h.parent_size, path };
		r = load_file(ppath, pfd, depth + 1, &px, &parent, e);
		if (r)
			goto out;
		if (parent->meta.mem_size != f.h.mem_size) { /* (the ID check makes this unreachable) */
			r = BAD(-EINVAL, "parent snapshot file %s has %llu MiB of memory, layer %s has %llu MiB",
			        ppath, (unsigned long long)(parent->meta.mem_size >> 20), path,
			        (unsigned long long)(f.h.mem_size >> 20));
			goto out;
		}
		gfns = run_gfns(&f);
		if (!gfns) {
			r = BAD(-ENOMEM, "out of memory for the layer's page list");
			goto out;
		}
	}

	struct snap_file_ref *ref = file_ref_new(path, f.h.meta_sum, f.h.file_size);
	if (!ref) {
		r = BAD(-ENOMEM, "cannot record the path of snapshot file %s", path);
		goto out;
	}
	int memfd = f.memfd;
	f.memfd = -1; /* the constructors take it over, on error too */
	if (parent)
		r = snapshot_layer_create(parent, &f.m, memfd, gfns, f.h.npages, out, e);
	else
		r = snapshot_root_create(&f.m, memfd, out, e);
	if (r) {
		free(ref);
		goto out;
	}
	if (!parent)
		(*out)->ncaptured = f.h.npages;
	remember_file(*out, ref);
out:
	snapshot_put(parent); /* a layer holds its own reference */
	free(ppath);
	free(gfns);
	lf_free(&f);
	return r;
}

int snapshot_load(const char *path, struct snapshot **out, struct vmm_err *e)
{
	*out = NULL;
	struct snapshot *s = NULL;
	int r = load_file(path, -1, 0, NULL, &s, e);
	if (!r)
		*out = s;
	return r;
}
