/* linux_vm.c - create a VM that boots a Linux bzImage (see linux_vm.h). */
#include "linux_vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi_tables.h"
#include "kvm_ioctl.h"
#include "linux_boot.h"
#include "pc_cpu.h"
#include "pc_devices.h"
#include "pc_layout.h"
#include "pc_state.h"

/* The identity map covers the low 4 GiB: all RAM (PC_MEM_MAX) and the
 * boot data; the kernel replaces it with its own tables at once. */
#define PC_IDENTITY_MAP_END (4ull << 30)

int pc_chipset_create(struct vm *vm, struct vmm_err *e)
{
	int r = KVM_IOCTL(vm->vm_fd, KVM_SET_TSS_ADDR, (uintptr_t)PC_GPA_KVM_TSS, e);
	if (r < 0)
		return r;
	if (kvm_check_cap(vm->kvm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR)) {
		uint64_t idmap = PC_GPA_KVM_IDMAP;
		r = KVM_IOCTL(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap, e);
		if (r < 0)
			return r;
	}
	if (!kvm_check_cap(vm->kvm_fd, KVM_CAP_IRQCHIP) || !kvm_check_cap(vm->kvm_fd, KVM_CAP_PIT2))
		return vmm_fail(e, -ENOTSUP, "KVM lacks the in-kernel irqchip or PIT a Linux guest needs");
	r = KVM_IOCTL(vm->vm_fd, KVM_CREATE_IRQCHIP, 0, e);
	if (r < 0)
		return r;
	struct kvm_pit_config pit = { .flags = 0 };
	r = KVM_IOCTL(vm->vm_fd, KVM_CREATE_PIT2, &pit, e);
	return r < 0 ? r : 0;
}

static int check_pc_config(const struct vm_config *cfg, struct vmm_err *e)
{
	if (cfg->mem_size > PC_MEM_MAX)
		return vmm_fail(e, -EINVAL, "a Linux guest's memory must be at most %llu MiB (RAM ends below the 32-bit MMIO hole)",
		                PC_MEM_MAX >> 20);
	if (cfg->guest_image)
		return vmm_fail(e, -EINVAL, "a guest image and a kernel cannot be booted together");
	return 0;
}

/* vCPU set-up: every vCPU's local APIC in virtual-wire mode and its boot
 * MSRs; vCPU 0 (the BSP) at the 64-bit entry. The others stay in KVM's
 * wait-for-SIPI state that an in-kernel irqchip gives non-BSP vCPUs. */
static int setup_vcpus(struct vm *vm, const struct linux_boot_plan *plan, struct vmm_err *e)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry ent[PC_BOOT_MSRS];
	} msrs;
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		struct kvm_lapic_state lapic;
		int r = KVM_IOCTL(v->fd, KVM_GET_LAPIC, &lapic, e);
		if (r < 0)
			return r;
		pc_lapic_virtual_wire(&lapic);
		r = KVM_IOCTL(v->fd, KVM_SET_LAPIC, &lapic, e);
		if (r < 0)
			return r;
		pc_boot_msrs(&msrs.h);
		r = KVM_IOCTL(v->fd, KVM_SET_MSRS, &msrs, e);
		if (r < 0)
			return r;
		if ((unsigned)r != PC_BOOT_MSRS)
			return vmm_fail(e, -EIO, "KVM_SET_MSRS set %d of %d boot MSRs (MSR %#x refused) on vCPU %u", r,
			                PC_BOOT_MSRS, msrs.ent[r].index, i);
		if (i)
			continue;
		struct kvm_sregs s;
		struct kvm_regs regs;
		r = KVM_IOCTL(v->fd, KVM_GET_SREGS, &s, e);
		if (r < 0)
			return r;
		pc_init_sregs(&s, vm->paging.pt.root);
		pc_init_regs(&regs, plan->entry64, plan->zero_page_gpa);
		r = KVM_IOCTL(v->fd, KVM_SET_SREGS, &s, e);
		r = r < 0 ? r : KVM_IOCTL(v->fd, KVM_SET_REGS, &regs, e);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * The reset vector (F000:FFF0, real mode). No BIOS runs here, but Linux
 * jumps to it when its other restart methods did not work: with
 * hardware-reduced ACPI its reboot order is EFI (none here), then this
 * "BIOS" restart. What a PC's firmware would do there is reset the
 * machine, so the stub asks for a reset through the ACPI reset register
 * (pc_power) and halts:
 *   BA 02 06   mov dx, PC_PORT_ACPI_RESET
 *   B0 01      mov al, PC_ACPI_RESET_VALUE
 *   EE         out dx, al
 *   F4         hlt
 *   EB FD      jmp short -3 (back to hlt)
 */
