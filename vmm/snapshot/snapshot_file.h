/*
 * snapshot_file.h - snapshots as files (docs/snapshot-format.md).
 *
 * A file holds one snapshot: a fixed header, the snap_meta (memory size,
 * vCPUs, parked mask, guest layout, hypercall address, workload request),
 * every vCPU's state written field by field, for a PC (Linux) guest its
 * machine state (pc_state.h: KVM's PICs, IOAPIC and PIT, COM1, the power
 * block, the CMOS index), a table of page runs, then the pages listed by
 * the runs, packed. Pages not listed are zero (a root) or the parent's (a
 * layer), so a file costs what the guest wrote, not its RAM. Every file,
 * layers too, carries its own vCPU and machine state.
 *
 * A root file stores every non-zero page of the snapshot. A layer file
 * stores only the pages its snapshot captured and names its parent by
 * absolute path and ID (the parent file's metadata checksum, which covers
 * the parent's page-data checksum and, through the parent's own parent
 * reference, the whole chain). Saving a layer needs its parent to have been
 * saved to or loaded from a file first (struct snap_file_ref in snapshot.h).
 *
 * Loading validates everything before building anything: header, metadata
 * checksum, every value, page-data checksum, then the parent chain (at most
 * SNAPFILE_MAX_DEPTH layers above a root), and only then creates the
 * snapshots. Each defect has its own message; nothing is half-loaded.
 *
 * x86_64 only (the vCPU state is KVM's x86 structures), little-endian.
 */
#ifndef COWVM_SNAPSHOT_FILE_H
#define COWVM_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "snapshot.h"

/* Write s to `path` atomically (a temporary file beside it, fsync, rename,
 * fsync of the directory). A layer's parent must have been saved or loaded
 * before, and that file must still hold it. On success s remembers the
 * file, so its own layers can be saved next. */
int snapshot_save(const struct snapshot *s, const char *path, struct vmm_err *e);

/* Load the snapshot in `path` (a layer loads its parent chain first).
 * A defect of the file or its chain is bad input and gets one of -EINVAL
 * (not a regular file, truncated, a bad value), -EBADMSG (a checksum),
 * -ENOTSUP (the version), -ESTALE (a replaced parent), -ELOOP (too deep)
 * or open()'s errno (-ENOENT, -EACCES...); a failure of the host is
 * -ENOMEM, -EMFILE, -EIO (a read error, not a short file), ... The CLI
 * chooses its exit code from that (cli_exit_for). */
int snapshot_load(const char *path, struct snapshot **out, struct vmm_err *e);

/* ---- the on-disk format (exposed for tests and tools) ------------------ */

#define SNAPFILE_MAGIC "COWVMSNP" /* 8 bytes, no NUL */
/* 2: the VM clock (header.clock); 3: the vCPUs' LAPIC and TSC frequency,
 * the PC state section. Other versions are refused. */
#define SNAPFILE_VERSION 3
#define SNAPFILE_KIND_ROOT 0
#define SNAPFILE_KIND_LAYER 1
#define SNAPFILE_PAGE 4096u
#define SNAPFILE_MAX_DEPTH 64       /* layers above a root */
#define SNAPFILE_PATH_MAX 4095      /* parent path bytes (no NUL) */

/* Parts of a vCPU record, in file order (sizes are in the header: the
 * first SNAPFILE_VCPU_NPARTS1 in vcpu_part[], the rest in vcpu_part2[];
 * snapfile_vcpu_part() finds either). */
enum snapfile_vcpu_part {
	SNAPFILE_VCPU_REGS, SNAPFILE_VCPU_SREGS, SNAPFILE_VCPU_XSAVE, SNAPFILE_VCPU_XCRS,
	SNAPFILE_VCPU_EVENTS, SNAPFILE_VCPU_DEBUGREGS, SNAPFILE_VCPU_MP_STATE,
	SNAPFILE_VCPU_MSR_ENTRY, SNAPFILE_VCPU_MAX_MSRS,
	SNAPFILE_VCPU_HAS_LAPIC,   /* version 3: u32 has_lapic */
	SNAPFILE_VCPU_TSC_KHZ,     /* version 3: u32 tsc_khz */
	SNAPFILE_VCPU_LAPIC,       /* version 3: struct kvm_lapic_state */
	SNAPFILE_VCPU_NPARTS,
	SNAPFILE_VCPU_NPARTS1 = SNAPFILE_VCPU_HAS_LAPIC /* parts in vcpu_part[] */
};

