/*
 * fuzz_fdt.c - fuzz harness for the guest's boot-info reader
 * (guest-stub/fdt.c), compiled for the host.
 *
 * fdt.c is freestanding C that needs only its declarations (sdk_int.h,
 * through guest.h's folder); the harness build compiles it as is and
 * renames its functions (guest_fdt_*, so they cannot collide with libfdt's
 * fdt_string). It calls no other guest function.
 *
 * Input: one mode byte, then
 *   mode even: a raw blob. It is copied into a buffer of exactly
 *              max(40, min(totalsize, COWVM_BOOTINFO_MAX)) bytes (what the
 *              reader may touch: the 40-byte header, then only totalsize),
 *              so ASan reports any read outside. The guest's own queries run
 *              on it; every property returned must lie inside the structure
 *              block, every string be terminated inside its property, and
 *              the properties listed by index (fdt_prop_at) must be the ones
 *              found by name.
 *   mode odd:  VMM/guest agreement. 56 bytes of layout values (ncpus, heap,
 *              input, output), then a workload spec string ("memtouch:mib=4");
 *              if wl_parse() accepts it, bootinfo_write() (the VMM's libfdt
 *              builder) writes the blob and the guest reader must read back
 *              exactly the values and every argument.
 */
#include <stdbool.h>
#include <string.h>

#include "bootinfo.h"
#include "cowvm_abi.h"
#include "fuzz_common.h"
#include "sdk_int.h" /* with -Dfdt_open=guest_fdt_open etc. */
#include "workload_spec.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *const arg_keys[] = { "mode", "op", "mib", "iters", "seed", "kind", "addr",
	                                "layers", "touch", "" };

/* A property the reader returned must lie in the structure block. */
static void check_prop(const struct fdt_view *v, const void *p, uint32_t len)
{
	const uint8_t *s = v->base + v->struct_off, *q = p;
	FUZZ_CHECK(q >= s && len <= v->struct_size && q - s <= (ptrdiff_t)(v->struct_size - len),
	           "property [%td, +%u) outside the structure block (%u bytes)", q - s, len, v->struct_size);
}

static const char *get_string(const struct fdt_view *v, const char *path, const char *name)
{
	uint32_t len;
	const char *p = fdt_prop(v, path, name, &len);
	if (p)
		check_prop(v, p, len);
	const char *s = fdt_string(v, path, name);
	FUZZ_CHECK(!s || (s == p && len && strnlen(s, len) < len), "string %s/%s not terminated", path, name);
	return s;
}

static int get_pair(const struct fdt_view *v, const char *name, uint64_t *a, uint64_t *b)
{
	uint32_t len;
	const void *p = fdt_prop(v, "/chosen", name, &len);
	if (p)
		check_prop(v, p, len);
	int r = fdt_u64_pair(v, "/chosen", name, a, b);
	FUZZ_CHECK(r || (p && len == 16), "pair %s from a %u-byte property", name, p ? len : 0);
	return r;
}

/* The guest's own queries (user_main.c, workloads.c) plus odd paths. */
static void queries(const struct fdt_view *v)
{
	static const char *const paths[] = { "/chosen", "/chosen/" COWVM_FDT_ARGS_NODE, "/", "",
		"/memory@0", "/memory", "chosen", "//chosen//", "/chosen/workload-args/a/b/c/d/e/f/g/h" };
	static const char *const names[] = { COWVM_FDT_WORKLOAD, COWVM_FDT_NCPUS, "reg", "compatible",
		"device_type", "mib", "" };
	uint32_t len;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		for (size_t j = 0; j < sizeof(names) / sizeof(names[0]); j++) {
			const void *p = fdt_prop(v, paths[i], names[j], &len);
			if (p)
				check_prop(v, p, len);
			get_string(v, paths[i], names[j]);
		}
	uint64_t a, b;
	get_pair(v, COWVM_FDT_HEAP, &a, &b);
	get_pair(v, COWVM_FDT_INPUT, &a, &b);
	get_pair(v, COWVM_FDT_OUTPUT, &a, &b);
	for (size_t i = 0; i < sizeof(arg_keys) / sizeof(arg_keys[0]); i++)
		get_string(v, "/chosen/" COWVM_FDT_ARGS_NODE, arg_keys[i]);
	/* Every property by index: inside the block, a terminated name, and
	 * the same property the by-name lookup finds first (unless an earlier
	 * one has the same name). */
	for (uint32_t i = 0; i < 64; i++) {
		const char *name;
		const void *p = fdt_prop_at(v, "/chosen/" COWVM_FDT_ARGS_NODE, i, &name, &len);
		if (!p)
			break;
		check_prop(v, p, len);
		const uint8_t *strings = v->base + v->strings_off;
		FUZZ_CHECK((const uint8_t *)name >= strings && (const uint8_t *)name < strings + v->strings_size &&
		           strnlen(name, (size_t)(strings + v->strings_size - (const uint8_t *)name)) <
		                   (size_t)(strings + v->strings_size - (const uint8_t *)name),
		           "property %u's name outside the strings block", i);
		uint32_t len2;
		const void *q = fdt_prop(v, "/chosen/" COWVM_FDT_ARGS_NODE, name, &len2);
		uint32_t first = 0;
		const char *n2;
		while (first < i && (fdt_prop_at(v, "/chosen/" COWVM_FDT_ARGS_NODE, first, &n2, &len2) &&
		                     strcmp(n2, name)))
			first++;
		FUZZ_CHECK(first < i || q == p, "property %u ('%s') by index differs from by name", i, name);
	}
}

