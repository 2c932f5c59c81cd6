/*
 * test_elf_loader.c - elf_load() against in-memory ELF64 images (no KVM):
 * a valid image loads exactly, and every malformed one is rejected with the
 * documented error code and message while guest memory stays untouched.
 * Also gpa_ptr() bounds and the real embedded guest-stub.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cowvm_abi.h"
#include "elf_builder.h"
#include "elf_loader.h"
#include "guest_blob.h"
#include "guest_mem.h"

#define MEM_SIZE 0x400000ull /* 4 MiB of guest RAM */
#define LO 0x100000ull
#define HI 0x300000ull
#define FILL 0xAA

#define TEXT_GPA 0x100000ull
#define RO_GPA 0x101000ull
#define DATA_GPA 0x102000ull
#define ENTRY 0x100010ull
#define TEXT_SZ 100u
#define RO_SZ 64u
#define DATA_FSZ 32u
#define DATA_MSZ 0x1800u

static struct guest_mem mem;
static uint8_t text[TEXT_SZ], ro[RO_SZ], data[DATA_FSZ];

static void setup(void)
{
	mem.host = malloc(MEM_SIZE);
	cr_assert_not_null(mem.host);
	memset(mem.host, FILL, MEM_SIZE);
	mem.size = MEM_SIZE;
	mem.owned = 0;
	for (unsigned i = 0; i < TEXT_SZ; i++)
		text[i] = (uint8_t)(i * 7 + 1);
	for (unsigned i = 0; i < RO_SZ; i++)
		ro[i] = (uint8_t)(0x40 + i);
	for (unsigned i = 0; i < DATA_FSZ; i++)
		data[i] = (uint8_t)(0xC0 ^ i);
}

static void teardown(void)
{
	free(mem.host);
	memset(&mem, 0, sizeof(mem));
}

TestSuite(elf, .init = setup, .fini = teardown);

/* The valid 3-segment layout: text (RX), rodata (R), data+bss (RW). */
static void std_builder(struct elf_builder *b)
{
	eb_init(b, ENTRY);
	eb_add_load(b, TEXT_GPA, text, TEXT_SZ, TEXT_SZ, PF_R | PF_X);
	eb_add_load(b, RO_GPA, ro, RO_SZ, RO_SZ, PF_R);
	eb_add_load(b, DATA_GPA, data, DATA_FSZ, DATA_MSZ, PF_R | PF_W);
}

static uint8_t *std_img(size_t *len)
{
	struct elf_builder b;
	std_builder(&b);
	return eb_build(&b, len);
}

/* Index of the first byte in [from, to) that is not FILL, or -1. */
static long first_touched(uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++)
		if (mem.host[i] != FILL)
			return (long)i;
	return -1;
}

static void expect_untouched(void)
{
	long at = first_touched(0, MEM_SIZE);
	cr_expect_eq(at, -1, "guest memory modified at %#lx by a rejected image", at);
}

static void expect_reject_range(const void *img, size_t len, uint64_t lo, uint64_t hi, int code,
                                const char *substr)
{
	struct elf_image out;
	struct vmm_err e = { 0 };
	memset(&out, 0x5A, sizeof(out));
	int r = elf_load(img, len, &mem, lo, hi, &out, &e);
	cr_expect_eq(r, code, "elf_load returned %d, expected %d (msg '%s')", r, code, e.msg);
	cr_expect_eq(e.code, code, "e.code %d, expected %d", e.code, code);
	cr_expect_not_null(strstr(e.msg, substr), "message '%s' does not contain '%s'", e.msg, substr);
	if (code == -ENOEXEC)
		cr_expect_eq(strncmp(e.msg, "invalid guest ELF: ", 19), 0, "message '%s'", e.msg);
	expect_untouched();
}

static void expect_reject(const void *img, size_t len, const char *substr)
{
	expect_reject_range(img, len, LO, HI, -ENOEXEC, substr);
}

static void build_reject(const struct elf_builder *b, const char *substr)
{
	size_t len;
	uint8_t *img = eb_build(b, &len);
	expect_reject(img, len, substr);
	free(img);
}

static int load(const void *img, size_t len, struct elf_image *out, struct vmm_err *e)
{
	memset(e, 0, sizeof(*e));
	return elf_load(img, len, &mem, LO, HI, out, e);
}