/* Parts of the PC state section's layout table (u32 sizes, at the start of
 * the section), in this order. */
enum snapfile_pc_part {
	SNAPFILE_PC_IRQCHIP,       /* struct kvm_irqchip (one per PIC and the IOAPIC) */
	SNAPFILE_PC_PIC,           /* struct kvm_pic_state (in the irqchip's union) */
	SNAPFILE_PC_IOAPIC,        /* struct kvm_ioapic_state (in the irqchip's union) */
	SNAPFILE_PC_PIT,           /* struct kvm_pit_state2 */
	SNAPFILE_PC_UART_RX,       /* bytes of COM1's receive buffer (UART_RX_RING) */
	SNAPFILE_PC_NPARTS
};

/* File header at offset 0: 256 bytes, little-endian, no implicit padding. */
struct snapfile_header {
	char magic[8];               /*   0 SNAPFILE_MAGIC */
	uint32_t version;            /*   8 SNAPFILE_VERSION */
	uint32_t header_size;        /*  12 sizeof(struct snapfile_header) */
	uint64_t file_size;          /*  16 bytes in the file */
	uint64_t meta_sum;           /*  24 XXH64 of [0, data_offset), this field as 0: the file's ID */
	uint64_t data_sum;           /*  32 XXH64 of [data_offset, file_size) */
	uint32_t kind;               /*  40 SNAPFILE_KIND_* */
	uint32_t flags;              /*  44 0 */
	uint64_t mem_size;           /*  48 multiple of 2 MiB, VM_MEM_MIN..VM_MEM_MAX */
	uint32_t nvcpus;             /*  56 1..COWVM_MAX_VCPUS */
	uint32_t parked_mask;        /*  60 bits below nvcpus only */
	uint64_t hc_gpa;             /*  64 0, or an 8-aligned cowvm_hcall inside RAM */
	uint64_t layout[6];          /*  72 heap base,size; in base,size; out base,size */
	uint32_t page_size;          /* 120 SNAPFILE_PAGE */
	uint32_t vcpu_record_size;   /* 124 bytes per vCPU record */
	uint32_t vcpu_part[SNAPFILE_VCPU_NPARTS1]; /* 128 enum snapfile_vcpu_part, first 9 */
	uint32_t workload_size;      /* 164 bytes of the workload section */
	uint64_t nruns;              /* 168 page runs */
	uint64_t npages;             /* 176 pages stored (sum of run lengths) */
	uint64_t data_offset;        /* 184 page data, multiple of SNAPFILE_PAGE */
	uint64_t parent_id;          /* 192 layer: the parent file's meta_sum */
	uint64_t parent_size;        /* 200 layer: the parent file's file_size */
	uint32_t parent_path_len;    /* 208 layer: bytes of the parent path */
	uint32_t reserved0;          /* 212 0 */
	uint64_t clock;              /* 216 VM clock, ns (KVM_GET_CLOCK) */
	uint32_t vcpu_part2[SNAPFILE_VCPU_NPARTS - SNAPFILE_VCPU_NPARTS1]; /* 224 the other 3 */
	uint32_t pc_size;            /* 236 bytes of the PC state section; 0: none (guest stub) */
	uint64_t pc_offset;          /* 240 where it starts; 0 without one */
	uint64_t reserved;           /* 248 0 */
};

/* The size of vCPU record part `part` (enum snapfile_vcpu_part) in h. */
static inline uint32_t *snapfile_vcpu_part(struct snapfile_header *h, int part)
{
	return part < SNAPFILE_VCPU_NPARTS1 ? &h->vcpu_part[part]
	                                    : &h->vcpu_part2[part - SNAPFILE_VCPU_NPARTS1];
}

/* One run of stored pages: guest frames [first, first + count). */
struct snapfile_run {
	uint64_t first, count;
};

/* XXH64 (the xxHash 64-bit hash, seed as given), one shot and streaming. */
struct snapfile_xxh64 {
	uint64_t v[4], total, seed;
	uint8_t buf[32];
	unsigned nbuf;
};
void snapfile_xxh64_init(struct snapfile_xxh64 *h, uint64_t seed);
void snapfile_xxh64_update(struct snapfile_xxh64 *h, const void *p, size_t n);
uint64_t snapfile_xxh64_final(const struct snapfile_xxh64 *h);
uint64_t snapfile_xxh64(const void *p, size_t n, uint64_t seed);

#endif
