/*
 * fuzz_elf_loader.c - fuzz harness for elf_load() (vmm/boot/elf_loader.c).
 *
 * Input: the guest ELF image, loaded as vm_create() loads it: into a 4 MiB
 * guest (the smallest VM) through the window [COWVM_GPA_IMAGE_MIN,
 * mem - 2 * COWVM_IOBUF_SIZE). Guest RAM is fresh anonymous memory before
 * each run (MADV_DONTNEED after it), so the pages the loader wrote are
 * exactly the resident ones (mincore): no 4 MiB compare per input.
 *
 * Properties: on failure, -ENOEXEC or -EINVAL with a message and not one
 * byte of guest RAM changed; on success, 1..ELF_MAX_SEGMENTS page-aligned,
 * non-overlapping segments inside the window, the entry inside an
 * executable one, `end` the highest segment end, each segment holding its
 * file bytes then zeros, and every byte outside the segments unchanged.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "cowvm_abi.h"
#include "elf_loader.h"
#include "fuzz_common.h"

#define MEM (4ull << 20)
#define LO COWVM_GPA_IMAGE_MIN
#define HI (MEM - 2 * COWVM_IOBUF_SIZE)
#define PAGE 4096ull

static uint8_t *ram;
static unsigned char resident[MEM / PAGE];

/* Pages of guest RAM written since the last reset. */
static unsigned written(void)
{
	FUZZ_CHECK(!mincore(ram, MEM, resident), "mincore failed");
	unsigned n = 0;
	for (size_t i = 0; i < MEM / PAGE; i++)
		n += resident[i] & 1;
	return n;
}

static void reset_ram(void)
{
	FUZZ_CHECK(!madvise(ram, MEM, MADV_DONTNEED), "madvise failed");
}

static uint64_t page_up(uint64_t v) { return (v + PAGE - 1) & ~(PAGE - 1); }

static int in_segment(const struct elf_image *im, uint64_t gpa, unsigned *which)
{
	for (unsigned i = 0; i < im->nseg; i++)
		if (gpa >= im->seg[i].gpa && gpa < page_up(im->seg[i].gpa + im->seg[i].memsz)) {
			*which = i;
			return 1;
		}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram) {
		ram = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		FUZZ_CHECK(ram != MAP_FAILED, "out of memory");
	}
	/* An exact-size copy: a read past the image is an ASan report. */
	uint8_t *img = malloc(size ? size : 1);
	memcpy(img, data, size);
	struct guest_mem mem = { .host = ram, .size = MEM };
	struct elf_image im;
	struct vmm_err e = { 0 };
	int r = elf_load(img, size, &mem, LO, HI, &im, &e);
	if (r) {
		FUZZ_CHECK(r == -ENOEXEC || r == -EINVAL, "unexpected error %d", r);
		FUZZ_CHECK(e.code == r && e.msg[0], "error %d without a message", r);
		FUZZ_CHECK(written() == 0, "a rejected image wrote guest memory (%s)", e.msg);
		free(img);
		return 0;
	}

	/* The image: segments in the window, aligned, disjoint, entry executable. */
	FUZZ_CHECK(im.nseg >= 1 && im.nseg <= ELF_MAX_SEGMENTS, "nseg %u", im.nseg);
	uint64_t end = 0;
	int entry_ok = 0;
	for (unsigned i = 0; i < im.nseg; i++) {
		const struct elf_segment *s = &im.seg[i];
		uint64_t se = page_up(s->gpa + s->memsz);
		FUZZ_CHECK(s->gpa % PAGE == 0, "segment %u at %#llx", i, (unsigned long long)s->gpa);
		FUZZ_CHECK(s->memsz && s->gpa >= LO && s->memsz <= HI - s->gpa && se <= HI,
		           "segment %u [%#llx,+%#llx) outside the window", i, (unsigned long long)s->gpa,
		           (unsigned long long)s->memsz);
		for (unsigned j = 0; j < i; j++)
			FUZZ_CHECK(se <= im.seg[j].gpa || page_up(im.seg[j].gpa + im.seg[j].memsz) <= s->gpa,
			           "segments %u and %u overlap", j, i);
		if (s->executable && im.entry >= s->gpa && im.entry < s->gpa + s->memsz)
			entry_ok = 1;
		if (se > end)
			end = se;
	}
	FUZZ_CHECK(entry_ok, "entry %#llx not in an executable segment", (unsigned long long)im.entry);
	FUZZ_CHECK(end == im.end, "end %#llx, segments end at %#llx", (unsigned long long)im.end,
	           (unsigned long long)end);

	/* Segment contents: file bytes then zeros (from the program headers,
	 * which the loader accepted, so they are in bounds). */
	Elf64_Ehdr eh;
	memcpy(&eh, img, sizeof(eh));
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr p;
		memcpy(&p, img + eh.e_phoff + i * sizeof(p), sizeof(p));
		if (p.p_type != PT_LOAD || !p.p_memsz)
			continue;
		FUZZ_CHECK(!memcmp(ram + p.p_paddr, img + p.p_offset, p.p_filesz), "segment %u bytes", i);
		static const uint8_t zero[PAGE];
		for (uint64_t k = p.p_filesz; k < p.p_memsz; k += PAGE) {
			uint64_t n = p.p_memsz - k < PAGE ? p.p_memsz - k : PAGE;
			FUZZ_CHECK(!memcmp(ram + p.p_paddr + k, zero, n), "segment %u: .bss at %llu not zero", i,
			           (unsigned long long)k);
		}
	}
	/* Nothing outside the segments was written (the checks above only
	 * read segment pages, which the loader wrote). */
	written();
	for (uint64_t g = 0; g < MEM; g += PAGE) {
		unsigned w;
		FUZZ_CHECK(!(resident[g / PAGE] & 1) || in_segment(&im, g, &w),
		           "page %#llx outside every segment was written", (unsigned long long)g);
	}
	reset_ram();
	free(img);
	return 0;
}
