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
#   - 2 CPUs from the MADT (the tables are acpi-dump's for 2 CPUs); the PIT on IOAPIC pin 2 and the LAPIC timer ticking; with
#     `noapictimer` (GRUB disk) the PIT itself ticking through IOAPIC pin 2 (the bug this suite
#     was written for: KVM's GSI 0 went to pin 0 while the tables named pin 2, so the clock
#     stopped); no ACPI errors, firmware bugs, warnings or call traces;
#   - busybox `poweroff -f` is ACPI S5: vireo exits 0;
#   - with `acpi=off noapictimer` (SYSLINUX disk, 1 vCPU) Linux uses SeaBIOS's own MP table,
#     and the PIT ticks through the pin that table names; `reboot -f` ends vireo with status 0.
set -u
export PATH=$PATH:/usr/sbin:/sbin # sfdisk, mkfs.fat, mke2fs (the L1's PATH has only /bin)
. "$SRC_DIR/tests/integration/lib/guest.sh"
. "$SRC_DIR/tests/integration/lib/acpi.sh"
guest_require
BIOS=${SEABIOS_BIN:-/usr/share/seabios/bios.bin}
[ -r "$BIOS" ] || { echo "skip: $BIOS not installed (Debian package seabios)"; exit 77; }
DUMP=$BUILD_DIR/tests/acpi-dump
[ -x "$DUMP" ] || { echo "not ok - $DUMP is not built"; exit 1; }
for t in sfdisk mkfs.fat syslinux mcopy mke2fs grub-mkimage; do
	command -v $t >/dev/null || { echo "skip: $t not installed (./dev.sh setup)"; exit 77; }
done

TOKEN="t$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
guest_initrd "$WORK/initrd.gz" "$SRC_DIR/tests/guest/init-acpi.sh" || exit 1
mkdir -p "$WORK/tables"
"$DUMP" --cpus 2 --memory 512M "$WORK/tables" || { echo "not ok - acpi-dump"; exit 1; }

# NAME LOADER BANNER-REGEX IMAGE-NAME CPUS END(poweroff|reboot) ACPI(1|0) EXTRA-CMDLINE
disk_boot() {
	local name=$1 loader=$2 banner=$3 image=$4 cpus=$5 end=$6 acpi=$7 extra=$8
	local cmdline="console=ttyS0 quiet panic=-1 vt.marker=$TOKEN-$name vt.end=$end $extra"
	if ! "$SRC_DIR/tests/guest/mkbootdisk.sh" "$loader" "$WORK/$name.img" "$GUEST_DIR/bzImage" \
		"$WORK/initrd.gz" "$cmdline" >"$WORK/$name.mkdisk.log" 2>&1; then
		notok "$name: make the disk"
		cat "$WORK/$name.mkdisk.log"
		return
	fi
	ok "$name: disk made with $loader"
	guest_boot "$name" 500 --firmware "$BIOS" --disk "path=$WORK/$name.img" --cpus "$cpus" \
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
	check_eq "$name: /init ran" "$(vt_get "$WORK/$name.console" marker)" "$TOKEN-$name"
	check_eq "$name: CPUs" "$(vt_get "$WORK/$name.console" cpus)" "$cpus"
	acpi_dmesg_clean "$name"
	acpi_timers_ok "$name" "$extra"
	if [ "$acpi" = 1 ]; then
		if grep -qE '^VT-LOG: .*ACPI: RSDP 0x0+F[0-9A-F]{4} 000024 \(v02 VIREO \)' "$c"; then
			ok "$name: SeaBIOS placed vireo's RSDP in the F-segment"
		else
			notok "$name: no 'ACPI: RSDP 0x...F.... (v02 VIREO )' line"
		fi
		check_eq "$name: DSDT OEM ID" "$(vt_get "$WORK/$name.console" dsdt_oem)" "VIREO "
		acpi_tables_match "$name" "$WORK/tables"
		check_eq "$name: SCI" "$(vt_get "$WORK/$name.console" irq9)" "IO-APIC 9-fasteoi acpi"
	else
		# SeaBIOS's own MP table (it builds one, vireo's is for direct boot only)
		check_eq "$name: no ACPI tables" "$(vt_get "$WORK/$name.console" tables)" ""
		if grep -qE '^VT-LOG: .*found SMP MP-table at \[mem 0x000f[0-9a-f]{4}' "$c" &&
			grep -qE "^VT-LOG: .*Processors: $cpus\$" "$c"; then
			ok "$name: the kernel used SeaBIOS's MP table ($cpus processors)"
		else
			notok "$name: no 'found SMP MP-table at [mem 0x000f....' / 'Processors: $cpus' lines"
		fi
	fi
	acpi_ended "$name" "$end"
}

disk_boot syslinux syslinux 'SYSLINUX [0-9]' /bzimage 2 poweroff 1 ""
# the PIT as the only clock event device, through the pin vireo's MADT names
disk_boot grub-pit grub 'GRUB loading' /boot/bzImage 2 poweroff 1 "noapictimer"
# and through the pin SeaBIOS's MP table names (fw_cfg IRQ0_OVERRIDE). One vCPU: SeaBIOS lists
# only the first logical CPU of each package in its MP table, and vireo's CPUID puts all vCPUs
# in one package, so an acpi=off guest would see one CPU anyway.
disk_boot syslinux-mptable syslinux 'SYSLINUX [0-9]' /bzimage 1 reboot 0 "acpi=off noapictimer"
exit $guest_fail
