/*
 * pc_devices.h - the devices of the PC a Linux guest sees, and their port
 * dispatch: COM1 (16550A with IRQ 4), the ACPI sleep/reset registers and
 * the i8042 reset line (pc_power), the CMOS clock, and the ports a PC
 * kernel probes that have nothing behind them (PCI configuration, POST
 * port 0x80): reads return all-ones, writes are dropped. The interrupt
 * controllers and the PIT are KVM's (vm/linux_vm.c creates them).
 */
#ifndef COWVM_PC_DEVICES_H
#define COWVM_PC_DEVICES_H

#include <stdbool.h>

#include "cmos_rtc.h"
#include "pc_power.h"
#include "uart_16550.h"
#include "vm.h"

#define PC_PORT_POST      0x80
#define PC_PORT_PCI_FIRST 0xcf8 /* PCI configuration mechanism #1 (address, data) */
#define PC_PORT_PCI_LAST  0xcff

struct pc_machine {
	struct uart_16550 com1;
	bool com1_ready;          /* uart_init succeeded: destroy it */
	struct pc_power power;    /* touched only by vCPU threads under `lock` */
	struct cmos_rtc rtc;
	pthread_mutex_t lock;     /* serialises pc_power and the clock between vCPUs */
	int vm_fd;                /* KVM_IRQ_LINE for COM1's interrupt */
};

/* Create the devices of vm (vm->pc); console bytes go where vm's console
 * goes. */
int pc_devices_create(struct vm *vm, struct vmm_err *e);
void pc_devices_destroy(struct vm *vm);
/* End of a run: console bytes the UART still holds go out (no-op for
 * guest-stub VMs). */
void pc_devices_flush(struct vm *vm);
/* A port exit of a PC guest. *handled = false: not a PC port (the caller
 * tries the guest-stub devices: the hypercall port). */
enum vm_action pc_handle_io(struct vm *vm, struct vcpu *v, const struct vcpu_exit *x, bool *handled);

#endif
