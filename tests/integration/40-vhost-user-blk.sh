#!/bin/bash
# kvm: none
# SPDX-License-Identifier: MIT
# Linux-driver suite for vhost-user-blk: QEMU TCG boots the guest kernel with
# -device vhost-user-blk-pci (two queues) and tests/guest/init-blk.sh checks size, serial,
# read-only flag, data integrity, ext2, discard, write-zeroes and multiqueue. Run against
# qemu-storage-daemon (proves the suite) and `vireo backend blk`. Host-side checks use
# cmp on the image, debugfs/e2fsck (e2fsprogs) for the filesystem and stat for holes.
set -u
. "$(dirname "$0")/lib/vhost-user.sh"
vu_require
command -v gcc >/dev/null || skip "gcc missing (builds the guest's blkzero helper)"
. "$(dirname "$0")/lib/blk-checks.sh"
SERIAL=$BLK_SERIAL
blk_prepare || exit 1
pattern=$blk_pattern
initrd=$blk_initrd

start_backend() { # KIND IMG SOCK MODE LOG -> sets bpid
	local kind=$1 img=$2 sock=$3 mode=$4 log=$5
	rm -f "$sock"
	if [ "$kind" = qsd ]; then
		local w=on
		[ "$mode" = ro ] && w=off
		qemu-storage-daemon \
			--blockdev "driver=file,node-name=f,filename=$img,discard=unmap" \
			--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$sock,writable=$w,num-queues=2" \
			>"$log" 2>&1 &
	else
		local ro=""
		[ "$mode" = ro ] && ro=",readonly=on"
		"$VIREO" backend blk --socket "$sock" \
			--disk "path=$img,serial=$SERIAL,queues=2$ro" >"$log" 2>&1 &
	fi
	bpid=$!
	vu_pids+=("$bpid")
	vu_wait_socket "$sock" "$bpid"
}

# Same back-end, more front-ends: QEMU killed in the middle of I/O, then a guest that reboots
# (device reset and set up again over the same connection).
rw_extra_runs() { # KIND SOCK
	local kind=$1 sock=$2 log=$WORK/$1-stress.console.log
	VU_BG=1 vu_qemu "$log" "$initrd" "vt.mode=stress" -chardev "socket,id=c0,path=$sock" \
		-device vhost-user-blk-pci,chardev=c0,num-queues=2
	local i
	for i in $(seq 1 600); do
		grep -aq 'VT: stress=started' "$log" && break
		kill -0 "$vu_qemu_pid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 1
	if grep -aq 'VT: stress=started' "$log"; then ok "$kind stress: guest I/O running"; else notok "$kind stress: guest I/O never started (log $log)"; fi
	vu_qemu_kill9
	sleep 0.5
	if kill -0 "$bpid" 2>/dev/null; then ok "$kind stress: back-end survived QEMU killed mid-I/O"; else notok "$kind stress: back-end died with QEMU"; fi

	log=$WORK/$kind-reboot.console.log
	VU_REBOOT=1 vu_qemu "$log" "$initrd" "vt.mode=reboot" -chardev "socket,id=c0,path=$sock" \
		-device vhost-user-blk-pci,chardev=c0,num-queues=2
	check_eq "$kind reboot: qemu exit status" "$?" 0
	check_eq "$kind reboot: first boot" "$(vt_get "$log" reboot)" first
	check_eq "$kind reboot: second boot found the mark" "$(grep -ao 'VT: reboot=second' "$log" | head -n1)" "VT: reboot=second"
	check_eq "$kind reboot: pattern after the reset" "$(vt_get "$log" reboot_sha)" "$(sha256sum "$pattern" | cut -d' ' -f1)"
}

suite() { # KIND
	local kind=$1 img=$WORK/$1.img sock=$WORK/$1.sock
	blk_make_image "$img"
	local blocks_before
	blocks_before=$(stat -c %b "$img")

	# read-write run
	local log=$WORK/$kind-rw.console.log blog=$WORK/$kind-rw.backend.log
	if ! start_backend "$kind" "$img" "$sock" rw "$blog"; then
		notok "$kind: backend did not start (log $blog)"
		cat "$blog"
		return
	fi
	vu_qemu "$log" "$initrd" "vt.mode=rw" -chardev "socket,id=c0,path=$sock" \
		-device vhost-user-blk-pci,chardev=c0,num-queues=2
	local qrc=$?
	rw_extra_runs "$kind" "$sock"
	vu_stop "$bpid"
	local brc=$vu_rc
	check_eq "$kind rw: qemu exit status" "$qrc" 0
	check_eq "$kind rw: backend exit status after SIGTERM" "$brc" 0
	local serial=""
	[ "$kind" = vireo ] && serial=$SERIAL
	blk_check_rw "$kind" "$img" "$log" "$blocks_before" "$serial"
	[ "$kind" = vireo ] && blk_check_queues "$kind rw" "$blog"

	# read-only run on the same image
	log=$WORK/$kind-ro.console.log
	blog=$WORK/$kind-ro.backend.log
	if ! start_backend "$kind" "$img" "$sock" ro "$blog"; then
		notok "$kind: read-only backend did not start"
		return
	fi
	vu_qemu "$log" "$initrd" "vt.mode=ro" -chardev "socket,id=c0,path=$sock" \
		-device vhost-user-blk-pci,chardev=c0,num-queues=2
	qrc=$?
	vu_stop "$bpid"
	brc=$vu_rc
	check_eq "$kind ro: qemu exit status" "$qrc" 0
	check_eq "$kind ro: backend exit status" "$brc" 0
	blk_check_ro "$kind" "$log"
}

if command -v qemu-storage-daemon >/dev/null; then
	suite qsd
else
	echo "# qemu-storage-daemon missing: peer run skipped"
fi
if [ -n "${VIREO:-}" ] && "$VIREO" backend blk --help >/dev/null 2>&1; then
	suite vireo
else
	notok "vireo backend blk not available ($VIREO)"
fi
exit $vu_fail
