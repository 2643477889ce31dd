#!/usr/bin/env bash
# kvm: none
# SPDX-License-Identifier: MIT
# --net / `vireo backend net` mistakes: each is one line naming the problem and exit status 2,
# before any VM exists (no /dev/kvm is needed to get there; vireo opens TAPs before it opens
# /dev/kvm). Everything happens in a network namespace made here:
#   bad MAC, MTU out of range, queues out of range, a missing /dev/net/tun (hidden in a mount
#   namespace), a TAP in use by another process (single- and multi-queue), a name that is a
#   veth, a single-queue TAP asked for 2 queues, a missing vhost-user back-end, back-end
#   options that belong to the front-end. A TAP vireo created for a --net that is followed by
#   a failing one is gone when vireo exits.
set -u
export PATH=$PATH:/usr/sbin:/sbin
. "$(dirname "$0")/lib/vhost-user.sh"
. "$(dirname "$0")/lib/net.sh"
[ -n "${VIREO:-}" ] || skip "VIREO not set"
command -v ip >/dev/null || skip "iproute2 (ip) missing"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, TAPs)"
trap 'net_cleanup; vu_cleanup' EXIT
NS=vnet75-$$
net_ns "$NS" || skip "cannot make a network namespace"
NSX=(ip netns exec "$NS")
# a kernel machine_prepare accepts (it is checked before the TAPs are opened)
[ -n "${GUEST_DIR:-}" ] && [ -r "$GUEST_DIR/bzImage" ] || skip "no guest kernel (GUEST_DIR empty)"
ln -sf "$GUEST_DIR/bzImage" "$WORK/kernel"

# run in the namespace; expect exit 2 and one stderr line containing PATTERN
refused() { # NAME PATTERN CMD...
	local name=$1 pat=$2 rc lines
	shift 2
	"${NSX[@]}" "$@" >"$WORK/out.log" 2>"$WORK/err.log" </dev/null
	rc=$?
	lines=$(wc -l <"$WORK/err.log")
	if [ $rc = 2 ] && [ "$lines" = 1 ] && grep -qF -- "$pat" "$WORK/err.log"; then
		ok "$name: $(cat "$WORK/err.log")"
	else
		notok "$name: rc=$rc, $lines lines: $(head -3 "$WORK/err.log")"
	fi
}
run() { refused "$1" "$2" "$VIREO" run --kernel "$WORK/kernel" --net "$3"; }

run "bad MAC" "bad MAC address" "tap=v52a,mac=52:54:00:zz:00:01"
run "multicast MAC" "bad MAC address" "tap=v52a,mac=01:00:5e:00:00:01"
run "MTU too small" "mtu=40: out of range (68..65535)" "tap=v52a,mtu=40"
run "MTU too large" "mtu=70000: out of range" "tap=v52a,mtu=70000"
run "queues out of range" "queues=9: expected 1..8" "tap=v52a,queues=9"
run "no tap or socket" "needs tap=NAME or vhost-user=SOCKET" "mac=02:00:00:00:00:01"
if "${NSX[@]}" ip link show v52a >/dev/null 2>&1; then notok "a refused --net left v52a behind"; else ok "no TAP made for refused options"; fi

# /dev/net/tun missing: hidden under an empty tmpfs in a private mount namespace
if command -v unshare >/dev/null; then
	refused "no /dev/net/tun" "/dev/net/tun: No such file or directory" \
		unshare -m sh -c "mount -t tmpfs none /dev/net && exec \"\$0\" \"\$@\"" \
		"$VIREO" run --kernel "$WORK/kernel" --net tap=v52a
fi

# in use by another process: a back-end holds it
net_bg "${NSX[@]}" "$VIREO" backend net --socket "$WORK/be.sock" --tap v52b >"$WORK/be.log" 2>&1
bpid=$net_last
vu_wait_socket "$WORK/be.sock" "$bpid" || notok "back-end did not start: $(cat "$WORK/be.log")"
run "TAP in use (single queue)" "tap v52b: in use by process $bpid (vireo)" "tap=v52b"
refused "TAP in use, second back-end" "in use by process $bpid" \
	"$VIREO" backend net --socket "$WORK/be2.sock" --tap v52b
net_bg "${NSX[@]}" "$VIREO" backend net --socket "$WORK/be3.sock" --tap v52c,queues=2 >"$WORK/be3.log" 2>&1
b3=$net_last
vu_wait_socket "$WORK/be3.sock" "$b3" || notok "back-end 3 did not start: $(cat "$WORK/be3.log")"
run "TAP in use (multi-queue)" "tap v52c: in use by process $b3" "tap=v52c,queues=2"

# a created TAP is removed when a later --net fails
refused "second --net fails" "tap v52b: in use" "$VIREO" run --kernel "$WORK/kernel" \
	--net tap=v52new --net tap=v52b
if "${NSX[@]}" ip link show v52new >/dev/null 2>&1; then notok "v52new left behind"; else ok "v52new (created, then the run refused) is gone"; fi

"${NSX[@]}" ip link add v52veth type veth peer name v52peer
run "not a TAP" "tap v52veth: an interface of that name exists and is not a TAP" "tap=v52veth"
"${NSX[@]}" ip tuntap add dev v52sq mode tap
run "single-queue TAP, 2 queues" "single-queue TAP cannot serve queues=2" "tap=v52sq,queues=2"
"${NSX[@]}" ip tuntap add dev v52tun mode tun
run "a TUN, not a TAP" "exists as a TUN" "tap=v52tun"
run "bad interface name" "not a valid interface name" "tap=abcdefghijklmnopq"
run "vhost-user back-end missing" "--net vhost-user=$WORK/none.sock: connect: No such file or directory" \
	"vhost-user=$WORK/none.sock"

refused "backend: mac= belongs to the front-end" "mac= belongs to the front-end" \
	"$VIREO" backend net --socket "$WORK/x.sock" --tap v52d,mac=02:00:00:00:00:01
refused "backend: bad queues" "queues=0" "$VIREO" backend net --socket "$WORK/x.sock" --tap v52d,queues=0
refused "backend: no --tap" "--tap NAME is required" "$VIREO" backend net --socket "$WORK/x.sock"

kill -TERM "$bpid" "$b3"
wait "$bpid"
check_eq "back-end exit status after SIGTERM" "$?" 0
wait "$b3"
grep -q "net0: pair 0: rx 0 packets" "$WORK/be.log" && ok "back-end reports its counters at exit" ||
	notok "back-end exit report: $(tail -2 "$WORK/be.log")"
if "${NSX[@]}" ip link show v52b >/dev/null 2>&1; then notok "v52b (created by the back-end) still there"; else ok "v52b removed with the back-end"; fi
exit $vu_fail
