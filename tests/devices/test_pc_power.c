/*
 * test_pc_power.c - pc_power_io() (vmm/devices/pc_power.h): which writes end
 * the VM (ACPI S5 sleep, ACPI reset register, i8042 reset pulse) and which do
 * not, the sleep status register, and the i8042 status bits, queued responses
 * and command byte that Linux's reboot path and i8042 probe see.
 */
#include <criterion/criterion.h>

#include "pc_layout.h"
#include "pc_power.h"

static struct pc_power p;

static void setup(void) { pc_power_init(&p); }

TestSuite(power, .init = setup);

static enum pc_power_event out(uint16_t port, uint8_t v)
{
	enum pc_power_event ev = (enum pc_power_event)-1;
	cr_assert(pc_power_io(&p, port, true, &v, &ev), "port 0x%x not handled", port);
	return ev;
}

static uint8_t in(uint16_t port)
{
	enum pc_power_event ev = (enum pc_power_event)-1;
	uint8_t v = 0xee;
	cr_assert(pc_power_io(&p, port, false, &v, &ev), "port 0x%x not handled", port);
	cr_assert_eq(ev, PC_POWER_NONE, "a read of 0x%x asked for %d", port, ev);
	return v;
}

/* ---- ACPI sleep control (SLP_TYPx bits 4:2, SLP_EN bit 5) ---------------- */
Test(power, s5_with_slp_en_is_power_off)
{
	cr_assert_eq(out(PC_PORT_SLEEP_CTL, 0x20 | PC_ACPI_S5_TYPE << 2), PC_POWER_OFF);
	cr_assert_eq(out(PC_PORT_SLEEP_CTL, 0x34), PC_POWER_OFF, "what Linux writes for S5");
}

Test(power, reserved_bits_do_not_matter)
{
	cr_assert_eq(out(PC_PORT_SLEEP_CTL, 0x35), PC_POWER_OFF);
	cr_assert_eq(out(PC_PORT_SLEEP_CTL, 0xb6), PC_POWER_OFF);
	cr_assert_eq(out(PC_PORT_SLEEP_CTL, 0xc3), PC_POWER_NONE, "reserved bits only");
}

Test(power, s5_without_slp_en_is_nothing)
{
	cr_assert_eq(out(PC_PORT_SLEEP_CTL, PC_ACPI_S5_TYPE << 2), PC_POWER_NONE);
	cr_assert_eq(in(PC_PORT_SLEEP_STS), 0, "no wake either");
}

Test(power, other_sleep_types_wake_at_once)
{
	for (unsigned typ = 0; typ < 8; typ++) {
		pc_power_init(&p);
		enum pc_power_event ev = out(PC_PORT_SLEEP_CTL, (uint8_t)(0x20 | typ << 2));
		if (typ == PC_ACPI_S5_TYPE) {
			cr_assert_eq(ev, PC_POWER_OFF);
			cr_assert_eq(in(PC_PORT_SLEEP_STS), 0, "no wake from S5");
		} else {
			cr_assert_eq(ev, PC_POWER_NONE, "SLP_TYP %u", typ);
			cr_assert_eq(in(PC_PORT_SLEEP_STS), 0x80, "WAK_STS after SLP_TYP %u", typ);
		}
	}
}

Test(power, sleep_control_reads_zero)
{
	out(PC_PORT_SLEEP_CTL, 0x2c);
	cr_assert_eq(in(PC_PORT_SLEEP_CTL), 0);
}

Test(power, wak_sts_write_one_to_clear)
{
	cr_assert_eq(in(PC_PORT_SLEEP_STS), 0, "awake at power-on, WAK_STS clear");
	out(PC_PORT_SLEEP_CTL, 0x2c); /* S3: ignored, WAK_STS set */
	cr_assert_eq(in(PC_PORT_SLEEP_STS), 0x80);
	cr_assert_eq(out(PC_PORT_SLEEP_STS, 0x7f), PC_POWER_NONE);
	cr_assert_eq(in(PC_PORT_SLEEP_STS), 0x80, "writing 0 to bit 7 keeps it");
	cr_assert_eq(out(PC_PORT_SLEEP_STS, 0x80), PC_POWER_NONE);
	cr_assert_eq(in(PC_PORT_SLEEP_STS), 0, "writing 1 clears it");
}

/* Linux's acpi_hw_extended_sleep: clear WAK_STS, write SLP_TYP|SLP_EN, poll WAK_STS. */
Test(power, linux_sleep_sequence)
{
	cr_assert_eq(out(PC_PORT_SLEEP_STS, 0x80), PC_POWER_NONE);
	cr_assert_eq(out(PC_PORT_SLEEP_CTL, 0x20 | 3 << 2), PC_POWER_NONE);
	cr_assert_eq(in(PC_PORT_SLEEP_STS) & 0x80, 0x80, "the wait loop ends");
	cr_assert_eq(out(PC_PORT_SLEEP_STS, 0x80), PC_POWER_NONE);
	cr_assert_eq(out(PC_PORT_SLEEP_CTL, 0x20 | PC_ACPI_S5_TYPE << 2), PC_POWER_OFF);
}

