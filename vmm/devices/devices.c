/*
 * devices.c - port I/O devices: the COM1 console (16550 data and line-status
 * registers only) and the hypercall port with its handler table. Everything
 * the guest sends is untrusted: addresses go through gpa_ptr(), lengths are
 * capped, and the hypercall block is copied once before use.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "pc_devices.h"
#include "vm.h"

#define COM1_LSR (COWVM_COM1_PORT + 5)
#define LSR_THRE_TEMT 0x60 /* transmitter empty: polled drivers may send */

void vm_console_write(struct vm *vm, const char *buf, size_t len)
{
	if (vm->cfg.console) {
		vm->cfg.console(vm->cfg.console_ctx, buf, len);
		return;
	}
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* stdout gone: drop console output, keep the VM */
		buf += n;
		len -= (size_t)n;
	}
}

/* A handler gets the copied block and the guest address it came from. */
typedef enum vm_action (*hc_fn)(struct vm *vm, struct vcpu *v, struct cowvm_hcall *hc, uint64_t gpa);

static enum vm_action hc_write(struct vm *vm, struct vcpu *v, struct cowvm_hcall *hc, uint64_t gpa)
{
	(void)gpa;
	(void)v;
	if (hc->args[1] > COWVM_HC_WRITE_MAX) {
		hc->ret = -E2BIG;
		return VM_CONTINUE;
	}
	const char *p = gpa_ptr(&vm->mem, hc->args[0], hc->args[1]);
	if (!p) {
		hc->ret = -EFAULT;
		return VM_CONTINUE;
	}
	vm_console_write(vm, p, hc->args[1]);
	hc->ret = 0;
	return VM_CONTINUE;
}

static enum vm_action hc_exit(struct vm *vm, struct vcpu *v, struct cowvm_hcall *hc, uint64_t gpa)
{
	(void)gpa;
	uint64_t s = hc->args[0];
	int status = s > 200 ? 200 : (int)s; /* 201.. are the VMM's own codes */
	vm_stop(vm, VM_END_EXIT, status, NULL, "guest exited with status %d (vCPU %u)", status, v->index);
	return VM_STOP;
}

static enum vm_action hc_exception(struct vm *vm, struct vcpu *v, struct cowvm_hcall *hc, uint64_t gpa)
{
	(void)gpa;
	struct vm_exception x = { hc->args[0], hc->args[1], hc->args[2], hc->args[3], hc->args[4] };
	vm_stop(vm, VM_END_EXCEPTION, 0, &x,
	        "guest exception %s vector=%llu on vCPU %u: rip=%#llx cr2=%#llx error=%#llx rflags=%#llx",
	        vm_vector_name(x.vector), (unsigned long long)x.vector, v->index, (unsigned long long)x.rip,
	        (unsigned long long)x.cr2, (unsigned long long)x.error_code,
	        (unsigned long long)x.rflags);
	return VM_STOP;
}

static enum vm_action hc_report(struct vm *vm, struct vcpu *v, struct cowvm_hcall *hc, uint64_t gpa)
{
	(void)gpa;
	(void)v;
	const char *k = gpa_ptr(&vm->mem, hc->args[0], 1);
	uint64_t avail = k ? vm->mem.size - hc->args[0] : 0;
	size_t n = k ? strnlen(k, avail < COWVM_HC_KEY_MAX ? avail : COWVM_HC_KEY_MAX) : 0;
	if (!k || n == 0 || n == COWVM_HC_KEY_MAX || n == avail) {
		hc->ret = -EINVAL;
		return VM_CONTINUE;
	}
	pthread_mutex_lock(&vm->lock);
	struct vm_result *r = &vm->result;
	unsigned i;
	for (i = 0; i < r->nreports; i++)
		if (!strncmp(r->reports[i].key, k, n) && !r->reports[i].key[n])
			break;
	if (i == VM_MAX_REPORTS) {
		hc->ret = -ENOSPC;
	} else {
		memcpy(r->reports[i].key, k, n);
		r->reports[i].key[n] = 0;
		r->reports[i].value = hc->args[1];
		if (i == r->nreports)
			r->nreports++;
		hc->ret = 0;
	}
	pthread_mutex_unlock(&vm->lock);
	return VM_CONTINUE;
}

static enum vm_action hc_park(struct vm *vm, struct vcpu *v, struct cowvm_hcall *hc, uint64_t gpa)
{
	(void)gpa;
	(void)vm, (void)v;
	hc->ret = 0;
	return VM_PARK;
}

/* The guest asks for a snapshot of itself here. With cfg.snapshots the run
 * ends (VM_END_SNAPSHOT) and the caller takes it; `ret` is 0 now, which is
 * what the original sees when it runs on, and each clone gets its number
 * written over it (snapshot.h). Without, the guest hears -ENOSYS. */
