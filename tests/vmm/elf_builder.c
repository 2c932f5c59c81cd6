/* elf_builder.c - in-memory ELF64 images for loader tests (see elf_builder.h). */
#include "elf_builder.h"

#include <stdlib.h>
#include <string.h>

void eb_init(struct elf_builder *b, uint64_t entry)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->eh.e_ident, ELFMAG, SELFMAG);
	b->eh.e_ident[EI_CLASS] = ELFCLASS64;
	b->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	b->eh.e_ident[EI_VERSION] = EV_CURRENT;
	b->eh.e_ident[EI_OSABI] = ELFOSABI_SYSV;
	b->eh.e_type = ET_EXEC;
	b->eh.e_machine = EM_X86_64;
	b->eh.e_version = EV_CURRENT;
	b->eh.e_entry = entry;
	b->eh.e_ehsize = sizeof(Elf64_Ehdr);
	b->eh.e_phentsize = sizeof(Elf64_Phdr);
	b->eh.e_shentsize = sizeof(Elf64_Shdr);
}

unsigned eb_add(struct elf_builder *b, uint32_t type, uint64_t gpa, const void *data,
                uint64_t filesz, uint64_t memsz, uint32_t flags)
{
	if (b->nph >= EB_MAX_PH)
		abort();
	unsigned i = b->nph++;
	b->ph[i] = (Elf64_Phdr){
		.p_type = type, .p_flags = flags, .p_vaddr = gpa, .p_paddr = gpa,
		.p_filesz = filesz, .p_memsz = memsz, .p_align = 4096,
	};
	b->data[i] = data;
	return i;
}

uint8_t *eb_build(const struct elf_builder *b, size_t *len)
{
	size_t off = sizeof(Elf64_Ehdr) + (size_t)b->nph * sizeof(Elf64_Phdr);
	size_t total = off;
	for (unsigned i = 0; i < b->nph; i++)
		total += b->ph[i].p_filesz;
	uint8_t *img = calloc(1, total ? total : 1);
	if (!img)
		abort();
	Elf64_Ehdr eh = b->eh;
	eh.e_phoff = b->nph ? sizeof(Elf64_Ehdr) : 0;
	eh.e_phnum = (Elf64_Half)b->nph;
	eh.e_phentsize = sizeof(Elf64_Phdr);
	memcpy(img, &eh, sizeof(eh));
	for (unsigned i = 0; i < b->nph; i++) {
		Elf64_Phdr ph = b->ph[i];
		ph.p_offset = off;
		if (b->data[i])
			memcpy(img + off, b->data[i], ph.p_filesz);
		off += ph.p_filesz;
		memcpy(img + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &ph, sizeof(ph));
	}
	*len = total;
	return img;
}
