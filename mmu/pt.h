/*
 * pt.h - the x86_64 4-level page-table engine, written once against a small
 * table-ops interface.
 *
 * The same code builds the guest's own page tables inside guest RAM (vmm/)
 * and carries the guest-physical table (GPT, mmu/gpt.*), and the unit tests
 * run it on a mock allocator. It knows nothing of KVM.
 *
 * Bit names and layouts follow the Intel SDM, Vol. 3A, section 4.5
 * ("4-Level Paging and 5-Level Paging"), tables 4-14 to 4-20.
 */
#ifndef COWVM_MMU_PT_H
#define COWVM_MMU_PT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t pte_t;

/* --- entry bits (SDM Vol. 3A, 4.5, tables 4-15 .. 4-20) ------------------ */
#define PTE_P    (1ull << 0)  /* Present */
#define PTE_RW   (1ull << 1)  /* Read/write: 0 = writes not allowed */
#define PTE_US   (1ull << 2)  /* User/supervisor: 1 = user-mode access allowed */
#define PTE_PWT  (1ull << 3)  /* Page-level write-through */
#define PTE_PCD  (1ull << 4)  /* Page-level cache disable */
#define PTE_A    (1ull << 5)  /* Accessed */
#define PTE_D    (1ull << 6)  /* Dirty (leaf entries only) */
#define PTE_PS   (1ull << 7)  /* Page size: PDPTE -> 1 GiB page, PDE -> 2 MiB page */
#define PTE_G    (1ull << 8)  /* Global (leaf entries only) */
#define PTE_NX   (1ull << 63) /* Execute-disable (needs IA32_EFER.NXE) */

/*
 * Software-available bits. The SDM (4.5, tables 4-15..4-20) marks bits 11:9
 * and 58:52 as "ignored" by the processor in every paging-structure entry.
 * They are reserved for the copy-on-write work: the GPT gives them meaning
 * (see gpt.h); guest page tables built by the VMM leave them zero.
 */
#define PTE_SW0  (1ull << 9)
#define PTE_SW1  (1ull << 10)
#define PTE_SW2  (1ull << 11)
#define PTE_SW_HI_SHIFT 52     /* bits 58:52, 7 bits */
#define PTE_SW_HI_MASK  (0x7full << PTE_SW_HI_SHIFT)

/* Physical-address field: bits 51:12 (MAXPHYADDR <= 52). */
#define PTE_ADDR_MASK     0x000ffffffffff000ull
/* In a 2 MiB / 1 GiB leaf, bit 12 is PAT; the address starts at bit 21 / 30. */
#define PTE_ADDR_MASK_2M  0x000fffffffe00000ull
#define PTE_ADDR_MASK_1G  0x000fffffc0000000ull

/* Flags allowed in pt_map()'s flags argument. */
#define PTE_FLAGS_MASK (PTE_P | PTE_RW | PTE_US | PTE_PWT | PTE_PCD | PTE_A | \
                        PTE_D | PTE_G | PTE_SW0 | PTE_SW1 | PTE_SW2 |          \
                        PTE_SW_HI_MASK | PTE_NX)

/* Flags of a non-leaf entry created by the engine: permissive, so the leaf
 * decides (the effective right is the AND of RW/US and the OR of NX over all
 * levels, SDM 4.6). */
#define PTE_TABLE_FLAGS (PTE_P | PTE_RW | PTE_US)

/* --- geometry --------------------------------------------------------------- */
#define PT_ENTRIES    512
#define PT_TABLE_SIZE 4096
/* Level 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT (the "leaf table"). */
#define PT_LEVELS     4
#define PAGE_SIZE_4K  (1ull << 12)
#define PAGE_SIZE_2M  (1ull << 21)
#define PAGE_SIZE_1G  (1ull << 30)

static inline unsigned pt_level_shift(int level) { return 12u + 9u * (unsigned)(level - 1); }
static inline uint64_t pt_level_size(int level) { return 1ull << pt_level_shift(level); }
static inline unsigned pt_index(uint64_t addr, int level)
{
	return (unsigned)(addr >> pt_level_shift(level)) & (PT_ENTRIES - 1);
}
/* End of the level-`level` region containing addr, clamped to end (like
 * Linux pXd_addr_end; the "- 1" comparison survives end == 0 wrap-around). */
