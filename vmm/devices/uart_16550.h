/*
 * uart_16550.h - a 16550A UART (the PC's COM1 that a Linux guest's 8250
 * driver drives with console=ttyS0): the eight registers, the prioritized
 * interrupt output, loopback, a host receive buffer and a batched transmit
 * path. Pure device code: the VMM passes port accesses in (uart_read /
 * uart_write with reg = port - PC_PORT_COM1) and gets the interrupt level and
 * the transmitted bytes back through two callbacks.
 *
 * Reference: National Semiconductor / TI PC16550D "Universal Asynchronous
 * Receiver/Transmitter with FIFOs" datasheet (June 1995, TI SNLS378), cited
 * below as [DS]: Table II (register summary), Table III (reset
 * configuration), Table IV (interrupt control functions) and the register
 * descriptions (section "Registers"), cited by register name.
 *
 * Where the model differs from the chip, on purpose:
 *  - Transmission takes no time: a byte written to THR is sent at once, so
 *    LSR.THRE and LSR.TEMT are always 1 and the THR-empty interrupt becomes
 *    pending again right after each THR write (what the datasheet says
 *    happens once the byte has left).
 *  - The receive buffer is UART_RX_RING bytes deep in both FIFO and 16450
 *    mode (a 16550A holds 16, or 1): host input is never overrun. "Received
 *    data available" (IIR 0x04) is reported when the FIFO holds at least
 *    the FCR trigger level, "character timeout" (IIR 0x0c) when it holds
 *    less (the four character times of silence have passed at once).
 *  - Host input only flows while the guest asserts RTS (MCR bit 1) and is
 *    not in loopback: the host end behaves as a terminal that honours
 *    RTS/CTS flow control. Linux raises RTS when a tty opens the port and
 *    only after it has reset the FIFOs and read RBR to clear it, so input
 *    typed or piped before the guest listens waits on the host side instead
 *    of being thrown away by the driver's start-up.
 *  - The interrupt output reaches the IRQ line only while MCR.OUT2 is 1 and
 *    loopback is off: on a PC, OUT2 enables the COM port's IRQ driver, and
 *    loopback forces the OUT pins inactive [DS, MCR bit 4].
 *  - No parity, framing or break errors ever arrive (LSR bits 2-4 and 7
 *    stay 0); overrun (LSR bit 1) happens only in loopback when the receive
 *    buffer is full, and that looped byte is lost as on the chip.
 *
 * Locking: every entry point takes u->lock. The irq callback is called with
 * u->lock held, in the order the level changes (so KVM sees the exact
 * sequence); it must not call into this UART, and the VMM's KVM_IRQ_LINE
 * ioctl does not wait for vCPUs, so it cannot deadlock. The tx callback is
 * called WITHOUT u->lock (a stdout that blocks stalls only the transmitting
 * vCPU, not register reads or host input); one thread at a time delivers,
 * in transmit order (see uart_16550.c).
 */
#ifndef COWVM_UART_16550_H
#define COWVM_UART_16550_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- register offsets from the base port [DS Table II] */
#define UART_REG_RBR 0 /* read, DLAB=0: receiver buffer */
#define UART_REG_THR 0 /* write, DLAB=0: transmitter holding */
#define UART_REG_DLL 0 /* DLAB=1: divisor latch, low byte */
#define UART_REG_IER 1 /* DLAB=0: interrupt enable */
#define UART_REG_DLM 1 /* DLAB=1: divisor latch, high byte */
#define UART_REG_IIR 2 /* read: interrupt identification */
#define UART_REG_FCR 2 /* write: FIFO control */
#define UART_REG_LCR 3 /* line control */
#define UART_REG_MCR 4 /* modem control */
#define UART_REG_LSR 5 /* line status */
#define UART_REG_MSR 6 /* modem status */
#define UART_REG_SCR 7 /* scratch */
#define UART_NREGS   8

