/*
 * test_linux_boot.c - the Linux boot protocol code (vmm/boot/linux_boot.c)
 * against synthetic bzImage headers (bzimage_build.h), no KVM: exact
 * zero-page fields one test each, the e820 map for several memory sizes,
 * every parser and plan rejection with its message, kernel/initrd/command
 * line placement, the loader's copies into guest RAM, and (when present)
 * the real Debian kernel.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <glob.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bzimage_build.h"
#include "linux_boot.h"
#include "pc_layout.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* ---- helpers ------------------------------------------------------------ */

static struct bz B;           /* the image being built; bz_default() before each test */
static uint8_t *img;
static size_t img_len;
static struct vmm_err err;

static void setup(void)
{
	bz_default(&B);
	img = NULL;
	memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
	free(img);
}

/* Build B, parse it; returns linux_kernel_parse's result. */
static int build_parse(struct linux_kernel *k)
{
	free(img);
	img = bz_build(&B, &img_len);
	return linux_kernel_parse(img, img_len, k, &err);
}

static void parse_ok(struct linux_kernel *k)
{
	int r = build_parse(k);
	cr_assert_eq(r, 0, "parse failed: %s", err.msg);
}

/* Parse the first len bytes of B's image and expect -EINVAL with msg. */
static void expect_parse_fail_len(size_t len, const char *msg)
{
	struct linux_kernel k;
	free(img);
	img = bz_build(&B, &img_len);
	cr_assert_leq(len, img_len);
	int r = linux_kernel_parse(img, len, &k, &err);
	cr_assert_eq(r, -EINVAL, "parse returned %d (%s)", r, err.msg);
	cr_assert_eq(err.code, -EINVAL);
	cr_assert_str_eq(err.msg, msg);
}

static void expect_parse_fail(const char *msg)
{
	size_t len;
	free(bz_build(&B, &len));
	expect_parse_fail_len(len, msg);
}

/* Parse, plan for mem with no initrd and a short command line, zero page. */
static void zero_page(struct boot_params *bp, struct linux_boot_plan *p, uint64_t mem, uint64_t initrd)
{
	struct linux_kernel k;
	parse_ok(&k);
	cr_assert_eq(linux_boot_plan(&k, mem, 10, initrd, p, &err), 0, "plan: %s", err.msg);
	memset(bp, 0x5a, sizeof(*bp)); /* every byte must be written */
	cr_assert_eq(linux_zero_page(&k, p, bp, &err), 0, "zero page: %s", err.msg);
}

static void expect_plan_fail(uint64_t mem, size_t cmdline_len, uint64_t initrd, const char *msg)
{
	struct linux_kernel k;
	struct linux_boot_plan p;
	parse_ok(&k);
	int r = linux_boot_plan(&k, mem, cmdline_len, initrd, &p, &err);
	cr_assert_eq(r, -EINVAL, "plan returned %d (%s)", r, err.msg);
	cr_assert_str_eq(err.msg, msg);
}

static void plan_ok(struct linux_boot_plan *p, uint64_t mem, size_t cmdline_len, uint64_t initrd)
{
	struct linux_kernel k;
	parse_ok(&k);
	int r = linux_boot_plan(&k, mem, cmdline_len, initrd, p, &err);
	cr_assert_eq(r, 0, "plan failed: %s", err.msg);
}

TestSuite(zp, .init = setup, .fini = teardown);
TestSuite(e820, .init = setup, .fini = teardown);
TestSuite(parse, .init = setup, .fini = teardown);
TestSuite(plan, .init = setup, .fini = teardown);
TestSuite(load, .init = setup, .fini = teardown);
TestSuite(real, .init = setup, .fini = teardown);

/* ---- zero page: one test per field the loader writes --------------------- */

Test(zp, type_of_loader)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.hdr.type_of_loader, 0xff);
}

Test(zp, loadflags_can_use_heap_added_image_bits_kept)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.hdr.loadflags, LOADED_HIGH | CAN_USE_HEAP);
	B.h.loadflags = LOADED_HIGH | QUIET_FLAG;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.hdr.loadflags, LOADED_HIGH | QUIET_FLAG | CAN_USE_HEAP);
}

Test(zp, heap_end_ptr)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.hdr.heap_end_ptr, 0xe000 - 0x200);
}

Test(zp, vid_mode_normal)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.hdr.vid_mode, 0xffff);
}

Test(zp, cmd_line_ptr_and_ext)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.hdr.cmd_line_ptr, 0x80000);
	cr_assert_eq(bp.ext_cmd_line_ptr, 0);
}

Test(zp, ramdisk_image_size_and_ext)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	zero_page(&bp, &p, 64 * MiB, 3 * MiB + 5);
	/* (64 MiB - (3 MiB + 5)) rounded down to a page */
	cr_assert_eq(bp.hdr.ramdisk_image, 0x3cff000);
	cr_assert_eq(bp.hdr.ramdisk_size, 3 * MiB + 5);
	cr_assert_eq(bp.ext_ramdisk_image, 0);
	cr_assert_eq(bp.ext_ramdisk_size, 0);
}

