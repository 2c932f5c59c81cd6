/*
 * pc_power.c - power-off and reset ports of cowvm's PC (see pc_power.h).
 *
 * ACPI (6.4 specification):
 *   4.8.3.7 Sleep Control Register: bits 4:2 SLP_TYPx, bit 5 SLP_EN (write-only,
 *     reads 0), others reserved. SLP_EN with SLP_TYPx = the \_S5 value from the
 *     DSDT (PC_ACPI_S5_TYPE) is soft-off. Other sleep types (S1-S4: the DSDT
 *     offers none, so Linux never asks) are ignored: the machine "wakes" at
 *     once, WAK_STS is set, and the OS's wait for it ends (Linux's
 *     acpi_hw_extended_sleep polls WAK_STS after writing SLP_EN).
 *   4.8.3.8 Sleep Status Register: bit 7 WAK_STS, write 1 to clear; others
 *     reserved (read 0). Linux clears WAK_STS before writing SLP_EN.
 *   4.8.3.6 Reset Register (FADT RESET_REG): writing RESET_VALUE resets.
 *
 * i8042 keyboard controller (IBM PC/AT Technical Reference, 8042 section;
 * the same bits are Linux's drivers/input/serio/i8042.h):
 *   status (read 0x64): bit 0 OBF output buffer full, bit 1 IBF input buffer
 *     full (always 0 here: every write is consumed at once, so Linux's kb_wait
 *     loop in arch/x86/kernel/reboot.c exits at once), bit 2 SYS system flag
 *     (= command byte bit 2), bit 3 A2 last write was a command, bit 4 inhibit
 *     switch (1 = keyboard not inhibited), bit 5 AUX data, bits 6, 7 timeout
 *     and parity errors (never).
 *   commands (write 0x64): 0x20 read command byte, 0x60 write command byte
 *     (next data byte), 0xaa self-test (answers 0x55), 0xd1 write output port
 *     (next data byte; bit 0 low holds the CPU in reset), 0xd2/0xd3/0xd4 write
 *     to the keyboard buffer / aux buffer / aux device (next data byte, dropped:
 *     there is no keyboard and no mouse, so the aux loopback test fails and
 *     Linux finds no aux port), 0xf0-0xff pulse output lines for bits 3:0 that
 *     are 0; bit 0 is the CPU reset line, so 0xfe (and any even 0xf0-0xfe)
 *     resets. Others are accepted and ignored.
 *   data writes with no command pending go to the keyboard (none: dropped, no
 *   answer, so a keyboard probe times out and finds nothing).
 */
#include "pc_power.h"

#include <stddef.h>

#include "pc_layout.h"

/* ACPI sleep control / status registers */
#define SLP_TYP_SHIFT     2
#define SLP_TYP_MASK      (0x7u << SLP_TYP_SHIFT)
#define SLP_EN            (1u << 5)
#define WAK_STS           (1u << 7)

/* i8042 status register */
#define I8042_STR_OBF     0x01
#define I8042_STR_IBF     0x02
#define I8042_STR_SYS     0x04
#define I8042_STR_CMDDAT  0x08
#define I8042_STR_KEYLOCK 0x10 /* 1: not inhibited */

/* i8042 command byte (controller configuration) */
#define I8042_CTR_SYS     0x04 /* system flag: POST passed */
/* No interrupts (this controller raises no IRQ), system flag set: what a BIOS leaves. */
#define I8042_CTR_INIT    I8042_CTR_SYS

/* i8042 commands */
#define I8042_CMD_READ_CTR   0x20
#define I8042_CMD_WRITE_CTR  0x60
#define I8042_CMD_SELF_TEST  0xaa
#define I8042_SELF_TEST_OK   0x55
#define I8042_CMD_WRITE_OUTP 0xd1
#define I8042_CMD_PULSE_BASE 0xf0 /* 0xf0-0xff: pulse lines whose bit (3:0) is 0 */
#define I8042_LINE_RESET     0x01 /* output line 0: CPU reset */
#define I8042_OUTP_RESET     0x01 /* output port bit 0: 0 = CPU held in reset */

