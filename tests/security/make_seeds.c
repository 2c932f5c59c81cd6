/*
 * make_seeds.c - write seed inputs for the parser fuzz harnesses:
 *
 *   fuzz-make-seeds OUTDIR [GUEST.elf...]
 *
 * makes OUTDIR/{snapshot_file,elf_loader,fdt,hypercall,linux_kernel}/seed-* in each
 * harness's input format (see the comment at the top of each harness):
 * snapshot files written by the real snapshot_save() (guest-stub and PC
 * roots and layers, no KVM needed), boot-info blobs written by the real
 * bootinfo_write(), the given guest ELF images, hypercall sequences for
 * every hypercall and device, and synthetic bzImage headers
 * (tests/boot/bzimage_build.h). bench/fuzz/run.sh starts from these; the committed copies in
 * tests/security/corpus/ are replayed by the regression tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../boot/bzimage_build.h"
#include "bootinfo.h"
#include "cowvm_abi.h"
#include "pc_layout.h"
#include "pc_state.h"
#include "snapshot.h"
#include "snapshot_file.h"
#include "workload_spec.h"

#define PAGE 4096ull
#define MiB (1ull << 20)

static const char *out;

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "fuzz-make-seeds: %s: %s\n", what, msg);
	exit(1);
}

static void put(const char *harness, const char *name, const void *a, size_t an, const void *b, size_t bn)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", out, harness);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/seed-%s", out, harness, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(a, 1, an, f) != an || (bn && fwrite(b, 1, bn, f) != bn) || fclose(f))
		die(path, strerror(errno));
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die(path, strerror(errno));
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n + 1);
	if (fread(b, 1, (size_t)n, f) != (size_t)n)
		die(path, "short read");
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* ---- snapshot files ------------------------------------------------------ */

static int memfd_with(uint64_t size, const uint64_t *gfns, unsigned n, uint8_t fill)
{
	struct vmm_err e = { 0 };
	int fd = snapshot_memfd(size, &e);
	if (fd < 0)
		die("memfd", e.msg);
	uint8_t page[PAGE];
	for (unsigned i = 0; i < n; i++) {
		memset(page, fill + i, sizeof(page));
		memcpy(page, &gfns[i], 8);
		if (pwrite(fd, page, PAGE, (off_t)(gfns[i] * PAGE)) != PAGE)
			die("pwrite", strerror(errno));
	}
	return fd;
}

static void snapshot_seeds(void)
{
	char dir[] = "/tmp/cowvm-seeds-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp", strerror(errno));
	char root_path[64], layer_path[64], root2_path[64];
	snprintf(root_path, sizeof(root_path), "%s/parent.snap", dir);
	snprintf(layer_path, sizeof(layer_path), "%s/file.snap", dir);
	snprintf(root2_path, sizeof(root2_path), "%s/root2.snap", dir);
	struct vmm_err e = { 0 };

	/* Root: 4 MiB, one vCPU, three stored pages (two runs). */
	struct vcpu_state vs[2];
	memset(vs, 0, sizeof(vs));
	vs[0].regs.rip = 0x100000;
	vs[0].nmsrs = 2;
	vs[0].msrs[0] = (struct kvm_msr_entry){ .index = 0x10, .data = 1234 };
	vs[0].msrs[1] = (struct kvm_msr_entry){ .index = 0xc0000080, .data = 0xd01 };
	vs[1] = vs[0];
	vs[1].regs.rip = 0x100040;
	struct snap_meta m = { .mem_size = 4 * MiB, .nvcpus = 1, .vcpu = vs,
	                       .layout = { 0x200000, 0x100000, 4 * MiB - 0x20000, 0x10000,
	                                   4 * MiB - 0x10000, 0x10000 },
	                       .hc_gpa = 0x200100 };
	if (wl_parse("snaptest:mib=1,touch=4", &m.workload, &e))
		die("wl_parse", e.msg);
	uint64_t rg[] = { 0, 1, 5 };
	struct snapshot *root, *layer, *root2;
	if (snapshot_root_create(&m, memfd_with(m.mem_size, rg, 3, 0x11), &root, &e) ||
	    snapshot_save(root, root_path, &e))
		die("root", e.msg);
	/* Layer of it: two captured pages, one of them zero. */
	uint64_t lg[] = { 1, 7 };
	int lfd = memfd_with(m.mem_size, lg, 1, 0x77);
	if (snapshot_layer_create(root, &m, lfd, lg, 2, &layer, &e) || snapshot_save(layer, layer_path, &e))
		die("layer", e.msg);
	/* A second root: 6 MiB, two vCPUs (one parked), workload arguments. */
	struct snap_meta m2 = m;
	m2.mem_size = 6 * MiB;
	m2.nvcpus = 2;
	m2.parked_mask = 2;
	m2.hc_gpa = 0;
	if (wl_parse("memtouch:mode=rand,op=write,mib=2,iters=3,seed=9", &m2.workload, &e))
		die("wl_parse", e.msg);
	uint64_t r2[] = { 3, 4, 1000, 1535 };
	if (snapshot_root_create(&m2, memfd_with(m2.mem_size, r2, 4, 0x33), &root2, &e) ||
	    snapshot_save(root2, root2_path, &e))
		die("root2", e.msg);

	size_t rn, ln, r2n;
	uint8_t *rb = slurp(root_path, &rn), *lb = slurp(layer_path, &ln), *r2b = slurp(root2_path, &r2n);
	/* ctrl: 1 fix sums, 2 fix size, 4 parent first, 8 re-save */
	uint8_t c;
	c = 0x08, put("snapshot_file", "root", &c, 1, rb, rn);
	c = 0x0b, put("snapshot_file", "root-fixup", &c, 1, rb, rn);
	c = 0x0b, put("snapshot_file", "root2-fixup", &c, 1, r2b, r2n);
	c = 0x00, put("snapshot_file", "root-truncated", &c, 1, rb, rn / 2);
	uint8_t *pl = malloc(3 + rn);
	pl[0] = 0x0c, pl[1] = (uint8_t)rn, pl[2] = (uint8_t)(rn >> 8);
	memcpy(pl + 3, rb, rn);
	put("snapshot_file", "layer", pl, 3 + rn, lb, ln);
	pl[0] = 0x0f;
	put("snapshot_file", "layer-fixup", pl, 3 + rn, lb, ln);
	pl[0] = 0x07;
	put("snapshot_file", "layer-fixup-noresave", pl, 3 + rn, lb, ln);
	free(pl);
	free(rb), free(lb), free(r2b);
	snapshot_put(layer);
	snapshot_put(root);
	snapshot_put(root2);
	unlink(root_path), unlink(layer_path), unlink(root2_path);
	rmdir(dir); /* the layer's stored parent path no longer exists: the
	             * harness's parent is found beside the layer */
}

