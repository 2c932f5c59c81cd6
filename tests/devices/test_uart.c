/*
 * test_uart.c - the 16550A model (vmm/devices/uart_16550.c) register by
 * register, its interrupt output and transmit batching, and the stdin relay
 * (console_input.c) with a pipe and a pseudo-terminal. Runs under Criterion,
 * or under the TAP runner of crit_tap.h in the ThreadSanitizer build.
 */
#include "crit_tap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "console_input.h"
#include "uart_16550.h"

/* ---- recorder for the two callbacks ------------------------------------- */

#define REC_OUT (256 * 1024)
struct rec {
	pthread_mutex_t m;
	int levels[256];
	int nlevels;
	char out[REC_OUT];
	size_t nout;
	int ncalls;
	size_t call_len[64]; /* lengths of the first 64 tx calls */
};

static struct rec *rec_new(void)
{
	struct rec *r = calloc(1, sizeof(*r));
	cr_assert_not_null(r);
	pthread_mutex_init(&r->m, NULL);
	return r;
}

static void rec_free(struct rec *r)
{
	pthread_mutex_destroy(&r->m);
	free(r);
}

static void rec_irq(void *ctx, int level)
{
	struct rec *r = ctx;
	pthread_mutex_lock(&r->m);
	if (r->nlevels < 256)
		r->levels[r->nlevels] = level;
	r->nlevels++;
	pthread_mutex_unlock(&r->m);
}

static void rec_tx(void *ctx, const char *buf, size_t n)
{
	struct rec *r = ctx;
	pthread_mutex_lock(&r->m);
	if (r->ncalls < 64)
		r->call_len[r->ncalls] = n;
	r->ncalls++;
	if (r->nout + n <= REC_OUT)
		memcpy(r->out + r->nout, buf, n);
	r->nout += n;
	pthread_mutex_unlock(&r->m);
}

static int rec_nlevels(struct rec *r)
{
	pthread_mutex_lock(&r->m);
	int n = r->nlevels;
	pthread_mutex_unlock(&r->m);
	return n;
}

static void setup(struct uart_16550 *u, struct rec *r)
{
	cr_assert_eq(uart_init(u, rec_irq, r, rec_tx, r), 0);
}

#define RD(reg) uart_read(u, UART_REG_##reg)
#define WR(reg, v) uart_write(u, UART_REG_##reg, (v))

/* ---- reset state and plain registers ------------------------------------ */

Test(uart, reset_state)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	cr_assert_eq(RD(IER), 0x00);
	cr_assert_eq(RD(IIR), 0x01);
	cr_assert_eq(RD(LCR), 0x00);
	cr_assert_eq(RD(MCR), 0x00);
	cr_assert_eq(RD(LSR), 0x60);
	cr_assert_eq(RD(MSR), 0xb0); /* DCD|DSR|CTS, no deltas */
	cr_assert_eq(RD(SCR), 0x00);
	cr_assert_eq(RD(RBR), 0x00); /* empty: nothing received yet */
	WR(LCR, UART_LCR_DLAB);
	cr_assert_eq(RD(DLL), 12);
	cr_assert_eq(RD(DLM), 0);
	cr_assert_eq(r->nlevels, 0);
	cr_assert_eq(r->nout, 0);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

Test(uart, dlab_switches_registers_0_and_1)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	WR(IER, 0x05);
	WR(LCR, 0x83); /* DLAB + 8N1 */
	WR(DLL, 0x01);
	WR(DLM, 0x02);
	cr_assert_eq(RD(DLL), 0x01);
	cr_assert_eq(RD(DLM), 0x02);
	cr_assert_eq(RD(LCR), 0x83);
	cr_assert_eq(r->nout, 0); /* the DLL write was not a transmit */
	cr_assert_eq(RD(LSR), 0x60);
	WR(LCR, 0x03);
	cr_assert_eq(RD(IER), 0x05); /* untouched by the DLM write */
	WR(THR, 'Q');
	uart_flush_output(u);
	cr_assert_eq(r->nout, 1);
	cr_assert_eq(r->out[0], 'Q');
	WR(LCR, 0x83);
	cr_assert_eq(RD(DLL), 0x01); /* untouched by the THR write */
	cr_assert_eq(RD(DLM), 0x02);
	/* IIR/LCR/MCR/LSR/MSR/SCR do not depend on DLAB */
	WR(SCR, 0x5a);
	cr_assert_eq(RD(SCR), 0x5a);
	cr_assert_eq(RD(IIR), 0x01);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

Test(uart, scratch_lcr_and_masks)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	for (int v = 0; v < 256; v++) {
		WR(SCR, (uint8_t)v);
		cr_assert_eq(RD(SCR), v);
	}
	WR(LCR, 0xbf);
	cr_assert_eq(RD(LCR), 0xbf);
	WR(LCR, 0x00);
	/* Linux's probe: IER 0 reads 0, IER 0x0f reads 0x0f; bits 7:4 are 0 */
	WR(IER, 0xff);
	cr_assert_eq(RD(IER), 0x0f);
	WR(IER, 0x00);
	cr_assert_eq(RD(IER), 0x00);
	WR(MCR, 0xff);
	cr_assert_eq(RD(MCR), 0x1f);
	WR(MCR, 0x00); /* out of loopback: RI (= OUT1) fell, TERI */
	cr_assert_eq(RD(MSR), 0xb0 | UART_MSR_TERI);
	/* LSR and MSR ignore writes */
	WR(LSR, 0xff);
	WR(MSR, 0xff);
	cr_assert_eq(RD(LSR), 0x60);
	cr_assert_eq(RD(MSR), 0xb0);
	/* offsets beyond 7 */
	cr_assert_eq(uart_read(u, 8), 0xff);
	uart_write(u, 8, 0x41);
	uart_write(u, 1000, 0x41);
	uart_flush_output(u);
	cr_assert_eq(r->nout, 0);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