void pc_power_init(struct pc_power *p)
{
	*p = (struct pc_power){ .i8042_cmd_byte = I8042_CTR_INIT };
}

static void i8042_queue(struct pc_power *p, uint8_t byte)
{
	p->i8042_out = byte;
	p->i8042_out_full = true;
}

static uint8_t i8042_status(const struct pc_power *p)
{
	uint8_t s = I8042_STR_KEYLOCK; /* IBF stays 0 */
	if (p->i8042_out_full)
		s |= I8042_STR_OBF;
	if (p->i8042_cmd_byte & I8042_CTR_SYS)
		s |= I8042_STR_SYS;
	if (p->i8042_last_cmd)
		s |= I8042_STR_CMDDAT;
	return s;
}

static enum pc_power_event i8042_command(struct pc_power *p, uint8_t cmd)
{
	p->i8042_last_cmd = true;
	p->i8042_pending = 0;
	switch (cmd) {
	case I8042_CMD_READ_CTR:
		i8042_queue(p, p->i8042_cmd_byte);
		break;
	case I8042_CMD_SELF_TEST:
		p->i8042_cmd_byte |= I8042_CTR_SYS;
		i8042_queue(p, I8042_SELF_TEST_OK);
		break;
	case I8042_CMD_WRITE_CTR:
	case I8042_CMD_WRITE_OUTP:
		p->i8042_pending = cmd;
		break;
	default:
		if (cmd >= I8042_CMD_PULSE_BASE && !(cmd & I8042_LINE_RESET))
			return PC_POWER_RESET;
		break;
	}
	return PC_POWER_NONE;
}

static enum pc_power_event i8042_data(struct pc_power *p, uint8_t byte)
{
	uint8_t cmd = p->i8042_pending;
	p->i8042_last_cmd = false;
	p->i8042_pending = 0;
	if (cmd == I8042_CMD_WRITE_CTR)
		p->i8042_cmd_byte = byte;
	else if (cmd == I8042_CMD_WRITE_OUTP && !(byte & I8042_OUTP_RESET))
		return PC_POWER_RESET;
	/* Plain keyboard bytes and the parameters of 0xd2-0xd4 (write keyboard
	 * buffer, aux buffer, aux device): no device behind the controller, dropped. */
	return PC_POWER_NONE;
}

static enum pc_power_event sleep_control(struct pc_power *p, uint8_t v)
{
	if (!(v & SLP_EN))
		return PC_POWER_NONE;
	if (((v & SLP_TYP_MASK) >> SLP_TYP_SHIFT) == PC_ACPI_S5_TYPE)
		return PC_POWER_OFF;
	p->sleep_sts |= WAK_STS; /* other sleep states: back awake at once */
	return PC_POWER_NONE;
}

bool pc_power_io(struct pc_power *p, uint16_t port, bool write, uint8_t *val,
		 enum pc_power_event *ev)
{
	enum pc_power_event r = PC_POWER_NONE;
	uint8_t in = 0;

	if (ev)
		*ev = PC_POWER_NONE;
	switch (port) {
	case PC_PORT_SLEEP_CTL:
		if (write)
			r = sleep_control(p, *val);
		break; /* reads 0: SLP_EN is write-only, SLP_TYPx not kept */
	case PC_PORT_SLEEP_STS:
		if (write)
			p->sleep_sts &= (uint8_t)~(*val & WAK_STS);
		else
			in = p->sleep_sts;
		break;
	case PC_PORT_ACPI_RESET:
		if (write && *val == PC_ACPI_RESET_VALUE)
			r = PC_POWER_RESET;
		break;
	case PC_PORT_I8042_CMD:
		if (write)
			r = i8042_command(p, *val);
		else
			in = i8042_status(p);
		break;
	case PC_PORT_I8042_DATA:
		if (write) {
			r = i8042_data(p, *val);
		} else {
			in = p->i8042_out; /* stale byte if nothing is queued */
			p->i8042_out_full = false;
		}
		break;
	default:
		return false;
	}
	if (!write)
		*val = in;
	if (ev)
		*ev = r;
	return true;
}
