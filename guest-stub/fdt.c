/*
 * fdt.c - minimal, bounds-checked reader of the boot-info FDT, run in ring 3
 * (part of the guest SDK, libcowguest; bootinfo.c builds the public
 * accessors on it).
 *
 * Why not link Debian's libfdt.a: it needs a stack-protector canary at
 * %fs:0x28 and libc string functions, and it would run in the same place as
 * this reader; the guest only needs "find property P of node N", which is
 * ~100 lines when every offset is checked against the blob's size. The VMM
 * side builds the blob with the real libfdt.
 */
#include "sdk_int.h"

#define FDT_MAGIC      0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE   2u
#define FDT_PROP       3u
#define FDT_NOP        4u
#define FDT_END        9u

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int fdt_open(struct fdt_view *v, uint64_t addr)
{
	const uint8_t *b = (const uint8_t *)(uintptr_t)addr;
	if (be32(b) != FDT_MAGIC)
		return -1;
	v->base = b;
	v->size = be32(b + 4);
	v->struct_off = be32(b + 8);
	v->strings_off = be32(b + 12);
	v->strings_size = be32(b + 32);
	v->struct_size = be32(b + 36);
	if (v->size < 40 || v->size > COWVM_BOOTINFO_MAX ||
	    v->struct_off > v->size || v->struct_size > v->size - v->struct_off ||
	    v->strings_off > v->size || v->strings_size > v->size - v->strings_off)
		return -1;
	return 0;
}

static int str_eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* Length of a NUL-terminated string at p within limit, or -1. */
static int bounded_len(const uint8_t *p, uint32_t limit)
{
	for (uint32_t i = 0; i < limit; i++)
		if (!p[i])
			return (int)i;
	return -1;
}

/* Compare path component [c, c+n) with a node name (unit address ignored). */
static int comp_eq(const char *c, uint32_t n, const char *name)
{
	uint32_t i = 0;
	for (; i < n; i++)
		if (name[i] != c[i])
			return 0;
	return name[i] == 0 || name[i] == '@';
}

/* Walk the structure block to the node at `path`; return its property
 * called `name` or, with name NULL, its index-th property. */
static const void *find_prop(const struct fdt_view *v, const char *path, const char *name, uint32_t index,
                             const char **pname, uint32_t *len)
{
	/* Split the path into components once. */
	const char *comp[8];
	uint32_t clen[8];
	uint32_t ncomp = 0;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		if (ncomp == 8)
			return 0;
		comp[ncomp] = p;
		while (*p && *p != '/')
			p++;
		clen[ncomp] = (uint32_t)(p - comp[ncomp]);
		ncomp++;
	}
	const uint8_t *s = v->base + v->struct_off;
	uint32_t off = 0, depth = 0, matched = 0, seen = 0;
	while (off + 4 <= v->struct_size) {
		uint32_t tok = be32(s + off);
		off += 4;
		if (tok == FDT_BEGIN_NODE) {
			int n = bounded_len(s + off, v->struct_size - off);
			if (n < 0)
				return 0;
			const char *nm = (const char *)(s + off);
			if (matched == depth &&
			    (depth == 0 ? n == 0 : (depth <= ncomp && comp_eq(comp[depth - 1], clen[depth - 1], nm))))
				matched = depth + 1;
			depth++;
			off += ((uint32_t)n + 1 + 3) & ~3u;
		} else if (tok == FDT_END_NODE) {
			if (!depth)
				return 0;
			depth--;
			if (matched > depth)
				matched = depth;
		} else if (tok == FDT_PROP) {
			if (off + 8 > v->struct_size)
				return 0;
			uint32_t plen = be32(s + off), nameoff = be32(s + off + 4);
			off += 8;
			if (plen > v->struct_size - off || nameoff >= v->strings_size)
				return 0;
			const char *pn = (const char *)(v->base + v->strings_off + nameoff);
			if (bounded_len((const uint8_t *)pn, v->strings_size - nameoff) < 0)
				return 0;
			if (matched == depth && depth == ncomp + 1 && (name ? str_eq(pn, name) : seen++ == index)) {
				*pname = pn;
				*len = plen;
				return s + off;
			}
			off += (plen + 3) & ~3u;
		} else if (tok == FDT_NOP) {
			continue;
		} else {
			return 0; /* FDT_END or garbage */
		}
	}
	return 0;
}

const void *fdt_prop(const struct fdt_view *v, const char *path, const char *name, uint32_t *len)
{
	const char *pn;
	return find_prop(v, path, name, 0, &pn, len);
}

const void *fdt_prop_at(const struct fdt_view *v, const char *path, uint32_t index, const char **name,
                        uint32_t *len)
{
	return find_prop(v, path, 0, index, name, len);
}

const char *fdt_string(const struct fdt_view *v, const char *path, const char *name)
{
	uint32_t len;
	const char *p = fdt_prop(v, path, name, &len);
	if (!p || !len || p[len - 1])
		return 0; /* must be NUL-terminated inside the property */
	return p;
}

int fdt_u64_pair(const struct fdt_view *v, const char *path, const char *name, uint64_t *a, uint64_t *b)
{
	uint32_t len;
	const uint8_t *p = fdt_prop(v, path, name, &len);
	if (!p || len != 16)
		return -1;
	*a = (uint64_t)be32(p) << 32 | be32(p + 4);
	*b = (uint64_t)be32(p + 8) << 32 | be32(p + 12);
	return 0;
}
