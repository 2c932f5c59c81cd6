/*
 * agent_devmem.c - the real transport of cowvm-agent: the agent window
 * through /dev/mem, the hypercall through a 32-bit store to cowvm's
 * doorbell page (COWVM_GPA_DOORBELL, no RAM behind it: an MMIO exit),
 * mapped from /dev/mem too; an OUT to COWVM_HC_PORT only where that page
 * cannot be mapped. The doorbell works wherever a ring-3 OUT may not: PVM
 * hosts force IOPL 0, and QEMU's TCG refuses a ring-3 OUT through the I/O
 * bitmap once a restored TR reads "busy" (type 11: KVM reports TR busy and
 * a snapshot restores it so, and TCG's I/O-permission check wants type 9),
 * which made every hypercall after the first in a clone a #GP under nested
 * QEMU. Hardware checks either type.
 *
 * /dev/mem is opened O_SYNC, so the kernel maps the range uncached
 * (mem(4)); every access below is volatile, so no stale copy is kept by the
 * compiler either. The window [0xA0000, 0xC2000) is below 1 MiB and outside
 * the e820 map: x86's devmem_is_allowed() lets root map it even with
 * CONFIG_STRICT_DEVMEM. If mmap is refused, pread/pwrite at the same
 * offsets do the same accesses one system call each.
 *
 * Port access (iopl(3), else ioperm of COWVM_HC_PORT..COWVM_HC_PORT_END;
 * both need CAP_SYS_RAWIO) is taken at the first ring, i.e. only after the
 * info page proved that cowvm is behind the port: on anything else port
 * 0x500 may be real hardware. The unit tests never link this file.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <unistd.h>

#define WIN_LEN (COWVM_AGENT_END - COWVM_AGENT_GPA)

struct devmem {
	struct agent_transport t; /* first: the ops get &t */
	int fd;
	volatile uint8_t *map;    /* NULL: pread/pwrite */
	volatile uint32_t *doorbell; /* NULL: OUT to the port */
	int ports;                /* port access taken */
};

static void vcopy_from(void *dst, const volatile uint8_t *src, size_t len)
{
	uint8_t *d = dst;
	while (len && ((uintptr_t)src & 7)) {
		*d++ = *src++;
		len--;
	}
	for (; len >= 8; len -= 8, src += 8, d += 8) {
		uint64_t v = *(const volatile uint64_t *)src;
		memcpy(d, &v, 8);
	}
	while (len--)
		*d++ = *src++;
}

static void vcopy_to(volatile uint8_t *dst, const void *src, size_t len)
{
	const uint8_t *s = src;
	while (len && ((uintptr_t)dst & 7)) {
		*dst++ = *s++;
		len--;
	}
	for (; len >= 8; len -= 8, dst += 8, s += 8) {
		uint64_t v;
		memcpy(&v, s, 8);
		*(volatile uint64_t *)dst = v;
	}
	while (len--)
		*dst++ = *s++;
}

/* The whole [off, off + len) of /dev/mem with pread or pwrite: retried on
 * EINTR and short transfers; -errno, or -EIO at an unexpected end. */
static int full_io(int fd, void *buf, size_t len, uint64_t off, bool write)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write ? pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done))
		                  : pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int dm_read(struct agent_transport *t, uint64_t gpa, void *buf, size_t len)
{
	struct devmem *d = (struct devmem *)t;
	if (d->map) {
		vcopy_from(buf, d->map + (gpa - COWVM_AGENT_GPA), len);
		__asm__ volatile("" ::: "memory");
		return 0;
	}
	return full_io(d->fd, buf, len, gpa, false);
}

static int dm_write(struct agent_transport *t, uint64_t gpa, const void *buf, size_t len)
{
	struct devmem *d = (struct devmem *)t;
	if (d->map) {
		vcopy_to(d->map + (gpa - COWVM_AGENT_GPA), buf, len);
		__asm__ volatile("" ::: "memory");
		return 0;
	}
	return full_io(d->fd, (void *)buf, len, gpa, true);
}

static int dm_ring(struct agent_transport *t, uint64_t block_gpa)
{
	struct devmem *d = (struct devmem *)t;
	if (block_gpa > UINT32_MAX)
		return -EINVAL;
	if (d->doorbell) {
		/* The store exits to the VMM, which handles the hypercall and
		 * writes ret before the store completes; the clobber keeps every
		 * access to the block on its side. */
		__asm__ volatile("" ::: "memory");
		*d->doorbell = (uint32_t)block_gpa;
		__asm__ volatile("" ::: "memory");
		return 0;
	}
	if (!d->ports) {
		if (iopl(3) == 0) {
			d->ports = 1;
		} else {
			int e1 = errno;
			if (ioperm(COWVM_HC_PORT, COWVM_HC_PORT_END - COWVM_HC_PORT + 1, 1)) {
				int e2 = errno;
				fprintf(stderr, "cowvm-agent: no access to port %#x (iopl(3): %s; ioperm: %s)\n",
				        COWVM_HC_PORT, strerror(e1), strerror(e2));
				return -e2;
			}
			d->ports = 1;
		}
	}
	/* A 32-bit OUT: the VMM handles the hypercall and writes ret into the
	 * block before the instruction completes. The memory clobber keeps
	 * every access to the block on its side of the OUT. */
	__asm__ volatile("outl %0, %w1" : : "a"((uint32_t)block_gpa), "Nd"((uint16_t)COWVM_HC_PORT)
	                 : "memory");
	return 0;
}

int agent_devmem_close_fd(struct agent_transport *t)
{
	struct devmem *d = (struct devmem *)t;
	if (!d->map || !d->doorbell)
		return -EBUSY; /* pread/pwrite or port I/O still need it */
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	return 0;
}

static const struct agent_transport_ops dm_ops = { dm_read, dm_write, dm_ring };

int agent_devmem_open(struct agent_transport **out, char *err, size_t errlen)
{
	struct devmem *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	if (d->fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open /dev/mem: %s (root needed; a kernel with CONFIG_DEVMEM)",
		         strerror(e));
		free(d);
		return -e;
	}
	/* The agent's own fds live at AGENT_FD_RESERVED and up, where a fuzzed
	 * system-call program may not close or replace them (sysprog.h), and
	 * where the program's first fds do not depend on ours. */
	int hi = fcntl(d->fd, F_DUPFD_CLOEXEC, AGENT_FD_RESERVED);
	if (hi >= 0) {
		close(d->fd);
		d->fd = hi;
	}
	void *m = mmap(NULL, WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, (off_t)COWVM_AGENT_GPA);
	d->map = m == MAP_FAILED ? NULL : m;
	/* Mapped now, used only once the info page proved cowvm is there. */
	void *bell = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, (off_t)COWVM_GPA_DOORBELL);
	d->doorbell = bell == MAP_FAILED ? NULL : bell;
	d->t.ops = &dm_ops;
	d->t.name = d->map ? (d->doorbell ? "mmap+doorbell" : "mmap+port") : (d->doorbell ? "pread+doorbell" : "pread+port");
	*out = &d->t;
	return 0;
}
