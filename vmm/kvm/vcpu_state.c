/* vcpu_state.c - save and restore a vCPU's complete state (see vcpu_state.h). */
#include "vcpu_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "kvm_ioctl.h"

#define MSR_IA32_TSC 0x10 /* SDM Vol. 4, table 2-2 */

int msr_list_get(int kvm_fd, struct msr_list *l, struct vmm_err *e)
{
	struct {
		struct kvm_msr_list h;
		uint32_t index[VCPU_STATE_MAX_MSRS];
	} buf;
	memset(&buf, 0, sizeof(buf));
	buf.h.nmsrs = VCPU_STATE_MAX_MSRS;
	int r = KVM_IOCTL(kvm_fd, KVM_GET_MSR_INDEX_LIST, &buf, e);
	if (r < 0)
		return r;
	if (buf.h.nmsrs > VCPU_STATE_MAX_MSRS)
		return vmm_fail(e, -E2BIG, "KVM_GET_MSR_INDEX_LIST: %u MSRs, at most %d supported",
		                buf.h.nmsrs, VCPU_STATE_MAX_MSRS);
	l->n = buf.h.nmsrs;
	memcpy(l->index, buf.index, l->n * sizeof(uint32_t));
	return 0;
}

struct msrs_buf {
	struct kvm_msrs h;
	struct kvm_msr_entry e[VCPU_STATE_MAX_MSRS];
};

/* KVM_GET_MSRS / KVM_SET_MSRS return how many entries they processed, which
 * may be fewer than asked: the caller must look. */
static int msrs_ioctl(int fd, unsigned long req, const char *name, struct kvm_msr_entry *ent,
                      uint32_t n, struct vmm_err *e)
{
	struct msrs_buf b;
	memset(&b.h, 0, sizeof(b.h));
	b.h.nmsrs = n;
	memcpy(b.e, ent, n * sizeof(*ent));
	int r = kvm_ioctl_named(fd, req, &b, name, true, e);
	if (r >= 0 && req == KVM_GET_MSRS)
		memcpy(ent, b.e, (size_t)r * sizeof(*ent));
	return r;
}

static int save_msrs(int fd, const struct msr_list *l, struct vcpu_state *s, struct vmm_err *e)
{
	struct kvm_msr_entry ent[VCPU_STATE_MAX_MSRS];
	memset(ent, 0, sizeof(ent));
	for (uint32_t i = 0; i < l->n; i++)
		ent[i].index = l->index[i];
	int r = msrs_ioctl(fd, KVM_GET_MSRS, "KVM_GET_MSRS", ent, l->n, e);
	if (r < 0)
		return r;
	s->nmsrs = 0;
	if ((uint32_t)r == l->n) {
		memcpy(s->msrs, ent, l->n * sizeof(ent[0]));
		s->nmsrs = l->n;
		return 0;
	}
	/* Some MSR in the list is not readable on this vCPU: read them one by
	 * one and keep those that read (an unreadable one has no state). */
	for (uint32_t i = 0; i < l->n; i++) {
		struct kvm_msr_entry one = { .index = l->index[i] };
		r = msrs_ioctl(fd, KVM_GET_MSRS, "KVM_GET_MSRS", &one, 1, e);
		if (r < 0)
			return r;
		if (r == 1)
			s->msrs[s->nmsrs++] = one;
	}
	return 0;
}

