/*
 * A PVH payload (32-bit protected mode entry, EBX = hvm_start_info): checks the start_info
 * magic, prints one line, then resets (i8042) or, under QEMU, exits through isa-debug-exit.
 * Used by the startup benchmark (vireo and QEMU microvm run the same file) and the PVH test.
 */
	.section .note.Xen, "a"
	.align 4
	.long 4          /* namesz */
	.long 4          /* descsz */
	.long 18         /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start

	.code32
	.text
	.globl pvh_start
pvh_start:
	mov $0x3f8, %dx
	cmpl $0x336ec578, (%ebx)     /* hvm_start_info magic */
	jne bad
	lea msg, %esi
	jmp print
bad:	lea badmsg, %esi
print:	lodsb
	test %al, %al
	jz done
	out %al, %dx
	jmp print
done:	mov $0xfe, %al
	out %al, $0x64               /* vireo: i8042 reset -> exit 0 */
	mov $0x0, %al
	out %al, $0xf4               /* QEMU isa-debug-exit */
1:	cli
	hlt
	jmp 1b
	.section .rodata
msg:	.asciz "pvh: hello, start_info magic ok\n"
badmsg:	.asciz "pvh: bad start_info magic\n"
