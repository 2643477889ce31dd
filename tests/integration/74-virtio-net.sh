#!/usr/bin/env bash
# kvm: full
# SPDX-License-Identifier: MIT
# virtio-net in `vireo run` with Linux's own virtio_net driver (tests/guest/init-net.sh), over
# TAPs in a network namespace this script makes (traffic never leaves it; no other address
# is ever a target). The host side is busybox (nc, ping) and iproute2.
#
# 1. One guest, 2 vCPUs, --net tap=vtap0,queues=2 on a persistent multi-queue TAP made here:
#    the driver binds and negotiates checksum/TSO/ECN offloads both ways, MRG_RXBUF, MAC,
#    STATUS, CTRL_VQ and MQ (the device's feature bits as the guest sees them in sysfs) and
#    uses 2 queue pairs; ping both ways; 16 MiB over TCP each way with matching sha256
#    (pinned to vCPU 1, so queue pair 1), 1 MiB pinned to vCPU 0; queue pairs 2 -> 1 -> 2 and
#    receive offloads off/on through ethtool (the control queue); the TAP taken down and up,
#    after which the host reaches the guest again and 1 MiB more arrives intact. vireo exits
#    0 and its per-pair counters (logged at exit) show each flow on its pair.
# 3. `vireo run --net vhost-user=SOCK,queues=2` against `vireo backend net` on the same TAP:
#    the same suite with 4 MiB each way (the control queue is the front-end's: queue pairs
#    go to the back-end as SET_VRING_ENABLE); the back-end's counters show both pairs.
# 2. Two guests on one bridge, their TAPs created by vireo (named, absent before): mtu=1400 is
#    what the guests get, ping both ways, 4 MiB from a to b with matching sha256 through
#    a's tx_rate=512K limit (the limiter's counter shows it held traffic back); the TAPs vireo
#    made are gone after it exits, the persistent one is still there.
set -u
export PATH=$PATH:/usr/sbin:/sbin # ethtool, ip (the nested L1 runs with PATH=/bin)
. "$(dirname "$0")/lib/guest.sh"
. "$(dirname "$0")/lib/net.sh"
guest_require
command -v ip >/dev/null || { echo "skip: iproute2 (ip) missing"; exit 77; }
[ -c /dev/net/tun ] || { echo "skip: no /dev/net/tun"; exit 77; }
command -v ethtool >/dev/null || { echo "skip: ethtool missing (the guest gets a copy)"; exit 77; }
trap net_cleanup EXIT
BB=/bin/busybox
NS=vnet74-$$
net_ns "$NS" || { echo "skip: cannot make a network namespace"; exit 77; }
nsx() { ip netns exec "$NS" "$@"; }
NSX=(ip netns exec "$NS") # for net_bg: the pid is then the command's own
sha() { sha256sum "$1" | cut -d' ' -f1; }
vt_val() { vt_get "$WORK/$1.serial.log" "$2"; } # NAME KEY
initrd=$WORK/net-initrd.cpio.gz
net_initrd "$initrd" ethtool || { notok "initramfs"; exit 1; }
mkfifo "$WORK/hold"
exec 7<>"$WORK/hold" # a stdin that never ends, for the receiving nc (see init-net.sh)

# Features bit string from sysfs: bit N is character N+1.
feature_bit() { echo "${1:$2:1}"; }
# "net0: pair P: rx N packets (B bytes, ..." from vireo's log at exit.
pair_field() { # LOG PAIR rx|tx packets|bytes
	local line
	line=$(grep -E "net0: pair $2: " "$1" | tail -1)
	case "$3 $4" in
	"rx packets") sed -nE 's/.*: rx ([0-9]+) packets.*/\1/p' <<<"$line" ;;
	"rx bytes") sed -nE 's/.*: rx [0-9]+ packets \(([0-9]+) bytes.*/\1/p' <<<"$line" ;;
	"tx packets") sed -nE 's/.*, tx ([0-9]+) packets.*/\1/p' <<<"$line" ;;
	"tx bytes") sed -nE 's/.*, tx [0-9]+ packets \(([0-9]+) bytes.*/\1/p' <<<"$line" ;;
	esac
}
ge() { # NAME GOT MIN
	if [ -n "$2" ] && [ "$2" -ge "$3" ]; then ok "$1 ($2 >= $3)"; else notok "$1: got '$2', want >= $3"; fi
}

