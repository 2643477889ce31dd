#!/usr/bin/env bash
# kvm: any
# A hostile virtio-blk driver (tests/kvm/virtio_bad.c) run by vireo: bad queue geometry, a
# looping descriptor chain and a descriptor outside guest RAM must each put the device into
# NEEDS_RESET with one log line while the VMM keeps running; after a reset the device serves a
# well-formed read of sector 0 (bytes from the image on the host).
set -u
fail=0
check() { if eval "$2"; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }
printf 'VIREOBLK' >"$WORK/disk.img"
truncate -s 1M "$WORK/disk.img"
timeout 60 "$VIREO" run --kernel "$BUILD_DIR/tests/kvm/virtio_bad.elf" --memory 64M \
	--disk "path=$WORK/disk.img" --serial "file=$WORK/serial.log" 2>"$WORK/stderr.log"
rc=$?
check "vireo survived and exited 0 on the guest's reset" '[ $rc = 0 ]'
check "guest found virtio-blk through ECAM" 'grep -q "virtio-bad: blk at slot" $WORK/serial.log'
check "bad geometry -> NEEDS_RESET" 'grep -q "^A bad-geometry status=4f needs_reset" $WORK/serial.log'
check "descriptor loop -> NEEDS_RESET" 'grep -q "^B loop status=4f needs_reset" $WORK/serial.log'
check "descriptor outside RAM -> NEEDS_RESET" 'grep -q "^C outside-ram status=4f needs_reset" $WORK/serial.log'
check "after reset a read of sector 0 returns the image's bytes" \
	'grep -q "^D used.idx=0001 req.status=00 data=VIREOBLK" $WORK/serial.log'
check "one log line per guest error, naming the device and queue" \
	'[ $(grep -c "blk0: queue 0: .*(device needs reset)" $WORK/stderr.log) = 3 ]'
exit $fail
