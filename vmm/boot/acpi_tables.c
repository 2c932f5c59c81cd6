/*
 * acpi_tables.c - build the ACPI tables of cowvm's PC (see acpi_tables.h).
 * Field offsets and values from the ACPI 6.4 specification ("ACPI" below):
 * 5.2.5.3 RSDP, 5.2.6 table header, 5.2.8 XSDT, 5.2.9 FADT, 5.2.3.2 Generic
 * Address Structure, 5.2.11.1 DSDT, 5.2.12 MADT, 20.2 AML grammar, 6.4.2 small
 * resource descriptors. Every multi-byte field is little-endian.
 *
 * The PC is hardware-reduced ACPI (ACPI 4.1): no PM1/GPE/PM-timer blocks, no
 * SCI, no FACS. Power-off and reset go through the FADT's sleep control and
 * reset registers, served by devices/pc_power.c.
 */
#include "acpi_tables.h"

#include <errno.h>
#include <string.h>

#include "pc_layout.h"

#define ALIGN16(x) (((x) + 15u) & ~(size_t)15u)

/* ---- identity in every header (5.2.6) ------------------------------------ */
#define ACPI_OEM_ID       "COWVM " /* 6 bytes */
#define ACPI_OEM_TABLE_ID "COWVMPC " /* 8 bytes */
#define ACPI_OEM_REVISION 1u
#define ACPI_CREATOR_ID   "COWV" /* 4 bytes: the "ASL compiler" that made the table */
#define ACPI_CREATOR_REV  1u

/* ---- RSDP (5.2.5.3, Table 5.3) ------------------------------------------- */
#define RSDP_SIG          "RSD PTR " /* 8 bytes, no NUL */
#define RSDP_CHECKSUM     8   /* sum of bytes [0, 20) is 0 */
#define RSDP_OEM_ID       9
#define RSDP_REVISION     15  /* 2: ACPI 2.0+ layout with the XSDT */
#define RSDP_RSDT_ADDR    16  /* 32-bit RSDT address: 0, there is no RSDT */
#define RSDP_LENGTH       20
#define RSDP_XSDT_ADDR    24
#define RSDP_EXT_CHECKSUM 32  /* sum of all 36 bytes is 0 */
#define RSDP_V1_LEN       20
#define RSDP_LEN          36
#define RSDP_REV          2

/* ---- system description table header (5.2.6, Table 5.4) ----------------- */
#define SDT_SIGNATURE     0
#define SDT_LENGTH        4
#define SDT_REVISION      8
#define SDT_CHECKSUM      9   /* sum of all Length bytes is 0 */
#define SDT_OEM_ID        10
#define SDT_OEM_TABLE_ID  16
#define SDT_OEM_REVISION  24
#define SDT_CREATOR_ID    28
#define SDT_CREATOR_REV   32
#define SDT_HDR_LEN       36

/* ---- XSDT (5.2.8): header + 64-bit table addresses ---------------------- */
#define XSDT_REV          1
#define XSDT_ENTRIES      2   /* FADT, MADT (the DSDT hangs off the FADT) */
#define XSDT_LEN          (SDT_HDR_LEN + 8 * XSDT_ENTRIES)

/* ---- FADT (5.2.9, Table 5.9), revision 6 ------------------------------- */
#define FADT_REV          6
#define FADT_MINOR_REV    4   /* ACPI 6.4 */
#define FADT_LEN          276
#define FADT_FIRMWARE_CTRL 36 /* FACS: 0, none on hardware-reduced ACPI */
#define FADT_DSDT         40  /* 32-bit DSDT address */
#define FADT_PM_PROFILE   45  /* 0: unspecified */
#define FADT_SCI_INT      46  /* 2 bytes */
#define FADT_IAPC_BOOT_ARCH 109 /* 2 bytes, Table 5.11 */
#define FADT_FLAGS        112 /* 4 bytes, Table 5.10 */
#define FADT_RESET_REG    116 /* GAS */
#define FADT_RESET_VALUE  128
#define FADT_MINOR_VERSION 131
#define FADT_X_DSDT       140 /* 64-bit DSDT address */
#define FADT_SLEEP_CONTROL_REG 244 /* GAS */
#define FADT_SLEEP_STATUS_REG  256 /* GAS */
#define FADT_HYPERVISOR_ID 268 /* 8 bytes: 0 */

