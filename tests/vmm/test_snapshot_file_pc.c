/*
 * test_snapshot_file_pc.c - PC (Linux) snapshots in files, format version 3
 * (docs/snapshot-format.md): a snapshot with a synthetic machine state and
 * vCPU LAPICs, built on a small memfd (no KVM), and a layer of it survive a
 * file byte for byte; the file holds the documented bytes at the documented
 * places; every value the loader checks in the PC state section and in the
 * new vCPU fields, patched into a saved file with its metadata checksum
 * recomputed (so the value check, not the checksum, must catch it), is
 * refused with its own message; version 2 (and 1) files are refused; a
 * chain cannot mix PC and guest-stub snapshots. On KVM, a real PC snapshot
 * of a tiny bzImage goes through a file and its clone runs on from the
 * restored machine.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../boot/bzimage_build.h"
#include "clone.h"
#include "kvm_ioctl.h"
#include "kvm_test_util.h"
#include "pc_layout.h"
#include "pc_state.h"
#include "pc_test_progs.h"
#include "snapfile_test_util.h"
#include "snapshot.h"
#include "snapshot_file.h"

#define MiB (1ull << 20)
#define PAGE 4096ull
#define MEM (8 * MiB)
#define NVCPUS 2

/* The PC state section as docs/snapshot-format.md lays it out (offsets in
 * the section; written out here, not taken from the code's sizeof). */
#define PCO_MASTER 20    /* after the layout table: 5 x u32 */
#define PCO_SLAVE 540    /* struct kvm_irqchip: 520 bytes */
#define PCO_IOAPIC 1060
#define PCO_PIT 1580
#define PCO_COM1 1692    /* struct kvm_pit_state2: 112 bytes */
#define PCO_POWER 5804   /* COM1: 12 one-byte fields, rx_count, 4096 bytes */
#define PCO_RTC 5810
#define PC_SECTION 5811
#define CHIP 8           /* the union in a kvm_irqchip (after chip_id, pad) */
#define PIC(f) (CHIP + offsetof(struct kvm_pic_state, f))
#define IOA(f) (PCO_IOAPIC + CHIP + offsetof(struct kvm_ioapic_state, f))
#define PIT(ch, f) (PCO_PIT + 24 * (ch) + offsetof(struct kvm_pit_channel_state, f))
/* The new vCPU fields end each record: has_lapic, tsc_khz, the LAPIC page. */
#define VCPU_TAIL (4 + 4 + 1024)

/* ---- a synthetic PC snapshot ---------------------------------------------- */

static void fill_vcpu(struct vcpu_state *v, unsigned i, unsigned seed, bool pc)
{
	memset(v, 0, sizeof(*v));
	uint8_t *b = (uint8_t *)v;
	for (size_t j = 0; j < offsetof(struct vcpu_state, nmsrs); j++)
		b[j] = (uint8_t)(j * 13 + i * 7 + seed);
	v->nmsrs = 3;
	for (unsigned k = 0; k < 3; k++)
		v->msrs[k] = (struct kvm_msr_entry){ .index = 0x10 + k, .data = 0x1234500 + k + seed };
	if (pc) {
		v->has_lapic = 1;
		v->tsc_khz = 2100000 + i + seed;
		for (size_t j = 0; j < sizeof(v->lapic.regs); j++)
			v->lapic.regs[j] = (char)(j * 5 + i + seed);
	}
}

