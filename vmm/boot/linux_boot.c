/*
 * linux_boot.c - the Linux x86 boot protocol, 64-bit entry (see
 * linux_boot.h). Facts from Documentation/arch/x86/boot.rst (setup header
 * fields, their protocol versions, "64-bit BOOT PROTOCOL") and
 * zero-page.rst (boot_params fields outside the header). Every size and
 * offset from the image is checked against the file with arithmetic that
 * cannot overflow; every guest range goes through gpa_ptr().
 */
#include "linux_boot.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "pc_layout.h"

#define MiB (1ull << 20)
#define PAGE 4096ull
#define MEM_GRANULE (2 * MiB)   /* mem_size must be a multiple of this (2 MiB pages) */

/* Protocol versions that introduced the fields the loader writes or reads
 * (boot.rst, header table "Proto" column). */
#define PROTO_HEAP_END_PTR  LB_PROTO(2, 1)
#define PROTO_CMD_LINE_PTR  LB_PROTO(2, 2)
#define PROTO_SUBARCH       LB_PROTO(2, 7)
#define PROTO_SETUP_DATA    LB_PROTO(2, 9)
#define PROTO_EXT_FIELDS    LB_PROTO(2, 12) /* ext_ramdisk_*, ext_cmd_line_ptr (2.12 history entry) */
#define PROTO_ACPI_RSDP     LB_PROTO(2, 14) /* boot_params.acpi_rsdp_addr read by kernels >= 2.14 */
#define PROTO_KERNEL_INFO   LB_PROTO(2, 15)

/* The setup header must reach the end of the last field its version
 * defines: handover_offset (2.11+) or kernel_info_offset (2.15+). */
#define HDR_END_2_11 (LB_OFF_SETUP_HEADER + offsetof(struct setup_header, kernel_info_offset))
#define HDR_END_2_15 (LB_OFF_SETUP_HEADER + sizeof(struct setup_header))

/* Room for the setup header in the zero page: from 0x1f1 to the next field
 * (edd_mbr_sig_buffer at 0x290). */
#define ZP_HDR_ROOM (offsetof(struct boot_params, edd_mbr_sig_buffer) - offsetof(struct boot_params, hdr))

_Static_assert(sizeof(struct boot_params) == 4096, "the zero page is one page");
_Static_assert(offsetof(struct boot_params, hdr) == LB_OFF_SETUP_HEADER, "setup header at 0x1f1");
_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x70, "zero-page.rst: acpi_rsdp_addr at 0x070");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "zero-page.rst: e820_table at 0x2d0");
/* The signed jump byte reaches at most 0x202 + 127: always inside the room. */
_Static_assert(LB_OFF_JUMP_REL + 127 - LB_OFF_SETUP_HEADER <= ZP_HDR_ROOM, "header room");

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static unsigned long long mib_up(uint64_t v) { return (unsigned long long)(v / MiB + (v % MiB != 0)); }

/* ---- parsing ------------------------------------------------------------- */

