#!/usr/bin/env bash
# kvm: none
# SPDX-License-Identifier: MIT
# Host-user mistakes with --balloon, --console, --vsock, --rng, --serial socket= and
# `vireo backend vsock|rng`: one line on stderr naming the problem, exit status 2, before any
# VM exists (so no /dev/kvm is needed here). Socket paths that are regular files or that a
# live process listens on are refused; a stale socket file is not.
set -u
fail=0
K=$BUILD_DIR/tests/kvm/hello.elf
expect2() { # description, expected substring, args...
	local d=$1 want=$2; shift 2
	"$VIREO" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
	local rc=$? lines; lines=$(wc -l <"$WORK/err")
	if [ $rc = 2 ] && [ "$lines" = 1 ] && grep -qF -- "$want" "$WORK/err"; then
		echo "ok - $d"
	else
		echo "not ok - $d: rc=$rc lines=$lines: $(head -3 "$WORK/err")"; fail=1
	fi
}
: >"$WORK/file"
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
open(sys.argv[2], "w").close(); time.sleep(60)' "$WORK/live.sock" "$WORK/live.ready" &
lpid=$!
trap 'kill $lpid 2>/dev/null' EXIT
for _ in $(seq 100); do [ -e "$WORK/live.ready" ] && break; sleep 0.05; done

expect2 "balloon larger than the guest" "--balloon size=1024 MiB: more than the guest's 512 MiB" \
	run --kernel "$K" --balloon size=1G
expect2 "balloon size not in 4K units" "expected a size in 4K units" run --kernel "$K" --balloon size=1000
expect2 "balloon unknown key" "unknown key 'inflate'" run --kernel "$K" --balloon inflate=on
expect2 "console without virtio" "expected virtio" run --kernel "$K" --console hvc
expect2 "console and serial on one terminal" "cannot share the terminal" \
	run --kernel "$K" --console virtio --serial stdio
expect2 "console socket is a regular file" "--console socket=$WORK/file: exists and is not a socket" \
	run --kernel "$K" --console "virtio,socket=$WORK/file"
expect2 "console socket in use" "in use by another process" \
	run --kernel "$K" --console "virtio,socket=$WORK/live.sock"
expect2 "serial socket in use" "--serial socket=$WORK/live.sock: in use" \
	run --kernel "$K" --serial "socket=$WORK/live.sock"
expect2 "vsock CID 2" "--vsock cid=2: expected 3..4294967294" run --kernel "$K" --vsock cid=2,socket=/tmp/x
expect2 "vsock without socket" "needs cid=N and socket=PATH" run --kernel "$K" --vsock cid=3
expect2 "vsock socket is a regular file" "--vsock socket=$WORK/file: exists and is not a socket" \
	run --kernel "$K" --vsock "cid=3,socket=$WORK/file"
expect2 "vsock socket in use" "--vsock socket=$WORK/live.sock: in use by another process" \
	run --kernel "$K" --vsock "cid=3,socket=$WORK/live.sock"
expect2 "vsock socket path too long" "longer than 96 bytes" \
	run --kernel "$K" --vsock "cid=3,socket=/tmp/$(printf 'x%.0s' $(seq 100))"
expect2 "rng rate" "--rng rate=lots: expected bytes per second" run --kernel "$K" --rng rate=lots
expect2 "backend vsock without --vsock" "--vsock cid=N,socket=PATH is required" \
	backend vsock --socket "$WORK/vu.sock"
expect2 "backend vsock, bad CID" "--vsock cid=1" backend vsock --socket "$WORK/vu.sock" --vsock cid=1,socket=/tmp/y
expect2 "backend rng --vsock" "--vsock applies to vsock only" \
	backend rng --socket "$WORK/vu.sock" --vsock cid=3,socket=/tmp/y
expect2 "backend rng, bad rate" "--rng rate=0x10" backend rng --socket "$WORK/vu.sock" --rate 0x10
# A stale socket file (nobody listens) is no mistake: vireo replaces it. Without a KVM the run
# fails later, at /dev/kvm (exit 1), not at the socket.
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$WORK/stale.sock"
"$VIREO" run --kernel "$K" --vsock "cid=3,socket=$WORK/stale.sock" >"$WORK/out" 2>"$WORK/err" </dev/null
if ! grep -q 'stale.sock' "$WORK/err"; then echo "ok - stale vsock socket replaced"; else
	echo "not ok - stale socket refused: $(cat "$WORK/err")"; fail=1; fi
exit $fail
