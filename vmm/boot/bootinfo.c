/* bootinfo.c - build the boot-info FDT with libfdt (see bootinfo.h). */
#include "bootinfo.h"

#include <errno.h>
#include <libfdt.h>

#include "cowvm_abi.h"

static int prop_pair(void *fdt, const char *name, uint64_t a, uint64_t b)
{
	fdt64_t v[2] = { cpu_to_fdt64(a), cpu_to_fdt64(b) };
	return fdt_property(fdt, name, v, sizeof(v));
}

int bootinfo_write(struct guest_mem *mem, const struct bootinfo *bi, struct vmm_err *e)
{
	void *fdt = gpa_ptr(mem, COWVM_GPA_BOOTINFO, COWVM_BOOTINFO_MAX);
	if (!fdt)
		return vmm_fail(e, -EINVAL, "guest memory too small for boot info");
	int r = fdt_create(fdt, (int)COWVM_BOOTINFO_MAX);
	r = r ?: fdt_finish_reservemap(fdt);
	r = r ?: fdt_begin_node(fdt, "");
	r = r ?: fdt_property_u32(fdt, "#address-cells", 2);
	r = r ?: fdt_property_u32(fdt, "#size-cells", 2);
	r = r ?: fdt_property_string(fdt, "compatible", "cowvm,guest-stub");
	r = r ?: fdt_begin_node(fdt, "memory@0");
	r = r ?: fdt_property_string(fdt, "device_type", "memory");
	r = r ?: prop_pair(fdt, "reg", 0, bi->mem_size);
	r = r ?: fdt_end_node(fdt);
	r = r ?: fdt_begin_node(fdt, "chosen");
	r = r ?: fdt_property_string(fdt, COWVM_FDT_WORKLOAD, bi->workload->name);
	r = r ?: fdt_property_u32(fdt, COWVM_FDT_NCPUS, bi->ncpus);
	r = r ?: prop_pair(fdt, COWVM_FDT_HEAP, bi->heap_base, bi->heap_size);
	r = r ?: prop_pair(fdt, COWVM_FDT_INPUT, bi->in_base, bi->in_size);
	r = r ?: prop_pair(fdt, COWVM_FDT_OUTPUT, bi->out_base, bi->out_size);
	r = r ?: prop_pair(fdt, COWVM_FDT_COVERAGE, COWVM_GPA_COVERAGE, bi->coverage_size);
	r = r ?: fdt_begin_node(fdt, COWVM_FDT_ARGS_NODE);
	for (unsigned i = 0; !r && i < bi->workload->nargs; i++)
		r = fdt_property_string(fdt, bi->workload->args[i].key, bi->workload->args[i].value);
	r = r ?: fdt_end_node(fdt);
	r = r ?: fdt_end_node(fdt);
	r = r ?: fdt_end_node(fdt);
	r = r ?: fdt_finish(fdt);
	if (r)
		return vmm_fail(e, -EINVAL, "building boot info failed: %s", fdt_strerror(r));
	return 0;
}
