/*
 * uart_16550.c - the 16550A register model (see uart_16550.h for what is
 * modelled, what differs from the chip, and the locking rules).
 *
 * Transmit batching: bytes written to THR collect in tx_buf and are handed
 * to the tx callback in one call when
 *   - the byte is '\n', or the batch is full;
 *   - the guest makes any access other than a THR write or an LSR read;
 *   - the guest reads LSR twice without a THR write in between (it polls for
 *     something other than "may I send the next byte");
 *   - uart_flush_output() or uart_destroy() is called.
 * Linux's two output paths both end in such an access: the polled console
 * (serial8250_console_write: LSR, THR, LSR, THR, ..., then an IER write) and
 * the interrupt-driven transmitter (up to 16 THR writes, then an IER write
 * or the IIR read of the interrupt loop). A guest that writes a partial line
 * and then never touches the UART again keeps it batched until the VMM
 * calls uart_flush_output().
 * Ordering: bytes enter tx_buf in THR-write order under u->lock; at most one
 * thread is inside the callback (tx_busy) and it takes the whole batch, so
 * batches leave in order. A flushing thread waits for the delivery in
 * progress and then delivers the bytes that were there when it flushed
 * (tx_seq/tx_done), never an unbounded stream of other vCPUs' bytes.
 */
#include "uart_16550.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* Receive trigger levels by FCR bits 7:6 [DS, FIFO Control Register]. */
static const unsigned rx_trigger_bytes[4] = { 1, 4, 8, 14 };

#define LSR_POLLS_FLUSH 2 /* the second LSR read in a row flushes */

static bool fifo_on(const struct uart_16550 *u)
{
	return u->fcr & UART_FCR_ENABLE;
}

static bool dlab(const struct uart_16550 *u)
{
	return u->lcr & UART_LCR_DLAB;
}

/* The host may send while the guest asserts RTS outside loopback (in
 * loopback the receiver input is disconnected [DS, MCR bit 4]). */
static bool accepting(const struct uart_16550 *u)
{
	return (u->mcr & (UART_MCR_RTS | UART_MCR_LOOP)) == UART_MCR_RTS;
}

/* MSR bits 7:4: the host's lines, or in loopback the MCR outputs
 * (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD) [DS, MODEM Control Register]. */
static uint8_t msr_lines(const struct uart_16550 *u)
{
	if (!(u->mcr & UART_MCR_LOOP))
		return UART_MSR_HOST;
	uint8_t m = 0;
	if (u->mcr & UART_MCR_RTS)
		m |= UART_MSR_CTS;
	if (u->mcr & UART_MCR_DTR)
		m |= UART_MSR_DSR;
	if (u->mcr & UART_MCR_OUT1)
		m |= UART_MSR_RI;
	if (u->mcr & UART_MCR_OUT2)
		m |= UART_MSR_DCD;
	return m;
}

