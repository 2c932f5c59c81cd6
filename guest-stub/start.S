/* start.S - the guest SDK's ring-3 entry (libcowguest): enter_user (entry.S)
 * lands here with RDI = boot-info FDT address, RSI = vCPU index; align the
 * stack and go to cg_start (start.c), which never returns. */
	.text
	.globl user_entry
user_entry:
	and	$-16, %rsp
	call	cg_start
1:	jmp	1b
	.section .note.GNU-stack, "", @progbits
