#!/usr/bin/env bash
# kvm: full
# SPDX-License-Identifier: MIT
# The Linux-driver virtio-blk suite against vireo's own device: Linux on vireo (`vireo run
# --disk path=IMG,queues=2`) runs tests/guest/init-blk.sh: size, serial, read-only flag, a
# 4 MiB pattern written and read back with O_DIRECT, ext2 made and filled in the guest (checked
# on the host by debugfs and e2fsck), discard (a hole in the image) and write-zeroes, I/O from
# both vCPUs (both virtqueues count requests), then a read-only run where writes are refused.
# The host checks are lib/blk-checks.sh, shared with the vhost-user suite (40).
set -u
. "$(dirname "$0")/lib/guest.sh"
. "$(dirname "$0")/lib/blk-checks.sh"
guest_require
command -v gcc >/dev/null || { echo "skip: gcc missing (builds the guest's blkzero helper)"; exit 77; }
blk_prepare || exit 1

img=$WORK/disk.img
blk_make_image "$img"
blocks_before=$(stat -c %b "$img")
boot() { # NAME MODE DISK-OPTS
	guest_boot "$1" 300 --kernel "$GUEST_DIR/bzImage" --initrd "$blk_initrd" --cpus 2 \
		--memory 256M --log-level info --disk "path=$img,serial=$BLK_SERIAL,queues=2$3" \
		--cmdline "console=ttyS0 quiet panic=-1 vt.mode=$2"
}

boot rw rw ""
check_eq "rw: vireo exit status after the guest's reboot" "$?" 0
blk_check_rw vireo "$img" "$WORK/rw.console" "$blocks_before" "$BLK_SERIAL"
check_eq "rw: guest saw 2 CPUs" "$(vt_get "$WORK/rw.console" cpus)" 2
blk_check_queues "vireo rw" "$WORK/rw.stderr.log"

sha_before=$(sha256sum "$img" | cut -d' ' -f1)
boot ro ro ",readonly=on"
check_eq "ro: vireo exit status" "$?" 0
blk_check_ro vireo "$WORK/ro.console"
check_eq "ro: the image is unchanged" "$(sha256sum "$img" | cut -d' ' -f1)" "$sha_before"
exit $guest_fail