static int write_reset_vector(struct guest_mem *mem, struct vmm_err *e)
{
	const uint8_t stub[] = { 0xba, PC_PORT_ACPI_RESET & 0xff, PC_PORT_ACPI_RESET >> 8,
	                         0xb0, PC_ACPI_RESET_VALUE, 0xee, 0xf4, 0xeb, 0xfd };
	uint8_t *p = gpa_ptr(mem, PC_GPA_RESET_VECTOR, 16);
	if (!p)
		return vmm_fail(e, -EINVAL, "guest RAM too small for the reset vector");
	memset(p, 0xf4, 16);
	memcpy(p, stub, sizeof(stub));
	return 0;
}

/* Boot data in guest RAM: kernel, initrd, command line, zero page (the
 * boot-protocol code), ACPI tables, the reset vector, the boot GDT and the
 * identity map. */
static int load_boot_data(struct vm *vm, const struct vm_config *cfg, const struct linux_kernel *k,
                          const char *cmdline, struct linux_boot_plan *plan, struct vmm_err *e)
{
	int r = linux_boot_load(&vm->mem, k, cmdline, cfg->initrd, cfg->initrd_len, plan, e);
	if (r)
		return r;
	uint8_t *acpi = gpa_ptr(&vm->mem, PC_GPA_ACPI, PC_ACPI_MAX);
	size_t used;
	r = acpi ? acpi_build(acpi, PC_ACPI_MAX, PC_GPA_ACPI, vm->nvcpus, &used, e)
	         : vmm_fail(e, -EINVAL, "guest RAM too small for the ACPI tables");
	r = r ?: write_reset_vector(&vm->mem, e);
	r = r ?: pc_write_boot_gdt(&vm->mem, e);
	r = r ?: guest_paging_init(&vm->paging, &vm->mem, e);
	r = r ?: guest_paging_map(&vm->paging, 0, PC_IDENTITY_MAP_END, PTE_RW, e);
	return r;
}

int vm_create_linux(const struct vm_config *cfg, struct vm **out, struct vmm_err *e)
{
	*out = NULL;
	const char *cmdline = cfg->cmdline ? cfg->cmdline : PC_DEFAULT_CMDLINE;
	struct linux_kernel k;
	struct linux_boot_plan plan;
	/* Every check of the inputs before any KVM object exists. */
	int r = check_pc_config(cfg, e);
	r = r ?: linux_kernel_parse(cfg->kernel, cfg->kernel_len, &k, e);
	r = r ?: linux_boot_plan(&k, cfg->mem_size, strlen(cmdline), cfg->initrd ? cfg->initrd_len : 0, &plan, e);
	if (r)
		return r;
	struct vm *vm;
	r = vm_create_machine(cfg->mem_size, cfg->nvcpus, DIRTY_OFF, -1, true, &vm, e);
	if (r)
		return r;
	vm->cfg = *cfg;
	/* Not owned: the caller's kernel, initrd and command line need not
	 * outlive vm_create (they are in guest RAM now). */
	vm->cfg.kernel = vm->cfg.initrd = NULL;
	vm->cfg.kernel_len = vm->cfg.initrd_len = 0;
	vm->cfg.cmdline = NULL;
	/* What snapshots and `cowvm stats` call the guest. */
	memset(&vm->cfg.workload, 0, sizeof(vm->cfg.workload));
	snprintf(vm->cfg.workload.name, sizeof(vm->cfg.workload.name), "linux");
	r = pc_devices_create(vm, e);
	r = r ?: load_boot_data(vm, cfg, &k, cmdline, &plan, e);
	r = r ?: setup_vcpus(vm, &plan, e);
	/* The guest agent's buffers (abi/cowvm_abi.h): `cowvm clone --input`
	 * writes requests there; its info page says it runs under cowvm. */
	vm->layout = (struct vm_layout){ .in_base = COWVM_AGENT_IN_GPA, .in_size = COWVM_IOBUF_SIZE,
	                                 .out_base = COWVM_AGENT_OUT_GPA, .out_size = COWVM_IOBUF_SIZE };
	r = r ?: pc_agent_info_write(vm, 0, 0, e);
	if (r) {
		vm_destroy(vm);
		return r;
	}
	*out = vm;
	return 0;
}
