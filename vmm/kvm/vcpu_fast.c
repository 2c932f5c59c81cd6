/* vcpu_fast.c - the fast vCPU reset and its proof (see vcpu_fast.h). */
#include "vcpu_fast.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "kvm_ioctl.h"
#include "pt.h"

/* Intel SDM Vol. 3A 2.2.1 (IA32_EFER), 2.5 (CR0, CR4). */
#define X86_EFER_SCE (1ull << 0)   /* SYSCALL/SYSRET enable */
#define X86_EFER_LMA (1ull << 10)  /* IA-32e mode active */
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define X86_CR4_LA57 (1ull << 12)  /* 5-level paging: not handled here */
#define X86_CPL_MASK 3u            /* CS.RPL = CPL in 64-bit mode */

/* The 64-bit TSS, SDM Vol. 3A 8.7, figure 8-11: RSP0..RSP2 at 4, 12, 20;
 * IST1..IST7 at 36 + 8 * (n - 1); 104 bytes. */
#define TSS64_RSP0 4
#define TSS64_IST1 36
#define TSS64_SIZE 104
#define TSS64_TYPE_AVAIL 9         /* system-segment types, SDM Vol. 3A 3.5 */
#define TSS64_TYPE_BUSY 11

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define SYSENTER_CS_SELECTOR 0xfffc /* bits 15:2 */
#define MSR_IA32_DEBUGCTL 0x1d9
#define DEBUGCTL_LBR (1ull << 0)    /* SDM Vol. 3B 18.4.1 */
#define MSR_LBR_FIRST 0x1db         /* LASTBRANCHFROMIP .. LASTINTTOIP */
#define MSR_LBR_LAST 0x1de

#define PAGE 4096ull

/* MSRs whose value only a WRMSR (CPL 0) or the VMM changes, once the
 * conditions of vcpu_fast.h hold (no in-kernel LAPIC, no injected #MC or
 * SMI, IA32_DEBUGCTL.LBR clear). SDM Vol. 4 table 2-2, AMD APM Vol. 2
 * appendix A, Linux Documentation/virt/kvm/x86/msr.rst. */
static const uint32_t wrmsr_only[] = {
	0x174, 0x175, 0x176,                            /* IA32_SYSENTER_CS/ESP/EIP */
	0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, /* STAR, LSTAR, CSTAR, FMASK */
	0xc0000102,                                     /* KERNEL_GS_BASE (SWAPGS is CPL 0) */
	0xc0000103,                                     /* TSC_AUX (RDTSCP, RDPID only read it) */
	0x277,                                          /* IA32_PAT */
	0xc0010117,                                     /* VM_HSAVE_PA (AMD) */
	MSR_IA32_DEBUGCTL,                              /* IA32_DEBUGCTL */
	0x1db, 0x1dc, 0x1dd, 0x1de,                     /* last-branch records: with LBR clear */
	0x11, 0x12,                                     /* MSR_KVM_WALL_CLOCK, MSR_KVM_SYSTEM_TIME */
	0x4b564d00, 0x4b564d01, 0x4b564d02, 0x4b564d03, /* KVM paravirtual MSRs: KVM writes */
	0x4b564d04, 0x4b564d05, 0x4b564d06, 0x4b564d07, /* guest memory, not the MSRs */
	0x3b,                                           /* IA32_TSC_ADJUST (moves with a guest TSC write) */
	0x6e0,                                          /* IA32_TSC_DEADLINE (LAPIC timer: PC guests only) */
	0x10a, 0x345, 0xce, 0x8b,                       /* ARCH_/PERF_CAPABILITIES, PLATFORM_INFO, BIOS_SIGN_ID */
	0x1a0, 0x140, 0x1fc,                            /* MISC_ENABLE, MISC_FEATURES_ENABLES, POWER_CTL */
	0xc001011f, 0xc0010015,                         /* DE_CFG, HWCR (AMD) */
	0x17a, 0x17b,                                   /* MCG_STATUS, MCG_CTL (#MC: only the VMM injects one) */
	0x34,                                           /* SMI_COUNT (SMIs: only the VMM or a LAPIC) */
	0x48, 0xda0, 0xe1,                              /* SPEC_CTRL, IA32_XSS, UMWAIT_CONTROL */
};

