/*
 * pc_power.h - the port devices that end a Linux VM on cowvm's PC
 * (pc_layout.h): the ACPI hardware-reduced sleep control/status registers
 * (power-off through \_S5), the ACPI reset register, and just enough of an
 * i8042 keyboard controller for Linux's reboot path (command 0xfe) and for a
 * probe that finds no keyboard or mouse behind it. Pure state machine, one per
 * VM: the VM's port-I/O exit handler calls pc_power_io() and acts on the event.
 */
#ifndef COWVM_PC_POWER_H
#define COWVM_PC_POWER_H

#include <stdbool.h>
#include <stdint.h>

enum pc_power_event { PC_POWER_NONE, PC_POWER_OFF, PC_POWER_RESET };

struct pc_power {
	uint8_t i8042_cmd_byte;  /* controller configuration byte (commands 0x20/0x60) */
	uint8_t i8042_out;       /* output buffer: read at the data port */
	bool i8042_out_full;     /* status OBF: a response byte waits in i8042_out */
	uint8_t i8042_pending;   /* command waiting for its data byte (0x60, 0xd1), 0 if none */
	bool i8042_last_cmd;     /* status A2 (CMD/DATA): the last write went to the command port */
	uint8_t sleep_sts;       /* ACPI sleep status register (WAK_STS) */
};

void pc_power_init(struct pc_power *p);

/*
 * One byte of port I/O on PC_PORT_SLEEP_CTL/STS, PC_PORT_ACPI_RESET or
 * PC_PORT_I8042_DATA/CMD. Returns true if the port is one of these (the access
 * was handled: *val filled for reads), false otherwise (*val untouched).
 * *ev (if ev) says whether the guest asked for power-off or reset; it is
 * PC_POWER_NONE for every other access, unhandled ports included. After
 * PC_POWER_RESET the caller re-initialises the state (a reset PC).
 */
bool pc_power_io(struct pc_power *p, uint16_t port, bool write, uint8_t *val,
		 enum pc_power_event *ev);

#endif
