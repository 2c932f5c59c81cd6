/*
 * forkhelper.c - the fork-style baseline (the seed's "normal fork"): a
 * process holding a populated anonymous mapping of the guest's size calls
 * fork(); the child exits at once. The holder is forked from the bench
 * process when the run starts, before any VM, snapshot or thread exists,
 * so its own page tables hold little besides the mapping (as the seed's
 * test program). Requests and answers go over two pipes:
 *   'M' bytes -> populate time (us)      'F' -> fork latency (us)
 *   'P' pct   -> struct fh_mem           'U' -> unmap      'Q' -> exit
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_int.h"

struct fork_helper {
	pid_t pid;
	int req, ans; /* our ends */
};

struct fh_req {
	char op;
	uint64_t arg;
	double pct;
};

struct fh_ans {
	int err;              /* errno of a failure, 0 */
	double us;
	struct fh_mem mem;
};

static int full_write(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t k = write(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static int full_read(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t k = read(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

/* VmRSS and VmPTE of /proc/self/status, and RssAnon, in bytes */
static void self_mem(uint64_t *rss, uint64_t *pte, uint64_t *anon)
{
	*rss = *pte = *anon = 0;
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return;
	char line[256];
	unsigned long long kb;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			*rss = kb << 10;
		else if (sscanf(line, "VmPTE: %llu kB", &kb) == 1)
			*pte = kb << 10;
		else if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
			*anon = kb << 10;
	}
	fclose(f);
}

static void helper_main(int req, int ans)
{
	uint8_t *map = NULL;
	uint64_t size = 0;
	for (;;) {
		struct fh_req q;
		if (full_read(req, &q, sizeof(q)))
			_exit(0);
		struct fh_ans a = { 0 };
		if (q.op == 'M') {
			if (map)
				munmap(map, size);
			size = q.arg;
			double t0 = now_us();
			map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
			if (map == MAP_FAILED) {
				a.err = errno;
				map = NULL;
			} else {
				madvise(map, size, MADV_NOHUGEPAGE); /* 4 KiB PTEs, as the seed */
				for (uint64_t off = 0; off < size; off += PAGE)
					map[off] = (uint8_t)(off >> 12 | 1);
			}
			a.us = now_us() - t0;
		} else if (q.op == 'F') {
			double t0 = now_us();
			pid_t pid = fork();
			double t1 = now_us();
			if (pid == 0)
				_exit(0);
			if (pid < 0)
				a.err = errno;
			else
				while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
					;
			a.us = t1 - t0;
		} else if (q.op == 'P') {
			int p[2];
			if (pipe(p)) {
				a.err = errno;
			} else {
				pid_t pid = fork();
				if (pid == 0) {
					close(p[0]);
					uint64_t pages = size / PAGE, n = (uint64_t)((double)pages * q.pct / 100.0 + 0.5);
					/* spread evenly, as the cowvm clone's guest writes its pages in order */
					for (uint64_t i = 0; i < n && map; i++)
						map[(i * pages / n) * PAGE] ^= 0x5a;
					struct fh_mem m = { 0 };
					self_mem(&m.child_rss, &m.child_pte, &m.child_anon);
					_exit(full_write(p[1], &m, sizeof(m)) ? 1 : 0);
				}
				close(p[1]);
				if (pid < 0 || full_read(p[0], &a.mem, sizeof(a.mem)))
					a.err = pid < 0 ? errno : EIO;
				close(p[0]);
				if (pid > 0)
					while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
						;
				uint64_t anon;
				self_mem(&a.mem.parent_rss, &a.mem.parent_pte, &anon);
			}
		} else if (q.op == 'U') {
			if (map)
				munmap(map, size);
			map = NULL;
			size = 0;
		} else {
			_exit(0);
		}
		if (full_write(ans, &a, sizeof(a)))
			_exit(1);
	}
}

struct fork_helper *fh_start(char *why, size_t n)
{
	int q[2], a[2];
	if (pipe2(q, O_CLOEXEC) || pipe2(a, O_CLOEXEC)) {
		snprintf(why, n, "pipe: %s", strerror(errno));
		return NULL;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, n, "fork: %s", strerror(errno));
		return NULL;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(q[1]);
		close(a[0]);
		helper_main(q[0], a[1]);
		_exit(0);
	}
	close(q[0]);
	close(a[1]);
	struct fork_helper *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(why, n, "out of memory");
		return NULL;
	}
	h->pid = pid;
	h->req = q[1];
	h->ans = a[0];
	return h;
}

static struct fh_ans call(struct fork_helper *h, char op, uint64_t arg, double pct)
{
	struct fh_req q = { .op = op, .arg = arg, .pct = pct };
	struct fh_ans a;
	if (full_write(h->req, &q, sizeof(q)) || full_read(h->ans, &a, sizeof(a)))
		bdie("the fork helper process died");
	if (a.err)
		bdie("fork helper ('%c'): %s", op, strerror(a.err));
	return a;
}

double fh_map(struct fork_helper *h, uint64_t bytes) { return call(h, 'M', bytes, 0).us; }
void fh_unmap(struct fork_helper *h) { call(h, 'U', 0, 0); }
double fh_fork(struct fork_helper *h) { return call(h, 'F', 0, 0).us; }

void fh_mem(struct fork_helper *h, double pct, struct fh_mem *m)
{
	*m = call(h, 'P', 0, pct).mem;
}

void fh_stop(struct fork_helper *h)
{
	if (!h)
		return;
	struct fh_req q = { .op = 'Q' };
	full_write(h->req, &q, sizeof(q));
	close(h->req);
	close(h->ans);
	while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(h);
}