/* FADT fixed feature flags (Table 5.10) */
#define FADT_F_WBINVD          (1u << 0)  /* WBINVD flushes caches: "must be set" */
#define FADT_F_PWR_BUTTON      (1u << 4)  /* 1: no fixed-feature power button */
#define FADT_F_SLP_BUTTON      (1u << 5)  /* 1: no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP   (1u << 10) /* RESET_REG/RESET_VALUE are valid */
#define FADT_F_HW_REDUCED_ACPI (1u << 20) /* no fixed ACPI hardware (PM1, GPE, PM timer) */
#define FADT_FLAGS_VALUE (FADT_F_WBINVD | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON | \
			  FADT_F_RESET_REG_SUP | FADT_F_HW_REDUCED_ACPI)

/* IA-PC boot architecture flags (Table 5.11). Not set: LEGACY_DEVICES (bit 0,
 * every device is in the DSDT), 8042 (bit 1: there is no keyboard controller
 * to probe, so Linux skips the i8042 driver; the 0x64 reset port still works),
 * MSI_NOT_SUPPORTED and PCIE_ASPM_CONTROLS (bits 3, 4: there is no PCI). */
#define IAPC_VGA_NOT_PRESENT      (1u << 2) /* no VGA: do not probe 0x3b0-0x3df, 0xa0000 */
#define IAPC_CMOS_RTC_NOT_PRESENT (1u << 5) /* no CMOS RTC at 0x70/0x71 */
#define FADT_IAPC_VALUE (IAPC_VGA_NOT_PRESENT | IAPC_CMOS_RTC_NOT_PRESENT)

/* Generic Address Structure (5.2.3.2, Table 5.1) */
#define GAS_SPACE_ID      0
#define GAS_BIT_WIDTH     1
#define GAS_BIT_OFFSET    2
#define GAS_ACCESS_SIZE   3
#define GAS_ADDRESS       4
#define GAS_SPACE_SYSTEM_IO 1
#define GAS_ACCESS_BYTE   1

/* ---- DSDT (5.2.11.1): header + AML --------------------------------------- */
#define DSDT_REV          2   /* 2: AML integers are 64-bit */

/* AML encodings (20.2) used below */
#define AML_ZERO_OP       0x00 /* 20.2.3 ComputationalData: ZeroOp */
#define AML_NAME_OP       0x08 /* 20.2.5.1 DefName := NameOp NameString DataRefObject */
#define AML_BYTE_PREFIX   0x0a /* 20.2.3 ByteConst := BytePrefix ByteData */
#define AML_DWORD_PREFIX  0x0c /* 20.2.3 DWordConst := DWordPrefix DWordData */
#define AML_BUFFER_OP     0x11 /* 20.2.5.4 DefBuffer := BufferOp PkgLength BufferSize ByteList */
#define AML_PACKAGE_OP    0x12 /* 20.2.5.4 DefPackage := PackageOp PkgLength NumElements PackageElementList */
#define AML_DUAL_NAME_PREFIX 0x2e /* 20.2.2 DualNamePath := DualNamePrefix NameSeg NameSeg */
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP     0x82 /* after ExtOpPrefix; 20.2.5.2 DefDevice := DeviceOp PkgLength NameString TermList */
#define AML_ROOT_CHAR     0x5c /* '\' */

/* Small resource descriptors (6.4.2) */
#define RES_IRQ_NOFLAGS   0x22 /* 6.4.2.1 IRQ descriptor, type 0x04, length 2: edge, active-high, exclusive */
#define RES_IO            0x47 /* 6.4.2.5 I/O port descriptor, type 0x08, length 7 */
#define RES_IO_DECODE16   0x01 /* information byte bit 0: 16-bit address decode */
#define RES_END_TAG       0x79 /* 6.4.2.9 End Tag, type 0x0f, length 1 */