int linux_kernel_parse(const void *img, size_t len, struct linux_kernel *k, struct vmm_err *e)
{
	const uint8_t *b = img;
	memset(k, 0, sizeof(*k));
	if (!img || len < LB_OFF_VERSION + 2)
		return vmm_fail(e, -EINVAL, "kernel image of %zu bytes is too short for a setup header "
		                "(the header's version field ends at %#x)", img ? len : 0, LB_OFF_VERSION + 2);
	uint16_t flag = rd16(b + LB_OFF_BOOT_FLAG);
	if (flag != LB_BOOT_FLAG)
		return vmm_fail(e, -EINVAL, "not a Linux kernel: no 0xAA55 boot flag at %#x (found 0x%04x)",
		                LB_OFF_BOOT_FLAG, flag);
	if (rd32(b + LB_OFF_HEADER_MAGIC) != LB_HEADER_MAGIC)
		return vmm_fail(e, -EINVAL, "not a bzImage: no \"HdrS\" magic at %#x (a pre-2.00 kernel or not a kernel)",
		                LB_OFF_HEADER_MAGIC);
	uint16_t ver = rd16(b + LB_OFF_VERSION);
	if (ver < LB_PROTO_MIN)
		return vmm_fail(e, -EINVAL, "boot protocol %u.%02u is too old: cowvm needs boot protocol 2.12+ "
		                "for the 64-bit entry", ver >> 8, ver & 0xff);

	/* The header's end: 0x202 + the jump's signed offset (boot.rst, "jump"
	 * and "32-bit BOOT PROTOCOL"). */
	if (b[LB_OFF_JUMP] != LB_JUMP_OPCODE)
		return vmm_fail(e, -EINVAL, "no short jump (0xEB) at %#x (found 0x%02x): the setup header's length "
		                "is unknown", LB_OFF_JUMP, b[LB_OFF_JUMP]);
	int rel = (int8_t)b[LB_OFF_JUMP + 1];
	size_t hdr_end = (size_t)((int)LB_OFF_JUMP_REL + rel);
	size_t need_end = ver >= PROTO_KERNEL_INFO ? HDR_END_2_15 : HDR_END_2_11;
	if (hdr_end < need_end)
		return vmm_fail(e, -EINVAL, "setup header ends at %#zx (jump offset %d) but protocol %u.%02u "
		                "defines fields up to %#zx", hdr_end, rel, ver >> 8, ver & 0xff, need_end);
	if (hdr_end > len)
		return vmm_fail(e, -EINVAL, "truncated kernel image: the setup header ends at %#zx but the file has "
		                "%zu bytes (%zu bytes missing)", hdr_end, len, hdr_end - len);
	size_t hdr_len = hdr_end - LB_OFF_SETUP_HEADER;
	memcpy(&k->hdr, b + LB_OFF_SETUP_HEADER, hdr_len < sizeof(k->hdr) ? hdr_len : sizeof(k->hdr));
	const struct setup_header *h = &k->hdr;

	if (!(h->loadflags & LOADED_HIGH))
		return vmm_fail(e, -EINVAL, "not a bzImage: LOADED_HIGH is clear in loadflags (0x%02x); a zImage "
		                "loads at 0x10000", h->loadflags);
	if (!(h->xloadflags & XLF_KERNEL_64))
		return vmm_fail(e, -EINVAL, "32-bit-only kernel: xloadflags (0x%04x) lacks XLF_KERNEL_64, the 64-bit "
		                "entry at +0x200", h->xloadflags);

	unsigned sects = h->setup_sects ? h->setup_sects : LB_SETUP_SECTS_DEFAULT;
	size_t setup_bytes = (size_t)(sects + 1) * LB_SECTOR; /* <= 256 * 512: no overflow */
	if (setup_bytes > len)
		return vmm_fail(e, -EINVAL, "truncated kernel image: %u setup sectors + the boot sector end at %zu "
		                "bytes but the file has %zu (%zu bytes missing)", sects, setup_bytes, len,
		                setup_bytes - len);
	size_t kernel_len = len - setup_bytes;
	if (!kernel_len)
		return vmm_fail(e, -EINVAL, "kernel part empty: nothing follows the %u setup sectors (%zu bytes)",
		                sects, setup_bytes);
	uint64_t sys_bytes = (uint64_t)h->syssize * 16; /* 16-byte paragraphs; < 2^36 */
	if (sys_bytes > kernel_len)
		return vmm_fail(e, -EINVAL, "truncated kernel image: syssize says %llu bytes of protected-mode code "
		                "after the setup, the file has %zu (%llu bytes missing)",
		                (unsigned long long)sys_bytes, kernel_len,
		                (unsigned long long)(sys_bytes - kernel_len));

	if (!h->init_size)
		return vmm_fail(e, -EINVAL, "init_size is 0: the kernel does not say how much memory it needs");
	if (h->init_size < kernel_len)
		return vmm_fail(e, -EINVAL, "init_size %#x is absurd: smaller than the %zu-byte protected-mode kernel",
		                h->init_size, kernel_len);
	if (h->init_size > PC_MEM_MAX - PC_GPA_HIGH_RAM)
		return vmm_fail(e, -EINVAL, "init_size %#x (%llu MiB) is absurd: more than a cowvm guest's RAM above "
		                "1 MiB", h->init_size, mib_up(h->init_size));
	if (!h->kernel_alignment || (h->kernel_alignment & (h->kernel_alignment - 1)))
		return vmm_fail(e, -EINVAL, "kernel_alignment %#x is not a power of two", h->kernel_alignment);

	k->image = b;
	k->image_len = len;
	k->protocol = ver;
	k->hdr_len = hdr_len;
	k->kernel = b + setup_bytes;
	k->kernel_len = kernel_len;
	k->pref_address = h->pref_address ? h->pref_address : LB_BZIMAGE_LOAD_ADDR;
	k->kernel_alignment = h->kernel_alignment;
	k->init_size = h->init_size;
	k->initrd_addr_max = h->initrd_addr_max;
	uint64_t cmax = (uint64_t)h->cmdline_size + 1; /* cmdline_size excludes the NUL */
	k->cmdline_max = (size_t)(cmax < PC_CMDLINE_MAX ? cmax : PC_CMDLINE_MAX);
	k->relocatable = h->relocatable_kernel != 0;
	return 0;
}

