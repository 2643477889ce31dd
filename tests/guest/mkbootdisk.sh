#!/bin/bash
# SPDX-License-Identifier: MIT
# Make a BIOS-bootable disk image with a real boot loader from Debian's packages, without loop
# devices or mounts (they may be missing on the host and in the nested L1):
#
#   mkbootdisk.sh syslinux|grub OUT.img KERNEL INITRD CMDLINE
#
# Both images have an MBR partition table with one active partition starting at 1 MiB:
#   syslinux  FAT16 (mkfs.fat --offset), SYSLINUX's own MBR (mbr.bin, chain-loads the active
#             partition's boot sector), SYSLINUX installed with `syslinux --offset` (mtools),
#             files copied with mcopy; syslinux.cfg boots the kernel with the initrd.
#             Packages: syslinux, syslinux-common, mtools, dosfstools, fdisk.
#   grub      ext2 built from a directory (mke2fs -d -E offset), GRUB's boot.img in the MBR and
#             core.img (grub-mkimage: biosdisk, part_msdos, ext2; prefix (hd0,msdos1)/boot/grub)
#             in the gap after it; the rest of GRUB's modules and grub.cfg on the ext2.
#             boot.img as shipped loads core.img from LBA 1, and grub-mkimage writes
#             core.img's own block list (start LBA 2, its length): what grub-bios-setup would
#             write for this layout, so no device access is needed.
#             Packages: grub-pc-bin, grub-common, e2fsprogs, fdisk.
# The loaders print to the screen, which SeaBIOS sends to COM1 (no VGA in vireo); the kernel
# gets CMDLINE.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
if [ $# -ne 5 ]; then
	echo "usage: $0 syslinux|grub OUT.img KERNEL INITRD CMDLINE" >&2
	exit 2
fi
kind=$1 out=$2 kernel=$3 initrd=$4 cmdline=$5
SIZE_MB=64
START=2048 # first sector of the partition (1 MiB)
PART_KB=$(((SIZE_MB * 1024) - START / 2))

need() { for t in "$@"; do command -v "$t" >/dev/null || { echo "mkbootdisk: $t not found" >&2; exit 3; }; done; }

rm -f "$out"
truncate -s ${SIZE_MB}M "$out"
case "$kind" in
syslinux)
	need sfdisk mkfs.fat syslinux mcopy
	mbr=/usr/lib/syslinux/mbr/mbr.bin
	[ -r $mbr ] || { echo "mkbootdisk: $mbr missing (syslinux-common)" >&2; exit 3; }
	echo "start=$START, type=e, bootable" | sfdisk -q "$out"
	mkfs.fat -F 16 -n VIREO --offset $START "$out" $PART_KB >/dev/null
	syslinux --install --offset $((START * 512)) "$out"
	dd if=$mbr of="$out" bs=440 count=1 conv=notrunc status=none
	cfg=$(mktemp)
	cat >"$cfg" <<EOF
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /bzimage
  INITRD /initrd.gz
  APPEND $cmdline
EOF
	export MTOOLS_SKIP_CHECK=1
	mcopy -i "$out@@$((START * 512))" "$kernel" ::/bzimage
	mcopy -i "$out@@$((START * 512))" "$initrd" ::/initrd.gz
	mcopy -i "$out@@$((START * 512))" "$cfg" ::/syslinux.cfg
	rm -f "$cfg"
	;;
grub)
	need sfdisk mke2fs grub-mkimage
	lib=/usr/lib/grub/i386-pc
	[ -r $lib/boot.img ] || { echo "mkbootdisk: $lib missing (grub-pc-bin)" >&2; exit 3; }
	echo "start=$START, type=83, bootable" | sfdisk -q "$out"
	stage=$(mktemp -d)
	trap 'rm -rf "$stage"' EXIT
	mkdir -p "$stage/boot/grub/i386-pc"
	cp $lib/*.mod $lib/*.lst "$stage/boot/grub/i386-pc/"
	cp "$kernel" "$stage/boot/bzImage"
	cp "$initrd" "$stage/boot/initrd.gz"
	cat >"$stage/boot/grub/grub.cfg" <<EOF
set timeout=0
echo 'GRUB: loading the kernel'
linux /boot/bzImage $cmdline
initrd /boot/initrd.gz
boot
EOF
	mke2fs -q -F -t ext2 -L VIREO -d "$stage" -E offset=$((START * 512)) "$out" ${PART_KB}k
	grub-mkimage -O i386-pc -o "$stage/core.img" -p '(hd0,msdos1)/boot/grub' \
		biosdisk part_msdos ext2
	core_sectors=$((($(stat -c %s "$stage/core.img") + 511) / 512))
	if [ $((1 + core_sectors)) -gt $START ]; then
		echo "mkbootdisk: core.img ($core_sectors sectors) does not fit before the partition" >&2
		exit 1
	fi
	dd if=$lib/boot.img of="$out" bs=440 count=1 conv=notrunc status=none
	dd if="$stage/core.img" of="$out" bs=512 seek=1 conv=notrunc status=none
	;;
*)
	echo "mkbootdisk: unknown loader '$kind' (syslinux or grub)" >&2
	exit 2
	;;
esac