/* The highest-priority enabled pending interrupt [DS Table IV]. */
static uint8_t iir_id(const struct uart_16550 *u)
{
	if ((u->ier & UART_IER_ELSI) && (u->lsr_err & UART_LSR_ERRORS))
		return UART_IIR_RLS;
	if ((u->ier & UART_IER_ERBFI) && u->rx_count) {
		if (fifo_on(u) && u->rx_count < rx_trigger_bytes[u->fcr >> 6])
			return UART_IIR_CTI;
		return UART_IIR_RDA;
	}
	if ((u->ier & UART_IER_ETBEI) && u->thre_pending)
		return UART_IIR_THRE;
	if ((u->ier & UART_IER_EDSSI) && (u->msr_delta & UART_MSR_DELTA))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

/* Lock held: report the IRQ line if it changed. OUT2 gates it on a PC;
 * loopback forces OUT2's pin inactive. */
static void update_irq(struct uart_16550 *u)
{
	int level = iir_id(u) != UART_IIR_NO_INT &&
	            (u->mcr & (UART_MCR_OUT2 | UART_MCR_LOOP)) == UART_MCR_OUT2;
	if (level == u->irq_level)
		return;
	u->irq_level = level;
	if (u->irq)
		u->irq(u->irq_ctx, level);
}

/* ---- receive buffer ----------------------------------------------------- */

static void rx_clear(struct uart_16550 *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	pthread_cond_broadcast(&u->room_cv);
}

static size_t rx_put(struct uart_16550 *u, const uint8_t *p, size_t n)
{
	size_t room = UART_RX_RING - u->rx_count;
	if (n > room)
		n = room;
	size_t tail = (u->rx_head + u->rx_count) % UART_RX_RING;
	size_t first = UART_RX_RING - tail < n ? UART_RX_RING - tail : n;
	memcpy(u->rx + tail, p, first);
	memcpy(u->rx, p + first, n - first);
	u->rx_count += n;
	return n;
}

/* RBR: the next byte, or the last one again when empty. */
static uint8_t rx_pop(struct uart_16550 *u)
{
	if (u->rx_count) {
		u->rbr = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % UART_RX_RING;
		u->rx_count--;
		pthread_cond_broadcast(&u->room_cv);
	}
	return u->rbr;
}

/* ---- transmit batch ----------------------------------------------------- */

/* Lock held on entry and return (dropped around the callback): deliver at
 * least every byte appended before the call. */
static void tx_flush(struct uart_16550 *u)
{
	uint64_t target = u->tx_seq;
	while (u->tx_done < target) {
		if (u->tx_busy) {
			pthread_cond_wait(&u->tx_cv, &u->lock);
			continue;
		}
		char out[UART_TX_BATCH];
		size_t n = u->tx_len;
		memcpy(out, u->tx_buf, n);
		u->tx_len = 0;
		u->tx_busy = true;
		pthread_mutex_unlock(&u->lock);
		if (u->tx)
			u->tx(u->tx_ctx, out, n);
		pthread_mutex_lock(&u->lock);
		u->tx_done += n;
		u->tx_busy = false;
		pthread_cond_broadcast(&u->tx_cv);
	}
}

static void tx_append(struct uart_16550 *u, uint8_t byte)
{
	while (u->tx_len == UART_TX_BATCH)
		tx_flush(u);
	u->tx_buf[u->tx_len++] = (char)byte;
	u->tx_seq++;
}

/* ---- register writes ---------------------------------------------------- */

/* Returns whether the batch should be delivered now. */
static bool write_thr(struct uart_16550 *u, uint8_t val)
{
	/* Writing THR clears the THRE interrupt; the byte leaves at once and
	 * THR is empty again, which raises it [DS Table IV, priority 3]. */
	u->thre_pending = true;
	if (u->mcr & UART_MCR_LOOP) {
		/* Loopback: the byte is received, not sent; a full buffer
		 * overruns and the byte is lost [DS, LSR bit 1]. */
		if (!rx_put(u, &val, 1))
			u->lsr_err |= UART_LSR_OE;
		return true;
	}
	tx_append(u, val);
	return val == '\n' || u->tx_len == UART_TX_BATCH;
}

static void write_ier(struct uart_16550 *u, uint8_t val)
{
	uint8_t old = u->ier;
	u->ier = val & UART_IER_MASK;
	/* Enabling ETBEI while THR is empty (always, here) raises the THRE
	 * interrupt even if an IIR read cleared it before; Linux's start-up
	 * THRE test and its __start_tx rely on this edge. */
	if (!(old & UART_IER_ETBEI) && (u->ier & UART_IER_ETBEI))
		u->thre_pending = true;
}

static void write_fcr(struct uart_16550 *u, uint8_t val)
{
	/* Changing FIFO mode clears both FIFOs; the other bits are only
	 * programmed while bit 0 is 1 [DS, FIFO Control Register]. The
	 * transmit FIFO is always empty here, so TX_RESET has nothing to do. */
	if ((val ^ u->fcr) & UART_FCR_ENABLE)
		rx_clear(u);
	if (!(val & UART_FCR_ENABLE)) {
		u->fcr = 0;
		return;
	}
	if (val & UART_FCR_RX_RESET)
		rx_clear(u);
	u->fcr = val & (UART_FCR_ENABLE | UART_FCR_DMA | UART_FCR_TRIG);
}

static void write_mcr(struct uart_16550 *u, uint8_t val)
{
	uint8_t before = msr_lines(u);
	u->mcr = val & UART_MCR_MASK;
	uint8_t after = msr_lines(u);
	uint8_t changed = before ^ after;
	if (changed & UART_MSR_CTS)
		u->msr_delta |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		u->msr_delta |= UART_MSR_DDSR;
	if (changed & UART_MSR_DCD)
		u->msr_delta |= UART_MSR_DDCD;
	if ((before & UART_MSR_RI) && !(after & UART_MSR_RI))
		u->msr_delta |= UART_MSR_TERI;
	if (accepting(u))
		pthread_cond_broadcast(&u->room_cv);
}

/* ---- entry points ------------------------------------------------------- */

int uart_init(struct uart_16550 *u, uart_irq_fn irq, void *irq_ctx, uart_tx_fn tx, void *tx_ctx)
{
	memset(u, 0, sizeof(*u));
	/* [DS Table III]: IER, FCR, LCR, MCR = 0; IIR = 0x01; LSR = 0x60;
	 * MSR deltas 0, lines from the inputs. The divisor latch and SCR are
	 * not reset by the chip; they start at divisor 12 (9600 baud at
	 * 1.8432 MHz) and 0. */
	u->dll = 12;
	u->irq = irq;
	u->irq_ctx = irq_ctx;
	u->tx = tx;
	u->tx_ctx = tx_ctx;

	int r = pthread_mutex_init(&u->lock, NULL);
	if (r)
		return -r;
	pthread_condattr_t ca;
	r = pthread_condattr_init(&ca);
	if (!r)
		r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!r) {
		r = pthread_cond_init(&u->room_cv, &ca);
		if (!r && (r = pthread_cond_init(&u->tx_cv, NULL)))
			pthread_cond_destroy(&u->room_cv);
		pthread_condattr_destroy(&ca);
	}
	if (r) {
		pthread_mutex_destroy(&u->lock);
		return -r;
	}
	return 0;
}

