/* vcpu.c - vCPU creation and the KVM_RUN -> exit-enum conversion (see vcpu.h). */
#include "vcpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "fault_inject.h"
#include <unistd.h>

#include "kvm_ioctl.h"
#include "vcpu_fast.h"

int vcpu_create(struct vcpu *v, int vm_fd, unsigned index, size_t run_size,
                const struct kvm_cpuid2 *cpuid, struct vmm_err *e)
{
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->index = index;
	if (run_size < sizeof(struct kvm_run))
		return vmm_fail(e, -EINVAL, "KVM_GET_VCPU_MMAP_SIZE too small (%zu)", run_size);
	int fd = KVM_IOCTL(vm_fd, KVM_CREATE_VCPU, (unsigned long)index, e);
	if (fd < 0)
		return fd;
	v->fd = fd;
	void *run = vmm_mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run == MAP_FAILED) {
		int err = -errno;
		close(fd);
		v->fd = -1;
		return vmm_fail(e, err, "mmap of kvm_run for vCPU %u failed: %s", index, strerror(-err));
	}
	v->run = run;
	v->run_size = run_size;
	struct kvm_device_attr tsc = { .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET };
	v->tsc_offset_attr = ioctl(fd, KVM_HAS_DEVICE_ATTR, &tsc) == 0;
	int sync = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	v->sync_regs = sync > 0 && (sync & VCPU_SYNC_REGS_NEEDED) == VCPU_SYNC_REGS_NEEDED;
	if (cpuid) {
		int r = KVM_IOCTL(fd, KVM_SET_CPUID2, cpuid, e);
		if (r < 0) {
			vcpu_destroy(v);
			return r;
		}
	}
	return 0;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->has_tick_timer)
		timer_delete(v->tick_timer);
	v->has_tick_timer = false;
	if (v->plan)
		vcpu_fast_plan_free(v->plan);
	free(v->plan);
	v->plan = NULL;
	dirty_ring_unmap(&v->ring);
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

/* The data of a KVM_EXIT_IO inside kvm_run, or NULL if KVM's data_offset
 * and size * count would reach outside the mapping. */
static uint8_t *io_data(const struct vcpu *v)
{
	const struct kvm_run *run = v->run;
	if (run->io.data_offset > v->run_size ||
	    (uint64_t)run->io.size * run->io.count > v->run_size - run->io.data_offset)
		return NULL;
	return (uint8_t *)run + run->io.data_offset;
}

int vcpu_run(struct vcpu *v, struct vcpu_exit *x, struct vmm_err *e)
{
	memset(x, 0, sizeof(*x));
	/* EINTR/EAGAIN are not retried here: they are how the VM is kicked
	 * (timeout, another vCPU stopping the VM) and the caller must look. */
	int r = kvm_ioctl_named(v->fd, KVM_RUN, NULL, "KVM_RUN", false, e);
	if (r < 0) {
		if (r == -EINTR || r == -EAGAIN) {
			/* KVM completes pending I/O before it looks at signals
			 * or immediate_exit, so nothing is pending now. */
			v->io_pending = false;
			x->kind = VCPU_EXIT_INTR;
			if (e)
				e->code = 0;
			return 0;
		}
		return r; /* io_pending stays as it was: a drain will try again */
	}
	struct kvm_run *run = v->run;
	v->io_pending = run->exit_reason == KVM_EXIT_IO || run->exit_reason == KVM_EXIT_MMIO;
	x->raw_reason = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		x->kind = VCPU_EXIT_IO;
		x->io.port = run->io.port;
		x->io.size = run->io.size;
		x->io.out = run->io.direction == KVM_EXIT_IO_OUT;
		x->io.count = run->io.count;
		/* data_offset is KVM's, but check it stays inside the mapping. */
		x->io.data = io_data(v);
		if (!x->io.data)
			return vmm_fail(e, -EIO, "KVM_EXIT_IO data outside kvm_run");
		break;
	case KVM_EXIT_MMIO:
		x->kind = VCPU_EXIT_MMIO;
		x->mmio.gpa = run->mmio.phys_addr;
		x->mmio.len = run->mmio.len > 8 ? 8 : run->mmio.len;
		x->mmio.write = run->mmio.is_write;
		x->mmio.data = run->mmio.data;
		break;
	case KVM_EXIT_HLT:
		x->kind = VCPU_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		x->kind = VCPU_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		x->kind = VCPU_EXIT_FAIL_ENTRY;
		x->hw_reason = run->fail_entry.hardware_entry_failure_reason;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		x->kind = VCPU_EXIT_INTERNAL_ERROR;
		x->suberror = run->internal.suberror;
		break;
	case KVM_EXIT_INTR:
		x->kind = VCPU_EXIT_INTR;
		break;
	case KVM_EXIT_DIRTY_RING_FULL:
		x->kind = VCPU_EXIT_DIRTY_RING_FULL;
		break;
	default:
		x->kind = VCPU_EXIT_UNKNOWN;
		break;
	}
	return 0;
}

const char *vcpu_exit_name(enum vcpu_exit_kind k)
{
	static const char *const names[] = {
		[VCPU_EXIT_IO] = "IO", [VCPU_EXIT_MMIO] = "MMIO", [VCPU_EXIT_HLT] = "HLT",
		[VCPU_EXIT_SHUTDOWN] = "SHUTDOWN", [VCPU_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
		[VCPU_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR", [VCPU_EXIT_INTR] = "INTR",
		[VCPU_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL", [VCPU_EXIT_UNKNOWN] = "UNKNOWN",
	};
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

/* Upper bound on fragments of one instruction: an MMIO access is split into
 * at most a few 8-byte fragments and string I/O exits once per KVM page of
 * data; anything beyond means the vCPU is not converging. */
#define DRAIN_MAX_EXITS 1024

int vcpu_drain_io(struct vcpu *v, struct vmm_err *e)
{
	struct kvm_run *run = v->run;
	/* Registers handed over in kvm_run are applied by KVM_RUN before it
	 * completes pending I/O (kvm_arch_vcpu_ioctl_run: sync_regs first):
	 * the same order as the guest's next entry would take, and KVM clears
	 * kvm_dirty_regs once they are in. */
	for (unsigned i = 0; v->io_pending || run->kvm_dirty_regs; i++) {
		if (i == DRAIN_MAX_EXITS)
			return vmm_fail(e, -EIO, "vCPU %u: pending I/O did not complete after %u exits",
			                v->index, DRAIN_MAX_EXITS);
		/* Unbacked memory's answer for a read fragment KVM asks for. */
		bool io = v->io_pending;
		if (io && run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
		else if (io && run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN && io_data(v))
			memset(io_data(v), 0xff, (size_t)run->io.size * run->io.count);
		/* immediate_exit: KVM finishes the pending instruction (or asks
		 * for its next fragment) and returns -EINTR before guest code. */
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_RELAXED);
		int r = kvm_ioctl_named(v->fd, KVM_RUN, NULL, "KVM_RUN (complete pending I/O)", false, e);
		__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_RELAXED);
		if (r == -EINTR || r == -EAGAIN) {
			v->io_pending = false;
		} else if (r < 0) {
			return r;
		} else {
			v->io_pending = run->exit_reason == KVM_EXIT_IO || run->exit_reason == KVM_EXIT_MMIO;
			if (!v->io_pending)
				return vmm_fail(e, -EIO, "vCPU %u: KVM exit %u while completing pending I/O",
				                v->index, run->exit_reason);
		}
	}
	if (e)
		e->code = 0;
	return 0;
}
