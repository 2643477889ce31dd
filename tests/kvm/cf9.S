/* Resets through the PCI reset control register (0xcf9): vireo must exit 0. */
	.code64
	.text
	.globl _start
_start:
	lea msg(%rip), %rsi
	call puts
	mov $0xcf9, %dx
	mov $0x06, %al
	out %al, %dx
1:	hlt
	jmp 1b
	.section .rodata
msg:	.asciz "payload: reset via 0xcf9\n"
