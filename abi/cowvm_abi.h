/*
 * cowvm_abi.h - the one ABI shared by the VMM (vmm/) and the guest-stub.
 *
 * Guest-physical memory layout (identity-mapped by the VMM-built page tables),
 * the hypercall interface, boot-info (FDT) keys and exit codes. Addresses in
 * this header are guest-physical (== guest-virtual); the VMM never trusts a
 * guest-supplied address without its checked gpa helper.
 *
 * Freestanding: only fixed-width integer types, usable from both sides.
 */
#ifndef COWVM_ABI_H
#define COWVM_ABI_H

#include <stdint.h>

/* ---- guest-physical layout ------------------------------------------------ */
#define COWVM_GPA_NULL_GUARD   0x000000ull /* page 0: never mapped */
#define COWVM_GPA_GDT          0x001000ull /* GDT, built by the VMM (1 page) */
#define COWVM_GPA_TSS          0x002000ull /* one 128-byte TSS slot per vCPU */
#define COWVM_GPA_BOOTINFO     0x003000ull /* FDT blob */
#define COWVM_BOOTINFO_MAX     0x004000ull /* 16 KiB */
#define COWVM_GPA_PGTABLES     0x010000ull /* guest page tables (VMM bump area) */
#define COWVM_PGTABLES_END     0x080000ull
#define COWVM_GPA_KSTACKS      0x080000ull /* ring-0 stacks, one per vCPU */
#define COWVM_KSTACK_SIZE      0x004000ull
#define COWVM_MAX_VCPUS        16
#define COWVM_TSS_SLOT         128
#define COWVM_GPA_IMAGE_MIN    0x100000ull /* guest ELF segments load at/above */

/* GDT selectors (index << 3 | RPL). Order keeps SYSRET's layout possible:
 * user data directly below user code. TSS descriptors (16 bytes each)
 * follow, one per vCPU. */
#define COWVM_SEL_KCODE  0x08
#define COWVM_SEL_KDATA  0x10
#define COWVM_SEL_UDATA  (0x18 | 3)
#define COWVM_SEL_UCODE  (0x20 | 3)
#define COWVM_SEL_TSS(cpu) (0x28 + 16 * (cpu))

/* ---- hypercalls -------------------------------------------------------------
 * The guest passes the guest-physical address of a struct cowvm_hcall (8-byte
 * aligned, below 4 GiB) in one of two ways, both dispatched to the same table:
 *  - ring 3: a 32-bit store to the doorbell page COWVM_GPA_DOORBELL, which
 *    has no RAM behind it (KVM_EXIT_MMIO). The VMM maps it user-writable in
 *    the guest page tables. This works on every KVM, including PVM-based
 *    hosts that force the underlying IOPL to 0 (their ring-3 OUT is a #GP
 *    whatever the guest's IOPL: see docs/architecture.md);
 *  - ring 0 (or ring 3 with IOPL 3 on hardware KVM): a 32-bit OUT to
 *    COWVM_HC_PORT (KVM_EXIT_IO).
 * The VMM reads the block, runs the handler and writes `ret` back (0 or a
 * negative errno-style code).
 */
#define COWVM_GPA_DOORBELL 0x1000000000ull /* 64 GiB: just above the largest RAM */
/* Fuzzing coverage: the AFL++ shared-memory map itself, mapped here (a
 * second memslot) when a fuzzer runs the guest. The guest page tables map
 * the whole window user-writable; the boot info says how much is backed. */
#define COWVM_GPA_COVERAGE 0x1000200000ull /* 64 GiB + 2 MiB */
#define COWVM_COVERAGE_MAX 0x100000ull     /* at most 1 MiB of map */
#define COWVM_HC_PORT     0x0500
#define COWVM_HC_PORT_END 0x050f /* the hypercall port range */
#define COWVM_COM1_PORT   0x03f8 /* 16550 data register: byte to the console */

enum cowvm_hc_nr {
	COWVM_HC_WRITE     = 1, /* a0 = gpa of bytes, a1 = length (<= 64 KiB) */
	COWVM_HC_EXIT      = 2, /* a0 = exit status (0..255) */
	COWVM_HC_EXCEPTION = 3, /* a0 = vector, a1 = error code, a2 = rip, a3 = cr2, a4 = rflags */
	COWVM_HC_REPORT    = 4, /* a0 = gpa of NUL-terminated key (<= 64), a1 = value */
	COWVM_HC_PARK      = 5, /* this vCPU is done; the VM runs on without it */
	COWVM_HC_SNAPSHOT  = 16, /* snapshot me here: ret 0 in the original (which
	                          * runs on), N >= 1 in clone number N (resumed
	                          * right after this call), -ENOSYS if the VMM
	                          * takes no snapshots */
	COWVM_HC_FUZZ      = 32, /* a0 = enum cowvm_fuzz_op */
};
enum cowvm_fuzz_op {
	COWVM_FUZZ_ABORT = 1,    /* the target aborts (assertion): SIGABRT to AFL */
};
#define COWVM_HC_WRITE_MAX 65536u
#define COWVM_HC_KEY_MAX   64u

