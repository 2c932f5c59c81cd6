/*
 * uffd.c - the userfaultfd baselines (the seed's uffd-wp and uffd-copy-page):
 * registration, and a handler thread serving the faults of a VM's RAM
 * window while the guest runs. KVM reaches guest memory through the host
 * page tables (get_user_pages), so its faults on a registered window come
 * here like any other.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_int.h"

#define SAVE_RING 256u /* pages the wp handler keeps (a stand-in for QEMU's migration stream) */

struct uffd_ctx {
	int fd, stopfd;
	bool wp;
	uint8_t *base;
	uint64_t size;
	const uint8_t *src;
	uint8_t *save;
	unsigned save_next;
	pthread_t thread;
	atomic_ullong faults;
	int error;
};

static int uffd_open(uint64_t features, uint64_t *have, char *why, size_t n)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, n, "userfaultfd(): %s", strerror(errno));
		return -errno;
	}
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	if (ioctl(fd, UFFDIO_API, &api)) {
		int e = errno;
		snprintf(why, n, "UFFDIO_API with features %#llx: %s", (unsigned long long)features, strerror(e));
		close(fd);
		return -e;
	}
	if (have)
		*have = api.features;
	return fd;
}

void uffd_probe(bool wp, char *why, size_t n)
{
	why[0] = 0;
	uint64_t have = 0;
	int fd = uffd_open(0, &have, why, n);
	if (fd < 0)
		return;
	close(fd);
	if (wp && !(have & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		snprintf(why, n, "this kernel's userfaultfd lacks UFFD_FEATURE_PAGEFAULT_FLAG_WP");
		return;
	}
	/* register and protect one populated anonymous page for real */
	uint8_t *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(why, n, "mmap: %s", strerror(errno));
		return;
	}
	p[0] = 1;
	int ufd;
	if (!uffd_setup(wp, p, PAGE, &ufd, why, n)) {
		close(ufd);
		why[0] = 0;
	}
	munmap(p, PAGE);
}

int uffd_setup(bool wp, void *base, uint64_t size, int *out, char *why, size_t n)
{
	int fd = uffd_open(wp ? UFFD_FEATURE_PAGEFAULT_FLAG_WP : 0, NULL, why, n);
	if (fd < 0)
		return fd;
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)base, .len = size },
		.mode = wp ? UFFDIO_REGISTER_MODE_WP : UFFDIO_REGISTER_MODE_MISSING,
	};
	int e = 0;
	if (ioctl(fd, UFFDIO_REGISTER, &reg)) {
		e = errno;
		snprintf(why, n, "UFFDIO_REGISTER (%s): %s", wp ? "MODE_WP" : "MODE_MISSING", strerror(e));
	} else if (wp && !(reg.ioctls & (1ull << _UFFDIO_WRITEPROTECT))) {
		e = ENOTSUP;
		snprintf(why, n, "UFFDIO_WRITEPROTECT is not offered for this memory");
	} else if (!wp && !(reg.ioctls & (1ull << _UFFDIO_COPY))) {
		e = ENOTSUP;
		snprintf(why, n, "UFFDIO_COPY is not offered for this memory");
	} else if (wp) {
		struct uffdio_writeprotect w = {
			.range = { .start = (uintptr_t)base, .len = size },
			.mode = UFFDIO_WRITEPROTECT_MODE_WP,
		};
		if (ioctl(fd, UFFDIO_WRITEPROTECT, &w)) {
			e = errno;
			snprintf(why, n, "UFFDIO_WRITEPROTECT: %s", strerror(e));
		}
	}
	if (e) {
		close(fd);
		return -e;
	}
	*out = fd;
	return 0;
}

static int serve_one(struct uffd_ctx *u, const struct uffd_msg *m)
{
	if (m->event != UFFD_EVENT_PAGEFAULT)
		return 0;
	uint64_t addr = m->arg.pagefault.address & ~(PAGE - 1);
	if (addr < (uintptr_t)u->base || addr >= (uintptr_t)u->base + u->size)
		return -EFAULT;
	if (u->wp) {
		/* what QEMU's background snapshot does: keep the old page, then
		 * let the write through */
		memcpy(u->save + (size_t)(u->save_next++ % SAVE_RING) * PAGE, (const void *)(uintptr_t)addr, PAGE);
		struct uffdio_writeprotect w = { .range = { .start = addr, .len = PAGE }, .mode = 0 };
		if (ioctl(u->fd, UFFDIO_WRITEPROTECT, &w))
			return -errno;
	} else {
		struct uffdio_copy cp = {
			.dst = addr, .src = (uintptr_t)(u->src + (addr - (uintptr_t)u->base)), .len = PAGE, .mode = 0,
		};
		if (ioctl(u->fd, UFFDIO_COPY, &cp)) {
			if (errno != EEXIST)
				return -errno;
			struct uffdio_range r = { .start = addr, .len = PAGE };
			ioctl(u->fd, UFFDIO_WAKE, &r);
		}
	}
	atomic_fetch_add_explicit(&u->faults, 1, memory_order_relaxed);
	return 0;
}

static void *serve(void *arg)
{
	struct uffd_ctx *u = arg;
	struct uffd_msg msgs[64];
	for (;;) {
		struct pollfd p[2] = { { .fd = u->fd, .events = POLLIN }, { .fd = u->stopfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			u->error = -errno;
			break;
		}
		if (p[0].revents & POLLIN) {
			ssize_t n = read(u->fd, msgs, sizeof(msgs));
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				u->error = -errno;
				break;
			}
			for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(msgs[0]); i++) {
				int r = serve_one(u, &msgs[i]);
				if (r && !u->error)
					u->error = r;
			}
			continue;
		}
		if (p[1].revents & POLLIN)
			break;
	}
	return NULL;
}

struct uffd_ctx *uffd_serve(int fd, bool wp, uint8_t *base, uint64_t size, const uint8_t *src)
{
	struct uffd_ctx *u = calloc(1, sizeof(*u));
	if (!u)
		bdie("out of memory");
	u->fd = fd;
	u->wp = wp;
	u->base = base;
	u->size = size;
	u->src = src;
	u->stopfd = eventfd(0, EFD_CLOEXEC);
	if (u->stopfd < 0)
		bdie("eventfd: %s", strerror(errno));
	if (wp) {
		u->save = mmap(NULL, SAVE_RING * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		               -1, 0);
		if (u->save == MAP_FAILED)
			bdie("mmap of the uffd-wp save ring: %s", strerror(errno));
	}
	int r = pthread_create(&u->thread, NULL, serve, u);
	if (r)
		bdie("cannot start the userfaultfd thread: %s", strerror(r));
	return u;
}

uint64_t uffd_stop(struct uffd_ctx *u)
{
	uint64_t one = 1;
	if (write(u->stopfd, &one, sizeof(one)) != sizeof(one))
		bdie("stopping the userfaultfd thread: %s", strerror(errno));
	pthread_join(u->thread, NULL);
	if (u->error)
		bdie("userfaultfd handler: %s", strerror(-u->error));
	uint64_t n = atomic_load(&u->faults);
	close(u->stopfd);
	close(u->fd);
	if (u->save)
		munmap(u->save, SAVE_RING * PAGE);
	free(u);
	return n;
}