void uart_destroy(struct uart_16550 *u)
{
	uart_flush_output(u);
	pthread_cond_destroy(&u->tx_cv);
	pthread_cond_destroy(&u->room_cv);
	pthread_mutex_destroy(&u->lock);
}

uint8_t uart_read(struct uart_16550 *u, unsigned reg)
{
	uint8_t v;
	bool flush = true;
	pthread_mutex_lock(&u->lock);
	switch (reg) {
	case UART_REG_RBR:
		v = dlab(u) ? u->dll : rx_pop(u);
		break;
	case UART_REG_IER:
		v = dlab(u) ? u->dlm : u->ier;
		break;
	case UART_REG_IIR: {
		uint8_t id = iir_id(u);
		/* Reading IIR clears THRE when that is what it reports. */
		if (id == UART_IIR_THRE)
			u->thre_pending = false;
		v = id | (fifo_on(u) ? UART_IIR_FIFO : 0);
		break;
	}
	case UART_REG_LCR:
		v = u->lcr;
		break;
	case UART_REG_MCR:
		v = u->mcr;
		break;
	case UART_REG_LSR:
		v = (u->rx_count ? UART_LSR_DR : 0) | UART_LSR_THRE | UART_LSR_TEMT | u->lsr_err;
		u->lsr_err = 0; /* reading LSR clears the error bits */
		if (u->lsr_polls < LSR_POLLS_FLUSH)
			u->lsr_polls++;
		flush = u->lsr_polls >= LSR_POLLS_FLUSH;
		break;
	case UART_REG_MSR:
		v = msr_lines(u) | u->msr_delta;
		u->msr_delta = 0; /* reading MSR clears the deltas */
		break;
	case UART_REG_SCR:
		v = u->scr;
		break;
	default:
		v = 0xff;
		break;
	}
	if (reg != UART_REG_LSR)
		u->lsr_polls = 0;
	update_irq(u);
	if (flush && u->tx_len)
		tx_flush(u);
	pthread_mutex_unlock(&u->lock);
	return v;
}