# The host-mode suite (init-net.sh vt.mode=host) over TAP: guest G, 2 vCPUs, NETARG, SIZE MiB
# each way; the vCPU 0 flow and the after-link flow are 1 MiB. LOCAL=1: vireo's own device
# (checks CTRL_GUEST_OFFLOADS and its counters); 0: vhost-user front-end.
host_suite() { # G TAP NETARG SIZE LOCAL
	local G=$1 tap=$2 size=$4 local=$5 vpid rc said f b L
	head -c $(($size << 20)) /dev/urandom >"$WORK/h2g.bin"
	head -c $((1 << 20)) /dev/urandom >"$WORK/h2g-small.bin"
	rm -f "$WORK/g2h.bin"
	net_bg "${NSX[@]}" $BB nc -l -p 5002 <"$WORK/h2g.bin" >/dev/null
	net_bg "${NSX[@]}" $BB nc -l -p 5001 <&7 >"$WORK/g2h.bin"
	net_bg "${NSX[@]}" $BB nc -l -p 5003 <"$WORK/h2g-small.bin" >/dev/null
	net_bg "${NSX[@]}" $BB nc -l -p 5004 <"$WORK/h2g-small.bin" >/dev/null
	: >"$WORK/$G.serial.log"
	net_bg "${NSX[@]}" timeout -k 5 600 "$VIREO" run --kernel "$GUEST_DIR/bzImage" \
		--initrd "$initrd" --cpus 2 --memory 512M --serial "file=$WORK/$G.serial.log" \
		--log-level info --net "$3" \
		--cmdline "console=ttyS0 quiet panic=-1 vt.mode=host vt.ip=10.77.0.2 vt.peer=10.77.0.1 vt.pairs=2 vt.size=$size" \
		>"$WORK/$G.stdout.log" 2>"$WORK/$G.stderr.log"
	vpid=$net_last
	if net_wait_log "$WORK/$G.serial.log" '^VT: ready' 300 "$vpid"; then
		if nsx $BB ping -c 3 -W 5 10.77.0.2 >"$WORK/$G-host-ping.log" 2>&1; then
			ok "$G: host pings the guest"
		else
			notok "$G: host cannot ping the guest ($(tail -1 "$WORK/$G-host-ping.log"))"
		fi
	fi
	if net_wait_log "$WORK/$G.serial.log" '^VT: waiting' 400 "$vpid"; then
		nsx ip link set "$tap" down
		sleep 2
		nsx ip link set "$tap" up
		said=0
		for _ in $(seq 1 20); do
			if echo after-link | nsx $BB nc 10.77.0.2 6000 2>/dev/null; then said=1; break; fi
			sleep 1
		done
		[ $said = 1 ] && ok "$G: host reaches the guest over TCP after the TAP went down and up" ||
			notok "$G: no TCP connection to the guest after the TAP went down and up"
	fi
	wait "$vpid"
	rc=$?
	tr -d '\r' <"$WORK/$G.serial.log" >"$WORK/$G.console"
	check_eq "$G: vireo exit status" "$rc" 0
	check_eq "$G: driver" "$(vt_val $G driver)" virtio_net
	check_eq "$G: MAC from mac=" "$(vt_val $G mac)" 52:54:00:77:00:02
	check_eq "$G: link up (STATUS)" "$(vt_val $G carrier)" 1
	f=$(vt_val $G features)
	for b in 0:CSUM 1:GUEST_CSUM 5:MAC 7:GUEST_TSO4 8:GUEST_TSO6 9:GUEST_ECN 11:HOST_TSO4 \
		12:HOST_TSO6 13:HOST_ECN 15:MRG_RXBUF 16:STATUS 17:CTRL_VQ 22:MQ 23:CTRL_MAC_ADDR \
		32:VERSION_1 $([ "$local" = 1 ] && echo 2:CTRL_GUEST_OFFLOADS); do
		check_eq "$G: negotiated ${b#*:}" "$(feature_bit "$f" "${b%%:*}")" 1
	done
	check_eq "$G: RX queues" "$(vt_val $G rxqueues)" 2
	check_eq "$G: queue pairs in use" "$(vt_val $G combined)" 2
	check_eq "$G: TSO on" "$(vt_val $G offload_tcp-segmentation-offload)" on
	check_eq "$G: TX checksum offload on" "$(vt_val $G offload_tx-checksumming)" on
	check_eq "$G: receive offload (GUEST_TSO) on" "$(vt_val $G offload_rx-gro-hw)" on
	check_eq "$G: guest pings the host" "$(vt_val $G ping3)" ok
	check_eq "$G: $size MiB host -> guest, bytes" "$(vt_val $G rx_bytes)" $(($size << 20))
	check_eq "$G: $size MiB host -> guest, sha256" "$(vt_val $G rx_sha)" "$(sha "$WORK/h2g.bin")"
	check_eq "$G: $size MiB guest -> host, size on the host" "$(stat -c %s "$WORK/g2h.bin")" $(($size << 20))
	check_eq "$G: $size MiB guest -> host, sha256" "$(sha "$WORK/g2h.bin")" "$(vt_val $G tx_sha)"
	check_eq "$G: 1 MiB on vCPU 0, sha256" "$(vt_val $G rx0_sha)" "$(sha "$WORK/h2g-small.bin")"
	check_eq "$G: ethtool -L combined 1" "$(vt_val $G set_combined1)" ok
	check_eq "$G: queue pairs after -L 1" "$(vt_val $G combined_now)" 1
	check_eq "$G: traffic with 1 pair" "$(vt_val $G ping_1pair)" ok
	check_eq "$G: ethtool -L combined 2" "$(vt_val $G set_combined_back)" ok
	if [ "$local" = 1 ]; then
		check_eq "$G: ethtool -K rx-gro-hw off (GUEST_OFFLOADS_SET)" "$(vt_val $G gro_hw_off)" ok
		check_eq "$G: traffic with receive offloads off" "$(vt_val $G ping_gro_off)" ok
		check_eq "$G: ethtool -K rx-gro-hw on" "$(vt_val $G gro_hw_on)" ok
	fi
	check_eq "$G: host message after link down/up" "$(vt_val $G host_said)" after-link
	check_eq "$G: guest pings the host after link down/up" "$(vt_val $G ping_after_link)" ok
	check_eq "$G: 1 MiB after link down/up, sha256" "$(vt_val $G rx2_sha)" "$(sha "$WORK/h2g-small.bin")"
}

