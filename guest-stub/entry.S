/*
 * entry.S - ring-0 entry and exception stubs of the guest-stub kernel.
 *
 * The VMM enters _start in 64-bit mode with paging on (see
 * docs/architecture.md): RSP = this vCPU's ring-0 stack (also TSS.RSP0),
 * RDI = boot-info FDT address, RSI = vCPU index. Ring-0 code is emulated on
 * the development machines (~0.6 us/instruction), so it stays minimal.
 */
	.section .text.entry, "ax"
	.globl _start
_start:
	call	kernel_main		/* (fdt, cpu); never returns */
1:	hlt
	jmp	1b

/* enter_user(rip, rsp, fdt, cpu): iretq to ring 3 with IOPL 3. */
	.text
	.globl enter_user
enter_user:
	mov	%rdi, %rax		/* user rip */
	mov	%rdx, %rdi		/* arg0: fdt */
	mov	%rcx, %rdx		/* (kept in rdx) */
	pushq	$0x1b			/* SS = user data | RPL 3 */
	pushq	%rsi			/* RSP */
	pushq	$0x3002			/* RFLAGS: IOPL=3, reserved bit 1, IF=0 */
	pushq	$0x23			/* CS = user code | RPL 3 */
	pushq	%rax			/* RIP */
	mov	%rdx, %rsi		/* arg1: cpu */
	xor	%eax, %eax
	xor	%ecx, %ecx
	xor	%edx, %edx
	iretq

/*
 * Exception stubs: each pushes a dummy error code where the CPU pushes none
 * (SDM Vol. 3A 6.13), then the vector, and jumps to isr_common, which reports
 * {vector, error code, RIP, CR2} to the VMM with COWVM_HC_EXCEPTION and stops.
 */
.macro ISR_NOERR n
	.globl isr\n
isr\n:	pushq	$0
	pushq	$\n
	jmp	isr_common
.endm
.macro ISR_ERR n
	.globl isr\n
isr\n:	pushq	$\n
	jmp	isr_common
.endm
ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
/* #UD doubles as the system-call gate: see isr6 below. */
ISR_NOERR 7
ISR_ERR   8
ISR_NOERR 9
ISR_ERR   10
ISR_ERR   11
ISR_ERR   12
ISR_ERR   13
ISR_ERR   14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR   17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_ERR   21
ISR_NOERR 22
ISR_NOERR 23
ISR_NOERR 24
ISR_NOERR 25
ISR_NOERR 26
ISR_NOERR 27
ISR_NOERR 28
ISR_ERR   29
ISR_ERR   30
ISR_NOERR 31

/*
 * Gates into ring 0. `int N` and SYSCALL from ring 3 do not reach a non-PVM
 * guest kernel on PVM-based hosts (seen: `int $0x80` raises #UD, SYSCALL
 * stays in user mode), but exceptions are delivered through the IDT
 * everywhere. So a gate is `ud2` followed by two marker bytes, "CS" for a
 * system call (kernel_syscall.c) or "CX" for a chaos operation (kernel.c),
 * with RAX = number and RDI = argument; the #UD handler recognises the
 * marker, calls kernel_gate(gate, nr, arg) in ring 0 and returns past the
 * marker with the result in RAX. Any other #UD is reported as an exception.
 * Stack on entry: [0] RIP, [8] CS, [16] RFLAGS, [24] RSP, [32] SS (40
 * bytes from a 16-byte aligned top); the gate slot and 8 pushes keep RSP
 * 16-byte aligned at the call.
 */
	.globl isr6
isr6:	push	%rax
	mov	8(%rsp), %rax		/* faulting RIP */
	cmpw	$0x0b0f, (%rax)		/* ud2 */
	jne	1f
	cmpb	$0x43, 2(%rax)		/* 'C' */
	jne	1f
	movzbl	3(%rax), %eax		/* 'S' or 'X' */
	cmp	$0x53, %eax
	je	2f
	cmp	$0x58, %eax
	jne	1f
2:	addq	$4, 8(%rsp)		/* resume after the marker */
	xchg	%rax, (%rsp)		/* [rsp] = gate, rax = nr again */
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	mov	%rdi, %rdx		/* arg */
	mov	%rax, %rsi		/* nr */
	mov	64(%rsp), %rdi		/* gate */
	call	kernel_gate
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	add	$8, %rsp		/* the gate slot */
	iretq
1:	pop	%rax
	pushq	$0
	pushq	$6
	jmp	isr_common

/* Stack here: [0] vector, [8] error code, [16] RIP, [24] CS, [32] RFLAGS. */
isr_common:
	sub	$56, %rsp		/* struct cowvm_hcall: nr, args[5], ret */
	movq	$3, 0(%rsp)		/* COWVM_HC_EXCEPTION */
	mov	56(%rsp), %rax
	mov	%rax, 8(%rsp)		/* a0 = vector */
	mov	64(%rsp), %rax
	mov	%rax, 16(%rsp)		/* a1 = error code */
	mov	72(%rsp), %rax
	mov	%rax, 24(%rsp)		/* a2 = RIP */
	mov	%cr2, %rax
	mov	%rax, 32(%rsp)		/* a3 = CR2 */
	mov	88(%rsp), %rax
	mov	%rax, 40(%rsp)		/* a4 = RFLAGS at the fault */
	movq	$0, 48(%rsp)
	mov	%rsp, %rax		/* ring-0 stacks live below 1 MiB */
	mov	$0x500, %dx		/* COWVM_HC_PORT */
	outl	%eax, (%dx)
2:	hlt				/* the VMM stops the VM; never resume */
	jmp	2b

	.section .rodata
	.globl isr_table
	.balign 8
isr_table:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr\n
	.endr

	.section .note.GNU-stack, "", @progbits
