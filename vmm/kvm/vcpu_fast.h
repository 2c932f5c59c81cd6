/*
 * vcpu_fast.h - the fast vCPU reset: a vCPU that ran nothing but ring-3
 * code since it was last restored to a snapshot state gets back only what
 * ring 3 can change, and the registers without an ioctl of their own.
 *
 * Every vCPU ioctl costs a vcpu_load/vcpu_put in KVM (on these hosts ~4.7
 * us, most of it MSR reads of the nested hypervisor), and a full restore
 * (vcpu_state_restore) makes 11-13 of them. What ring 3 can change:
 *
 *   general registers, RFLAGS, RIP          -> REGS   } written into kvm_run
 *   segment registers and bases             -> SREGS  } (KVM_CAP_SYNC_REGS),
 *   interrupt shadow (MOV SS, STI)          -> EVENTS } applied by the next
 *                                                       KVM_RUN: no ioctl
 *   x87, SSE, AVX, PKRU                     -> KVM_SET_XSAVE (one ioctl)
 *   the TSC (it runs)                       -> its offset (one ioctl)
 *
 * Everything else takes ring 0: WRMSR, XSETBV, MOV to DRn/CRn, HLT, SWAPGS,
 * LGDT/LIDT/LTR are CPL-0 instructions (#GP otherwise, Intel SDM Vol. 2),
 * and DR6/CR2 change only when #DB/#PF is delivered, through the IDT. So
 * XCR0, the debug registers, the MSRs below, MP state and the control
 * registers stay as the last full restore left them, unless ring-0 code
 * ran. (KVM itself changes nothing there without an irqchip, which PC
 * guests have: they always take the full path.)
 *
 * The proof that no ring-0 code ran since the last restore. Made once per
 * snapshot state from its registers and memory (vcpu_fast_plan_make):
 *  - the vCPU was at CPL 3 at the snapshot, in long mode, 4-level paging;
 *  - the two ways into ring 0 that write no memory are closed: SYSCALL
 *    needs IA32_EFER.SCE (#UD otherwise, SDM Vol. 2B SYSCALL), SYSENTER in
 *    IA-32e mode needs IA32_SYSENTER_CS[15:2] != 0 (#GP(0) otherwise, SDM
 *    Vol. 2B SYSENTER; AMD: #UD in long mode);
 *  - every other way from ring 3 to ring 0 (an exception, interrupt or INT
 *    through the IDT, a far CALL through a call gate) switches to a stack
 *    the 64-bit TSS names (RSP0-RSP2, IST1-IST7; SDM Vol. 3A 6.14.4, 6.14.5,
 *    5.8.5) and pushes SS onto it first. The plan WATCHES the page of each
 *    first push (for the 16-byte aligned interrupt frame and the unaligned
 *    call-gate frame) and the TSS pages. A stack that translates to no
 *    memory cannot take a push; one outside RAM (MMIO: a push there leaves
 *    no dirty page) makes the vCPU ineligible;
 *  - nobody can move those stacks without the plan seeing it: a full scan
 *    of the page tables finds every table page and every frame a
 *    user-writable mapping reaches, and no table page and no TSS page may
 *    be user-writable (so ring 3 can write none of them, nor make one
 *    writable); neither may the areas KVM writes for the guest (kvmclock,
 *    steal time, async PF, PV EOI: the KVM MSRs) nor those the VMM writes
 *    on its own (input buffer, the snapshot hypercall's `ret`) lie on one;
 *  - every MSR the snapshot holds is one that only WRMSR changes (list in
 *    vcpu_fast.c; the last-branch records only with IA32_DEBUGCTL.LBR
 *    clear), or the TSC, which is restored anyway; an unknown MSR (a PMU
 *    counter, ...) makes the vCPU ineligible.
 * Checked at every reset, against the pages written since the last one
 * (the GPT's written set: guest, KVM and VMM writes alike, clone.c):
 *  - no watched page was written: the first entry into ring 0 would have
 *    pushed onto one, through tables and a TSS that were the snapshot's
 *    then (only the CPU's Accessed/Dirty updates touch them before it);
 *  - a written table page differs from the snapshot's only in Accessed and
 *    Dirty bits (a guest reading a page the snapshot never touched sets
 *    them: that is not a change of translation).
 * And while the guest runs (vm_run.c): a hypercall whose result the VMM
 * writes onto a table or TSS page taints the vCPU (vcpu_fast_host_write),
 * as does a run that ends other than through a hypercall or a kick
 * (triple fault, failed entry, emulation error). vm_clone always restores
 * in full. What a library user writes into guest page tables between runs
 * (vm_guest_write) and writes back before vm_reset is not seen: do not.
 */
