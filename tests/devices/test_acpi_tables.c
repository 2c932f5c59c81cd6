/*
 * test_acpi_tables.c - acpi_build() (vmm/boot/acpi_tables.h): the exact bytes
 * of the RSDP, XSDT, FADT, DSDT and MADT, found the way a guest finds them
 * (RSDP -> XSDT -> FADT -> DSDT, XSDT -> MADT) and checked against the ACPI 6.4
 * specification's offsets, written out here independently of the code; bad
 * arguments rejected without touching the buffer. With $IASL set (meson does
 * when acpica-tools is installed), iasl -d must disassemble every table.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acpi_tables.h"
#include "pc_layout.h"

#define BASE PC_GPA_ACPI
#define BUFSZ 4096
#define FILL 0xaa

static uint8_t buf[BUFSZ];
static size_t used;

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static void build_at(uint64_t base, unsigned ncpus)
{
	struct vmm_err e = { 0 };
	memset(buf, FILL, sizeof(buf));
	used = 0;
	int r = acpi_build(buf, sizeof(buf), base, ncpus, &used, &e);
	cr_assert_eq(r, 0, "acpi_build(%u cpus): %d %s", ncpus, r, e.msg);
	cr_assert_eq(e.code, 0);
}

static void build(unsigned ncpus) { build_at(BASE, ncpus); }

/* The table at guest-physical addr: inside [base, base + used), whole, checksummed. */
static const uint8_t *table_at(uint64_t base, uint64_t addr, const char *sig)
{
	cr_assert_geq(addr, base, "%s at 0x%llx is below the buffer", sig, (unsigned long long)addr);
	uint64_t off = addr - base;
	cr_assert_leq(off + 36, used, "%s header beyond the written bytes", sig);
	const uint8_t *t = buf + off;
	cr_assert_arr_eq(t, sig, 4, "expected %s at offset %llu", sig, (unsigned long long)off);
	uint32_t len = le32(t + 4);
	cr_assert_geq(len, 36);
	cr_assert_leq(off + len, used, "%s (%u bytes) beyond the written bytes", sig, len);
	cr_assert_eq(sum8(t, len), 0, "%s checksum", sig);
	cr_assert_arr_eq(t + 10, "COWVM ", 6, "%s OEM id", sig);
	cr_assert_arr_eq(t + 16, "COWVMPC ", 8, "%s OEM table id", sig);
	cr_assert_eq(le32(t + 24), 1, "%s OEM revision", sig);
	cr_assert_arr_eq(t + 28, "COWV", 4, "%s creator id", sig);
	cr_assert_eq(le32(t + 32), 1, "%s creator revision", sig);
	return t;
}

static const uint8_t *xsdt(void) { return table_at(BASE, le64(buf + 24), "XSDT"); }
static const uint8_t *fadt(void) { return table_at(BASE, le64(xsdt() + 36), "FACP"); }
static const uint8_t *madt(void) { return table_at(BASE, le64(xsdt() + 44), "APIC"); }
static const uint8_t *dsdt(void) { return table_at(BASE, le64(fadt() + 140), "DSDT"); }

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

Test(acpi, rsdp)
{
	build(1);
	cr_assert_arr_eq(buf, "RSD PTR ", 8);
	cr_assert_eq(sum8(buf, 20), 0, "checksum of the first 20 bytes");
	cr_assert_eq(sum8(buf, 36), 0, "extended checksum of all 36 bytes");
	cr_assert_arr_eq(buf + 9, "COWVM ", 6);
	cr_assert_eq(buf[15], 2, "revision 2: ACPI 2.0+ with XSDT");
	cr_assert_eq(le32(buf + 16), 0, "no RSDT");
	cr_assert_eq(le32(buf + 20), 36, "length");
	cr_assert_eq(le64(buf + 24), BASE + 48, "XSDT right after the RSDP, 16-byte aligned");
	cr_assert(all(buf + 33, 3, 0), "reserved bytes");
	cr_assert(all(buf + 36, 12, 0), "padding up to the XSDT");
}

Test(acpi, xsdt)
{
	build(2);
	const uint8_t *t = xsdt();
	cr_assert_eq(le32(t + 4), 36 + 2 * 8, "two 64-bit entries");
	cr_assert_eq(t[8], 1, "revision");
	cr_assert_eq(le64(t + 36), BASE + 112, "FADT");
	cr_assert_eq(le64(t + 44), BASE + 512, "MADT");
	fadt();
	madt();
}