static bool is_wrmsr_only(uint32_t index)
{
	for (size_t i = 0; i < sizeof(wrmsr_only) / sizeof(wrmsr_only[0]); i++)
		if (wrmsr_only[i] == index)
			return true;
	return false;
}

#define MSR_KVM_SYSTEM_TIME 0x12           /* msr.rst: enable bit 0, 32-byte area */
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define MSR_KVM_ASYNC_PF_EN 0x4b564d02     /* enable bit 0, 64-byte aligned area */
#define MSR_KVM_STEAL_TIME 0x4b564d03      /* enable bit 0, 64-byte aligned area */
#define MSR_KVM_PV_EOI_EN 0x4b564d04       /* enable bit 0, 4-byte aligned word */
#define KVM_MSR_ENABLED 1ull
#define PV_AREA_MAX 64                     /* the largest of those areas */

/* At most this many page-table pages are scanned (a 64 GiB guest mapped
 * with 4 KiB pages has ~33,000); beyond: ineligible. */
#define SCAN_MAX_TABLES 65536

#define BIT_SET(bm, i) ((bm)[(i) / 64] |= 1ull << ((i) % 64))
#define BIT_TEST(bm, i) (((bm)[(i) / 64] >> ((i) % 64)) & 1)

static bool no(struct vcpu_fast_plan *p, const char *why)
{
	if (p->eligible)
		snprintf(p->why, sizeof(p->why), "%s", why);
	p->eligible = false;
	return false;
}

struct scan {
	const struct vcpu_fast_env *env;
	struct vcpu_fast_plan *p;
	uint64_t *uw;         /* frames a user-writable mapping reaches */
	uint64_t *seen[2][4]; /* table scanned at a level, [reached user-writably] */
	uint64_t ntables;
	uint64_t words;       /* bitmap length in u64 */
};

static bool is_table(const struct vcpu_fast_plan *p, uint64_t gpa)
{
	uint64_t fn = gpa / PAGE;
	return fn < p->nframes && BIT_TEST(p->tables, fn);
}

static bool is_tss(const struct vcpu_fast_plan *p, uint64_t gpa)
{
	for (uint32_t i = 0; i < p->ntss; i++)
		if (p->tss[i] == (gpa & ~(PAGE - 1)))
			return true;
	return false;
}

/* Every entry of the table at `table` (level 4 = PML4 .. 1 = PT), with
 * the user-writable right of the path so far (U/S and R/W set at every
 * level above: SDM Vol. 3A 4.6.1). Each (table, level, right) once. */
static bool scan_table(struct scan *sc, uint64_t table, int level, bool uw)
{
	struct vcpu_fast_plan *p = sc->p;
	uint64_t fn = table / PAGE;
	if (fn >= p->nframes)
		return no(p, "a page table is not in RAM");
	if (BIT_TEST(sc->seen[uw][level - 1], fn))
		return true;
	BIT_SET(sc->seen[uw][level - 1], fn);
	if (!BIT_TEST(p->tables, fn) && ++sc->ntables > SCAN_MAX_TABLES)
		return no(p, "too many page tables to scan");
	BIT_SET(p->tables, fn);
	const uint64_t *t = sc->env->page(sc->env->ctx, table);
	if (!t)
		return no(p, "a page table is not in RAM");
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		uint64_t e = t[i];
		if (!(e & PTE_P) || (level == PT_LEVELS && (e & PTE_PS)))
			continue; /* not present, or a reserved PS bit: no translation */
		bool euw = uw && (e & PTE_RW) && (e & PTE_US);
		if (!pte_is_leaf(e, level)) {
			if (!scan_table(sc, e & PTE_ADDR_MASK, level - 1, euw))
				return false;
			continue;
		}
		if (!euw)
			continue;
		uint64_t lo = pte_addr(e, level) / PAGE, n = pt_level_size(level) / PAGE;
		for (uint64_t f = lo; f < lo + n && f < p->nframes; f++)
			BIT_SET(sc->uw, f);
	}
	return true;
}

