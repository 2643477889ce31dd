#!/bin/bash
# kvm: none
# SPDX-License-Identifier: MIT
# `vireo backend` command line and lifecycle without a guest: usage errors are one line with
# exit status 2 (net's own are in 75-net-cli.sh), a disk in use is refused, and a
# running back-end replaces a stale socket, serves, exits 0 on SIGTERM/SIGINT and removes its
# socket. A hostile front-end (lib/vu_frontend.py) that shrinks its guest memfd under the
# back-end is dropped and the daemon serves the next one. `vireo run --disk
# vhost-user=SOCK,readonly=on` is refused (exit 2, one line) when the back-end is writable.
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
if grep -q "blk" "$WORK/help.log" && grep -q "rng" "$WORK/help.log" && grep -q "net" "$WORK/help.log" &&
	grep -q "^  gpu " "$WORK/help.log"; then
	ok "--help lists blk, rng, net, gpu"
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
expect_fail "gpu: width too small" 2 "width" gpu --socket "$WORK/s" --gpu width=10
expect_fail "gpu: unknown --gpu key" 2 "unknown key" gpu --socket "$WORK/s" --gpu depth=8
expect_fail "--gpu for rng" 2 "applies to gpu only" rng --socket "$WORK/s" --gpu width=800

# A stale socket from an earlier run is replaced; SIGINT and SIGTERM both stop cleanly.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$WORK/blk.sock"
# (The stale socket exists from the start: wait for the back-end's own "listening" line, not
# for the socket, or the next step races it for the image lock.)
wait_listening() { # LOG PID
	for _ in $(seq 1 200); do
		grep -q "listening on" "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
for sig in TERM INT; do
	"$VIREO" backend blk --socket "$WORK/blk.sock" --disk "path=$WORK/d.img" -v 2>"$WORK/blk-$sig.log" &
	bpid=$!
	vu_pids+=("$bpid")
	if wait_listening "$WORK/blk-$sig.log" "$bpid" && kill -0 "$bpid" 2>/dev/null; then
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
# A front-end shrinks its guest memory under the back-end: dropped, the daemon lives on.
rm -f "$WORK/rng.sock"
"$VIREO" backend rng --socket "$WORK/rng.sock" -v 2>"$WORK/rng.log" &
bpid=$!
vu_pids+=("$bpid")
if vu_wait_socket "$WORK/rng.sock" "$bpid"; then
	FE=$SRC_DIR/tests/integration/lib/vu_frontend.py
	out=$(python3 "$FE" "$WORK/rng.sock" good 2>&1)
	check_eq "rng: a front-end gets random bytes" "$out" "good: 64 random bytes"
	out=$(python3 "$FE" "$WORK/rng.sock" shrink 2>&1)
	check_eq "rng: the front-end that shrank its memfd is dropped" "$out" "shrink: dropped"
	sleep 0.2
	if kill -0 "$bpid" 2>/dev/null; then ok "rng: the back-end survived the shrunk memfd"; else notok "rng: the back-end died ($(tail -n2 "$WORK/rng.log"))"; fi
	if grep -q "was truncated by the front-end; closing connection" "$WORK/rng.log"; then
		ok "rng: one line says why the front-end was dropped"
	else
		notok "rng: no reason logged ($(cat "$WORK/rng.log"))"
	fi
	out=$(python3 "$FE" "$WORK/rng.sock" good 2>&1)
	check_eq "rng: the next front-end is served" "$out" "good: 64 random bytes"
	vu_stop "$bpid"
	check_eq "rng: exit status after SIGTERM" "$vu_rc" 0
else
	notok "rng back-end did not start ($(cat "$WORK/rng.log"))"
fi

# readonly=on on the front-end needs a read-only back-end (it enforces it, not the guest).
KERNEL=$BUILD_DIR/tests/kvm/hello.elf
if [ -r "$KERNEL" ]; then
	for mode in rw ro; do
		ro=""
		[ $mode = ro ] && ro=",readonly=on"
		rm -f "$WORK/ro.sock"
		"$VIREO" backend blk --socket "$WORK/ro.sock" --disk "path=$WORK/d.img$ro" 2>"$WORK/ro-$mode.log" &
		bpid=$!
		vu_pids+=("$bpid")
		if ! vu_wait_socket "$WORK/ro.sock" "$bpid"; then
			notok "readonly: $mode back-end did not start"
			continue
		fi
		"$VIREO" run --kernel "$KERNEL" --memory 64M --serial none \
			--disk "vhost-user=$WORK/ro.sock,readonly=on" >"$WORK/run.out" 2>"$WORK/run.err" </dev/null
		rc=$?
		if [ $mode = rw ]; then
			check_eq "readonly=on against a writable back-end: exit status" "$rc" 2
			if [ "$(wc -l <"$WORK/run.err")" = 1 ] && grep -q "readonly=on: the back-end is writable" "$WORK/run.err"; then
				ok "readonly=on against a writable back-end: one line: $(cat "$WORK/run.err")"
			else
				notok "readonly=on against a writable back-end: stderr '$(cat "$WORK/run.err")'"
			fi
		elif grep -q "readonly" "$WORK/run.err" || [ $rc = 2 ]; then
			notok "readonly=on against a read-only back-end refused: rc=$rc '$(cat "$WORK/run.err")'"
		else
			ok "readonly=on against a read-only back-end is accepted (rc=$rc without KVM is fine)"
		fi
		vu_stop "$bpid"
	done
else
	notok "$KERNEL missing (ninja -C build)"
fi
exit $vu_fail