Test(zp, ramdisk_zero_without_initrd)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	B.h.ramdisk_image = 0x1234000; /* image garbage must not survive */
	B.h.ramdisk_size = 0x1000;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.hdr.ramdisk_image, 0);
	cr_assert_eq(bp.hdr.ramdisk_size, 0);
	cr_assert_eq(bp.ext_ramdisk_image, 0);
	cr_assert_eq(bp.ext_ramdisk_size, 0);
}

Test(zp, code32_start)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.hdr.code32_start, 0x1000000);
	zero_page(&bp, &p, 16 * MiB, 0); /* relocated to 2 MiB */
	cr_assert_eq(bp.hdr.code32_start, 0x200000);
}

Test(zp, acpi_rsdp_addr_only_from_2_14)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	B.h.jump = (uint16_t)(0xeb | (0x268 - 0x202) << 8); /* 2.13/2.14 headers end at handover_offset */
	B.h.version = 0x020d;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.acpi_rsdp_addr, 0);
	B.h.version = 0x020e;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.acpi_rsdp_addr, 0xe0000);
	bz_default(&B);
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.acpi_rsdp_addr, 0xe0000);
}

Test(zp, setup_data_and_subarch_cleared)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	B.h.setup_data = 0x12345678;
	B.h.hardware_subarch = 2;
	B.h.hardware_subarch_data = 0x99;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.hdr.setup_data, 0);
	cr_assert_eq(bp.hdr.hardware_subarch, 0);
	cr_assert_eq(bp.hdr.hardware_subarch_data, 0);
}

Test(zp, e820_entries_and_table)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	zero_page(&bp, &p, 64 * MiB, 0);
	cr_assert_eq(bp.e820_entries, 5);
	const struct boot_e820_entry want[5] = {
		{ 0, 0x9fc00, 1 }, { 0x9fc00, 0x400, 2 }, { 0xe0000, 0x10000, 3 }, { 0xf0000, 0x10000, 2 }, { 0x100000, 63 * MiB, 1 },
	};
	for (unsigned i = 0; i < 5; i++) {
		cr_assert_eq(bp.e820_table[i].addr, want[i].addr, "entry %u", i);
		cr_assert_eq(bp.e820_table[i].size, want[i].size, "entry %u", i);
		cr_assert_eq(bp.e820_table[i].type, want[i].type, "entry %u", i);
	}
	static const struct boot_e820_entry zero[E820_MAX_ENTRIES_ZEROPAGE - 5];
	cr_assert_arr_eq(&bp.e820_table[5], zero, sizeof(zero));
}

/* The header bytes: the image's, from 0x1f1 to its end (0x202 + jump),
 * except the fields the loader writes; zeros after it. */
Test(zp, header_bytes_copied_exactly)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	B.h.jump = (uint16_t)(0xeb | (0x268 - 0x202) << 8); /* 2.14: no kernel_info_offset */
	B.h.version = 0x020e;
	zero_page(&bp, &p, 64 * MiB, 0);
	/* what the loader writes, in the image copy */
	struct setup_header want;
	memcpy(&want, img + 0x1f1, sizeof(want));
	memset((uint8_t *)&want + (0x268 - 0x1f1), 0, sizeof(want) - (0x268 - 0x1f1));
	want.type_of_loader = 0xff;
	want.vid_mode = 0xffff;
	want.loadflags |= CAN_USE_HEAP;
	want.heap_end_ptr = 0xde00;
	want.code32_start = 0x1000000;
	want.cmd_line_ptr = 0x80000;
	cr_assert_arr_eq(&bp.hdr, &want, sizeof(want));
	/* the image held 0xcc after its header: not copied */
	const uint8_t *raw = (const uint8_t *)&bp;
	cr_assert_eq(img[0x268], 0xcc);
	for (size_t i = 0x268; i < 0x290; i++)
		cr_assert_eq(raw[i], 0, "byte %#zx", i);
}

/* Everything outside the header, the ext_ fields, acpi_rsdp_addr and the
 * e820 map stays zero (sentinel 0: the kernel trusts boot_params). */
Test(zp, rest_of_page_zero)
{
	struct boot_params bp;
	struct linux_boot_plan p;
	zero_page(&bp, &p, 64 * MiB, 0);
	struct boot_params z;
	memset(&z, 0, sizeof(z));
	memcpy(&z.hdr, &bp.hdr, sizeof(z.hdr));
	z.acpi_rsdp_addr = bp.acpi_rsdp_addr;
	z.e820_entries = bp.e820_entries;
	memcpy(z.e820_table, bp.e820_table, sizeof(z.e820_table));
	cr_assert_arr_eq(&bp, &z, sizeof(z));
	cr_assert_eq(bp.sentinel, 0);
}

