#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# virtio-net throughput and small-message rates, vireo against QEMU in the same place and run.
#
#   bench/run-net.sh            kvm part (vireo vs QEMU -accel kvm, vhost-less virtio-net on a
#                               TAP): on a host with hardware KVM here, else inside the nested
#                               L1 (tests/nested/l1.sh); then the tcg part on this host
#   bench/run-net.sh kvm        only the kvm part, here (needs a usable /dev/kvm)
#   bench/run-net.sh tcg        only the tcg part: `vireo backend net` vs QEMU's own tap
#                               netdev, both behind a QEMU TCG guest
#   env: TIME (s per measurement, default 10), BUILD (default build)
#
# Each VMM boots the same guest (1 queue pair, 2 vCPUs, tests/guest/init-net.sh vt.mode=bench:
# iperf3 -s and a busybox nc echo server) on a TAP in a network namespace made here; the host
# side runs from that namespace:
#   TCP h->g, g->h   iperf3 -c / -c -R, one stream, Gbit/s (receiver side)
#   UDP64 h->g       iperf3 -u -l 64 -b 0: 64-byte datagrams the guest received per second
#   RR               64-byte request/response round trips per second over one TCP
#                    connection to the guest's echo server (python3 client)
# and the CPU the VMM spent: all of its threads except the vCPU ones (vireo: its main/loop
# thread; QEMU: everything but "CPU n/KVM" / "CPU n/TCG"; vireo backend: the whole daemon),
# in CPU-seconds per GB moved (TCP) or microseconds per message (UDP64, RR).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC_DIR=$(cd "$HERE/.." && pwd)
BUILD=${BUILD:-$SRC_DIR/build}
VIREO=$BUILD/vireo
TIME=${TIME:-10}
GUEST_DIR=${GUEST_DIR:-$SRC_DIR/../shared/guest}
export PATH=$PATH:/usr/sbin:/sbin
WORK=$(mktemp -d /tmp/vireo-bench-net.XXXXXX)
. "$SRC_DIR/tests/integration/lib/net.sh"
NS=vbench-$$
NSX=(ip netns exec "$NS")
cleanup() { net_cleanup; rm -rf "$WORK"; }
trap cleanup EXIT

need() { for c in "$@"; do command -v "$c" >/dev/null || { echo "run-net: $c missing" >&2; exit 1; }; done; }

# CPU ticks of pid's threads, "vcpu" / "vmm" sums: vireo's vCPUs are its non-main threads.
cpu_ticks() { # PID KIND(vireo|qemu|backend)
	python3 - "$1" "$2" <<'PY'
import os, sys
pid, kind = sys.argv[1], sys.argv[2]
vmm = vcpu = 0
for tid in os.listdir(f"/proc/{pid}/task"):
    try:
        st = open(f"/proc/{pid}/task/{tid}/stat").read()
        comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
    except OSError:
        continue
    f = st[st.rindex(")") + 2:].split()
    t = int(f[11]) + int(f[12])
    if kind == "vireo":
        is_vcpu = tid != pid
    elif kind == "qemu":
        is_vcpu = comm.startswith("CPU ")
    else:
        is_vcpu = False
    if is_vcpu:
        vcpu += t
    else:
        vmm += t
print(vmm, vcpu)
PY
}

# One measurement: runs CMD (host side, in the namespace), prints "VALUE VMM_CPU_S".
measure() { # PID KIND PARSER CMD...
	local pid=$1 kind=$2 parser=$3 a b out
	shift 3
	a=$(cpu_ticks "$pid" "$kind")
	out=$("${NSX[@]}" "$@" 2>/dev/null)
	b=$(cpu_ticks "$pid" "$kind")
	python3 - "$parser" "$a" "$b" "$(getconf CLK_TCK)" <<PY
import json, sys
parser, a, b, hz = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])
cpu = (int(b[0]) - int(a[0])) / hz
out = r'''$out'''
try:
    if parser == "tcp":
        j = json.loads(out)
        s = j["end"]["sum_received"]
        print("%.3f %.3f %d" % (s["bits_per_second"] / 1e9, cpu, s["bytes"]))
    elif parser == "udp":
        j = json.loads(out)
        s = j["end"]["sum"]
        got = s["packets"] - s["lost_packets"]
        print("%.0f %.3f %d" % (got / s["seconds"], cpu, got))
    else:  # rr: "N SECONDS"
        n, secs = out.split()
        print("%.0f %.3f %d" % (int(n) / float(secs), cpu, int(n)))
