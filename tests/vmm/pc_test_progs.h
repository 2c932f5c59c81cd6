/*
 * pc_test_progs.h - hand-assembled 64-bit guest code that tests run at a
 * synthetic bzImage's 64-bit entry (tests/boot/bzimage_build.h) on a cowvm
 * PC: one copy for test_linux_machine.c and test_snapshot_file_pc.c.
 * Assembled with GNU as (x86-64); each line says what it does.
 */
#ifndef COWVM_PC_TEST_PROGS_H
#define COWVM_PC_TEST_PROGS_H

/* Mask IRQ 2 at the master PIC (IMR 0xfb, KVM's PIC), put 0x5a in COM1's
 * scratch register, ask for a snapshot with a block in the agent window,
 * then print the hypercall's return + '0', COM1's scratch register and a
 * newline, and power off (ACPI S5). The original prints "0Z\n", clone N
 * "NZ\n" (a clone whose UART state was lost would print a NUL for the
 * scratch). The bytes of a uint8_t array initializer. */
#define PC_PROG_SNAPSHOT_BYTES                                                        \
	0xb0, 0xfb, 0xe6, 0x21,                         /* mov al,0xfb; out 0x21,al */ \
	0xba, 0xff, 0x03, 0x00, 0x00, 0xb0, 0x5a, 0xee, /* COM1 SCR = 0x5a */          \
	0x48, 0xc7, 0xc7, 0x00, 0x10, 0x0a, 0x00,       /* mov rdi, COWVM_AGENT_HCALL_GPA */ \
	0x48, 0xc7, 0x07, 0x10, 0x00, 0x00, 0x00,       /* nr = COWVM_HC_SNAPSHOT */   \
	0x48, 0xc7, 0x47, 0x30, 0x00, 0x00, 0x00, 0x00, /* ret = 0 */                  \
	0xba, 0x00, 0x05, 0x00, 0x00, 0xb8, 0x00, 0x10, 0x0a, 0x00, 0xef, /* out COWVM_HC_PORT, eax */ \
	0x8a, 0x47, 0x30, 0x04, 0x30,                   /* al = ret + '0' */           \
	0xba, 0xf8, 0x03, 0x00, 0x00, 0xee,             /* to COM1 */                  \
	0xba, 0xff, 0x03, 0x00, 0x00, 0xec,             /* al = SCR */                 \
	0xba, 0xf8, 0x03, 0x00, 0x00, 0xee, 0xb0, 0x0a, 0xee, /* SCR, '\n' to COM1 */  \
	0xba, 0x00, 0x06, 0x00, 0x00, 0xb0, 0x34, 0xee, 0xf4  /* S5 */

/* wrmsr MSR_KVM_WALL_CLOCK_NEW = 0x50000: KVM writes the wall clock there
 * now and again whenever the MSR is restored, i.e. in every clone and
 * reset. */
#define PC_PROG_WALL_CLOCK_BYTES \
	0xb9, 0x00, 0x4d, 0x56, 0x4b, 0xb8, 0x00, 0x00, 0x05, 0x00, 0x31, 0xd2, 0x0f, 0x30

#endif