static enum vm_action hc_snapshot(struct vm *vm, struct vcpu *v, struct cowvm_hcall *hc, uint64_t gpa)
{
	if (!vm->cfg.snapshots) {
		hc->ret = -ENOSYS;
		return VM_CONTINUE;
	}
	hc->ret = 0;
	vm->snap_hc_gpa = gpa;
	vm_stop(vm, VM_END_SNAPSHOT, 0, NULL, "guest asked for a snapshot (vCPU %u)", v->index);
	return VM_STOP;
}

/* Fuzz-target events: only an abort so far (SIGABRT for the fuzzer). */
static enum vm_action hc_fuzz(struct vm *vm, struct vcpu *v, struct cowvm_hcall *hc, uint64_t gpa)
{
	(void)gpa;
	if (hc->args[0] != COWVM_FUZZ_ABORT) {
		hc->ret = -EINVAL;
		return VM_CONTINUE;
	}
	hc->ret = 0;
	vm_stop(vm, VM_END_ABORT, 0, NULL, "guest target aborted (vCPU %u)", v->index);
	return VM_STOP;
}

/* The hypercall table. */
static const hc_fn hc_table[] = {
	[COWVM_HC_WRITE] = hc_write,
	[COWVM_HC_EXIT] = hc_exit,
	[COWVM_HC_EXCEPTION] = hc_exception,
	[COWVM_HC_REPORT] = hc_report,
	[COWVM_HC_PARK] = hc_park,
	[COWVM_HC_SNAPSHOT] = hc_snapshot,
	[COWVM_HC_FUZZ] = hc_fuzz,
};

static enum vm_action hypercall(struct vm *vm, struct vcpu *v, uint64_t gpa)
{
	/* Copy once: other vCPUs may rewrite the block while we look at it. */
	struct cowvm_hcall hc;
	struct vmm_err err;
	if ((gpa & 7) || vm_guest_read(vm, gpa, &hc, sizeof(hc), &err)) {
		vm_stop(vm, VM_END_ERROR, 0, NULL, "bad hypercall block address %#llx from vCPU %u",
		        (unsigned long long)gpa, v->index);
		return VM_STOP;
	}
	enum vm_action a = VM_CONTINUE;
	hc_fn fn = hc.nr < sizeof(hc_table) / sizeof(hc_table[0]) ? hc_table[hc.nr] : NULL;
	if (fn)
		a = fn(vm, v, &hc, gpa);
	else
		hc.ret = -ENOSYS;
	/* `ret` goes back through the tracked write path like every VMM write
	 * into guest RAM: the block may sit on a page the guest itself never
	 * writes (boot info, page tables, text), and an untracked write there
	 * would survive a reset into the next clone on this shell. */
	if (vm_guest_write(vm, gpa + offsetof(struct cowvm_hcall, ret), &hc.ret, sizeof(hc.ret), &err)) {
		vm_stop(vm, VM_END_ERROR, 0, NULL, "vCPU %u: hypercall result not written: %s", v->index, err.msg);
		return VM_STOP;
	}
	return a;
}

enum vm_action vm_handle_mmio(struct vm *vm, struct vcpu *v, const struct vcpu_exit *x)
{
	if (x->mmio.gpa == COWVM_GPA_DOORBELL && x->mmio.write && x->mmio.len == 4) {
		uint32_t gpa;
		memcpy(&gpa, x->mmio.data, 4);
		return hypercall(vm, v, gpa);
	}
	/* No other MMIO devices: reads see all-ones, writes are dropped. */
	if (!x->mmio.write)
		memset(x->mmio.data, 0xff, x->mmio.len);
	vm->mmio_exits++;
	return VM_CONTINUE;
}

enum vm_action vm_handle_io(struct vm *vm, struct vcpu *v, const struct vcpu_exit *x)
{
	uint16_t port = x->io.port;
	if (vm->pc) {
		bool handled;
		enum vm_action a = pc_handle_io(vm, v, x, &handled);
		if (handled)
			return a;
	}
	if (port >= COWVM_HC_PORT && port <= COWVM_HC_PORT_END) {
		if (x->io.out && port == COWVM_HC_PORT && x->io.size == 4 && x->io.count == 1) {
			uint32_t gpa;
			memcpy(&gpa, x->io.data, 4);
			return hypercall(vm, v, gpa);
		}
		if (!x->io.out)
			memset(x->io.data, 0xff, (size_t)x->io.size * x->io.count);
		return VM_CONTINUE; /* other widths/ports in the range: ignored */
	}
	if (port == COWVM_COM1_PORT && x->io.out) {
		/* rep outsb sends count bytes; wider OUTs send their low byte. */
		for (uint32_t i = 0; i < x->io.count; i++)
			vm_console_write(vm, (const char *)x->io.data + (size_t)i * x->io.size, 1);
		return VM_CONTINUE;
	}
	if (!x->io.out) {
		uint8_t val = port == COM1_LSR ? LSR_THRE_TEMT : 0xff;
		memset(x->io.data, val, (size_t)x->io.size * x->io.count);
	}
	vm->unknown_io++;
	return VM_CONTINUE;
}
