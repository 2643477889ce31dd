/* Helpers shared by the payload guests (64-bit, no stack frames, no exceptions). */
	.code64
	.text
/* puts: print the NUL-terminated string at %rsi to COM1. Clobbers rax, rdx, rsi. */
	.globl puts
puts:
	mov $0x3f8, %dx
1:	lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:	ret

/* puthex: print %rdi as 16 hex digits to COM1. Clobbers rax, rcx, rdx, rdi. */
	.globl puthex
puthex:
	mov $0x3f8, %dx
	mov $16, %ecx
1:	rol $4, %rdi
	mov %edi, %eax
	and $0xf, %eax
	cmp $10, %eax
	jb 2f
	add $('a' - '0' - 10), %eax
2:	add $'0', %eax
	out %al, %dx
	dec %ecx
	jnz 1b
	ret

/* reset: ask the i8042 to pulse the reset line; vireo exits 0. */
	.globl reset
reset:
	mov $0xfe, %al
	out %al, $0x64
1:	hlt
	jmp 1b
