/*
 * snapshot_file.c - saving and loading snapshots (snapshot_file.h; the byte
 * layout, checksums and validation order are in docs/snapshot-format.md).
 *
 * Save: collect the page runs (root: non-zero pages of the memfd's data
 * extents; layer: the captured bitmap), write header, workload, parent path,
 * vCPU records, the PC state section (PC guests) and run table, then the
 * pages straight from the snapshot's mapping, hashing as they go; fill in
 * both checksums last; fsync, rename.
 *
 * Load: header checks, metadata read and checksummed, every value checked
 * (the PC state's against the ranges KVM's and cowvm's device models keep
 * them in), pages read into a new memfd and checksummed, then the parent
 * chain loaded (recursively, bounded), then the snapshot built. Sizes from
 * the file drive no allocation before they are bounded by the limits and by
 * the real file length.
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
#include "pc_layout.h"
#include "pc_state.h"

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
static_assert(offsetof(struct snapfile_header, vcpu_part2) == 224, "header layout");
static_assert(offsetof(struct snapfile_header, pc_size) == 236, "header layout");
static_assert(offsetof(struct snapfile_header, pc_offset) == 240, "header layout");
static_assert(offsetof(struct snapfile_header, reserved) == 248, "header layout");
static_assert(sizeof(struct snapfile_run) == 16, "run is 16 bytes");

/* Workload section: name, nargs (u32), args (key, value) x WL_MAX_ARGS. */
#define WL_NAME_SIZE sizeof(((struct wl_request *)0)->name)
#define WL_ARGS_SIZE sizeof(((struct wl_request *)0)->args)
#define WORKLOAD_SIZE (WL_NAME_SIZE + 4 + WL_ARGS_SIZE)

#define MAX_PAGES (VM_MEM_MAX / PAGE)
/* The largest PC state section a file may name (another build's, with
 * larger KVM structures, is still read far enough to say which differs). */
#define PC_SIZE_MAX (1u << 20)
/* The largest metadata region a valid file can have: header, workload,
 * parent path, vCPU records, PC state, a run table of at most one run per
 * two pages (runs never touch: see below), page aligned. */
#define VCPU_RECORD_MAX (sizeof(struct vcpu_state) + 64)
#define META_MAX (((sizeof(struct snapfile_header) + WORKLOAD_SIZE + SNAPFILE_PATH_MAX + \
                    COWVM_MAX_VCPUS * VCPU_RECORD_MAX + PC_SIZE_MAX + (MAX_PAGES / 2 + 1) * 16) + \
                   PAGE - 1) & ~(PAGE - 1))

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
	part[SNAPFILE_VCPU_HAS_LAPIC] = sizeof(((struct vcpu_state *)0)->has_lapic);
	part[SNAPFILE_VCPU_TSC_KHZ] = sizeof(((struct vcpu_state *)0)->tsc_khz);
	part[SNAPFILE_VCPU_LAPIC] = sizeof(struct kvm_lapic_state);
}

static const char *const vcpu_part_name[SNAPFILE_VCPU_NPARTS] = {
	"kvm_regs", "kvm_sregs", "kvm_xsave", "kvm_xcrs", "kvm_vcpu_events", "kvm_debugregs",
	"kvm_mp_state", "kvm_msr_entry", "MSR slots", "has_lapic", "tsc_khz", "kvm_lapic_state",
};

#define VCPU_RECORD_SIZE                                                                       \
	(sizeof(struct kvm_regs) + sizeof(struct kvm_sregs) + sizeof(struct kvm_xsave) +     \
	 sizeof(struct kvm_xcrs) + sizeof(struct kvm_vcpu_events) +                          \
	 sizeof(struct kvm_debugregs) + sizeof(struct kvm_mp_state) + 8 +                    \
	 VCPU_STATE_MAX_MSRS * sizeof(struct kvm_msr_entry) + 8 + sizeof(struct kvm_lapic_state))
static_assert(VCPU_RECORD_SIZE <= VCPU_RECORD_MAX, "vCPU record bound");

