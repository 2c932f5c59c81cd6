/* guest_blob.h - the built-in guest-stub ELF, embedded at build time
 * (tools/bin2c.py). */
#ifndef COWVM_GUEST_BLOB_H
#define COWVM_GUEST_BLOB_H
#include <stddef.h>
extern const unsigned char guest_stub_elf[];
extern const size_t guest_stub_elf_len;
#endif