#define COM1_PORTS        8 /* 16550 registers */
#define LO(x) ((uint8_t)((x) & 0xff))
#define HI(x) ((uint8_t)(((x) >> 8) & 0xff))

_Static_assert(PC_ACPI_S5_TYPE <= 7, "SLP_TYPx is a 3-bit field");
_Static_assert(PC_IRQ_COM1 < 16, "an IRQ descriptor names ISA IRQs 0-15");

/*
 * The DSDT's AML. \_S5 makes Linux offer ACPI power-off; \_SB.COM1 gives the
 * UART its interrupt: on hardware-reduced ACPI Linux x86 installs no legacy
 * PIC (acpi_generic_reduced_hw_init), so ISA IRQs 0-15 are not pre-mapped and
 * the 8250 driver's built-in ttyS0 (IRQ 4) cannot request its IRQ; the PNP0501
 * device makes 8250_pnp map GSI 4 through ACPI instead.
 */
static const uint8_t dsdt_aml[] = {
	/* Name (\_S5, Package () { S5, S5, 0, 0 }) (7.4.2 \_Sx: SLP_TYPa, SLP_TYPb, reserved) */
	AML_NAME_OP,                    /* NameOp */
	'_', 'S', '5', '_',             /* NameSeg "_S5_" (20.2.2; the tail is '_'-padded) */
	AML_PACKAGE_OP,                 /* PackageOp */
	0x08,                           /* PkgLength, 1-byte form (bits 7:6 = 0): 8 = this byte +
	                                   NumElements + 6 element bytes (20.2.4) */
	0x04,                           /* NumElements */
	AML_BYTE_PREFIX, PC_ACPI_S5_TYPE, /* BytePrefix, SLP_TYPa */
	AML_BYTE_PREFIX, PC_ACPI_S5_TYPE, /* BytePrefix, SLP_TYPb */
	AML_ZERO_OP,                    /* ZeroOp: reserved */
	AML_ZERO_OP,                    /* ZeroOp: reserved */

	/* Device (\_SB.COM1) { _HID, _UID, _CRS } */
	AML_EXT_OP_PREFIX, AML_DEVICE_OP, /* DeviceOp := ExtOpPrefix 0x82 */
	0x31,                           /* PkgLength, 1-byte form: 49 = this byte + NameString (10) +
	                                   TermList (10 + 6 + 22) */
	AML_ROOT_CHAR,                  /* RootChar '\' */
	AML_DUAL_NAME_PREFIX,           /* DualNamePrefix: two NameSegs follow */
	'_', 'S', 'B', '_',             /* NameSeg "_SB_" (system bus scope, predefined) */
	'C', 'O', 'M', '1',             /* NameSeg "COM1" */

	AML_NAME_OP, '_', 'H', 'I', 'D', /* Name (_HID, EisaId ("PNP0501")): 16550A-compatible UART */
	AML_DWORD_PREFIX,               /* DWordPrefix */
	0x41, 0xd0,                     /* "PNP" compressed (6.1.5: 3 x 5-bit letters, 'A' = 1),
	                                   big-endian: 0 10000 01110 10000 = 0x41d0 */
	0x05, 0x01,                     /* product number 0x0501, big-endian */

	AML_NAME_OP, '_', 'U', 'I', 'D', /* Name (_UID, Zero) */
	AML_ZERO_OP,                    /* ZeroOp */

	AML_NAME_OP, '_', 'C', 'R', 'S', /* Name (_CRS, ResourceTemplate () {...}) */
	AML_BUFFER_OP,                  /* BufferOp */
	0x10,                           /* PkgLength, 1-byte form: 16 = this byte + BufferSize (2) +
	                                   13 descriptor bytes */
	AML_BYTE_PREFIX, 0x0d,          /* BufferSize: ByteConst 13 */
	RES_IO,                         /* IO (Decode16, COM1, COM1, 1, 8): I/O port descriptor */
	RES_IO_DECODE16,                /* information: 16-bit decode */
	LO(PC_PORT_COM1), HI(PC_PORT_COM1), /* range minimum base */
	LO(PC_PORT_COM1), HI(PC_PORT_COM1), /* range maximum base */
	0x01,                           /* base alignment */
	COM1_PORTS,                     /* range length */
	RES_IRQ_NOFLAGS,                /* IRQNoFlags () {PC_IRQ_COM1}: IRQ descriptor */
	LO(1u << PC_IRQ_COM1), HI(1u << PC_IRQ_COM1), /* IRQ mask, bit n = ISA IRQ n */
	RES_END_TAG,                    /* End Tag */
	0x00,                           /* checksum 0: "treated as if the checksum operation succeeded" */
};
#define DSDT_LEN (SDT_HDR_LEN + sizeof(dsdt_aml))