Test(zp, rejects_addresses_above_4g_without_xlf)
{
	struct linux_kernel k;
	struct linux_boot_plan p;
	struct boot_params bp;
	B.h.xloadflags = XLF_KERNEL_64;
	parse_ok(&k);
	cr_assert_eq(linux_boot_plan(&k, 64 * MiB, 0, MiB, &p, &err), 0);
	p.initrd_gpa = 5 * GiB;
	cr_assert_eq(linux_zero_page(&k, &p, &bp, &err), -EINVAL);
	cr_assert_str_eq(err.msg, "command line or initrd above 4 GiB but the kernel lacks XLF_CAN_BE_LOADED_ABOVE_4G");
	p.initrd_gpa = 0x1000000;
	p.kernel_gpa = 4 * GiB;
	cr_assert_eq(linux_zero_page(&k, &p, &bp, &err), -EINVAL);
	cr_assert_str_eq(err.msg, "kernel at 0x100000000: code32_start is a 32-bit field");
}

/* ---- e820 -------------------------------------------------------------- */

static void expect_e820(uint64_t mem, const struct boot_e820_entry *want, unsigned n)
{
	struct boot_e820_entry map[8];
	memset(map, 0xee, sizeof(map));
	cr_assert_eq(linux_e820(mem, map, 8), n, "mem %#llx", (unsigned long long)mem);
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(map[i].addr, want[i].addr, "mem %#llx entry %u", (unsigned long long)mem, i);
		cr_assert_eq(map[i].size, want[i].size, "mem %#llx entry %u", (unsigned long long)mem, i);
		cr_assert_eq(map[i].type, want[i].type, "mem %#llx entry %u", (unsigned long long)mem, i);
	}
	cr_assert_eq(map[n].addr, 0xeeeeeeeeeeeeeeeeull, "wrote past the entries");
}

Test(e820, two_mib)
{
	const struct boot_e820_entry w[] = {
		{ 0, 0x9fc00, 1 }, { 0x9fc00, 0x400, 2 }, { 0xe0000, 0x10000, 3 }, { 0xf0000, 0x10000, 2 }, { 0x100000, 0x100000, 1 },
	};
	expect_e820(2 * MiB, w, 5);
}

Test(e820, one_gib)
{
	const struct boot_e820_entry w[] = {
		{ 0, 0x9fc00, 1 }, { 0x9fc00, 0x400, 2 }, { 0xe0000, 0x10000, 3 }, { 0xf0000, 0x10000, 2 }, { 0x100000, GiB - MiB, 1 },
	};
	expect_e820(GiB, w, 5);
}

Test(e820, max_mem)
{
	const struct boot_e820_entry w[] = {
		{ 0, 0x9fc00, 1 }, { 0x9fc00, 0x400, 2 }, { 0xe0000, 0x10000, 3 }, { 0xf0000, 0x10000, 2 }, { 0x100000, 3 * GiB - MiB, 1 },
	};
	expect_e820(PC_MEM_MAX, w, 5);
}

Test(e820, one_mib_or_less_has_no_high_ram)
{
	const struct boot_e820_entry w[] = { { 0, 0x9fc00, 1 }, { 0x9fc00, 0x400, 2 }, { 0xe0000, 0x10000, 3 }, { 0xf0000, 0x10000, 2 } };
	expect_e820(MiB, w, 4);
	const struct boot_e820_entry w2[] = { { 0, 0x8000, 1 }, { 0x9fc00, 0x400, 2 }, { 0xe0000, 0x10000, 3 }, { 0xf0000, 0x10000, 2 } };
	expect_e820(0x8000, w2, 4);
}

Test(e820, max_limits_entries)
{
	struct boot_e820_entry map[4];
	memset(map, 0xee, sizeof(map));
	cr_assert_eq(linux_e820(64 * MiB, map, 2), 2);
	cr_assert_eq(map[1].addr, 0x9fc00);
	cr_assert_eq(map[2].addr, 0xeeeeeeeeeeeeeeeeull);
	cr_assert_eq(linux_e820(64 * MiB, map, 0), 0);
}

/* ---- parser: accepted images --------------------------------------------- */

Test(parse, fields)
{
	struct linux_kernel k;
	parse_ok(&k);
	cr_assert_eq(k.image, img);
	cr_assert_eq(k.image_len, 5 * 512 + 8192);
	cr_assert_eq(k.protocol, 0x020f);
	cr_assert_eq(k.hdr_len, 0x26c - 0x1f1);
	cr_assert_arr_eq(&k.hdr, img + 0x1f1, sizeof(k.hdr));
	cr_assert_eq(k.kernel, img + 5 * 512);
	cr_assert_eq(k.kernel_len, 8192);
	cr_assert_eq(k.pref_address, 0x1000000);
	cr_assert_eq(k.kernel_alignment, 0x200000);
	cr_assert_eq(k.init_size, 0x800000);
	cr_assert_eq(k.initrd_addr_max, 0x7fffffff);
	cr_assert_eq(k.cmdline_max, 2048);
	cr_assert_eq(k.relocatable, 1);
}