/* ---- valid images -------------------------------------------------------- */

Test(elf, valid_three_segments)
{
	size_t len;
	uint8_t *img = std_img(&len);
	struct elf_image out;
	struct vmm_err e;
	cr_assert_eq(load(img, len, &out, &e), 0, "rejected: %s", e.msg);
	cr_expect_eq(out.entry, ENTRY);
	cr_expect_eq(out.end, 0x104000ull, "end %#llx", (unsigned long long)out.end);
	cr_assert_eq(out.nseg, 3u);
	cr_expect_eq(out.seg[0].gpa, TEXT_GPA);
	cr_expect_eq(out.seg[0].memsz, TEXT_SZ);
	cr_expect_eq(out.seg[0].executable, 1);
	cr_expect_eq(out.seg[0].writable, 0);
	cr_expect_eq(out.seg[1].gpa, RO_GPA);
	cr_expect_eq(out.seg[1].memsz, RO_SZ);
	cr_expect_eq(out.seg[1].executable, 0);
	cr_expect_eq(out.seg[1].writable, 0);
	cr_expect_eq(out.seg[2].gpa, DATA_GPA);
	cr_expect_eq(out.seg[2].memsz, DATA_MSZ);
	cr_expect_eq(out.seg[2].executable, 0);
	cr_expect_eq(out.seg[2].writable, 1);

	/* File bytes copied exactly. */
	cr_expect_eq(memcmp(mem.host + TEXT_GPA, text, TEXT_SZ), 0);
	cr_expect_eq(memcmp(mem.host + RO_GPA, ro, RO_SZ), 0);
	cr_expect_eq(memcmp(mem.host + DATA_GPA, data, DATA_FSZ), 0);
	/* .bss tail zeroed: exactly [filesz, memsz). */
	for (uint64_t a = DATA_GPA + DATA_FSZ; a < DATA_GPA + DATA_MSZ; a++)
		cr_assert_eq(mem.host[a], 0, "bss byte %#llx not zeroed", (unsigned long long)a);
	/* Nothing else written: below, between, and after the segments. */
	cr_expect_eq(first_touched(0, TEXT_GPA), -1);
	cr_expect_eq(first_touched(TEXT_GPA + TEXT_SZ, RO_GPA), -1);
	cr_expect_eq(first_touched(RO_GPA + RO_SZ, DATA_GPA), -1);
	cr_expect_eq(first_touched(DATA_GPA + DATA_MSZ, MEM_SIZE), -1);
	free(img);
}

Test(elf, valid_segment_ending_exactly_at_hi)
{
	struct elf_builder b;
	eb_init(&b, HI - 0x2000);
	eb_add_load(&b, HI - 0x2000, text, TEXT_SZ, 0x2000, PF_R | PF_X);
	size_t len;
	uint8_t *img = eb_build(&b, &len);
	struct elf_image out;
	struct vmm_err e;
	cr_assert_eq(load(img, len, &out, &e), 0, "rejected: %s", e.msg);
	cr_expect_eq(out.end, HI);
	cr_expect_eq(out.nseg, 1u);
	cr_expect_eq(memcmp(mem.host + HI - 0x2000, text, TEXT_SZ), 0);
	cr_expect_eq(mem.host[HI - 1], 0);
	cr_expect_eq(mem.host[HI], FILL);
	free(img);
}

Test(elf, valid_sixteen_load_segments)
{
	struct elf_builder b;
	eb_init(&b, LO);
	for (unsigned i = 0; i < ELF_MAX_SEGMENTS; i++)
		eb_add_load(&b, LO + i * 0x1000ull, text, 8, 0x1000, i == 0 ? PF_R | PF_X : PF_R);
	size_t len;
	uint8_t *img = eb_build(&b, &len);
	struct elf_image out;
	struct vmm_err e;
	cr_expect_eq(load(img, len, &out, &e), 0, "rejected: %s", e.msg);
	cr_expect_eq(out.nseg, 16u);
	cr_expect_eq(out.end, LO + 16 * 0x1000ull);
	free(img);
}