Test(acpi, fadt_fields)
{
	build(1);
	const uint8_t *t = fadt();
	cr_assert_eq(le32(t + 4), 276, "ACPI 6 FADT length");
	cr_assert_eq(t[8], 6, "revision");
	cr_assert_eq(t[131], 4, "FADT minor version (ACPI 6.4)");
	cr_assert_eq(le32(t + 36), 0, "FIRMWARE_CTRL: no FACS");
	cr_assert_eq(le64(t + 132), 0, "X_FIRMWARE_CTRL: no FACS");
	cr_assert_eq(le32(t + 40), BASE + 400, "DSDT (32-bit)");
	cr_assert_eq(le64(t + 140), BASE + 400, "X_DSDT");
	cr_assert_eq(t[44], 0, "reserved");
	cr_assert_eq(t[45], 0, "preferred PM profile: unspecified");
	cr_assert_eq(le16(t + 46), 9, "SCI_INT = PC_SCI_IRQ");
	cr_assert(all(t + 48, 109 - 48, 0), "SMI_CMD .. CENTURY: no fixed ACPI hardware");
	/* IA-PC boot flags: VGA not present (bit 2), CMOS RTC not present (bit 5); no 8042 (bit 1). */
	cr_assert_eq(le16(t + 109), 0x0024, "IAPC_BOOT_ARCH 0x%04x", le16(t + 109));
	cr_assert_eq(t[111], 0, "reserved");
	/* WBINVD (0), PWR_BUTTON (4), SLP_BUTTON (5), RESET_REG_SUP (10), HW_REDUCED_ACPI (20) */
	cr_assert_eq(le32(t + 112), 0x00100431, "flags 0x%08x", le32(t + 112));
	cr_assert_eq(le16(t + 129), 0, "ARM_BOOT_ARCH");
	cr_assert(all(t + 148, 244 - 148, 0), "X_PM1a_EVT_BLK .. X_GPE1_BLK: none");
	cr_assert(all(t + 268, 8, 0), "hypervisor vendor identity");
}

Test(acpi, fadt_registers)
{
	build(1);
	const uint8_t *t = fadt();
	/* GAS: SystemIO (1), 8 bits, offset 0, byte access (1), 64-bit port address */
	static const uint8_t reset[12] = { 1, 8, 0, 1, 0x02, 0x06, 0, 0, 0, 0, 0, 0 };
	static const uint8_t sleep_ctl[12] = { 1, 8, 0, 1, 0x00, 0x06, 0, 0, 0, 0, 0, 0 };
	static const uint8_t sleep_sts[12] = { 1, 8, 0, 1, 0x01, 0x06, 0, 0, 0, 0, 0, 0 };
	cr_assert_arr_eq(t + 116, reset, 12, "RESET_REG at port 0x602");
	cr_assert_eq(t[128], PC_ACPI_RESET_VALUE, "RESET_VALUE");
	cr_assert_arr_eq(t + 244, sleep_ctl, 12, "SLEEP_CONTROL_REG at port 0x600");
	cr_assert_arr_eq(t + 256, sleep_sts, 12, "SLEEP_STATUS_REG at port 0x601");
	cr_assert_eq(le64(t + 120), PC_PORT_ACPI_RESET);
	cr_assert_eq(le64(t + 248), PC_PORT_SLEEP_CTL);
	cr_assert_eq(le64(t + 260), PC_PORT_SLEEP_STS);
}

Test(acpi, dsdt_aml)
{
	build(1);
	const uint8_t *t = dsdt();
	static const uint8_t aml[] = {
		/* Name (_S5, Package () { 5, 5, 0, 0 }) */
		0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00,
		/* Device (\_SB.COM1) */
		0x5b, 0x82, 0x31, '\\', 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1',
		/* Name (_HID, EisaId ("PNP0501")) */
		0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,
		/* Name (_UID, Zero) */
		0x08, '_', 'U', 'I', 'D', 0x00,
		/* Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3f8, 0x3f8, 1, 8) IRQNoFlags () {4} }) */
		0x08, '_', 'C', 'R', 'S', 0x11, 0x10, 0x0a, 0x0d,
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
		0x22, 0x10, 0x00,
		0x79, 0x00,
	};
	cr_assert_eq(le32(t + 4), 36 + sizeof(aml), "DSDT length %u", le32(t + 4));
	cr_assert_eq(t[8], 2, "revision 2: 64-bit AML integers");
	cr_assert_arr_eq(t + 36, aml, sizeof(aml));
	/* Package lengths: each PkgLength byte counts itself and what follows to the end. */
	cr_assert_eq(aml[6], 14 - 6, "package PkgLength");
	cr_assert_eq(aml[16], sizeof(aml) - 16, "device PkgLength");
	cr_assert_eq(aml[sizeof(aml) - 22 + 6], 22 - 6, "buffer PkgLength");
}