Test(uart, fcr_fifo_bits_in_iir)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	cr_assert_eq(RD(IIR), 0x01);
	WR(FCR, UART_FCR_ENABLE);
	cr_assert_eq(RD(IIR), 0xc1);
	WR(FCR, 0xc7); /* enable, both resets, trigger 14 */
	cr_assert_eq(RD(IIR), 0xc1);
	WR(FCR, 0x00);
	cr_assert_eq(RD(IIR), 0x01);
	/* bit 0 clear: the other bits are not programmed, FIFO stays off */
	WR(FCR, 0xc6);
	cr_assert_eq(RD(IIR), 0x01);
	/* FCR is write-only: register 2 reads IIR even with DLAB set */
	WR(FCR, UART_FCR_ENABLE);
	WR(LCR, 0x80);
	cr_assert_eq(RD(IIR), 0xc1);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

/* ---- interrupt identification and priorities ---------------------------- */

/* Everything built in loopback, where THR writes are received: the IRQ line
 * stays low (OUT2's pin is forced off) but IIR reports as usual. */
static void iir_priorities(uint8_t fcr)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	uint8_t f = (fcr & UART_FCR_ENABLE) ? 0xc0 : 0x00;
	WR(FCR, fcr);
	WR(MCR, UART_MCR_LOOP | UART_MCR_OUT2);
	cr_assert_eq(RD(MSR) & 0xf0, 0x80); /* read: clears the entry deltas */
	cr_assert_eq(RD(IIR), f | 0x01);

	WR(IER, 0x0f); /* ETBEI rising edge: THRE pending */
	WR(MCR, UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_DTR); /* DSR rises: DDSR */
	cr_assert_eq(RD(IIR), f | 0x02); /* THRE (3) over modem status (4); clears THRE */
	cr_assert_eq(RD(IIR), f | 0x00); /* modem status: not cleared by IIR */
	cr_assert_eq(RD(IIR), f | 0x00);
	cr_assert_eq(RD(MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_DDSR);
	cr_assert_eq(RD(IIR), f | 0x01);

	WR(THR, 'A'); /* looped back: data; and THRE pending again */
	cr_assert_eq(RD(IIR), f | 0x04); /* data (2) over THRE (3) */
	cr_assert_eq(RD(IIR), f | 0x04); /* data stays until read */
	for (int i = 0; i < UART_RX_RING; i++) /* the last one overruns */
		WR(THR, (uint8_t)i);
	cr_assert_eq(RD(IIR), f | 0x06); /* line status (1) over everything */
	cr_assert_eq(RD(LSR), 0x63);     /* DR THRE TEMT OE; clears OE */
	cr_assert_eq(RD(LSR), 0x61);
	cr_assert_eq(RD(IIR), f | 0x04);
	cr_assert_eq(RD(RBR), 'A');
	for (int i = 0; i < UART_RX_RING - 1; i++)
		cr_assert_eq(RD(RBR), (uint8_t)i);
	cr_assert_eq(RD(LSR), 0x60);
	cr_assert_eq(RD(IIR), f | 0x02); /* THRE was pending under the data */
	cr_assert_eq(RD(IIR), f | 0x01);

	/* disabled sources are not reported */
	WR(THR, 'B');
	WR(IER, 0x00);
	cr_assert_eq(RD(IIR), f | 0x01);
	WR(IER, UART_IER_ETBEI);
	cr_assert_eq(RD(IIR), f | 0x02);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

Test(uart, iir_priorities_fifo_off)
{
	iir_priorities(0x00);
}

Test(uart, iir_priorities_fifo_on)
{
	iir_priorities(UART_FCR_ENABLE);
}

Test(uart, rx_trigger_level_and_timeout)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	WR(MCR, UART_MCR_RTS | UART_MCR_OUT2);
	WR(IER, UART_IER_ERBFI);
	static const struct { uint8_t fcr; unsigned trig; } t[] = {
		{ 0x01, 1 }, { 0x41, 4 }, { 0x81, 8 }, { 0xc1, 14 },
	};
	for (unsigned k = 0; k < 4; k++) {
		WR(FCR, t[k].fcr | UART_FCR_RX_RESET);
		for (unsigned n = 1; n <= 15; n++) {
			cr_assert_eq(uart_push_input(u, "z", 1), 1);
			cr_assert_eq(RD(IIR), n >= t[k].trig ? 0xc4 : 0xcc);
		}
		for (unsigned n = 15; n > 0; n--) {
			cr_assert_eq(RD(IIR), n >= t[k].trig ? 0xc4 : 0xcc);
			cr_assert_eq(RD(RBR), 'z');
		}
		cr_assert_eq(RD(IIR), 0xc1);
	}
	/* 16450 mode: always "received data available" */
	WR(FCR, 0x00);
	cr_assert_eq(uart_push_input(u, "zz", 2), 2);
	cr_assert_eq(RD(IIR), 0x04);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

/* ---- LSR ---------------------------------------------------------------- */

Test(uart, lsr_bits_before_and_after)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	cr_assert_eq(RD(LSR), 0x60);
	WR(THR, 'x'); /* sent at once: THRE and TEMT stay set */
	cr_assert_eq(RD(LSR), 0x60);
	WR(MCR, UART_MCR_RTS);
	cr_assert_eq(uart_push_input(u, "pq", 2), 2);
	cr_assert_eq(RD(LSR), 0x61);
	cr_assert_eq(RD(LSR), 0x61); /* DR is not cleared by reading LSR */
	cr_assert_eq(RD(RBR), 'p');
	cr_assert_eq(RD(LSR), 0x61);
	cr_assert_eq(RD(RBR), 'q');
	cr_assert_eq(RD(LSR), 0x60);
	cr_assert_eq(RD(RBR), 'q'); /* empty: the last byte again */
	cr_assert_eq(RD(LSR), 0x60);
	/* overrun (loopback into a full buffer) is latched until LSR is read */
	WR(MCR, UART_MCR_LOOP);
	for (int i = 0; i <= UART_RX_RING; i++)
		WR(THR, 'o');
	cr_assert_eq(RD(RBR), 'o');
	cr_assert_eq(RD(LSR), 0x63);
	cr_assert_eq(RD(LSR), 0x61);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

/* ---- loopback and MSR --------------------------------------------------- */

Test(uart, loopback_echo_and_msr_mapping)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	/* Linux's autoconfig loopback test */
	WR(MCR, UART_MCR_LOOP | 0x0a);
	cr_assert_eq(RD(MSR) & 0xf0, 0x90);
	static const struct { uint8_t mcr, msr; } map[] = {
		{ UART_MCR_DTR, UART_MSR_DSR },
		{ UART_MCR_RTS, UART_MSR_CTS },
		{ UART_MCR_OUT1, UART_MSR_RI },
		{ UART_MCR_OUT2, UART_MSR_DCD },
		{ 0x0f, 0xf0 },
		{ 0x00, 0x00 },
	};
	for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		WR(MCR, UART_MCR_LOOP | map[i].mcr);
		cr_assert_eq(RD(MSR) & 0xf0, map[i].msr);
	}
	/* bytes come back in order, none leaves */
	const char *msg = "loop\n\x01\xff";
	for (const char *p = msg; *p; p++)
		WR(THR, (uint8_t)*p);
	for (const char *p = msg; *p; p++) {
		cr_assert_eq(RD(LSR), 0x61);
		cr_assert_eq(RD(RBR), (uint8_t)*p);
	}
	cr_assert_eq(RD(LSR), 0x60);
	uart_flush_output(u);
	cr_assert_eq(r->nout, 0);
	/* host input is refused in loopback, even with RTS set */
	WR(MCR, UART_MCR_LOOP | UART_MCR_RTS);
	cr_assert_eq(uart_push_input(u, "h", 1), 0);
	/* out of loopback: the host's lines again, and output leaves */
	WR(MCR, UART_MCR_RTS);
	cr_assert_eq(RD(MSR) & 0xf0, 0xb0);
	WR(THR, 'T');
	uart_flush_output(u);
	cr_assert_eq(r->nout, 1);
	cr_assert_eq(r->out[0], 'T');
	cr_assert_eq(RD(LSR), 0x60);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

