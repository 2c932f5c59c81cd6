/*
 * linux_boot.h - the Linux x86 boot protocol for `cowvm run --kernel
 * bzImage [--initrd] [--cmdline]`, 64-bit entry (Documentation/arch/x86/
 * boot.rst, "64-bit BOOT PROTOCOL"; zero-page.rst). Pure code, no KVM:
 * parse a bzImage, plan where kernel, initrd, command line and zero page go
 * in a cowvm PC (pc_layout.h), build the zero page and e820 map, and copy
 * it all into guest RAM. The VM set-up (registers, page tables, GDT) is the
 * caller's: RIP = entry64, RSI = zero_page_gpa, CS/DS per boot.rst.
 */
#ifndef COWVM_LINUX_BOOT_H
#define COWVM_LINUX_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>

#include "err.h"
#include "guest_mem.h"

/* ---- bzImage layout (boot.rst "The Real-Mode Kernel Header") ------------- */
#define LB_SECTOR            512u        /* "a sector" is 512 bytes, whatever the medium */
#define LB_OFF_SETUP_HEADER  0x1f1u      /* struct setup_header in the image and the zero page */
#define LB_OFF_BOOT_FLAG     0x1feu      /* boot_flag: 0xAA55 */
#define LB_BOOT_FLAG         0xaa55u
#define LB_OFF_JUMP          0x200u      /* jump: 0xEB, signed offset relative to 0x202 */
#define LB_JUMP_OPCODE       0xebu
#define LB_OFF_JUMP_REL      0x202u      /* the jump's offset counts from here; so does the header end */
#define LB_OFF_HEADER_MAGIC  0x202u      /* header: "HdrS" */
#define LB_HEADER_MAGIC      0x53726448u /* "HdrS" little-endian */
#define LB_OFF_VERSION       0x206u      /* version: (major << 8) | minor */
#define LB_SETUP_SECTS_DEFAULT 4u        /* setup_sects 0 means 4 */
#define LB_PROTO(maj, min)   ((uint16_t)((maj) << 8 | (min)))
#define LB_PROTO_MIN         LB_PROTO(2, 12) /* xloadflags (XLF_KERNEL_64) exists from 2.12 */
#define LB_ENTRY64_OFFSET    0x200u      /* 64-bit entry: load address + 0x200 */
#define LB_BZIMAGE_LOAD_ADDR 0x100000u   /* bzImage default load address (pref_address 0) */
#define LB_LOADER_UNDEFINED  0xffu       /* type_of_loader: "0xFF = undefined" */
#define LB_VID_MODE_NORMAL   0xffffu     /* vid_mode for vga=normal */
#define LB_HEAP_END          0xe000u     /* boot.rst sample configuration, protocol >= 2.02 */
#define LB_HEAP_END_PTR      (LB_HEAP_END - 0x200u) /* heap_end_ptr counts from 0x200 */

/* ---- e820 address range types (ACPI 6.5 §15, System Address Map
 * Interfaces, "Address Range Types"; Linux's E820_TYPE_*) --------------- */
#define LB_E820_RAM          1u  /* AddressRangeMemory */
#define LB_E820_RESERVED     2u  /* AddressRangeReserved */
#define LB_E820_ACPI         3u  /* AddressRangeACPI: ACPI tables, reclaimable after reading */
#define LB_E820_NVS          4u  /* AddressRangeNVS: saved across sleep (not used here) */
#define LB_E820_ENTRIES      5u  /* what linux_e820() emits at most */

struct linux_kernel {              /* a parsed bzImage; points into the caller's bytes */
	const uint8_t *image;
	size_t image_len;
	uint16_t protocol;             /* setup header version */
	struct setup_header hdr;       /* the image's setup header (bytes beyond its own length zeroed) */
	size_t hdr_len;                /* bytes of setup header in the image, from 0x1f1: 0x202 + (int8_t)image[0x201] - 0x1f1 */
	const uint8_t *kernel;         /* the protected-mode kernel: after (setup_sects ?: 4) + 1 sectors, */
	size_t kernel_len;             /* to the end of the file */
	uint64_t pref_address;         /* header pref_address, or 0x100000 if 0 */
	uint64_t kernel_alignment;     /* a power of two */
	uint64_t init_size;            /* >= kernel_len, <= PC_MEM_MAX - PC_GPA_HIGH_RAM */
	uint64_t initrd_addr_max;      /* last byte address the initrd may use */
	size_t cmdline_max;            /* max command-line bytes including the NUL: min(hdr cmdline_size + 1, PC_CMDLINE_MAX) */
	int relocatable;               /* relocatable_kernel != 0 */
};

