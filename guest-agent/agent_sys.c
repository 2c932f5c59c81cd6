/*
 * agent_sys.c - the system actions that make a clone differ from its twins
 * (struct agent_sys): the host's randomness into the kernel's entropy pool
 * (random(4): RNDADDENTROPY credits it, RNDRESEEDCRNG makes the crng use it
 * at once instead of at its next scheduled reseed) and CLOCK_REALTIME from
 * the host's clock. Both need root (CAP_SYS_ADMIN, CAP_SYS_TIME). Never
 * linked into the unit tests: they must not touch the host's clock.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static int add_entropy(const void *buf, size_t len)
{
	if (len < sizeof(struct rand_pool_info))
		return -EINVAL;
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (ioctl(fd, RNDADDENTROPY, buf) < 0)
		r = -errno;
	/* ENODATA: the crng is not initialized yet (it then seeds from the
	 * pool, our bytes included, when it is). */
	else if (ioctl(fd, RNDRESEEDCRNG) < 0 && errno != ENODATA)
		r = -errno;
	close(fd);
	return r;
}

static int set_clock(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
	if (ns < 0)
		return -EINVAL;
	return clock_settime(CLOCK_REALTIME, &ts) ? -errno : 0;
}

const struct agent_sys agent_sys_real = { add_entropy, set_clock };
