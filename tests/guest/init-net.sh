#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of the virtio-net suites (tests/integration/74-virtio-net.sh on vireo,
# 76-vhost-user-net.sh under QEMU). Kernel parameters:
#   vt.mode=host   talk to the host side at vt.peer: ping, vt.size MiB each way over TCP
#                  (busybox nc; the guest connects: host:5002 sends to us, host:5001 takes
#                  ours), a 1 MiB flow pinned to CPU 0, queue-pair and offload changes
#                  through ethtool (the control queue), then wait for the host to take the
#                  TAP down and up and talk to us (port 6000), answer, power off
#   vt.mode=peer-a / peer-b
#                  two guests on one bridge: b listens on 7000, a pings b and sends it
#                  vt.size MiB; b pings a back
#   vt.mode=bench  iperf3 -s and an echo server on port 7000 (bench/run-net.sh) until the host
#                  says "done" on port 6000
#   vt.ip=A.B.C.D (/24), vt.peer=A.B.C.D, vt.size=MiB (default 16)
. /init-common.sh
mode=$(vt_param mode || echo host)
ip=$(vt_param ip || echo 10.77.0.2)
peer=$(vt_param peer || echo 10.77.0.1)
size=$(vt_param size || echo 16)
[ -d /lib ] && export LD_LIBRARY_PATH=/lib

i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -e /sys/class/net/eth0 ]; then
	vt "error=no-eth0"
	vt_end
fi
ncpu=$(nproc)
pin=0
[ "$ncpu" -gt 1 ] && pin=1
vt "driver=$(basename "$(readlink /sys/class/net/eth0/device/driver)")"
vt "mac=$(cat /sys/class/net/eth0/address)"
vt "mtu=$(cat /sys/class/net/eth0/mtu)"
vt "features=$(cat /sys/class/net/eth0/device/features)"
vt "rxqueues=$(ls -d /sys/class/net/eth0/queues/rx-* | wc -l)"
ip link set lo up
ip addr add "$ip/24" dev eth0
ip link set eth0 up
i=0
while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
vt "carrier=$(cat /sys/class/net/eth0/carrier 2>/dev/null)"
if command -v ethtool >/dev/null; then
	for k in tx-checksumming tcp-segmentation-offload rx-gro-hw; do
		vt "offload_$k=$(ethtool -k eth0 | sed -n "s/^$k: \([a-z]*\).*/\1/p")"
	done
	vt "combined=$(ethtool -l eth0 | sed -n '/Current/,$ s/^Combined:[[:space:]]*//p')"
fi

# Ping until the peer answers (ARP, the other side still coming up), at most ~tries s.
ping_until() { # PEER TRIES
	local t=0
	while [ $t -lt "$2" ]; do
		taskset -c 0 ping -c 1 -W 2 "$1" >/dev/null 2>&1 && return 0
		t=$((t + 1))
	done
	return 1
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
# busybox nc half-closes when its stdin ends, and the other nc then stops sending: a receiving
# nc gets a stdin that never ends (a FIFO we hold open) and exits when the sender closes.
mkfifo /tmp/hold
exec 3<>/tmp/hold

if [ "$mode" = host ]; then
	ping_until "$peer" 30 && vt "ping=ok" || vt "ping=fail"
	taskset -c 0 ping -c 3 -W 5 "$peer" >/dev/null 2>&1 && vt "ping3=ok" || vt "ping3=fail"
	vt "ready"
	# host -> guest, then guest -> host, on the CPU of queue pair 1 (XPS, and the TAP
	# steers a flow's replies to the queue it came from)
	taskset -c $pin sh -c "nc $peer 5002 <&3 >/tmp/rx.bin" 2>/tmp/nc.err || vt "rx_error=$(cat /tmp/nc.err)"
	vt "rx_bytes=$(wc -c </tmp/rx.bin)"
	vt "rx_sha=$(sha /tmp/rx.bin)"
	rm -f /tmp/rx.bin
	dd if=/dev/urandom of=/tmp/tx.bin bs=1M count="$size" 2>/dev/null
	vt "tx_sha=$(sha /tmp/tx.bin)"
	taskset -c $pin nc "$peer" 5001 </tmp/tx.bin 2>/tmp/nc.err && vt "tx=sent" ||
		vt "tx_error=$(cat /tmp/nc.err)"
	rm -f /tmp/tx.bin
	taskset -c 0 sh -c "nc $peer 5003 <&3 >/tmp/rx0.bin"
	vt "rx0_sha=$(sha /tmp/rx0.bin)"
	rm -f /tmp/rx0.bin
	if command -v ethtool >/dev/null; then
		# The control queue: queue pairs and guest offloads.
		ethtool -L eth0 combined 1 && vt "set_combined1=ok"
		vt "combined_now=$(ethtool -l eth0 | sed -n '/Current/,$ s/^Combined:[[:space:]]*//p')"
		ping_until "$peer" 5 && vt "ping_1pair=ok" || vt "ping_1pair=fail"
		ethtool -L eth0 combined "$(vt_param pairs || echo 1)" && vt "set_combined_back=ok"
		ethtool -K eth0 rx-gro-hw off && vt "gro_hw_off=ok"
		ping_until "$peer" 5 && vt "ping_gro_off=ok" || vt "ping_gro_off=fail"
		ethtool -K eth0 rx-gro-hw on && vt "gro_hw_on=ok"
	fi
	# The host takes the TAP down and up, then connects to us.
	vt "waiting"
	msg=$(nc -l -p 6000 <&3)
	vt "host_said=$msg"
	ping_until "$peer" 10 && vt "ping_after_link=ok" || vt "ping_after_link=fail"
	taskset -c $pin sh -c "nc $peer 5004 <&3 >/tmp/rx2.bin"
	vt "rx2_sha=$(sha /tmp/rx2.bin)"
	vt_end
fi

if [ "$mode" = peer-b ]; then
	ping_until "$peer" 60 && vt "ping=ok" || vt "ping=fail"
	vt "ready"
	nc -l -p 7000 <&3 >/tmp/rx.bin
	vt "rx_bytes=$(wc -c </tmp/rx.bin)"
	vt "rx_sha=$(sha /tmp/rx.bin)"
	vt_end
fi

if [ "$mode" = peer-a ]; then
	ping_until "$peer" 60 && vt "ping=ok" || vt "ping=fail"
	dd if=/dev/urandom of=/tmp/tx.bin bs=1M count="$size" 2>/dev/null
	vt "tx_sha=$(sha /tmp/tx.bin)"
	# b pings us first, then listens: retry the connection
	t=0
	until nc "$peer" 7000 </tmp/tx.bin 2>/dev/null; do
		t=$((t + 1))
		[ $t -ge 120 ] && break
		sleep 1
	done
	[ $t -lt 120 ] && vt "tx=sent"
	vt_end
fi

if [ "$mode" = bench ]; then
	iperf3 -s -D >/dev/null 2>&1
	nc -ll -p 7000 -e /bin/cat </dev/null >/dev/null 2>&1 &
	vt "ready"
	nc -l -p 6000 <&3 >/dev/null
	vt_end
fi
vt "error=unknown-mode-$mode"
vt_end