Test(uart, msr_deltas)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	/* host lines DCD|DSR|CTS -> loopback with all outputs off */
	WR(MCR, UART_MCR_LOOP);
	cr_assert_eq(RD(MSR), UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_DDCD);
	cr_assert_eq(RD(MSR), 0x00);
	/* RI 0 -> 1: no TERI; 1 -> 0: TERI */
	WR(MCR, UART_MCR_LOOP | UART_MCR_OUT1);
	cr_assert_eq(RD(MSR), UART_MSR_RI);
	WR(MCR, UART_MCR_LOOP);
	cr_assert_eq(RD(MSR), UART_MSR_TERI);
	/* deltas accumulate until read */
	WR(MCR, UART_MCR_LOOP | UART_MCR_RTS);
	WR(MCR, UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_OUT2);
	cr_assert_eq(RD(MSR), UART_MSR_CTS | UART_MSR_DCD | UART_MSR_DCTS | UART_MSR_DDCD);
	/* outside loopback the host's lines never change: no deltas */
	WR(MCR, 0);
	cr_assert_eq(RD(MSR), 0xb0 | UART_MSR_DDSR);
	WR(MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT1 | UART_MCR_OUT2);
	WR(MCR, 0);
	cr_assert_eq(RD(MSR), 0xb0);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

/* ---- the IRQ line -------------------------------------------------------- */

static void assert_levels(struct rec *r, const int *want, int n)
{
	cr_assert_eq(rec_nlevels(r), n, "irq calls: %d, want %d", r->nlevels, n);
	for (int i = 0; i < n; i++)
		cr_assert_eq(r->levels[i], want[i], "irq call %d: level %d, want %d", i, r->levels[i], want[i]);
}

/* The register sequence of Linux 6.1's serial8250_do_startup THRE and TXEN
 * tests, then one interrupt-driven transmit (serial8250_start_tx,
 * serial8250_handle_irq, serial8250_tx_chars, __stop_tx). */
