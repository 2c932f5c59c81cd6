/*
 * fuzz_linux_kernel.c - fuzz harness for the Linux boot protocol code
 * (vmm/boot/linux_boot.c): linux_kernel_parse(), linux_boot_plan(),
 * linux_zero_page() and linux_boot_load().
 *
 * Input: a 14-byte prefix, then the bzImage bytes (copied to an exact-size
 * buffer, so a read past the image is an ASan report):
 *   [0..1]  u16 memory selector: ((sel & 0x7ff) + 1) * 2 MiB (2 MiB..4 GiB,
 *           above PC_MEM_MAX is refused), + 4 KiB if bit 11 (not a 2 MiB
 *           multiple), 0 if bit 12
 *   [2..5]  u32 command-line length
 *   [6..13] u64 initrd size
 *
 * Properties: on failure -EINVAL with a message. A parsed kernel lies
 * inside the image and satisfies every documented bound. A plan keeps
 * kernel and initrd in RAM above 1 MiB, disjoint, the initrd page-aligned
 * below initrd_addr_max; command line and zero page in their low-memory
 * slots, disjoint from each other, the GDT and the page tables. The zero
 * page succeeds for every plan and holds exactly the planned values. When
 * the initrd and command line are small, linux_boot_load() copies exactly
 * the kernel, initrd, command line and that zero page into a guest of
 * mem_size bytes (a lazily populated mapping, emptied after each run).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "fuzz_common.h"
#include "linux_boot.h"
#include "pc_layout.h"

#define MiB (1ull << 20)
#define PAGE 4096ull
#define PREFIX 14
#define LOAD_INITRD_MAX (1 * MiB)   /* load only small initrds ... */
#define LOAD_CMDLINE_MAX (64 * 1024) /* ... and command lines */

static uint8_t *ram;                /* PC_MEM_MAX bytes, MAP_NORESERVE */
static uint8_t initrd_buf[LOAD_INITRD_MAX];
static char cmdline_buf[LOAD_CMDLINE_MAX + 1];