/* Field by field: the record has no compiler padding whatever the struct has. */
#define VCPU_FIELDS(X)                                                                         \
	X(regs) X(sregs) X(xsave) X(xcrs) X(events) X(debugregs) X(mp_state) X(nmsrs) X(pad) \
	X(msrs) X(has_lapic) X(tsc_khz) X(lapic)

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

/* ---- the PC state section ----------------------------------------------- */

/* The section (docs/snapshot-format.md): the layout table (SNAPFILE_PC_NPARTS
 * u32 sizes), the master PIC, slave PIC and IOAPIC (struct kvm_irqchip
 * each), the PIT (struct kvm_pit_state2), COM1 (UART_FIELDS, rx_count, rx),
 * the power block (POWER_FIELDS, one byte each) and the CMOS index. KVM's
 * structures have no implicit padding (asserted below), so each is written
 * whole; cowvm's own are written field by field, and a field added to one
 * of them fails these assertions until the format (and its version) says
 * how it is stored. */
static_assert(sizeof(struct kvm_irqchip) == 8 + sizeof(((struct kvm_irqchip *)0)->chip), "kvm_irqchip padding");
static_assert(sizeof(struct kvm_pit_channel_state) == 24, "kvm_pit_channel_state padding");
static_assert(sizeof(struct kvm_pit_state2) == 3 * 24 + 4 + 9 * 4, "kvm_pit_state2 padding");
static_assert(sizeof(struct uart_16550_state) == 12 + 4 + UART_RX_RING, "uart_16550_state changed");
static_assert(sizeof(struct pc_power) == 6, "pc_power changed");
static_assert(sizeof(struct cmos_rtc) == 1, "cmos_rtc changed");

#define UART_FIELDS(X)                                                                          \
	X(ier) X(lcr) X(mcr) X(scr) X(dll) X(dlm) X(fcr) X(lsr_err) X(msr_delta) X(rbr)       \
	X(thre_pending) X(pad) X(rx_count) X(rx)
#define POWER_FIELDS(X)                                                                         \
	X(i8042_cmd_byte) X(i8042_out) X(i8042_out_full) X(i8042_pending) X(i8042_last_cmd)   \
	X(sleep_sts)
#define PC_LAYOUT_SIZE (SNAPFILE_PC_NPARTS * 4u)
#define PC_SECTION_SIZE                                                                         \
	(PC_LAYOUT_SIZE + 3 * sizeof(struct kvm_irqchip) + sizeof(struct kvm_pit_state2) +    \
	 sizeof(struct uart_16550_state) + sizeof(struct pc_power) + sizeof(struct cmos_rtc))
static_assert(PC_SECTION_SIZE <= PC_SIZE_MAX, "PC section bound");

static void pc_parts(uint32_t part[SNAPFILE_PC_NPARTS])
{
	part[SNAPFILE_PC_IRQCHIP] = sizeof(struct kvm_irqchip);
	part[SNAPFILE_PC_PIC] = sizeof(struct kvm_pic_state);
	part[SNAPFILE_PC_IOAPIC] = sizeof(struct kvm_ioapic_state);
	part[SNAPFILE_PC_PIT] = sizeof(struct kvm_pit_state2);
	part[SNAPFILE_PC_UART_RX] = UART_RX_RING;
}

static const char *const pc_part_name[SNAPFILE_PC_NPARTS] = {
	"kvm_irqchip", "kvm_pic_state", "kvm_ioapic_state", "kvm_pit_state2", "the COM1 receive buffer",
};

static uint8_t *pc_encode(uint8_t *p, const struct pc_state *s)
{
	uint32_t part[SNAPFILE_PC_NPARTS];
	pc_parts(part);
	memcpy(p, part, sizeof(part));
	p += sizeof(part);
#define PUT(v)                                 \
	memcpy(p, &(v), sizeof(v));            \
	p += sizeof(v);
	PUT(s->pic_master) PUT(s->pic_slave) PUT(s->ioapic) PUT(s->pit)
#define PUT_UART(f) PUT(s->com1.f)
	UART_FIELDS(PUT_UART)
#undef PUT_UART
#undef PUT
#define PUT_POWER(f) *p++ = (uint8_t)s->power.f;
	POWER_FIELDS(PUT_POWER)
#undef PUT_POWER
	*p++ = s->rtc.index;
	return p;
}

