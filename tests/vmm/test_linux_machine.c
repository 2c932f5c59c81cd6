/*
 * test_linux_machine.c - the PC that `cowvm run --kernel` builds, on real
 * KVM, with tiny hand-assembled "kernels": a synthetic bzImage header
 * (tests/boot/bzimage_build.h) whose 64-bit entry (load address + 0x200)
 * holds a few instructions. A stock Linux kernel does not run on this
 * host's KVM (docs/linux-guests.md: those tests run under nested QEMU);
 * these check the same machine natively: the 64-bit entry state, the boot
 * data in RAM, COM1 output and input, and every way the guest can end the
 * VM (ACPI S5, ACPI reset register, i8042 reset, triple fault, halt).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "../boot/bzimage_build.h"
#include "clone.h"
#include "console_input.h"
#include "kvm_ioctl.h"
#include "kvm_test_util.h"
#include "linux_vm.h"
#include "pc_devices.h"
#include "pc_layout.h"
#include "pc_state.h"
#include "pc_test_progs.h"

/* x86-64 encodings used below (SDM Vol. 2). */
#define MOV_EDX(port) 0xba, (uint8_t)((port) & 0xff), (uint8_t)((port) >> 8), 0x00, 0x00
#define MOV_AL(v) 0xb0, (uint8_t)(v)
#define OUT_DX_AL 0xee
#define IN_AL_DX 0xec
#define HLT 0xf4
#define CLI 0xfa

/* "X\n" on COM1, then ACPI S5 (SLP_EN | SLP_TYP 5 in the sleep control
 * register), then hlt. */
static const uint8_t prog_poweroff[] = {
	MOV_EDX(PC_PORT_COM1), MOV_AL('X'), OUT_DX_AL, MOV_AL('\n'), OUT_DX_AL,
	MOV_EDX(PC_PORT_SLEEP_CTL), MOV_AL(0x20 | 5 << 2), OUT_DX_AL, HLT,
};
static const uint8_t prog_acpi_reset[] = { MOV_EDX(PC_PORT_ACPI_RESET), MOV_AL(PC_ACPI_RESET_VALUE), OUT_DX_AL, HLT };
static const uint8_t prog_kbd_reset[] = { MOV_EDX(PC_PORT_I8042_CMD), MOV_AL(0xfe), OUT_DX_AL, HLT };
/* ud2 with no IDT (limit 0 at the entry): #UD, #DF, triple fault. */
static const uint8_t prog_triple[] = { 0x0f, 0x0b };
static const uint8_t prog_halt[] = { CLI, HLT };
/* Set MCR = DTR|RTS|OUT2 (input flows only with RTS on), then echo every
 * received byte until 'q', then S5.
 *   0 mov edx,0x3fc / 5 mov al,0x0b / 7 out
 *   8 loop: mov edx,0x3fd / 13 in / 14 test al,1 / 16 jz loop (-10)
 *  18 mov edx,0x3f8 / 23 in / 24 cmp al,'q' / 26 je done (+3)
 *  28 out / 29 jmp loop (-23) / 31 done: S5 */
static const uint8_t prog_echo[] = {
	MOV_EDX(PC_PORT_COM1 + 4), MOV_AL(0x0b), OUT_DX_AL,
	MOV_EDX(PC_PORT_COM1 + 5), IN_AL_DX, 0xa8, 0x01, 0x74, 0xf6,
	MOV_EDX(PC_PORT_COM1), IN_AL_DX, 0x3c, 'q', 0x74, 0x03,
	OUT_DX_AL, 0xeb, 0xe9,
	MOV_EDX(PC_PORT_SLEEP_CTL), MOV_AL(0x20 | 5 << 2), OUT_DX_AL, HLT,
};

struct run {
	struct vm *vm;
	struct vm_result res;
	struct console_buf con;
	uint8_t *img;
};

/* A bzImage whose entry runs `prog`, booted with `vcpus`; the VM is kept
 * for inspection (r->vm, destroy with end_run). */
static int start_snap(struct run *r, const uint8_t *prog, size_t n, unsigned vcpus, const char *cmdline,
                      bool snapshots, struct vmm_err *e)
{
	struct bz b;
	bz_default(&b);
	size_t len;
	memset(r, 0, sizeof(*r));
	r->img = bz_build(&b, &len);
	memset(r->img + bz_setup_bytes(&b), 0xf4, b.kernel_len); /* hlt everywhere else */
	memcpy(r->img + bz_setup_bytes(&b) + 0x200, prog, n);
	struct vm_config cfg = {
		.mem_size = 64ull << 20, .nvcpus = vcpus, .timeout_ms = 20000,
		.console = console_capture, .console_ctx = &r->con,
		.kernel = r->img, .kernel_len = len, .cmdline = cmdline, .snapshots = snapshots,
	};
	return vm_create(&cfg, &r->vm, e);
}

