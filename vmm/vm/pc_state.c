/* pc_state.c - machine state of a PC guest for snapshots (see pc_state.h). */
#include "pc_state.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "kvm_ioctl.h"
#include "pc_devices.h"

/* The three in-kernel interrupt controllers, in KVM's chip_id order. */
static int get_chips(struct vm *vm, struct pc_state *s, struct vmm_err *e)
{
	struct kvm_irqchip *c[3] = { &s->pic_master, &s->pic_slave, &s->ioapic };
	for (uint32_t id = 0; id < 3; id++) {
		c[id]->chip_id = id; /* KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE, _IOAPIC */
		int r = KVM_IOCTL(vm->vm_fd, KVM_GET_IRQCHIP, c[id], e);
		if (r < 0)
			return r;
	}
	return 0;
}

int pc_state_save(struct vm *vm, struct pc_state *s, struct vmm_err *e)
{
	if (!vm->pc)
		return vmm_fail(e, -EINVAL, "not a PC guest");
	memset(s, 0, sizeof(*s));
	int r = get_chips(vm, s, e);
	if (!r) {
		int x = KVM_IOCTL(vm->vm_fd, KVM_GET_PIT2, &s->pit, e);
		r = x < 0 ? x : 0;
	}
	if (r)
		return r;
	uart_save(&vm->pc->com1, &s->com1);
	pthread_mutex_lock(&vm->pc->lock);
	s->power = vm->pc->power;
	s->rtc = vm->pc->rtc;
	pthread_mutex_unlock(&vm->pc->lock);
	return 0;
}

int pc_state_restore(struct vm *vm, const struct pc_state *s, struct vmm_err *e)
{
	if (!vm->pc)
		return vmm_fail(e, -EINVAL, "a PC snapshot needs a PC shell");
	if (s->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER || s->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
	    s->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		return vmm_fail(e, -EINVAL, "PC state: interrupt controller ids %u/%u/%u, want 0/1/2",
		                s->pic_master.chip_id, s->pic_slave.chip_id, s->ioapic.chip_id);
	struct kvm_irqchip c[3] = { s->pic_master, s->pic_slave, s->ioapic };
	int r = 0;
	for (int i = 0; !r && i < 3; i++) {
		int x = KVM_IOCTL(vm->vm_fd, KVM_SET_IRQCHIP, &c[i], e);
		r = x < 0 ? x : 0;
	}
	if (!r) {
		struct kvm_pit_state2 pit = s->pit;
		int x = KVM_IOCTL(vm->vm_fd, KVM_SET_PIT2, &pit, e);
		r = x < 0 ? x : 0;
	}
	if (!r && uart_restore(&vm->pc->com1, &s->com1))
		r = vmm_fail(e, -EINVAL, "PC state: COM1 receive count %u out of range", s->com1.rx_count);
	if (r)
		return r;
	pthread_mutex_lock(&vm->pc->lock);
	vm->pc->power = s->power;
	vm->pc->rtc = s->rtc;
	pthread_mutex_unlock(&vm->pc->lock);
	return 0;
}

int pc_kvmclock_paused(struct vm *vm, struct vmm_err *e)
{
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vmm_err ignored;
		int r = KVM_IOCTL(vm->vcpus[i].fd, KVM_KVMCLOCK_CTRL, 0, &ignored);
		if (r < 0 && r != -EINVAL)
			return vmm_fail(e, r, "%s", ignored.msg);
	}
	return 0;
}

int pc_agent_info_write(struct vm *vm, uint64_t clone_id, uint64_t generation, struct vmm_err *e)
{
	struct cowvm_agent_info info = {
		.magic = COWVM_AGENT_MAGIC, .version = COWVM_AGENT_VERSION, .ncpus = vm->nvcpus,
		.in_gpa = COWVM_AGENT_IN_GPA, .in_size = COWVM_IOBUF_SIZE,
		.out_gpa = COWVM_AGENT_OUT_GPA, .out_size = COWVM_IOBUF_SIZE,
		.clone_id = clone_id, .generation = generation,
		/* The AFL map once vm_map_coverage attached it (it patches the
		 * page then: a clone's map is attached after its restore). */
		.cov_gpa = vm->coverage_size ? COWVM_GPA_COVERAGE : 0, .cov_size = vm->coverage_size,
	};
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	info.host_realtime_ns = (int64_t)now.tv_sec * 1000000000ll + now.tv_nsec;
	if (getrandom(info.random, sizeof(info.random), 0) != (ssize_t)sizeof(info.random))
		return vmm_fail(e, -EIO, "getrandom for the agent info page failed");
	return vm_guest_write(vm, COWVM_AGENT_GPA, &info, sizeof(info), e);
}
