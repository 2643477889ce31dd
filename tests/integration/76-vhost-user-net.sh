#!/usr/bin/env bash
# kvm: none
# SPDX-License-Identifier: MIT
# `vireo backend net` with QEMU as the vhost-user front-end (-netdev vhost-user, queues=2)
# and Linux's virtio_net driver in a QEMU TCG guest (tests/guest/init-net.sh, vt.mode=host),
# over a multi-queue TAP in a network namespace made here (no other address is a target).
# The same suite runs first against QEMU's own tap netdev (the control: it proves the suite),
# then against vireo: ping both ways, 16 MiB each way over busybox nc with matching sha256,
# queue pairs and offload changes through ethtool, the TAP down and up. The back-end's
# per-pair counters at exit show traffic on both pairs. QEMU killed with SIGKILL in the
# middle of a transfer does not take the back-end down: the next QEMU gets its data through
# it, and the back-end exits 0 on SIGTERM.
#
# QEMU 7.2 (Debian 12) segfaults in msix_set_vector_notifiers when it starts a vhost-user-net
# device with MSI-X under TCG, whatever the back-end: the device gets vectors=0 (INTx), for
# both runs.
set -u
export PATH=$PATH:/usr/sbin:/sbin
. "$(dirname "$0")/lib/vhost-user.sh"
. "$(dirname "$0")/lib/net.sh"
vu_require
command -v ip >/dev/null || skip "iproute2 (ip) missing"
command -v ethtool >/dev/null || skip "ethtool missing (the guest gets a copy)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, TAPs)"
trap 'net_cleanup; vu_cleanup' EXIT
BB=/bin/busybox
NS=vnet76-$$
net_ns "$NS" || skip "cannot make a network namespace"
NSX=(ip netns exec "$NS")
sha() { sha256sum "$1" | cut -d' ' -f1; }
initrd=$WORK/net-initrd.cpio.gz
net_initrd "$initrd" ethtool || { notok "initramfs"; exit 1; }
mkfifo "$WORK/hold"
exec 7<>"$WORK/hold"

"${NSX[@]}" ip tuntap add dev qtap0 mode tap multi_queue
"${NSX[@]}" ip addr add 10.77.0.1/24 dev qtap0
"${NSX[@]}" ip link set qtap0 up
head -c $((16 << 20)) /dev/urandom >"$WORK/h2g.bin"
head -c $((1 << 20)) /dev/urandom >"$WORK/small.bin"

# QEMU TCG with one virtio-net-pci on NETDEV-ARGS, in the namespace; console to LOG.
qemu_bg() { # LOG APPEND NETDEV-ARGS
	net_bg timeout -k 5 300 "${NSX[@]}" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 256 \
		-nographic -no-reboot \
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
		$3 -device virtio-net-pci,netdev=n0,mac=52:54:00:77:02:02,mq=on,vectors=0 \
		-kernel "$GUEST_DIR/bzImage" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 rdinit=/init quiet $2" >"$1" 2>&1 </dev/null
	qpid=$net_last
}

# The whole host-mode suite against one netdev. NAME is the log prefix.
suite() { # NAME NETDEV-ARGS
	local n=$1 log=$WORK/$1.console.log rc said
	rm -f "$WORK/g2h.bin"
	net_bg "${NSX[@]}" $BB nc -l -p 5002 <"$WORK/h2g.bin" >/dev/null
	net_bg "${NSX[@]}" $BB nc -l -p 5001 <&7 >"$WORK/g2h.bin"
	net_bg "${NSX[@]}" $BB nc -l -p 5003 <"$WORK/small.bin" >/dev/null
	net_bg "${NSX[@]}" $BB nc -l -p 5004 <"$WORK/small.bin" >/dev/null
	qemu_bg "$log" "vt.mode=host vt.ip=10.77.0.2 vt.peer=10.77.0.1 vt.pairs=2" "$2"
	if net_wait_log "$log" '^VT: ready' 200; then
		"${NSX[@]}" $BB ping -c 3 -W 5 10.77.0.2 >"$WORK/$n-host-ping.log" 2>&1 &&
			ok "$n: host pings the guest" || notok "$n: host cannot ping the guest"
	fi
	if net_wait_log "$log" '^VT: waiting' 300; then
		"${NSX[@]}" ip link set qtap0 down
		sleep 2
		"${NSX[@]}" ip link set qtap0 up
		said=0
		for _ in $(seq 1 20); do
			if echo after-link | "${NSX[@]}" $BB nc 10.77.0.2 6000 2>/dev/null; then said=1; break; fi
			sleep 1
		done
		[ $said = 1 ] && ok "$n: host reaches the guest after the TAP went down and up" ||
			notok "$n: no TCP connection to the guest after the TAP went down and up"
	fi
	wait "$qpid"
	rc=$?
	check_eq "$n: qemu exit status" "$rc" 0
	check_eq "$n: driver" "$(vt_get "$log" driver)" virtio_net
	check_eq "$n: queue pairs" "$(vt_get "$log" combined)" 2
	check_eq "$n: TSO on" "$(vt_get "$log" offload_tcp-segmentation-offload)" on
	check_eq "$n: receive offload on" "$(vt_get "$log" offload_rx-gro-hw)" on
	check_eq "$n: guest pings the host" "$(vt_get "$log" ping3)" ok
	check_eq "$n: 16 MiB host -> guest, bytes" "$(vt_get "$log" rx_bytes)" $((16 << 20))
	check_eq "$n: 16 MiB host -> guest, sha256" "$(vt_get "$log" rx_sha)" "$(sha "$WORK/h2g.bin")"
	check_eq "$n: 16 MiB guest -> host, sha256" "$(sha "$WORK/g2h.bin")" "$(vt_get "$log" tx_sha)"
	check_eq "$n: 1 MiB on vCPU 0, sha256" "$(vt_get "$log" rx0_sha)" "$(sha "$WORK/small.bin")"
	check_eq "$n: ethtool -L combined 1" "$(vt_get "$log" set_combined1)" ok
	check_eq "$n: traffic with 1 pair" "$(vt_get "$log" ping_1pair)" ok
	check_eq "$n: ethtool -L combined 2" "$(vt_get "$log" set_combined_back)" ok
	check_eq "$n: guest pings the host after link down/up" "$(vt_get "$log" ping_after_link)" ok
	check_eq "$n: 1 MiB after link down/up, sha256" "$(vt_get "$log" rx2_sha)" "$(sha "$WORK/small.bin")"
}