/* ---- IER [DS, Interrupt Enable Register]: bits 7:4 are always 0 */
#define UART_IER_ERBFI 0x01 /* received data available (and timeout) */
#define UART_IER_ETBEI 0x02 /* transmitter holding register empty */
#define UART_IER_ELSI  0x04 /* receiver line status */
#define UART_IER_EDSSI 0x08 /* modem status */
#define UART_IER_MASK  0x0f

/* ---- IIR [DS, Interrupt Identification Register; Table IV] */
#define UART_IIR_NO_INT  0x01 /* bit 0: 1 = no interrupt pending */
#define UART_IIR_ID_MASK 0x0e /* bits 3:1: the highest-priority source */
#define UART_IIR_RLS     0x06 /* priority 1: receiver line status */
#define UART_IIR_RDA     0x04 /* priority 2: received data available */
#define UART_IIR_CTI     0x0c /* priority 2: character timeout (FIFO mode) */
#define UART_IIR_THRE    0x02 /* priority 3: THR empty */
#define UART_IIR_MSI     0x00 /* priority 4: modem status */
#define UART_IIR_FIFO    0xc0 /* bits 7:6: set while FCR bit 0 is 1 */

/* ---- FCR [DS, FIFO Control Register]: write-only */
#define UART_FCR_ENABLE   0x01 /* FIFO mode; a change clears both FIFOs */
#define UART_FCR_RX_RESET 0x02 /* clear the receive FIFO (self-clearing) */
#define UART_FCR_TX_RESET 0x04 /* clear the transmit FIFO (self-clearing) */
#define UART_FCR_DMA      0x08 /* RXRDY/TXRDY mode 1 (no pins here) */
#define UART_FCR_TRIG     0xc0 /* receive trigger level: 1, 4, 8, 14 bytes */

/* ---- LCR [DS, Line Control Register] */
#define UART_LCR_DLAB 0x80 /* divisor latch access: regs 0/1 are DLL/DLM */

/* ---- MCR [DS, MODEM Control Register]: bits 7:5 are always 0 */
#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08 /* on a PC: enables the IRQ line */
#define UART_MCR_LOOP 0x10
#define UART_MCR_MASK 0x1f

/* ---- LSR [DS, Line Status Register] */
#define UART_LSR_DR   0x01 /* data ready */
#define UART_LSR_OE   0x02 /* overrun error (cleared by reading LSR) */
#define UART_LSR_PE   0x04 /* parity error (never set here) */
#define UART_LSR_FE   0x08 /* framing error (never set here) */
#define UART_LSR_BI   0x10 /* break interrupt (never set here) */
#define UART_LSR_THRE 0x20 /* transmitter holding register empty */
#define UART_LSR_TEMT 0x40 /* transmitter empty */
#define UART_LSR_RXFE 0x80 /* error in receiver FIFO (never set here) */
#define UART_LSR_ERRORS (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

/* ---- MSR [DS, MODEM Status Register] */
#define UART_MSR_DCTS  0x01 /* CTS changed since the last MSR read */
#define UART_MSR_DDSR  0x02 /* DSR changed */
#define UART_MSR_TERI  0x04 /* RI went from 1 to 0 */
#define UART_MSR_DDCD  0x08 /* DCD changed */
#define UART_MSR_DELTA 0x0f
#define UART_MSR_CTS   0x10 /* loopback: = MCR.RTS */
#define UART_MSR_DSR   0x20 /* loopback: = MCR.DTR */
#define UART_MSR_RI    0x40 /* loopback: = MCR.OUT1 */
#define UART_MSR_DCD   0x80 /* loopback: = MCR.OUT2 */
/* The host end outside loopback: carrier, data set ready, clear to send. */
#define UART_MSR_HOST  (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)

#define UART_RX_RING  4096 /* host receive buffer (bytes) */
#define UART_TX_BATCH 512  /* transmit batch (bytes) */

