/*
 * A PVH payload (32-bit protected mode entry, EBX = hvm_start_info): checks the start_info
 * magic, prints one line, then the command line from start_info.cmdline_paddr and the number
 * of memory map entries, then resets (i8042) or, under QEMU, exits through isa-debug-exit.
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
	lea stack_top, %esp          /* the PVH ABI gives no stack */
	mov $0x3f8, %dx
	cmpl $0x336ec578, (%ebx)     /* hvm_start_info magic */
	jne bad
	lea msg, %esi
	call puts
	jmp done
bad:	lea badmsg, %esi
	call puts
	jmp reset
done:	lea cmdmsg, %esi
	call puts
	mov 24(%ebx), %esi           /* cmdline_paddr (low half: below 4 GiB) */
	test %esi, %esi
	jz 2f
	call puts
2:	lea mapmsg, %esi
	call puts
	mov 48(%ebx), %eax           /* memmap_entries: one decimal digit is enough here */
	cmp $9, %eax
	jbe 3f
	mov $9, %eax
3:	add $'0', %al
	out %al, %dx
	mov $'\n', %al
	out %al, %dx
reset:	mov $0xfe, %al
	out %al, $0x64               /* vireo: i8042 reset -> exit 0 */
	mov $0x0, %al
	out %al, $0xf4               /* QEMU isa-debug-exit */
1:	cli
	hlt
	jmp 1b

puts:	lodsb                        /* print the NUL-terminated string at ESI to COM1 */
	test %al, %al
	jz 1f
	out %al, %dx
	jmp puts
1:	ret
	.section .rodata
msg:	.asciz "pvh: hello, start_info magic ok\n"
badmsg:	.asciz "pvh: bad start_info magic\n"
cmdmsg:	.asciz "pvh: cmdline="
mapmsg:	.asciz "\npvh: memmap entries="
	.section .data
	.align 16
stack:	.fill 256, 1, 0
stack_top:
