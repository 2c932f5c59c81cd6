/*
 * fault_inject.h - failure injection for the resource-exhaustion tests:
 * make the Nth call at a site fail (memfd_create, mmap, a KVM ioctl, a GPT
 * table allocation, a frame allocation) and check that the operation fails
 * with a clear error and leaves no partial state. Process-wide on purpose:
 * it is test instrumentation, not VM state; disarmed it costs one relaxed
 * atomic load per call.
 */
#ifndef COWVM_FAULT_INJECT_H
#define COWVM_FAULT_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum fault_site {
	FAULT_MEMFD,     /* memfd_create (snapshots) */
	FAULT_MMAP,      /* every mmap of the VMM (windows, snapshot maps, kvm_run, rings) */
	FAULT_KVM_IOCTL, /* every KVM ioctl (kvm_ioctl_named) */
	FAULT_GPT_TABLE, /* GPT table allocation (snapshot families) */
	FAULT_FRAME,     /* frame allocation (ram_frames) */
	FAULT_NSITES
};

/* Fail the nth (1-based) call at site from now on; 0 disarms the site. */
void fault_inject_arm(enum fault_site site, unsigned nth);
void fault_inject_disarm_all(void);
/* Called at the site: true = fail this call. */
bool fault_inject_hit(enum fault_site site);
/* Calls counted at the site since it was last armed. */
unsigned fault_inject_calls(enum fault_site site);

/* mmap through the FAULT_MMAP site (MAP_FAILED with errno ENOMEM). */
void *vmm_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);

#endif
