#!/usr/bin/env bash
# kvm: any
# Disk image locking: an image another process holds a write lock on cannot be attached (exit
# status 2, "disk IMG: already in use by another process"), read-only or not; an image held
# with a read lock can be attached read-only but not read-write. The holder is a POSIX lock
# from python3 (POSIX and OFD locks conflict with each other, as between two vireo processes).
set -u
BIOS=${SEABIOS_BIN:-/usr/share/seabios/bios.bin}
[ -r "$BIOS" ] || { echo "skip: $BIOS not installed (Debian package seabios)"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 missing"; exit 77; }
fail=0
check() { if eval "$2"; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
IMG=$WORK/disk.img
truncate -s 1M "$IMG"

hold() { # MODE(ex|sh): lock IMG in a background python3 until killed; sets hpid
	python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "r+b")
fcntl.lockf(f, (fcntl.LOCK_EX if sys.argv[2] == "ex" else fcntl.LOCK_SH) | fcntl.LOCK_NB)
open(sys.argv[3], "w").close()
time.sleep(600)' "$IMG" "$1" "$WORK/held" &
	hpid=$!
	for _ in $(seq 100); do [ -e "$WORK/held" ] && break; sleep 0.05; done
}
release() { kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null; rm -f "$WORK/held"; }
run() { # NAME DISKOPTS -> rc in $rc, stderr in $WORK/NAME.err, SeaBIOS log in $WORK/NAME.fw
	# A blank disk: SeaBIOS finds it, finds nothing to boot and resets (exit 0).
	timeout 120 "$VIREO" run --firmware "$BIOS" --memory 64M --disk "$2" --serial none \
		--firmware-log "$WORK/$1.fw" 2>"$WORK/$1.err" >/dev/null
	rc=$?
}
started() { # NAME: the VM ran to SeaBIOS's reset with the disk attached
	[ $rc = 0 ] && ! grep -qF "in use" "$WORK/$1.err" && grep -q "found virtio-blk" "$WORK/$1.fw"
}
msg="disk $IMG: already in use by another process"

hold ex
run rw-vs-ex "path=$IMG"
check "write-locked image: read-write attach fails with status 2" '[ $rc = 2 ]'
check "write-locked image: one-line reason" 'grep -qxF "vireo: $msg" $WORK/rw-vs-ex.err'
run ro-vs-ex "path=$IMG,readonly=on"
check "write-locked image: read-only attach fails too" '[ $rc = 2 ] && grep -qF "$msg" $WORK/ro-vs-ex.err'
release

hold sh
run rw-vs-sh "path=$IMG"
check "read-locked image: read-write attach fails" '[ $rc = 2 ] && grep -qF "$msg" $WORK/rw-vs-sh.err'
run ro-vs-sh "path=$IMG,readonly=on"
check "read-locked image: read-only attach starts the VM (SeaBIOS found the disk, exit 0)" 'started ro-vs-sh'
release

run free "path=$IMG"
check "released image: read-write attach starts the VM (SeaBIOS found the disk, exit 0)" 'started free'
exit $fail
