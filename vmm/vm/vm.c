/*
 * vm.c - VM object lifecycle: open /dev/kvm, check the API and capabilities,
 * create the VM, the RAM memslot, load the guest, build its page tables and
 * boot info, create the vCPUs in long mode. The run loop is in vm_run.c.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootinfo.h"
#include "gpt.h"
#include "clone.h"
#include "snapshot.h"
#include "guest_blob.h"
#include "kvm_ioctl.h"
#include "linux_vm.h"
#include "pc_cpu.h"
#include "pc_devices.h"
#include "x86_setup.h"

#define CPUID_MAX_ENTRIES 256

static const struct {
	long cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

static int open_kvm(struct vm *vm, struct vmm_err *e)
{
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return vmm_fail(e, -errno, "cannot open /dev/kvm: %s", strerror(errno));
	int v = KVM_IOCTL(vm->kvm_fd, KVM_GET_API_VERSION, 0, e);
	if (v < 0)
		return v;
	if (v != KVM_API_VERSION)
		return vmm_fail(e, -ENOTSUP, "KVM API version %d, expected %d", v, KVM_API_VERSION);
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++)
		if (!kvm_check_cap(vm->kvm_fd, required_caps[i].cap))
			return vmm_fail(e, -ENOTSUP, "KVM lacks %s", required_caps[i].name);
	return 0;
}

static int get_cpuid(struct vm *vm, struct vmm_err *e)
{
	vm->cpuid = calloc(1, sizeof(*vm->cpuid) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	if (!vm->cpuid)
		return vmm_fail(e, -ENOMEM, "out of memory for CPUID");
	vm->cpuid->nent = CPUID_MAX_ENTRIES;
	int r = KVM_IOCTL(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, vm->cpuid, e);
	return r < 0 ? r : 0;
}

static int set_memslot(struct vm *vm, struct vmm_err *e)
{
	struct kvm_userspace_memory_region slot = {
		.slot = 0, .flags = dirty_log_slot_flags(&vm->dlog), .guest_phys_addr = 0,
		.memory_size = vm->mem.size, .userspace_addr = (uintptr_t)vm->mem.host,
	};
	int r = KVM_IOCTL(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot, e);
	return r < 0 ? r : 0;
}

static struct vm *vm_alloc(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->kvm_fd = vm->vm_fd = -1;
	for (unsigned i = 0; i < COWVM_MAX_VCPUS; i++)
		vm->vcpus[i].fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	return vm;
}

static int check_shape(uint64_t mem_size, unsigned nvcpus, struct vmm_err *e)
{
	if (mem_size < VM_MEM_MIN || mem_size > VM_MEM_MAX || mem_size % (2u << 20))
		return vmm_fail(e, -EINVAL, "memory size must be a multiple of 2 MiB between %llu MiB and %llu GiB",
		                VM_MEM_MIN >> 20, VM_MEM_MAX >> 30);
	if (!nvcpus || nvcpus > COWVM_MAX_VCPUS)
		return vmm_fail(e, -EINVAL, "vCPU count must be 1..%d", COWVM_MAX_VCPUS);
	return 0;
}

/* KVM VM, dirty tracking, memslot and vCPUs over vm->mem (already mapped);
 * for a PC also KVM's interrupt controllers and PIT, which must exist
 * before the first vCPU, and a CPUID per vCPU (its APIC ID). */
static int shell_kvm(struct vm *vm, unsigned nvcpus, enum dirty_mode dm, bool pc, struct vmm_err *e)
{
	int r = KVM_IOCTL(vm->kvm_fd, KVM_CREATE_VM, 0, e);
	if (r < 0)
		return r;
	vm->vm_fd = r;
	/* The dirty ring must be enabled before the first vCPU exists. */
	r = dirty_log_enable(&vm->dlog, vm->kvm_fd, vm->vm_fd, dm, vm->mem.size >> 12, e);
	r = r ?: (pc ? pc_chipset_create(vm, e) : 0);
	r = r ?: set_memslot(vm, e);
	int run_size = r ? r : KVM_IOCTL(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0, e);
	r = run_size < 0 ? run_size : 0;
	bool tsc_deadline = pc && kvm_check_cap(vm->kvm_fd, KVM_CAP_TSC_DEADLINE_TIMER);
	for (unsigned i = 0; !r && i < nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		struct kvm_cpuid2 *own = NULL;
		r = pc ? pc_cpuid_for_vcpu(vm->cpuid, i, nvcpus, tsc_deadline, &own, e) : 0;
		r = r ?: vcpu_create(v, vm->vm_fd, i, (size_t)run_size, own ? own : vm->cpuid, e);
		free(own);
		r = r ?: dirty_ring_map(&vm->dlog, v->fd, &v->ring, e);
		if (!r)
			vm->nvcpus++;
	}
	return r;
}