Test(uart, thre_interrupt_as_linux_drives_it)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	WR(FCR, UART_FCR_ENABLE | 0x80);
	/* THRE test (before OUT2: IIR only, no IRQ) */
	cr_assert_eq(RD(LSR) & UART_LSR_THRE, UART_LSR_THRE);
	WR(IER, UART_IER_ETBEI);
	cr_assert_eq(RD(IIR), 0xc2); /* iir1: pending */
	WR(IER, 0);
	WR(IER, UART_IER_ETBEI);
	cr_assert_eq(RD(IIR), 0xc2); /* re-asserted: no UART_BUG_THRE */
	WR(IER, 0);
	cr_assert_eq(rec_nlevels(r), 0);
	/* set_mctrl(OUT2 | DTR | RTS), TXEN test: IER=THRI, LSR, IIR, IER=0 */
	WR(MCR, UART_MCR_OUT2 | UART_MCR_DTR | UART_MCR_RTS);
	WR(IER, UART_IER_ETBEI);
	cr_assert_eq(RD(LSR), 0x60);
	cr_assert_eq(RD(IIR), 0xc2); /* pending: no UART_BUG_TXEN */
	WR(IER, 0);
	{
		const int want[] = { 1, 0 };
		assert_levels(r, want, 2);
	}
	/* a second IER write with ETBEI already set is no edge */
	WR(IER, UART_IER_ERBFI | UART_IER_ELSI | UART_IER_ETBEI);
	cr_assert_eq(RD(IIR), 0xc2);
	WR(IER, UART_IER_ERBFI | UART_IER_ELSI | UART_IER_ETBEI);
	cr_assert_eq(RD(IIR), 0xc1);
	WR(IER, UART_IER_ERBFI | UART_IER_ELSI);
	{
		const int want[] = { 1, 0, 1, 0 };
		assert_levels(r, want, 4);
	}
	/* start_tx: IER |= THRI -> IRQ; handler: IIR (clears), LSR, 3 x THR
	 * (THR empties at once: pending again -> IRQ); loop: IIR clears;
	 * tx_chars finds the buffer empty: IER &= ~THRI */
	WR(IER, UART_IER_ERBFI | UART_IER_ELSI | UART_IER_ETBEI);
	cr_assert_eq(RD(IIR), 0xc2);
	cr_assert_eq(RD(LSR), 0x60);
	WR(THR, 'a');
	WR(THR, 'b');
	WR(THR, 'c');
	cr_assert_eq(RD(IIR), 0xc2);
	cr_assert_eq(RD(LSR), 0x60);
	WR(IER, UART_IER_ERBFI | UART_IER_ELSI);
	cr_assert_eq(RD(IIR), 0xc1);
	{
		const int want[] = { 1, 0, 1, 0, 1, 0, 1, 0 };
		assert_levels(r, want, 8);
	}
	cr_assert_eq(r->nout, 3);
	cr_assert_arr_eq(r->out, "abc", 3);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

Test(uart, rx_interrupt_raised_by_input_lowered_when_empty)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	WR(MCR, UART_MCR_RTS | UART_MCR_DTR | UART_MCR_OUT2);
	WR(IER, UART_IER_ERBFI | UART_IER_ELSI);
	cr_assert_eq(rec_nlevels(r), 0);
	cr_assert_eq(uart_push_input(u, "abc", 3), 3);
	{
		const int want[] = { 1 };
		assert_levels(r, want, 1);
	}
	cr_assert_eq(uart_push_input(u, "d", 1), 1); /* still 1: no call */
	cr_assert_eq(rec_nlevels(r), 1);
	cr_assert_eq(RD(IIR), 0x04);
	cr_assert_eq(RD(RBR), 'a');
	cr_assert_eq(RD(RBR), 'b');
	cr_assert_eq(RD(RBR), 'c');
	cr_assert_eq(rec_nlevels(r), 1);
	cr_assert_eq(RD(RBR), 'd');
	{
		const int want[] = { 1, 0 };
		assert_levels(r, want, 2);
	}
	cr_assert_eq(RD(IIR), 0x01);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

Test(uart, irq_called_exactly_on_level_changes)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	WR(MCR, UART_MCR_RTS);
	WR(IER, UART_IER_ERBFI);
	cr_assert_eq(uart_push_input(u, "x", 1), 1);
	cr_assert_eq(rec_nlevels(r), 0); /* OUT2 low: the line stays low */
	cr_assert_eq(RD(IIR), 0x04);      /* but the UART reports it */
	WR(MCR, UART_MCR_RTS | UART_MCR_OUT2);
	WR(MCR, UART_MCR_RTS | UART_MCR_OUT2 | UART_MCR_DTR);
	WR(MCR, UART_MCR_RTS);
	WR(MCR, UART_MCR_RTS | UART_MCR_OUT2);
	WR(MCR, UART_MCR_RTS | UART_MCR_OUT2 | UART_MCR_LOOP); /* loopback: off */
	WR(MCR, UART_MCR_RTS | UART_MCR_OUT2);
	WR(IER, UART_IER_ERBFI | UART_IER_ETBEI); /* more sources: no change */
	WR(LCR, 0x03);
	WR(SCR, 0x11);
	(void)RD(LSR);
	(void)RD(MSR);
	WR(IER, 0); /* nothing enabled */
	WR(IER, UART_IER_ERBFI);
	(void)RD(RBR);
	{
		const int want[] = { 1, 0, 1, 0, 1, 0, 1, 0 };
		assert_levels(r, want, 8);
	}
	uart_destroy(u);
	free(u);
	rec_free(r);
}

/* ---- host input --------------------------------------------------------- */

