/* kvm_ioctl.c - checked KVM ioctl wrapper (see kvm_ioctl.h). */
#include "kvm_ioctl.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "fault_inject.h"

int kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name,
                    bool retry_eintr, struct vmm_err *e)
{
	if (fault_inject_hit(FAULT_KVM_IOCTL))
		return vmm_fail(e, -EIO, "%s failed: injected failure", name);
	for (;;) {
		int r = ioctl(fd, req, arg);
		if (r >= 0)
			return r;
		int err = errno;
		if (retry_eintr && (err == EINTR || err == EAGAIN))
			continue;
		return vmm_fail(e, -err, "%s failed: %s", name, strerror(err));
	}
}

int kvm_check_cap(int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
	return r > 0 ? r : 0;
}