static bool add_watch(struct vcpu_fast_plan *p, uint64_t gpa)
{
	for (uint32_t i = 0; i < p->nwatch; i++)
		if (p->watch[i] == gpa)
			return true;
	if (p->nwatch == VCPU_FAST_MAX_WATCH)
		return no(p, "too many pages to watch");
	p->watch[p->nwatch++] = gpa;
	return true;
}

/* Translate va with the snapshot's tables (SDM Vol. 3A 4.5). 0 and *pa:
 * mapped to RAM; 1: not mapped (non-canonical, or not present at some
 * level: nothing can be written there); -1: ineligible (outside RAM). */
static int translate(struct scan *sc, uint64_t cr3, uint64_t va, uint64_t *pa)
{
	if (!pt_canonical(va))
		return 1;
	uint64_t table = cr3 & PTE_ADDR_MASK;
	for (int level = PT_LEVELS; level >= 1; level--) {
		const uint64_t *t = sc->env->page(sc->env->ctx, table);
		if (!t)
			return no(sc->p, "a page table is not in RAM"), -1;
		uint64_t e = t[pt_index(va, level)];
		if (!(e & PTE_P) || (level == PT_LEVELS && (e & PTE_PS)))
			return 1;
		if (pte_is_leaf(e, level)) {
			*pa = pte_addr(e, level) + (va & (pt_level_size(level) - 1));
			if (!sc->env->page(sc->env->ctx, *pa & ~(PAGE - 1)))
				return no(sc->p, "a ring-0 stack or the TSS is not in RAM"), -1;
			return 0;
		}
		table = e & PTE_ADDR_MASK;
	}
	return 1;
}

