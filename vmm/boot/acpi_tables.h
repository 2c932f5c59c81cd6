/*
 * acpi_tables.h - the ACPI tables of the PC that cowvm shows a Linux guest
 * (pc_layout.h): RSDP, XSDT, FADT (hardware-reduced ACPI), DSDT (\_S5 and
 * the COM1 device) and MADT (local APICs, the I/O APIC, one interrupt source
 * override, the LINT1 NMI). Pure bytes in a caller's buffer: no KVM, no
 * guest memory; the VM set-up copies them to PC_GPA_ACPI.
 */
#ifndef COWVM_ACPI_TABLES_H
#define COWVM_ACPI_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ACPI_MAX_CPUS 16u /* MADT processor local APIC entries (APIC id = index) */

/*
 * RSDP (ACPI 2.0+, revision 2) at buf[0], then XSDT, FADT, DSDT and MADT, each
 * starting on a 16-byte boundary. buf will sit at guest-physical `base`
 * (PC_GPA_ACPI), so every table pointer is base + offset; the whole block must
 * lie below 4 GiB (the FADT's 32-bit DSDT field). Bytes of buf beyond *used are
 * left alone. Returns 0 and *used = bytes written, or -ENOSPC (buf too small),
 * -EINVAL (ncpus 0 or > ACPI_MAX_CPUS, block not below 4 GiB, NULL buf/used).
 */
int acpi_build(uint8_t *buf, size_t len, uint64_t base, unsigned ncpus, size_t *used,
	       struct vmm_err *e);

#endif