/* Every device with state off its reset values, each value inside its range. */
static void fill_pc(struct pc_state *s, unsigned seed)
{
	memset(s, 0, sizeof(*s));
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	struct kvm_pic_state *m = &s->pic_master.chip.pic, *l = &s->pic_slave.chip.pic;
	*m = (struct kvm_pic_state){ .last_irr = 0x01, .irr = 0x11, .imr = 0xfb, .isr = 0x01,
	                             .priority_add = 3, .irq_base = 0x20, .read_reg_select = 1,
	                             .special_mask = 1, .init4 = 1, .elcr = 0x08, .elcr_mask = 0xf8 };
	*l = (struct kvm_pic_state){ .imr = 0xff, .irq_base = 0x28, .init_state = 3, .auto_eoi = 1,
	                             .rotate_on_auto_eoi = 1, .special_fully_nested_mode = 1,
	                             .poll = 1, .elcr = 0x0c, .elcr_mask = 0xde };
	struct kvm_ioapic_state *a = &s->ioapic.chip.ioapic;
	a->base_address = PC_GPA_IOAPIC;
	a->ioregsel = 0x10 + seed;
	a->id = 2;
	a->irr = 0x800003;
	for (unsigned i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		a->redirtbl[i].bits = 0x10000 | (0x30 + i) | (uint64_t)(i + seed) << 56;
	struct kvm_pit_channel_state *c = s->pit.channels;
	c[0] = (struct kvm_pit_channel_state){ .count = 0x2e9c + seed, .latched_count = 0x1234, .count_latched = 3,
	                                       .status_latched = 1, .status = 0xb4, .read_state = 4,
	                                       .write_state = 3, .write_latch = 0x9c, .rw_mode = 3,
	                                       .mode = 2, .gate = 1, .count_load_time = 987654321 };
	c[1] = (struct kvm_pit_channel_state){ .count = 0x10000, .mode = 0xff, .gate = 1 };
	c[2] = (struct kvm_pit_channel_state){ .count = 1, .mode = 5, .bcd = 1, .rw_mode = 1,
	                                       .read_state = 1, .write_state = 1, .count_load_time = -5 };
	s->pit.flags = KVM_PIT_FLAGS_SPEAKER_DATA_ON;
	struct uart_16550_state *u = &s->com1;
	u->ier = 0x0f, u->lcr = 0x03, u->mcr = 0x0b, u->scr = (uint8_t)(0x5a + seed), u->dll = 1;
	u->dlm = 0x80, u->fcr = 0xc1, u->lsr_err = UART_LSR_OE, u->msr_delta = 0x09, u->rbr = 'x';
	u->thre_pending = 1;
	u->rx_count = 5;
	memcpy(u->rx, seed ? "bye!!" : "hello", 5);
	s->power = (struct pc_power){ .i8042_cmd_byte = 0x47, .i8042_out = 0x55, .i8042_out_full = true,
	                              .i8042_pending = 0xd1, .i8042_last_cmd = true, .sleep_sts = 0x80 };
	s->rtc.index = 0x0b;
}

static int memfd_pages(const uint64_t *gfns, unsigned n, uint8_t fill)
{
	struct vmm_err e = { 0 };
	int fd = snapshot_memfd(MEM, &e);
	cr_assert_geq(fd, 0, "%s", e.msg);
	uint8_t page[PAGE];
	for (unsigned i = 0; i < n; i++) {
		memset(page, fill + i, sizeof(page));
		cr_assert_eq(pwrite(fd, page, PAGE, (off_t)(gfns[i] * PAGE)), (ssize_t)PAGE);
	}
	return fd;
}

struct synth {
	struct vcpu_state vs[NVCPUS];
	struct pc_state pc;
	struct snap_meta m;
};

/* The state of a PC (pc) or guest-stub root of NVCPUS vCPUs in MEM bytes. */
static void fill_root(struct synth *x, bool pc)
{
	for (unsigned i = 0; i < NVCPUS; i++)
		fill_vcpu(&x->vs[i], i, 0, pc);
	fill_pc(&x->pc, 0);
	x->m = (struct snap_meta){ .mem_size = MEM, .nvcpus = NVCPUS, .parked_mask = 2, .vcpu = x->vs,
	                           .pc = pc ? &x->pc : NULL, .clock = 123456789,
	                           .layout = { 0x200000, 0x100000, MEM - 0x20000, 0x10000, MEM - 0x10000, 0x10000 } };
	strcpy(x->m.workload.name, "linux");
}

/* A root of m with 3 pages stored (gfns 0, 1, 100). */
static struct snapshot *root_of(const struct snap_meta *m)
{
	const uint64_t g[] = { 0, 1, 100 };
	struct vmm_err e = { 0 };
	struct snapshot *s;
	cr_assert_eq(snapshot_root_create(m, memfd_pages(g, 3, 0x11), &s, &e), 0, "%s", e.msg);
	return s;
}

static struct snapshot *make_root(struct synth *x, bool pc)
{
	fill_root(x, pc);
	return root_of(&x->m);
}

/* A layer of `root` with its own vCPU and machine state (pc), 2 pages. */
static struct snapshot *make_layer(struct snapshot *root, struct synth *x, bool pc)
{
	for (unsigned i = 0; i < NVCPUS; i++)
		fill_vcpu(&x->vs[i], i, 1, pc);
	fill_pc(&x->pc, 1);
	x->m = root->meta;
	x->m.vcpu = x->vs;
	x->m.pc = pc ? &x->pc : NULL;
	x->m.clock = 223456789;
	const uint64_t g[] = { 1, 7 };
	struct vmm_err e = { 0 };
	struct snapshot *l;
	cr_assert_eq(snapshot_layer_create(root, &x->m, memfd_pages(g, 2, 0x77), g, 2, &l, &e), 0, "%s", e.msg);
	return l;
}

/* Every byte of the machine state but struct pc_state's own tail padding
 * (each member is a structure without padding). */
static void assert_same_pc(const struct pc_state *a, const struct pc_state *b)
{
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_eq(memcmp(&a->pic_master, &b->pic_master, sizeof(a->pic_master)), 0, "master PIC differs");
	cr_assert_eq(memcmp(&a->pic_slave, &b->pic_slave, sizeof(a->pic_slave)), 0, "slave PIC differs");
	cr_assert_eq(memcmp(&a->ioapic, &b->ioapic, sizeof(a->ioapic)), 0, "IOAPIC differs");
	cr_assert_eq(memcmp(&a->pit, &b->pit, sizeof(a->pit)), 0, "PIT differs");
	cr_assert_eq(memcmp(&a->com1, &b->com1, sizeof(a->com1)), 0, "COM1 differs");
	cr_assert_eq(memcmp(&a->power, &b->power, sizeof(a->power)), 0, "power block differs");
	cr_assert_eq(a->rtc.index, b->rtc.index, "CMOS index differs");
	cr_assert_eq(memcmp(a, b, offsetof(struct pc_state, rtc) + sizeof(a->rtc)), 0);
}

static void assert_same_state(const struct snap_meta *want, const struct snapshot *got)
{
	const struct snap_meta *g = &got->meta;
	cr_assert_eq(g->mem_size, want->mem_size);
	cr_assert_eq(g->nvcpus, want->nvcpus);
	cr_assert_eq(g->parked_mask, want->parked_mask);
	cr_assert_eq(g->clock, want->clock);
	cr_assert_eq(memcmp(&g->layout, &want->layout, sizeof(g->layout)), 0);
	cr_assert_eq(memcmp(&g->workload, &want->workload, sizeof(g->workload)), 0);
	for (unsigned i = 0; i < want->nvcpus; i++)
		cr_assert_eq(memcmp(&g->vcpu[i], &want->vcpu[i], sizeof(g->vcpu[i])), 0, "vCPU %u state differs", i);
	if (want->pc)
		assert_same_pc(want->pc, g->pc);
	else
		cr_assert_null(g->pc);
}

static void assert_same_pages(const struct snapshot *a, const struct snapshot *b)
{
	for (uint64_t g = 0; g < MEM / PAGE; g++)
		cr_assert_eq(memcmp(snapshot_page(a, g), snapshot_page(b, g), PAGE), 0, "page %llu differs",
		             (unsigned long long)g);
}

/* Saved files of a synthetic PC root (root.snap), a layer of it
 * (layer.snap) and a guest-stub root (stub.snap) in g_dir. */
static void make_files(void)
{
	make_dir();
	struct synth r, l, st;
	struct snapshot *root = make_root(&r, true), *layer = make_layer(root, &l, true);
	struct snapshot *stub = make_root(&st, false);
	save_ok(root, path_in("root.snap"));
	save_ok(layer, path_in("layer.snap"));
	save_ok(stub, path_in("stub.snap"));
	snapshot_put(layer);
	snapshot_put(root);
	snapshot_put(stub);
}

/* ---- round trips -------------------------------------------------------- */

Test(snapshot_file_pc, pc_root_round_trips_exactly)
{
	make_dir();
	int fds = count_fds();
	struct synth x;
	struct snapshot *s = make_root(&x, true);
	const char *path = path_in("root.snap");
	save_ok(s, path);
	no_temp_files();
	struct snapshot *l = load_ok(path);
	assert_same_state(&x.m, l);
	assert_same_pages(s, l);
	cr_assert_eq(l->ncaptured, 3);
	/* Saving what was loaded gives the same bytes. */
	save_ok(l, path_in("again.snap"));
	size_t n1, n2;
	uint8_t *f1 = read_whole(path, &n1), *f2 = read_whole(path_in("again.snap"), &n2);
	cr_assert_eq(n1, n2);
	cr_assert_eq(memcmp(f1, f2, n1), 0, "re-saved file differs");
	free(f2);
	snapshot_put(l);
	snapshot_put(s);
	cr_assert_eq(count_fds(), fds, "descriptors leaked");

	/* The documented bytes at the documented places. */
	struct snapfile_header *h = hdr(f1);
	uint32_t rec = h->vcpu_record_size;
	cr_assert_eq(h->version, 3);
	cr_assert_eq(h->flags, 0);
	cr_assert_eq(rec, 8228, "vCPU record: 7196 + has_lapic, tsc_khz, 1024-byte LAPIC page");
	cr_assert_eq(h->vcpu_part2[0], 4);
	cr_assert_eq(h->vcpu_part2[1], 4);
	cr_assert_eq(h->vcpu_part2[2], 1024);
	cr_assert_eq(*snapfile_vcpu_part(h, SNAPFILE_VCPU_LAPIC), 1024);
	cr_assert_eq(h->pc_size, PC_SECTION);
	cr_assert_eq(h->pc_offset, 256 + 804 + NVCPUS * rec);
	cr_assert_eq(h->reserved, 0);
	uint64_t runs = h->pc_offset + PC_SECTION;
	cr_assert_eq(h->data_offset, (runs + 2 * 16 + PAGE - 1) & ~(PAGE - 1));
	uint64_t first_run[2];
	memcpy(first_run, f1 + runs, 16);
	cr_assert_eq(first_run[0], 0, "the run table follows the PC section");
	cr_assert_eq(first_run[1], 2);
	for (unsigned i = 0; i < NVCPUS; i++) {
		const uint8_t *t = f1 + 256 + 804 + (i + 1) * rec - VCPU_TAIL;
		uint32_t has, khz;
		memcpy(&has, t, 4);
		memcpy(&khz, t + 4, 4);
		cr_assert_eq(has, 1);
		cr_assert_eq(khz, 2100000 + i);
		cr_assert_eq(memcmp(t + 8, x.vs[i].lapic.regs, 1024), 0, "vCPU %u LAPIC page", i);
	}
	const uint8_t *pc = f1 + h->pc_offset;
	const uint32_t layout[5] = { 520, 16, 216, 112, 4096 };
	cr_assert_eq(memcmp(pc, layout, sizeof(layout)), 0, "layout table");
	uint32_t id;
	memcpy(&id, pc + PCO_SLAVE, 4);
	cr_assert_eq(id, 1);
	cr_assert_eq(pc[PCO_MASTER + PIC(imr)], 0xfb);
	uint64_t base;
	memcpy(&base, pc + IOA(base_address), 8);
	cr_assert_eq(base, 0xfec00000);
	uint32_t count;
	memcpy(&count, pc + PIT(0, count), 4);
	cr_assert_eq(count, 0x2e9c);
	cr_assert_eq(pc[PCO_COM1 + 3], 0x5a, "COM1 scr");
	memcpy(&count, pc + PCO_COM1 + 12, 4);
	cr_assert_eq(count, 5, "COM1 rx_count");
	cr_assert_eq(memcmp(pc + PCO_COM1 + 16, "hello", 5), 0);
	const uint8_t power[6] = { 0x47, 0x55, 1, 0xd1, 1, 0x80 };
	cr_assert_eq(memcmp(pc + PCO_POWER, power, 6), 0, "power block");
	cr_assert_eq(pc[PCO_RTC], 0x0b, "CMOS index");
	free(f1);
	remove_dir();
}

Test(snapshot_file_pc, pc_layer_carries_its_own_state)
{
	make_dir();
	struct synth r, x;
	struct snapshot *root = make_root(&r, true);
	struct snapshot *layer = make_layer(root, &x, true);
	save_ok(root, path_in("root.snap"));
	save_ok(layer, path_in("layer.snap"));
	int fds = count_fds();
	struct snapshot *l = load_ok(path_in("layer.snap"));
	cr_assert_not_null(l->parent);
	cr_assert_eq(l->ncaptured, 2);
	/* Each level its own vCPUs and machine: the layer's differ from the root's. */
	assert_same_state(&x.m, l);
	assert_same_state(&r.m, l->parent);
	cr_assert_eq(l->meta.pc->com1.scr, 0x5b);
	cr_assert_eq(l->parent->meta.pc->com1.scr, 0x5a);
	assert_same_pages(layer, l);
	snapshot_put(l);
	cr_assert_eq(count_fds(), fds, "descriptors leaked");
	size_t n;
	uint8_t *f = read_whole(path_in("layer.snap"), &n);
	cr_assert_eq(hdr(f)->kind, SNAPFILE_KIND_LAYER);
	cr_assert_eq(hdr(f)->pc_size, PC_SECTION);
	cr_assert_eq(f[hdr(f)->pc_offset + PCO_COM1 + 3], 0x5b, "the layer file's own COM1 scr");
	free(f);
	snapshot_put(layer);
	snapshot_put(root);
	remove_dir();
}

/* A guest-stub snapshot still has no PC section, and its vCPU records
 * hold zeros in the new fields. */
Test(snapshot_file_pc, stub_root_round_trips_without_a_pc_section)
{
	make_dir();
	struct synth x;
	struct snapshot *s = make_root(&x, false);
	save_ok(s, path_in("stub.snap"));
	struct snapshot *l = load_ok(path_in("stub.snap"));
	assert_same_state(&x.m, l);
	snapshot_put(l);
	size_t n;
	uint8_t *f = read_whole(path_in("stub.snap"), &n);
	cr_assert_eq(hdr(f)->pc_size, 0);
	cr_assert_eq(hdr(f)->pc_offset, 0);
	const uint8_t *t = f + 256 + 804 + hdr(f)->vcpu_record_size - VCPU_TAIL;
	static const uint8_t zero[VCPU_TAIL];
	cr_assert_eq(memcmp(t, zero, VCPU_TAIL), 0);
	free(f);
	snapshot_put(s);
	remove_dir();
}

/* ---- refused files --------------------------------------------------------- */

/* A copy of `src` with `width` bytes of `val` at `off` (from the PC
 * section's start if in_pc, else from the file's), metadata resealed: it
 * must fail to load with `want`. */
static void patch_case(const char *src, bool in_pc, size_t off, uint64_t val, unsigned width, const char *want)
{
	size_t len;
	uint8_t *f = read_whole(src, &len);
	size_t at = (in_pc ? hdr(f)->pc_offset : 0) + off;
	cr_assert_leq(at + width, hdr(f)->data_offset);
	memcpy(f + at, &val, width);
	reseal(f, len);
	const char *dst = path_in("patched.snap");
	write_whole(dst, f, len);
	free(f);
	char what[160];
	snprintf(what, sizeof(what), "%s: %u bytes of %#llx at %s+%zu", src, width, (unsigned long long)val,
	         in_pc ? "PC section" : "file", off);
	expect_fail(dst, want, what);
}

Test(snapshot_file_pc, bad_pc_values_are_refused_with_their_own_message)
{
	make_files();
	const char *root = path_in("root.snap");
	const struct { size_t off; uint64_t val; unsigned width; const char *want; } cases[] = {
		{ PCO_MASTER, 1, 4, "interrupt controller ids 1/1/2, want 0/1/2" },
		{ PCO_IOAPIC, 0, 4, "interrupt controller ids 0/1/0" },
		{ PCO_SLAVE + 4, 1, 4, "nonzero padding in interrupt controller 1" },
		{ PCO_MASTER + CHIP + sizeof(struct kvm_pic_state), 1, 1, "nonzero padding in interrupt controller 0" },
		{ PCO_IOAPIC + CHIP + sizeof(struct kvm_ioapic_state) + 100, 1, 1,
		  "nonzero padding in interrupt controller 2" },
		{ PCO_MASTER + PIC(poll), 2, 1, "master PIC poll is 2, must be 0 or 1" },
		{ PCO_SLAVE + PIC(read_reg_select), 2, 1, "slave PIC read_reg_select is 2" },
		{ PCO_MASTER + PIC(special_mask), 3, 1, "master PIC special_mask is 3" },
		{ PCO_SLAVE + PIC(auto_eoi), 2, 1, "slave PIC auto_eoi is 2" },
		{ PCO_SLAVE + PIC(rotate_on_auto_eoi), 4, 1, "slave PIC rotate_on_auto_eoi is 4" },
		{ PCO_MASTER + PIC(special_fully_nested_mode), 2, 1, "master PIC special_fully_nested_mode is 2" },
		{ PCO_MASTER + PIC(init4), 0xff, 1, "master PIC init4 is 255" },
		{ PCO_SLAVE + PIC(init_state), 4, 1, "slave PIC init_state is 4 (0..3)" },
		{ PCO_MASTER + PIC(priority_add), 8, 1, "master PIC priority_add is 8 (0..7)" },
		{ PCO_MASTER + PIC(irq_base), 0x21, 1, "master PIC irq_base 0x21 is not a multiple of 8" },
		{ PCO_SLAVE + PIC(elcr), 0x0d, 1, "slave PIC elcr 0xd has bits outside elcr_mask 0xde" },
		{ IOA(base_address), 0xfed00000, 8, "IOAPIC base address 0xfed00000" },
		{ IOA(ioregsel), 0x100, 4, "IOAPIC ioregsel 0x100 (0..0xff)" },
		{ IOA(id), 16, 4, "IOAPIC id 16 (0..15)" },
		{ IOA(irr), 1u << 24, 4, "IOAPIC irr 0x1000000 has bits above its 24 pins" },
		{ IOA(pad), 1, 4, "IOAPIC pad is 0x1, must be 0" },
		{ PIT(0, count), 0, 4, "PIT channel 0 count 0 (1..65536)" },
		{ PIT(1, count), 0x10001, 4, "PIT channel 1 count 65537" },
		{ PIT(2, mode), 6, 1, "PIT channel 2 mode 6 (0..5, or 255 before programming)" },
		{ PIT(0, mode), 0xfe, 1, "PIT channel 0 mode 254" },
		{ PIT(1, rw_mode), 4, 1, "PIT channel 1 rw_mode 4 (0..3)" },
		{ PIT(0, count_latched), 4, 1, "PIT channel 0 count_latched 4 (0..3)" },
		{ PIT(2, read_state), 5, 1, "PIT channel 2 read_state 5 (0..4)" },
		{ PIT(0, write_state), 5, 1, "PIT channel 0 write_state 5 (0..4)" },
		{ PIT(0, status_latched), 2, 1, "PIT channel 0 status_latched is 2, must be 0 or 1" },
		{ PIT(2, bcd), 2, 1, "PIT channel 2 bcd is 2" },
		{ PIT(1, gate), 2, 1, "PIT channel 1 gate is 2" },
		{ PCO_PIT + 72, 4, 4, "PIT flags 0x4 (known: 0x3)" },
		{ PCO_PIT + 76 + 8 * 4, 1, 4, "PIT reserved words are not zero" },
		{ PCO_COM1 + 12, 4097, 4, "COM1 receive count 4097 exceeds its 4096-byte buffer" },
		{ PCO_COM1 + 16 + 5, 'x', 1, "COM1 receive buffer has bytes after its 5 queued ones" },
		{ PCO_COM1 + 16 + 4095, 1, 1, "COM1 receive buffer has bytes after" },
		{ PCO_COM1 + 0, 0x1f, 1, "COM1 IER 0x1f has bits outside 0xf" },
		{ PCO_COM1 + 2, 0x2b, 1, "COM1 MCR 0x2b has bits outside 0x1f" },
		{ PCO_COM1 + 6, 0xc3, 1, "COM1 FCR 0xc3 has bits outside 0xc9" },
		{ PCO_COM1 + 7, 0x04, 1, "COM1 LSR error 0x4 has bits outside 0x2" },
		{ PCO_COM1 + 8, 0x19, 1, "COM1 MSR delta 0x19 has bits outside 0xf" },
		{ PCO_COM1 + 10, 2, 1, "COM1 thre_pending is 2, must be 0 or 1" },
		{ PCO_COM1 + 11, 1, 1, "COM1 pad is 0x1, must be 0" },
		{ PCO_POWER + 2, 2, 1, "i8042_out_full is 2, must be 0 or 1" },
		{ PCO_POWER + 4, 0x80, 1, "i8042_last_cmd is 128" },
		{ PCO_POWER + 3, 0x61, 1, "i8042 pending command 0x61 (0, 0x60 or 0xd1)" },
		{ PCO_POWER + 5, 0x81, 1, "ACPI sleep status 0x81 has bits other than WAK_STS" },
		{ PCO_RTC, 0x80, 1, "CMOS index 0x80 (0..0x7f)" },
		/* the layout table: another build's KVM structures */
		{ 0, 528, 4, "PC state layout mismatch" },
		{ 4, 17, 4, "kvm_pic_state is 17, this build has 16" },
		{ 8, 224, 4, "kvm_ioapic_state is 224" },
		{ 12, 120, 4, "kvm_pit_state2 is 120" },
		{ 16, 8192, 4, "the COM1 receive buffer is 8192" },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		patch_case(root, true, cases[i].off, cases[i].val, cases[i].width, cases[i].want);
		/* the messages all say which check refused the file */
		if (cases[i].off >= PCO_MASTER)
			patch_case(root, true, cases[i].off, cases[i].val, cases[i].width, "bad PC state in snapshot file");
	}
	/* A layer's own section is checked as the root's. */
	patch_case(path_in("layer.snap"), true, PCO_COM1 + 12, 5000, 4, "COM1 receive count 5000");
	remove_dir();
}

/* The header fields of the new section and vCPU parts. */
Test(snapshot_file_pc, bad_pc_section_header_fields_are_refused)
{
	make_files();
	const char *root = path_in("root.snap");
	size_t len;
	uint8_t *f = read_whole(root, &len);
	struct snapfile_header h = *hdr(f);
	free(f);
	const size_t pc_size = offsetof(struct snapfile_header, pc_size);
	const size_t pc_off = offsetof(struct snapfile_header, pc_offset);
	patch_case(root, false, pc_size, PC_SECTION + 1, 4, "PC state layout mismatch in snapshot file");
	patch_case(root, false, pc_size, PC_SECTION + 1, 4, "the section is 5812 bytes, this build's is 5811");
	patch_case(root, false, pc_size, 16, 4, "bad PC state section size 16");
	patch_case(root, false, pc_size, 2u << 20, 4, "bad PC state section size 2097152");
	patch_case(root, false, pc_off, h.pc_offset + 1, 8, "bad section layout");
	patch_case(root, false, pc_off, 0, 8, "PC state at 0");
	patch_case(path_in("stub.snap"), false, pc_off, h.pc_offset, 8, "bad section layout");
	patch_case(root, false, offsetof(struct snapfile_header, vcpu_part2) + 8, 2048, 4,
	           "vCPU state layout mismatch in snapshot file");
	patch_case(root, false, offsetof(struct snapfile_header, vcpu_part2) + 8, 2048, 4, "kvm_lapic_state is 2048");
	patch_case(root, false, offsetof(struct snapfile_header, vcpu_part2), 8, 4, "has_lapic is 8, this build has 4");
	patch_case(root, false, offsetof(struct snapfile_header, vcpu_part2) + 4, 8, 4, "tsc_khz is 8");
	patch_case(root, false, offsetof(struct snapfile_header, reserved), 1, 8, "nonzero reserved header field");
	/* A PC snapshot saved without its machine state: its vCPUs still have
	 * LAPICs (snapshot_save writes what it is given; the loader refuses). */
	struct synth x;
	fill_root(&x, true);
	x.m.pc = NULL;
	struct snapshot *s = root_of(&x.m);
	save_ok(s, path_in("nopc.snap"));
	snapshot_put(s);
	expect_fail(path_in("nopc.snap"), "vCPU 0 has LAPIC state but the file has no PC state section",
	            "PC section left out");
	remove_dir();
}

Test(snapshot_file_pc, bad_vcpu_lapic_fields_are_refused_with_their_own_message)
{
	make_files();
	const char *root = path_in("root.snap"), *stub = path_in("stub.snap");
	size_t len;
	uint8_t *f = read_whole(root, &len);
	uint32_t rec = hdr(f)->vcpu_record_size;
	free(f);
	const size_t v0 = 256 + 804 + rec - VCPU_TAIL, v1 = v0 + rec; /* has_lapic of vCPU 0, 1 */
	patch_case(root, false, v0, 2, 4, "bad vCPU state in snapshot file");
	patch_case(root, false, v0, 2, 4, "vCPU 0 has_lapic is 2, must be 0 or 1");
	patch_case(root, false, v1, 7, 4, "vCPU 1 has_lapic is 7, must be 0 or 1");
	patch_case(root, false, v1, 0, 4, "vCPU 1 has_lapic is 0, vCPU 0's is 1");
	patch_case(root, false, v0, 0, 4, "vCPU 0 of a PC snapshot has no LAPIC state");
	patch_case(root, false, v1 + 4, 0x80000000u, 4, "vCPU 1 TSC frequency 2147483648 kHz (max 2147483647)");
	patch_case(stub, false, v0, 1, 4, "vCPU 0 has LAPIC state but the file has no PC state section");
	patch_case(stub, false, v1 + 4, 1000, 4, "vCPU 1 of a guest-stub snapshot has a TSC frequency or LAPIC registers");
	patch_case(stub, false, v0 + 8 + 0x350, 0x700, 4, "vCPU 0 of a guest-stub snapshot has a TSC frequency or LAPIC");
	/* Both vCPUs of a PC file without LAPIC state. */
	f = read_whole(root, &len);
	memset(f + v0, 0, 4);
	memset(f + v1, 0, 4);
	reseal(f, len);
	write_whole(path_in("nolapic.snap"), f, len);
	free(f);
	expect_fail(path_in("nolapic.snap"), "vCPU 0 of a PC snapshot has no LAPIC state", "PC vCPUs without LAPICs");
	/* A TSC frequency of 0 (not saved) and the largest KVM can report load. */
	f = read_whole(root, &len);
	uint32_t khz[2] = { 0, 0x7fffffff };
	memcpy(f + v0 + 4, &khz[0], 4);
	memcpy(f + v1 + 4, &khz[1], 4);
	reseal(f, len);
	write_whole(path_in("khz.snap"), f, len);
	free(f);
	struct snapshot *s = load_ok(path_in("khz.snap"));
	cr_assert_eq(s->meta.vcpu[0].tsc_khz, 0);
	cr_assert_eq(s->meta.vcpu[1].tsc_khz, 0x7fffffff);
	snapshot_put(s);
	remove_dir();
}

Test(snapshot_file_pc, older_versions_are_refused_naming_both)
{
	make_files();
	for (uint32_t v = 1; v <= 2; v++) {
		char want[64];
		snprintf(want, sizeof(want), "unsupported snapshot file version %u in", v);
		patch_case(path_in("root.snap"), false, offsetof(struct snapfile_header, version), v, 4, want);
		patch_case(path_in("stub.snap"), false, offsetof(struct snapfile_header, version), v, 4,
		           "this build reads version 3 only (an older cowvm's file: take the snapshot again)");
		struct vmm_err err = { 0 };
		struct snapshot *s;
		cr_assert_eq(snapshot_load(path_in("patched.snap"), &s, &err), -ENOTSUP);
	}
	patch_case(path_in("root.snap"), false, offsetof(struct snapfile_header, version), 4, 4,
	           "unsupported snapshot file version 4 in");
	remove_dir();
}

/* A chain is all PC or all guest stub: a layer of the other kind is refused. */
Test(snapshot_file_pc, layer_of_another_kind_is_refused)
{
	make_dir();
	for (int pc_root = 0; pc_root < 2; pc_root++) {
		struct synth r, x;
		struct snapshot *root = make_root(&r, pc_root);
		struct snapshot *layer = make_layer(root, &x, !pc_root);
		save_ok(root, path_in("root.snap"));
		save_ok(layer, path_in("layer.snap"));
		expect_fail(path_in("layer.snap"),
		            pc_root ? "is a PC snapshot, layer" : "is a guest-stub snapshot, layer",
		            "layer of the other kind");
		snapshot_put(layer);
		snapshot_put(root);
	}
	remove_dir();
}

/* One bit of every byte of the PC section flipped, checksum resealed: the
 * file is refused by a PC-state check, or it loads and saves back to the
 * very bytes it was loaded from (nothing accepted is changed or lost). */
Test(snapshot_file_pc, every_pc_section_byte_changed_is_refused_or_kept)
{
	make_files();
	size_t len;
	uint8_t *orig = read_whole(path_in("root.snap"), &len);
	uint64_t pc = hdr(orig)->pc_offset;
	uint8_t *f = malloc(len);
	const char *t = path_in("flip.snap"), *back = path_in("back.snap");
	unsigned loaded = 0, refused = 0;
	for (size_t i = 0; i < PC_SECTION; i++) {
		memcpy(f, orig, len);
		f[pc + i] ^= (uint8_t)(1u << (i % 8));
		reseal(f, len);
		write_whole(t, f, len);
		int fds = count_fds();
		struct vmm_err err = { 0 };
		struct snapshot *s;
		int r = snapshot_load(t, &s, &err);
		if (r) {
			cr_assert_eq(r, -EINVAL, "byte %zu: %s", i, err.msg);
			cr_assert(strstr(err.msg, "bad PC state") || strstr(err.msg, "PC state layout mismatch"),
			          "byte %zu: %s", i, err.msg);
			cr_assert_null(s);
			refused++;
		} else {
			save_ok(s, back);
			snapshot_put(s);
			size_t bn;
			uint8_t *b = read_whole(back, &bn);
			cr_assert_eq(bn, len);
			cr_assert_eq(memcmp(b, f, len), 0, "byte %zu: changed by a round trip", i);
			free(b);
			loaded++;
		}
		cr_assert_eq(count_fds(), fds, "byte %zu: descriptors leaked", i);
	}
	fprintf(stderr, "PC section bytes flipped: %u load (and save back unchanged), %u refused\n", loaded, refused);
	cr_assert_gt(loaded, 250, "the registers without a range load");
	cr_assert_gt(refused, 4096, "the receive buffer past rx_count alone is 4091 bytes");
	free(f);
	free(orig);
	remove_dir();
}

/* ---- a real PC snapshot on KVM --------------------------------------------- */

/* The program: tests/vmm/pc_test_progs.h ("0Z\n" in the original, "NZ\n" in clone N). */
static const uint8_t prog_snapshot[] = { PC_PROG_SNAPSHOT_BYTES };

Test(snapshot_file_pc, real_pc_snapshot_through_a_file_clones_like_the_original)
{
	REQUIRE_KVM();
	make_dir();
	struct bz b;
	bz_default(&b);
	size_t len;
	uint8_t *img = bz_build(&b, &len);
	memset(img + bz_setup_bytes(&b), 0xf4, b.kernel_len);
	memcpy(img + bz_setup_bytes(&b) + 0x200, prog_snapshot, sizeof(prog_snapshot));
	struct console_buf con = { .len = 0 };
	struct vm_config cfg = { .mem_size = 64 * MiB, .nvcpus = 2, .timeout_ms = 20000, .snapshots = true,
	                         .console = console_capture, .console_ctx = &con, .kernel = img, .kernel_len = len };
	struct vmm_err e = { 0 };
	struct vm *vm;
	struct vm_result res;
	cr_assert_eq(vm_create(&cfg, &vm, &e), 0, "%s", e.msg);
	cr_assert_eq(vm_run(vm, &res, &e), 0, "%s", e.msg);
	cr_assert_eq(res.end, VM_END_SNAPSHOT, "end %d: %s", res.end, res.msg);
	struct snapshot *s;
	cr_assert_eq(snapshot_take(vm, &s, &e), 0, "%s", e.msg);
	vm_destroy(vm);
	free(img);
	cr_assert_not_null(s->meta.pc);
	/* What KVM and the devices really hold passes every check of the loader. */
	save_ok(s, path_in("pc.snap"));
	struct snapshot *l = load_ok(path_in("pc.snap"));
	assert_same_state(&s->meta, l);
	cr_assert_eq(l->meta.vcpu[1].has_lapic, 1);
	cr_assert_eq(l->meta.pc->pic_master.chip.pic.imr, 0xfb);
	cr_assert_eq(l->meta.pc->com1.scr, 0x5a);
	fprintf(stderr, "real PC snapshot: PIT channel modes %u/%u/%u, counts %u/%u/%u, vCPU 0 TSC %u kHz\n",
	        l->meta.pc->pit.channels[0].mode, l->meta.pc->pit.channels[1].mode,
	        l->meta.pc->pit.channels[2].mode, l->meta.pc->pit.channels[0].count,
	        l->meta.pc->pit.channels[1].count, l->meta.pc->pit.channels[2].count, l->meta.vcpu[0].tsc_khz);
	assert_same_pages(s, l);
	snapshot_put(s);

	/* A clone of the loaded snapshot runs on from the restored machine. */
	struct clone_opts o = { .console = console_capture, .console_ctx = &con, .timeout_ms = 20000 };
	struct vm *c;
	con.len = 0;
	cr_assert_eq(vm_clone(NULL, l, &o, &c, &e), 0, "%s", e.msg);
	cr_assert_not_null(c->pc, "a clone of a loaded PC snapshot is a PC");
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
	cr_assert_geq(KVM_IOCTL(c->vm_fd, KVM_GET_IRQCHIP, &chip, NULL), 0);
	cr_assert_eq(chip.chip.pic.imr, 0xfb, "the PIC mask from the file");
	cr_assert_eq(vm_run(c, &res, &e), 0, "%s", e.msg);
	cr_assert_eq(res.end, VM_END_POWEROFF, "end %d: %s", res.end, res.msg);
	cr_assert_eq(con.len, 3);
	cr_assert_eq(memcmp(con.data, "1Z\n", 3), 0, "clone printed '%.*s'", (int)con.len, con.data);
	vm_destroy(c);
	snapshot_put(l);
	remove_dir();
}