/* The ranges the PC devices keep their state in. A value outside them
 * cannot come from a saved machine: the file is refused before KVM or a
 * device model sees it (KVM_SET_IRQCHIP and KVM_SET_PIT2 take most fields
 * as they are).
 *  8259A PIC (KVM's arch/x86/kvm/i8259.c, the Intel 8259A data sheet):
 *   init_state is the ICW sequence (0 ready, 1-3 waiting for ICW2-ICW4);
 *   priority_add is a rotation 0-7 (OCW2); irq_base holds ICW2's T7-T3 (the
 *   low three bits are the IRQ number); the ELCR bits are those elcr_mask
 *   lets the guest set; the PIC_BOOLS are single bits of ICW1/ICW4/OCW2/OCW3. */
#define PIC_INIT_STATE_MAX 3
#define PIC_PRIORITY_MAX   7
#define PIC_IRQ_BASE_MASK  0xf8
#define PIC_BOOLS(X)                                                                            \
	X(read_reg_select) X(poll) X(special_mask) X(auto_eoi) X(rotate_on_auto_eoi)          \
	X(special_fully_nested_mode) X(init4)
/*  82093AA IOAPIC (its data sheet, 3.2; KVM's arch/x86/kvm/ioapic.c): the
 *   IOREGSEL register is 8 bits, the IOAPIC ID 4 bits (IOAPICID 27:24); the
 *   IRR has a bit per pin; KVM's IOAPIC sits at its fixed default base,
 *   PC_GPA_IOAPIC (pc_layout.h), where KVM_CREATE_IRQCHIP registered it. */
#define IOAPIC_REGSEL_MAX 0xff
#define IOAPIC_ID_MAX     0xf
/*  8254 PIT (Intel 8254 data sheet, Control Word Format; KVM's
 *   arch/x86/kvm/i8254.c): a count is 1..0x10000 (an initial count of 0
 *   means 0x10000, as KVM stores it); mode is M2-M0 0-5 (6 and 7 are stored
 *   as 2 and 3), or 0xff in a channel not programmed since reset; rw_mode is
 *   RW1-RW0 (0 before programming) and count_latched a copy of it; the
 *   read/write states are KVM's RW_STATE_LSB..RW_STATE_WORD1 (1-4, 0 before
 *   programming); KVM_GET_PIT2 zeroes the reserved words. */
#define PIT_COUNT_MAX    0x10000u
#define PIT_MODE_MAX     5
#define PIT_MODE_UNSET   0xff
#define PIT_RW_MODE_MAX  3
#define PIT_RW_STATE_MAX 4
#define PIT_FLAGS        (KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON)
#define PIT_BOOLS(X) X(status_latched) X(bcd) X(gate)
/*  16550 UART (uart_16550.h, the PC16550D data sheet): the bits each
 *   register has; cowvm's model latches only overrun in lsr_err. */
#define UART_FCR_BITS (UART_FCR_ENABLE | UART_FCR_DMA | UART_FCR_TRIG)
/*  Power block (pc_power.c): the i8042 commands that wait for a data byte
 *   are 0x60 (write command byte) and 0xd1 (write output port) (IBM PC/AT
 *   Technical Reference, 8042 section); the ACPI sleep status register has
 *   only WAK_STS (ACPI 6.4, 4.8.3.8). */
#define I8042_CMD_WRITE_CTR  0x60
#define I8042_CMD_WRITE_OUTP 0xd1
#define ACPI_WAK_STS         0x80
#define POWER_BOOLS(X) X(i8042_out_full, 2) X(i8042_last_cmd, 4) /* field, byte in POWER_FIELDS */

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

#define PC_BAD(fmt, ...) vmm_fail(e, -EINVAL, "bad PC state in snapshot file %s: " fmt, path, __VA_ARGS__)

