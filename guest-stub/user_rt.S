/* user_rt.S - ring-3 entry: RDI = FDT, RSI = vCPU index (from enter_user). */
	.text
	.globl user_entry
user_entry:
	and	$-16, %rsp
	call	user_main
	mov	%eax, %edi
	call	hc_exit
1:	jmp	1b
	.section .note.GNU-stack, "", @progbits
