/* Entry for C payload guests: a stack, payload_main(), then an i8042 reset. */
	.code64
	.text
	.globl _start
_start:
	mov $0x90000, %rsp
	call payload_main
	call reset
