#!/bin/bash
# kvm: none
# SPDX-License-Identifier: MIT
# vhost-user-vsock: QEMU TCG with -device vhost-user-vsock-pci served by `vireo backend vsock`
# (the same device code as `vireo run --vsock`), Linux's vsock driver and Debian's socat in the
# guest (tests/guest/init-vsock.sh). tests/integration/lib/vsock_host.py drives and checks the
# same scenario as 70-virtio-vsock (its TAP lines are this test's): 8 connections at once each
# way with 16 MiB each and matching digests, resets for ports and CIDs nobody serves, the
# guest's CID (7) from the back-end's config space. Then the back-end stops on SIGTERM with
# status 0 and removes its sockets.
set -u
. "$(dirname "$0")/lib/vhost-user.sh"
. "$(dirname "$0")/lib/guest.sh"
vu_require
[ -n "${VIREO:-}" ] || skip "VIREO not set"
command -v socat >/dev/null || skip "socat is not installed (Debian socat)"
command -v python3 >/dev/null || skip "python3 is not installed"

CONNS=8 MIB=16
mapfile -t extra < <(guest_socat_files)
guest_initrd "$WORK/initrd.gz" "$SRC_DIR/tests/guest/init-vsock.sh" "${extra[@]}" || exit 1
sock=$WORK/vu.sock uds=$WORK/v.sock blog=$WORK/backend.log
"$VIREO" backend vsock --socket "$sock" --vsock "cid=7,socket=$uds" -v >"$blog" 2>&1 &
bpid=$!
vu_pids+=("$bpid")
vu_wait_socket "$sock" "$bpid" || { notok "vireo backend vsock did not start"; cat "$blog"; exit 1; }
log=$WORK/qemu.console.log
: >"$log"
python3 "$SRC_DIR/tests/integration/lib/vsock_host.py" scenario --uds "$uds" --cid 7 \
	--log "$log" --conns $CONNS --mib $MIB --timeout 500 >"$WORK/host.log" 2>&1 &
hpid=$!
for _ in $(seq 100); do grep -q '^ready=1' "$WORK/host.log" && break; sleep 0.1; done
VU_TIMEOUT=600 vu_qemu "$log" "$WORK/initrd.gz" "vt.conns=$CONNS vt.mib=$MIB vt.cid=7" \
	-chardev "socket,id=c0,path=$sock" -device vhost-user-vsock-pci,chardev=c0
qrc=$?
wait $hpid
hrc=$?
grep -v '_digests=' "$WORK/host.log"
check_eq "qemu exit status" "$qrc" 0
check_eq "guest reached the end" "$(grep -ac 'VT: done' "$log")" 1
check_eq "host-side checks" "$hrc" 0
kill -0 "$bpid" 2>/dev/null && ok "back-end still serving after the front-end left" ||
	notok "back-end exited with the front-end"
vu_stop "$bpid"
check_eq "backend exit status after SIGTERM" "$vu_rc" 0
[ -e "$uds" ] || [ -e "$sock" ] && notok "back-end left a socket behind" || ok "back-end removed its sockets"
grep -q 'closing connection\|needs reset' "$blog" && notok "back-end: $(grep -m1 'closing connection\|needs reset' "$blog")"
exit $((vu_fail | guest_fail))
