#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of tests/integration/96-api-devices-guest.sh (a VM made by vm.create with net,
# rng, balloon, vsock and a virtio console): what Linux found, each device used once, then
# the balloon: MemTotal before, once vm.resize made the driver inflate 64 MiB (MemTotal fell
# by 65536 kB), and once a second vm.resize to 0 gave it back (MemTotal as before); 240 s at
# most for each.
. /init-common.sh
memtotal() { sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
vt "virtio_ids=$(cat /sys/bus/virtio/devices/*/device | sort | tr '\n' ' ')"
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ -e /sys/class/net/eth0 ]; then
	vt "eth0_mac=$(cat /sys/class/net/eth0/address)"
	vt "eth0_mtu=$(cat /sys/class/net/eth0/mtu)"
	vt "eth0_rx_queues=$(ls -d /sys/class/net/eth0/queues/rx-* | wc -l)"
	ip addr add "$(vt_param ip)/24" dev eth0
	ip link set eth0 up
	if ping -c 1 -W 10 "$(vt_param peer)" >/dev/null 2>&1; then vt "ping=ok"; else vt "ping=failed"; fi
fi
vt "hwrng=$(cat /sys/class/misc/hw_random/rng_current)"
vt "hwrng_bytes=$(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | wc -c)"
[ -c /dev/hvc0 ] && echo "hello from hvc0" >/dev/hvc0
m0=$(memtotal)
vt "memtotal0=$m0"
# until MemTotal is DROP kB or more below m0 (MAX: at most that far below); 240 s at most
wait_mem() { # min|max DROP
	end=$(($(date +%s) + 240))
	while [ "$(date +%s)" -lt $end ]; do
		m=$(memtotal)
		[ "$1" = min ] && [ $((m0 - m)) -ge "$2" ] && return 0
		[ "$1" = max ] && [ $((m0 - m)) -le "$2" ] && return 0
		sleep 0.5
	done
}
wait_mem min 65536
vt "memtotal_drop_kb=$((m0 - m))"
wait_mem max 0
vt "memtotal_back_kb=$((m0 - m))"
vt_end