Test(parse, setup_sects_zero_means_four)
{
	struct linux_kernel k;
	B.h.setup_sects = 0;
	parse_ok(&k);
	cr_assert_eq(k.kernel, img + 5 * 512);
	cr_assert_eq(k.kernel_len, 8192);
	B.h.setup_sects = 30;
	parse_ok(&k);
	cr_assert_eq(k.kernel, img + 31 * 512);
}

Test(parse, short_header_zeroes_the_rest)
{
	struct linux_kernel k;
	B.h.version = 0x020c;
	B.h.jump = (uint16_t)(0xeb | (0x268 - 0x202) << 8);
	parse_ok(&k);
	cr_assert_eq(k.hdr_len, 0x268 - 0x1f1);
	cr_assert_eq(k.hdr.kernel_info_offset, 0, "bytes beyond the header's length zeroed");
	cr_assert_eq(k.hdr.handover_offset, 0x190);
	cr_assert_eq(img[0x268], 0xcc);
}

Test(parse, long_header_keeps_struct_size)
{
	struct linux_kernel k;
	B.h.jump = (uint16_t)(0xeb | 0x7f << 8); /* longest: 0x281 */
	parse_ok(&k);
	cr_assert_eq(k.hdr_len, 0x281 - 0x1f1);
	cr_assert_eq(k.hdr.kernel_info_offset, 0x2000);
}

Test(parse, pref_address_zero_means_1mib)
{
	struct linux_kernel k;
	B.h.pref_address = 0;
	parse_ok(&k);
	cr_assert_eq(k.pref_address, 0x100000);
}

Test(parse, cmdline_max)
{
	struct linux_kernel k;
	B.h.cmdline_size = 0;
	parse_ok(&k);
	cr_assert_eq(k.cmdline_max, 1);
	B.h.cmdline_size = 0xfffe;
	parse_ok(&k);
	cr_assert_eq(k.cmdline_max, 0xffff);
	B.h.cmdline_size = 0xffff;
	parse_ok(&k);
	cr_assert_eq(k.cmdline_max, 0x10000);
	B.h.cmdline_size = 0xffffffff;
	parse_ok(&k);
	cr_assert_eq(k.cmdline_max, PC_CMDLINE_MAX);
}

Test(parse, syssize_may_be_short_of_the_file)
{
	struct linux_kernel k;
	B.h.syssize = 100; /* real images have padding + CRC after syssize */
	parse_ok(&k);
	cr_assert_eq(k.kernel_len, 8192);
}

/* ---- parser: every rejection --------------------------------------------- */

Test(parse, too_short)
{
	expect_parse_fail_len(0x207, "kernel image of 519 bytes is too short for a setup header "
	                             "(the header's version field ends at 0x208)");
	expect_parse_fail_len(0, "kernel image of 0 bytes is too short for a setup header "
	                         "(the header's version field ends at 0x208)");
}

Test(parse, no_boot_flag)
{
	B.h.boot_flag = 0x55aa;
	expect_parse_fail("not a Linux kernel: no 0xAA55 boot flag at 0x1fe (found 0x55aa)");
}

Test(parse, no_hdrs_magic)
{
	B.h.header = 0x53726449;
	expect_parse_fail("not a bzImage: no \"HdrS\" magic at 0x202 (a pre-2.00 kernel or not a kernel)");
}

Test(parse, protocol_too_old)
{
	B.h.version = 0x020b;
	expect_parse_fail("boot protocol 2.11 is too old: cowvm needs boot protocol 2.12+ for the 64-bit entry");
}

Test(parse, no_jump_opcode)
{
	B.h.jump = 0x6ae9;
	expect_parse_fail("no short jump (0xEB) at 0x200 (found 0xe9): the setup header's length is unknown");
}

Test(parse, jump_backwards)
{
	B.h.jump = (uint16_t)(0xeb | 0xfe << 8);
	expect_parse_fail("setup header ends at 0x200 (jump offset -2) but protocol 2.15 defines fields up to 0x26c");
}

Test(parse, header_shorter_than_its_version)
{
	B.h.jump = (uint16_t)(0xeb | (0x268 - 0x202) << 8);
	expect_parse_fail("setup header ends at 0x268 (jump offset 102) but protocol 2.15 defines fields up to 0x26c");
	B.h.version = 0x020c;
	B.h.jump = (uint16_t)(0xeb | (0x264 - 0x202) << 8);
	expect_parse_fail("setup header ends at 0x264 (jump offset 98) but protocol 2.12 defines fields up to 0x268");
}

Test(parse, header_beyond_file)
{
	expect_parse_fail_len(0x260, "truncated kernel image: the setup header ends at 0x26c but the file has "
	                             "608 bytes (12 bytes missing)");
}

