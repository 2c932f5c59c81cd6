/* pc_devices.c - the PC's port devices and their dispatch (see pc_devices.h). */
#include "pc_devices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvm_ioctl.h"
#include "pc_layout.h"

/* COM1's interrupt output drives ISA IRQ 4; KVM routes it to the PIC and
 * the IOAPIC (edge-triggered for the guest: a 0->1 change is the edge).
 * Called by the UART without its lock held (uart_16550.h), from whichever
 * thread changed the line: KVM_IRQ_LINE is a VM ioctl and thread-safe. */
static void com1_irq(void *ctx, int level)
{
	struct pc_machine *pc = ctx;
	struct kvm_irq_level l = { .irq = PC_IRQ_COM1, .level = (uint32_t)level };
	(void)KVM_IOCTL(pc->vm_fd, KVM_IRQ_LINE, &l, NULL);
}

static void com1_tx(void *ctx, const char *buf, size_t n)
{
	vm_console_write(ctx, buf, n);
}

int pc_devices_create(struct vm *vm, struct vmm_err *e)
{
	struct pc_machine *pc = calloc(1, sizeof(*pc));
	if (!pc)
		return vmm_fail(e, -ENOMEM, "out of memory for the PC devices");
	pc->vm_fd = vm->vm_fd;
	pthread_mutex_init(&pc->lock, NULL);
	pc_power_init(&pc->power);
	vm->pc = pc;
	int r = uart_init(&pc->com1, com1_irq, pc, com1_tx, vm);
	if (r)
		return vmm_fail(e, r, "cannot create the COM1 UART: %s", strerror(-r));
	pc->com1_ready = true;
	return 0;
}

void pc_devices_destroy(struct vm *vm)
{
	struct pc_machine *pc = vm->pc;
	if (!pc)
		return;
	if (pc->com1_ready)
		uart_destroy(&pc->com1);
	pthread_mutex_destroy(&pc->lock);
	free(pc);
	vm->pc = NULL;
}

void pc_devices_flush(struct vm *vm)
{
	if (vm->pc && vm->pc->com1_ready)
		uart_flush_output(&vm->pc->com1);
}

/* One byte-wide access to a PC port; false if no PC device is there. */
static bool pc_port(struct vm *vm, struct vcpu *v, uint16_t port, bool write, uint8_t *val,
                    enum vm_action *act)
{
	struct pc_machine *pc = vm->pc;
	if (port >= PC_PORT_COM1 && port < PC_PORT_COM1 + 8) {
		if (write)
			uart_write(&pc->com1, port - PC_PORT_COM1, *val);
		else
			*val = uart_read(&pc->com1, port - PC_PORT_COM1);
		return true;
	}
	enum pc_power_event ev = PC_POWER_NONE;
	pthread_mutex_lock(&pc->lock);
	bool mine = pc_power_io(&pc->power, port, write, val, &ev) ||
	            cmos_rtc_io(&pc->rtc, port, write, val, time(NULL));
	pthread_mutex_unlock(&pc->lock);
	if (ev == PC_POWER_OFF) {
		vm_stop(vm, VM_END_POWEROFF, 0, NULL, "guest powered off (ACPI S5, vCPU %u)", v->index);
		*act = VM_STOP;
	} else if (ev == PC_POWER_RESET) {
		vm_stop(vm, VM_END_REBOOT, 0, NULL, "guest asked for a reset (port %#x, vCPU %u)", port, v->index);
		*act = VM_STOP;
	}
	if (mine)
		return true;
	if (port == PC_PORT_POST || (port >= PC_PORT_PCI_FIRST && port <= PC_PORT_PCI_LAST)) {
		if (!write)
			*val = 0xff; /* no PCI host bridge: configuration reads float high */
		return true;
	}
	return false;
}

enum vm_action pc_handle_io(struct vm *vm, struct vcpu *v, const struct vcpu_exit *x, bool *handled)
{
	enum vm_action act = VM_CONTINUE;
	/* Every byte of the access in order: string I/O repeats `count` times,
	 * a wider access covers consecutive ports (an OUTW to 0x3f8 writes the
	 * THR and the IER, as on hardware with an 8-bit bus). */
	size_t n = (size_t)x->io.size * x->io.count;
	*handled = true;
	for (size_t i = 0; i < n && act == VM_CONTINUE; i++) {
		uint16_t port = (uint16_t)(x->io.port + i % x->io.size);
		if (!pc_port(vm, v, port, x->io.out, &x->io.data[i], &act)) {
			if (i == 0) {
				*handled = false; /* not a PC port: the caller decides */
				return VM_CONTINUE;
			}
			if (!x->io.out)
				x->io.data[i] = 0xff;
		}
	}
	return act;
}