Test(elf, valid_64_program_headers_with_non_load)
{
	struct elf_builder b;
	std_builder(&b);
	while (b.nph < 64)
		eb_add(&b, PT_NOTE, 0, NULL, 0, 0, 0);
	size_t len;
	uint8_t *img = eb_build(&b, &len);
	struct elf_image out;
	struct vmm_err e;
	cr_expect_eq(load(img, len, &out, &e), 0, "rejected: %s", e.msg);
	cr_expect_eq(out.nseg, 3u);
	free(img);
}

Test(elf, empty_load_segment_is_ignored)
{
	struct elf_builder b;
	std_builder(&b);
	eb_add_load(&b, 0x123, NULL, 0, 0, PF_R | PF_W | PF_X); /* memsz 0: skipped */
	size_t len;
	uint8_t *img = eb_build(&b, &len);
	struct elf_image out;
	struct vmm_err e;
	cr_expect_eq(load(img, len, &out, &e), 0, "rejected: %s", e.msg);
	cr_expect_eq(out.nseg, 3u);
	free(img);
}

/* ---- header defects ------------------------------------------------------ */

Test(elf, reject_shorter_than_header)
{
	size_t len;
	uint8_t *img = std_img(&len);
	expect_reject(img, sizeof(Elf64_Ehdr) - 1, "too short");
	expect_reject(img, 0, "too short");
	expect_reject(NULL, len, "too short");
	free(img);
}

Test(elf, reject_bad_magic)
{
	size_t len;
	uint8_t *img = std_img(&len);
	img[EI_MAG1] = 'e';
	expect_reject(img, len, "bad magic");
	free(img);
}

Test(elf, reject_elfclass32)
{
	size_t len;
	uint8_t *img = std_img(&len);
	img[EI_CLASS] = ELFCLASS32;
	expect_reject(img, len, "not a little-endian ELF64");
	free(img);
}

Test(elf, reject_big_endian)
{
	size_t len;
	uint8_t *img = std_img(&len);
	img[EI_DATA] = ELFDATA2MSB;
	expect_reject(img, len, "not a little-endian ELF64");
	free(img);
}

Test(elf, reject_bad_ident_version)
{
	size_t len;
	uint8_t *img = std_img(&len);
	img[EI_VERSION] = EV_NONE;
	expect_reject(img, len, "not a little-endian ELF64");
	free(img);
}

Test(elf, reject_et_dyn)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_ehdr(img)->e_type = ET_DYN;
	expect_reject(img, len, "not an x86_64 executable");
	free(img);
}

Test(elf, reject_wrong_machine)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_ehdr(img)->e_machine = EM_386;
	expect_reject(img, len, "not an x86_64 executable");
	eb_ehdr(img)->e_machine = EM_AARCH64;
	expect_reject(img, len, "not an x86_64 executable");
	free(img);
}

Test(elf, reject_wrong_phentsize)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_ehdr(img)->e_phentsize = sizeof(Elf64_Phdr) - 1;
	expect_reject(img, len, "bad program header size or count");
	eb_ehdr(img)->e_phentsize = sizeof(Elf32_Phdr);
	expect_reject(img, len, "bad program header size or count");
	eb_ehdr(img)->e_phentsize = 64;
	expect_reject(img, len, "bad program header size or count");
	free(img);
}

Test(elf, reject_phnum_0)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_ehdr(img)->e_phnum = 0;
	expect_reject(img, len, "bad program header size or count");
	free(img);
}

Test(elf, reject_phnum_65)
{
	struct elf_builder b;
	std_builder(&b);
	while (b.nph < 65)
		eb_add(&b, PT_NOTE, 0, NULL, 0, 0, 0);
	build_reject(&b, "bad program header size or count");
}

Test(elf, reject_phoff_past_end)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_ehdr(img)->e_phoff = len + 8;
	expect_reject(img, len, "program headers extend past the end");
	eb_ehdr(img)->e_phoff = len;
	expect_reject(img, len, "program headers extend past the end");
	eb_ehdr(img)->e_phoff = UINT64_MAX - 8; /* offset + size would wrap */
	expect_reject(img, len, "program headers extend past the end");
	free(img);
}