/* A PC (Linux) guest's machine state with every device off its reset
 * values (in range: the loader checks). */
static void pc_fill(struct pc_state *s, uint8_t scr)
{
	memset(s, 0, sizeof(*s));
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	s->pic_master.chip.pic = (struct kvm_pic_state){ .irr = 0x11, .imr = 0xfb, .priority_add = 3,
	                                                 .irq_base = 0x20, .init4 = 1, .elcr_mask = 0xf8 };
	s->pic_slave.chip.pic = (struct kvm_pic_state){ .imr = 0xff, .irq_base = 0x28, .init_state = 2,
	                                                .elcr = 0x0c, .elcr_mask = 0xde };
	struct kvm_ioapic_state *a = &s->ioapic.chip.ioapic;
	a->base_address = PC_GPA_IOAPIC;
	a->ioregsel = 0x12;
	a->irr = 0x10;
	for (unsigned i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		a->redirtbl[i].bits = 0x10000 | (0x30 + i);
	for (int c = 0; c < 3; c++)
		s->pit.channels[c] = (struct kvm_pit_channel_state){ .count = 0x10000, .mode = 0xff, .gate = c != 2 };
	s->pit.channels[0] = (struct kvm_pit_channel_state){ .count = 0x2e9c, .rw_mode = 3, .read_state = 3,
	                                                     .write_state = 3, .mode = 2, .gate = 1 };
	struct uart_16550_state *u = &s->com1;
	u->ier = 0x05, u->lcr = 0x03, u->mcr = 0x0b, u->scr = scr, u->dll = 1, u->fcr = 0xc1;
	u->thre_pending = 1;
	u->rx_count = 3;
	memcpy(u->rx, "ls\n", 3);
	s->power = (struct pc_power){ .i8042_cmd_byte = 0x47, .i8042_pending = 0x60, .i8042_last_cmd = true };
	s->rtc.index = 0x0b;
}

static void pc_vcpu(struct vcpu_state *v, uint64_t rip)
{
	memset(v, 0, sizeof(*v));
	v->regs.rip = rip;
	v->nmsrs = 1;
	v->msrs[0] = (struct kvm_msr_entry){ .index = 0x10, .data = 99 };
	v->has_lapic = 1;
	v->tsc_khz = 2100000;
	for (unsigned i = 0; i < sizeof(v->lapic.regs); i += 16)
		v->lapic.regs[i] = (char)(i >> 4);
}

/* A PC root (4 MiB, two vCPUs with LAPICs, the machine state) and a layer
 * of it with its own state. */
static void pc_snapshot_seeds(void)
{
	char dir[] = "/tmp/cowvm-seeds-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp", strerror(errno));
	char root_path[64], layer_path[64];
	snprintf(root_path, sizeof(root_path), "%s/parent.snap", dir);
	snprintf(layer_path, sizeof(layer_path), "%s/file.snap", dir);
	struct vmm_err e = { 0 };
	struct vcpu_state vs[2];
	pc_vcpu(&vs[0], 0x1000200);
	pc_vcpu(&vs[1], 0xfff0);
	struct pc_state pc;
	pc_fill(&pc, 0x5a);
	struct snap_meta m = { .mem_size = 4 * MiB, .nvcpus = 2, .vcpu = vs, .pc = &pc, .clock = 5000000,
	                       .layout = { 0, 0, 0x9c000, 0x2000, 0x9e000, 0x2000 }, .hc_gpa = 0xa1000 };
	strcpy(m.workload.name, "linux"); /* what a Linux guest's snapshot names */
	uint64_t rg[] = { 0, 0x100, 0x101 };
	struct snapshot *root, *layer;
	if (snapshot_root_create(&m, memfd_with(m.mem_size, rg, 3, 0x22), &root, &e) ||
	    snapshot_save(root, root_path, &e))
		die("pc root", e.msg);
	pc_fill(&pc, 0x77);
	pc.com1.rx_count = 0;
	memset(pc.com1.rx, 0, 3);
	vs[0].regs.rip += 0x40;
	uint64_t lg[] = { 0x101 };
	if (snapshot_layer_create(root, &m, memfd_with(m.mem_size, lg, 1, 0x66), lg, 1, &layer, &e) ||
	    snapshot_save(layer, layer_path, &e))
		die("pc layer", e.msg);
	size_t rn, ln;
	uint8_t *rb = slurp(root_path, &rn), *lb = slurp(layer_path, &ln);
	uint8_t c;
	c = 0x08, put("snapshot_file", "pc-root", &c, 1, rb, rn);
	c = 0x0b, put("snapshot_file", "pc-root-fixup", &c, 1, rb, rn);
	uint8_t *pl = malloc(3 + rn);
	pl[0] = 0x0f, pl[1] = (uint8_t)rn, pl[2] = (uint8_t)(rn >> 8);
	if (rn > 0xffff)
		die("pc root", "too large for the harness's parent length");
	memcpy(pl + 3, rb, rn);
	put("snapshot_file", "pc-layer-fixup", pl, 3 + rn, lb, ln);
	pl[0] = 0x0c;
	put("snapshot_file", "pc-layer", pl, 3 + rn, lb, ln);
	free(pl);
	free(rb), free(lb);
	snapshot_put(layer);
	snapshot_put(root);
	unlink(root_path), unlink(layer_path);
	rmdir(dir);
}