static int start(struct run *r, const uint8_t *prog, size_t n, unsigned vcpus, const char *cmdline,
                 struct vmm_err *e)
{
	return start_snap(r, prog, n, vcpus, cmdline, false, e);
}

static void boot(struct run *r, const uint8_t *prog, size_t n, unsigned vcpus)
{
	struct vmm_err e = { 0 };
	cr_assert_eq(start(r, prog, n, vcpus, NULL, &e), 0, "vm_create: %s", e.msg);
	cr_assert_eq(vm_run(r->vm, &r->res, &e), 0, "vm_run: %s", e.msg);
}

static void end_run(struct run *r)
{
	vm_destroy(r->vm);
	free(r->img);
}

Test(linux_machine, entry_state_boot_data_and_poweroff)
{
	REQUIRE_KVM();
	struct run r;
	boot(&r, prog_poweroff, sizeof(prog_poweroff), 1);
	cr_assert_eq(r.res.end, VM_END_POWEROFF, "end %d: %s", r.res.end, r.res.msg);
	cr_assert_eq(r.con.len, 2);
	cr_assert_eq(memcmp(r.con.data, "X\n", 2), 0);
	/* The entry registers as the boot protocol wants them. */
	struct kvm_regs regs;
	struct kvm_sregs s;
	cr_assert_geq(KVM_IOCTL(r.vm->vcpus[0].fd, KVM_GET_REGS, &regs, NULL), 0);
	cr_assert_geq(KVM_IOCTL(r.vm->vcpus[0].fd, KVM_GET_SREGS, &s, NULL), 0);
	cr_assert_eq(regs.rsi, PC_GPA_ZERO_PAGE);
	cr_assert_eq(regs.rip, 0x1000000 + 0x200 + sizeof(prog_poweroff) - 1, "rip %#llx: at the hlt after the S5 write", regs.rip);
	cr_assert_eq(s.cs.selector, 0x10);
	cr_assert_eq(s.ds.selector, 0x18);
	cr_assert(s.efer & (1 << 10), "long mode active");
	/* The zero page, command line and ACPI tables are in guest RAM. */
	const struct boot_params *bp = gpa_ptr(&r.vm->mem, PC_GPA_ZERO_PAGE, sizeof(*bp));
	cr_assert_eq(bp->hdr.type_of_loader, 0xff);
	cr_assert_eq(bp->hdr.cmd_line_ptr, PC_GPA_CMDLINE);
	cr_assert_str_eq((const char *)gpa_ptr(&r.vm->mem, PC_GPA_CMDLINE, 1), PC_DEFAULT_CMDLINE);
	cr_assert_eq(bp->e820_entries, 5);
	cr_assert_eq(bp->e820_table[3].addr, PC_GPA_ACPI + PC_ACPI_MAX, "the reset vector's area is reserved");
	cr_assert_eq(bp->e820_table[3].type, 2);
	cr_assert_eq(bp->e820_table[4].addr, PC_GPA_HIGH_RAM);
	cr_assert_eq(bp->e820_table[4].addr + bp->e820_table[4].size, 64ull << 20);
	cr_assert_eq(memcmp(gpa_ptr(&r.vm->mem, PC_GPA_ACPI, 8), "RSD PTR ", 8), 0);
	const uint8_t *rv = gpa_ptr(&r.vm->mem, PC_GPA_RESET_VECTOR, 9);
	const uint8_t want_rv[] = { 0xba, 0x02, 0x06, 0xb0, 0x01, 0xee, 0xf4, 0xeb, 0xfd };
	cr_assert_eq(memcmp(rv, want_rv, sizeof(want_rv)), 0, "reset vector stub");
	end_run(&r);
}

Test(linux_machine, acpi_reset_register_reboots)
{
	REQUIRE_KVM();
	struct run r;
	boot(&r, prog_acpi_reset, sizeof(prog_acpi_reset), 1);
	cr_assert_eq(r.res.end, VM_END_REBOOT, "end %d: %s", r.res.end, r.res.msg);
	cr_assert(strstr(r.res.msg, "0x602"), "%s", r.res.msg);
	end_run(&r);
}

Test(linux_machine, i8042_pulse_reboots)
{
	REQUIRE_KVM();
	struct run r;
	boot(&r, prog_kbd_reset, sizeof(prog_kbd_reset), 1);
	cr_assert_eq(r.res.end, VM_END_REBOOT, "end %d: %s", r.res.end, r.res.msg);
	cr_assert(strstr(r.res.msg, "0x64"), "%s", r.res.msg);
	end_run(&r);
}