Test(parse, not_loaded_high)
{
	B.h.loadflags = 0;
	expect_parse_fail("not a bzImage: LOADED_HIGH is clear in loadflags (0x00); a zImage loads at 0x10000");
}

Test(parse, not_64_bit)
{
	B.h.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G | XLF_EFI_HANDOVER_32;
	expect_parse_fail("32-bit-only kernel: xloadflags (0x0006) lacks XLF_KERNEL_64, the 64-bit entry at +0x200");
}

Test(parse, setup_sectors_beyond_file)
{
	B.h.setup_sects = 30; /* 31 * 512 = 15872 > 2560 + 8192 */
	B.kernel_len = 0;
	expect_parse_fail_len(5 * 512 + 100, "truncated kernel image: 30 setup sectors + the boot sector end at "
	                                     "15872 bytes but the file has 2660 (13212 bytes missing)");
	B.h.setup_sects = 4;
	expect_parse_fail_len(5 * 512 - 1, "truncated kernel image: 4 setup sectors + the boot sector end at "
	                                   "2560 bytes but the file has 2559 (1 bytes missing)");
}

Test(parse, kernel_part_empty)
{
	B.kernel_len = 0;
	B.h.syssize = 0;
	expect_parse_fail("kernel part empty: nothing follows the 4 setup sectors (2560 bytes)");
}

Test(parse, syssize_beyond_file)
{
	B.h.syssize = 8192 / 16 + 1;
	expect_parse_fail("truncated kernel image: syssize says 8208 bytes of protected-mode code after the setup, "
	                  "the file has 8192 (16 bytes missing)");
	B.h.syssize = 0xffffffff; /* * 16 needs 36 bits */
	expect_parse_fail("truncated kernel image: syssize says 68719476720 bytes of protected-mode code after the "
	                  "setup, the file has 8192 (68719468528 bytes missing)");
}

Test(parse, init_size_zero)
{
	B.h.init_size = 0;
	expect_parse_fail("init_size is 0: the kernel does not say how much memory it needs");
}

Test(parse, init_size_smaller_than_kernel)
{
	B.h.init_size = 8191;
	expect_parse_fail("init_size 0x1fff is absurd: smaller than the 8192-byte protected-mode kernel");
}

Test(parse, init_size_huge)
{
	B.h.init_size = (uint32_t)(PC_MEM_MAX - MiB + 1);
	expect_parse_fail("init_size 0xbff00001 (3072 MiB) is absurd: more than a cowvm guest's RAM above 1 MiB");
	B.h.init_size = 0xffffffff;
	expect_parse_fail("init_size 0xffffffff (4096 MiB) is absurd: more than a cowvm guest's RAM above 1 MiB");
}

Test(parse, kernel_alignment_not_power_of_two)
{
	B.h.kernel_alignment = 0x300000;
	expect_parse_fail("kernel_alignment 0x300000 is not a power of two");
	B.h.kernel_alignment = 0;
	expect_parse_fail("kernel_alignment 0 is not a power of two");
}

/* ---- plan: placement and rejections ------------------------------------ */

Test(plan, kernel_at_pref_address)
{
	struct linux_boot_plan p;
	plan_ok(&p, 64 * MiB, 5, 0);
	cr_assert_eq(p.mem_size, 64 * MiB);
	cr_assert_eq(p.kernel_gpa, 0x1000000);
	cr_assert_eq(p.kernel_end, 0x1800000);
	cr_assert_eq(p.entry64, 0x1000200);
	cr_assert_eq(p.initrd_gpa, 0);
	cr_assert_eq(p.initrd_size, 0);
	cr_assert_eq(p.cmdline_gpa, 0x80000);
	cr_assert_eq(p.cmdline_size, 6);
	cr_assert_eq(p.zero_page_gpa, 0x7000);
}

Test(plan, pref_fits_exactly_at_end_of_ram)
{
	struct linux_boot_plan p;
	plan_ok(&p, 24 * MiB, 0, 0);
	cr_assert_eq(p.kernel_gpa, 0x1000000);
	cr_assert_eq(p.kernel_end, 24 * MiB);
}

Test(plan, relocated_when_pref_does_not_fit)
{
	struct linux_boot_plan p;
	plan_ok(&p, 22 * MiB, 0, 0); /* 16 + 8 > 22: lowest 2 MiB-aligned >= 1 MiB */
	cr_assert_eq(p.kernel_gpa, 0x200000);
	cr_assert_eq(p.kernel_end, 0xa00000);
	cr_assert_eq(p.entry64, 0x200200);
}