int vm_create_shell(uint64_t mem_size, unsigned nvcpus, enum dirty_mode dm, int fd,
                    struct vm **out, struct vmm_err *e)
{
	return vm_create_machine(mem_size, nvcpus, dm, fd, false, out, e);
}

int vm_create_machine(uint64_t mem_size, unsigned nvcpus, enum dirty_mode dm, int fd, bool pc,
                      struct vm **out, struct vmm_err *e)
{
	*out = NULL;
	int r = check_shape(mem_size, nvcpus, e);
	if (r)
		return r;
	struct vm *vm = vm_alloc();
	if (!vm)
		return vmm_fail(e, -ENOMEM, "out of memory for the VM object");
	vm->cfg.mem_size = mem_size;
	vm->cfg.nvcpus = nvcpus;
	r = open_kvm(vm, e);
	r = r ?: get_cpuid(vm, e);
	r = r ?: msr_list_get(vm->kvm_fd, &vm->msrs, e);
	r = r ?: (fd < 0 ? guest_mem_alloc(&vm->mem, mem_size, e) : guest_mem_map_file(&vm->mem, mem_size, fd, e));
	r = r ?: shell_kvm(vm, nvcpus, dm, pc, e);
	if (r) {
		vm_destroy(vm);
		return r;
	}
	*out = vm;
	return 0;
}

/*
 * Guest-physical layout (cowvm_abi.h): low boot area, image at 1 MiB, heap,
 * then input and output buffers at the top of RAM. Page permissions:
 * boot structures supervisor-only (boot info user read-only), code R+X,
 * everything else NX; page 0 stays unmapped.
 */
static int build_layout(struct vm *vm, struct bootinfo *bi, struct vmm_err *e)
{
	struct guest_paging *gp = &vm->paging;
	uint64_t top = vm->mem.size;
	bi->out_size = bi->in_size = COWVM_IOBUF_SIZE;
	bi->out_base = top - COWVM_IOBUF_SIZE;
	bi->in_base = bi->out_base - COWVM_IOBUF_SIZE;
	bi->heap_base = vm->image.end;
	if (bi->heap_base >= bi->in_base)
		return vmm_fail(e, -EINVAL, "guest memory too small for the image and buffers");
	bi->heap_size = bi->in_base - bi->heap_base;

	int r = guest_paging_init(gp, &vm->mem, e);
	const pte_t sup_data = PTE_RW | PTE_NX;
	r = r ?: guest_paging_map(gp, COWVM_GPA_GDT, COWVM_GPA_BOOTINFO, sup_data, e);
	r = r ?: guest_paging_map(gp, COWVM_GPA_BOOTINFO, COWVM_GPA_BOOTINFO + COWVM_BOOTINFO_MAX,
	                          PTE_US | PTE_NX, e);
	r = r ?: guest_paging_map(gp, COWVM_GPA_PGTABLES, COWVM_PGTABLES_END, sup_data, e);
	r = r ?: guest_paging_map(gp, COWVM_GPA_KSTACKS,
	                          COWVM_GPA_KSTACKS + COWVM_MAX_VCPUS * COWVM_KSTACK_SIZE, sup_data, e);
	for (unsigned i = 0; !r && i < vm->image.nseg; i++) {
		const struct elf_segment *s = &vm->image.seg[i];
		pte_t f = PTE_US | (s->writable ? PTE_RW : 0) | (s->executable ? 0 : PTE_NX);
		r = guest_paging_map(gp, s->gpa, (s->gpa + s->memsz + 0xfff) & ~0xfffull, f, e);
	}
	r = r ?: guest_paging_map(gp, bi->heap_base, top, PTE_US | PTE_RW | PTE_NX, e);
	/* The hypercall doorbell: no RAM behind it, so a store exits (MMIO). */
	r = r ?: guest_paging_map(gp, COWVM_GPA_DOORBELL, COWVM_GPA_DOORBELL + 0x1000,
	                          PTE_US | PTE_RW | PTE_NX, e);
	/* The coverage window: backed only when a fuzzer attaches its map. */
	r = r ?: guest_paging_map(gp, COWVM_GPA_COVERAGE, COWVM_GPA_COVERAGE + COWVM_COVERAGE_MAX,
	                          PTE_US | PTE_RW | PTE_NX, e);
	return r;
}