Test(elf, reject_phdrs_truncated)
{
	size_t len;
	uint8_t *img = std_img(&len);
	size_t phend = sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr);
	expect_reject(img, phend - 1, "program headers extend past the end");
	/* phnum larger than the headers actually present in a short file. */
	eb_ehdr(img)->e_phnum = 64;
	expect_reject(img, phend + 100, "program headers extend past the end");
	free(img);
}

/* ---- segment defects ----------------------------------------------------- */

Test(elf, reject_p_offset_past_end)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_phdr(img, 1)->p_offset = len + 1;
	expect_reject(img, len, "segment data extends past the end");
	free(img);
}

Test(elf, reject_p_filesz_past_end)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_phdr(img, 2)->p_filesz = DATA_FSZ + 1; /* last segment's data ends at len */
	expect_reject(img, len, "segment data extends past the end");
	eb_phdr(img, 2)->p_filesz = DATA_FSZ;
	eb_phdr(img, 2)->p_offset = len - 1;
	eb_phdr(img, 2)->p_filesz = UINT64_MAX; /* offset + filesz wraps */
	eb_phdr(img, 2)->p_memsz = UINT64_MAX;
	expect_reject(img, len, "segment data extends past the end");
	free(img);
}

Test(elf, reject_filesz_greater_than_memsz)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_phdr(img, 0)->p_memsz = TEXT_SZ - 1;
	expect_reject(img, len, "file size exceeds its memory size");
	free(img);
}

Test(elf, reject_paddr_ne_vaddr)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_phdr(img, 1)->p_vaddr = RO_GPA + 0x1000;
	expect_reject(img, len, "p_paddr != p_vaddr");
	free(img);
}

Test(elf, reject_unaligned_paddr)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_phdr(img, 1)->p_paddr = eb_phdr(img, 1)->p_vaddr = RO_GPA + 0x800;
	expect_reject(img, len, "not page-aligned");
	eb_phdr(img, 1)->p_paddr = eb_phdr(img, 1)->p_vaddr = RO_GPA + 1;
	expect_reject(img, len, "not page-aligned");
	free(img);
}

Test(elf, reject_segment_below_lo)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_phdr(img, 1)->p_paddr = eb_phdr(img, 1)->p_vaddr = LO - 0x1000;
	expect_reject(img, len, "outside guest memory");
	eb_phdr(img, 1)->p_paddr = eb_phdr(img, 1)->p_vaddr = 0;
	expect_reject(img, len, "outside guest memory");
	free(img);
}

Test(elf, reject_segment_past_hi)
{
	size_t len;
	uint8_t *img = std_img(&len);
	/* Starts inside, ends one page past hi. */
	eb_phdr(img, 2)->p_paddr = eb_phdr(img, 2)->p_vaddr = HI - 0x1000;
	expect_reject(img, len, "outside guest memory");
	/* Starts exactly at hi. */
	eb_phdr(img, 2)->p_paddr = eb_phdr(img, 2)->p_vaddr = HI;
	expect_reject(img, len, "outside guest memory");
	/* Starts beyond hi and beyond guest RAM. */
	eb_phdr(img, 2)->p_paddr = eb_phdr(img, 2)->p_vaddr = MEM_SIZE + 0x10000;
	expect_reject(img, len, "outside guest memory");
	free(img);
}

Test(elf, reject_segment_end_one_byte_past_hi)
{
	struct elf_builder b;
	eb_init(&b, HI - 0x2000);
	eb_add_load(&b, HI - 0x2000, text, TEXT_SZ, 0x2001, PF_R | PF_X);
	build_reject(&b, "outside guest memory");
}

/* p_paddr + p_memsz wraps past 2^64, as the only (first) loadable data. */
Test(elf, reject_paddr_plus_memsz_wraps_first)
{
	struct elf_builder b;
	eb_init(&b, ENTRY);
	eb_add_load(&b, 0xfffffffffffff000ull, NULL, 0, 0x2000, PF_R | PF_W);
	eb_add_load(&b, TEXT_GPA, text, TEXT_SZ, TEXT_SZ, PF_R | PF_X);
	build_reject(&b, "outside guest memory");
}

/* Same wrapping segment after valid ones: still rejected and, as documented,
 * nothing may be written to guest memory. */