/* ---- placement ----------------------------------------------------------- */

/* [a, a + n) lies inside [lo, mem_size), without overflow. */
static int fits(uint64_t a, uint64_t n, uint64_t lo, uint64_t mem_size)
{
	return a >= lo && a <= mem_size && n <= mem_size - a;
}

int linux_boot_plan(const struct linux_kernel *k, uint64_t mem_size, size_t cmdline_len,
                    uint64_t initrd_size, struct linux_boot_plan *p, struct vmm_err *e)
{
	memset(p, 0, sizeof(*p));
	if (!mem_size || mem_size % MEM_GRANULE)
		return vmm_fail(e, -EINVAL, "memory size %#llx is not a positive multiple of 2 MiB",
		                (unsigned long long)mem_size);
	if (mem_size > PC_MEM_MAX)
		return vmm_fail(e, -EINVAL, "memory size of %llu MiB is above cowvm's limit of %llu MiB for a Linux "
		                "guest (RAM ends below the 32-bit MMIO hole)", mib_up(mem_size), mib_up(PC_MEM_MAX));
	if (!k->kernel_alignment || (k->kernel_alignment & (k->kernel_alignment - 1)))
		return vmm_fail(e, -EINVAL, "kernel_alignment %#llx is not a power of two",
		                (unsigned long long)k->kernel_alignment);

	/* The kernel: [gpa, gpa + init_size) must be RAM above 1 MiB. A
	 * relocatable kernel runs at align_up(load address, kernel_alignment)
	 * (boot.rst, init_size), so it only takes pref_address if aligned. */
	uint64_t pref = k->pref_address, gpa;
	int pref_ok = fits(pref, k->init_size, PC_GPA_HIGH_RAM, mem_size) &&
	              (!k->relocatable || pref % k->kernel_alignment == 0);
	if (pref_ok) {
		gpa = pref;
	} else if (k->relocatable) {
		uint64_t a = k->kernel_alignment; /* <= 2^63: a power of two in a u64 */
		if (a > mem_size)
			return vmm_fail(e, -EINVAL, "kernel_alignment %#llx: no aligned address above 1 MiB in %llu MiB "
			                "of RAM", (unsigned long long)a, mib_up(mem_size));
		gpa = (PC_GPA_HIGH_RAM + a - 1) & ~(a - 1);
		if (!fits(gpa, k->init_size, PC_GPA_HIGH_RAM, mem_size))
			return vmm_fail(e, -EINVAL, "kernel does not fit: it needs %llu MiB (init_size %#llx) from %#llx "
			                "but RAM ends at %#llx (%llu MiB)", mib_up(k->init_size),
			                (unsigned long long)k->init_size, (unsigned long long)gpa,
			                (unsigned long long)mem_size, mib_up(mem_size));
	} else {
		return vmm_fail(e, -EINVAL, "kernel is not relocatable and its load address does not fit: it needs "
		                "[%#llx, +%#llx) (init_size) above 1 MiB in %llu MiB of RAM",
		                (unsigned long long)pref, (unsigned long long)k->init_size, mib_up(mem_size));
	}
	p->mem_size = mem_size;
	p->kernel_gpa = gpa;
	p->kernel_end = gpa + k->init_size;
	p->entry64 = gpa + LB_ENTRY64_OFFSET;

	/* The initrd: page-aligned, as high as possible, below the kernel's
	 * limit (initrd_addr_max is the last byte it may use) and the end of
	 * RAM, above everything the kernel needs while it starts. */
	if (initrd_size) {
		uint64_t top = k->initrd_addr_max + 1 < mem_size ? k->initrd_addr_max + 1 : mem_size;
		uint64_t at = initrd_size <= top ? (top - initrd_size) & ~(PAGE - 1) : 0;
		if (initrd_size > top || at < p->kernel_end)
			return vmm_fail(e, -EINVAL, "initrd of %llu MiB (%llu bytes) does not fit between the kernel's end "
			                "%#llx and %#llx (the lower of initrd_addr_max + 1 and the end of RAM)",
			                mib_up(initrd_size), (unsigned long long)initrd_size,
			                (unsigned long long)p->kernel_end, (unsigned long long)top);
		p->initrd_gpa = at;
		p->initrd_size = initrd_size;
	}

	/* The command line: at PC_GPA_CMDLINE, NUL-terminated, within the
	 * kernel's cmdline_size (boot.rst "The Kernel Command Line"). */
	if (k->cmdline_max < PC_CMDLINE_MAX && cmdline_len >= k->cmdline_max)
		return vmm_fail(e, -EINVAL, "command line of %zu bytes exceeds the kernel's limit of %zu",
		                cmdline_len, k->cmdline_max ? k->cmdline_max - 1 : 0);
	if (cmdline_len >= PC_CMDLINE_MAX)
		return vmm_fail(e, -EINVAL, "command line of %zu bytes exceeds cowvm's limit of %llu",
		                cmdline_len, PC_CMDLINE_MAX - 1);
	p->cmdline_gpa = PC_GPA_CMDLINE;
	p->cmdline_size = (uint64_t)cmdline_len + 1;
	p->zero_page_gpa = PC_GPA_ZERO_PAGE;
	return 0;
}