Test(plan, relocated_when_pref_below_1mib_or_misaligned)
{
	struct linux_boot_plan p;
	B.h.pref_address = 0x80000;
	plan_ok(&p, 64 * MiB, 0, 0);
	cr_assert_eq(p.kernel_gpa, 0x200000);
	B.h.kernel_alignment = 0x1000; /* 0x80000 is aligned, but below 1 MiB */
	plan_ok(&p, 64 * MiB, 0, 0);
	cr_assert_eq(p.kernel_gpa, 0x100000);
	B.h.kernel_alignment = 0x200000;
	B.h.pref_address = 0x1100000; /* not 2 MiB-aligned */
	plan_ok(&p, 64 * MiB, 0, 0);
	cr_assert_eq(p.kernel_gpa, 0x200000);
	B.h.kernel_alignment = 0x1000; /* 4 KiB alignment: 1 MiB itself, and now pref is aligned */
	plan_ok(&p, 64 * MiB, 0, 0);
	cr_assert_eq(p.kernel_gpa, 0x1100000);
	B.h.pref_address = 0;           /* 0 = the bzImage default 1 MiB */
	plan_ok(&p, 64 * MiB, 0, 0);
	cr_assert_eq(p.kernel_gpa, 0x100000);
}

Test(plan, not_relocatable_at_pref)
{
	struct linux_boot_plan p;
	B.h.relocatable_kernel = 0;
	B.h.pref_address = 0x1100000; /* misaligned is fine: it runs where it says */
	plan_ok(&p, 64 * MiB, 0, 0);
	cr_assert_eq(p.kernel_gpa, 0x1100000);
}

Test(plan, not_relocatable_and_pref_does_not_fit)
{
	B.h.relocatable_kernel = 0;
	expect_plan_fail(22 * MiB, 0, 0, "kernel is not relocatable and its load address does not fit: it needs "
	                                "[0x1000000, +0x800000) (init_size) above 1 MiB in 22 MiB of RAM");
	B.h.pref_address = 0x80000;
	expect_plan_fail(64 * MiB, 0, 0, "kernel is not relocatable and its load address does not fit: it needs "
	                                "[0x80000, +0x800000) (init_size) above 1 MiB in 64 MiB of RAM");
}

Test(plan, relocatable_kernel_does_not_fit)
{
	expect_plan_fail(8 * MiB, 0, 0, "kernel does not fit: it needs 8 MiB (init_size 0x800000) from 0x200000 "
	                               "but RAM ends at 0x800000 (8 MiB)");
}

Test(plan, large_alignment)
{
	struct linux_boot_plan p;
	B.h.kernel_alignment = 0x80000000;
	B.h.pref_address = 0x1100000;
	plan_ok(&p, PC_MEM_MAX, 0, 0);
	cr_assert_eq(p.kernel_gpa, 0x80000000);
	expect_plan_fail(GiB, 0, 0, "kernel_alignment 0x80000000: no aligned address above 1 MiB in 1024 MiB of RAM");
}

Test(plan, initrd_at_top_of_ram)
{
	struct linux_boot_plan p;
	plan_ok(&p, 64 * MiB, 0, MiB + 5);
	cr_assert_eq(p.initrd_gpa, (64 * MiB - (MiB + 5)) & ~0xfffull);
	cr_assert_eq(p.initrd_gpa, 0x3eff000);
	cr_assert_eq(p.initrd_size, MiB + 5);
	plan_ok(&p, 64 * MiB, 0, 4096);
	cr_assert_eq(p.initrd_gpa, 64 * MiB - 4096);
}

Test(plan, initrd_limited_by_initrd_addr_max)
{
	struct linux_boot_plan p;
	B.h.initrd_addr_max = 0x2ffffff; /* last byte below 48 MiB */
	plan_ok(&p, 64 * MiB, 0, 2 * MiB);
	cr_assert_eq(p.initrd_gpa, 46 * MiB);
	B.h.initrd_addr_max = 0x2fffffe; /* last usable byte 48 MiB - 2: page-aligned start moves down */
	plan_ok(&p, 64 * MiB, 0, 2 * MiB);
	cr_assert_eq(p.initrd_gpa, 46 * MiB - 4096);
}

Test(plan, initrd_right_above_kernel)
{
	struct linux_boot_plan p;
	plan_ok(&p, 64 * MiB, 0, 40 * MiB); /* kernel [16, 24) MiB, initrd [24, 64) MiB */
	cr_assert_eq(p.initrd_gpa, 24 * MiB);
	cr_assert_eq(p.kernel_end, 24 * MiB);
}

Test(plan, initrd_too_big)
{
	expect_plan_fail(64 * MiB, 0, 40 * MiB + 1, "initrd of 41 MiB (41943041 bytes) does not fit between the "
	                 "kernel's end 0x1800000 and 0x4000000 (the lower of initrd_addr_max + 1 and the end of RAM)");
	expect_plan_fail(64 * MiB, 0, 1ull << 62, "initrd of 4398046511104 MiB (4611686018427387904 bytes) does not "
	                 "fit between the kernel's end 0x1800000 and 0x4000000 (the lower of initrd_addr_max + 1 and "
	                 "the end of RAM)");
	B.h.initrd_addr_max = 0x17fffff; /* ends where the kernel ends */
	expect_plan_fail(64 * MiB, 0, 4096, "initrd of 1 MiB (4096 bytes) does not fit between the kernel's end "
	                 "0x1800000 and 0x1800000 (the lower of initrd_addr_max + 1 and the end of RAM)");
}