static void check_madt(unsigned n)
{
	build(n);
	const uint8_t *t = madt();
	uint32_t len = le32(t + 4);
	cr_assert_eq(len, 44 + 8 * n + 12 + 10 + 6, "MADT length %u for %u cpus", len, n);
	cr_assert_eq(used, 512 + len, "the MADT is the last table");
	cr_assert_eq(t[8], 5, "revision");
	cr_assert_eq(le32(t + 36), 0xfee00000u, "local APIC address");
	cr_assert_eq(le32(t + 40), 1, "flags: PCAT_COMPAT");

	const uint8_t *p = t + 44;
	for (unsigned i = 0; i < n; i++, p += 8) {
		cr_assert_eq(p[0], 0, "entry %u: processor local APIC", i);
		cr_assert_eq(p[1], 8);
		cr_assert_eq(p[2], i, "ACPI processor UID");
		cr_assert_eq(p[3], i, "APIC id");
		cr_assert_eq(le32(p + 4), 1, "enabled");
	}
	cr_assert_eq(p[0], 1, "I/O APIC");
	cr_assert_eq(p[1], 12);
	cr_assert_eq(p[2], n, "I/O APIC id = ncpus");
	cr_assert_eq(p[3], 0);
	cr_assert_eq(le32(p + 4), 0xfec00000u);
	cr_assert_eq(le32(p + 8), 0, "GSI base");
	p += 12;
	cr_assert_eq(p[0], 2, "interrupt source override");
	cr_assert_eq(p[1], 10);
	cr_assert_eq(p[2], 0, "bus ISA");
	cr_assert_eq(p[3], 9, "source: the SCI, ISA IRQ 9");
	cr_assert_eq(le32(p + 4), 9, "GSI 9");
	cr_assert_eq(le16(p + 8), 0x000d, "level (11b << 2), active high (01b)");
	p += 10;
	cr_assert_eq(p[0], 4, "local APIC NMI");
	cr_assert_eq(p[1], 6);
	cr_assert_eq(p[2], 0xff, "all processors");
	cr_assert_eq(le16(p + 3), 0x0005, "edge (01b << 2), active high (01b)");
	cr_assert_eq(p[5], 1, "LINT1");
	p += 6;
	cr_assert_eq(p, t + len, "the entries fill the table exactly");
}

Test(acpi, madt_1cpu) { check_madt(1); }
Test(acpi, madt_2cpus) { check_madt(2); }
Test(acpi, madt_16cpus) { check_madt(16); }

Test(acpi, no_override_for_irq0)
{
	build(4);
	const uint8_t *t = madt();
	uint32_t len = le32(t + 4);
	unsigned isos = 0;
	for (const uint8_t *p = t + 44; p < t + len; p += p[1]) {
		cr_assert_geq(p[1], 2, "entry length");
		if (p[0] == 2) {
			isos++;
			cr_assert_neq(p[3], 0, "IRQ 0 must stay on pin 0 (KVM's default routing)");
		}
	}
	cr_assert_eq(isos, 1);
}

Test(acpi, layout_and_bytes_beyond_used)
{
	for (unsigned n = 1; n <= ACPI_MAX_CPUS; n++) {
		build(n);
		cr_assert_eq(used, 512 + 72 + 8 * n);
		cr_assert(all(buf + used, BUFSZ - used, FILL), "bytes beyond *used untouched (%u cpus)", n);
		dsdt();
		madt();
	}
}

Test(acpi, pointers_follow_base)
{
	uint64_t base = 0x80000;
	build_at(base, 2);
	cr_assert_eq(le64(buf + 24), base + 48);
	const uint8_t *x = table_at(base, le64(buf + 24), "XSDT");
	const uint8_t *f = table_at(base, le64(x + 36), "FACP");
	table_at(base, le64(x + 44), "APIC");
	table_at(base, le64(f + 140), "DSDT");
	cr_assert_eq(le32(f + 40), base + 400);
}

