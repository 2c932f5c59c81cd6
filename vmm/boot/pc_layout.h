/*
 * pc_layout.h - the PC that cowvm shows a Linux guest (`cowvm run --kernel`):
 * guest-physical layout, port numbers and interrupt lines. One place for
 * every address the boot code (linux_boot.c, acpi_tables.c), the devices
 * (devices/) and the VM set-up (vm/linux_vm.c) must agree on.
 * docs/linux-guests.md draws it.
 */
#ifndef COWVM_PC_LAYOUT_H
#define COWVM_PC_LAYOUT_H

/* ---- guest-physical layout (RAM is one slot at [0, mem_size)) ---------- */
#define PC_GPA_GDT        0x001000ull /* boot GDT: __BOOT_CS 0x10, __BOOT_DS 0x18 */
#define PC_GPA_ZERO_PAGE  0x007000ull /* struct boot_params (4 KiB) */
#define PC_BOOT_STACK_TOP 0x009000ull /* RSP at the 64-bit entry (page 0x8000) */
#define PC_GPA_PGTABLES   0x010000ull /* identity map of [0, 4 GiB), 2 MiB pages */
#define PC_PGTABLES_END   0x080000ull
#define PC_GPA_CMDLINE    0x080000ull /* kernel command line, NUL-terminated */
#define PC_CMDLINE_MAX    0x010000ull /* bytes incl. the NUL (the header may allow less) */
#define PC_GPA_EBDA       0x09fc00ull /* [EBDA, 1 MiB) is not RAM in the e820 map */
#define PC_GPA_ISA_HOLE   0x0a0000ull /* VGA/ROM hole: e820 does not list it as RAM */
#define PC_GPA_ACPI       0x0e0000ull /* RSDP and ACPI tables (BIOS area, reserved) */
#define PC_ACPI_MAX       0x010000ull
#define PC_GPA_RESET_VECTOR 0x0ffff0ull /* F000:FFF0, where a CPU reset starts */
#define PC_GPA_BIOS_END   0x100000ull
#define PC_GPA_HIGH_RAM   0x100000ull /* RAM from here to mem_size */

/* RAM must end below the 32-bit MMIO hole (IOAPIC, LAPIC, KVM's TSS). */
#define PC_MEM_MAX        (3ull << 30)
#define PC_GPA_IOAPIC     0xfec00000ull
#define PC_GPA_LAPIC      0xfee00000ull
#define PC_GPA_KVM_IDMAP  0xfeffc000ull /* KVM_SET_IDENTITY_MAP_ADDR (1 page, VMX only) */
#define PC_GPA_KVM_TSS    0xfeffd000ull /* KVM_SET_TSS_ADDR (3 pages, VMX only) */

/* ---- ports and interrupt lines ----------------------------------------- */
#define PC_PORT_COM1      0x3f8  /* 16550A UART, 8 registers */
#define PC_IRQ_COM1       4      /* ISA IRQ = GSI (KVM's default routing) */
#define PC_PORT_I8042_DATA 0x60
#define PC_PORT_I8042_CMD  0x64  /* write 0xfe: pulse the reset line (reboot) */
#define PC_PORT_SLEEP_CTL 0x600  /* ACPI hardware-reduced SLEEP_CONTROL_REG (1 byte) */
#define PC_PORT_SLEEP_STS 0x601  /* ACPI SLEEP_STATUS_REG (1 byte) */
#define PC_PORT_ACPI_RESET 0x602 /* ACPI RESET_REG (1 byte): PC_ACPI_RESET_VALUE reboots */
#define PC_ACPI_RESET_VALUE 0x01
#define PC_ACPI_S5_TYPE   5      /* SLP_TYP of \_S5 in the DSDT */
#define PC_SCI_IRQ        9

#endif
