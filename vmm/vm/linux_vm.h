/*
 * linux_vm.h - a VM that boots Linux: the PC machine (KVM's irqchip, PIT
 * and TSS/identity-map addresses; ACPI tables; COM1, power and clock
 * devices) and the bzImage loaded for the 64-bit entry. vm_create() calls
 * vm_create_linux() when the config names a kernel. docs/linux-guests.md.
 */
#ifndef COWVM_LINUX_VM_H
#define COWVM_LINUX_VM_H

#include "vm.h"

/* What `cowvm run --kernel` uses without --cmdline: the console on COM1,
 * few console bytes (each is an exit), no reboot loop after a panic, and
 * no PCI probe (there is no PCI host bridge; without pci=off the kernel
 * logs "PCI: Fatal: No config space access function found"). */
#define PC_DEFAULT_CMDLINE "console=ttyS0 quiet panic=-1 pci=off"
#define PC_DEFAULT_MEM (256ull << 20)

/* KVM's PC pieces, before any vCPU exists: TSS and identity-map pages
 * (VMX real-mode support; harmless elsewhere), in-kernel PIC + IOAPIC +
 * local APICs, and the PIT. */
int pc_chipset_create(struct vm *vm, struct vmm_err *e);
/* Boot cfg->kernel: parse and plan first (a bad image, initrd or command
 * line fails with -EINVAL before any KVM object exists), then the PC, the
 * boot data in RAM, and vCPU 0 at the 64-bit entry; the other vCPUs wait
 * for the kernel's INIT/SIPI. */
int vm_create_linux(const struct vm_config *cfg, struct vm **out, struct vmm_err *e);

#endif