/* ---- e820 ---------------------------------------------------------------- */

/*
 * [PC_GPA_ACPI, PC_GPA_BIOS_END) holds the RSDP and the ACPI tables and
 * nothing else. It is typed AddressRangeACPI (3), not reserved and not NVS:
 * ACPI §15 gives type 3 to memory that holds the ACPI tables and that the
 * OS may take back once it has read them, which is what these static tables
 * are; NVS (4) is firmware storage that must survive sleep states, and
 * nothing here is written at runtime (the sleep/reset registers are ports
 * 0x600-0x602), so NVS would only make Linux save and restore the range
 * on hibernation. Linux keeps type-3 ranges out of its page allocator
 * (and reserves the first MiB anyway), so the tables stay intact.
 */
unsigned linux_e820(uint64_t mem_size, struct boot_e820_entry *map, unsigned max)
{
	struct boot_e820_entry all[LB_E820_ENTRIES];
	unsigned n = 0;
	uint64_t low_end = mem_size < PC_GPA_EBDA ? mem_size : PC_GPA_EBDA;
	if (low_end)
		all[n++] = (struct boot_e820_entry){ 0, low_end, LB_E820_RAM };
	all[n++] = (struct boot_e820_entry){ PC_GPA_EBDA, PC_GPA_ISA_HOLE - PC_GPA_EBDA, LB_E820_RESERVED };
	/* ACPI tables: reclaimable once read; the BIOS area above (where the
	 * reset vector's stub is) stays reserved for good. */
	all[n++] = (struct boot_e820_entry){ PC_GPA_ACPI, PC_ACPI_MAX, LB_E820_ACPI };
	all[n++] = (struct boot_e820_entry){ PC_GPA_ACPI + PC_ACPI_MAX, PC_GPA_BIOS_END - PC_GPA_ACPI - PC_ACPI_MAX,
	                                     LB_E820_RESERVED };
	if (mem_size > PC_GPA_HIGH_RAM)
		all[n++] = (struct boot_e820_entry){ PC_GPA_HIGH_RAM, mem_size - PC_GPA_HIGH_RAM, LB_E820_RAM };
	if (n > max)
		n = max;
	if (n)
		memcpy(map, all, n * sizeof(*map));
	return n;
}

/* ---- the zero page ------------------------------------------------------- */

static uint32_t lo32(uint64_t v) { return (uint32_t)v; }
static uint32_t hi32(uint64_t v) { return (uint32_t)(v >> 32); }

int linux_zero_page(const struct linux_kernel *k, const struct linux_boot_plan *p, struct boot_params *bp,
                    struct vmm_err *e)
{
	if (!k->image || k->image_len < LB_OFF_SETUP_HEADER || k->hdr_len > ZP_HDR_ROOM ||
	    k->hdr_len > k->image_len - LB_OFF_SETUP_HEADER)
		return vmm_fail(e, -EINVAL, "setup header of %zu bytes does not fit the zero page (%zu bytes of room)",
		                k->hdr_len, (size_t)ZP_HDR_ROOM);
	/* Addresses the 32-bit fields take only with their ext_ halves, which
	 * only exist from 2.12, or above 4 GiB only with
	 * XLF_CAN_BE_LOADED_ABOVE_4G. */
	int above4g_ok = k->protocol >= PROTO_EXT_FIELDS && (k->hdr.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G);
	if (p->kernel_gpa > UINT32_MAX)
		return vmm_fail(e, -EINVAL, "kernel at %#llx: code32_start is a 32-bit field",
		                (unsigned long long)p->kernel_gpa);
	if (!above4g_ok && (hi32(p->cmdline_gpa) || hi32(p->initrd_gpa) || hi32(p->initrd_size) ||
	                    hi32(p->initrd_gpa + p->initrd_size - (p->initrd_size != 0))))
		return vmm_fail(e, -EINVAL, "command line or initrd above 4 GiB but the kernel lacks "
		                "XLF_CAN_BE_LOADED_ABOVE_4G");