/* ---- ACPI reset register ------------------------------------------------- */
Test(power, reset_value_resets)
{
	cr_assert_eq(out(PC_PORT_ACPI_RESET, PC_ACPI_RESET_VALUE), PC_POWER_RESET);
}

Test(power, other_reset_values_do_nothing)
{
	for (unsigned v = 0; v < 256; v++)
		if (v != PC_ACPI_RESET_VALUE)
			cr_assert_eq(out(PC_PORT_ACPI_RESET, (uint8_t)v), PC_POWER_NONE, "value 0x%x", v);
	cr_assert_eq(in(PC_PORT_ACPI_RESET), 0);
}

/* ---- i8042 ---------------------------------------------------------------- */
#define ST_OBF 0x01
#define ST_IBF 0x02
#define ST_SYS 0x04
#define ST_CMD 0x08
#define ST_UNLOCKED 0x10

Test(power, i8042_idle_status)
{
	cr_assert_eq(in(PC_PORT_I8042_CMD), ST_UNLOCKED | ST_SYS, "no output, input empty");
	cr_assert_eq(p.i8042_out_full, false);
}

/* arch/x86/kernel/reboot.c, BOOT_KBD: kb_wait() polls status bit 1, then outb(0xfe, 0x64). */
Test(power, linux_kbd_reboot)
{
	cr_assert_eq(in(PC_PORT_I8042_CMD) & ST_IBF, 0, "kb_wait exits");
	cr_assert_eq(out(PC_PORT_I8042_CMD, 0xfe), PC_POWER_RESET);
	cr_assert_eq(in(PC_PORT_I8042_CMD) & ST_IBF, 0, "still no input pending");
}

Test(power, pulse_commands)
{
	/* 0xf0-0xff pulse the output lines whose bit in 3:0 is 0; line 0 is reset. */
	for (unsigned c = 0xf0; c <= 0xff; c++) {
		enum pc_power_event ev = out(PC_PORT_I8042_CMD, (uint8_t)c);
		cr_assert_eq(ev, (c & 1) ? PC_POWER_NONE : PC_POWER_RESET, "command 0x%x", c);
	}
}

Test(power, other_commands_are_harmless)
{
	for (unsigned c = 0; c < 0xf0; c++) {
		pc_power_init(&p);
		cr_assert_eq(out(PC_PORT_I8042_CMD, (uint8_t)c), PC_POWER_NONE, "command 0x%x", c);
		uint8_t st = in(PC_PORT_I8042_CMD);
		cr_assert_eq(st & ST_IBF, 0);
		bool answers = c == 0x20 || c == 0xaa;
		cr_assert_eq(!!(st & ST_OBF), answers, "command 0x%x: status 0x%02x", c, st);
		/* A data byte after it (a parameter, or bytes to a missing keyboard) is harmless
		 * unless it is 0xd1's output port value with the reset bit low. */
		cr_assert_eq(out(PC_PORT_I8042_DATA, 0x01), PC_POWER_NONE, "command 0x%x + 0x01", c);
	}
}

Test(power, self_test_queues_0x55)
{
	cr_assert_eq(out(PC_PORT_I8042_CMD, 0xaa), PC_POWER_NONE);
	cr_assert_eq(in(PC_PORT_I8042_CMD), ST_UNLOCKED | ST_CMD | ST_SYS | ST_OBF);
	cr_assert_eq(in(PC_PORT_I8042_DATA), 0x55);
	cr_assert_eq(in(PC_PORT_I8042_CMD), ST_UNLOCKED | ST_CMD | ST_SYS, "OBF clear after the read");
	cr_assert_eq(in(PC_PORT_I8042_DATA), 0x55, "the stale byte, OBF stays clear");
	cr_assert_eq(in(PC_PORT_I8042_CMD) & ST_OBF, 0);
}

