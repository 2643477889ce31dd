#!/bin/bash
# kvm: full
# SPDX-License-Identifier: MIT
# virtio-rng in `vireo run` with Linux's virtio_rng driver (tests/guest/init-rng.sh): it
# becomes the current hwrng and /dev/hwrng gives 4 KiB of non-zero, varied bytes, different
# on a second boot. The second boot has --rng rate=1000: the 4 KiB still arrive, and take at
# least 2 s (1000 bytes of burst, then 1000 bytes per second: 3.1 s at the very least).
# The first boot also has --console virtio,file=PATH: the guest's line on /dev/hvc0 (its boot
# id, printed on the serial port too) is in that file.
set -u
. "$(dirname "$0")/lib/guest.sh"
guest_require
guest_initrd "$WORK/initrd.gz" "$SRC_DIR/tests/guest/init-rng.sh" || exit 1
args=(--kernel "$GUEST_DIR/bzImage" --initrd "$WORK/initrd.gz" --memory 256M
	--cmdline "console=ttyS0 quiet panic=-1")

guest_boot rng 300 "${args[@]}" --rng --console "virtio,file=$WORK/hvc.log"
check_eq "vireo exit status" $? 0
guest_boot rate 300 "${args[@]}" --rng rate=1000
check_eq "rate: vireo exit status" $? 0
for b in rng rate; do
	case "$(vt_val $b rng_current)" in
	virtio_rng*) ok "$b: current hwrng is $(vt_val $b rng_current)" ;;
	*) notok "$b: current hwrng '$(vt_val $b rng_current)' (available: $(vt_val $b rng_available))" ;;
	esac
	check_eq "$b: bytes read from /dev/hwrng" "$(vt_val $b bytes)" 4096
	nz=$(vt_val $b nonzero) d=$(vt_val $b distinct)
	if [ "${nz:-0}" -gt 3900 ]; then ok "$b: $nz of 4096 bytes non-zero"; else notok "$b: only '$nz' non-zero bytes"; fi
	if [ "${d:-0}" -gt 200 ]; then ok "$b: $d distinct byte values"; else notok "$b: only '$d' distinct byte values"; fi
done
if [ "$(vt_val rng sha)" != "$(vt_val rate sha)" ]; then ok "two boots got different bytes"; else notok "two boots got the same bytes"; fi
cs=$(vt_val rate read_cs)
if [ "${cs:-0}" -ge 200 ]; then ok "rate=1000: 4 KiB took ${cs}0 ms (>= 2 s)"; else notok "rate=1000: 4 KiB took '${cs}'0 ms, want >= 2 s"; fi
id=$(vt_val rng boot_id)
if [ -n "$id" ] && grep -qx "hvc0 says $id" <(tr -d '\r' <"$WORK/hvc.log"); then
	ok "the guest's /dev/hvc0 line is in the console file"
else
	notok "console file: '$(head -c 200 "$WORK/hvc.log")', boot id '$id'"
fi
exit $guest_fail