/* ---- MADT (5.2.12, Table 5.43), revision 5 ------------------------------- */
#define MADT_REV          5
#define MADT_LAPIC_ADDR   36
#define MADT_FLAGS        40
#define MADT_ENTRIES      44
#define MADT_PCAT_COMPAT  (1u << 0) /* 8259 pair present (KVM's in-kernel PIC) */

#define MADT_TYPE_LAPIC     0 /* 5.2.12.2 Processor Local APIC, Table 5.46 */
#define MADT_LAPIC_LEN      8 /* type, length, ACPI processor UID, APIC id, flags(4) */
#define MADT_LAPIC_ENABLED  (1u << 0)
#define MADT_TYPE_IOAPIC    1 /* 5.2.12.3 I/O APIC, Table 5.48 */
#define MADT_IOAPIC_LEN     12 /* type, length, id, reserved, address(4), GSI base(4) */
#define MADT_TYPE_ISO       2 /* 5.2.12.5 Interrupt Source Override, Table 5.49 */
#define MADT_ISO_LEN        10 /* type, length, bus, source, GSI(4), flags(2) */
#define MADT_ISO_BUS_ISA    0
#define MADT_TYPE_LAPIC_NMI 4 /* 5.2.12.7 Local APIC NMI, Table 5.52 */
#define MADT_LAPIC_NMI_LEN  6 /* type, length, ACPI processor UID, flags(2), LINT# */
#define MADT_ALL_PROCESSORS 0xff

/* MPS INTI flags (Table 5.50) */
#define INTI_POLARITY_HIGH  0x1 /* bits 1:0 = 01: active high */
#define INTI_TRIGGER_EDGE   (0x1 << 2) /* bits 3:2 = 01: edge */
#define INTI_TRIGGER_LEVEL  (0x3 << 2) /* bits 3:2 = 11: level */

/*
 * Interrupt source overrides. None for IRQ 0: KVM's default GSI routing sends
 * ISA IRQ n to I/O APIC pin n for n < 16, the PIT's IRQ 0 included, which is
 * the identity mapping ACPI assumes without an override (QEMU's board routes
 * IRQ 0 to pin 2 and says so; here that override would point Linux at a pin
 * the PIT never raises). One for the SCI: level, active-high, the way a line
 * raised with KVM_IRQ_LINE behaves (without it an OS assumes the ACPI default
 * for the SCI, level active-low). On hardware-reduced ACPI neither matters to
 * Linux: it sets up no PIT timer and installs no SCI handler.
 */
#define MADT_SCI_FLAGS      (INTI_POLARITY_HIGH | INTI_TRIGGER_LEVEL)
/* LINT1 is the NMI pin; NMI delivery is edge-sensitive (Intel SDM Vol. 3A 10.5.1). */
#define MADT_NMI_FLAGS      (INTI_POLARITY_HIGH | INTI_TRIGGER_EDGE)
#define MADT_NMI_LINT       1

static size_t madt_len(unsigned ncpus)
{
	return MADT_ENTRIES + (size_t)ncpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN + MADT_ISO_LEN +
	       MADT_LAPIC_NMI_LEN;
}

/* ---- byte helpers ------------------------------------------------------- */
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* The byte that makes p[0..n) sum to 0 mod 256 (when it is part of them and was 0). */
static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

