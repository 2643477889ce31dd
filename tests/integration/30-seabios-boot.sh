#!/usr/bin/env bash
# kvm: any
# SeaBIOS boots under vireo with no disk: banner and fw_cfg (with DMA) on the debug console
# (--firmware-log, port 0x402), RAM size and e820 from CMOS + fw_cfg "etc/e820", CPUs from
# fw_cfg, its screen output on COM1 (sercon), "No bootable device" and a reset -> exit 0.
# Both Debian images: bios.bin (128 KiB) and bios-256k.bin (with RAM above 4 GiB).
set -u
BIOS_DIR=${SEABIOS_DIR:-/usr/share/seabios}
if [ ! -r "$BIOS_DIR/bios.bin" ]; then
	echo "skip: $BIOS_DIR/bios.bin not installed (Debian package seabios)"
	exit 77
fi
fail=0
check() { if eval "$2"; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }

run() { # name image mem cpus
	timeout 120 "$VIREO" run --firmware "$BIOS_DIR/$2" --memory "$3" --cpus "$4" \
		--serial "file=$WORK/$1.serial.log" --firmware-log "$WORK/$1.fw.log" \
		>"$WORK/$1.stdout.log" 2>"$WORK/$1.stderr.log"
	echo $? >"$WORK/$1.rc"
}

run b128 bios.bin 256M 2
L=$WORK/b128.fw.log
check "bios.bin: exit status 0 (reset after 'No bootable device')" '[ "$(cat $WORK/b128.rc)" = 0 ]'
check "bios.bin: SeaBIOS banner on the debug console" 'grep -q "^SeaBIOS (version" $L'
check "bios.bin: fw_cfg found with the DMA interface" 'grep -q "Found QEMU fw_cfg" $L && grep -q "QEMU fw_cfg DMA interface supported" $L'
check "bios.bin: RAM below 4 GiB = 256 MiB" 'grep -q "qemu/e820: addr 0x0000000000000000 len 0x0000000010000000 \[RAM\]" $L'
# (SeaBIOS keeps the top of RAM for the ACPI tables it links from vireo's table-loader files:
# reserved, up to 256 MiB)
check "bios.bin: e820 for the OS has RAM 1 MiB..256 MiB less the ACPI tables" 'grep -Eq "0000000000100000 - 000000000ff[0-9a-f]{2}000 = 1 RAM" $L && grep -Eq "000000000ff[0-9a-f]{2}000 - 0000000010000000 = 2 RESERVED" $L'
check "bios.bin: KVM TSS/identity pages reserved" 'grep -q "00000000feffc000 - 00000000ff000000 = 2 RESERVED" $L'
check "bios.bin: 2 CPUs from fw_cfg/CMOS" 'grep -q "Found 2 cpu(s) max supported 2 cpu(s)" $L'
check "bios.bin: init code relocated to high RAM" 'grep -q "^Relocating init from" $L'
check "bios.bin: SeaBIOS screen output on COM1" 'grep -aq "No bootable device" $WORK/b128.serial.log'

if [ -r "$BIOS_DIR/bios-256k.bin" ]; then
	run b256 bios-256k.bin 4G 1
	L=$WORK/b256.fw.log
	check "bios-256k.bin: exit status 0" '[ "$(cat $WORK/b256.rc)" = 0 ]'
	check "bios-256k.bin: banner" 'grep -q "^SeaBIOS (version" $L'
	check "bios-256k.bin: 3 GiB below 4 GiB" 'grep -q "qemu/e820: addr 0x0000000000000000 len 0x00000000c0000000 \[RAM\]" $L'
	check "bios-256k.bin: 1 GiB above 4 GiB from etc/e820" 'grep -q "qemu/e820: addr 0x0000000100000000 len 0x0000000040000000 \[RAM\]" $L'
	check "bios-256k.bin: e820 for the OS has RAM above 4 GiB" 'grep -q "0000000100000000 - 0000000140000000 = 1 RAM" $L'
fi

# A file that is not a BIOS image is a usage error (exit 2) before anything runs.
head -c 1000 /dev/zero >"$WORK/bad.bin"
timeout 20 "$VIREO" run --firmware "$WORK/bad.bin" >"$WORK/bad.stdout.log" 2>"$WORK/bad.stderr.log"
echo $? >"$WORK/bad.rc"
check "bad image: exit status 2" '[ "$(cat $WORK/bad.rc)" = 2 ]'
check "bad image: one-line reason" 'grep -q "not a BIOS image" $WORK/bad.stderr.log'
exit $fail