Test(power, command_byte_read_write)
{
	out(PC_PORT_I8042_CMD, 0x20);
	cr_assert_eq(in(PC_PORT_I8042_DATA), 0x04, "initial: system flag only");
	out(PC_PORT_I8042_CMD, 0x60);
	cr_assert_eq(in(PC_PORT_I8042_CMD) & (ST_OBF | ST_CMD), ST_CMD, "no answer, last write a command");
	cr_assert_eq(out(PC_PORT_I8042_DATA, 0x47), PC_POWER_NONE);
	cr_assert_eq(p.i8042_cmd_byte, 0x47);
	cr_assert_eq(in(PC_PORT_I8042_CMD), ST_UNLOCKED | ST_SYS, "last write was data");
	out(PC_PORT_I8042_CMD, 0x20);
	cr_assert_eq(in(PC_PORT_I8042_DATA), 0x47);
	/* The status SYS bit follows command byte bit 2. */
	out(PC_PORT_I8042_CMD, 0x60);
	out(PC_PORT_I8042_DATA, 0x00);
	cr_assert_eq(in(PC_PORT_I8042_CMD), ST_UNLOCKED);
	/* Only the next data byte is the parameter. */
	out(PC_PORT_I8042_DATA, 0x65);
	cr_assert_eq(p.i8042_cmd_byte, 0x00);
}

Test(power, new_command_cancels_pending_parameter)
{
	out(PC_PORT_I8042_CMD, 0x60);
	out(PC_PORT_I8042_CMD, 0xad);
	out(PC_PORT_I8042_DATA, 0x00);
	cr_assert_eq(p.i8042_cmd_byte, 0x04, "the data byte went to the (missing) keyboard");
}

Test(power, write_output_port)
{
	cr_assert_eq(out(PC_PORT_I8042_CMD, 0xd1), PC_POWER_NONE);
	cr_assert_eq(out(PC_PORT_I8042_DATA, 0xdf), PC_POWER_NONE, "reset bit high (A20 on)");
	cr_assert_eq(out(PC_PORT_I8042_CMD, 0xd1), PC_POWER_NONE);
	cr_assert_eq(out(PC_PORT_I8042_DATA, 0xde), PC_POWER_RESET, "reset bit low");
	cr_assert_eq(out(PC_PORT_I8042_DATA, 0xde), PC_POWER_NONE, "no command pending any more");
}

Test(power, no_keyboard_no_mouse)
{
	cr_assert_eq(out(PC_PORT_I8042_DATA, 0xf2), PC_POWER_NONE, "keyboard GET ID");
	cr_assert_eq(in(PC_PORT_I8042_CMD) & ST_OBF, 0, "no answer");
	out(PC_PORT_I8042_CMD, 0xd3);
	out(PC_PORT_I8042_DATA, 0x5a);
	cr_assert_eq(in(PC_PORT_I8042_CMD) & ST_OBF, 0, "aux loopback: no echo, no aux port");
	out(PC_PORT_I8042_CMD, 0xd4);
	out(PC_PORT_I8042_DATA, 0xf2);
	cr_assert_eq(in(PC_PORT_I8042_CMD) & ST_OBF, 0, "no mouse");
	out(PC_PORT_I8042_CMD, 0xd2);
	out(PC_PORT_I8042_DATA, 0x12);
	cr_assert_eq(in(PC_PORT_I8042_CMD) & ST_OBF, 0);
}

/* ---- dispatch -------------------------------------------------------------- */
Test(power, unknown_ports)
{
	static const uint16_t ports[] = { 0x00, 0x5f, 0x61, 0x62, 0x63, 0x65, 0x70, 0x71, 0x92,
		0x3f8, 0x5ff, 0x603, 0x604, 0xcf9, 0xffff };
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		for (int w = 0; w < 2; w++) {
			uint8_t v = 0xee;
			enum pc_power_event ev = (enum pc_power_event)-1;
			cr_assert_not(pc_power_io(&p, ports[i], w, &v, &ev), "port 0x%x", ports[i]);
			cr_assert_eq(v, 0xee, "*val untouched");
			cr_assert_eq(ev, PC_POWER_NONE);
		}
	}
	cr_assert_eq(p.i8042_out_full, false);
	cr_assert_eq(p.sleep_sts, 0);
}

Test(power, ev_may_be_null)
{
	uint8_t v = 0xfe;
	cr_assert(pc_power_io(&p, PC_PORT_I8042_CMD, true, &v, NULL));
	v = 0;
	cr_assert(pc_power_io(&p, PC_PORT_I8042_CMD, false, &v, NULL));
	cr_assert_eq(v, ST_UNLOCKED | ST_SYS | ST_CMD);
}

Test(power, state_is_per_vm)
{
	struct pc_power q;
	pc_power_init(&q);
	out(PC_PORT_I8042_CMD, 0xaa);
	out(PC_PORT_SLEEP_CTL, 0x2c);
	cr_assert_eq(q.i8042_out_full, false);
	cr_assert_eq(q.sleep_sts, 0);
	uint8_t v = 0;
	cr_assert(pc_power_io(&q, PC_PORT_I8042_CMD, false, &v, NULL));
	cr_assert_eq(v & ST_OBF, 0);
}
