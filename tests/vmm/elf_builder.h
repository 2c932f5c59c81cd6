/*
 * elf_builder.h - build ELF64 x86_64 executables in memory for loader tests.
 *
 * Describe a valid image (header + program headers + segment bytes), lay it
 * out with eb_build(), then mutate exactly one field of the serialized image
 * through eb_ehdr()/eb_phdr() to produce each defect.
 *
 * Layout of a built image: Elf64_Ehdr at 0, program headers at 64, then the
 * file bytes of each segment in program-header order.
 */
#ifndef TESTS_ELF_BUILDER_H
#define TESTS_ELF_BUILDER_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

#define EB_MAX_PH 80

struct elf_builder {
	Elf64_Ehdr eh;
	unsigned nph;
	Elf64_Phdr ph[EB_MAX_PH];
	const void *data[EB_MAX_PH]; /* file bytes of each phdr (may be NULL) */
};

/* A valid ET_EXEC / EM_X86_64 / ELFCLASS64 / LSB header, no program headers. */
void eb_init(struct elf_builder *b, uint64_t entry);
/* Append a program header; p_paddr = p_vaddr = gpa, p_filesz = filesz bytes
 * taken from data (NULL: zero bytes). Returns the program header index. */
unsigned eb_add(struct elf_builder *b, uint32_t type, uint64_t gpa, const void *data,
                uint64_t filesz, uint64_t memsz, uint32_t flags);
static inline unsigned eb_add_load(struct elf_builder *b, uint64_t gpa, const void *data,
                                   uint64_t filesz, uint64_t memsz, uint32_t flags)
{
	return eb_add(b, PT_LOAD, gpa, data, filesz, memsz, flags);
}
/* Serialize: sets e_phoff/e_phnum/e_phentsize and each p_offset. Returns a
 * malloc'd buffer (caller frees) and its length in *len. */
uint8_t *eb_build(const struct elf_builder *b, size_t *len);

/* Views into a built image (malloc'd, so suitably aligned). */
static inline Elf64_Ehdr *eb_ehdr(uint8_t *img) { return (Elf64_Ehdr *)(void *)img; }
static inline Elf64_Phdr *eb_phdr(uint8_t *img, unsigned i)
{
	return (Elf64_Phdr *)(void *)(img + eb_ehdr(img)->e_phoff) + i;
}

#endif
