/*
 * fuzz_snapshot_file.c - fuzz harness for snapshot_load() (vmm/snapshot/snapshot_file.c).
 *
 * Input: one control byte, then the file(s):
 *
 *   ctrl bit 0  FIX_SUMS    recompute data_sum and meta_sum of each file, so
 *                           mutations reach the checks behind the checksums
 *   ctrl bit 1  FIX_SIZE    set file_size to the real length
 *   ctrl bit 2  PARENT      u16 (LE) length + that many bytes of a parent file
 *                           come first; with FIX_SUMS the layer's parent_id
 *                           and parent_size are set to the parent's
 *   ctrl bit 3  RESAVE      a loaded snapshot is saved again and reloaded; the
 *                           two must agree (metadata, vCPUs, stored pages);
 *                           only up to 256 MiB of guest RAM (a root's GPT is
 *                           built per page: a 64 GiB load takes seconds)
 *
 * The files are written to a private directory (tmpfs if possible) as
 * parent.snap and file.snap; a layer that names a missing parent path finds
 * parent.snap beside it (the loader's fallback), so seeds name
 * "/nonexistent/parent.snap". No KVM is needed: loading builds the memfd and
 * GPT only.
 *
 * Properties: snapshot_load either fails with a negative code, a message and
 * *out == NULL, or succeeds with a snapshot whose every value is inside the
 * limits the format promises (docs/snapshot-format.md; for a PC snapshot,
 * LAPICs on every vCPU and its machine state in range; a chain all PC or
 * all guest stub); no descriptor leaks either way; sanitizers see no
 * memory error or leak. RESAVE: the round trip keeps every byte of vCPU
 * and PC state.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cowvm_abi.h"
#include "fuzz_common.h"
#include "pc_state.h"
#include "snapshot.h"
#include "snapshot_file.h"

#define FIX_SUMS 1u
#define FIX_SIZE 2u
#define PARENT 4u
#define RESAVE 8u
#define PAGE 4096ull

static char dir[64];
static char parent_path[96], file_path[96], resave_path[96];

static void cleanup(void)
{
	unlink(parent_path);
	unlink(file_path);
	unlink(resave_path);
	rmdir(dir);
}

static void setup(void)
{
	if (dir[0])
		return;
	strcpy(dir, "/dev/shm/cowvm-fuzz-XXXXXX");
	if (!mkdtemp(dir)) {
		strcpy(dir, "/tmp/cowvm-fuzz-XXXXXX");
		FUZZ_CHECK(mkdtemp(dir), "cannot create a temporary directory: %s", strerror(errno));
	}
	snprintf(parent_path, sizeof(parent_path), "%s/parent.snap", dir);
	snprintf(file_path, sizeof(file_path), "%s/file.snap", dir);
	snprintf(resave_path, sizeof(resave_path), "%s/resave.snap", dir);
	atexit(cleanup);
}

static void put_file(const char *path, const uint8_t *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	while (n) {
		ssize_t w = write(fd, b, n);
		FUZZ_CHECK(w > 0, "write %s: %s", path, strerror(errno));
		b += w;
		n -= (size_t)w;
	}
	close(fd);
}

/* Apply the fix-ups of ctrl to a file image b[0..n). */
static void fix_up(uint8_t *b, size_t n, unsigned ctrl, const struct snapfile_header *parent)
{
	struct snapfile_header h;
	if (n < sizeof(h))
		return;
	memcpy(&h, b, sizeof(h));
	if (ctrl & FIX_SIZE)
		h.file_size = n;
	if (parent) {
		h.parent_id = parent->meta_sum;
		h.parent_size = parent->file_size;
	}
	if ((ctrl & FIX_SUMS) && h.data_offset >= sizeof(h) && h.data_offset <= n) {
		h.data_sum = snapfile_xxh64(b + h.data_offset, n - h.data_offset, 0);
		h.meta_sum = 0;
		memcpy(b, &h, sizeof(h));
		h.meta_sum = snapfile_xxh64(b, h.data_offset, 0);
	}
	memcpy(b, &h, sizeof(h));
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* What every successfully loaded snapshot must satisfy. */
static void check_snapshot(const struct snapshot *s)
{
	const struct snap_meta *m = &s->meta;
	FUZZ_CHECK(m->mem_size >= VM_MEM_MIN && m->mem_size <= VM_MEM_MAX && m->mem_size % (2 << 20) == 0,
	           "mem_size %llu", (unsigned long long)m->mem_size);
	FUZZ_CHECK(m->nvcpus >= 1 && m->nvcpus <= COWVM_MAX_VCPUS, "nvcpus %u", m->nvcpus);
	FUZZ_CHECK(!(m->parked_mask >> m->nvcpus), "parked mask %#x", m->parked_mask);
	const struct vm_layout *l = &m->layout;
	uint64_t r[6] = { l->heap_base, l->heap_size, l->in_base, l->in_size, l->out_base, l->out_size };
	for (int i = 0; i < 6; i += 2)
		FUZZ_CHECK(r[i] <= m->mem_size && r[i + 1] <= m->mem_size - r[i], "layout %d", i);
	FUZZ_CHECK(!m->hc_gpa || (m->hc_gpa % 8 == 0 && m->hc_gpa + sizeof(struct cowvm_hcall) <= m->mem_size),
	           "hc_gpa %#llx", (unsigned long long)m->hc_gpa);
	FUZZ_CHECK(memchr(m->workload.name, 0, sizeof(m->workload.name)), "workload name");
	FUZZ_CHECK(m->workload.nargs <= WL_MAX_ARGS, "nargs %u", m->workload.nargs);
	for (unsigned i = 0; i < m->workload.nargs; i++)
		FUZZ_CHECK(memchr(m->workload.args[i].key, 0, sizeof(m->workload.args[i].key)) &&
		           memchr(m->workload.args[i].value, 0, sizeof(m->workload.args[i].value)), "arg %u", i);
	for (unsigned i = 0; i < m->nvcpus; i++) {
		const struct vcpu_state *v = &m->vcpu[i];
		FUZZ_CHECK(v->nmsrs <= VCPU_STATE_MAX_MSRS, "vCPU %u nmsrs %u", i, v->nmsrs);
		/* a PC snapshot's vCPUs have LAPICs, a guest stub's have none */
		FUZZ_CHECK(v->has_lapic == (m->pc != NULL), "vCPU %u has_lapic %u, PC state %p", i, v->has_lapic,
		           (void *)m->pc);
		FUZZ_CHECK(v->tsc_khz <= INT32_MAX && (v->has_lapic || !v->tsc_khz), "vCPU %u tsc_khz %u", i,
		           v->tsc_khz);
	}
	if (m->pc) {
		const struct pc_state *pc = m->pc;
		FUZZ_CHECK(pc->pic_master.chip_id == KVM_IRQCHIP_PIC_MASTER && pc->pic_slave.chip_id == KVM_IRQCHIP_PIC_SLAVE &&
		           pc->ioapic.chip_id == KVM_IRQCHIP_IOAPIC, "irqchip ids");
		FUZZ_CHECK(pc->com1.rx_count <= UART_RX_RING, "COM1 rx_count %u", pc->com1.rx_count);
		FUZZ_CHECK(pc->com1.thre_pending <= 1, "COM1 thre_pending %u", pc->com1.thre_pending);
		for (int c = 0; c < 3; c++)
			FUZZ_CHECK(pc->pit.channels[c].count >= 1 && pc->pit.channels[c].count <= 0x10000,
			           "PIT channel %d count %u", c, pc->pit.channels[c].count);
		FUZZ_CHECK(!(pc->rtc.index & 0x80), "CMOS index %#x", pc->rtc.index);
	}
	FUZZ_CHECK(s->depth <= SNAPFILE_MAX_DEPTH, "depth %u", s->depth);
	FUZZ_CHECK(!s->parent || s->parent->meta.mem_size == m->mem_size, "parent memory size");
	FUZZ_CHECK(!s->parent || !s->parent->meta.pc == !m->pc, "a chain mixes PC and guest-stub snapshots");
	FUZZ_CHECK(atomic_load(&s->file) != NULL, "a loaded snapshot remembers its file");
	/* Every captured page of a layer is readable (the mapping covers RAM). */
	uint64_t npages = m->mem_size / PAGE, seen = 0;
	volatile uint8_t sink = 0;
	if (s->parent) {
		for (uint64_t g = 0; g < npages && seen < 64; g++)
			if ((s->captured[g / 64] >> (g % 64)) & 1) {
				sink ^= snapshot_page(s, g)[g % PAGE];
				seen++;
			}
		FUZZ_CHECK(s->ncaptured <= npages, "ncaptured %llu", (unsigned long long)s->ncaptured);
	}
	(void)sink;
}

/* Save s again, reload, and compare. */
static void resave(struct snapshot *s)
{
	struct vmm_err e = { 0 };
	struct snapshot *t = NULL;
	int r = snapshot_save(s, resave_path, &e);
	FUZZ_CHECK(r == 0, "re-saving a loaded snapshot failed: %s", e.msg);
	r = snapshot_load(resave_path, &t, &e);
	FUZZ_CHECK(r == 0 && t, "reloading a re-saved snapshot failed: %s", e.msg);
	const struct snap_meta *a = &s->meta, *b = &t->meta;
	FUZZ_CHECK(a->mem_size == b->mem_size && a->nvcpus == b->nvcpus && a->parked_mask == b->parked_mask &&
	           a->hc_gpa == b->hc_gpa && !memcmp(&a->layout, &b->layout, sizeof(a->layout)) &&
	           !memcmp(&a->workload, &b->workload, sizeof(a->workload)), "metadata differs after a round trip");
	FUZZ_CHECK(!memcmp(a->vcpu, b->vcpu, a->nvcpus * sizeof(*a->vcpu)), "vCPU state differs after a round trip");
	FUZZ_CHECK(!a->pc == !b->pc, "PC state lost or gained in a round trip");
	if (a->pc) /* every byte but struct pc_state's tail padding */
		FUZZ_CHECK(!memcmp(a->pc, b->pc, offsetof(struct pc_state, rtc) + sizeof(a->pc->rtc)),
		           "PC state differs after a round trip");
	FUZZ_CHECK(s->depth == t->depth, "depth differs after a round trip");
	/* The pages a layer stores (bounded by the input size) read the same. */
	if (s->parent) {
		uint64_t npages = a->mem_size / PAGE;
		for (uint64_t g = 0; g < npages; g++)
			if ((s->captured[g / 64] >> (g % 64)) & 1)
				FUZZ_CHECK(!memcmp(snapshot_page(s, g), snapshot_page(t, g), PAGE),
				           "page %llu differs after a round trip", (unsigned long long)g);
	}
	snapshot_put(t);
	unlink(resave_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size < 1)
		return 0;
	unsigned ctrl = data[0];
	data++, size--;
	uint8_t *pb = NULL;
	size_t pn = 0;
	struct snapfile_header ph;
	bool have_ph = false;
	unlink(parent_path);
	if (ctrl & PARENT) {
		if (size < 2)
			return 0;
		pn = (size_t)data[0] | (size_t)data[1] << 8;
		data += 2, size -= 2;
		if (pn > size)
			pn = size;
		pb = malloc(pn ? pn : 1);
		memcpy(pb, data, pn);
		data += pn, size -= pn;
		fix_up(pb, pn, ctrl, NULL);
		if (pn >= sizeof(ph)) {
			memcpy(&ph, pb, sizeof(ph));
			have_ph = true;
		}
		put_file(parent_path, pb, pn);
	}
	uint8_t *fb = malloc(size ? size : 1);
	memcpy(fb, data, size);
	fix_up(fb, size, ctrl, (ctrl & FIX_SUMS) && have_ph ? &ph : NULL);
	put_file(file_path, fb, size);

	int fds = count_fds();
	struct vmm_err e = { 0 };
	struct snapshot *s = (struct snapshot *)&e; /* must be set to NULL on failure */
	int r = snapshot_load(file_path, &s, &e);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "snapshot_load: %d %s\n", r, r ? e.msg : "loaded");
	if (r) {
		FUZZ_CHECK(r < 0 && s == NULL, "failed load returned %d with a snapshot", r);
		FUZZ_CHECK(e.code == r && e.msg[0], "failed load without a message (%d)", r);
	} else {
		FUZZ_CHECK(s != NULL, "successful load without a snapshot");
		check_snapshot(s);
		if ((ctrl & RESAVE) && s->meta.mem_size <= (256ull << 20))
			resave(s);
		snapshot_put(s);
	}
	FUZZ_CHECK(count_fds() == fds, "descriptor leak: %d before, %d after", fds, count_fds());
	free(fb);
	free(pb);
	return 0;
}