static int check_pic(const struct kvm_pic_state *c, const char *name, const char *path, struct vmm_err *e)
{
#define PIC_BOOL(f)                                                                             \
	if (c->f > 1)                                                                          \
		return PC_BAD("%s PIC " #f " is %u, must be 0 or 1", name, c->f);
	PIC_BOOLS(PIC_BOOL)
#undef PIC_BOOL
	if (c->init_state > PIC_INIT_STATE_MAX)
		return PC_BAD("%s PIC init_state is %u (0..%d)", name, c->init_state, PIC_INIT_STATE_MAX);
	if (c->priority_add > PIC_PRIORITY_MAX)
		return PC_BAD("%s PIC priority_add is %u (0..%d)", name, c->priority_add, PIC_PRIORITY_MAX);
	if (c->irq_base & ~PIC_IRQ_BASE_MASK)
		return PC_BAD("%s PIC irq_base %#x is not a multiple of 8", name, c->irq_base);
	if (c->elcr & ~c->elcr_mask)
		return PC_BAD("%s PIC elcr %#x has bits outside elcr_mask %#x", name, c->elcr, c->elcr_mask);
	return 0;
}

static int check_ioapic(const struct kvm_ioapic_state *a, const char *path, struct vmm_err *e)
{
	if (a->base_address != PC_GPA_IOAPIC)
		return PC_BAD("IOAPIC base address %#llx, KVM's IOAPIC is at %#llx",
		              (unsigned long long)a->base_address, (unsigned long long)PC_GPA_IOAPIC);
	if (a->ioregsel > IOAPIC_REGSEL_MAX)
		return PC_BAD("IOAPIC ioregsel %#x (0..%#x)", a->ioregsel, IOAPIC_REGSEL_MAX);
	if (a->id > IOAPIC_ID_MAX)
		return PC_BAD("IOAPIC id %u (0..%d)", a->id, IOAPIC_ID_MAX);
	if (a->irr >> KVM_IOAPIC_NUM_PINS)
		return PC_BAD("IOAPIC irr %#x has bits above its %d pins", a->irr, KVM_IOAPIC_NUM_PINS);
	if (a->pad)
		return PC_BAD("IOAPIC pad is %#x, must be 0", a->pad);
	return 0;
}

static int check_pit(const struct kvm_pit_state2 *t, const char *path, struct vmm_err *e)
{
	for (unsigned i = 0; i < 3; i++) {
		const struct kvm_pit_channel_state *c = &t->channels[i];
		if (c->count < 1 || c->count > PIT_COUNT_MAX)
			return PC_BAD("PIT channel %u count %u (1..%u)", i, c->count, PIT_COUNT_MAX);
		if (c->mode > PIT_MODE_MAX && c->mode != PIT_MODE_UNSET)
			return PC_BAD("PIT channel %u mode %u (0..%d, or %d before programming)", i, c->mode,
			              PIT_MODE_MAX, PIT_MODE_UNSET);
		if (c->rw_mode > PIT_RW_MODE_MAX)
			return PC_BAD("PIT channel %u rw_mode %u (0..%d)", i, c->rw_mode, PIT_RW_MODE_MAX);
		if (c->count_latched > PIT_RW_MODE_MAX)
			return PC_BAD("PIT channel %u count_latched %u (0..%d)", i, c->count_latched,
			              PIT_RW_MODE_MAX);
		if (c->read_state > PIT_RW_STATE_MAX)
			return PC_BAD("PIT channel %u read_state %u (0..%d)", i, c->read_state, PIT_RW_STATE_MAX);
		if (c->write_state > PIT_RW_STATE_MAX)
			return PC_BAD("PIT channel %u write_state %u (0..%d)", i, c->write_state,
			              PIT_RW_STATE_MAX);
#define PIT_BOOL(f)                                                                             \
		if (c->f > 1)                                                                  \
			return PC_BAD("PIT channel %u " #f " is %u, must be 0 or 1", i, c->f);
		PIT_BOOLS(PIT_BOOL)
#undef PIT_BOOL
	}
	if (t->flags & ~PIT_FLAGS)
		return PC_BAD("PIT flags %#x (known: %#x)", t->flags, PIT_FLAGS);
	if (!all_zero(t->reserved, sizeof(t->reserved)))
		return PC_BAD("PIT reserved words are not zero (%#x...)", t->reserved[0]);
	return 0;
}

static int check_uart(const struct uart_16550_state *u, const char *path, struct vmm_err *e)
{
	if (u->rx_count > UART_RX_RING)
		return PC_BAD("COM1 receive count %u exceeds its %d-byte buffer", u->rx_count, UART_RX_RING);
	if (!all_zero(u->rx + u->rx_count, UART_RX_RING - u->rx_count))
		return PC_BAD("COM1 receive buffer has bytes after its %u queued ones", u->rx_count);
	const struct { const char *name; uint8_t v, bits; } reg[] = {
		{ "IER", u->ier, UART_IER_MASK }, { "MCR", u->mcr, UART_MCR_MASK },
		{ "FCR", u->fcr, UART_FCR_BITS }, { "LSR error", u->lsr_err, UART_LSR_OE },
		{ "MSR delta", u->msr_delta, UART_MSR_DELTA },
	};
	for (unsigned i = 0; i < sizeof(reg) / sizeof(reg[0]); i++)
		if (reg[i].v & ~reg[i].bits)
			return PC_BAD("COM1 %s %#x has bits outside %#x", reg[i].name, reg[i].v, reg[i].bits);
	if (u->thre_pending > 1)
		return PC_BAD("COM1 thre_pending is %u, must be 0 or 1", u->thre_pending);
	if (u->pad[0])
		return PC_BAD("COM1 pad is %#x, must be 0", u->pad[0]);
	return 0;
}

/* Decode the section at p (its layout table already checked) into s and
 * check every value. */
static int pc_decode_check(const uint8_t *p, struct pc_state *s, const char *path, struct vmm_err *e)
{
	memset(s, 0, sizeof(*s));
	p += PC_LAYOUT_SIZE;
	struct kvm_irqchip *chip[3] = { &s->pic_master, &s->pic_slave, &s->ioapic };
	for (int i = 0; i < 3; i++) {
		memcpy(chip[i], p, sizeof(*chip[i]));
		p += sizeof(*chip[i]);
	}
	if (s->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER || s->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
	    s->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		return PC_BAD("interrupt controller ids %u/%u/%u, want %d/%d/%d (master PIC, slave PIC, IOAPIC)",
		              s->pic_master.chip_id, s->pic_slave.chip_id, s->ioapic.chip_id,
		              KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC);
	/* Past the member KVM fills in, the union holds what cowvm zeroed. */
	const size_t used[3] = { sizeof(struct kvm_pic_state), sizeof(struct kvm_pic_state),
	                         sizeof(struct kvm_ioapic_state) };
	for (int i = 0; i < 3; i++)
		if (chip[i]->pad || !all_zero((const uint8_t *)&chip[i]->chip + used[i], sizeof(chip[i]->chip) - used[i]))
			return PC_BAD("nonzero padding in interrupt controller %d", i);
	int r = check_pic(&s->pic_master.chip.pic, "master", path, e);
	r = r ?: check_pic(&s->pic_slave.chip.pic, "slave", path, e);
	r = r ?: check_ioapic(&s->ioapic.chip.ioapic, path, e);
	if (r)
		return r;
	memcpy(&s->pit, p, sizeof(s->pit));
	p += sizeof(s->pit);
	r = check_pit(&s->pit, path, e);
	if (r)
		return r;
#define GET_UART(f)                                        \
	memcpy(&s->com1.f, p, sizeof(s->com1.f));          \
	p += sizeof(s->com1.f);
	UART_FIELDS(GET_UART)
#undef GET_UART
	r = check_uart(&s->com1, path, e);
	if (r)
		return r;
	/* One byte per field; the bools are checked as bytes, before they
	 * become bools. */
#define POWER_BOOL(f, at)                                                                       \
	if (p[at] > 1)                                                                         \
		return PC_BAD(#f " is %u, must be 0 or 1", p[at]);
	POWER_BOOLS(POWER_BOOL)
#undef POWER_BOOL
#define GET_POWER(f) s->power.f = *p++;
	POWER_FIELDS(GET_POWER)
#undef GET_POWER
	if (s->power.i8042_pending && s->power.i8042_pending != I8042_CMD_WRITE_CTR &&
	    s->power.i8042_pending != I8042_CMD_WRITE_OUTP)
		return PC_BAD("i8042 pending command %#x (0, %#x or %#x)", s->power.i8042_pending,
		              I8042_CMD_WRITE_CTR, I8042_CMD_WRITE_OUTP);
	if (s->power.sleep_sts & ~ACPI_WAK_STS)
		return PC_BAD("ACPI sleep status %#x has bits other than WAK_STS (%#x)", s->power.sleep_sts,
		              ACPI_WAK_STS);
	s->rtc.index = *p;
	if (s->rtc.index & ~CMOS_INDEX_MASK)
		return PC_BAD("CMOS index %#x (0..%#x)", s->rtc.index, CMOS_INDEX_MASK);
	return 0;
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
	uint32_t part[SNAPFILE_VCPU_NPARTS];
	vcpu_parts(part);
	for (int i = 0; i < SNAPFILE_VCPU_NPARTS; i++)
		*snapfile_vcpu_part(&h, i) = part[i];
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
	uint64_t pc_at = sizeof(h) + WORKLOAD_SIZE + h.parent_path_len + (uint64_t)m->nvcpus * VCPU_RECORD_SIZE;
	if (m->pc) {
		h.pc_size = PC_SECTION_SIZE;
		h.pc_offset = pc_at;
	}
	uint64_t meta_end = pc_at + h.pc_size + rs.n * sizeof(struct snapfile_run);
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
	if (m->pc)
		p = pc_encode(p, m->pc);
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
	struct pc_state *pc;      /* NULL without a PC state section */
};

static void lf_free(struct lf *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->memfd >= 0)
		close(f->memfd);
	free(f->meta);
	free(f->vcpu);
	free(f->pc);
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
		return BAD(-ENOTSUP, "unsupported snapshot file version %u in %s: this build reads version %d "
		           "only%s", h->version, f->path, SNAPFILE_VERSION,
		           h->version < SNAPFILE_VERSION ? " (an older cowvm's file: take the snapshot again)" : "");
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
	if (h->flags || h->reserved0 || h->reserved)
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
	for (int i = 0; i < SNAPFILE_VCPU_NPARTS; i++) {
		uint32_t have = *snapfile_vcpu_part(&f->h, i);
		if (have != part[i])
			return BAD(-EINVAL, "vCPU state layout mismatch in snapshot file %s: %s is %u, "
			           "this build has %u", path, vcpu_part_name[i], have, part[i]);
	}
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
	if (h->pc_size && (h->pc_size < PC_LAYOUT_SIZE || h->pc_size > PC_SIZE_MAX))
		return BAD(-EINVAL, "bad PC state section size %u in snapshot file %s (0, or %u..%u)",
		           h->pc_size, path, PC_LAYOUT_SIZE, PC_SIZE_MAX);
	/* All terms are bounded now: no overflow. */
	uint64_t pc_at = sizeof(*h) + WORKLOAD_SIZE + h->parent_path_len + (uint64_t)h->nvcpus * VCPU_RECORD_SIZE;
	uint64_t meta_end = pc_at + h->pc_size + h->nruns * sizeof(struct snapfile_run);
	if (h->pc_offset != (h->pc_size ? pc_at : 0))
		return BAD(-EINVAL, "bad section layout in snapshot file %s: PC state at %llu, the vCPU "
		           "records end at %llu", path, (unsigned long long)h->pc_offset,
		           (unsigned long long)pc_at);
	if (h->data_offset != align_up(meta_end, PAGE) ||
	    h->file_size - h->data_offset != h->npages * PAGE)
		return BAD(-EINVAL, "bad section layout in snapshot file %s: sections end at %llu, "
		           "page data at %llu, %llu pages in %llu bytes", path,
		           (unsigned long long)meta_end, (unsigned long long)h->data_offset,
		           (unsigned long long)h->npages, (unsigned long long)(h->file_size - h->data_offset));
	for (uint64_t i = meta_end; i < h->data_offset; i++)
		if (f->meta[i])
			return BAD(-EINVAL, "nonzero padding before the page data in snapshot file %s", path);
	if (h->pc_size) {
		uint32_t pcp[SNAPFILE_PC_NPARTS], have[SNAPFILE_PC_NPARTS];
		pc_parts(pcp);
		memcpy(have, f->meta + pc_at, sizeof(have));
		for (int i = 0; i < SNAPFILE_PC_NPARTS; i++)
			if (have[i] != pcp[i])
				return BAD(-EINVAL, "PC state layout mismatch in snapshot file %s: %s is %u, "
				           "this build has %u", path, pc_part_name[i], have[i], pcp[i]);
		if (h->pc_size != PC_SECTION_SIZE)
			return BAD(-EINVAL, "PC state layout mismatch in snapshot file %s: the section is %u "
			           "bytes, this build's is %zu", path, h->pc_size, PC_SECTION_SIZE);
	}

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
	/* A PC snapshot's vCPUs have KVM's LAPIC (and a TSC frequency), a
	 * guest-stub snapshot's have neither. */
	uint32_t pc = h->pc_size != 0;
	for (unsigned i = 0; i < h->nvcpus; i++) {
		const struct vcpu_state *v = &f->vcpu[i];
		p = vcpu_decode(p, &f->vcpu[i]);
		if (v->nmsrs > VCPU_STATE_MAX_MSRS)
			return BAD(-EINVAL, "bad vCPU state in snapshot file %s: vCPU %u has %u MSRs (max %d)",
			           path, i, v->nmsrs, VCPU_STATE_MAX_MSRS);
		if (v->has_lapic > 1)
			return BAD(-EINVAL, "bad vCPU state in snapshot file %s: vCPU %u has_lapic is %u, "
			           "must be 0 or 1", path, i, v->has_lapic);
		if (v->has_lapic != f->vcpu[0].has_lapic)
			return BAD(-EINVAL, "bad vCPU state in snapshot file %s: vCPU %u has_lapic is %u, "
			           "vCPU 0's is %u", path, i, v->has_lapic, f->vcpu[0].has_lapic);
		if (v->has_lapic != pc)
			return BAD(-EINVAL, pc ? "bad vCPU state in snapshot file %s: vCPU %u of a PC snapshot "
			                         "has no LAPIC state"
			                       : "bad vCPU state in snapshot file %s: vCPU %u has LAPIC state "
			                         "but the file has no PC state section", path, i);
		/* KVM_GET_TSC_KHZ returns the frequency as the ioctl's int result. */
		if (v->tsc_khz > INT32_MAX)
			return BAD(-EINVAL, "bad vCPU state in snapshot file %s: vCPU %u TSC frequency %u kHz "
			           "(max %d)", path, i, v->tsc_khz, INT32_MAX);
		if (!v->has_lapic && (v->tsc_khz || !all_zero(&v->lapic, sizeof(v->lapic))))
			return BAD(-EINVAL, "bad vCPU state in snapshot file %s: vCPU %u of a guest-stub "
			           "snapshot has a TSC frequency or LAPIC registers", path, i);
	}
	m->vcpu = f->vcpu;
	if (pc) {
		f->pc = malloc(sizeof(*f->pc));
		if (!f->pc)
			return BAD(-ENOMEM, "out of memory for the PC state");
		int r = pc_decode_check(p, f->pc, path, e);
		if (r)
			return r;
		p += h->pc_size;
	}
	m->pc = f->pc;
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
		if (!parent->meta.pc != !f.m.pc) { /* a chain is all PC or all guest stub */
			r = BAD(-EINVAL, "parent snapshot file %s is a %s snapshot, layer %s is a %s snapshot",
			        ppath, parent->meta.pc ? "PC" : "guest-stub", path, f.m.pc ? "PC" : "guest-stub");
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