Test(elf, reject_paddr_plus_memsz_wraps_after_valid_segments)
{
	struct elf_builder b;
	std_builder(&b);
	eb_add_load(&b, 0xfffffffffffff000ull, NULL, 0, 0x2000, PF_R | PF_W);
	build_reject(&b, "outside guest memory");
}

Test(elf, reject_paddr_plus_memsz_wraps_to_zero)
{
	struct elf_builder b;
	std_builder(&b);
	eb_add_load(&b, 0xfffffffffffff000ull, NULL, 0, 0x1000, PF_R);
	build_reject(&b, "outside guest memory");
}

Test(elf, reject_overlapping_segments)
{
	struct elf_builder b;
	std_builder(&b);
	eb_add_load(&b, RO_GPA, ro, RO_SZ, RO_SZ, PF_R); /* same address as rodata */
	build_reject(&b, "segments overlap");
}

Test(elf, reject_overlap_within_same_page)
{
	/* text ends at +0x1800; the next segment starts at +0x1000, in text's
	 * second page (overlap is page-granular: pages get one permission). */
	struct elf_builder b;
	eb_init(&b, ENTRY);
	eb_add_load(&b, TEXT_GPA, text, TEXT_SZ, 0x1800, PF_R | PF_X);
	eb_add_load(&b, TEXT_GPA + 0x1000, data, DATA_FSZ, DATA_FSZ, PF_R | PF_W);
	build_reject(&b, "segments overlap");
	/* Same pair in the other program-header order. */
	eb_init(&b, ENTRY);
	eb_add_load(&b, TEXT_GPA + 0x1000, data, DATA_FSZ, DATA_FSZ, PF_R | PF_W);
	eb_add_load(&b, TEXT_GPA, text, TEXT_SZ, 0x1800, PF_R | PF_X);
	build_reject(&b, "segments overlap");
}

Test(elf, small_segments_in_adjacent_pages_do_not_overlap)
{
	struct elf_builder b;
	eb_init(&b, ENTRY);
	eb_add_load(&b, TEXT_GPA, text, TEXT_SZ, 0x1000, PF_R | PF_X);
	eb_add_load(&b, TEXT_GPA + 0x1000, data, DATA_FSZ, DATA_FSZ, PF_R | PF_W);
	size_t len;
	uint8_t *img = eb_build(&b, &len);
	struct elf_image out;
	struct vmm_err e;
	cr_expect_eq(load(img, len, &out, &e), 0, "rejected: %s", e.msg);
	free(img);
}

Test(elf, reject_entry_outside_executable_segment)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_ehdr(img)->e_entry = DATA_GPA; /* in a non-executable segment */
	expect_reject(img, len, "entry point is not inside an executable segment");
	eb_ehdr(img)->e_entry = TEXT_GPA + TEXT_SZ; /* one past the end of text */
	expect_reject(img, len, "entry point is not inside an executable segment");
	eb_ehdr(img)->e_entry = TEXT_GPA - 1;
	expect_reject(img, len, "entry point is not inside an executable segment");
	eb_ehdr(img)->e_entry = 0x200000; /* in no segment */
	expect_reject(img, len, "entry point is not inside an executable segment");
	eb_ehdr(img)->e_entry = 0;
	expect_reject(img, len, "entry point is not inside an executable segment");
	free(img);
}

Test(elf, entry_at_last_byte_of_text_accepted)
{
	size_t len;
	uint8_t *img = std_img(&len);
	eb_ehdr(img)->e_entry = TEXT_GPA + TEXT_SZ - 1;
	struct elf_image out;
	struct vmm_err e;
	cr_expect_eq(load(img, len, &out, &e), 0, "rejected: %s", e.msg);
	cr_expect_eq(out.entry, TEXT_GPA + TEXT_SZ - 1);
	free(img);
}

Test(elf, reject_no_load_segment)
{
	struct elf_builder b;
	eb_init(&b, ENTRY);
	eb_add(&b, PT_NOTE, TEXT_GPA, text, TEXT_SZ, TEXT_SZ, PF_R | PF_X);
	eb_add(&b, PT_GNU_STACK, 0, NULL, 0, 0, PF_R | PF_W);
	build_reject(&b, "no loadable segment");
	/* PT_LOADs that are all empty (memsz 0) do not count either. */
	eb_init(&b, ENTRY);
	eb_add_load(&b, TEXT_GPA, NULL, 0, 0, PF_R | PF_X);
	build_reject(&b, "no loadable segment");
}

