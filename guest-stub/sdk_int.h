/*
 * sdk_int.h - internals of the guest SDK (libcowguest), shared by its files
 * and by nothing a guest includes: the boot-info FDT reader (fdt.c), the
 * ring-0 glue (entry.S, kernel.c) and the ring-3 start (start.S, start.c).
 * None of these names is visible in the installed library (mklib.sh keeps
 * only the symbols listed in cowguest.syms global).
 */
#ifndef COWGUEST_SDK_INT_H
#define COWGUEST_SDK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cowguest.h"

/* Minimal bounds-checked FDT reader (fdt.c). */
struct fdt_view {
	const uint8_t *base;
	uint32_t size, struct_off, struct_size, strings_off, strings_size;
};
int fdt_open(struct fdt_view *v, uint64_t addr);
/* Property `name` of the node at `path` ("/chosen", "/chosen/workload-args");
 * returns a pointer and length, or NULL. */
const void *fdt_prop(const struct fdt_view *v, const char *path, const char *name, uint32_t *len);
/* The index-th property (0-based, in blob order) of the node at `path`:
 * its value and length, *name its name; NULL when there is no such one. */
const void *fdt_prop_at(const struct fdt_view *v, const char *path, uint32_t index, const char **name,
                        uint32_t *len);
const char *fdt_string(const struct fdt_view *v, const char *path, const char *name);
int fdt_u64_pair(const struct fdt_view *v, const char *path, const char *name, uint64_t *a, uint64_t *b);

/* Ring 0 (kernel.c, entry.S). */
void kernel_main(uint64_t fdt, uint64_t cpu) __attribute__((noreturn));
int64_t kernel_gate(uint64_t gate, uint64_t nr, uint64_t arg);
void enter_user(uint64_t rip, uint64_t rsp, uint64_t fdt, uint64_t cpu) __attribute__((noreturn));

/* Ring 3 (start.S -> start.c). */
void user_entry(void);
void cg_start(uint64_t fdt, uint64_t cpu) __attribute__((noreturn));
/* The boot-info blob's address (start.c), for the accessors (bootinfo.c). */
extern uint64_t cg_fdt_addr;

#endif