/* ---- boot info ----------------------------------------------------------- */

static void fdt_seed(const char *name, const char *spec, unsigned ncpus)
{
	struct wl_request w;
	struct vmm_err e = { 0 };
	if (wl_parse(spec, &w, &e))
		die(spec, e.msg);
	uint64_t lay[7] = { ncpus, 0x120000, 0x100000, 0x3e0000, 0x10000, 0x3f0000, 0x10000 };
	struct bootinfo bi = { .mem_size = 4 * MiB, .ncpus = ncpus, .workload = &w,
	                       .heap_base = lay[1], .heap_size = lay[2], .in_base = lay[3],
	                       .in_size = lay[4], .out_base = lay[5], .out_size = lay[6] };
	size_t msize = COWVM_GPA_BOOTINFO + COWVM_BOOTINFO_MAX;
	struct guest_mem mem = { .host = calloc(1, msize), .size = msize };
	if (bootinfo_write(&mem, &bi, &e))
		die("bootinfo_write", e.msg);
	const uint8_t *blob = mem.host + COWVM_GPA_BOOTINFO;
	uint32_t total = (uint32_t)blob[4] << 24 | blob[5] << 16 | blob[6] << 8 | blob[7];
	char n[64];
	uint8_t mode = 0;
	snprintf(n, sizeof(n), "raw-%s", name);
	put("fdt", n, &mode, 1, blob, total);
	/* agreement mode: 56 bytes of values, then the spec */
	uint8_t a[1 + 56];
	a[0] = 1;
	memcpy(a + 1, lay, 56);
	snprintf(n, sizeof(n), "agree-%s", name);
	put("fdt", n, a, sizeof(a), spec, strlen(spec));
	free(mem.host);
}