# The control: QEMU's own tap netdev (no vhost).
suite qemu-tap "-netdev tap,id=n0,ifname=qtap0,script=no,downscript=no,queues=2,vhost=off"

# vireo backend net.
SOCK=$WORK/net.sock
net_bg "${NSX[@]}" "$VIREO" backend net --socket "$SOCK" --tap qtap0,queues=2 -v \
	>"$WORK/backend.log" 2>&1
bpid=$net_last
vu_wait_socket "$SOCK" "$bpid" || { notok "vireo backend net did not start: $(tail -2 "$WORK/backend.log")"; exit 1; }
suite vireo "-chardev socket,id=c0,path=$SOCK -netdev vhost-user,id=n0,chardev=c0,queues=2"

# SIGKILL QEMU in the middle of the 16 MiB transfer; the back-end serves the next QEMU.
log=$WORK/kill.console.log
net_bg "${NSX[@]}" $BB nc -l -p 5002 <"$WORK/h2g.bin" >/dev/null
ncpid=$net_last
qemu_bg "$log" "vt.mode=host vt.ip=10.77.0.2 vt.peer=10.77.0.1" \
	"-chardev socket,id=c0,path=$SOCK -netdev vhost-user,id=n0,chardev=c0,queues=2"
net_wait_log "$log" '^VT: ready' 200 && sleep 3
qemu=$(pgrep -P "$qpid" | head -1) # timeout's child: ip netns exec, which became QEMU
[ -n "$qemu" ] && kill -KILL "$qemu"
wait "$qpid" 2>/dev/null
kill "$ncpid" 2>/dev/null
sleep 1
if kill -0 "$bpid" 2>/dev/null; then ok "back-end survived QEMU killed mid-transfer"; else notok "back-end died with QEMU"; fi
suite vireo-again "-chardev socket,id=c0,path=$SOCK -netdev vhost-user,id=n0,chardev=c0,queues=2"

kill -TERM "$bpid"
wait "$bpid"
check_eq "back-end exit status after SIGTERM" "$?" 0
B=$WORK/backend.log
for p in 0 1; do
	line=$(grep -E "net0: pair $p: " "$B" | tail -1)
	rxp=$(sed -nE 's/.*: rx ([0-9]+) packets.*/\1/p' <<<"$line")
	txp=$(sed -nE 's/.*, tx ([0-9]+) packets.*/\1/p' <<<"$line")
	[ "${rxp:-0}" -gt 100 ] && [ "${txp:-0}" -gt 100 ] && ok "back-end pair $p carried traffic (rx $rxp, tx $txp packets)" ||
		notok "back-end pair $p: '$line'"
done
rxb=$(grep -E "net0: pair [01]: " "$B" | sed -nE 's/.*: rx [0-9]+ packets \(([0-9]+) bytes.*/\1/p' |
	awk '{s += $1} END {print s + 0}')
[ "${rxb:-0}" -ge $((32 << 20)) ] && ok "back-end RX bytes cover both 16 MiB transfers ($rxb)" ||
	notok "back-end RX bytes $rxb < 32 MiB"
exit $vu_fail