# ---- 1. one guest, two queue pairs ----
nsx ip tuntap add dev vtap0 mode tap multi_queue
nsx ip addr add 10.77.0.1/24 dev vtap0
nsx ip link set vtap0 up
host_suite g1 vtap0 tap=vtap0,mac=52:54:00:77:00:02,queues=2 16 1
L=$WORK/g1.stderr.log
ge "pair 1 RX bytes (the 16 MiB flow)" "$(pair_field "$L" 1 rx bytes)" $((16 << 20))
ge "pair 1 TX bytes (the 16 MiB flow)" "$(pair_field "$L" 1 tx bytes)" $((16 << 20))
# (the TAP picks the RX queue from where the flow's packets were last sent: the guest's
# ACKs may leave from the other vCPU, so only part of the 1 MiB is sure to use pair 0)
ge "pair 0 RX bytes (part of the vCPU 0 flow)" "$(pair_field "$L" 0 rx bytes)" $((64 << 10))
ge "pair 0 TX packets" "$(pair_field "$L" 0 tx packets)" 10
if nsx ip link show vtap0 >/dev/null 2>&1; then ok "persistent vtap0 still there"; else notok "vtap0 vanished"; fi

# ---- 3. (before 2: same addresses) --net vhost-user=SOCK against `vireo backend net` ----
SOCK=/tmp/vnet74-$$.sock # unix sockets live on tmpfs
net_bg "${NSX[@]}" "$VIREO" backend net --socket "$SOCK" --tap vtap0,queues=2 -v \
	>"$WORK/backend.log" 2>&1
