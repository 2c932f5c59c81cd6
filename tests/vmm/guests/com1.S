/*
 * com1.S - ring-0 test guest: writes a line to COM1 one OUT per byte, then a
 * second line with `rep outsb`, then exits with status 7 through the port
 * hypercall. Exercises the serial device, string I/O and --guest.
 */
	.section .text.entry, "ax"
	.globl _start
_start:
	lea	msg(%rip), %rsi
	mov	$0x3f8, %dx
1:	lodsb
	test	%al, %al
	jz	2f
	outb	%al, (%dx)
	jmp	1b
2:	lea	msg2(%rip), %rsi
	mov	$msg2_len, %ecx
	rep outsb
	/* struct cowvm_hcall on the stack: nr = EXIT, a0 = 7 */
	sub	$56, %rsp
	movq	$2, 0(%rsp)
	movq	$7, 8(%rsp)
	mov	%rsp, %rax
	mov	$0x500, %dx
	outl	%eax, (%dx)
3:	hlt
	jmp	3b

	.section .rodata
msg:	.asciz "COM1 says hi\n"
msg2:	.ascii "rep outsb too\n"
	.set msg2_len, . - msg2
	.section .note.GNU-stack, "", @progbits