Test(plan, cmdline_limit)
{
	struct linux_boot_plan p;
	B.h.cmdline_size = 255;
	plan_ok(&p, 64 * MiB, 255, 0);
	cr_assert_eq(p.cmdline_size, 256);
	expect_plan_fail(64 * MiB, 256, 0, "command line of 256 bytes exceeds the kernel's limit of 255");
	B.h.cmdline_size = 0;
	plan_ok(&p, 64 * MiB, 0, 0);
	cr_assert_eq(p.cmdline_size, 1);
	expect_plan_fail(64 * MiB, 1, 0, "command line of 1 bytes exceeds the kernel's limit of 0");
	B.h.cmdline_size = 0x100000;
	plan_ok(&p, 64 * MiB, PC_CMDLINE_MAX - 1, 0);
	cr_assert_eq(p.cmdline_size, PC_CMDLINE_MAX);
	expect_plan_fail(64 * MiB, PC_CMDLINE_MAX, 0, "command line of 65536 bytes exceeds cowvm's limit of 65535");
	expect_plan_fail(64 * MiB, SIZE_MAX, 0, "command line of 18446744073709551615 bytes exceeds cowvm's limit "
	                                        "of 65535");
}

Test(plan, mem_size)
{
	struct linux_boot_plan p;
	expect_plan_fail(0, 0, 0, "memory size 0 is not a positive multiple of 2 MiB");
	expect_plan_fail(63 * MiB, 0, 0, "memory size 0x3f00000 is not a positive multiple of 2 MiB");
	expect_plan_fail(PC_MEM_MAX + 2 * MiB, 0, 0, "memory size of 3074 MiB is above cowvm's limit of 3072 MiB "
	                                             "for a Linux guest (RAM ends below the 32-bit MMIO hole)");
	plan_ok(&p, PC_MEM_MAX, 0, MiB);
	cr_assert_eq(p.initrd_gpa, 2 * GiB - MiB); /* below initrd_addr_max 0x7fffffff */
	B.h.initrd_addr_max = 0xffffffff;
	plan_ok(&p, PC_MEM_MAX, 0, MiB);
	cr_assert_eq(p.initrd_gpa, PC_MEM_MAX - MiB);
}

/* ---- load: the copies into guest RAM ------------------------------------ */

#define LOAD_MEM (32 * MiB)
#define FILL 0xa5

static void check_fill(const uint8_t *ram, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++)
		if (ram[i] != FILL)
			cr_assert_fail("byte %#llx outside the plan was written", (unsigned long long)i);
}

Test(load, copies_exactly)
{
	struct linux_kernel k;
	parse_ok(&k);
	struct guest_mem mem = { .host = malloc(LOAD_MEM), .size = LOAD_MEM };
	memset(mem.host, FILL, LOAD_MEM);
	uint8_t initrd[5000];
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 3 + 1);
	const char *cl = "console=ttyS0 root=/dev/vda";
	struct linux_boot_plan p;
	cr_assert_eq(linux_boot_load(&mem, &k, cl, initrd, sizeof(initrd), &p, &err), 0, "%s", err.msg);
	cr_assert_eq(p.kernel_gpa, 0x1000000);
	cr_assert_eq(p.initrd_gpa, LOAD_MEM - 8192);
	/* kernel bytes, then untouched up to init_size (fresh RAM is zero) */
	cr_assert_arr_eq(mem.host + p.kernel_gpa, img + 5 * 512, 8192);
	check_fill(mem.host, p.kernel_gpa + 8192, p.initrd_gpa);
	cr_assert_arr_eq(mem.host + p.initrd_gpa, initrd, sizeof(initrd));
	check_fill(mem.host, p.initrd_gpa + sizeof(initrd), LOAD_MEM);
	cr_assert_arr_eq(mem.host + 0x80000, cl, strlen(cl) + 1); /* with its NUL */
	cr_assert_eq(p.cmdline_size, strlen(cl) + 1);
	check_fill(mem.host, 0x80000 + strlen(cl) + 1, p.kernel_gpa);
	struct boot_params want;
	cr_assert_eq(linux_zero_page(&k, &p, &want, &err), 0);
	cr_assert_arr_eq(mem.host + 0x7000, &want, 4096);
	check_fill(mem.host, 0, 0x7000);
	check_fill(mem.host, 0x8000, 0x80000);
	free(mem.host);
}

