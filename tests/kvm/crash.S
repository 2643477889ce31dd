/* Raises #UD in kernel mode: vireo must exit 1 with a register dump, never hang. */
	.code64
	.text
	.globl _start
_start:
	mov $0x3f8, %dx
	mov $'!', %al
	out %al, %dx
	mov $0x1234567890abcdef, %rbx
	ud2