bpid=$net_last
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
host_suite g3 vtap0 "vhost-user=$SOCK,mac=52:54:00:77:00:02,queues=2" 4 0
kill -TERM "$bpid"
wait "$bpid"
check_eq "back-end exit status after SIGTERM" "$?" 0
L=$WORK/backend.log
ge "back-end pair 1 RX bytes (the 4 MiB flow)" "$(pair_field "$L" 1 rx bytes)" $((4 << 20))
ge "back-end pair 1 TX bytes (the 4 MiB flow)" "$(pair_field "$L" 1 tx bytes)" $((4 << 20))
# (the TAP picks the RX queue from where the flow's packets were last sent: the guest's
# ACKs may leave from the other vCPU, so only part of the 1 MiB is sure to use pair 0)
ge "back-end pair 0 RX bytes (part of the vCPU 0 flow)" "$(pair_field "$L" 0 rx bytes)" $((64 << 10))
rm -f "$SOCK"

# ---- 2. two guests on one bridge, TAPs made by vireo ----
nsx ip link add br0 type bridge
nsx ip link set br0 up
if nsx ip link show vtapa >/dev/null 2>&1; then notok "vtapa exists before the test"; fi
start_peer() { # NAME MODE IP PEER TAP MAC EXTRA
	: >"$WORK/$1.serial.log"
	net_bg "${NSX[@]}" timeout -k 5 400 "$VIREO" run --kernel "$GUEST_DIR/bzImage" --initrd "$initrd" \
		--memory 256M --serial "file=$WORK/$1.serial.log" --log-level info \
		--cmdline "console=ttyS0 quiet panic=-1 vt.mode=$2 vt.ip=$3 vt.peer=$4 vt.size=4" \
		--net "tap=$5,mac=$6,mtu=1400$7" >"$WORK/$1.stdout.log" 2>"$WORK/$1.stderr.log"
}
start_peer pa peer-a 10.77.1.2 10.77.1.3 vtapa 52:54:00:77:01:02 ,tx_rate=512K
apid=$net_last
start_peer pb peer-b 10.77.1.3 10.77.1.2 vtapb 52:54:00:77:01:03 ""
bpid=$net_last
for t in vtapa vtapb; do
	up=0
	for _ in $(seq 1 100); do
		if nsx ip link set "$t" master br0 up 2>/dev/null; then up=1; break; fi
		sleep 0.1
	done
	[ $up = 1 ] && ok "vireo created $t" || notok "$t never appeared"
done
nsx ip link show vtapa >"$WORK/vtapa.link" 2>&1
grep -q 'mtu 1400' "$WORK/vtapa.link" && ok "vtapa MTU set from mtu=" || notok "vtapa: $(head -1 "$WORK/vtapa.link")"
wait "$apid"
arc=$?
wait "$bpid"
brc=$?
for g in pa pb; do tr -d '\r' <"$WORK/$g.serial.log" >"$WORK/$g.console"; done
check_eq "guest a: vireo exit status" "$arc" 0
check_eq "guest b: vireo exit status" "$brc" 0
check_eq "guest a: MTU from mtu=" "$(vt_val pa mtu)" 1400
check_eq "guest a: pings b" "$(vt_val pa ping)" ok
check_eq "guest b: pings a" "$(vt_val pb ping)" ok
check_eq "guest b: 4 MiB from a, bytes" "$(vt_val pb rx_bytes)" $((4 << 20))
check_eq "guest b: 4 MiB from a, sha256" "$(vt_val pb rx_sha)" "$(vt_val pa tx_sha)"
held=$(sed -nE 's/.*net0: rate limiter held rx back [0-9]+ times, tx ([0-9]+) times.*/\1/p' "$WORK/pa.stderr.log")
ge "guest a: tx_rate=512K held traffic back" "${held:-0}" 1
for t in vtapa vtapb; do
	if nsx ip link show "$t" >/dev/null 2>&1; then notok "$t still there after vireo exited"; else ok "$t removed with vireo"; fi
done
exit $guest_fail