/* Header of a table of `len` bytes; sdt_seal() fills the checksum last. */
static void sdt_header(uint8_t *t, const char sig[4], size_t len, uint8_t rev)
{
	memcpy(t + SDT_SIGNATURE, sig, 4);
	put32(t + SDT_LENGTH, (uint32_t)len);
	t[SDT_REVISION] = rev;
	memcpy(t + SDT_OEM_ID, ACPI_OEM_ID, 6);
	memcpy(t + SDT_OEM_TABLE_ID, ACPI_OEM_TABLE_ID, 8);
	put32(t + SDT_OEM_REVISION, ACPI_OEM_REVISION);
	memcpy(t + SDT_CREATOR_ID, ACPI_CREATOR_ID, 4);
	put32(t + SDT_CREATOR_REV, ACPI_CREATOR_REV);
}

static void sdt_seal(uint8_t *t, size_t len)
{
	t[SDT_CHECKSUM] = 0;
	t[SDT_CHECKSUM] = checksum(t, len);
}

/* A 1-byte SystemIO register at `port`, accessed with byte accesses. */
static void gas_io8(uint8_t *g, uint16_t port)
{
	g[GAS_SPACE_ID] = GAS_SPACE_SYSTEM_IO;
	g[GAS_BIT_WIDTH] = 8;
	g[GAS_BIT_OFFSET] = 0;
	g[GAS_ACCESS_SIZE] = GAS_ACCESS_BYTE;
	put64(g + GAS_ADDRESS, port);
}

/* ---- the tables ----------------------------------------------------------- */
static void build_rsdp(uint8_t *t, uint64_t xsdt)
{
	memcpy(t, RSDP_SIG, 8);
	memcpy(t + RSDP_OEM_ID, ACPI_OEM_ID, 6);
	t[RSDP_REVISION] = RSDP_REV;
	put32(t + RSDP_RSDT_ADDR, 0);
	put32(t + RSDP_LENGTH, RSDP_LEN);
	put64(t + RSDP_XSDT_ADDR, xsdt);
	t[RSDP_CHECKSUM] = checksum(t, RSDP_V1_LEN);
	t[RSDP_EXT_CHECKSUM] = checksum(t, RSDP_LEN);
}

static void build_xsdt(uint8_t *t, uint64_t fadt, uint64_t madt)
{
	sdt_header(t, "XSDT", XSDT_LEN, XSDT_REV);
	put64(t + SDT_HDR_LEN, fadt);
	put64(t + SDT_HDR_LEN + 8, madt);
	sdt_seal(t, XSDT_LEN);
}

static void build_fadt(uint8_t *t, uint64_t dsdt)
{
	sdt_header(t, "FACP", FADT_LEN, FADT_REV);
	put32(t + FADT_FIRMWARE_CTRL, 0);
	put32(t + FADT_DSDT, (uint32_t)dsdt); /* acpi_build checked: below 4 GiB */
	t[FADT_PM_PROFILE] = 0;
	put16(t + FADT_SCI_INT, PC_SCI_IRQ); /* ignored on hardware-reduced ACPI (5.2.9) */
	put16(t + FADT_IAPC_BOOT_ARCH, FADT_IAPC_VALUE);
	put32(t + FADT_FLAGS, FADT_FLAGS_VALUE);
	gas_io8(t + FADT_RESET_REG, PC_PORT_ACPI_RESET);
	t[FADT_RESET_VALUE] = PC_ACPI_RESET_VALUE;
	t[FADT_MINOR_VERSION] = FADT_MINOR_REV;
	put64(t + FADT_X_DSDT, dsdt);
	gas_io8(t + FADT_SLEEP_CONTROL_REG, PC_PORT_SLEEP_CTL);
	gas_io8(t + FADT_SLEEP_STATUS_REG, PC_PORT_SLEEP_STS);
	/* Hypervisor vendor identity (268): 0. */
	sdt_seal(t, FADT_LEN);
}