	memset(bp, 0, sizeof(*bp));
	memcpy(&bp->hdr, k->image + LB_OFF_SETUP_HEADER, k->hdr_len);
	struct setup_header *h = &bp->hdr;
	uint16_t v = k->protocol;

	/* Fields of every 2.00+ header (boot.rst, "Details of Header Fields"). */
	h->type_of_loader = LB_LOADER_UNDEFINED;
	h->vid_mode = LB_VID_MODE_NORMAL;
	h->code32_start = lo32(p->kernel_gpa);
	h->ramdisk_image = lo32(p->initrd_gpa);
	h->ramdisk_size = lo32(p->initrd_size);
	if (v >= PROTO_HEAP_END_PTR) {
		h->heap_end_ptr = LB_HEAP_END_PTR;
		h->loadflags |= CAN_USE_HEAP;
	}
	if (v >= PROTO_CMD_LINE_PTR)
		h->cmd_line_ptr = lo32(p->cmdline_gpa);
	if (v >= PROTO_SUBARCH) {
		h->hardware_subarch = X86_SUBARCH_PC;
		h->hardware_subarch_data = 0;
	}
	if (v >= PROTO_SETUP_DATA)
		h->setup_data = 0; /* no struct setup_data list */
	if (v >= PROTO_EXT_FIELDS) {
		bp->ext_ramdisk_image = hi32(p->initrd_gpa);
		bp->ext_ramdisk_size = hi32(p->initrd_size);
		bp->ext_cmd_line_ptr = hi32(p->cmdline_gpa);
	}
	if (v >= PROTO_ACPI_RSDP)
		bp->acpi_rsdp_addr = PC_GPA_ACPI;
	bp->e820_entries = (uint8_t)linux_e820(p->mem_size, bp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);
	return 0;
}

/* ---- loading ------------------------------------------------------------- */

int linux_boot_load(struct guest_mem *mem, const struct linux_kernel *k, const char *cmdline,
                    const void *initrd, size_t initrd_len, struct linux_boot_plan *out, struct vmm_err *e)
{
	if (!cmdline)
		cmdline = "";
	if (initrd_len && !initrd)
		return vmm_fail(e, -EINVAL, "initrd of %zu bytes without data", initrd_len);
	size_t cmdline_len = strlen(cmdline);
	struct linux_boot_plan p;
	int r = linux_boot_plan(k, mem->size, cmdline_len, initrd_len, &p, e);
	if (r)
		return r;
	if (k->kernel_len > k->init_size)
		return vmm_fail(e, -EINVAL, "kernel of %zu bytes is larger than its init_size %#llx", k->kernel_len,
		                (unsigned long long)k->init_size);
	struct boot_params bp;
	r = linux_zero_page(k, &p, &bp, e);
	if (r)
		return r;

	/* Every destination first, then the copies: nothing is written unless
	 * all of it fits. */
	uint8_t *kdst = gpa_ptr(mem, p.kernel_gpa, p.kernel_end - p.kernel_gpa);
	uint8_t *idst = gpa_ptr(mem, p.initrd_gpa, p.initrd_size);
	uint8_t *cdst = gpa_ptr(mem, p.cmdline_gpa, p.cmdline_size);
	uint8_t *zdst = gpa_ptr(mem, p.zero_page_gpa, sizeof(bp));
	if (!kdst || !idst || !cdst || !zdst)
		return vmm_fail(e, -EINVAL, "boot plan outside the %llu MiB of guest RAM", mib_up(mem->size));
	memcpy(kdst, k->kernel, k->kernel_len);
	if (p.initrd_size)
		memcpy(idst, initrd, p.initrd_size);
	memcpy(cdst, cmdline, cmdline_len + 1);
	memcpy(zdst, &bp, sizeof(bp));
	if (out)
		*out = p;
	return 0;
}