void uart_write(struct uart_16550 *u, unsigned reg, uint8_t val)
{
	bool flush = true;
	pthread_mutex_lock(&u->lock);
	switch (reg) {
	case UART_REG_THR:
		if (dlab(u))
			u->dll = val;
		else
			flush = write_thr(u, val);
		break;
	case UART_REG_IER:
		if (dlab(u))
			u->dlm = val;
		else
			write_ier(u, val);
		break;
	case UART_REG_FCR:
		write_fcr(u, val);
		break;
	case UART_REG_LCR:
		u->lcr = val;
		break;
	case UART_REG_MCR:
		write_mcr(u, val);
		break;
	case UART_REG_SCR:
		u->scr = val;
		break;
	default: /* LSR and MSR are read-only (LSR writes are a factory test) */
		break;
	}
	u->lsr_polls = 0;
	update_irq(u);
	if (flush && u->tx_len)
		tx_flush(u);
	pthread_mutex_unlock(&u->lock);
}

size_t uart_push_input(struct uart_16550 *u, const void *buf, size_t n)
{
	pthread_mutex_lock(&u->lock);
	size_t took = accepting(u) ? rx_put(u, buf, n) : 0;
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return took;
}

size_t uart_wait_input_room(struct uart_16550 *u, const atomic_int *stop, int timeout_ms)
{
	struct timespec deadline;
	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	size_t room = 0;
	pthread_mutex_lock(&u->lock);
	for (;;) {
		if (stop && atomic_load(stop))
			break;
		if (accepting(u) && u->rx_count < UART_RX_RING) {
			room = UART_RX_RING - u->rx_count;
			break;
		}
		if (timeout_ms < 0)
			pthread_cond_wait(&u->room_cv, &u->lock);
		else if (pthread_cond_timedwait(&u->room_cv, &u->lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&u->lock);
	return room;
}

void uart_wake_input_waiters(struct uart_16550 *u)
{
	pthread_mutex_lock(&u->lock);
	pthread_cond_broadcast(&u->room_cv);
	pthread_mutex_unlock(&u->lock);
}

void uart_flush_output(struct uart_16550 *u)
{
	pthread_mutex_lock(&u->lock);
	tx_flush(u);
	pthread_mutex_unlock(&u->lock);
}

/* ---- snapshot ------------------------------------------------------------ */

void uart_save(struct uart_16550 *u, struct uart_16550_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&u->lock);
	tx_flush(u); /* output is the host's: it goes out before the snapshot */
	s->ier = u->ier;
	s->lcr = u->lcr;
	s->mcr = u->mcr;
	s->scr = u->scr;
	s->dll = u->dll;
	s->dlm = u->dlm;
	s->fcr = u->fcr;
	s->lsr_err = u->lsr_err;
	s->msr_delta = u->msr_delta;
	s->rbr = u->rbr;
	s->thre_pending = u->thre_pending;
	s->rx_count = (uint32_t)u->rx_count;
	for (size_t i = 0; i < u->rx_count; i++)
		s->rx[i] = u->rx[(u->rx_head + i) % UART_RX_RING];
	pthread_mutex_unlock(&u->lock);
}

int uart_restore(struct uart_16550 *u, const struct uart_16550_state *s)
{
	if (s->rx_count > UART_RX_RING)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	tx_flush(u);
	u->ier = s->ier;
	u->lcr = s->lcr;
	u->mcr = s->mcr;
	u->scr = s->scr;
	u->dll = s->dll;
	u->dlm = s->dlm;
	u->fcr = s->fcr;
	u->lsr_err = s->lsr_err;
	u->msr_delta = s->msr_delta;
	u->rbr = s->rbr;
	u->thre_pending = s->thre_pending != 0;
	memcpy(u->rx, s->rx, s->rx_count);
	u->rx_head = 0;
	u->rx_count = s->rx_count;
	u->lsr_polls = 0;
	/* Tell KVM the line's level again, whatever this UART reported last:
	 * the irqchip state was restored to the snapshot's meanwhile. */
	u->irq_level = -1;
	update_irq(u);
	pthread_cond_broadcast(&u->room_cv); /* RTS may have changed */
	pthread_mutex_unlock(&u->lock);
	return 0;
}