struct cowvm_hcall {
	uint64_t nr;
	uint64_t args[5];
	int64_t ret;
};

/* ---- boot info (flattened device tree, built by the VMM with libfdt) ------ */
/* /memory: reg = <base size> (u64 pairs). /chosen properties: */
#define COWVM_FDT_WORKLOAD   "cowvm,workload"    /* string: workload name */
#define COWVM_FDT_ARGS_NODE  "workload-args"     /* node under /chosen: one string property per k=v */
#define COWVM_FDT_HEAP       "cowvm,heap"        /* <u64 base, u64 size>: free RAM for the workload */
#define COWVM_FDT_INPUT      "cowvm,input"       /* <u64 base, u64 size>: VMM -> guest buffer */
#define COWVM_FDT_OUTPUT     "cowvm,output"      /* <u64 base, u64 size>: guest -> VMM buffer */
#define COWVM_FDT_NCPUS      "cowvm,ncpus"       /* u32 */
#define COWVM_FDT_COVERAGE   "cowvm,coverage"    /* <u64 base, u64 size>: AFL map (size 0: none) */
#define COWVM_IOBUF_SIZE     0x10000ull          /* each of input and output */

/* ---- messages: one request in the input buffer, one response in the output --
 * The guest SDK (cg_request / cg_respond) and the host library
 * (cowvm_request / cowvm_response) frame a request and a response this way:
 * a magic, the byte count, the bytes. A buffer whose magic differs holds no
 * message (an all-zero input buffer: no request).
 */
#define COWVM_MSG_MAGIC    0x47534d43u           /* "CMSG" */
#define COWVM_MSG_HDR      8u                    /* magic + len */
#define COWVM_MSG_MAX      (COWVM_IOBUF_SIZE - COWVM_MSG_HDR) /* payload bytes */
struct cowvm_msg {
	uint32_t magic;          /* COWVM_MSG_MAGIC */
	uint32_t len;            /* payload bytes, <= COWVM_MSG_MAX */
	uint8_t data[];
};

/* ---- Linux guests: the agent window ------------------------------------------
 * A Linux guest's user space talks to cowvm through a fixed window of guest
 * RAM in the PC's ISA hole [0xA0000, 0xE0000): not in the e820 map (Linux
 * never allocates it) and inside the first MiB, which /dev/mem lets root map
 * on every x86 kernel (CONFIG_STRICT_DEVMEM allows it). The agent
 * (guest-agent/cowvm-agent.c) maps it from /dev/mem, builds struct
 * cowvm_hcall blocks in it and rings the doorbell: a 32-bit store of the
 * block's guest-physical address to COWVM_GPA_DOORBELL, mapped from
 * /dev/mem too (an OUT to COWVM_HC_PORT only where that page cannot be
 * mapped: a ring-3 OUT faults on PVM hosts and, after a restore, under
 * QEMU's TCG). Requests and responses in the buffers are struct cowvm_msg
 * (the response) and a NUL-terminated shell command (the request).
 * The VMM fills the info page at boot and again in every clone and after
 * every reset, before the guest runs (the clone fields differ per clone).
 */
#define COWVM_AGENT_GPA        0x0a0000ull /* struct cowvm_agent_info (4 KiB) */
#define COWVM_AGENT_HCALL_GPA  0x0a1000ull /* the agent's hypercall blocks (4 KiB) */
#define COWVM_AGENT_IN_GPA     0x0a2000ull /* input buffer: request, COWVM_IOBUF_SIZE */
#define COWVM_AGENT_OUT_GPA    0x0b2000ull /* output buffer: response, COWVM_IOBUF_SIZE */
#define COWVM_AGENT_END        0x0c2000ull
#define COWVM_AGENT_MAGIC      0x544741564d574f43ull /* "COWVMAGT" */
#define COWVM_AGENT_VERSION    2u /* 2: cov_gpa/cov_size (kernel fuzzing) */
#define COWVM_AGENT_RANDOM     32u