Test(uart, input_only_while_guest_asserts_rts)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	cr_assert_eq(uart_push_input(u, "a", 1), 0);
	WR(MCR, UART_MCR_DTR | UART_MCR_OUT2);
	cr_assert_eq(uart_push_input(u, "a", 1), 0);
	cr_assert_eq(uart_wait_input_room(u, NULL, 10), 0); /* times out */
	WR(MCR, UART_MCR_RTS);
	cr_assert_eq(uart_wait_input_room(u, NULL, 0), UART_RX_RING);
	cr_assert_eq(uart_push_input(u, "a", 1), 1);
	WR(MCR, 0); /* bytes already taken stay */
	cr_assert_eq(RD(LSR), 0x61);
	cr_assert_eq(RD(RBR), 'a');
	uart_destroy(u);
	free(u);
	rec_free(r);
}

Test(uart, full_ring_refuses_and_keeps_order)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	WR(MCR, UART_MCR_RTS);
	static uint8_t in[UART_RX_RING + 1000];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + (i >> 8));
	cr_assert_eq(uart_push_input(u, in, sizeof(in)), UART_RX_RING);
	cr_assert_eq(uart_push_input(u, in + UART_RX_RING, 1), 0);
	cr_assert_eq(uart_wait_input_room(u, NULL, 0), 0);
	cr_assert_eq(RD(RBR), in[0]);
	cr_assert_eq(uart_wait_input_room(u, NULL, 0), 1);
	cr_assert_eq(uart_push_input(u, in + UART_RX_RING, 5), 1);
	for (size_t i = 1; i <= UART_RX_RING; i++) {
		cr_assert_eq(RD(LSR) & UART_LSR_DR, UART_LSR_DR);
		cr_assert_eq(RD(RBR), in[i], "byte %zu", i);
	}
	cr_assert_eq(RD(LSR), 0x60);
	/* wrapped around: push and read again across the ring's end */
	cr_assert_eq(uart_push_input(u, in, 3000), 3000);
	for (size_t i = 0; i < 3000; i++)
		cr_assert_eq(RD(RBR), in[i]);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

Test(uart, fifo_reset_and_mode_change_clear_rx)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	WR(MCR, UART_MCR_RTS);
	WR(FCR, UART_FCR_ENABLE);
	cr_assert_eq(uart_push_input(u, "abc", 3), 3);
	WR(FCR, UART_FCR_ENABLE | UART_FCR_TX_RESET); /* TX reset only */
	cr_assert_eq(RD(LSR), 0x61);
	WR(FCR, UART_FCR_ENABLE); /* no change */
	cr_assert_eq(RD(LSR), 0x61);
	WR(FCR, UART_FCR_ENABLE | UART_FCR_RX_RESET);
	cr_assert_eq(RD(LSR), 0x60);
	cr_assert_eq(uart_push_input(u, "abc", 3), 3);
	WR(FCR, 0x00); /* FIFO -> 16450 mode */
	cr_assert_eq(RD(LSR), 0x60);
	cr_assert_eq(uart_push_input(u, "abc", 3), 3);
	WR(FCR, UART_FCR_RX_RESET); /* bit 0 clear: not programmed */
	cr_assert_eq(RD(LSR), 0x61);
	WR(FCR, UART_FCR_ENABLE); /* 16450 -> FIFO mode */
	cr_assert_eq(RD(LSR), 0x60);
	cr_assert_eq(uart_wait_input_room(u, NULL, 0), UART_RX_RING);
	uart_destroy(u);
	free(u);
	rec_free(r);
}

/* ---- transmit ------------------------------------------------------------ */

static void send(struct uart_16550 *u, const char *s)
{
	for (; *s; s++)
		WR(THR, (uint8_t)*s);
}

Test(uart, tx_batches_in_order)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	setup(u, r);
	/* a newline delivers */
	send(u, "hello\nwor");
	cr_assert_eq(r->ncalls, 1);
	cr_assert_eq(r->call_len[0], 6);
	/* the polled console pattern: LSR, THR, LSR, THR ... then IER */
	(void)RD(LSR);
	WR(THR, 'l');
	(void)RD(LSR);
	WR(THR, 'd');
	cr_assert_eq(r->ncalls, 1);
	(void)RD(LSR);
	WR(IER, 0);
	cr_assert_eq(r->ncalls, 2);
	cr_assert_eq(r->call_len[1], 5);
	/* two LSR reads in a row (polling for input) deliver */
	send(u, "$ ");
	(void)RD(LSR);
	cr_assert_eq(r->ncalls, 2);
	(void)RD(LSR);
	cr_assert_eq(r->ncalls, 3);
	/* any other access delivers: IIR read */
	send(u, "ab");
	(void)RD(IIR);
	cr_assert_eq(r->ncalls, 4);
	/* a full batch delivers by itself */
	for (int i = 0; i < UART_TX_BATCH + 10; i++)
		WR(THR, (uint8_t)('A' + i % 26));
	cr_assert_eq(r->ncalls, 5);
	cr_assert_eq(r->call_len[4], UART_TX_BATCH);
	uart_flush_output(u);
	cr_assert_eq(r->ncalls, 6);
	cr_assert_eq(r->call_len[5], 10);
	uart_flush_output(u); /* nothing left: no call */
	cr_assert_eq(r->ncalls, 6);
	/* destroy delivers the rest */
	send(u, "bye");
	char want[16 + UART_TX_BATCH + 10 + 3];
	size_t n = 0;
	memcpy(want + n, "hello\nworld$ ab", 15);
	n += 15;
	for (int i = 0; i < UART_TX_BATCH + 10; i++)
		want[n++] = (char)('A' + i % 26);
	memcpy(want + n, "bye", 3);
	n += 3;
	uart_destroy(u);
	cr_assert_eq(r->ncalls, 7);
	cr_assert_eq(r->nout, n);
	cr_assert_arr_eq(r->out, want, n);
	free(u);
	rec_free(r);
}