static void expect_fail(size_t len, uint64_t base, unsigned ncpus, int code)
{
	struct vmm_err e = { 0 };
	size_t u = 12345;
	memset(buf, FILL, sizeof(buf));
	int r = acpi_build(buf, len, base, ncpus, &u, &e);
	cr_assert_eq(r, code, "len %zu base 0x%llx ncpus %u: %d", len, (unsigned long long)base, ncpus, r);
	cr_assert_eq(e.code, code);
	cr_assert_neq(e.msg[0], 0, "an error message");
	cr_assert_eq(u, 12345, "*used untouched");
	cr_assert(all(buf, BUFSZ, FILL), "buffer untouched");
}

Test(acpi, too_small_buffers)
{
	expect_fail(0, BASE, 1, -ENOSPC);
	expect_fail(36, BASE, 1, -ENOSPC);
	expect_fail(512 + 72 + 8 - 1, BASE, 1, -ENOSPC);
	expect_fail(512 + 72 + 16 * 8 - 1, BASE, 16, -ENOSPC);
	struct vmm_err e = { 0 };
	size_t u = 0;
	cr_assert_eq(acpi_build(buf, 512 + 72 + 8, BASE, 1, &u, &e), 0, "exactly enough: %s", e.msg);
	cr_assert_eq(u, 512 + 72 + 8);
}

Test(acpi, bad_cpu_counts)
{
	expect_fail(BUFSZ, BASE, 0, -EINVAL);
	expect_fail(BUFSZ, BASE, 17, -EINVAL);
	expect_fail(BUFSZ, BASE, 1000, -EINVAL);
}

Test(acpi, bad_bases)
{
	size_t need = 512 + 72 + 8;
	expect_fail(BUFSZ, BASE + 8, 1, -EINVAL);                /* RSDP not on 16 bytes */
	expect_fail(BUFSZ, 0x100000000ull, 1, -EINVAL);          /* above 4 GiB */
	expect_fail(BUFSZ, 0x100000000ull - need + 16, 1, -EINVAL); /* crosses 4 GiB */
	expect_fail(BUFSZ, UINT64_MAX - 15, 1, -EINVAL);         /* would wrap */
	struct vmm_err e = { 0 };
	size_t u = 0;
	cr_assert_eq(acpi_build(buf, BUFSZ, 0x100000000ull - need, 1, &u, &e), 0,
		     "ends exactly at 4 GiB: %s", e.msg);
}

Test(acpi, null_arguments)
{
	struct vmm_err e = { 0 };
	size_t u;
	cr_assert_eq(acpi_build(NULL, BUFSZ, BASE, 1, &u, &e), -EINVAL);
	cr_assert_eq(acpi_build(buf, BUFSZ, BASE, 1, NULL, &e), -EINVAL);
	cr_assert_eq(acpi_build(buf, BUFSZ, BASE, 0, &u, NULL), -EINVAL, "no vmm_err is fine");
}

/* ---- iasl: an independent parser and compiler read every table ---------- */
static char tmpdir[64];

