#!/bin/bash
# kvm: full
# SPDX-License-Identifier: MIT
# virtio-vsock in `vireo run`, with Linux's vsock driver and Debian's socat in the guest
# (tests/guest/init-vsock.sh) and tests/integration/lib/vsock_host.py on the host side of
# vireo's unix socket, which checks (its TAP lines are this test's):
#  - guest -> host: socat in the guest connects to host port 5000 (vireo connects it to
#    "<socket>_5000", where the host script hashes every stream) 8 times at once, stream i
#    being the guest's 16 MiB of random reference data rotated by i MiB; the reference itself
#    goes to port 5001. The host gets the reference with the digest the guest printed and all
#    8 distinct rotations among the streams; every socat exited 0;
#  - host -> guest: 8 x "CONNECT 6000" through vireo's socket at once, "OK <port>" back,
#    16 MiB of random data each, half-close; the guest's sha256sum of each stream comes back
#    on the same connection and matches what was sent;
#  - resets: the guest's connect to host port 7777 (no "<socket>_7777") and to CID 8 (not the
#    host) fail; the host's CONNECT to guest port 7777 (no listener) is closed without "OK";
#  - the guest's vsock loopback reaches its own listener at CID 7: vireo's --vsock cid=7 is
#    the guest's CID;
#  - the guest ends when the host says "bye" on one more connection; vireo exits 0.
set -u
. "$(dirname "$0")/lib/guest.sh"
guest_require
command -v socat >/dev/null || { echo "skip: socat is not installed (Debian socat)"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 is not installed"; exit 77; }

CONNS=8 MIB=16
mapfile -t extra < <(guest_socat_files)
guest_initrd "$WORK/initrd.gz" "$SRC_DIR/tests/guest/init-vsock.sh" "${extra[@]}" || exit 1
uds=$WORK/v.sock
python3 "$SRC_DIR/tests/integration/lib/vsock_host.py" scenario --uds "$uds" --cid 7 \
	--log "$WORK/vsock.serial.log" --conns $CONNS --mib $MIB --timeout 300 >"$WORK/host.log" 2>&1 &
hpid=$!
for _ in $(seq 100); do grep -q '^ready=1' "$WORK/host.log" && break; sleep 0.1; done
# Where the streams stand, every 20 s (vm.counters' vsock0): what to read if one stalls.
api=$WORK/api.sock
if command -v curl >/dev/null; then
	(while sleep 20; do
		[ -S "$api" ] || continue
		echo "$(date +%T) $(curl -s --max-time 10 --unix-socket "$api" \
			http://localhost/api/v1/vm.counters | grep -o '"vsock0":{[^}]*}')"
	done) >"$WORK/vsock-counters.log" 2>&1 &
	cpid=$!
fi
guest_boot vsock 420 --kernel "$GUEST_DIR/bzImage" --initrd "$WORK/initrd.gz" --memory 512M \
	--cmdline "console=ttyS0 quiet panic=-1 vt.conns=$CONNS vt.mib=$MIB vt.cid=7" \
	--vsock "cid=7,socket=$uds" --api-socket "$api"
rc=$?
[ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null
[ "$rc" = 0 ] || echo "# vsock0 counters at the last sample: $(tail -n1 "$WORK/vsock-counters.log" 2>/dev/null)"
wait $hpid
hrc=$?
grep -v '_digests=' "$WORK/host.log"
check_eq "vireo exit status" "$rc" 0
check_eq "guest reached the end" "$(grep -c '^VT: done' "$WORK/vsock.console")" 1
check_eq "host-side checks" "$hrc" 0
grep -q 'device needs reset' "$WORK/vsock.stderr.log" &&
	notok "the device failed: $(grep -m1 'needs reset' "$WORK/vsock.stderr.log")"
[ -e "$uds" ] && notok "vireo left $uds behind"
exit $guest_fail