/* ---- hypercalls ---------------------------------------------------------- */

struct hx {
	uint8_t kind, vcpu, width, dir;
	uint16_t count, port;
	uint64_t addr, data;
};

static void hc_seed(const char *name, uint8_t flags, const struct hx *x, unsigned n, const uint8_t *ram,
                    size_t ramlen)
{
	uint8_t buf[2 + 32 * 24 + 8192];
	buf[0] = flags;
	buf[1] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = buf + 2 + i * 24;
		p[0] = x[i].kind, p[1] = x[i].vcpu, p[2] = x[i].width, p[3] = x[i].dir;
		memcpy(p + 4, &x[i].count, 2);
		memcpy(p + 6, &x[i].port, 2);
		memcpy(p + 8, &x[i].addr, 8);
		memcpy(p + 16, &x[i].data, 8);
	}
	put("hypercall", name, buf, 2 + n * 24, ram, ramlen);
}

static void block(uint8_t *ram, uint64_t gpa, uint64_t nr, uint64_t a0, uint64_t a1)
{
	struct cowvm_hcall h = { .nr = nr, .args = { a0, a1, 3, 4, 5 }, .ret = 0x5555 };
	memcpy(ram + gpa, &h, sizeof(h));
}

static void hypercall_seeds(void)
{
	static uint8_t ram[8192];
	memset(ram, 0, sizeof(ram));
	block(ram, 0x100, COWVM_HC_WRITE, 0x800, 12);
	memcpy(ram + 0x800, "hello world\n", 12);
	block(ram, 0x140, COWVM_HC_REPORT, 0x900, 42);
	strcpy((char *)ram + 0x900, "memtouch.checksum");
	block(ram, 0x180, COWVM_HC_EXIT, 7, 0);
	block(ram, 0x1c0, COWVM_HC_EXCEPTION, 14, 2);
	block(ram, 0x200, COWVM_HC_PARK, 0, 0);
	block(ram, 0x240, COWVM_HC_SNAPSHOT, 0, 0);
	block(ram, 0x280, 999, 0, 0);
	block(ram, 0x2c0, COWVM_HC_WRITE, 0x1ffc, 8);      /* runs past the end of RAM */
	block(ram, 0x300, COWVM_HC_REPORT, 0x1fff, 1);     /* key ends at the end of RAM */
	ram[0x1fff] = 'k';
	block(ram, 0x340, COWVM_HC_WRITE, 0, COWVM_HC_WRITE_MAX + 1);
	block(ram, 0x380, COWVM_HC_FUZZ, 0x800, 64);
	const struct hx all[] = {
		{ 0, 0, 0, 1, 0, 0, 0, 0x100 }, { 0, 1, 0, 1, 0, 0, 0, 0x140 }, { 2, 0, 0, 1, 0, 0, 0, 0x1c0 },
		{ 0, 0, 0, 1, 0, 0, 0, 0x200 }, { 0, 0, 0, 1, 0, 0, 0, 0x240 }, { 2, 1, 0, 1, 0, 0, 0, 0x280 },
		{ 0, 0, 0, 1, 0, 0, 0, 0x2c0 }, { 0, 0, 0, 1, 0, 0, 0, 0x300 }, { 0, 0, 0, 1, 0, 0, 0, 0x340 },
		{ 0, 0, 0, 1, 0, 0, 0, 0x380 }, { 0, 0, 0, 1, 0, 0, 0, 0x104 }, { 0, 0, 0, 1, 0, 0, 0, 0x1fe0 },
		{ 0, 0, 0, 1, 0, 0, 0, 0x180 },
	};
	hc_seed("all-hypercalls", 0x11, all, sizeof(all) / sizeof(all[0]), ram, sizeof(ram));
	hc_seed("no-snapshots", 0x10, all, sizeof(all) / sizeof(all[0]), ram, sizeof(ram));
	const struct hx dev[] = {
		{ 3, 0, 0, 1, 11, COWVM_COM1_PORT, 0, 0x0a6f6c6c6568 }, /* rep outsb "hello\n..." */
		{ 3, 0, 0, 0, 0, COWVM_COM1_PORT + 5, 0, 0 },           /* LSR */
		{ 3, 0, 2, 0, 3, COWVM_HC_PORT, 0, 0 },                 /* IN from the hypercall port */
		{ 3, 0, 2, 1, 0, COWVM_HC_PORT, 0, 0x140 },             /* OUT = a hypercall */
		{ 3, 0, 1, 1, 0, COWVM_HC_PORT + 1, 0, 0x140 },         /* other port in the range */
		{ 3, 1, 0, 0, 100, 0x60, 0, 0 },                        /* unknown port */
		{ 1, 0, 7, 0, 0, 0, 0x2000000, 0 },                     /* MMIO read, no device */
		{ 1, 0, 3, 1, 0, 0, COWVM_GPA_DOORBELL, 0x100 },        /* doorbell via raw MMIO */
		{ 1, 0, 1, 1, 0, 0, COWVM_GPA_DOORBELL, 0x100 },        /* doorbell, wrong width */
	};
	hc_seed("devices", 0x10, dev, sizeof(dev) / sizeof(dev[0]), ram, sizeof(ram));
}

