/*
 * Several vCPUs: the boot vCPU reads the CPU count from CMOS 0x5f (count - 1), wakes the others
 * with INIT-SIPI-SIPI (in-kernel LAPIC, ICR at 0xfee00300), and waits until each has
 * incremented a counter from the 16-bit trampoline at 0x8000. Then it prints the count.
 */
	.set COUNTER, 0x5000
	.section .trampoline, "ax"
	.code16
	.globl ap_entry
ap_entry:
	cli
	xor %ax, %ax
	mov %ax, %ds
	lock incw (COUNTER)
1:	hlt
	jmp 1b

	.code64
	.text
	.globl _start
_start:
	mov $0x90000, %rsp
	movw $0, COUNTER
	/* CMOS 0x5f: number of CPUs minus one. */
	mov $0x5f, %al
	out %al, $0x70
	in $0x71, %al
	movzbl %al, %ebx
	lea msg_n(%rip), %rsi
	call puts
	mov %rbx, %rdi
	call puthex
	lea nl(%rip), %rsi
	call puts
	/* INIT to all but self, then two SIPIs with vector 0x08 (-> 0x8000). */
	mov $0xfee00300, %r8d
	movl $0, 0x10(%r8)
	movl $0x000c4500, (%r8)
	mov $2000, %ecx
1:	dec %ecx
	jnz 1b
	movl $0x000c4608, (%r8)
	mov $2000, %ecx
1:	dec %ecx
	jnz 1b
	movl $0x000c4608, (%r8)
	/* Wait (bounded) for the APs. */
	mov $3000000, %ecx
2:	movzwl COUNTER, %eax
	cmp %ebx, %eax
	jae 3f
	pause
	dec %ecx
	jnz 2b
3:	lea msg_s(%rip), %rsi
	call puts
	movzwl COUNTER, %edi
	call puthex
	lea nl(%rip), %rsi
	call puts
	call reset

	.section .rodata
msg_n:	.asciz "smp: cmos cpus-1 = "
msg_s:	.asciz "smp: aps started = "
nl:	.asciz "\n"