/* Several vCPU threads transmitting at once, with a slow callback: every
 * byte arrives once, and each thread's bytes stay in their order. */
struct txw {
	struct uart_16550 *u;
	int id;
};

#define TXW_THREADS 3
#define TXW_BYTES 20000

static void *tx_writer(void *arg)
{
	struct txw *w = arg;
	for (int i = 0; i < TXW_BYTES; i++) {
		/* byte: thread id in the top 2 bits, a 6-bit counter */
		uart_write(w->u, UART_REG_THR, (uint8_t)(w->id << 6 | (i & 0x3f)));
		if (i % 97 == 0)
			(void)uart_read(w->u, UART_REG_IIR);
	}
	return NULL;
}

static atomic_int tx_inside, tx_overlap;

/* Slow, and notes whether two threads were ever inside at once. */
static void slow_tx(void *ctx, const char *buf, size_t n)
{
	if (atomic_fetch_add(&tx_inside, 1) != 0)
		atomic_store(&tx_overlap, 1);
	usleep(100);
	rec_tx(ctx, buf, n);
	atomic_fetch_sub(&tx_inside, 1);
}

Test(uart, tx_concurrent_writers_keep_order, .timeout = 60)
{
	struct rec *r = rec_new();
	struct uart_16550 *u = malloc(sizeof(*u));
	cr_assert_eq(uart_init(u, NULL, NULL, slow_tx, r), 0);
	atomic_store(&tx_overlap, 0);
	pthread_t t[TXW_THREADS];
	struct txw w[TXW_THREADS];
	for (int i = 0; i < TXW_THREADS; i++) {
		w[i] = (struct txw){ u, i + 1 };
		cr_assert_eq(pthread_create(&t[i], NULL, tx_writer, &w[i]), 0);
	}
	for (int i = 0; i < TXW_THREADS; i++)
		pthread_join(t[i], NULL);
	uart_destroy(u);
	cr_assert_eq(atomic_load(&tx_overlap), 0, "two threads inside the tx callback at once");
	cr_assert_gt(r->ncalls, 10, "%d tx calls", r->ncalls); /* many batches, not one */
	cr_assert_eq(r->nout, (size_t)TXW_THREADS * TXW_BYTES);
	int next[TXW_THREADS + 1] = { 0 };
	for (size_t i = 0; i < r->nout; i++) {
		uint8_t b = (uint8_t)r->out[i];
		int id = b >> 6;
		cr_assert(id >= 1 && id <= TXW_THREADS);
		cr_assert_eq(b & 0x3f, next[id] & 0x3f, "thread %d byte %d out of order at %zu", id, next[id], i);
		next[id]++;
	}
	for (int id = 1; id <= TXW_THREADS; id++)
		cr_assert_eq(next[id], TXW_BYTES);
	free(u);
	rec_free(r);
}

/* ---- console_input: pipe ------------------------------------------------ */

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Read n bytes through LSR/RBR as a polling guest would, within ms. */
static size_t guest_read(struct uart_16550 *u, uint8_t *buf, size_t n, long ms)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	size_t got = 0;
	while (got < n && ms_since(&t0) < ms) {
		if (uart_read(u, UART_REG_LSR) & UART_LSR_DR)
			buf[got++] = uart_read(u, UART_REG_RBR);
		else
			usleep(200);
	}
	return got;
}

static size_t rx_count(struct uart_16550 *u)
{
	pthread_mutex_lock(&u->lock);
	size_t n = u->rx_count;
	pthread_mutex_unlock(&u->lock);
	return n;
}

static void write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void count_quit(void *ctx)
{
	atomic_fetch_add((atomic_int *)ctx, 1);
}

Test(console_input, pipe_bytes_in_order_unchanged, .timeout = 30)
{
	struct uart_16550 *u = malloc(sizeof(*u));
	cr_assert_eq(uart_init(u, NULL, NULL, NULL, NULL), 0);
	uart_write(u, UART_REG_MCR, UART_MCR_RTS);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	atomic_int q = 0;
	struct console_input *ci;
	struct vmm_err e = { 0 };
	cr_assert_eq(console_input_start(&ci, p[0], u, count_quit, &q, &e), 0, "%s", e.msg);
	/* no escape, no translation on a pipe */
	const uint8_t msg[] = "ls -l\n\x01x\x01\x01\r\x03\x00\xff";
	write_all(p[1], msg, sizeof(msg));
	uint8_t got[sizeof(msg)];
	cr_assert_eq(guest_read(u, got, sizeof(msg), 5000), sizeof(msg));
	cr_assert_arr_eq(got, msg, sizeof(msg));
	cr_assert_eq(atomic_load(&q), 0);
	console_input_stop(ci);
	close(p[0]);
	close(p[1]);
	uart_destroy(u);
	free(u);
}

struct pipe_writer {
	int fd;
	const uint8_t *buf;
	size_t n;
};

static void *pipe_writer(void *arg)
{
	struct pipe_writer *w = arg;
	write_all(w->fd, w->buf, w->n);
	close(w->fd);
	return NULL;
}

#define BIG (100 * 1024)

