/*
 * A guest that stays up until it is stopped, for the API tests: prints a ready line, then
 * sleeps in HLT and echoes serial input in upper case, woken by the UART's receive interrupt
 * (IRQ4 through the 8259 PIC: LINT0 is ExtINT). "spin: ready" appears once per boot, so a
 * vm.reboot shows as a second line.
 */
	.code64
	.text
	.globl _start
_start:
	mov $0x90000, %rsp
	lea ready(%rip), %rsi
	call puts

	/* IDT gate 0x24 (PIC vector base 0x20 + IRQ4) -> isr, 64-bit interrupt gate, DPL 0. */
	lea idt(%rip), %rdi
	add $(0x24 * 16), %rdi
	lea isr(%rip), %rax
	mov %ax, (%rdi)
	mov %cs, %dx
	mov %dx, 2(%rdi)
	movw $0x8e00, 4(%rdi)
	shr $16, %rax
	mov %ax, 6(%rdi)
	shr $16, %rax
	mov %eax, 8(%rdi)
	movl $0, 12(%rdi)
	lea idt(%rip), %rax
	mov %rax, idtr_base(%rip)
	lidt idtr(%rip)

	/* 8259 pair: ICW1..ICW4, vectors 0x20/0x28, then mask all but IRQ4. */
	mov $0x11, %al
	out %al, $0x20
	out %al, $0xa0
	mov $0x20, %al
	out %al, $0x21
	mov $0x28, %al
	out %al, $0xa1
	mov $4, %al
	out %al, $0x21
	mov $2, %al
	out %al, $0xa1
	mov $1, %al
	out %al, $0x21
	out %al, $0xa1
	mov $0xef, %al
	out %al, $0x21
	mov $0xff, %al
	out %al, $0xa1

	/* COM1: receive-data interrupt on, OUT2 (routes the IRQ on a PC). */
	mov $0x3f9, %dx
	mov $1, %al
	out %al, %dx
	mov $0x3fc, %dx
	mov $0x08, %al
	out %al, %dx

	sti
1:	hlt
	jmp 1b

isr:
	push %rax
	push %rdx
2:	mov $0x3fd, %dx /* LSR: data ready? */
	in %dx, %al
	test $1, %al
	jz 3f
	mov $0x3f8, %dx
	in %dx, %al
	cmp $'a', %al
	jb 4f
	cmp $'z', %al
	ja 4f
	sub $0x20, %al
4:	out %al, %dx
	jmp 2b
3:	mov $0x20, %al /* EOI */
	out %al, $0x20
	pop %rdx
	pop %rax
	iretq

	.section .rodata
ready:	.asciz "spin: ready\n"

	.data
	.balign 16
idtr:	.word 256 * 16 - 1
idtr_base:
	.quad 0
	.balign 16
idt:	.fill 256 * 16, 1, 0
