/* Prints a line, checks a PIO round trip through the UART scratch register, resets. */
	.code64
	.text
	.globl _start
_start:
	mov $0x90000, %rsp
	lea msg(%rip), %rsi
	call puts
	/* PIO round trip: scratch register (COM1 + 7) keeps what was written. */
	mov $0x3ff, %dx
	mov $0xa5, %al
	out %al, %dx
	xor %eax, %eax
	in %dx, %al
	cmp $0xa5, %al
	jne 1f
	mov $0x3ff, %dx
	mov $0x5a, %al
	out %al, %dx
	in %dx, %al
	cmp $0x5a, %al
	jne 1f
	lea ok(%rip), %rsi
	call puts
	call reset
1:	lea bad(%rip), %rsi
	call puts
	call reset

	.section .rodata
msg:	.asciz "payload: hello from a 64-bit guest\n"
ok:	.asciz "payload: pio scratch round trip ok\n"
bad:	.asciz "payload: pio scratch round trip FAILED\n"
