/* elf_loader.c - validating ELF64 loader (see elf_loader.h). */
#include "elf_loader.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#define PAGE 4096ull

static uint64_t page_up(uint64_t v) { return (v + PAGE - 1) & ~(PAGE - 1); }

static int bad(struct vmm_err *e, const char *what)
{
	return vmm_fail(e, -ENOEXEC, "invalid guest ELF: %s", what);
}

int elf_load(const void *img, size_t len, struct guest_mem *mem, uint64_t lo,
             uint64_t hi, struct elf_image *out, struct vmm_err *e)
{
	const uint8_t *b = img;
	Elf64_Ehdr eh;
	memset(out, 0, sizeof(*out));
	if (!img || len < sizeof(eh))
		return bad(e, "file too short for an ELF header");
	memcpy(&eh, b, sizeof(eh)); /* the buffer need not be aligned */
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG))
		return bad(e, "bad magic");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_ident[EI_VERSION] != EV_CURRENT)
		return bad(e, "not a little-endian ELF64 file");
	if (eh.e_type != ET_EXEC || eh.e_machine != EM_X86_64)
		return bad(e, "not an x86_64 executable (ET_EXEC)");
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 64)
		return bad(e, "bad program header size or count");
	if (eh.e_phoff > len || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return bad(e, "program headers extend past the end of the file");
	if (lo >= hi || hi > mem->size)
		return vmm_fail(e, -EINVAL, "guest memory too small for a guest image");

	Elf64_Phdr ph[64];
	memcpy(ph, b + eh.e_phoff, eh.e_phnum * sizeof(Elf64_Phdr));
	int entry_ok = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (out->nseg == ELF_MAX_SEGMENTS)
			return bad(e, "too many PT_LOAD segments");
		if (p->p_offset > len || p->p_filesz > len - p->p_offset)
			return bad(e, "segment data extends past the end of the file");
		if (p->p_filesz > p->p_memsz)
			return bad(e, "segment file size exceeds its memory size");
		if (p->p_paddr != p->p_vaddr)
			return bad(e, "segment is not identity-mapped (p_paddr != p_vaddr)");
		if (p->p_paddr & (PAGE - 1))
			return bad(e, "segment address is not page-aligned");
		if (p->p_paddr < lo || p->p_paddr > hi || p->p_memsz > hi - p->p_paddr || page_up(p->p_paddr + p->p_memsz) > hi)
			return bad(e, "segment lies outside guest memory available for the image");
		uint64_t start = p->p_paddr, end = page_up(p->p_paddr + p->p_memsz);
		for (unsigned j = 0; j < out->nseg; j++) {
			const struct elf_segment *s = &out->seg[j];
			if (start < page_up(s->gpa + s->memsz) && s->gpa < end)
				return bad(e, "segments overlap");
		}
		out->seg[out->nseg++] = (struct elf_segment){
			.gpa = start, .memsz = p->p_memsz,
			.writable = !!(p->p_flags & PF_W), .executable = !!(p->p_flags & PF_X),
		};
		if (p->p_flags & PF_X && eh.e_entry >= start && eh.e_entry < p->p_paddr + p->p_memsz)
			entry_ok = 1;
		if (end > out->end)
			out->end = end;
	}
	if (!out->nseg)
		return bad(e, "no loadable segment");
	if (!entry_ok)
		return bad(e, "entry point is not inside an executable segment");
	out->entry = eh.e_entry;

	/* Everything checked: now copy (and zero the .bss tails). */
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		uint8_t *dst = gpa_ptr(mem, p->p_paddr, p->p_memsz);
		if (!dst) /* cannot happen after the checks above; stay safe */
			return bad(e, "segment outside guest memory");
		memcpy(dst, b + p->p_offset, p->p_filesz);
		memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
	}
	return 0;
}