/* ---- Linux bzImage headers ---------------------------------------------- */

/* fuzz_linux_kernel's input: u16 memory selector (2 MiB units - 1), u32
 * command-line length, u64 initrd size, then the image. */
static void bz_seed(const char *name, const struct bz *b, uint16_t mem_2m, uint32_t cmdline_len, uint64_t initrd)
{
	size_t n;
	uint8_t *img = bz_build(b, &n);
	uint8_t pre[14];
	uint16_t sel = (uint16_t)(mem_2m - 1);
	memcpy(pre, &sel, 2);
	memcpy(pre + 2, &cmdline_len, 4);
	memcpy(pre + 6, &initrd, 8);
	put("linux_kernel", name, pre, sizeof(pre), img, n);
	free(img);
}

static void linux_kernel_seeds(void)
{
	struct bz b;
	bz_default(&b); /* 2.15, relocatable, pref 16 MiB, init_size 8 MiB */
	bz_seed("default-64m", &b, 32, 40, 300000);
	bz_seed("relocate-16m", &b, 8, 0, 4096);
	bz_seed("initrd-too-big", &b, 32, 10, 41 * MiB);
	bz_seed("max-mem", &b, 1536, 2047, 512 * 1024);
	b.h.relocatable_kernel = 0;
	bz_seed("not-relocatable", &b, 32, 1, 0);
	bz_default(&b);
	b.h.version = 0x020c; /* 2.12: header ends after handover_offset */
	b.h.jump = (uint16_t)(0xeb | (0x268 - 0x202) << 8);
	b.h.cmdline_size = 255;
	b.h.initrd_addr_max = 0x1ffffff;
	bz_seed("proto-2.12", &b, 64, 255, 64 * 1024);
	bz_default(&b);
	b.h.version = 0x020d;
	b.h.jump = (uint16_t)(0xeb | (0x268 - 0x202) << 8);
	b.h.setup_sects = 0; /* means 4 */
	b.h.pref_address = 0;
	bz_seed("proto-2.13-sects0", &b, 16, 3, 0);
	/* the field values of Debian's 6.1 kernel (setup 39 sectors, 2.15,
	 * xloadflags 0x7f, init_size 0x3f98000), with a small synthetic kernel */
	bz_default(&b);
	b.h.setup_sects = 39;
	b.h.xloadflags = 0x7f;
	b.h.cmdline_size = 0x7ff;
	b.h.init_size = 0x3f98000;
	b.kernel_len = 4096 + 1472;
	b.h.syssize = 4096 / 16;
	bz_seed("debian-6.1-like", &b, 128, 100, 1000);
	/* rejected ones: 32-bit only, too old, truncated syssize */
	bz_default(&b);
	b.h.xloadflags = 0;
	bz_seed("32bit", &b, 32, 0, 0);
	bz_default(&b);
	b.h.version = 0x020a;
	bz_seed("proto-2.10", &b, 32, 0, 0);
	bz_default(&b);
	b.h.syssize += 1;
	bz_seed("syssize-beyond", &b, 32, 0, 0);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: fuzz-make-seeds OUTDIR [GUEST.elf...]\n");
		return 2;
	}
	out = argv[1];
	mkdir(out, 0755);
	snapshot_seeds();
	pc_snapshot_seeds();
	fdt_seed("hello", "hello", 1);
	fdt_seed("memtouch", "memtouch:mode=rand,op=write,mib=4,iters=2,seed=7", 4);
	fdt_seed("fault", "fault:kind=pf,addr=0x1000", 2);
	fdt_seed("snaptest", "snaptest:mib=1,layers=1,touch=4", 16);
	hypercall_seeds();
	linux_kernel_seeds();
	for (int i = 2; i < argc; i++) {
		size_t n;
		uint8_t *b = slurp(argv[i], &n);
		const char *base = strrchr(argv[i], '/');
		put("elf_loader", base ? base + 1 : argv[i], b, n, NULL, 0);
		free(b);
	}
	return 0;
}