Test(elf, reject_seventeen_load_segments)
{
	struct elf_builder b;
	eb_init(&b, LO);
	for (unsigned i = 0; i < ELF_MAX_SEGMENTS + 1; i++)
		eb_add_load(&b, LO + i * 0x1000ull, text, 8, 0x1000, i == 0 ? PF_R | PF_X : PF_R);
	build_reject(&b, "too many PT_LOAD segments");
}

Test(elf, reject_window_larger_than_memory_einval)
{
	size_t len;
	uint8_t *img = std_img(&len);
	expect_reject_range(img, len, LO, MEM_SIZE + 0x1000, -EINVAL, "guest memory too small");
	expect_reject_range(img, len, HI, HI, -EINVAL, "guest memory too small");
	expect_reject_range(img, len, HI, LO, -EINVAL, "guest memory too small");
	free(img);
}

/* ---- gpa_ptr ------------------------------------------------------------- */

Test(elf, gpa_ptr_bounds)
{
	const uint64_t sz = mem.size;
	uint8_t *h = mem.host;
	cr_expect_eq(gpa_ptr(&mem, 0, 1), (void *)h);
	cr_expect_eq(gpa_ptr(&mem, 0, sz), (void *)h);
	cr_expect_eq(gpa_ptr(&mem, 0x1234, 0x100), (void *)(h + 0x1234));
	cr_expect_eq(gpa_ptr(&mem, sz - 1, 1), (void *)(h + sz - 1), "last byte");
	cr_expect_eq(gpa_ptr(&mem, sz, 0), (void *)(h + sz), "len 0 at size");
	cr_expect_eq(gpa_ptr(&mem, 0, 0), (void *)h);
	cr_expect_null(gpa_ptr(&mem, sz, 1), "one past the end");
	cr_expect_null(gpa_ptr(&mem, sz - 1, 2), "straddles the end");
	cr_expect_null(gpa_ptr(&mem, 0, sz + 1));
	cr_expect_null(gpa_ptr(&mem, sz + 1, 0), "len 0 beyond size");
	cr_expect_null(gpa_ptr(&mem, UINT64_MAX, 1), "overflow");
	cr_expect_null(gpa_ptr(&mem, UINT64_MAX - 0xfff, 0x2000), "gpa+len wraps");
	cr_expect_null(gpa_ptr(&mem, 0x1000, UINT64_MAX - 0xfff), "gpa+len wraps to 0");
	cr_expect_null(gpa_ptr(&mem, 1, UINT64_MAX), "len huge");
	cr_expect_null(gpa_ptr(&mem, UINT64_MAX, UINT64_MAX));
}

/* ---- the real guest-stub ------------------------------------------------- */

Test(elf, embedded_guest_stub_loads)
{
	struct guest_mem big = { .size = 64ull << 20, .owned = 0 };
	big.host = calloc(1, big.size);
	cr_assert_not_null(big.host);
	struct elf_image out;
	struct vmm_err e = { 0 };
	cr_assert_gt(guest_stub_elf_len, sizeof(Elf64_Ehdr));
	int r = elf_load(guest_stub_elf, guest_stub_elf_len, &big, COWVM_GPA_IMAGE_MIN,
	                 big.size - 2 * COWVM_IOBUF_SIZE, &out, &e);
	cr_assert_eq(r, 0, "guest-stub rejected: %s", e.msg);
	cr_expect_eq(out.entry, 0x100000ull, "entry %#llx", (unsigned long long)out.entry);
	int x = 0, w = 0;
	cr_expect_geq(out.nseg, 1u);
	for (unsigned i = 0; i < out.nseg; i++) {
		x |= out.seg[i].executable;
		w |= out.seg[i].writable;
		cr_expect_geq(out.seg[i].gpa, COWVM_GPA_IMAGE_MIN);
		cr_expect_eq(out.seg[i].gpa & 0xfff, 0u);
	}
	cr_expect(x, "no executable segment");
	cr_expect(w, "no writable segment");
	cr_expect_gt(out.end, out.entry);
	free(big.host);
}