static inline uint64_t pt_level_end(uint64_t addr, uint64_t end, int level)
{
	uint64_t boundary = (addr + pt_level_size(level)) & ~(pt_level_size(level) - 1);
	return (boundary - 1 < end - 1) ? boundary : end;
}
/* 48-bit canonical address (bits 63:47 all equal). */
static inline bool pt_canonical(uint64_t va)
{
	uint64_t top = va >> 47;
	return top == 0 || top == 0x1ffff;
}

/* Entry accessors. Entries may be read by other threads (GPT faults), so
 * every access is a single atomic 64-bit load/store; ordering is the
 * caller's business and is documented where it matters (gpt.c). */
static inline pte_t pte_load(const pte_t *slot) { return __atomic_load_n(slot, __ATOMIC_ACQUIRE); }
static inline void pte_store(pte_t *slot, pte_t v) { __atomic_store_n(slot, v, __ATOMIC_RELEASE); }
static inline bool pte_present(pte_t e) { return e & PTE_P; }
static inline bool pte_is_leaf(pte_t e, int level)
{
	return level == 1 || (level <= 3 && (e & PTE_PS));
}
static inline uint64_t pte_addr(pte_t e, int level)
{
	if (level == 1 || !(e & PTE_PS))
		return e & PTE_ADDR_MASK;
	return e & (level == 2 ? PTE_ADDR_MASK_2M : PTE_ADDR_MASK_1G);
}

/* --- table operations --------------------------------------------------------
 * A table lives at a "table address" in the table's own address space (a
 * guest-physical address for guest page tables, a handle for the GPT, a mock
 * index in tests). */
struct pt_ops {
	/* Allocate one zeroed 4 KiB table; store its address. 0 or -errno. */
	int (*alloc_table)(void *ctx, uint64_t *table_addr);
	/* Free a table obtained from alloc_table (may be NULL: never freed). */
	void (*free_table)(void *ctx, uint64_t table_addr);
	/* Table address -> pointer to its 512 entries, NULL if the address is
	 * not a valid table (a corrupt entry must not become a wild pointer). */
	pte_t *(*table_ptr)(void *ctx, uint64_t table_addr);
};

struct pt {
	const struct pt_ops *ops;
	void *ctx;
	uint64_t root; /* PML4 table address (what CR3 holds) */
};

/* Result of a walk: the entry seen at each level, top down. */
struct pt_walk {
	pte_t entry[PT_LEVELS + 1]; /* entry[level], level 4..1; 0 if not reached */
	int leaf_level;             /* level of the leaf found, 0 if none */
	uint64_t pa;                /* translated address (valid when leaf_level) */
	pte_t eff;                  /* effective rights: P, RW, US (AND), NX (OR) */
};

int pt_init(struct pt *pt, const struct pt_ops *ops, void *ctx);
/* Free every table reachable from the root, the root too. */
void pt_destroy(struct pt *pt);

/*
 * Map [va, va+size) to [pa, pa+size) with pages of page_size (4K, 2M or 1G)
 * and leaf flags (PTE_P is implied). Errors: -EINVAL for misalignment, a
 * non-canonical range, an unknown page size or flags outside
 * PTE_FLAGS_MASK; -EEXIST if any page of the range is already mapped (checked
 * before anything changes); -ENOMEM if a table allocation fails (pages
 * mapped by this call are unmapped again).
 */
int pt_map(struct pt *pt, uint64_t va, uint64_t pa, uint64_t size,
           uint64_t page_size, pte_t flags);
/* Unmap [va, va+size). Every leaf inside must lie wholly inside the range
 * (-EINVAL otherwise: split it first). Unmapped holes are fine. Tables are
 * kept (freed by pt_destroy). */
int pt_unmap(struct pt *pt, uint64_t va, uint64_t size);
/* Split the 2 MiB or 1 GiB leaf covering va into a table of 512 smaller
 * leaves with the same rights (PAT bit moved per SDM). -ENOENT if va is not
 * covered by a large leaf, -ENOMEM on allocation failure (nothing changed). */
int pt_split(struct pt *pt, uint64_t va);
/* Walk va; fills w. Returns 0 if mapped, -EFAULT if not present at some
 * level (w->entry shows where), -EIO if a table address is invalid. */
int pt_walk(const struct pt *pt, uint64_t va, struct pt_walk *w);
/* Translate va -> pa with the effective rights (see struct pt_walk). */
int pt_translate(const struct pt *pt, uint64_t va, uint64_t *pa, pte_t *eff);

/* Pointer to the table at table_addr via the ops (NULL if invalid). */
static inline pte_t *pt_table(const struct pt *pt, uint64_t table_addr)
{
	return pt->ops->table_ptr(pt->ctx, table_addr);
}

#endif