struct cowvm_agent_info {
	uint64_t magic;            /* COWVM_AGENT_MAGIC */
	uint32_t version;          /* COWVM_AGENT_VERSION */
	uint32_t ncpus;
	uint64_t in_gpa, in_size;  /* the input buffer (cowvm clone --input) */
	uint64_t out_gpa, out_size;
	/* Per clone (and per reset), written before the guest runs again: */
	uint64_t clone_id;         /* 0 in the original, N in clone N */
	uint64_t generation;       /* +1 at every clone start and reset: the
	                            * agent polls it to see it was cloned */
	int64_t host_realtime_ns;  /* the host's CLOCK_REALTIME then */
	uint8_t random[COWVM_AGENT_RANDOM]; /* fresh host randomness (getrandom) */
	/* Fuzzing (cowvm fuzz-target --kernel): the AFL++ coverage map, a
	 * memslot at COWVM_GPA_COVERAGE outside the e820 RAM (the agent maps
	 * it from /dev/mem); cov_size 0: no map, not fuzzing. The input
	 * buffer then holds one struct cowvm_fuzz_input per run. */
	uint64_t cov_gpa, cov_size;
};

/* ---- exit codes of `cowvm run` --------------------------------------------- */
#define COWVM_EXIT_OK          0   /* guest exit status is passed through (0..255) */
#define COWVM_EXIT_USAGE       2   /* bad arguments, bad guest image, no /dev/kvm */
/* Distinct codes for VM-level ends (guest statuses above 200 are clamped). */
#define COWVM_EXIT_EXCEPTION   201 /* guest took an exception (one-line report) */
#define COWVM_EXIT_TIMEOUT     202 /* --timeout expired */
#define COWVM_EXIT_SHUTDOWN    203 /* triple fault / shutdown */
#define COWVM_EXIT_VMM_ERROR   204 /* KVM or VMM failure (entry failure, emulation error) */
/* Linux guests (`cowvm run --kernel`): an ACPI power-off (S5) exits 0. */
#define COWVM_EXIT_REBOOT      205 /* guest asked for a reset (i8042 0xfe, ACPI reset register) */
#define COWVM_EXIT_HALT        206 /* every vCPU halted with interrupts off (Linux `halt`) */

/* ---- workload parameters shared with host-side checks ---------------------- */
/* memtouch: the value written to page p (index in the buffer) in iteration
 * it, and the fold of the final buffer into a checksum. The host tests model
 * the buffer independently and compare. */
static inline uint64_t cowvm_memtouch_value(uint64_t page, uint64_t iter)
{
	return (page * 0x9e3779b97f4a7c15ull) ^ (iter + 1) * 0xc2b2ae3d27d4eb4full;
}
static inline uint64_t cowvm_fold(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ull;
}
/* xorshift64 for random page order (seeded by the `seed` argument). */
static inline uint64_t cowvm_xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}
#define COWVM_FOLD_INIT 0xcbf29ce484222325ull

/* Fuzzing: each input arrives at the start of the input buffer. */
struct cowvm_fuzz_input {
	uint64_t len;            /* <= input buffer size - 8 */
	uint8_t data[];
};

/* snaptest: the first qword of heap page p holds cowvm_snap_value(p, 0)
 * before the snapshot and cowvm_snap_value(p, id) after clone `id` wrote it. */
static inline uint64_t cowvm_snap_value(uint64_t page, uint64_t id)
{
	return cowvm_memtouch_value(page, id) ^ 0x5a5a5a5a00000000ull;
}

/* warm: the serverless shape. Before its snapshot the guest fills `mib` MiB
 * of heap with a table of values cowvm_warm_value(key) and an index; each
 * clone then answers one request from the input buffer with a response in
 * the output buffer. */
#define COWVM_REQ_MAGIC  0x5145526d766f63ull /* "covmREQ" */
#define COWVM_RESP_MAGIC 0x5053526d766f63ull /* "covmRSP" */
#define COWVM_REQ_MAX_KEYS 1024
struct cowvm_request {
	uint64_t magic;
	uint64_t nkeys;          /* <= COWVM_REQ_MAX_KEYS */
	uint64_t keys[];         /* looked up in the table */
};
struct cowvm_response {
	uint64_t magic;
	uint64_t clone;          /* the snapshot call's return value */
	uint64_t status;         /* 0 ok (an all-zero input buffer is no request),
	                          * 1 bad request, 2 key out of range */
	uint64_t nkeys;
	uint64_t sum;            /* fold of cowvm_warm_value(key) over the keys */
};
static inline uint64_t cowvm_warm_value(uint64_t key)
{
	return (key + 1) * 0x9e3779b97f4a7c15ull;
}

#endif