static int restore_msrs(int fd, const struct vcpu_state *s, struct vmm_err *e)
{
	if (s->nmsrs > VCPU_STATE_MAX_MSRS)
		return vmm_fail(e, -EINVAL, "vCPU state has %u MSRs (at most %d)", s->nmsrs, VCPU_STATE_MAX_MSRS);
	struct kvm_msr_entry ent[VCPU_STATE_MAX_MSRS];
	memcpy(ent, s->msrs, s->nmsrs * sizeof(ent[0]));
	/* KVM_SET_MSRS stops at the first MSR it refuses and returns how many
	 * it set (seen here: a batch of 43 stops after 26). Go on in batches
	 * from the one after it. */
	for (uint32_t i = 0; i < s->nmsrs;) {
		int r = msrs_ioctl(fd, KVM_SET_MSRS, "KVM_SET_MSRS", &ent[i], s->nmsrs - i, e);
		if (r < 0)
			return r;
		i += (uint32_t)r;
		if (i == s->nmsrs)
			break;
		/* ent[i] was refused. Some MSRs cannot be written in every vCPU
		 * configuration (e.g. MSR_KVM_ASYNC_PF_INT needs an in-kernel LAPIC)
		 * although they read fine: if the vCPU already holds the saved
		 * value, nothing is lost. */
		struct kvm_msr_entry cur = { .index = ent[i].index };
		r = msrs_ioctl(fd, KVM_GET_MSRS, "KVM_GET_MSRS", &cur, 1, e);
		if (r < 0)
			return r;
		if (r != 1 || cur.data != ent[i].data)
			return vmm_fail(e, -EINVAL, "KVM_SET_MSRS rejected MSR %#x = %#llx", ent[i].index,
			                (unsigned long long)ent[i].data);
		i++;
	}
	return 0;
}

int vcpu_state_save(int fd, const struct msr_list *msrs, bool pc, struct vcpu_state *s,
                    struct vmm_err *e)
{
	memset(s, 0, sizeof(*s));
	if (pc) {
		int r = KVM_IOCTL(fd, KVM_GET_LAPIC, &s->lapic, e);
		int khz = r < 0 ? r : KVM_IOCTL(fd, KVM_GET_TSC_KHZ, 0, e);
		if (khz < 0)
			return khz;
		s->has_lapic = 1;
		s->tsc_khz = (uint32_t)khz;
	}
	int r = KVM_IOCTL(fd, KVM_GET_MP_STATE, &s->mp_state, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_GET_REGS, &s->regs, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_GET_SREGS, &s->sregs, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_GET_XSAVE, &s->xsave, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_GET_XCRS, &s->xcrs, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_GET_VCPU_EVENTS, &s->events, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_GET_DEBUGREGS, &s->debugregs, e);
	r = r < 0 ? r : save_msrs(fd, msrs, s, e);
	return r < 0 ? r : 0;
}

int vcpu_state_restore(int fd, const struct vcpu_state *s, struct vmm_err *e)
{
	/* The order QEMU uses: registers, extended state, system registers,
	 * the local APIC, MSRs (TSC and TSC_DEADLINE among them), then run
	 * state and pending events. The TSC frequency first, so the TSC MSR
	 * is taken at the saved rate. */
	struct kvm_vcpu_events ev = s->events;
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
	int r = 0;
	if (s->tsc_khz) {
		int khz = KVM_IOCTL(fd, KVM_GET_TSC_KHZ, 0, e);
		r = khz < 0 ? khz : 0;
		if (!r && (uint32_t)khz != s->tsc_khz)
			r = KVM_IOCTL(fd, KVM_SET_TSC_KHZ, (uintptr_t)s->tsc_khz, e);
	}
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_SET_REGS, &s->regs, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_SET_XSAVE, &s->xsave, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_SET_XCRS, &s->xcrs, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_SET_SREGS, &s->sregs, e);
	if (s->has_lapic)
		r = r < 0 ? r : KVM_IOCTL(fd, KVM_SET_LAPIC, &s->lapic, e);
	r = r < 0 ? r : restore_msrs(fd, s, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_SET_MP_STATE, &s->mp_state, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_SET_VCPU_EVENTS, &ev, e);
	r = r < 0 ? r : KVM_IOCTL(fd, KVM_SET_DEBUGREGS, &s->debugregs, e);
	return r < 0 ? r : 0;
}

int vcpu_state_restore_tsc(int fd, const struct vcpu_state *s, struct vmm_err *e)
{
	for (uint32_t i = 0; i < s->nmsrs && i < VCPU_STATE_MAX_MSRS; i++) {
		if (s->msrs[i].index != MSR_IA32_TSC)
			continue;
		uint64_t offset = s->msrs[i].data - __rdtsc();
		struct kvm_device_attr a = { .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
		                             .addr = (uintptr_t)&offset };
		int r = KVM_IOCTL(fd, KVM_SET_DEVICE_ATTR, &a, e);
		return r < 0 ? r : 0;
	}
	return 0;
}