except Exception as e:
    print("0 %.3f 0" % cpu)
PY
}

RR_CLIENT='
import socket, sys, time
s = socket.create_connection((sys.argv[1], 7000), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
msg = b"x" * 64
end = time.monotonic() + float(sys.argv[2]); n = 0; t0 = time.monotonic()
while time.monotonic() < end:
    s.sendall(msg); got = 0
    while got < 64:
        d = s.recv(64 - got)
        if not d: raise SystemExit("closed")
        got += len(d)
    n += 1
print(n, time.monotonic() - t0)
'

# The four measurements against the guest at 10.77.0.2; prints one table row.
bench_row() { # NAME PID KIND
	local name=$1 pid=$2 kind=$3 tx rx udp rr
	rx=$(measure "$pid" "$kind" tcp iperf3 -c 10.77.0.2 -t "$TIME" -J)
	tx=$(measure "$pid" "$kind" tcp iperf3 -c 10.77.0.2 -t "$TIME" -J -R)
	udp=$(measure "$pid" "$kind" udp iperf3 -c 10.77.0.2 -t "$TIME" -J -u -l 64 -b 0)
	rr=$(measure "$pid" "$kind" rr python3 -c "$RR_CLIENT" 10.77.0.2 "$TIME")
	python3 - "$name" "$rx" "$tx" "$udp" "$rr" <<'PY'
import sys
name = sys.argv[1]
def f(s): v, cpu, n = s.split(); return float(v), float(cpu), int(n)
rx, tx, udp, rr = (f(x) for x in sys.argv[2:6])
def per_gb(r): return r[1] / (r[2] / 1e9) if r[2] else 0
def per_msg(r): return r[1] * 1e6 / r[2] if r[2] else 0
print("%-22s %7.2f %7.2f %9.0f %8.0f | %8.1f %8.1f %8.2f %8.1f" % (name, rx[0], tx[0], udp[0],
      rr[0], per_gb(rx), per_gb(tx), per_msg(udp), per_msg(rr)))
PY
}

header() {
	printf '%-22s %7s %7s %9s %8s | %8s %8s %8s %8s\n' "" "h->g" "g->h" "UDP64" "RR" \
		"CPU s/GB" "CPU s/GB" "us/msg" "us/msg"
	printf '%-22s %7s %7s %9s %8s | %8s %8s %8s %8s\n' VMM "Gbit/s" "Gbit/s" "msg/s" "trips/s" \
		"h->g" "g->h" "UDP64" "RR"
}

setup_ns() {
	net_ns "$NS" || { echo "run-net: cannot make a network namespace" >&2; exit 1; }
	"${NSX[@]}" ip tuntap add dev btap0 mode tap
	"${NSX[@]}" ip addr add 10.77.0.1/24 dev btap0
	"${NSX[@]}" ip link set btap0 up
	net_initrd "$WORK/initrd.gz" iperf3 >/dev/null || { echo "run-net: initramfs" >&2; exit 1; }
}

APPEND="console=ttyS0 quiet panic=-1 vt.mode=bench vt.ip=10.77.0.2 vt.peer=10.77.0.1"

wait_ready() { # LOG PID
	net_wait_log "$1" '^VT: ready' 300 || { echo "run-net: guest did not come up ($1)" >&2; tail -5 "$1" >&2; return 1; }
	# the first ping also settles ARP
	"${NSX[@]}" /bin/busybox ping -c 2 -W 5 10.77.0.2 >/dev/null 2>&1
}

guest_done() { # PID
	echo done | "${NSX[@]}" /bin/busybox nc 10.77.0.2 6000 >/dev/null 2>&1
	wait "$1" 2>/dev/null
}

part_kvm() {
	[ -w /dev/kvm ] || { echo "run-net kvm: no usable /dev/kvm here" >&2; exit 1; }
	need iperf3 python3 qemu-system-x86_64 ip
	setup_ns
	echo "# kvm part: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "# guest: 2 vCPUs, 512 MiB, 1 queue pair, MTU 1500; ${TIME}s per measurement"
	header
	net_bg "${NSX[@]}" "$VIREO" run --kernel "$GUEST_DIR/bzImage" --initrd "$WORK/initrd.gz" \
		--cpus 2 --memory 512M --serial "file=$WORK/vireo.log" --cmdline "$APPEND" \
		--net tap=btap0,mac=52:54:00:77:00:02
	local p=$net_last
	wait_ready "$WORK/vireo.log" "$p" && bench_row "vireo (tap)" "$p" vireo
	guest_done "$p"
	net_bg "${NSX[@]}" qemu-system-x86_64 -name bench,debug-threads=on -accel kvm -cpu host \
		-smp 2 -m 512 -nographic -no-reboot -nodefaults -serial "file:$WORK/qemu.log" \
		-netdev tap,id=n0,ifname=btap0,script=no,downscript=no,vhost=off \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:77:00:02 \
		-kernel "$GUEST_DIR/bzImage" -initrd "$WORK/initrd.gz" -append "$APPEND"
	p=$net_last
	wait_ready "$WORK/qemu.log" "$p" && bench_row "QEMU -accel kvm (tap)" "$p" qemu
	guest_done "$p"
}

part_tcg() {
	need iperf3 python3 qemu-system-x86_64 ip
	setup_ns
	echo "# tcg part: $(uname -r), $(nproc) CPUs; QEMU TCG guests (-smp 2, 256 MiB, vectors=0)"
	echo "# CPU column: vireo backend daemon (whole) vs QEMU's non-vCPU threads"
	header
	local q=(qemu-system-x86_64 -name bench,debug-threads=on -accel tcg -cpu max -smp 2 -m 256
		-nographic -no-reboot -nodefaults
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem
		-kernel "$GUEST_DIR/bzImage" -initrd "$WORK/initrd.gz" -append "$APPEND")
	net_bg "${NSX[@]}" "$VIREO" backend net --socket "$WORK/net.sock" --tap btap0 2>"$WORK/backend.log"
	local b=$net_last
	for _ in $(seq 1 100); do [ -S "$WORK/net.sock" ] && break; sleep 0.05; done
	net_bg "${NSX[@]}" "${q[@]}" -serial "file:$WORK/tcg-vu.log" \
		-chardev "socket,id=c0,path=$WORK/net.sock" -netdev vhost-user,id=n0,chardev=c0 \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:77:00:02,vectors=0
	local p=$net_last
	wait_ready "$WORK/tcg-vu.log" "$p" && bench_row "vireo backend net" "$b" backend
	guest_done "$p"
	kill "$b"
	wait "$b" 2>/dev/null
	net_bg "${NSX[@]}" "${q[@]}" -serial "file:$WORK/tcg-tap.log" \
		-netdev tap,id=n0,ifname=btap0,script=no,downscript=no,vhost=off \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:77:00:02,vectors=0
	p=$net_last
	wait_ready "$WORK/tcg-tap.log" "$p" && bench_row "QEMU tap netdev" "$p" qemu
	guest_done "$p"
}

case "${1:-all}" in
kvm) part_kvm ;;
tcg) part_tcg ;;
all)
	if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]; then
		echo "# hardware KVM on this host"
		"$0" kvm
	else
		echo "# no hardware KVM here: the kvm part runs inside the nested L1 (QEMU TCG -cpu max"
		echo "# -> kvm_amd), vireo and QEMU -accel kvm side by side there"
		"$SRC_DIR/tests/nested/l1.sh" run --timeout 1200 -- "TIME=$TIME $0 kvm" 2>&1 |
			grep -vE '^VIREO-L1-READY'
	fi
	"$0" tcg
	;;
*) sed -n '3,12p' "$0"; exit 2 ;;
esac
