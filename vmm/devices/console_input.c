/*
 * console_input.c - the stdin-to-UART relay thread (see console_input.h).
 * The thread waits in poll() on the fd and an eventfd (stop), or in
 * uart_wait_input_room() while the UART is full; stop() sets the flag,
 * signals the eventfd and wakes the UART waiters, so both waits end.
 */
#include "console_input.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <unistd.h>

#define CI_READ 4096 /* bytes per read(); the escape filter may double them */

struct console_input {
	int fd;
	struct uart_16550 *u;
	void (*quit)(void *);
	void *quit_ctx;
	int wake_fd;
	atomic_int stop;
	pthread_t thread;
	bool is_tty;
	bool escape;                /* the last terminal byte was Ctrl-A */
	struct termios saved;       /* the terminal's settings before raw mode */
	struct console_input *next; /* raw_list */
};

/* Terminals in raw mode, for the atexit handler. */
static pthread_mutex_t raw_lock = PTHREAD_MUTEX_INITIALIZER;
static struct console_input *raw_list;
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;
static int atexit_failed;

static void restore_at_exit(void)
{
	pthread_mutex_lock(&raw_lock);
	for (struct console_input *ci = raw_list; ci; ci = ci->next)
		tcsetattr(ci->fd, TCSANOW, &ci->saved);
	pthread_mutex_unlock(&raw_lock);
}

static void register_atexit(void)
{
	atexit_failed = atexit(restore_at_exit) != 0;
}

static void raw_list_remove(struct console_input *ci)
{
	pthread_mutex_lock(&raw_lock);
	for (struct console_input **p = &raw_list; *p; p = &(*p)->next)
		if (*p == ci) {
			*p = ci->next;
			break;
		}
	pthread_mutex_unlock(&raw_lock);
}

/* termios(3) "raw" input, output processing untouched. */
static void make_raw(struct termios *t)
{
	t->c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF);
	t->c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t->c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t->c_cflag |= CS8;
	t->c_cc[VMIN] = 1;
	t->c_cc[VTIME] = 0;
}

/* Terminal bytes to guest bytes through the Ctrl-A escape (the state
 * carries over between reads). out holds 2 * n. */
static size_t filter_escape(struct console_input *ci, const uint8_t *in, size_t n, uint8_t *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];
		if (!ci->escape) {
			if (c == CONSOLE_ESCAPE)
				ci->escape = true;
			else
				out[k++] = c;
			continue;
		}
		ci->escape = false;
		if (c == CONSOLE_QUIT) {
			if (ci->quit)
				ci->quit(ci->quit_ctx);
		} else if (c == CONSOLE_ESCAPE) {
			out[k++] = CONSOLE_ESCAPE;
		} else {
			out[k++] = CONSOLE_ESCAPE;
			out[k++] = c;
		}
	}
	return k;
}

static void *relay(void *arg)
{
	struct console_input *ci = arg;
	uint8_t in[CI_READ], out[2 * CI_READ];
	size_t olen = 0, opos = 0;
	struct pollfd p[2] = { { .fd = ci->wake_fd, .events = POLLIN }, { .fd = ci->fd, .events = POLLIN } };

	while (!atomic_load(&ci->stop)) {
		if (opos < olen) {
			/* Blocks while the UART is full or the guest does not
			 * listen: the bytes wait here, the rest in the fd. */
			if (uart_wait_input_room(ci->u, &ci->stop, -1))
				opos += uart_push_input(ci->u, out + opos, olen - opos);
			continue;
		}
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break; /* stop() */
		if (!p[1].revents)
			continue;
		ssize_t n = read(ci->fd, in, sizeof(in));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break; /* EOF, hang-up or error: the guest runs on without input */
		if (ci->is_tty) {
			olen = filter_escape(ci, in, (size_t)n, out);
		} else {
			memcpy(out, in, (size_t)n);
			olen = (size_t)n;
		}
		opos = 0;
	}
	return NULL;
}

static void restore_tty(struct console_input *ci)
{
	if (!ci->is_tty)
		return;
	raw_list_remove(ci);
	tcsetattr(ci->fd, TCSANOW, &ci->saved);
}

int console_input_start(struct console_input **out, int fd, struct uart_16550 *u,
                        void (*quit)(void *), void *quit_ctx, struct vmm_err *e)
{
	if (!out || fd < 0 || !u)
		return vmm_fail(e, -EINVAL, "console input: no fd or no UART");
	*out = NULL;
	struct console_input *ci = calloc(1, sizeof(*ci));
	if (!ci)
		return vmm_fail(e, -ENOMEM, "console input: out of memory");
	ci->fd = fd;
	ci->u = u;
	ci->quit = quit;
	ci->quit_ctx = quit_ctx;
	atomic_init(&ci->stop, 0);
	ci->wake_fd = -1;

	int r = 0;
	bool tty = tcgetattr(fd, &ci->saved) == 0;
	if (!tty && errno != ENOTTY && errno != EINVAL) {
		r = vmm_fail(e, -errno, "console input: fd %d: %s", fd, strerror(errno));
		goto fail;
	}
	ci->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ci->wake_fd < 0) {
		r = vmm_fail(e, -errno, "console input: eventfd: %s", strerror(errno));
		goto fail;
	}
	if (tty) {
		pthread_once(&atexit_once, register_atexit);
		if (atexit_failed) {
			r = vmm_fail(e, -ENOMEM, "console input: cannot register the terminal restore at exit");
			goto fail;
		}
		struct termios raw = ci->saved;
		make_raw(&raw);
		/* Listed before the change, so an exit() right after it restores. */
		ci->is_tty = true;
		pthread_mutex_lock(&raw_lock);
		ci->next = raw_list;
		raw_list = ci;
		pthread_mutex_unlock(&raw_lock);
		if (tcsetattr(fd, TCSANOW, &raw)) {
			r = vmm_fail(e, -errno, "console input: fd %d: cannot set raw mode: %s", fd, strerror(errno));
			raw_list_remove(ci);
			ci->is_tty = false;
			goto fail;
		}
	}

	r = pthread_create(&ci->thread, NULL, relay, ci);
	if (r) {
		r = vmm_fail(e, -r, "console input: cannot start the relay thread: %s", strerror(r));
		restore_tty(ci);
		goto fail;
	}
	*out = ci;
	return 0;
fail:
	if (ci->wake_fd >= 0)
		close(ci->wake_fd);
	free(ci);
	return r;
}

void console_input_stop(struct console_input *ci)
{
	if (!ci)
		return;
	atomic_store(&ci->stop, 1);
	uint64_t one = 1;
	ssize_t w = write(ci->wake_fd, &one, sizeof(one));
	(void)w; /* an eventfd write of 1 only fails at a counter overflow */
	uart_wake_input_waiters(ci->u);
	pthread_join(ci->thread, NULL);
	restore_tty(ci);
	close(ci->wake_fd);
	free(ci);
}
