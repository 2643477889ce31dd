#!/usr/bin/env bash
# kvm: any
# SeaBIOS boots tests/guest/mbr/mbr.S from a virtio-blk disk: SeaBIOS's own virtio-pci +
# virtio-blk driver serves the MBR's INT 13h CHS reads, LBA-extension reads and an LBA write.
# Checks: the MBR's PASS line on COM1, exit status 0 (the MBR resets through the i8042), and
# the marker sector the guest wrote is in the image on the host.
set -u
BIOS=${SEABIOS_BIN:-/usr/share/seabios/bios.bin}
MBR_DIR=$SRC_DIR/tests/guest/mbr
if [ ! -r "$BIOS" ]; then
	echo "skip: $BIOS not installed (Debian package seabios)"
	exit 77
fi
for t in as ld python3; do
	if ! command -v $t >/dev/null; then
		echo "skip: $t not found (binutils/python3 build the MBR disk)"
		exit 77
	fi
done
fail=0
check() { if eval "$2"; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }

if ! python3 "$MBR_DIR/mkdisk.py" --src "$MBR_DIR/mbr.S" --work "$WORK" --out "$WORK/disk.img" \
	--marker "$WORK/marker.bin" >"$WORK/mkdisk.log" 2>&1; then
	echo "not ok - build the MBR disk image"
	cat "$WORK/mkdisk.log"
	exit 1
fi
echo "ok - build the MBR disk image"
check "the write sector starts out without the marker" '! dd if=$WORK/disk.img bs=512 skip=100 count=1 status=none | cmp -s - $WORK/marker.bin'

start=$(date +%s.%N)
timeout 120 "$VIREO" run --firmware "$BIOS" --memory 128M \
	--disk "path=$WORK/disk.img" \
	--serial "file=$WORK/serial.log" --firmware-log "$WORK/fw.log" \
	>"$WORK/stdout.log" 2>"$WORK/stderr.log"
rc=$?
end=$(date +%s.%N)
echo "# boot to reset took $(echo "$end - $start" | bc 2>/dev/null || echo '?') s (rc $rc)"

check "exit status 0 (the MBR resets through the i8042)" '[ "$rc" = 0 ]'
check "SeaBIOS found the virtio-blk disk" 'grep -q "found virtio-blk" $WORK/fw.log'
check "SeaBIOS booted from the hard disk" 'grep -aq "Booting from Hard Disk" $WORK/serial.log'
# (SeaBIOS's serial console buffers its own '.' and newlines and may flush them in the middle of
# the line the MBR writes straight to the UART: drop those before matching)
check "MBR result line: PASS chs=ok lba=ok write=ok" 'tr -d "\r\n." <$WORK/serial.log | grep -aq "VIREO-MBR: PASS chs=ok lba=ok write=ok"'
check "the marker sector is in the image on the host" 'dd if=$WORK/disk.img bs=512 skip=100 count=1 status=none | cmp -s - $WORK/marker.bin'
check "the data sectors are unchanged" 'python3 "$MBR_DIR/mkdisk.py" --mbr "$WORK/mbr.bin" --out "$WORK/ref.img" --marker "$WORK/ref.marker" >/dev/null && cmp -s -n 51200 $WORK/disk.img $WORK/ref.img'
if [ $fail != 0 ]; then
	echo "# serial: $(grep -a "VIREO-MBR" $WORK/serial.log)"
fi
exit $fail