/* The 104 bytes of the TSS at linear address base; its pages are watched. */
static bool read_tss(struct scan *sc, uint64_t cr3, uint64_t base, uint8_t *tss)
{
	struct vcpu_fast_plan *p = sc->p;
	for (uint64_t off = 0; off < TSS64_SIZE;) {
		uint64_t pa;
		if (translate(sc, cr3, base + off, &pa))
			return no(p, "the TSS is not mapped to RAM");
		uint64_t page = pa & ~(PAGE - 1), n = PAGE - (pa - page);
		if (n > TSS64_SIZE - off)
			n = TSS64_SIZE - off;
		memcpy(tss + off, (const uint8_t *)sc->env->page(sc->env->ctx, page) + (pa - page), n);
		if (!is_tss(p, page))
			p->tss[p->ntss++] = page;
		if (!add_watch(p, page))
			return false;
		off += n;
	}
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t msr_value(const struct vcpu_state *s, uint32_t index, bool *found)
{
	for (uint32_t i = 0; i < s->nmsrs && i < VCPU_STATE_MAX_MSRS; i++)
		if (s->msrs[i].index == index) {
			*found = true;
			return s->msrs[i].data;
		}
	*found = false;
	return 0;
}

static bool check_msrs(const struct vcpu_state *s, struct vcpu_fast_plan *p)
{
	bool lbr_msrs = false;
	for (uint32_t i = 0; i < s->nmsrs && i < VCPU_STATE_MAX_MSRS; i++) {
		uint32_t idx = s->msrs[i].index;
		if (idx == MSR_IA32_TSC)
			continue;
		if (!is_wrmsr_only(idx)) {
			snprintf(p->why, sizeof(p->why), "MSR %#x may change without WRMSR", idx);
			p->eligible = false;
			return false;
		}
		lbr_msrs |= idx >= MSR_LBR_FIRST && idx <= MSR_LBR_LAST;
	}
	bool found;
	uint64_t cs = msr_value(s, MSR_IA32_SYSENTER_CS, &found);
	if (!found || (cs & SYSENTER_CS_SELECTOR))
		return no(p, "SYSENTER is enabled (IA32_SYSENTER_CS), or its MSR was not saved");
	uint64_t debugctl = msr_value(s, MSR_IA32_DEBUGCTL, &found);
	if (lbr_msrs && (!found || (debugctl & DEBUGCTL_LBR)))
		return no(p, "last-branch recording is on (IA32_DEBUGCTL.LBR)");
	return true;
}

/* A range KVM or the VMM writes without the guest's page rights: it must
 * not touch a table or TSS page. */
static bool outside_guarded(struct vcpu_fast_plan *p, uint64_t gpa, uint64_t len, const char *what)
{
	for (uint64_t pg = gpa & ~(PAGE - 1); len && pg < gpa + len; pg += PAGE)
		if (is_table(p, pg) || is_tss(p, pg)) {
			snprintf(p->why, sizeof(p->why), "%s lies on a page table or the TSS", what);
			p->eligible = false;
			return false;
		}
	return true;
}

void vcpu_fast_plan_free(struct vcpu_fast_plan *p)
{
	free(p->tables);
	free(p->chunks);
	p->tables = p->chunks = NULL;
	p->nchunks = 0;
}

static bool plan(const struct vcpu_state *s, const struct vcpu_fast_env *env, struct vcpu_fast_plan *p,
                 struct scan *sc)
{
	const struct kvm_sregs *sr = &s->sregs;
	if (s->has_lapic)
		return no(p, "the VM has an in-kernel LAPIC (a PC guest)");
	if ((sr->cs.selector & X86_CPL_MASK) != 3 || sr->cs.dpl != 3 || sr->ss.dpl != 3)
		return no(p, "the snapshot is not in ring 3");
	if (!(sr->efer & X86_EFER_LMA) || !(sr->cr0 & X86_CR0_PG) || !(sr->cr4 & X86_CR4_PAE) ||
	    (sr->cr4 & X86_CR4_LA57))
		return no(p, "not in long mode with 4-level paging");
	if (sr->efer & X86_EFER_SCE)
		return no(p, "SYSCALL is enabled (IA32_EFER.SCE)");
	if (!check_msrs(s, p))
		return false;
	if (!sr->tr.present || (sr->tr.type != TSS64_TYPE_BUSY && sr->tr.type != TSS64_TYPE_AVAIL) ||
	    sr->tr.limit < TSS64_SIZE - 1)
		return no(p, "no usable 64-bit TSS");
	/* Every table and every user-writable frame. */
	sc->words = (p->nframes + 63) / 64;
	sc->uw = calloc(sc->words, 8);
	p->tables = calloc(sc->words, 8);
	for (int u = 0; u < 2; u++)
		for (int l = 0; l < 4; l++)
			sc->seen[u][l] = calloc(sc->words, 8);
	for (int u = 0; u < 2; u++)
		for (int l = 0; l < 4; l++)
			if (!sc->seen[u][l])
				return no(p, "out of memory for the page-table scan");
	if (!sc->uw || !p->tables)
		return no(p, "out of memory for the page-table scan");
	if (!scan_table(sc, sr->cr3 & PTE_ADDR_MASK, PT_LEVELS, true))
		return false;
	for (uint64_t w = 0; w < sc->words; w++)
		if (sc->uw[w] & p->tables[w])
			return no(p, "a page table is writable from ring 3");
	/* The TSS and the first push of every stack it names: RSP0..RSP2,
	 * IST1..IST7; an interrupt frame goes 8 below the 16-byte aligned
	 * top (SDM Vol. 3A 6.14.2), a call-gate frame 8 below the top. */
	uint8_t tss[TSS64_SIZE];
	if (!read_tss(sc, sr->cr3, sr->tr.base, tss))
		return false;
	for (uint32_t i = 0; i < p->ntss; i++)
		if (BIT_TEST(sc->uw, p->tss[i] / PAGE))
			return no(p, "the TSS is writable from ring 3");
	for (int i = 0; i < 10; i++) {
		uint64_t top;
		memcpy(&top, tss + (i < 3 ? TSS64_RSP0 + 8 * i : TSS64_IST1 + 8 * (i - 3)), 8);
		uint64_t first[2] = { (top & ~0xfull) - 8, top - 8 };
		for (int k = 0; k < 2; k++) {
			uint64_t pa;
			int r = translate(sc, sr->cr3, first[k], &pa);
			if (r < 0 || (r == 0 && !add_watch(p, pa & ~(PAGE - 1))))
				return false;
		}
	}
	/* What KVM writes for the guest (the areas its MSRs enable), and what
	 * the VMM writes on its own. */
	static const struct { uint32_t msr; uint64_t align, len; const char *what; } pv[] = {
		{ MSR_KVM_SYSTEM_TIME, 2, 32, "the kvmclock area" },
		{ MSR_KVM_SYSTEM_TIME_NEW, 2, 32, "the kvmclock area" },
		{ MSR_KVM_ASYNC_PF_EN, 64, 64, "the async page-fault area" },
		{ MSR_KVM_STEAL_TIME, 64, 64, "the steal-time area" },
		{ MSR_KVM_PV_EOI_EN, 4, 4, "the PV EOI word" },
	};
	for (size_t i = 0; i < sizeof(pv) / sizeof(pv[0]); i++) {
		bool found;
		uint64_t v = msr_value(s, pv[i].msr, &found);
		if (found && (v & KVM_MSR_ENABLED) && (pv[i].msr == MSR_KVM_SYSTEM_TIME || pv[i].msr == MSR_KVM_SYSTEM_TIME_NEW))
			p->kvmclock = true;
		if (found && (v & KVM_MSR_ENABLED) && !outside_guarded(p, v & ~(pv[i].align - 1), PV_AREA_MAX, pv[i].what))
			return false;
	}
	for (unsigned i = 0; i < env->nhost_writes && i < 4; i++)
		if (!outside_guarded(p, env->host_writes[i][0], env->host_writes[i][1], "a buffer the VMM writes"))
			return false;
	/* The 2 MiB chunks the reset walks to find written tables and watched
	 * pages. */
	qsort(p->watch, p->nwatch, sizeof(p->watch[0]), cmp_u64);
	uint64_t nchunk_all = (p->nframes + 511) / 512;
	p->chunks = calloc(nchunk_all ? nchunk_all : 1, sizeof(*p->chunks));
	if (!p->chunks)
		return no(p, "out of memory for the chunk list");
	for (uint64_t c = 0; c < nchunk_all; c++) {
		bool any = false;
		for (uint64_t w = c * 8; w < c * 8 + 8 && w < sc->words; w++)
			any |= p->tables[w] != 0;
		for (uint32_t i = 0; i < p->nwatch; i++)
			any |= p->watch[i] / (512 * PAGE) == c;
		if (any)
			p->chunks[p->nchunks++] = c * 512 * PAGE;
	}
	return true;
}

void vcpu_fast_plan_make(const struct vcpu_state *s, const struct vcpu_fast_env *env,
                         struct vcpu_fast_plan *p)
{
	vcpu_fast_plan_free(p);
	memset(p, 0, sizeof(*p));
	p->key = s;
	p->eligible = true;
	p->nframes = env->mem_size / PAGE;
	struct scan sc = { .env = env, .p = p };
	plan(s, env, p, &sc);
	free(sc.uw);
	for (int u = 0; u < 2; u++)
		for (int l = 0; l < 4; l++)
			free(sc.seen[u][l]);
	if (!p->eligible)
		vcpu_fast_plan_free(p);
}

bool vcpu_fast_write_voids(const struct vcpu_fast_plan *p, uint64_t gpa, const void *now, const void *snap)
{
	uint32_t lo = 0, hi = p->nwatch;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (p->watch[mid] == gpa)
			return true;
		if (p->watch[mid] < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!is_table(p, gpa))
		return false;
	if (!now || !snap)
		return true;
	/* Accessed and Dirty (bits 5, 6) are the CPU's own updates; in a
	 * non-leaf entry bit 6 is ignored by the CPU (SDM Vol. 3A 4.5). */
	const uint64_t *a = now, *b = snap;
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		if ((a[i] ^ b[i]) & ~(PTE_A | PTE_D))
			return true;
	return false;
}

void vcpu_fast_host_write(struct vcpu *v, uint64_t gpa)
{
	const struct vcpu_fast_plan *p = v->plan;
	if (!p || !p->eligible || p->key != v->restored || is_table(p, gpa) || is_tss(p, gpa))
		atomic_store_explicit(&v->tainted, true, memory_order_relaxed);
}

bool vcpu_io_completes_clean(const struct vcpu *v)
{
	const struct kvm_run *run = v->run;
	return v->io_pending && run->exit_reason == KVM_EXIT_MMIO && run->mmio.is_write && run->mmio.len < 8 &&
	       (run->mmio.phys_addr & (PAGE - 1)) + run->mmio.len < PAGE;
}

struct one_msr {
	struct kvm_msrs h;
	struct kvm_msr_entry m;
};

/* KVM's reading of the guest TSC minus the host's, now. */
static int tsc_skew(int fd, int64_t *skew, struct vmm_err *e)
{
	struct one_msr t = { .h = { .nmsrs = 1 }, .m = { .index = MSR_IA32_TSC } };
	uint64_t host = __rdtsc();
	int r = KVM_IOCTL(fd, KVM_GET_MSRS, &t, e);
	if (r < 0)
		return r;
	if (r != 1)
		return vmm_fail(e, -EIO, "KVM_GET_MSRS cannot read IA32_TSC");
	*skew = (int64_t)(t.m.data - host);
	return 0;
}

#define TSC_PROBE_SHIFT (1ull << 40)      /* ~400 s at 2.6 GHz */
#define TSC_PROBE_SLACK (1ll << 36)       /* the reads are a few us apart */

/* Move the vCPU's TSC offset by TSC_PROBE_SHIFT, see whether KVM's
 * IA32_TSC moves with it, and move it back. A failed ioctl is reported
 * (the reset fails, like any other) and the probe is made again next time;
 * the caller sets the TSC right after anyway. */
static int probe_tsc_offset(struct vcpu *v, struct vmm_err *e)
{
	uint64_t off = 0;
	struct kvm_device_attr a = { .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
	                             .addr = (uintptr_t)&off };
	int64_t before, after;
	int r = KVM_IOCTL(v->fd, KVM_GET_DEVICE_ATTR, &a, e);
	r = r < 0 ? r : tsc_skew(v->fd, &before, e);
	if (r < 0)
		return r;
	off += TSC_PROBE_SHIFT;
	r = KVM_IOCTL(v->fd, KVM_SET_DEVICE_ATTR, &a, e);
	r = r < 0 ? r : tsc_skew(v->fd, &after, e);
	off -= TSC_PROBE_SHIFT;
	int back = KVM_IOCTL(v->fd, KVM_SET_DEVICE_ATTR, &a, r < 0 ? NULL : e);
	if (r < 0 || back < 0)
		return r < 0 ? r : back;
	int64_t moved = after - before - (int64_t)TSC_PROBE_SHIFT;
	v->tsc_follows_offset = moved > -TSC_PROBE_SLACK && moved < TSC_PROBE_SLACK ? 1 : 2;
	return 0;
}

int vcpu_fast_restore(struct vcpu *v, const struct vcpu_state *s, struct vmm_err *e)
{
	struct kvm_run *run = v->run;
	run->s.regs.regs = s->regs;
	run->s.regs.sregs = s->sregs;
	run->s.regs.events = s->events;
	run->s.regs.events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING; /* as vcpu_state_restore */
	run->kvm_dirty_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
	int r = KVM_IOCTL(v->fd, KVM_SET_XSAVE, &s->xsave, e);
	if (r < 0)
		return r;
	if (v->tsc_offset_attr && !v->tsc_follows_offset && (r = probe_tsc_offset(v, e)) < 0)
		return r;
	if (v->tsc_offset_attr && v->tsc_follows_offset == 2)
		return 0; /* the TSC does not follow the offset: nothing to set */
	if (v->tsc_offset_attr)
		return vcpu_state_restore_tsc(v->fd, s, e);
	for (uint32_t i = 0; i < s->nmsrs && i < VCPU_STATE_MAX_MSRS; i++) {
		if (s->msrs[i].index != MSR_IA32_TSC)
			continue;
		struct one_msr one = { .h = { .nmsrs = 1 }, .m = s->msrs[i] };
		r = KVM_IOCTL(v->fd, KVM_SET_MSRS, &one, e);
		if (r < 0)
			return r;
		if (r != 1)
			return vmm_fail(e, -EINVAL, "KVM_SET_MSRS rejected IA32_TSC");
	}
	return 0;
}
