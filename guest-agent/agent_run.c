/*
 * agent_run.c - runs a request's shell command: fork, `sh -c CMD` in its own
 * process group with stdin on /dev/null and stdout+stderr on one pipe, the
 * first `cap` output bytes kept, a time limit. The shell's end is seen
 * through a pidfd (Linux 5.3+; 10 ms polling of waitpid without one).
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_FALLBACK_MS 10

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void child(const char *sh, const char *cmd, int wfd)
{
	setpgid(0, 0);
	int nul = open("/dev/null", O_RDONLY);
	if (nul >= 0 && nul != 0) {
		dup2(nul, 0);
		close(nul);
	}
	dup2(wfd, 1);
	dup2(wfd, 2);
	if (wfd > 2)
		close(wfd);
	/* ignored signals stay ignored across exec: give the command defaults */
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execl(sh, "sh", "-c", cmd, (char *)NULL);
	_exit(AGENT_STATUS_NOSH);
}

/* Reads what is in the pipe now; 1 at EOF, 0 otherwise, -errno. */
static int drain(int fd, uint8_t *out, size_t cap, struct agent_run_result *r, int once)
{
	uint8_t scratch[4096];
	for (;;) {
		uint8_t *dst = r->len < cap ? out + r->len : scratch;
		size_t room = r->len < cap ? cap - r->len : sizeof(scratch);
		ssize_t n = read(fd, dst, room);
		if (n > 0) {
			if (dst != scratch)
				r->len += (size_t)n;
			r->total += (size_t)n;
			if (once)
				return 0;
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
}

static int decode(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return AGENT_STATUS_NOEXEC;
}

int agent_run(const char *sh, const char *cmd, unsigned timeout_ms, uint8_t *out, size_t cap,
              struct agent_run_result *r)
{
	memset(r, 0, sizeof(*r));
	r->status = AGENT_STATUS_NOEXEC;
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (pid == 0)
		child(sh, cmd, p[1]);
	setpgid(pid, pid); /* also here: no race with the kill below */
	close(p[1]);
	int rfd = p[0];
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int64_t deadline = now_ms() + timeout_ms;
	int exited = 0, st = 0, timed_out = 0, failed = 0;

	while (!exited || rfd >= 0) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		struct pollfd fds[2];
		nfds_t nfds = 0;
		int ip = -1, ipid = -1;
		if (rfd >= 0) {
			fds[nfds] = (struct pollfd){ .fd = rfd, .events = POLLIN };
			ip = (int)nfds++;
		}
		if (!exited && pidfd >= 0) {
			fds[nfds] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
			ipid = (int)nfds++;
		}
		int wait_ms = left > 1000000 ? 1000000 : (int)left;
		if (!exited && pidfd < 0 && wait_ms > POLL_FALLBACK_MS)
			wait_ms = POLL_FALLBACK_MS;
		int n = poll(fds, nfds, wait_ms);
		if (n < 0 && errno != EINTR) {
			failed = 1;
			break;
		}
		if (n > 0 && ip >= 0 && (fds[ip].revents & (POLLIN | POLLHUP | POLLERR))) {
			int d = drain(rfd, out, cap, r, 1);
			if (d != 0) {
				close(rfd);
				rfd = -1;
			}
		}
		if (!exited && ((ipid >= 0 && n > 0 && (fds[ipid].revents & POLLIN)) || pidfd < 0)) {
			pid_t w = waitpid(pid, &st, pidfd >= 0 ? 0 : WNOHANG);
			if (w == pid)
				exited = 1;
		}
		if (exited && rfd >= 0) {
			/* The shell is gone: take what it left, not what its
			 * background children may write later. */
			fcntl(rfd, F_SETFL, O_NONBLOCK);
			drain(rfd, out, cap, r, 0);
			close(rfd);
			rfd = -1;
		}
	}
	kill(-pid, SIGKILL); /* the group: background children, or all at the time limit */
	if (!exited)
		waitpid(pid, &st, 0);
	if (rfd >= 0)
		close(rfd);
	if (pidfd >= 0)
		close(pidfd);
	if (failed)
		r->status = AGENT_STATUS_NOEXEC;
	else
		r->status = timed_out ? AGENT_STATUS_TIMEOUT : decode(st);
	return 0;
}