static uint64_t rd(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* [a, a + an) and [b, b + bn) are disjoint (no wrap: callers checked). */
static int disjoint(uint64_t a, uint64_t an, uint64_t b, uint64_t bn)
{
	return a + an <= b || b + bn <= a;
}

static void check_kernel(const struct linux_kernel *k, const uint8_t *img, size_t size)
{
	FUZZ_CHECK(k->image == img && k->image_len == size, "image pointer");
	FUZZ_CHECK(k->kernel > img && k->kernel_len > 0 && k->kernel + k->kernel_len == img + size,
	           "kernel [%zd, +%zu) not the tail of the %zu-byte image", k->kernel - img, k->kernel_len, size);
	FUZZ_CHECK((size_t)(k->kernel - img) % LB_SECTOR == 0 && (size_t)(k->kernel - img) >= 2 * LB_SECTOR,
	           "kernel offset %zd", k->kernel - img);
	FUZZ_CHECK(k->hdr_len >= 0x268 - LB_OFF_SETUP_HEADER && k->hdr_len <= 0x281 - LB_OFF_SETUP_HEADER &&
	           LB_OFF_SETUP_HEADER + k->hdr_len <= size, "hdr_len %zu", k->hdr_len);
	FUZZ_CHECK(k->protocol >= LB_PROTO_MIN && k->protocol == k->hdr.version, "protocol %#x", k->protocol);
	FUZZ_CHECK((k->hdr.loadflags & LOADED_HIGH) && (k->hdr.xloadflags & XLF_KERNEL_64), "flags");
	FUZZ_CHECK(k->kernel_alignment && !(k->kernel_alignment & (k->kernel_alignment - 1)), "alignment %#llx",
	           (unsigned long long)k->kernel_alignment);
	FUZZ_CHECK(k->init_size >= k->kernel_len && k->init_size <= PC_MEM_MAX - PC_GPA_HIGH_RAM, "init_size %#llx",
	           (unsigned long long)k->init_size);
	FUZZ_CHECK((uint64_t)k->hdr.syssize * 16 <= k->kernel_len, "syssize");
	FUZZ_CHECK(k->cmdline_max >= 1 && k->cmdline_max <= PC_CMDLINE_MAX, "cmdline_max %zu", k->cmdline_max);
	FUZZ_CHECK(k->pref_address == (k->hdr.pref_address ? k->hdr.pref_address : LB_BZIMAGE_LOAD_ADDR), "pref");
	FUZZ_CHECK(!memcmp(&k->hdr, img + LB_OFF_SETUP_HEADER,
	                   k->hdr_len < sizeof(k->hdr) ? k->hdr_len : sizeof(k->hdr)), "hdr copy");
}

static void check_plan(const struct linux_kernel *k, const struct linux_boot_plan *p, uint64_t mem,
                       uint64_t cmdline_len, uint64_t initrd_size)
{
	FUZZ_CHECK(p->mem_size == mem && mem && mem % (2 * MiB) == 0 && mem <= PC_MEM_MAX, "mem %#llx",
	           (unsigned long long)mem);
	/* kernel: RAM above 1 MiB, init_size long, where the kernel will run */
	FUZZ_CHECK(p->kernel_gpa >= PC_GPA_HIGH_RAM && p->kernel_end == p->kernel_gpa + k->init_size &&
	           p->kernel_end <= mem, "kernel [%#llx, %#llx) in %#llx", (unsigned long long)p->kernel_gpa,
	           (unsigned long long)p->kernel_end, (unsigned long long)mem);
	FUZZ_CHECK(p->entry64 == p->kernel_gpa + 0x200, "entry64");
	if (k->relocatable)
		FUZZ_CHECK(p->kernel_gpa % k->kernel_alignment == 0, "kernel at %#llx misaligned",
		           (unsigned long long)p->kernel_gpa);
	else
		FUZZ_CHECK(p->kernel_gpa == k->pref_address, "non-relocatable kernel moved");
	/* initrd: above the kernel, page-aligned, below the limits */
	FUZZ_CHECK(p->initrd_size == initrd_size, "initrd size");
	if (!initrd_size) {
		FUZZ_CHECK(p->initrd_gpa == 0, "initrd without size");
	} else {
		FUZZ_CHECK(p->initrd_gpa % PAGE == 0 && p->initrd_gpa >= p->kernel_end && p->initrd_gpa <= mem &&
		           initrd_size <= mem - p->initrd_gpa, "initrd [%#llx, +%#llx)",
		           (unsigned long long)p->initrd_gpa, (unsigned long long)initrd_size);
		FUZZ_CHECK(p->initrd_gpa + initrd_size - 1 <= k->initrd_addr_max, "initrd above initrd_addr_max");
		FUZZ_CHECK(disjoint(p->kernel_gpa, k->init_size, p->initrd_gpa, initrd_size), "kernel/initrd overlap");
		/* as high as possible: one more page up would cross a limit */
		uint64_t top = k->initrd_addr_max + 1 < mem ? k->initrd_addr_max + 1 : mem;
		FUZZ_CHECK(p->initrd_gpa + PAGE + initrd_size > top, "initrd not as high as possible");
	}
	/* command line and zero page: fixed low-memory slots */
	FUZZ_CHECK(p->cmdline_gpa == PC_GPA_CMDLINE && p->cmdline_size == cmdline_len + 1 &&
	           p->cmdline_size <= k->cmdline_max && p->cmdline_size <= PC_CMDLINE_MAX &&
	           PC_GPA_CMDLINE + p->cmdline_size <= PC_GPA_EBDA, "cmdline +%#llx",
	           (unsigned long long)p->cmdline_size);
	FUZZ_CHECK(p->zero_page_gpa == PC_GPA_ZERO_PAGE, "zero page");
	FUZZ_CHECK(disjoint(p->zero_page_gpa, PAGE, p->cmdline_gpa, p->cmdline_size) &&
	           disjoint(p->zero_page_gpa, PAGE, PC_GPA_GDT, PAGE) &&
	           disjoint(p->zero_page_gpa, PAGE, PC_GPA_PGTABLES, PC_PGTABLES_END - PC_GPA_PGTABLES) &&
	           disjoint(p->cmdline_gpa, p->cmdline_size, PC_GPA_PGTABLES, PC_PGTABLES_END - PC_GPA_PGTABLES) &&
	           disjoint(p->cmdline_gpa, p->cmdline_size, PC_GPA_GDT, PAGE), "low boot area overlap");
}

static void check_zero_page(const struct linux_kernel *k, const struct linux_boot_plan *p,
                            const struct boot_params *bp)
{
	const uint8_t *raw = (const uint8_t *)bp;
	FUZZ_CHECK(bp->hdr.type_of_loader == 0xff && (bp->hdr.loadflags & CAN_USE_HEAP) &&
	           (bp->hdr.loadflags & ~CAN_USE_HEAP) == (k->hdr.loadflags & ~CAN_USE_HEAP), "loader fields");
	FUZZ_CHECK(bp->hdr.heap_end_ptr == LB_HEAP_END_PTR && bp->hdr.vid_mode == 0xffff, "heap/vid_mode");
	FUZZ_CHECK(bp->hdr.cmd_line_ptr == p->cmdline_gpa && !bp->ext_cmd_line_ptr, "cmd_line_ptr");
	FUZZ_CHECK(bp->hdr.ramdisk_image == p->initrd_gpa && bp->hdr.ramdisk_size == p->initrd_size &&
	           !bp->ext_ramdisk_image && !bp->ext_ramdisk_size, "ramdisk");
	FUZZ_CHECK(bp->hdr.code32_start == p->kernel_gpa, "code32_start");
	FUZZ_CHECK(bp->hdr.setup_data == 0 && bp->hdr.hardware_subarch == 0, "setup_data/subarch");
	FUZZ_CHECK(bp->acpi_rsdp_addr == (k->protocol >= LB_PROTO(2, 14) ? PC_GPA_ACPI : 0), "acpi_rsdp_addr");
	FUZZ_CHECK(bp->sentinel == 0 && bp->hdr.version == k->protocol, "sentinel/version");
	for (size_t i = LB_OFF_SETUP_HEADER + k->hdr_len; i < 0x290; i++)
		FUZZ_CHECK(raw[i] == 0, "byte %#zx after the header", i);
	unsigned want = p->mem_size > PC_GPA_HIGH_RAM ? LB_E820_ENTRIES : LB_E820_ENTRIES - 1;
	FUZZ_CHECK(bp->e820_entries == want, "e820 entries %u", bp->e820_entries);
	uint64_t prev_end = 0;
	for (unsigned i = 0; i < bp->e820_entries; i++) {
		const struct boot_e820_entry *x = &bp->e820_table[i];
		FUZZ_CHECK(x->size && x->addr >= prev_end, "e820 entry %u unordered", i);
		if (x->type == LB_E820_RAM)
			FUZZ_CHECK(x->addr + x->size <= p->mem_size, "e820 RAM beyond mem");
		prev_end = x->addr + x->size;
	}
	/* the kernel, initrd, command line and zero page are in e820 RAM */
	FUZZ_CHECK(p->kernel_gpa >= bp->e820_table[want - 1].addr && p->kernel_end <= p->mem_size, "kernel not RAM");
	FUZZ_CHECK(p->cmdline_gpa + p->cmdline_size <= bp->e820_table[0].size &&
	           p->zero_page_gpa + PAGE <= bp->e820_table[0].size, "low slots not RAM");
}

/* MADV_DONTNEED the pages of guest [gpa, gpa + len). */
static void drop(uint64_t gpa, uint64_t len)
{
	uint64_t lo = gpa & ~(PAGE - 1), hi = (gpa + len + PAGE - 1) & ~(PAGE - 1);
	if (hi > PC_MEM_MAX)
		hi = PC_MEM_MAX;
	FUZZ_CHECK(hi <= lo || !madvise(ram + lo, hi - lo, MADV_DONTNEED), "madvise");
}

static void check_load(const struct linux_kernel *k, const struct linux_boot_plan *planned, size_t cmdline_len)
{
	if (!ram) {
		ram = mmap(NULL, PC_MEM_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		FUZZ_CHECK(ram != MAP_FAILED, "cannot map guest RAM");
		for (size_t i = 0; i < LOAD_INITRD_MAX; i++)
			initrd_buf[i] = (uint8_t)(i * 7 + 3);
	}
	memset(cmdline_buf, 'c', cmdline_len);
	cmdline_buf[cmdline_len] = 0;
	struct guest_mem mem = { .host = ram, .size = planned->mem_size };
	struct linux_boot_plan p;
	struct vmm_err e = { 0 };
	int r = linux_boot_load(&mem, k, cmdline_buf, initrd_buf, planned->initrd_size, &p, &e);
	FUZZ_CHECK(r == 0, "load failed after a good plan: %s", e.msg);
	FUZZ_CHECK(!memcmp(&p, planned, sizeof(p)), "load's plan differs");
	FUZZ_CHECK(!memcmp(ram + p.kernel_gpa, k->kernel, k->kernel_len), "kernel bytes");
	FUZZ_CHECK(!memcmp(ram + p.initrd_gpa, initrd_buf, p.initrd_size), "initrd bytes");
	FUZZ_CHECK(!memcmp(ram + p.cmdline_gpa, cmdline_buf, cmdline_len + 1), "cmdline bytes");
	struct boot_params bp;
	FUZZ_CHECK(linux_zero_page(k, &p, &bp, &e) == 0, "zero page");
	FUZZ_CHECK(!memcmp(ram + p.zero_page_gpa, &bp, sizeof(bp)), "zero page bytes");
	/* empty the guest again (only what was written is resident) */
	drop(0, PC_GPA_HIGH_RAM);
	drop(p.kernel_gpa, k->kernel_len);
	drop(p.initrd_gpa, p.initrd_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < PREFIX)
		return 0;
	uint64_t sel = rd(data, 2);
	uint64_t mem = ((sel & 0x7ff) + 1) * 2 * MiB;
	if (sel & 0x800)
		mem += PAGE;
	if (sel & 0x1000)
		mem = 0;
	uint64_t cmdline_len = rd(data + 2, 4);
	uint64_t initrd_size = rd(data + 6, 8);
	size -= PREFIX;
	/* An exact-size copy: a read past the image is an ASan report. */
	uint8_t *img = malloc(size ? size : 1);
	memcpy(img, data + PREFIX, size);

	struct linux_kernel k;
	struct vmm_err e = { 0 };
	int r = linux_kernel_parse(img, size, &k, &e);
	if (r) {
		FUZZ_CHECK(r == -EINVAL && e.code == r && e.msg[0], "parse error %d without a message", r);
		free(img);
		return 0;
	}
	check_kernel(&k, img, size);

	struct linux_boot_plan p;
	memset(&e, 0, sizeof(e));
	r = linux_boot_plan(&k, mem, (size_t)cmdline_len, initrd_size, &p, &e);
	if (r) {
		FUZZ_CHECK(r == -EINVAL && e.code == r && e.msg[0], "plan error %d without a message", r);
		free(img);
		return 0;
	}
	check_plan(&k, &p, mem, cmdline_len, initrd_size);

	struct boot_params bp;
	r = linux_zero_page(&k, &p, &bp, &e);
	FUZZ_CHECK(r == 0, "zero page refused a plan: %s", e.msg);
	check_zero_page(&k, &p, &bp);

	if (initrd_size <= LOAD_INITRD_MAX && cmdline_len <= LOAD_CMDLINE_MAX)
		check_load(&k, &p, (size_t)cmdline_len);
	free(img);
	return 0;
}
