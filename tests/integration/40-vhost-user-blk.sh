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

MiB=$((1 << 20))
SERIAL=vireo-vu-test
pattern=$WORK/pattern.bin
head -c $((4 * MiB)) /dev/urandom >"$pattern"
gcc -static -O2 -o "$WORK/blkzero" "$SRC_DIR/tests/guest/blkzero.c" || exit 1
initrd=$WORK/initrd.cpio.gz
"$SRC_DIR/tests/guest/mkinitramfs.sh" "$initrd" "$SRC_DIR/tests/guest/init-blk.sh" \
	"$SRC_DIR/tests/guest/init-common.sh" "$pattern" "$WORK/blkzero" || exit 1

# A fully allocated 64 MiB image; the discard and zero ranges hold non-zero bytes.
make_image() { # IMG
	dd if=/dev/zero of="$1" bs=1M count=64 status=none
	head -c $((4 * MiB)) /dev/zero | tr '\0' '\245' |
		dd of="$1" bs=1M seek=48 conv=notrunc status=none
	head -c $((4 * MiB)) /dev/zero | tr '\0' '\132' |
		dd of="$1" bs=1M seek=56 conv=notrunc status=none
	sync "$1"
}

range_is_zero() { # IMG OFFSET_MIB LEN_MIB
	cmp -s <(dd if="$1" bs=1M skip="$2" count="$3" status=none) <(head -c $(($3 * MiB)) /dev/zero)
}

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
	make_image "$img"
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
	check_eq "$kind rw: guest reached the end" "$(grep -ac 'VT: done' "$log")" 1
	check_eq "$kind rw: size in sectors" "$(vt_get "$log" size)" 131072
	if [ "$kind" = vireo ]; then
		check_eq "$kind rw: serial" "$(vt_get "$log" serial)" "$SERIAL"
	else
		local s
		s=$(vt_get "$log" serial)
		if [ -n "$s" ]; then ok "$kind rw: serial present ($s)"; else notok "$kind rw: no serial"; fi
	fi
	check_eq "$kind rw: read-only flag" "$(vt_get "$log" ro)" 0
	check_eq "$kind rw: blk-mq hardware queues" "$(vt_get "$log" mq)" 2
	local want_sha
	want_sha=$(sha256sum "$pattern" | cut -d' ' -f1)
	check_eq "$kind rw: guest read back its pattern" "$(vt_get "$log" readback_sha)" "$want_sha"
	if cmp -s <(dd if="$img" bs=1M skip=40 count=4 status=none) "$pattern"; then
		ok "$kind rw: image holds the pattern at 40 MiB"
	else
		notok "$kind rw: image differs from the pattern at 40 MiB"
	fi
	check_eq "$kind rw: guest fs" "$(vt_get "$log" fs)" "ok $want_sha"
	if command -v debugfs >/dev/null; then
		check_eq "$kind rw: host debugfs reads hello.txt" \
			"$(debugfs -R 'cat /hello.txt' "$img" 2>/dev/null)" "hello from the guest"
		rm -f "$WORK/fs-pattern.bin"
		debugfs -R "dump /dir/pattern.bin $WORK/fs-pattern.bin" "$img" >/dev/null 2>&1
		if cmp -s "$WORK/fs-pattern.bin" "$pattern"; then
			ok "$kind rw: host debugfs file matches the pattern"
		else
			notok "$kind rw: file from the guest fs differs"
		fi
		if e2fsck -fn "$img" >"$WORK/$kind-fsck.log" 2>&1; then
			ok "$kind rw: e2fsck -fn clean"
		else
			notok "$kind rw: e2fsck found errors (log $WORK/$kind-fsck.log)"
		fi
	else
		echo "# debugfs/e2fsck (e2fsprogs) missing: host-side fs checks skipped"
	fi
	local dmax
	dmax=$(vt_get "$log" discard_max)
	if [ "${dmax:-0}" -gt 0 ]; then ok "$kind rw: guest sees discard ($dmax)"; else notok "$kind rw: no discard support"; fi
	dmax=$(vt_get "$log" write_zeroes_max)
	if [ "${dmax:-0}" -gt 0 ]; then ok "$kind rw: guest sees write-zeroes ($dmax)"; else notok "$kind rw: no write-zeroes support"; fi
	check_eq "$kind rw: blkdiscard" "$(vt_get "$log" discard)" ok
	check_eq "$kind rw: BLKZEROOUT" "$(vt_get "$log" zeroout)" ok
	if range_is_zero "$img" 48 4; then ok "$kind rw: discarded range reads as zeros"; else notok "$kind rw: discarded range not zero"; fi
	if range_is_zero "$img" 56 4; then ok "$kind rw: write-zeroes range is zero"; else notok "$kind rw: write-zeroes range not zero"; fi
	local blocks_after
	blocks_after=$(stat -c %b "$img")
	# 4 MiB were discarded: 8192 blocks, less some slack for the host fs's own extent blocks
	if [ "$blocks_after" -le $((blocks_before - 6144)) ]; then
		ok "$kind rw: discard punched a hole ($blocks_before -> $blocks_after blocks)"
	else
		notok "$kind rw: image blocks $blocks_before -> $blocks_after, no hole"
	fi
	if [ "$kind" = vireo ]; then
		local q
		for q in 0 1; do
			local n
			n=$(sed -n "s/.*queue $q: \([0-9]*\) requests.*/\1/p" "$blog" | tail -n1)
			if [ "${n:-0}" -gt 0 ]; then ok "$kind rw: queue $q served $n requests"; else notok "$kind rw: queue $q served no requests (log $blog)"; fi
		done
	fi

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
	check_eq "$kind ro: read-only flag" "$(vt_get "$log" ro)" 1
	check_eq "$kind ro: guest write refused" "$(vt_get "$log" ro_write)" refused
	check_eq "$kind ro: guest reads the pattern" "$(vt_get "$log" read_sha)" "$want_sha"
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