typedef void (*uart_irq_fn)(void *ctx, int level);                /* interrupt output changed (0/1) */
typedef void (*uart_tx_fn)(void *ctx, const char *buf, size_t n); /* bytes the guest transmitted */

struct uart_16550 {
	pthread_mutex_t lock;
	pthread_cond_t room_cv; /* receive room, RTS/loopback change, uart_wake_input_waiters */
	pthread_cond_t tx_cv;   /* a transmit delivery finished */

	/* registers */
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t fcr;       /* FCR as last programmed (ENABLE, DMA, TRIG bits) */
	uint8_t lsr_err;   /* latched LSR error bits (OE) */
	uint8_t msr_delta; /* latched MSR delta bits 3:0 */
	uint8_t rbr;       /* the last byte read from RBR (returned when empty) */
	bool thre_pending; /* THR-empty interrupt latch (Table IV, priority 3) */

	/* receive buffer */
	uint8_t rx[UART_RX_RING];
	size_t rx_head, rx_count;

	/* transmit batch: bytes not yet handed to tx */
	char tx_buf[UART_TX_BATCH];
	size_t tx_len;
	uint64_t tx_seq;     /* bytes ever appended to tx_buf */
	uint64_t tx_done;    /* bytes ever handed to tx */
	bool tx_busy;        /* a thread is inside the tx callback */
	unsigned lsr_polls;  /* LSR reads since the last THR write */

	uart_irq_fn irq;
	void *irq_ctx;
	uart_tx_fn tx;
	void *tx_ctx;
	int irq_level; /* the level last given to irq */
};

/* Reset state per [DS Table III]; irq/tx may be NULL (level not reported,
 * output discarded). 0 or -errno. */
int uart_init(struct uart_16550 *u, uart_irq_fn irq, void *irq_ctx, uart_tx_fn tx, void *tx_ctx);
/* Delivers any batched output, then frees the locks. No thread may be in
 * or enter the UART. */
void uart_destroy(struct uart_16550 *u);

/* A guest port access; reg = port - base, 0..7 (others: read 0xff, write
 * ignored). Called from vCPU threads. */
uint8_t uart_read(struct uart_16550 *u, unsigned reg);
void uart_write(struct uart_16550 *u, unsigned reg, uint8_t val);

/* Host input: accept up to n bytes; returns how many were taken: 0 when the
 * buffer is full or the guest is not receiving (RTS low or loopback on).
 * Never drops a byte it accepted. Thread-safe. */
size_t uart_push_input(struct uart_16550 *u, const void *buf, size_t n);
/* For the relay thread: block until the receive buffer has room the guest
 * listens on, *stop is nonzero, or timeout_ms passes (< 0: no timeout).
 * Returns the free room (0 on stop or timeout). Whoever sets *stop must
 * call uart_wake_input_waiters() afterwards. */
size_t uart_wait_input_room(struct uart_16550 *u, const atomic_int *stop, int timeout_ms);
void uart_wake_input_waiters(struct uart_16550 *u);

/* Hand batched output to tx now and wait until it is delivered. Output is
 * otherwise delivered at a newline, when the batch is full, and at the
 * first guest access that is neither a THR write nor the first LSR read
 * after one (uart_16550.c); the VMM should call this when the guest stops
 * (exit, pause) so a last partial line is not held. */
void uart_flush_output(struct uart_16550 *u);

/* The guest-visible state, for snapshots: registers and the bytes waiting
 * in the receive buffer (oldest first). Transmitted bytes are flushed to
 * the host first: they are not guest state. */
struct uart_16550_state {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr, lsr_err, msr_delta, rbr, thre_pending;
	uint8_t pad[1];
	uint32_t rx_count;
	uint8_t rx[UART_RX_RING];
};
void uart_save(struct uart_16550 *u, struct uart_16550_state *s);
/* -EINVAL if s->rx_count is out of range; the interrupt line is reported
 * to the irq callback again. */
int uart_restore(struct uart_16550 *u, const struct uart_16550_state *s);

#endif