#ifndef COWVM_VCPU_FAST_H
#define COWVM_VCPU_FAST_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "vcpu.h"
#include "vcpu_state.h"

#define VCPU_FAST_MAX_WATCH 64

struct vcpu_fast_plan {
	const void *key;              /* the vcpu_state it was made for; NULL: none */
	bool eligible;
	char why[120];                /* why not (diagnostics, tests) */
	uint64_t nframes;             /* guest RAM frames (bitmap size) */
	uint64_t *tables;             /* bitmap: page-table pages, any level */
	uint32_t nwatch;              /* TSS and first-push stack pages, sorted */
	uint64_t watch[VCPU_FAST_MAX_WATCH];
	uint32_t ntss;                /* the TSS pages among them */
	uint64_t tss[2];
	uint64_t nchunks;             /* 2 MiB chunks holding a table or watched page, sorted */
	uint64_t *chunks;
	/* The guest has enabled kvmclock (MSR_KVM_SYSTEM_TIME{,_NEW}): a fast
	 * reset must still set the VM clock. Without it (and without ring 0,
	 * which could enable it) nothing in the guest reads the VM clock. */
	bool kvmclock;
};

/* The 4 KiB page of guest RAM at page-aligned gpa as the snapshot holds
 * it, or NULL if gpa is not RAM. */
typedef const void *(*vcpu_fast_page_fn)(void *ctx, uint64_t gpa);

/* What the plan is made from besides the vCPU state. */
struct vcpu_fast_env {
	uint64_t mem_size;
	vcpu_fast_page_fn page;
	void *ctx;
	/* Guest RAM the VMM writes on its own between runs: [gpa, gpa + len). */
	uint64_t host_writes[4][2];
	unsigned nhost_writes;
};

/* Decide whether s can be reset the fast way, and what to watch (above).
 * Never fails: an unprovable state (or no memory for the bitmaps) gives
 * eligible = false and the reason. Frees what p held before. */
void vcpu_fast_plan_make(const struct vcpu_state *s, const struct vcpu_fast_env *env,
                         struct vcpu_fast_plan *p);
void vcpu_fast_plan_free(struct vcpu_fast_plan *p); /* the bitmaps, not p */

/* Page gpa, found in the written set at a reset: does its write void the
 * proof? `now` is its content now, `snap` the snapshot's (4 KiB each). */
bool vcpu_fast_write_voids(const struct vcpu_fast_plan *p, uint64_t gpa, const void *now,
                           const void *snap);

/* The VMM is about to write guest RAM at gpa for the guest (a hypercall's
 * `ret`): taint the vCPU if that lands on a table or TSS page of its
 * plan, or if it has no plan for its state yet (nothing to judge by). */
void vcpu_fast_host_write(struct vcpu *v, uint64_t gpa);

/* Restore what ring 3 can change: REGS/SREGS/EVENTS into kvm_run for the
 * next KVM_RUN, XSAVE and the TSC now. The TSC is set through its offset
 * only where that moves it: the first call checks that KVM's own reading
 * of IA32_TSC follows KVM_VCPU_TSC_OFFSET (it does not on PVM hosts,
 * where the guest reads the host's TSC: the ioctl would be a no-op that
 * costs a vcpu_load). Precondition: the plan held for
 * the interval since the vCPU was last restored to s, and no completion
 * of an earlier exit is pending other than one that changes no vCPU state
 * (vcpu_io_completes_clean). */
int vcpu_fast_restore(struct vcpu *v, const struct vcpu_state *s, struct vmm_err *e);

/* The vCPU stopped at an exit whose completion by the next KVM_RUN changes
 * no vCPU state: a guest MMIO write KVM has already emulated (registers
 * and RIP written back before the exit) whose one fragment (len < 8, not
 * reaching the end of its page, so not split, KVM's emulator_read_write)
 * the VMM has seen. KVM applies the kvm_run registers before completing
 * (kvm_arch_vcpu_ioctl_run: sync_regs, then complete_userspace_io), and
 * completing such a write only advances the fragment count. The guest SDK
 * rings its doorbell with one 4-byte store. */
bool vcpu_io_completes_clean(const struct vcpu *v);

#endif
