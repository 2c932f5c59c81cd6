/*
 * kvm_ioctl.h - the one place KVM ioctls are issued. Every call goes through
 * kvm_ioctl(), which retries EINTR/EAGAIN (except KVM_RUN, whose EINTR is a
 * kick the run loop must see) and names the ioctl in its error message.
 */
#ifndef COWVM_KVM_IOCTL_H
#define COWVM_KVM_IOCTL_H

#include <linux/kvm.h>
#include <stdbool.h>

#include "err.h"

/* Returns the ioctl's non-negative result, or -errno with e filled in. */
int kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name,
                    bool retry_eintr, struct vmm_err *e);

#define KVM_IOCTL(fd, req, arg, e) kvm_ioctl_named((fd), (req), (void *)(arg), #req, true, (e))

/* Capability check: > 0 if present (the value KVM reports), 0 if absent. */
int kvm_check_cap(int fd, long cap);

#endif