int vm_create(const struct vm_config *cfg, struct vm **out, struct vmm_err *e)
{
	*out = NULL;
	if (cfg->kernel)
		return vm_create_linux(cfg, out, e);
	struct vm *vm;
	int r = vm_create_shell(cfg->mem_size, cfg->nvcpus, DIRTY_OFF, -1, &vm, e);
	if (r)
		return r;
	vm->cfg = *cfg;

	const void *img = cfg->guest_image ? cfg->guest_image : guest_stub_elf;
	size_t img_len = cfg->guest_image ? cfg->guest_image_len : guest_stub_elf_len;
	struct bootinfo bi = { .mem_size = cfg->mem_size, .ncpus = cfg->nvcpus, .workload = &vm->cfg.workload,
	                       .coverage_size = cfg->coverage_size };
	if (cfg->coverage_size > COWVM_COVERAGE_MAX || cfg->coverage_size % 4096) {
		vm_destroy(vm);
		return vmm_fail(e, -EINVAL, "coverage map size must be a multiple of 4 KiB up to %llu KiB",
		                COWVM_COVERAGE_MAX >> 10);
	}
	r = elf_load(img, img_len, &vm->mem, COWVM_GPA_IMAGE_MIN, cfg->mem_size - 2 * COWVM_IOBUF_SIZE,
	             &vm->image, e);
	r = r ?: build_layout(vm, &bi, e);
	r = r ?: bootinfo_write(&vm->mem, &bi, e);
	if (!r && x86_write_gdt_tss(&vm->mem, cfg->nvcpus))
		r = vmm_fail(e, -EINVAL, "cannot write GDT/TSS");
	vm->bootinfo_gpa = COWVM_GPA_BOOTINFO;
	vm->layout = (struct vm_layout){ bi.heap_base, bi.heap_size, bi.in_base, bi.in_size,
	                                 bi.out_base, bi.out_size };
	for (unsigned i = 0; !r && i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		struct kvm_sregs s;
		struct kvm_regs regs;
		r = KVM_IOCTL(v->fd, KVM_GET_SREGS, &s, e);
		if (r < 0)
			break;
		x86_init_sregs(&s, vm->paging.pt.root, i, cfg->nvcpus);
		x86_init_regs(&regs, vm->image.entry, vm->bootinfo_gpa, i);
		r = KVM_IOCTL(v->fd, KVM_SET_SREGS, &s, e);
		r = r < 0 ? r : KVM_IOCTL(v->fd, KVM_SET_REGS, &regs, e);
		r = r < 0 ? r : 0;
	}
	if (r) {
		vm_destroy(vm);
		return r;
	}
	*out = vm;
	return 0;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm_pool_forget(vm);
	/* The GPT before the snapshot: its domain belongs to the snapshot family. */
	if (vm->gpt)
		gpt_destroy(vm->gpt);
	snapshot_put(vm->snap);
	snapshot_put(vm->clean_for);
	pc_devices_destroy(vm);
	for (unsigned i = 0; i < COWVM_MAX_VCPUS; i++)
		if (vm->vcpus[i].fd >= 0)
			vcpu_destroy(&vm->vcpus[i]);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	guest_mem_free(&vm->mem);
	dirty_log_free(&vm->dlog);
	free(vm->cpuid);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int vm_result_report(const struct vm_result *r, const char *key, uint64_t *value)
{
	for (unsigned i = 0; i < r->nreports; i++)
		if (!strcmp(r->reports[i].key, key)) {
			*value = r->reports[i].value;
			return 0;
		}
	return -ENOENT;
}

const char *vm_vector_name(uint64_t v)
{
	static const char *const names[32] = {
		"#DE (divide error)", "#DB (debug)", "NMI", "#BP (breakpoint)", "#OF (overflow)",
		"#BR (bound range)", "#UD (invalid opcode)", "#NM (device not available)",
		"#DF (double fault)", "coprocessor segment overrun", "#TS (invalid TSS)",
		"#NP (segment not present)", "#SS (stack fault)", "#GP (general protection)",
		"#PF (page fault)", "reserved-15", "#MF (x87 error)", "#AC (alignment check)",
		"#MC (machine check)", "#XM (SIMD exception)", "#VE (virtualization)",
		"#CP (control protection)", "reserved-22", "reserved-23", "reserved-24",
		"reserved-25", "reserved-26", "reserved-27", "#HV (hypervisor injection)",
		"#VC (VMM communication)", "#SX (security)", "reserved-31",
	};
	return v < 32 ? names[v] : "unknown vector";
}

int vm_mark_dirty(void *arg, uint64_t gfn)
{
	struct vm *vm = arg;
	atomic_fetch_add(&vm->dirty_seen, 1);
	if (!vm->gpt)
		return 0;
	int r = gpt_write_fault(vm->gpt, gfn << 12, NULL);
	int none = 0;
	if (r)
		atomic_compare_exchange_strong(&vm->gpt_error, &none, r);
	return r;
}

int vm_harvest_dirty(struct vm *vm, struct vmm_err *e)
{
	int r = 0;
	if (vm->dlog.mode == DIRTY_BITMAP) {
		r = dirty_log_harvest_bitmap(&vm->dlog, vm_mark_dirty, vm, NULL, e);
	} else if (vm->dlog.mode == DIRTY_RING) {
		/* Every ring, then one VM-wide reset for all of them. */
		uint64_t n = 0;
		for (unsigned i = 0; !r && i < vm->nvcpus; i++)
			r = dirty_ring_collect(&vm->dlog, &vm->vcpus[i].ring, vm_mark_dirty, vm, &n, e);
		int x = dirty_log_reset_rings(&vm->dlog, n > 0, e);
		r = r ? r : x;
	}
	if (r > 0 || (r < 0 && atomic_load(&vm->gpt_error) == r))
		return vmm_fail(e, r > 0 ? -EIO : r, "applying a guest write to the GPT failed: %s",
		                strerror(r > 0 ? EIO : -r));
	return r;
}

int vm_guest_write(struct vm *vm, uint64_t gpa, const void *data, uint64_t len, struct vmm_err *e)
{
	uint8_t *p = gpa_ptr(&vm->mem, gpa, len);
	if (!p)
		return vmm_fail(e, -EFAULT, "guest range %#llx+%#llx is outside guest RAM",
		                (unsigned long long)gpa, (unsigned long long)len);
	/* Record first, then write: if the GPT cannot take the write (out of
	 * tables) guest memory is left as it was. */
	for (uint64_t pg = gpa >> 12; vm->gpt && len && pg <= (gpa + len - 1) >> 12; pg++) {
		int r = gpt_write_fault(vm->gpt, pg << 12, NULL);
		if (r)
			return vmm_fail(e, r, "recording a host write at %#llx in the GPT failed: %s",
			                (unsigned long long)(pg << 12), strerror(-r));
	}
	memcpy(p, data, len);
	return 0;
}

int vm_guest_read(struct vm *vm, uint64_t gpa, void *data, uint64_t len, struct vmm_err *e)
{
	const uint8_t *p = gpa_ptr(&vm->mem, gpa, len);
	if (!p)
		return vmm_fail(e, -EFAULT, "guest range %#llx+%#llx is outside guest RAM",
		                (unsigned long long)gpa, (unsigned long long)len);
	memcpy(data, p, len);
	return 0;
}

int vm_map_coverage(struct vm *vm, void *host, uint64_t size, struct vmm_err *e)
{
	if (!size || size % 4096 || size > COWVM_COVERAGE_MAX || (uintptr_t)host % 4096)
		return vmm_fail(e, -EINVAL, "coverage map must be 4 KiB aligned, 4 KiB..%llu KiB",
		                COWVM_COVERAGE_MAX >> 10);
	struct kvm_userspace_memory_region slot = {
		.slot = 1, .guest_phys_addr = COWVM_GPA_COVERAGE, .memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};
	int r = KVM_IOCTL(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot, e);
	if (r < 0)
		return r;
	vm->coverage_size = size; /* vm_release deletes the slot again */
	/* A Linux guest's agent learns where the map is from its info page. */
	if (vm->pc) {
		uint64_t cov[2] = { COWVM_GPA_COVERAGE, size };
		r = vm_guest_write(vm, COWVM_AGENT_GPA + offsetof(struct cowvm_agent_info, cov_gpa), cov,
		                   sizeof(cov), e);
		if (r)
			return r;
	}
	/* The slot is the caller's memory itself: the guest's stores land in
	 * the map. Nothing in the GPT stands for it (the GPT maps RAM frames
	 * only; entries here would be unrelated frames), and no reset touches
	 * it (reset walks RAM only): the caller clears the map between runs. */
	return 0;
}
