#!/bin/bash
# kvm: none
# SPDX-License-Identifier: MIT
# Linux-driver suite for vhost-user-rng: QEMU TCG with -device vhost-user-rng-pci served by
# `vireo backend rng`; the guest's virtio_rng driver must become the current hwrng and read
# 4 KiB of non-zero, varied bytes from /dev/hwrng. A second guest run against the same daemon
# proves it serves again after a front-end disconnects and gets different bytes.
set -u
. "$(dirname "$0")/lib/vhost-user.sh"
vu_require
[ -n "${VIREO:-}" ] || skip "VIREO not set"

initrd=$WORK/initrd-rng.cpio.gz
"$SRC_DIR/tests/guest/mkinitramfs.sh" "$initrd" "$SRC_DIR/tests/guest/init-rng.sh" \
	"$SRC_DIR/tests/guest/init-common.sh" || exit 1

sock=$WORK/rng.sock
blog=$WORK/rng.backend.log
"$VIREO" backend rng --socket "$sock" -v >"$blog" 2>&1 &
bpid=$!
vu_pids+=("$bpid")
if ! vu_wait_socket "$sock" "$bpid"; then
	notok "vireo backend rng did not start (log $blog)"
	cat "$blog"
	exit 1
fi

shas=()
for run in 1 2; do
	log=$WORK/rng-$run.console.log
	vu_qemu "$log" "$initrd" "" -chardev "socket,id=c0,path=$sock" \
		-device vhost-user-rng-pci,chardev=c0
	check_eq "run $run: qemu exit status" "$?" 0
	check_eq "run $run: guest reached the end" "$(grep -ac 'VT: done' "$log")" 1
	cur=$(vt_get "$log" rng_current)
	case "$cur" in
	virtio_rng*) ok "run $run: current hwrng is $cur" ;;
	*) notok "run $run: current hwrng '$cur' (available: $(vt_get "$log" rng_available))" ;;
	esac
	check_eq "run $run: bytes read from /dev/hwrng" "$(vt_get "$log" bytes)" 4096
	nz=$(vt_get "$log" nonzero)
	if [ "${nz:-0}" -gt 3900 ]; then ok "run $run: $nz of 4096 bytes non-zero"; else notok "run $run: only '${nz}' non-zero bytes"; fi
	d=$(vt_get "$log" distinct)
	if [ "${d:-0}" -gt 200 ]; then ok "run $run: $d distinct byte values"; else notok "run $run: only '${d}' distinct byte values"; fi
	shas+=("$(vt_get "$log" sha)")
	if ! kill -0 "$bpid" 2>/dev/null; then
		notok "run $run: backend exited after the front-end left (log $blog)"
		break
	fi
done
if [ "${#shas[@]}" -eq 2 ] && [ "${shas[0]}" != "${shas[1]}" ]; then
	ok "two runs got different bytes"
else
	notok "runs got the same bytes (${shas[*]})"
fi
vu_stop "$bpid"
check_eq "backend exit status after SIGTERM" "$vu_rc" 0
n=$(sed -n 's/.*queue 0: \([0-9]*\) requests.*/\1/p' "$blog" | tail -n1)
if [ "${n:-0}" -gt 0 ]; then ok "backend served $n requests"; else notok "backend counted no requests (log $blog)"; fi
if grep -q 'closing connection' "$blog"; then notok "backend dropped a front-end: $(grep 'closing connection' "$blog" | head -n1)"; fi
exit $vu_fail