Test(console_input, pipe_100k_through_a_full_uart_without_loss, .timeout = 60)
{
	struct uart_16550 *u = malloc(sizeof(*u));
	cr_assert_eq(uart_init(u, NULL, NULL, NULL, NULL), 0);
	uart_write(u, UART_REG_MCR, UART_MCR_RTS | UART_MCR_DTR | UART_MCR_OUT2);
	uint8_t *in = malloc(BIG), *got = malloc(BIG);
	uint32_t x = 12345;
	for (size_t i = 0; i < BIG; i++) {
		x = x * 1103515245u + 12345u;
		in[i] = (uint8_t)(x >> 16);
	}
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct console_input *ci;
	struct vmm_err e = { 0 };
	cr_assert_eq(console_input_start(&ci, p[0], u, NULL, NULL, &e), 0, "%s", e.msg);
	pthread_t wt;
	struct pipe_writer w = { p[1], in, BIG };
	cr_assert_eq(pthread_create(&wt, NULL, pipe_writer, &w), 0);
	/* the guest does not read for a while: the UART fills and the relay
	 * blocks (the rest waits in the pipe and the writer) */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (rx_count(u) < UART_RX_RING && ms_since(&t0) < 5000)
		usleep(1000);
	cr_assert_eq(rx_count(u), UART_RX_RING);
	usleep(50 * 1000);
	cr_assert_eq(rx_count(u), UART_RX_RING);
	/* now drain everything */
	cr_assert_eq(guest_read(u, got, BIG, 30000), BIG);
	cr_assert_arr_eq(got, in, BIG);
	pthread_join(wt, NULL);
	console_input_stop(ci);
	close(p[0]);
	cr_assert_eq(rx_count(u), 0);
	uart_destroy(u);
	free(u);
	free(in);
	free(got);
}