/* Validate img[0..len) as a 64-bit bzImage with boot protocol 2.12+ and
 * fill k (which points into img). -EINVAL with a message naming the defect. */
int linux_kernel_parse(const void *img, size_t len, struct linux_kernel *k, struct vmm_err *e);

struct linux_boot_plan {
	uint64_t mem_size;
	uint64_t kernel_gpa, kernel_end;  /* kernel_end = kernel_gpa + init_size: [kernel_gpa, kernel_end) must be RAM */
	uint64_t entry64;                 /* kernel_gpa + 0x200 (64-bit entry, boot.rst "64-bit BOOT PROTOCOL") */
	uint64_t initrd_gpa, initrd_size; /* 0, 0 = none */
	uint64_t cmdline_gpa, cmdline_size; /* size includes the NUL */
	uint64_t zero_page_gpa;           /* PC_GPA_ZERO_PAGE */
};

/* Where everything goes in a guest of mem_size bytes (a multiple of 2 MiB,
 * at most PC_MEM_MAX). The kernel at its pref_address if that fits above
 * 1 MiB, else (relocatable kernels) at the lowest kernel_alignment-aligned
 * address >= 1 MiB that fits; the initrd page-aligned as high as possible
 * below min(initrd_addr_max + 1, mem_size) and above the kernel's
 * init_size; the command line (cmdline_len bytes + NUL) at PC_GPA_CMDLINE.
 * -EINVAL with a message if something does not fit. */
int linux_boot_plan(const struct linux_kernel *k, uint64_t mem_size, size_t cmdline_len,
                    uint64_t initrd_size, struct linux_boot_plan *p, struct vmm_err *e);

/* The e820 map of a cowvm PC with mem_size bytes of RAM, ascending:
 *   [0, PC_GPA_EBDA)                   RAM
 *   [PC_GPA_EBDA, PC_GPA_ISA_HOLE)     reserved (EBDA)
 *   [PC_GPA_ACPI, PC_GPA_BIOS_END)     ACPI (type 3, see linux_boot.c for why)
 *   [PC_GPA_HIGH_RAM, mem_size)        RAM (if mem_size > 1 MiB)
 * RAM entries are clipped to mem_size. Writes at most max entries and
 * returns how many it wrote (<= max, <= LB_E820_ENTRIES). */
unsigned linux_e820(uint64_t mem_size, struct boot_e820_entry *map, unsigned max);

/* The zero page: zeroed, the image's setup header copied (hdr_len bytes),
 * then the loader's fields set, each only where the header's version
 * defines it: type_of_loader 0xff, loadflags |= CAN_USE_HEAP, heap_end_ptr,
 * vid_mode 0xffff, code32_start, ramdisk_image/size (+ ext_), cmd_line_ptr
 * (+ ext_), setup_data 0, hardware_subarch PC, e820_entries + e820_table,
 * acpi_rsdp_addr = PC_GPA_ACPI from protocol 2.14. -EINVAL if the plan
 * does not suit the kernel (an address the kernel cannot take). */
int linux_zero_page(const struct linux_kernel *k, const struct linux_boot_plan *p, struct boot_params *bp,
                    struct vmm_err *e);

/* Plan (for mem->size bytes of RAM) and copy kernel, initrd, command line
 * (NULL = "") and zero page into guest RAM, through gpa_ptr() only. Nothing
 * is written unless the whole plan is valid. *out receives the plan. */
int linux_boot_load(struct guest_mem *mem, const struct linux_kernel *k, const char *cmdline,
                    const void *initrd, size_t initrd_len, struct linux_boot_plan *out, struct vmm_err *e);

#endif