Test(linux_machine, triple_fault_shuts_down)
{
	REQUIRE_KVM();
	struct run r;
	boot(&r, prog_triple, sizeof(prog_triple), 1);
	cr_assert_eq(r.res.end, VM_END_SHUTDOWN, "end %d: %s", r.res.end, r.res.msg);
	end_run(&r);
}

Test(linux_machine, halt_with_interrupts_off_ends_the_vm)
{
	REQUIRE_KVM();
	for (unsigned vcpus = 1; vcpus <= 2; vcpus++) {
		/* With 2 vCPUs the AP never got its SIPI: it cannot run either. */
		struct run r;
		boot(&r, prog_halt, sizeof(prog_halt), vcpus);
		cr_assert_eq(r.res.end, VM_END_HALT, "%u vCPUs: end %d: %s", vcpus, r.res.end, r.res.msg);
		end_run(&r);
	}
}

Test(linux_machine, two_vcpus_power_off_from_the_bsp)
{
	REQUIRE_KVM();
	struct run r;
	boot(&r, prog_poweroff, sizeof(prog_poweroff), 2);
	cr_assert_eq(r.res.end, VM_END_POWEROFF, "end %d: %s", r.res.end, r.res.msg);
	/* each vCPU's CPUID carries its own APIC ID */
	for (unsigned i = 0; i < 2; i++) {
		struct {
			struct kvm_cpuid2 h;
			struct kvm_cpuid_entry2 ent[256];
		} c = { .h.nent = 256 };
		cr_assert_geq(KVM_IOCTL(r.vm->vcpus[i].fd, KVM_GET_CPUID2, &c, NULL), 0);
		bool found = false;
		for (unsigned j = 0; j < c.h.nent; j++)
			if (c.ent[j].function == 1) {
				cr_assert_eq(c.ent[j].ebx >> 24, i, "vCPU %u leaf 1 APIC ID %u", i, c.ent[j].ebx >> 24);
				found = true;
			}
		cr_assert(found);
	}
	end_run(&r);
}

Test(linux_machine, stdin_reaches_the_guest_through_com1)
{
	REQUIRE_KVM();
	int p[2];
	cr_assert_eq(pipe(p), 0);
	const char typed[] = "hello, guest\nq";
	cr_assert_eq(write(p[1], typed, sizeof(typed) - 1), (ssize_t)sizeof(typed) - 1);
	close(p[1]);
	struct run r;
	struct vmm_err e = { 0 };
	cr_assert_eq(start(&r, prog_echo, sizeof(prog_echo), 1, NULL, &e), 0, "%s", e.msg);
	struct console_input *in;
	cr_assert_eq(console_input_start(&in, p[0], &r.vm->pc->com1, NULL, NULL, &e), 0, "%s", e.msg);
	cr_assert_eq(vm_run(r.vm, &r.res, &e), 0, "%s", e.msg);
	console_input_stop(in);
	close(p[0]);
	cr_assert_eq(r.res.end, VM_END_POWEROFF, "end %d: %s", r.res.end, r.res.msg);
	cr_assert_eq(r.con.len, strlen("hello, guest\n"), "console: '%.*s'", (int)r.con.len, r.con.data);
	cr_assert_eq(memcmp(r.con.data, "hello, guest\n", r.con.len), 0);
	end_run(&r);
}

Test(linux_machine, bad_inputs_are_refused_before_kvm)
{
	struct run r;
	struct vmm_err e = { 0 };
	char big[PC_CMDLINE_MAX + 1];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cr_assert_eq(start(&r, prog_halt, 2, 1, big, &e), -EINVAL);
	cr_assert(strstr(e.msg, "command line"), "%s", e.msg);
	cr_assert_null(r.vm);
	free(r.img);

	uint8_t junk[4096];
	memset(junk, 0x5a, sizeof(junk));
	struct vm *vm = NULL;
	struct vm_config cfg = { .mem_size = 64ull << 20, .nvcpus = 1, .kernel = junk, .kernel_len = sizeof(junk) };
	cr_assert_eq(vm_create(&cfg, &vm, &e), -EINVAL);
	cr_assert_null(vm);
	cfg.mem_size = PC_MEM_MAX + (2ull << 20);
	cr_assert_eq(vm_create(&cfg, &vm, &e), -EINVAL);
	cr_assert(strstr(e.msg, "at most"), "%s", e.msg);
}

/* Point the kvmclock wall clock at 0x50000 (memory must be reset after the
 * vCPU state: KVM rewrites it whenever the MSR is restored), then the
 * snapshot program of pc_test_progs.h: "0Z\n" in the original, "NZ\n" in
 * clone N. */
static const uint8_t prog_snapshot[] = { PC_PROG_WALL_CLOCK_BYTES, PC_PROG_SNAPSHOT_BYTES };

static uint8_t pic_imr(struct vm *vm)
{
	struct kvm_irqchip c = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
	cr_assert_geq(KVM_IOCTL(vm->vm_fd, KVM_GET_IRQCHIP, &c, NULL), 0);
	return c.chip.pic.imr;
}