static void raw(const uint8_t *data, size_t size)
{
	uint8_t hdr[8] = { 0 }; /* the blob is zero-padded to at least 40 bytes */
	memcpy(hdr, data, size < 8 ? size : 8);
	uint32_t total = be32(hdr + 4);
	size_t n = total < 40 ? 40 : total > COWVM_BOOTINFO_MAX ? COWVM_BOOTINFO_MAX : total;
	uint8_t *blob = calloc(1, n);
	memcpy(blob, data, size < n ? size : n);
	struct fdt_view v;
	if (!fdt_open(&v, (uint64_t)(uintptr_t)blob)) {
		FUZZ_CHECK(v.size <= n && v.struct_off <= v.size && v.struct_size <= v.size - v.struct_off &&
		           v.strings_off <= v.size && v.strings_size <= v.size - v.strings_off,
		           "fdt_open accepted a view outside the blob");
		queries(&v);
	}
	free(blob);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void agreement(const uint8_t *data, size_t size)
{
	if (size < 56)
		return;
	char spec[256];
	size_t sl = size - 56 < sizeof(spec) - 1 ? size - 56 : sizeof(spec) - 1;
	memcpy(spec, data + 56, sl);
	spec[sl] = 0;
	struct wl_request w;
	struct vmm_err e = { 0 };
	if (wl_parse(spec, &w, &e))
		return;
	struct bootinfo bi = { .mem_size = le64(data), .ncpus = (unsigned)le64(data) % 17, .workload = &w,
	                       .heap_base = le64(data + 8), .heap_size = le64(data + 16),
	                       .in_base = le64(data + 24), .in_size = le64(data + 32),
	                       .out_base = le64(data + 40), .out_size = le64(data + 48) };
	size_t msize = COWVM_GPA_BOOTINFO + COWVM_BOOTINFO_MAX;
	struct guest_mem mem = { .host = calloc(1, msize), .size = msize };
	FUZZ_CHECK(bootinfo_write(&mem, &bi, &e) == 0, "bootinfo_write failed on a valid request: %s", e.msg);
	struct fdt_view v;
	FUZZ_CHECK(!fdt_open(&v, (uint64_t)(uintptr_t)(mem.host + COWVM_GPA_BOOTINFO)),
	           "the guest cannot open the VMM's boot info");
	queries(&v);
	uint32_t len;
	const uint8_t *n = fdt_prop(&v, "/chosen", COWVM_FDT_NCPUS, &len);
	FUZZ_CHECK(n && len == 4 && be32(n) == bi.ncpus, "ncpus");
	uint64_t a, b;
	FUZZ_CHECK(!get_pair(&v, COWVM_FDT_HEAP, &a, &b) && a == bi.heap_base && b == bi.heap_size, "heap");
	FUZZ_CHECK(!get_pair(&v, COWVM_FDT_INPUT, &a, &b) && a == bi.in_base && b == bi.in_size, "input");
	FUZZ_CHECK(!get_pair(&v, COWVM_FDT_OUTPUT, &a, &b) && a == bi.out_base && b == bi.out_size, "output");
	const char *name = get_string(&v, "/chosen", COWVM_FDT_WORKLOAD);
	FUZZ_CHECK(name && !strcmp(name, w.name), "workload name");
	for (unsigned i = 0; i < w.nargs; i++) {
		const char *val = get_string(&v, "/chosen/" COWVM_FDT_ARGS_NODE, w.args[i].key);
		FUZZ_CHECK(val && !strcmp(val, w.args[i].value), "argument %s", w.args[i].key);
		const char *key;
		const char *at = fdt_prop_at(&v, "/chosen/" COWVM_FDT_ARGS_NODE, i, &key, &len);
		FUZZ_CHECK(at == val && !strcmp(key, w.args[i].key), "argument %u by index", i);
	}
	const char *extra;
	FUZZ_CHECK(!fdt_prop_at(&v, "/chosen/" COWVM_FDT_ARGS_NODE, w.nargs, &extra, &len),
	           "more arguments by index than given");
	for (size_t k = 0; k < sizeof(arg_keys) / sizeof(arg_keys[0]); k++) {
		bool given = false;
		for (unsigned i = 0; i < w.nargs; i++)
			given |= !strcmp(w.args[i].key, arg_keys[k]);
		if (!given)
			FUZZ_CHECK(!get_string(&v, "/chosen/" COWVM_FDT_ARGS_NODE, arg_keys[k]),
			           "argument %s found but not given", arg_keys[k]);
	}
	free(mem.host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		agreement(data + 1, size - 1);
	else
		raw(data + 1, size - 1);
	return 0;
}
