# SPDX-License-Identifier: MIT
# The Linux-driver virtio-blk suite's host side, shared by 22-linux-blk.sh (vireo's in-VMM
# device, Linux on vireo) and 40-vhost-user-blk.sh (vhost-user back-ends, Linux under QEMU):
# the guest runs tests/guest/init-blk.sh; these functions build its inputs and check what it
# printed ("VT: key=value" lines) and what it left in the image. Sourced after a library that
# defines ok, notok, check_eq and vt_get (lib/guest.sh or lib/vhost-user.sh); needs $WORK,
# $SRC_DIR.
MiB=$((1 << 20))
BLK_SERIAL=vireo-blk-test

# The 4 MiB pattern, the guest's BLKZEROOUT helper and the initramfs.
blk_prepare() {
	blk_pattern=$WORK/pattern.bin
	head -c $((4 * MiB)) /dev/urandom >"$blk_pattern"
	blk_want_sha=$(sha256sum "$blk_pattern" | cut -d' ' -f1)
	gcc -static -O2 -o "$WORK/blkzero" "$SRC_DIR/tests/guest/blkzero.c" || return 1
	blk_initrd=$WORK/initrd-blk.cpio.gz
	"$SRC_DIR/tests/guest/mkinitramfs.sh" "$blk_initrd" "$SRC_DIR/tests/guest/init-blk.sh" \
		"$SRC_DIR/tests/guest/init-common.sh" "$blk_pattern" "$WORK/blkzero"
}

# A fully allocated 64 MiB image; the discard and zero ranges hold non-zero bytes.
blk_make_image() { # IMG
	dd if=/dev/zero of="$1" bs=1M count=64 status=none
	head -c $((4 * MiB)) /dev/zero | tr '\0' '\245' |
		dd of="$1" bs=1M seek=48 conv=notrunc status=none
	head -c $((4 * MiB)) /dev/zero | tr '\0' '\132' |
		dd of="$1" bs=1M seek=56 conv=notrunc status=none
	sync "$1"
}

blk_range_is_zero() { # IMG OFFSET_MIB LEN_MIB
	cmp -s <(dd if="$1" bs=1M skip="$2" count="$3" status=none) <(head -c $(($3 * MiB)) /dev/zero)
}

# After a read-write run (vt.mode=rw): everything the guest and the image show.
# BLOCKS_BEFORE is `stat -c %b IMG` before the run; SERIAL the expected serial ("" = any).
blk_check_rw() { # KIND IMG LOG BLOCKS_BEFORE SERIAL
	local kind=$1 img=$2 log=$3 blocks_before=$4 serial=$5
	check_eq "$kind rw: guest reached the end" "$(grep -ac 'VT: done' "$log")" 1
	check_eq "$kind rw: size in sectors" "$(vt_get "$log" size)" 131072
	if [ -n "$serial" ]; then
		check_eq "$kind rw: serial" "$(vt_get "$log" serial)" "$serial"
	else
		local s
		s=$(vt_get "$log" serial)
		if [ -n "$s" ]; then ok "$kind rw: serial present ($s)"; else notok "$kind rw: no serial"; fi
	fi
	check_eq "$kind rw: read-only flag" "$(vt_get "$log" ro)" 0
	check_eq "$kind rw: blk-mq hardware queues" "$(vt_get "$log" mq)" 2
	check_eq "$kind rw: guest read back its pattern" "$(vt_get "$log" readback_sha)" "$blk_want_sha"
	if cmp -s <(dd if="$img" bs=1M skip=40 count=4 status=none) "$blk_pattern"; then
		ok "$kind rw: image holds the pattern at 40 MiB"
	else
		notok "$kind rw: image differs from the pattern at 40 MiB"
	fi
	check_eq "$kind rw: guest fs" "$(vt_get "$log" fs)" "ok $blk_want_sha"
	if command -v debugfs >/dev/null; then
		check_eq "$kind rw: host debugfs reads hello.txt" \
			"$(debugfs -R 'cat /hello.txt' "$img" 2>/dev/null)" "hello from the guest"
		rm -f "$WORK/fs-pattern.bin"
		debugfs -R "dump /dir/pattern.bin $WORK/fs-pattern.bin" "$img" >/dev/null 2>&1
		if cmp -s "$WORK/fs-pattern.bin" "$blk_pattern"; then
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
		notok "$kind rw: debugfs/e2fsck (e2fsprogs) missing: cannot check the guest's filesystem"
	fi
	local dmax
	dmax=$(vt_get "$log" discard_max)
	if [ "${dmax:-0}" -gt 0 ]; then ok "$kind rw: guest sees discard ($dmax)"; else notok "$kind rw: no discard support"; fi
	dmax=$(vt_get "$log" write_zeroes_max)
	if [ "${dmax:-0}" -gt 0 ]; then ok "$kind rw: guest sees write-zeroes ($dmax)"; else notok "$kind rw: no write-zeroes support"; fi
	check_eq "$kind rw: blkdiscard" "$(vt_get "$log" discard)" ok
	check_eq "$kind rw: BLKZEROOUT" "$(vt_get "$log" zeroout)" ok
	if blk_range_is_zero "$img" 48 4; then ok "$kind rw: discarded range reads as zeros"; else notok "$kind rw: discarded range not zero"; fi
	if blk_range_is_zero "$img" 56 4; then ok "$kind rw: write-zeroes range is zero"; else notok "$kind rw: write-zeroes range not zero"; fi
	local blocks_after
	blocks_after=$(stat -c %b "$img")
	# 4 MiB were discarded: 8192 blocks, less some slack for the host fs's own extent blocks
	if [ "$blocks_after" -le $((blocks_before - 6144)) ]; then
		ok "$kind rw: discard punched a hole ($blocks_before -> $blocks_after blocks)"
	else
		notok "$kind rw: image blocks $blocks_before -> $blocks_after, no hole"
	fi
}

# Both queues carried requests: the device's own counts ("NAME: queue N: M requests", printed
# at exit by `vireo backend` and by `vireo run --log-level info`).
blk_check_queues() { # KIND LOG-WITH-COUNTS
	local q n
	for q in 0 1; do
		n=$(sed -n "s/.*queue $q: \([0-9]*\) requests.*/\1/p" "$2" | tail -n1)
		if [ "${n:-0}" -gt 0 ]; then ok "$1: queue $q served $n requests"; else notok "$1: queue $q served no requests (log $2)"; fi
	done
}

# After a read-only run (vt.mode=ro).
blk_check_ro() { # KIND LOG
	check_eq "$1 ro: read-only flag" "$(vt_get "$2" ro)" 1
	check_eq "$1 ro: guest write refused" "$(vt_get "$2" ro_write)" refused
	check_eq "$1 ro: guest reads the pattern" "$(vt_get "$2" read_sha)" "$blk_want_sha"
}