Test(load, null_cmdline_is_empty_and_no_initrd)
{
	struct linux_kernel k;
	parse_ok(&k);
	struct guest_mem mem = { .host = malloc(LOAD_MEM), .size = LOAD_MEM };
	memset(mem.host, FILL, LOAD_MEM);
	struct linux_boot_plan p;
	cr_assert_eq(linux_boot_load(&mem, &k, NULL, NULL, 0, &p, &err), 0, "%s", err.msg);
	cr_assert_eq(mem.host[0x80000], 0);
	cr_assert_eq(mem.host[0x80001], FILL);
	cr_assert_eq(p.initrd_size, 0);
	const struct boot_params *bp = (const void *)(mem.host + 0x7000);
	cr_assert_eq(bp->hdr.ramdisk_image, 0);
	check_fill(mem.host, p.kernel_gpa + 8192, LOAD_MEM);
	free(mem.host);
}

Test(load, failure_writes_nothing)
{
	struct linux_kernel k;
	parse_ok(&k);
	struct guest_mem mem = { .host = malloc(LOAD_MEM), .size = LOAD_MEM };
	memset(mem.host, FILL, LOAD_MEM);
	static uint8_t initrd[9 * MiB]; /* 32 - 24 = 8 MiB free above the kernel */
	struct linux_boot_plan p = { .kernel_gpa = 77 };
	cr_assert_eq(linux_boot_load(&mem, &k, "x", initrd, sizeof(initrd), &p, &err), -EINVAL);
	cr_assert_str_eq(err.msg, "initrd of 9 MiB (9437184 bytes) does not fit between the kernel's end 0x1800000 "
	                          "and 0x2000000 (the lower of initrd_addr_max + 1 and the end of RAM)");
	cr_assert_eq(p.kernel_gpa, 77, "out untouched on failure");
	check_fill(mem.host, 0, LOAD_MEM);
	free(mem.host);
}

/* ---- the real Debian kernel, if present --------------------------------- */

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = b ? (size_t)n : 0;
	return b;
}

/* $COWVM_TEST_KERNEL, else the first of /var/cache/cowvm/x/boot/vmlinuz-*,
 * /tmp/kdeb/boot/vmlinuz-* (apt-get download linux-image-...; dpkg-deb -x). */
static int find_kernel(char *path, size_t n)
{
	const char *env = getenv("COWVM_TEST_KERNEL");
	if (env && *env) {
		snprintf(path, n, "%s", env);
		return 1;
	}
	const char *pats[] = { "/var/cache/cowvm/*/boot/vmlinuz-*", "/tmp/kdeb/boot/vmlinuz-*" };
	for (unsigned i = 0; i < 2; i++) {
		glob_t g;
		if (glob(pats[i], 0, NULL, &g) == 0 && g.gl_pathc) {
			snprintf(path, n, "%s", g.gl_pathv[0]);
			globfree(&g);
			return 1;
		}
		globfree(&g);
	}
	return 0;
}

Test(real, debian_kernel_parses)
{
	char path[4096];
	if (!find_kernel(path, sizeof(path))) {
		cr_log_warn("real-kernel test skipped: no /var/cache/cowvm/*/boot/vmlinuz-* or /tmp/kdeb/boot/vmlinuz-* "
		            "(set COWVM_TEST_KERNEL)");
		cr_skip_test("no real kernel image found");
	}
	size_t len;
	uint8_t *b = slurp(path, &len);
	cr_assert_not_null(b, "cannot read %s", path);
	struct linux_kernel k;
	int r = linux_kernel_parse(b, len, &k, &err);
	cr_assert_eq(r, 0, "%s: %s", path, err.msg);
	cr_log_info("%s: protocol %u.%02u, %zu-byte kernel, init_size %#llx, pref %#llx", path, k.protocol >> 8,
	            k.protocol & 0xff, k.kernel_len, (unsigned long long)k.init_size,
	            (unsigned long long)k.pref_address);
	cr_assert_geq(k.protocol, 0x020f);
	cr_assert(k.hdr.xloadflags & XLF_KERNEL_64);
	cr_assert(k.hdr.loadflags & LOADED_HIGH);
	cr_assert_eq(k.hdr_len, 0x26c - 0x1f1);
	cr_assert_leq(k.kernel_len, k.init_size);
	/* Placed and described in a 256 MiB guest with a 16 MiB initrd. */
	struct linux_boot_plan p;
	cr_assert_eq(linux_boot_plan(&k, 256 * MiB, 100, 16 * MiB, &p, &err), 0, "%s", err.msg);
	cr_assert_eq(p.kernel_gpa % k.kernel_alignment, 0);
	cr_assert_geq(p.initrd_gpa, p.kernel_end);
	struct boot_params bp;
	cr_assert_eq(linux_zero_page(&k, &p, &bp, &err), 0, "%s", err.msg);
	cr_assert_eq(bp.hdr.version, k.protocol);
	cr_assert_eq(bp.acpi_rsdp_addr, PC_GPA_ACPI);
	free(b);
}