static uint32_t lapic_reg(struct vm *vm, unsigned off)
{
	struct kvm_lapic_state l;
	cr_assert_geq(KVM_IOCTL(vm->vcpus[0].fd, KVM_GET_LAPIC, &l, NULL), 0);
	uint32_t v;
	memcpy(&v, l.regs + off, 4);
	return v;
}

Test(linux_machine, pc_snapshot_clone_and_reset_restore_the_machine)
{
	REQUIRE_KVM();
	struct run r;
	struct vmm_err e = { 0 };
	cr_assert_eq(start_snap(&r, prog_snapshot, sizeof(prog_snapshot), 1, NULL, true, &e), 0, "%s", e.msg);
	cr_assert_eq(vm_run(r.vm, &r.res, &e), 0, "%s", e.msg);
	cr_assert_eq(r.res.end, VM_END_SNAPSHOT, "end %d: %s", r.res.end, r.res.msg);
	struct snapshot *s;
	cr_assert_eq(snapshot_take(r.vm, &s, &e), 0, "%s", e.msg);
	cr_assert_not_null(s->meta.pc, "a PC snapshot carries the machine state");
	cr_assert_eq(s->meta.pc->pic_master.chip.pic.imr, 0xfb);
	cr_assert_eq(s->meta.pc->com1.scr, 0x5a);
	cr_assert_eq(s->meta.vcpu[0].has_lapic, 1);
	uint32_t wall_version;
	memcpy(&wall_version, snapshot_page(s, 0x50), 4);
	cr_assert_neq(wall_version, 0, "KVM wrote the wall clock at 0x50000");
	/* the original runs on and is told it is the original */
	r.vm->cfg.snapshots = false;
	cr_assert_eq(vm_run(r.vm, &r.res, &e), 0, "%s", e.msg);
	cr_assert_eq(r.res.end, VM_END_POWEROFF, "end %d: %s", r.res.end, r.res.msg);
	cr_assert_eq(r.con.len, 3);
	cr_assert_eq(memcmp(r.con.data, "0Z\n", 3), 0, "original: '%.*s'", (int)r.con.len, r.con.data);

	struct console_buf con = { .len = 0 };
	struct clone_opts o = { .console = console_capture, .console_ctx = &con, .timeout_ms = 20000 };
	for (unsigned n = 1; n <= 2; n++) {
		struct vm *c;
		con.len = 0;
		cr_assert_eq(vm_clone(NULL, s, &o, &c, &e), 0, "%s", e.msg);
		cr_assert_not_null(c->pc, "a clone of a PC snapshot is a PC");
		/* restored before it runs: PIC mask, LAPIC LINT pins, agent page */
		cr_assert_eq(pic_imr(c), 0xfb);
		cr_assert_eq(lapic_reg(c, 0x350) & 0x700, 0x700, "LINT0 ExtINT");
		cr_assert_eq(lapic_reg(c, 0x360) & 0x700, 0x400, "LINT1 NMI");
		const struct cowvm_agent_info *ai = gpa_ptr(&c->mem, COWVM_AGENT_GPA, sizeof(*ai));
		cr_assert_eq(ai->magic, COWVM_AGENT_MAGIC);
		cr_assert_eq(ai->clone_id, n);
		assert_window_is_snapshot(c, s, "a new clone");
		struct vm_result res;
		cr_assert_eq(vm_run(c, &res, &e), 0, "%s", e.msg);
		cr_assert_eq(res.end, VM_END_POWEROFF, "clone %u: end %d: %s", n, res.end, res.msg);
		char want[4] = { (char)('0' + n), 'Z', '\n', 0 };
		cr_assert_eq(con.len, 3);
		cr_assert_eq(memcmp(con.data, want, 3), 0, "clone %u printed '%.*s'", n, (int)con.len, con.data);
		/* reset: the same clone again, from the snapshot */
		uint64_t gen = ai->generation;
		cr_assert_eq(vm_reset(c, NULL, &e), 0, "%s", e.msg);
		cr_assert_eq(ai->generation, gen + 1, "a reset is a new generation");
		assert_window_is_snapshot(c, s, "after reset");
		cr_assert_eq(pic_imr(c), 0xfb);
		con.len = 0;
		cr_assert_eq(vm_run(c, &res, &e), 0, "%s", e.msg);
		cr_assert_eq(res.end, VM_END_POWEROFF, "reset clone %u: end %d: %s", n, res.end, res.msg);
		cr_assert_eq(memcmp(con.data, want, 3), 0, "reset clone %u printed '%.*s'", n, (int)con.len, con.data);
		vm_destroy(c);
	}
	snapshot_put(s);
	end_run(&r);
}
