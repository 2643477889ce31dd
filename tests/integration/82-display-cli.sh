#!/usr/bin/env bash
# kvm: none
# SPDX-License-Identifier: MIT
# The graphics options' user mistakes, with the real binary: each gets one line on stderr naming
# the problem and exit status 2, before any VM (or /dev/kvm) is touched. The VNC socket is bound
# before the VM too, so a port in use is such a mistake.
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
expect2 "--gpu width out of range" "width=99999: expected 320..3840" run --kernel "$K" --gpu width=99999
expect2 "--gpu unknown key" "unknown key 'virgl'" run --kernel "$K" --gpu virgl=on
expect2 "--display with nothing to show" "nothing to show" run --kernel "$K" --display vnc=5900
expect2 "--display bad address" "not an IPv4 address" run --kernel "$K" --gpu --display vnc=::1:5900
expect2 "--display missing password file" "password=/nonexistent/pw" run --kernel "$K" --gpu \
	--display vnc=5900,password=/nonexistent/pw
expect2 "--display screenshot in a missing directory" "directory /nonexistent" run --kernel "$K" \
	--gpu --display screenshot=/nonexistent/s.png
: >"$WORK/empty-pw"
expect2 "--display empty password file" "the first line is empty" run --kernel "$K" --gpu \
	--display "vnc=127.0.0.1:0,password=$WORK/empty-pw"

# A port somebody else listens on.
PY=/usr/bin/python3
$PY - "$WORK/port" <<'PYEOF' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(30)
PYEOF
holder=$!
for _ in $(seq 1 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
port=$(cat "$WORK/port")
expect2 "VNC port in use" "vnc 127.0.0.1:$port: Address already in use" run --kernel "$K" --gpu \
	--display "vnc=127.0.0.1:$port"
kill $holder 2>/dev/null
wait $holder 2>/dev/null
"$VIREO" run --help | grep -q -- '--display OPTS' && echo "ok - run --help shows --display" ||
	{ echo "not ok - run --help lacks --display"; fail=1; }
exit $fail
