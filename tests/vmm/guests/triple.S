/*
 * triple.S - ring-0 test guest that triple-faults: the VMM starts it with an
 * empty IDT (limit 0), so #UD cannot be delivered, nor the #GP/#DF that
 * follow: the CPU shuts down (KVM_EXIT_SHUTDOWN).
 */
	.section .text.entry, "ax"
	.globl _start
_start:
	ud2
	.section .note.GNU-stack, "", @progbits