static void write_file(const char *name, const void *p, size_t n)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(p, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

/* Contents of tmpdir/name (NUL-terminated, static buffer), *n its length. */
static const char *read_file(const char *name, size_t *n)
{
	static char data[65536];
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s not written", path);
	*n = fread(data, 1, sizeof(data) - 1, f);
	data[*n] = 0;
	fclose(f);
	return data;
}

/* Run iasl with args in tmpdir: exit status 0, no error or warning in its output. */
static void iasl(const char *args)
{
	char cmd[1024], out[8192];
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' %s 2>&1", tmpdir, getenv("IASL"), args);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	int st = pclose(f);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "iasl %s failed:\n%s", args, out);
	static const char clean[] = "0 Errors, 0 Warnings, 0 Remarks";
	char *summary = strstr(out, clean);
	if (strstr(out, "Compilation"))
		cr_assert_not_null(summary, "iasl %s:\n%s", args, out);
	if (summary)
		memset(summary, ' ', sizeof(clean) - 1); /* the summary line is no error */
	cr_assert_null(strstr(out, "Error"), "iasl %s:\n%s", args, out);
	cr_assert_null(strstr(out, "Warning"), "iasl %s:\n%s", args, out);
}

static void iasl_setup(void)
{
	const char *iasl = getenv("IASL");
	if (!iasl || !*iasl)
		cr_skip_test("iasl not found (Debian package acpica-tools): tables not cross-checked");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cowvm-acpi-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	build(ACPI_MAX_CPUS);
}

static void iasl_teardown(void)
{
	if (!tmpdir[0])
		return;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

/*
 * iasl -d decodes the table field by field; compiling that text back must give
 * our bytes, apart from the checksum (9) and the creator id and revision
 * (28-35), which iasl stamps with its own.
 */
static void round_trip(const uint8_t *t, const char *name)
{
	uint32_t len = le32(t + 4);
	char dat[32], cmd[64], aml[32];
	snprintf(dat, sizeof(dat), "%s.dat", name);
	write_file(dat, t, len);
	snprintf(cmd, sizeof(cmd), "-d %s", dat);
	iasl(cmd);
	snprintf(cmd, sizeof(cmd), "%s.dsl", name);
	iasl(cmd);
	snprintf(aml, sizeof(aml), "%s.aml", name);
	size_t n;
	const uint8_t *back = (const uint8_t *)read_file(aml, &n);
	cr_assert_eq(n, len, "%s: iasl's table has %zu bytes, ours %u", name, n, len);
	for (size_t i = 0; i < len; i++)
		if (i != 9 && (i < 28 || i >= 36))
			cr_assert_eq(back[i], t[i], "%s byte %zu: iasl 0x%02x, ours 0x%02x", name, i,
				     back[i], t[i]);
}

Test(acpi_iasl, xsdt, .init = iasl_setup, .fini = iasl_teardown) { round_trip(xsdt(), "xsdt"); }
Test(acpi_iasl, fadt, .init = iasl_setup, .fini = iasl_teardown) { round_trip(fadt(), "facp"); }
Test(acpi_iasl, madt, .init = iasl_setup, .fini = iasl_teardown) { round_trip(madt(), "apic"); }

/* iasl 20200925 cannot disassemble an RSDP; its data table compiler builds one
 * from the fields instead (checksums its own) and it must equal ours. */
Test(acpi_iasl, rsdp, .init = iasl_setup, .fini = iasl_teardown)
{
	char src[1024];
	snprintf(src, sizeof(src),
		 "[0008] Signature : \"RSD PTR \"\n"
		 "[0001] Checksum : 00\n"
		 "[0006] Oem ID : \"COWVM \"\n"
		 "[0001] Revision : 02\n"
		 "[0004] RSDT Address : 00000000\n"
		 "[0004] Length : 00000024\n"
		 "[0008] XSDT Address : %016llX\n"
		 "[0001] Extended Checksum : 00\n"
		 "[0003] Reserved : 000000\n",
		 (unsigned long long)(BASE + 48));
	write_file("rsdp.asl", src, strlen(src));
	iasl("rsdp.asl");
	size_t n;
	const char *aml = read_file("rsdp.aml", &n);
	cr_assert_eq(n, 36);
	cr_assert_arr_eq(aml, buf, 36, "iasl's RSDP differs from ours");
}

/* The DSDT disassembles to the ASL we mean, and that ASL compiles cleanly
 * (iasl checks the types of predefined names such as _S5, _HID, _CRS). */
Test(acpi_iasl, dsdt, .init = iasl_setup, .fini = iasl_teardown)
{
	const uint8_t *t = dsdt();
	write_file("dsdt.dat", t, le32(t + 4));
	iasl("-d dsdt.dat");
	size_t n;
	const char *asl = read_file("dsdt.dsl", &n);
	static const char *expect[] = {
		"Name (_S5, Package (0x04)", "0x05, \n        0x05, \n        Zero, \n        Zero\n",
		"Device (\\_SB.COM1)", "Name (_HID, EisaId (\"PNP0501\")", "Name (_UID, Zero)",
		"IO (Decode16,\n                0x03F8,             // Range Minimum\n"
		"                0x03F8,             // Range Maximum\n"
		"                0x01,               // Alignment\n"
		"                0x08,               // Length\n",
		"IRQNoFlags ()\n                {4}\n",
	};
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		cr_assert_not_null(strstr(asl, expect[i]), "missing:\n%s\nin:\n%s", expect[i], asl);
	iasl("dsdt.dsl");
}