Test(console_input, stop_while_blocked_returns_promptly, .timeout = 30)
{
	struct uart_16550 *u = malloc(sizeof(*u));
	cr_assert_eq(uart_init(u, NULL, NULL, NULL, NULL), 0);
	uart_write(u, UART_REG_MCR, UART_MCR_RTS);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct console_input *ci;
	struct vmm_err e = { 0 };
	cr_assert_eq(console_input_start(&ci, p[0], u, NULL, NULL, &e), 0);
	static uint8_t buf[UART_RX_RING + 100];
	memset(buf, 'k', sizeof(buf));
	write_all(p[1], buf, sizeof(buf));
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (rx_count(u) < UART_RX_RING && ms_since(&t0) < 5000)
		usleep(1000);
	cr_assert_eq(rx_count(u), UART_RX_RING); /* the relay holds 100 bytes, waiting */
	usleep(20 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	console_input_stop(ci);
	cr_assert_lt(ms_since(&t0), 500);
	cr_assert_eq(rx_count(u), UART_RX_RING); /* nothing pushed past full */
	close(p[0]);
	close(p[1]);
	uart_destroy(u);
	free(u);
}

Test(console_input, input_waits_for_rts_then_flows, .timeout = 30)
{
	struct uart_16550 *u = malloc(sizeof(*u));
	cr_assert_eq(uart_init(u, NULL, NULL, NULL, NULL), 0);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct console_input *ci;
	struct vmm_err e = { 0 };
	cr_assert_eq(console_input_start(&ci, p[0], u, NULL, NULL, &e), 0);
	write_all(p[1], "early", 5);
	usleep(50 * 1000);
	cr_assert_eq(rx_count(u), 0); /* the guest has not raised RTS */
	/* Linux's start-up: clear FIFOs, read RBR, then raise RTS */
	uart_write(u, UART_REG_FCR, UART_FCR_ENABLE | UART_FCR_RX_RESET);
	(void)uart_read(u, UART_REG_RBR);
	uart_write(u, UART_REG_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
	uint8_t got[5];
	cr_assert_eq(guest_read(u, got, 5, 5000), 5);
	cr_assert_arr_eq(got, "early", 5);
	/* stop while waiting for RTS is prompt too */
	uart_write(u, UART_REG_MCR, UART_MCR_DTR);
	write_all(p[1], "late", 4);
	usleep(20 * 1000);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	console_input_stop(ci);
	cr_assert_lt(ms_since(&t0), 500);
	close(p[0]);
	close(p[1]);
	uart_destroy(u);
	free(u);
}

Test(console_input, eof_ends_the_relay_quietly, .timeout = 30)
{
	struct uart_16550 *u = malloc(sizeof(*u));
	cr_assert_eq(uart_init(u, NULL, NULL, NULL, NULL), 0);
	uart_write(u, UART_REG_MCR, UART_MCR_RTS);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct console_input *ci;
	struct vmm_err e = { 0 };
	atomic_int q = 0;
	cr_assert_eq(console_input_start(&ci, p[0], u, count_quit, &q, &e), 0);
	write_all(p[1], "last", 4);
	close(p[1]);
	uint8_t got[4];
	cr_assert_eq(guest_read(u, got, 4, 5000), 4);
	cr_assert_arr_eq(got, "last", 4);
	usleep(20 * 1000); /* the relay has ended by now; stop() just joins */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	console_input_stop(ci);
	cr_assert_lt(ms_since(&t0), 500);
	cr_assert_eq(atomic_load(&q), 0); /* EOF does not quit: the guest runs on */
	close(p[0]);
	cr_assert_eq(uart_read(u, UART_REG_LSR), 0x60);
	uart_destroy(u);
	free(u);
}

Test(console_input, bad_arguments)
{
	struct uart_16550 *u = malloc(sizeof(*u));
	cr_assert_eq(uart_init(u, NULL, NULL, NULL, NULL), 0);
	struct console_input *ci = (void *)1;
	struct vmm_err e = { 0 };
	cr_assert_eq(console_input_start(&ci, -1, u, NULL, NULL, &e), -EINVAL);
	cr_assert_eq(e.code, -EINVAL);
	cr_assert_eq(console_input_start(&ci, 0, NULL, NULL, NULL, &e), -EINVAL);
	int fd = 987; /* a descriptor that is not open */
	cr_assert_eq(fcntl(fd, F_GETFD), -1);
	cr_assert_eq(console_input_start(&ci, fd, u, NULL, NULL, &e), -EBADF);
	cr_assert_null(ci);
	cr_assert(strstr(e.msg, "console input") != NULL, "%s", e.msg);
	console_input_stop(NULL);
	uart_destroy(u);
	free(u);
}

/* ---- console_input: pseudo-terminal ------------------------------------- */

static void open_pty(int *master, int *slave)
{
	cr_assert_eq(openpty(master, slave, NULL, NULL, NULL), 0, "openpty: %s", strerror(errno));
}

static bool termios_same(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag && a->c_cflag == b->c_cflag &&
	       a->c_lflag == b->c_lflag && !memcmp(a->c_cc, b->c_cc, sizeof(a->c_cc));
}

Test(console_input, tty_raw_mode_set_and_restored, .timeout = 30)
{
	int m, s;
	open_pty(&m, &s);
	struct termios before, raw, after;
	cr_assert_eq(tcgetattr(s, &before), 0);
	cr_assert(before.c_lflag & ECHO); /* a fresh pty is cooked */
	struct uart_16550 *u = malloc(sizeof(*u));
	cr_assert_eq(uart_init(u, NULL, NULL, NULL, NULL), 0);
	struct console_input *ci;
	struct vmm_err e = { 0 };
	cr_assert_eq(console_input_start(&ci, s, u, NULL, NULL, &e), 0, "%s", e.msg);
	cr_assert_eq(tcgetattr(s, &raw), 0);
	cr_assert_eq(raw.c_lflag & (ECHO | ECHONL | ICANON | ISIG | IEXTEN), 0);
	cr_assert_eq(raw.c_iflag & (ICRNL | INLCR | IGNCR | IXON | IXOFF | ISTRIP | BRKINT), 0);
	cr_assert_eq(raw.c_cflag & (CSIZE | PARENB), CS8);
	cr_assert_eq(raw.c_cc[VMIN], 1);
	cr_assert_eq(raw.c_cc[VTIME], 0);
	cr_assert_eq(raw.c_oflag, before.c_oflag); /* output processing kept */
	console_input_stop(ci);
	cr_assert_eq(tcgetattr(s, &after), 0);
	cr_assert(termios_same(&before, &after));
	close(m);
	close(s);
	uart_destroy(u);
	free(u);
}

Test(console_input, tty_ctrl_a_escapes, .timeout = 30)
{
	int m, s;
	open_pty(&m, &s);
	struct uart_16550 *u = malloc(sizeof(*u));
	cr_assert_eq(uart_init(u, NULL, NULL, NULL, NULL), 0);
	uart_write(u, UART_REG_MCR, UART_MCR_RTS);
	atomic_int q = 0;
	struct console_input *ci;
	struct vmm_err e = { 0 };
	cr_assert_eq(console_input_start(&ci, s, u, count_quit, &q, &e), 0, "%s", e.msg);
	/* Ctrl-C, CR and Ctrl-Z pass as bytes (no signals, no ICRNL);
	 * Ctrl-A Ctrl-A is one Ctrl-A; Ctrl-A q is both bytes */
	write_all(m, "a\x03\r\x1a\x01\x01z\x01qb", 10);
	const uint8_t want[] = { 'a', 0x03, '\r', 0x1a, 0x01, 'z', 0x01, 'q', 'b' };
	uint8_t got[sizeof(want)];
	cr_assert_eq(guest_read(u, got, sizeof(want), 5000), sizeof(want));
	cr_assert_arr_eq(got, want, sizeof(want));
	cr_assert_eq(atomic_load(&q), 0);
	/* Ctrl-A x calls quit and sends nothing */
	write_all(m, "\x01x", 2);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(&q) == 0 && ms_since(&t0) < 5000)
		usleep(1000);
	cr_assert_eq(atomic_load(&q), 1);
	/* the escape split across two reads */
	write_all(m, "\x01", 1);
	usleep(30 * 1000);
	write_all(m, "x", 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(&q) == 1 && ms_since(&t0) < 5000)
		usleep(1000);
	cr_assert_eq(atomic_load(&q), 2);
	write_all(m, "!", 1);
	cr_assert_eq(guest_read(u, got, 1, 5000), 1);
	cr_assert_eq(got[0], '!'); /* nothing else arrived before it */
	cr_assert_eq(rx_count(u), 0);
	console_input_stop(ci);
	close(m);
	close(s);
	uart_destroy(u);
	free(u);
}

/* exit() without console_input_stop(): the atexit handler restores. */
Test(console_input, tty_restored_at_exit, .timeout = 30)
{
	int m, s;
	open_pty(&m, &s);
	struct termios before, after;
	cr_assert_eq(tcgetattr(s, &before), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		static struct uart_16550 cu;
		struct console_input *ci;
		if (uart_init(&cu, NULL, NULL, NULL, NULL) ||
		    console_input_start(&ci, s, &cu, NULL, NULL, NULL))
			_exit(3);
		struct termios now;
		if (tcgetattr(s, &now) || (now.c_lflag & ECHO))
			_exit(4);
		exit(0); /* runs atexit handlers; the relay thread is still running */
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	cr_assert_eq(tcgetattr(s, &after), 0);
	cr_assert(termios_same(&before, &after));
	close(m);
	close(s);
}
