#!/bin/bash
# kvm: full
# SPDX-License-Identifier: MIT
# virtio-vsock in `vireo run`, with Linux's vsock driver and Debian's socat in the guest
# (tests/guest/init-vsock.sh) and tests/integration/lib/vsock_host.py on the host side of
# vireo's unix socket; 8 connections at once in each direction, 16 MiB each:
#  - guest -> host: socat in the guest connects to host port 5000 (vireo connects it to
#    "<socket>_5000", where the host script hashes every stream) 8 times at once, stream i
#    being the guest's random reference data rotated by i MiB; the reference itself goes to
#    port 5001. The host finds the reference with the digest the guest printed and all 8
#    distinct rotations among the streams; every socat exited 0;
#  - host -> guest: "CONNECT 6000" through vireo's socket, "OK <port>" back, 16 MiB of random
#    data, half-close; the guest's sha256sum of each stream comes back on the same connection
#    and matches what was sent (8 at once);
#  - resets: the guest's connect to host port 7777 (no "<socket>_7777") and to CID 8 (not the
#    host) fail; the host's CONNECT to guest port 7777 (no listener) is closed without "OK";
#  - the guest's vsock loopback reaches its own listener at CID 7: vireo's --vsock cid=7 is
#    the guest's CID;
#  - the guest ends when the host says "bye" on one more connection.
set -u
. "$(dirname "$0")/lib/guest.sh"
guest_require
command -v socat >/dev/null || { echo "skip: socat is not installed (Debian socat)"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 is not installed"; exit 77; }

CONNS=8 MIB=16
mapfile -t extra < <(guest_socat_files)
guest_initrd "$WORK/initrd.gz" "$SRC_DIR/tests/guest/init-vsock.sh" "${extra[@]}" || exit 1
uds=$WORK/v.sock
python3 "$SRC_DIR/tests/integration/lib/vsock_host.py" scenario --uds "$uds" \
	--log "$WORK/vsock.serial.log" --conns $CONNS --mib $MIB --timeout 500 >"$WORK/host.log" 2>&1 &
hpid=$!
for _ in $(seq 100); do grep -q '^ready=1' "$WORK/host.log" && break; sleep 0.1; done
guest_boot vsock 600 --kernel "$GUEST_DIR/bzImage" --initrd "$WORK/initrd.gz" --memory 512M \
	--cmdline "console=ttyS0 quiet panic=-1 vt.conns=$CONNS vt.mib=$MIB vt.cid=7" \
	--vsock "cid=7,socket=$uds"
rc=$?
wait $hpid
cat "$WORK/host.log"
hv() { sed -n "s/^$1=//p" "$WORK/host.log" | tail -1; }

check_eq "vireo exit status" "$rc" 0
check_eq "guest reached the end" "$(grep -c '^VT: done' "$WORK/vsock.console")" 1
if [ "$(vt_val vsock own_cid_tries)" -lt 50 ] 2>/dev/null; then
	ok "the guest's own CID is 7 (its loopback connect to 7:6000 worked)"
else
	notok "the guest could not reach itself at CID 7 (tries: '$(vt_val vsock own_cid_tries)')"
fi
if [ -n "$(vt_val vsock other_cid_rc)" ] && [ "$(vt_val vsock other_cid_rc)" != 0 ]; then
	ok "a connect to CID 8 (not the host) is reset"
else
	notok "connect to CID 8 returned '$(vt_val vsock other_cid_rc)'"
fi
check_eq "guest -> host: reference sent" "$(vt_val vsock ref_rc)" 0
check_eq "guest -> host: reference digest" "$(hv ref_sha)" "$(vt_val vsock sha)"
check_eq "guest -> host: every socat exited 0" "$(vt_val vsock sent_rcs)" " $CONNS 0;"
check_eq "guest -> host: streams that are distinct rotations of the reference" \
	"$(hv recv_rotations)" "$(seq -s, 0 $((CONNS - 1)))"
check_eq "guest -> host: streams that are not" "$(hv recv_unknown)" 0
check_eq "guest -> host: receive errors" "$(hv recv_errors)" 0
check_eq "host -> guest: streams whose guest digest matched" "$(hv send_ok)" $CONNS
if [ "$(vt_val vsock unknown_port_rc)" != 0 ] && [ -n "$(vt_val vsock unknown_port_rc)" ]; then
	ok "guest connect to a host port nobody serves fails ($(vt_val vsock unknown_port_err))"
else
	notok "guest connect to host port 7777 returned '$(vt_val vsock unknown_port_rc)'"
fi
check_eq "host CONNECT to a guest port nobody listens on is closed" "$(hv refused)" yes
check_eq "host 'bye' reached the guest" "$(vt_val vsock bye)" bye
if grep -q 'device needs reset' "$WORK/vsock.stderr.log"; then
	notok "the device failed: $(grep -m1 'needs reset' "$WORK/vsock.stderr.log")"
fi
exit $guest_fail
