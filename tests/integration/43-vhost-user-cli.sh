#!/bin/bash
# kvm: none
# SPDX-License-Identifier: MIT
# `vireo backend` command line and lifecycle without a guest: usage errors are one line with
# exit status 2 (net's own are in 75-net-cli.sh), a disk in use is refused, and a
# running back-end replaces a stale socket, serves, exits 0 on SIGTERM/SIGINT and removes its
# socket.
set -u
. "$(dirname "$0")/lib/vhost-user.sh"
[ -n "${VIREO:-}" ] || skip "VIREO not set"

expect_fail() { # NAME WANT_RC GREP ARGS...
	local name=$1 want=$2 pat=$3
	shift 3
	"$VIREO" backend "$@" >"$WORK/out.log" 2>"$WORK/err.log"
	local rc=$?
	check_eq "$name: exit status" "$rc" "$want"
	if [ "$(wc -l <"$WORK/err.log")" = 1 ] && grep -q -e "$pat" "$WORK/err.log"; then
		ok "$name: one line: $(cat "$WORK/err.log")"
	else
		notok "$name: stderr '$(cat "$WORK/err.log")'"
	fi
}

truncate -s 8M "$WORK/d.img"
"$VIREO" backend --help >"$WORK/help.log" 2>&1
check_eq "--help: exit status" "$?" 0
if grep -q "blk" "$WORK/help.log" && grep -q "rng" "$WORK/help.log" && grep -q "net" "$WORK/help.log"; then
	ok "--help lists blk, rng, net"
else
	notok "--help: $(cat "$WORK/help.log")"
fi
expect_fail "no type" 2 "TYPE missing"
expect_fail "unknown type" 2 "unknown device type 'foo'" foo --socket "$WORK/s"
expect_fail "net without --tap" 2 "backend net: --tap NAME is required" net --socket "$WORK/s"
expect_fail "no socket" 2 "--socket PATH is required" rng
expect_fail "blk without disk" 2 "--disk path=FILE is required" blk --socket "$WORK/s"
expect_fail "bad disk option" 2 "unknown key" blk --socket "$WORK/s" --disk "path=$WORK/d.img,bogus=1"
expect_fail "missing image" 2 "No such file" blk --socket "$WORK/s" --disk "path=$WORK/none.img"
expect_fail "disk for rng" 2 "applies to blk only" rng --socket "$WORK/s" --disk "path=$WORK/d.img"
expect_fail "socket dir missing" 2 "cannot listen" rng --socket "$WORK/nodir/s"
touch "$WORK/file"
expect_fail "socket path is a file" 2 "is not a socket" rng --socket "$WORK/file"
expect_fail "bad --poll-us" 2 "expected 0..1000000" rng --socket "$WORK/s" --poll-us 2000000

# A stale socket from an earlier run is replaced; SIGINT and SIGTERM both stop cleanly.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$WORK/blk.sock"
for sig in TERM INT; do
	"$VIREO" backend blk --socket "$WORK/blk.sock" --disk "path=$WORK/d.img" 2>"$WORK/blk-$sig.log" &
	bpid=$!
	vu_pids+=("$bpid")
	if vu_wait_socket "$WORK/blk.sock" "$bpid" && kill -0 "$bpid" 2>/dev/null; then
		ok "SIG$sig run: serving on the socket"
	else
		notok "SIG$sig run: did not start ($(cat "$WORK/blk-$sig.log"))"
	fi
	# the image is locked while it serves
	[ "$sig" = TERM ] && expect_fail "disk in use" 2 "in use" blk --socket "$WORK/other.sock" --disk "path=$WORK/d.img"
	kill -"$sig" "$bpid"
	wait "$bpid"
	check_eq "SIG$sig: exit status" "$?" 0
	vu_pids=()
	if [ -e "$WORK/blk.sock" ]; then notok "SIG$sig: socket left behind"; else ok "SIG$sig: socket removed"; fi
	grep -q "queue 0: 0 requests" "$WORK/blk-$sig.log" && ok "SIG$sig: per-queue counts printed" || notok "SIG$sig: no counts ($(cat "$WORK/blk-$sig.log"))"
done
exit $vu_fail