static void build_dsdt(uint8_t *t)
{
	sdt_header(t, "DSDT", DSDT_LEN, DSDT_REV);
	memcpy(t + SDT_HDR_LEN, dsdt_aml, sizeof(dsdt_aml));
	sdt_seal(t, DSDT_LEN);
}

static void build_madt(uint8_t *t, unsigned ncpus)
{
	size_t len = madt_len(ncpus);
	sdt_header(t, "APIC", len, MADT_REV);
	put32(t + MADT_LAPIC_ADDR, (uint32_t)PC_GPA_LAPIC);
	put32(t + MADT_FLAGS, MADT_PCAT_COMPAT);

	uint8_t *p = t + MADT_ENTRIES;
	for (unsigned i = 0; i < ncpus; i++, p += MADT_LAPIC_LEN) {
		p[0] = MADT_TYPE_LAPIC;
		p[1] = MADT_LAPIC_LEN;
		p[2] = (uint8_t)i; /* ACPI processor UID */
		p[3] = (uint8_t)i; /* APIC id: KVM gives vCPU i APIC id i */
		put32(p + 4, MADT_LAPIC_ENABLED);
	}

	p[0] = MADT_TYPE_IOAPIC;
	p[1] = MADT_IOAPIC_LEN;
	p[2] = (uint8_t)ncpus; /* I/O APIC id: the first id after the CPUs' */
	p[3] = 0;
	put32(p + 4, (uint32_t)PC_GPA_IOAPIC);
	put32(p + 8, 0); /* GSI base: pins 0-23 are GSIs 0-23 */
	p += MADT_IOAPIC_LEN;

	p[0] = MADT_TYPE_ISO;
	p[1] = MADT_ISO_LEN;
	p[2] = MADT_ISO_BUS_ISA;
	p[3] = PC_SCI_IRQ; /* source: ISA IRQ */
	put32(p + 4, PC_SCI_IRQ); /* GSI: same pin */
	put16(p + 8, MADT_SCI_FLAGS);
	p += MADT_ISO_LEN;

	p[0] = MADT_TYPE_LAPIC_NMI;
	p[1] = MADT_LAPIC_NMI_LEN;
	p[2] = MADT_ALL_PROCESSORS;
	put16(p + 3, MADT_NMI_FLAGS);
	p[5] = MADT_NMI_LINT;

	sdt_seal(t, len);
}

int acpi_build(uint8_t *buf, size_t len, uint64_t base, unsigned ncpus, size_t *used,
	       struct vmm_err *e)
{
	if (!buf || !used)
		return vmm_fail(e, -EINVAL, "acpi_build: no buffer");
	if (ncpus == 0 || ncpus > ACPI_MAX_CPUS)
		return vmm_fail(e, -EINVAL, "ACPI tables: %u vCPUs (1 to %u supported)", ncpus,
				ACPI_MAX_CPUS);
	if (base & 15)
		return vmm_fail(e, -EINVAL,
				"ACPI tables at 0x%llx: the RSDP must sit on a 16-byte boundary",
				(unsigned long long)base);

	size_t off_xsdt = ALIGN16(RSDP_LEN);
	size_t off_fadt = off_xsdt + ALIGN16(XSDT_LEN);
	size_t off_dsdt = off_fadt + ALIGN16(FADT_LEN);
	size_t off_madt = off_dsdt + ALIGN16(DSDT_LEN);
	size_t total = off_madt + madt_len(ncpus);

	if (len < total)
		return vmm_fail(e, -ENOSPC, "ACPI tables need %zu bytes, buffer has %zu", total, len);
	if (base > UINT32_MAX || total - 1 > UINT32_MAX - base)
		return vmm_fail(e, -EINVAL, "ACPI tables at 0x%llx: must lie below 4 GiB",
				(unsigned long long)base);

	memset(buf, 0, total);
	build_rsdp(buf, base + off_xsdt);
	build_xsdt(buf + off_xsdt, base + off_fadt, base + off_madt);
	build_fadt(buf + off_fadt, base + off_dsdt);
	build_dsdt(buf + off_dsdt);
	build_madt(buf + off_madt, ncpus);
	*used = total;
	return 0;
}
