#!/usr/bin/env bash
# kvm: full
# SPDX-License-Identifier: MIT
# vireo as the vhost-user front-end for a whole Linux guest: `vireo run --disk
# vhost-user=SOCK,queues=2` with `vireo backend blk` behind it, Linux's virtio_blk driver as
# the client. Activation (DRIVER_OK) and reset (device_status 0) of that disk run on vireo's
# loop thread, never on the vCPU that wrote the register:
#   - rw: the Linux-driver blk suite (tests/guest/init-blk.sh, host checks lib/blk-checks.sh):
#     pattern, ext2 + e2fsck, discard (a hole) and write-zeroes (on the L1's tmpfs that is
#     written by hand: no FALLOC_FL_ZERO_RANGE there), both queues;
#   - rebind: the guest unbinds and binds virtio_blk twice while a reader runs (reset, then
#     activation again); marks written after each re-activation and the pattern read back.
#     The same with vireo's own device (`--disk path=`), whose reset waits for its in-flight
#     io_uring requests on the loop;
#   - ro: `readonly=on` against a read-only back-end: the guest sees a read-only disk and its
#     writes are refused; the image is unchanged.
set -u
. "$(dirname "$0")/lib/guest.sh"
. "$(dirname "$0")/lib/blk-checks.sh"
guest_require
command -v gcc >/dev/null || { echo "skip: gcc missing (builds the guest's blkzero helper)"; exit 77; }
blk_prepare || exit 1

img=$WORK/disk.img
sock=$WORK/blk.sock
blk_make_image "$img"
blocks_before=$(stat -c %b "$img")
bpid=""
trap '[ -n "$bpid" ] && kill "$bpid" 2>/dev/null' EXIT

backend_start() { # LOG DISK-OPTS
	rm -f "$sock"
	"$VIREO" backend blk --socket "$sock" --disk "path=$img,serial=$BLK_SERIAL,queues=2$2" -v \
		2>"$1" &
	bpid=$!
	for _ in $(seq 1 200); do
		grep -q "listening on" "$1" 2>/dev/null && return 0
		kill -0 "$bpid" 2>/dev/null || break
		sleep 0.05
	done
	notok "back-end did not start: $(tail -n1 "$1")"
	return 1
}
backend_stop() { # NAME
	kill -TERM "$bpid"
	wait "$bpid"
	check_eq "$1: back-end exit status after SIGTERM" "$?" 0
	bpid=""
}
boot() { # NAME MODE DISK-OPTS
	guest_boot "$1" 300 --kernel "$GUEST_DIR/bzImage" --initrd "$blk_initrd" --cpus 2 \
		--memory 256M --log-level info --disk "$3" \
		--cmdline "console=ttyS0 quiet panic=-1 vt.mode=$2"
}
check_rebind() { # NAME
	local log=$WORK/$1.console
	check_eq "$1: guest reached the end" "$(grep -ac 'VT: done' "$log")" 1
	check_eq "$1: re-activated after reset 1, mark read back" "$(vt_get "$log" rebind_1)" VIREO-REBIND-1
	check_eq "$1: re-activated after reset 2, mark read back" "$(vt_get "$log" rebind_2)" VIREO-REBIND-2
	check_eq "$1: pattern read back after the resets" "$(vt_get "$log" rebind_sha)" "$blk_want_sha"
	local r
	for r in 1 2; do
		if [ "$(dd if="$img" bs=512 skip=$((126976 + r)) count=1 status=none | head -c 15)" = "VIREO-REBIND-$r" ]; then
			ok "$1: mark $r is in the image"
		else
			notok "$1: mark $r missing from the image"
		fi
	done
	if grep -q "needs reset\|back-end.*disconnected" "$WORK/$1.stderr.log"; then
		notok "$1: $(grep -m1 "needs reset\|disconnected" "$WORK/$1.stderr.log")"
	fi
}

# Linux-driver suite, then the rebinds, through one back-end (one connection per VM).
if backend_start "$WORK/backend-rw.log" ""; then
	boot rw rw "vhost-user=$sock,queues=2"
	check_eq "rw: vireo exit status after the guest's reboot" "$?" 0
	blk_check_rw vireo-frontend "$img" "$WORK/rw.console" "$blocks_before" "$BLK_SERIAL"
	boot rebind rebind "vhost-user=$sock,queues=2"
	check_eq "rebind: vireo exit status" "$?" 0
	check_rebind rebind
	backend_stop rw
	blk_check_queues "back-end" "$WORK/backend-rw.log"
	if grep -q "closing connection" "$WORK/backend-rw.log"; then
		notok "back-end: $(grep -m1 'closing connection' "$WORK/backend-rw.log")"
	fi
fi

# The same rebinds on vireo's own virtio-blk.
dd if=/dev/zero of="$img" bs=512 seek=126977 count=2 conv=notrunc status=none
boot rebind-own rebind "path=$img,queues=2"
check_eq "rebind-own: vireo exit status" "$?" 0
check_rebind rebind-own

# Read-only front-end against a read-only back-end.
sha_before=$(sha256sum "$img" | cut -d' ' -f1)
if backend_start "$WORK/backend-ro.log" ",readonly=on"; then
	boot ro ro "vhost-user=$sock,queues=2,readonly=on"
	check_eq "ro: vireo exit status" "$?" 0
	blk_check_ro vireo-frontend "$WORK/ro.console"
	backend_stop ro
	check_eq "ro: the image is unchanged" "$(sha256sum "$img" | cut -d' ' -f1)" "$sha_before"
fi
exit $guest_fail
