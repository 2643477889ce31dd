#!/usr/bin/env bash
# kvm: full
# Real disks through SeaBIOS: `vireo run --firmware bios.bin --disk path=IMG` with disks made
# here by tests/guest/mkbootdisk.sh from Debian's boot loaders (SYSLINUX on FAT16 with its MBR;
# GRUB for BIOS: boot.img + core.img, modules and grub.cfg on ext2). SeaBIOS reads the MBR
# through its own virtio-blk driver, the loader reads the kernel and initramfs through INT 13h,
# and Linux (the shared bzImage, entered through its real-mode setup code) boots to
# tests/guest/init-acpi.sh. Asserted, from what the firmware, the loaders and the kernel printed:
#   - SeaBIOS found the virtio-blk disk; the loader's banner; the kernel's command line names
#     the loader's image (BOOT_IMAGE=...) and the /init marker came back;
#   - the ACPI tables came through fw_cfg's table-loader: SeaBIOS put the RSDP in the F-segment
#     (not vireo's direct-boot 0xE0000), and the DSDT, MADT and MCFG the guest read are byte for
#     byte the ones acpi-dump builds (what a direct boot gets);
#   - 2 CPUs from the MADT; the PIT on IOAPIC pin 2 and the LAPIC timer ticking (the bug this
#     suite was written for: "APIC timer disabled due to verification failure", the clock
#     stopping); no ACPI errors, firmware bugs, warnings or call traces;
#   - busybox `poweroff -f` is ACPI S5: vireo exits 0.
set -u
export PATH=$PATH:/usr/sbin:/sbin # sfdisk, mkfs.fat, mke2fs (the L1's PATH has only /bin)
. "$SRC_DIR/tests/integration/lib/guest.sh"
guest_require
BIOS=${SEABIOS_BIN:-/usr/share/seabios/bios.bin}
[ -r "$BIOS" ] || { echo "skip: $BIOS not installed (Debian package seabios)"; exit 77; }
DUMP=$BUILD_DIR/tests/acpi-dump
[ -x "$DUMP" ] || { echo "not ok - $DUMP is not built"; exit 1; }
for t in sfdisk mkfs.fat syslinux mcopy mke2fs grub-mkimage; do
	command -v $t >/dev/null || { echo "skip: $t not installed (./dev.sh setup)"; exit 77; }
done

TOKEN="t$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
CPUS=2
guest_initrd "$WORK/initrd.gz" "$SRC_DIR/tests/guest/init-acpi.sh" || exit 1
mkdir -p "$WORK/tables"
"$DUMP" --cpus $CPUS --memory 512M "$WORK/tables" || { echo "not ok - acpi-dump"; exit 1; }

# NAME LOADER BANNER-REGEX IMAGE-NAME
disk_boot() {
	local name=$1 loader=$2 banner=$3 image=$4
	local cmdline="console=ttyS0 quiet panic=-1 vt.marker=$TOKEN-$name vt.end=poweroff"
	if ! "$SRC_DIR/tests/guest/mkbootdisk.sh" "$loader" "$WORK/$name.img" "$GUEST_DIR/bzImage" \
		"$WORK/initrd.gz" "$cmdline" >"$WORK/$name.mkdisk.log" 2>&1; then
		notok "$name: make the disk"
		cat "$WORK/$name.mkdisk.log"
		return
	fi
	ok "$name: disk made with $loader"
	guest_boot "$name" 500 --firmware "$BIOS" --disk "path=$WORK/$name.img" --cpus $CPUS \
		--memory 512M --log-level info --firmware-log "$WORK/$name.fw.log"
	local rc=$? c=$WORK/$name.console
	check_eq "$name: vireo exit status" "$rc" 0
	grep -q 'found virtio-blk' "$WORK/$name.fw.log" && ok "$name: SeaBIOS found the virtio-blk disk" ||
		notok "$name: SeaBIOS did not find the disk"
	grep -qaE "$banner" "$c" && ok "$name: $loader ran" || notok "$name: no '$banner' on the console"
	if grep -qE "^VT-LOG: .*Command line: BOOT_IMAGE=$image .*vt.marker=$TOKEN-$name" "$c"; then
		ok "$name: the kernel got $loader's command line"
	else
		notok "$name: no 'Command line: BOOT_IMAGE=$image ...' from the kernel"
	fi
	check_eq "$name: /init ran" "$(vt_val "$name" marker)" "$TOKEN-$name"
	check_eq "$name: CPUs" "$(vt_val "$name" cpus)" $CPUS
	if grep -qE '^VT-LOG: .*ACPI: RSDP 0x0+F[0-9A-F]{4} 000024 \(v02 VIREO \)' "$c"; then
		ok "$name: SeaBIOS placed vireo's RSDP in the F-segment"
	else
		notok "$name: no 'ACPI: RSDP 0x...F.... (v02 VIREO )' line"
	fi
	check_eq "$name: DSDT OEM ID" "$(vt_val "$name" dsdt_oem)" "VIREO "
	for s in DSDT APIC MCFG; do
		local lc; lc=$(echo "$s" | tr A-Z a-z)
		check_eq "$name: the guest's $s is the direct boot's" "$(vt_val "$name" ${lc}_md5)" \
			"$(md5sum <"$WORK/tables/$s.dat" | cut -d' ' -f1)"
	done
	local scanned; scanned=$(vt_val "$name" dmesg_scanned)
	if [ "${scanned:-0}" -lt 100 ]; then
		notok "$name: /init scanned ${scanned:-no} dmesg lines"
	elif grep -q '^VT-DMESG: ' "$c"; then
		notok "$name: dmesg has lines it must not have:"
		grep '^VT-DMESG: ' "$c" | head -20
	else
		ok "$name: no ACPI errors, firmware bugs, warnings, call traces or APIC timer failure"
	fi
	grep -qE '^VT-LOG: .*\.\.TIMER: vector=0x[0-9a-f]+ apic1=0 pin1=2 ' "$c" &&
		ok "$name: the kernel's timer check found the PIT on IOAPIC pin 2" ||
		notok "$name: no '..TIMER: ... pin1=2' line"
	check_eq "$name: IRQ 0 in /proc/interrupts" "$(vt_val "$name" irq0)" "IO-APIC 2-edge timer"
	check_eq "$name: sleep 1 returned" "$(vt_val "$name" slept)" 1
	local n; n=$(vt_val "$name" loc_delta)
	if [ "${n:-0}" -gt 0 ]; then ok "$name: LAPIC timer ticked during sleep 1 ($n)"; else notok "$name: LOC delta '$n'"; fi
	check_eq "$name: SCI" "$(vt_val "$name" irq9)" "IO-APIC 9-fasteoi acpi"
	grep -q 'guest powered off (ACPI S5)' "$WORK/$name.stderr.log" &&
		ok "$name: poweroff ended vireo through ACPI S5" ||
		notok "$name: vireo did not report S5: $(tail -2 "$WORK/$name.stderr.log")"
}

disk_boot syslinux syslinux 'SYSLINUX [0-9]' /bzimage
disk_boot grub grub 'GRUB loading' /boot/bzImage
exit $guest_fail
