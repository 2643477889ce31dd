#!/bin/bash
# kvm: any
# SPDX-License-Identifier: MIT
# `vireo run --disk vhost-user=SOCKET`: the front-end side. SeaBIOS boots
# tests/guest/mbr/mbr.S from a vhost-user-blk disk served by `vireo backend blk` and by
# qemu-storage-daemon: SeaBIOS's own virtio-blk driver does CHS reads, LBA reads and an LBA
# write through vireo's virtio-pci transport, the front-end hands the rings and guest RAM to
# the back-end, and the back-end does the I/O. Checks the MBR's PASS line, exit status 0,
# the marker sector in the image, and that the back-end keeps serving a second VM.
set -u
. "$(dirname "$0")/lib/vhost-user.sh"
BIOS=${SEABIOS_BIN:-/usr/share/seabios/bios.bin}
MBR_DIR=$SRC_DIR/tests/guest/mbr
[ -r "$BIOS" ] || skip "$BIOS not installed (Debian package seabios)"
for t in as ld python3; do
	command -v $t >/dev/null || skip "$t not found (binutils/python3 build the MBR disk)"
done
[ -e /dev/kvm ] || skip "no /dev/kvm"

boot() { # KIND IMG SOCK RUN
	local kind=$1 img=$2 sock=$3 run=$4
	timeout 120 "$VIREO" run --firmware "$BIOS" --memory 128M \
		--disk "vhost-user=$sock" \
		--serial "file=$WORK/$kind-$run.serial.log" --firmware-log "$WORK/$kind-$run.fw.log" \
		>"$WORK/$kind-$run.stdout.log" 2>"$WORK/$kind-$run.stderr.log"
	local rc=$?
	check_eq "$kind run $run: vireo exit status" "$rc" 0
	if grep -q "found virtio-blk" "$WORK/$kind-$run.fw.log"; then ok "$kind run $run: SeaBIOS found the virtio-blk disk"; else notok "$kind run $run: SeaBIOS found no virtio-blk disk ($(tail -n1 "$WORK/$kind-$run.stderr.log"))"; fi
	# SeaBIOS's serial console buffers its own output ('.' and newlines) and may flush it in
	# the middle of the line the MBR writes straight to the UART: drop those before matching.
	if tr -d '\r\n.' <"$WORK/$kind-$run.serial.log" | grep -aq "VIREO-MBR: PASS chs=ok lba=ok write=ok"; then
		ok "$kind run $run: MBR PASS chs=ok lba=ok write=ok"
	else
		notok "$kind run $run: MBR line '$(grep -a VIREO-MBR "$WORK/$kind-$run.serial.log")'"
	fi
	if dd if="$img" bs=512 skip=100 count=1 status=none | cmp -s - "$WORK/marker.bin"; then
		ok "$kind run $run: the marker sector is in the image"
	else
		notok "$kind run $run: marker sector missing from the image"
	fi
}

suite() { # KIND
	local kind=$1 img=$WORK/$1.img sock=$WORK/$1.sock blog=$WORK/$1.backend.log
	if ! python3 "$MBR_DIR/mkdisk.py" --src "$MBR_DIR/mbr.S" --work "$WORK" --out "$img" \
		--marker "$WORK/marker.bin" >"$WORK/mkdisk.log" 2>&1; then
		notok "build the MBR disk image"
		cat "$WORK/mkdisk.log"
		return
	fi
	rm -f "$sock"
	if [ "$kind" = qsd ]; then
		qemu-storage-daemon --blockdev "driver=file,node-name=f,filename=$img" \
			--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$sock,writable=on" \
			>"$blog" 2>&1 &
	else
		"$VIREO" backend blk --socket "$sock" --disk "path=$img" -v >"$blog" 2>&1 &
	fi
	local bpid=$!
	vu_pids+=("$bpid")
	if ! vu_wait_socket "$sock" "$bpid"; then
		notok "$kind: back-end did not start (log $blog)"
		return
	fi
	boot "$kind" "$img" "$sock" 1
	dd if=/dev/zero of="$img" bs=512 seek=100 count=1 conv=notrunc status=none
	boot "$kind" "$img" "$sock" 2
	vu_stop "$bpid"
	check_eq "$kind: back-end exit status after SIGTERM" "$vu_rc" 0
	if [ "$kind" = vireo ]; then
		n=$(sed -n 's/.*queue 0: \([0-9]*\) requests.*/\1/p' "$blog" | tail -n1)
		if [ "${n:-0}" -gt 0 ]; then ok "$kind: back-end served $n requests"; else notok "$kind: back-end counted no requests"; fi
		if grep -q "closing connection" "$blog"; then notok "$kind: $(grep 'closing connection' "$blog" | head -n1)"; fi
	fi
}

if command -v qemu-storage-daemon >/dev/null; then suite qsd; fi
suite vireo

# A back-end that is not there: one clear line, usage exit status.
"$VIREO" run --firmware "$BIOS" --memory 64M --disk "vhost-user=$WORK/nothing.sock" \
	>"$WORK/nosock.stdout.log" 2>"$WORK/nosock.stderr.log"
rc=$?
check_eq "missing back-end: exit status" "$rc" 2
if grep -q "vhost-user=$WORK/nothing.sock: connect" "$WORK/nosock.stderr.log"; then ok "missing back-end: one-line reason"; else notok "missing back-end: stderr '$(cat "$WORK/nosock.stderr.log")'"; fi
exit $vu_fail
