/* SPDX-License-Identifier: MIT */
/*
 * vireo's MBR test program: a 512-byte boot sector run by the firmware (SeaBIOS) at 0:7C00.
 * It exercises the BIOS disk services that firmware serves from its own virtio-blk driver:
 *   1. INT 13h AH=02h (CHS): 16 sectors at C0/H0/S2 (LBA 1..16), checksum compared;
 *   2. INT 13h AH=41h (extensions check) + AH=42h (LBA read with a disk address packet):
 *      64 sectors at LBA 17..80, checksum compared;
 *   3. INT 13h AH=43h (LBA write): one marker sector at LBA 100, read back with AH=42h and
 *      compared; the host checks the image afterwards.
 * Output goes straight to COM1 (0x3F8), the result line is
 *   "VIREO-MBR: PASS chs=ok lba=ok write=ok" (or FAIL with the failing step),
 * and the run ends with an i8042 reset (0xFE to port 0x64).
 *
 * mkdisk.py fills the data sectors with a pseudo-random pattern and patches the expected
 * checksums at offsets 0x1F6 (CHS area) and 0x1FA (LBA area); there is no partition table.
 * The checksum over dwords d:
 *   h = 0; for each d: h = (rol(h, 5) ^ d) + 0x9E3779B9   (mod 2^32)
 * Build: as --32 -o mbr.o mbr.S && ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o mbr.bin mbr.o
 */
	.set CHS_SEG, 0x1000
	.set CHS_LBA, 1
	.set CHS_COUNT, 16
	.set LBA_SEG, 0x2000
	.set LBA_LBA, 17
	.set LBA_COUNT, 64
	.set WR_SEG, 0x3000
	.set RB_SEG, 0x4000
	.set WR_LBA, 100

	.code16
	.text
	.globl _start
_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $0x7c00, %sp
	ljmp $0, $start2
start2:
	sti
	cld
	movb %dl, boot_drive

	/* 1. CHS read. */
	movw $CHS_SEG, %ax
	movw %ax, %es
	xorw %bx, %bx
	movw $(0x0200 | CHS_COUNT), %ax
	movw $(CHS_LBA + 1), %cx	/* cylinder 0, sector LBA+1 */
	xorb %dh, %dh
	movb boot_drive, %dl
	int $0x13
	jc 1f
	movw $CHS_SEG, %ax
	movw $(CHS_COUNT * 128), %cx
	call checksum
	cmpl chs_sum, %eax
	jne 1f
	movw $s_ok, res_chs
1:
	/* 2. LBA extensions present? */
	xorw %ax, %ax
	movw %ax, %es
	movb $0x41, %ah
	movw $0x55aa, %bx
	movb boot_drive, %dl
	int $0x13
	jc 3f
	cmpw $0xaa55, %bx
	jne 3f
	testb $1, %cl
	jz 3f
	movw $LBA_COUNT, dap_count
	movw $LBA_SEG, dap_seg
	movw $LBA_LBA, dap_lba
	movb $0x42, %ah
	call int13_dap
	jc 3f
	movw $LBA_SEG, %ax
	movw $(LBA_COUNT * 128), %cx
	call checksum
	cmpl lba_sum, %eax
	jne 3f
	movw $s_ok, res_lba

3:
	/* 3. Build the marker sector at WR_SEG:0: byte i = 3*i + 0x5a, then the marker text. */
	movw $WR_SEG, %ax
	movw %ax, %es
	xorw %di, %di
	xorw %cx, %cx
11:	movb %cl, %al
	addb %cl, %al
	addb %cl, %al
	addb $0x5a, %al
	stosb
	incw %cx
	cmpw $512, %cx
	jb 11b
	movw $marker, %si
	xorw %di, %di
	movw $(marker_end - marker), %cx
	rep movsb
	/* Write it (AH=43h, AL=0: no verify). */
	movw $1, dap_count
	movw $WR_SEG, dap_seg
	movw $WR_LBA, dap_lba
	movw $0x4300, %ax
	call int13_dap
	jc 2f
	/* Read it back into RB_SEG:0 and compare. */
	movw $RB_SEG, dap_seg
	movb $0x42, %ah
	call int13_dap
	jc 2f
	pushw %ds
	movw $WR_SEG, %ax
	movw %ax, %ds
	movw $RB_SEG, %ax
	movw %ax, %es
	xorw %si, %si
	xorw %di, %di
	movw $512, %cx
	repe cmpsb
	popw %ds
	jne 2f
	movw $s_ok, res_wr
2:
	/* Result line. */
	movw $s_pre, %si
	call puts
	movw $s_pass, %si
	movw $s_ok, %ax
	cmpw %ax, res_chs
	jne 4f
	cmpw %ax, res_lba
	jne 4f
	cmpw %ax, res_wr
	je 5f
4:	movw $s_fail, %si
5:	call puts
	movw $s_chs, %si
	call puts
	movw res_chs, %si
	call puts
	movw $s_lba, %si
	call puts
	movw res_lba, %si
	call puts
	movw $s_wr, %si
	call puts
	movw res_wr, %si
	call puts
	movw $s_nl, %si
	call puts
	/* Reset through the i8042: the VMM exits. */
	movb $0xfe, %al
	outb %al, $0x64
6:	cli
	hlt
	jmp 6b

/* INT 13h with AH set by the caller, DS:SI = the DAP. */
int13_dap:
	xorw %si, %si
	movw %si, %es
	movw $dap, %si
	movb boot_drive, %dl
	int $0x13
	ret

/* eax = checksum of cx dwords at ax:0. */
checksum:
	pushw %ds
	movw %ax, %ds
	xorw %si, %si
	xorl %eax, %eax
7:	roll $5, %eax
	xorl (%si), %eax
	addl $0x9e3779b9, %eax
	addw $4, %si
	loop 7b
	popw %ds
	ret

/* Print the NUL-terminated string at DS:SI on COM1. */
puts:
	lodsb
	testb %al, %al
	jz 9f
	movb %al, %ah
	movw $0x3fd, %dx
	movw $0x4000, %cx
8:	inb %dx, %al
	testb $0x20, %al	/* THR empty */
	jnz 10f
	loop 8b
10:	movb %ah, %al
	movw $0x3f8, %dx
	outb %al, %dx
	jmp puts
9:	ret

boot_drive: .byte 0
dap:	.byte 0x10, 0
dap_count: .word 0
dap_off: .word 0
dap_seg: .word 0
dap_lba: .long 0, 0
res_chs: .word s_bad
res_lba: .word s_bad
res_wr: .word s_bad
s_pre: .asciz "VIREO-MBR: "
s_pass: .asciz "PASS"
s_fail: .asciz "FAIL"
s_chs: .asciz " chs="
s_lba: .asciz " lba="
s_wr: .asciz " write="
s_ok: .asciz "ok"
s_bad: .asciz "bad"
s_nl: .asciz "\r\n"
marker: .ascii "VIREO-MARKER\n"
marker_end:

	.org 0x1f6
chs_sum: .long 0
lba_sum: .long 0
	.org 0x1fe
	.word 0xaa55
