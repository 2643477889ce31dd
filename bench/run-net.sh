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
#   env: TIME (s per measurement, default 10), REPEAT (default 3), BUILD (default build)
#
# Each VMM boots the same guest (1 queue pair, 2 vCPUs, tests/guest/init-net.sh vt.mode=bench:
# iperf3 -s and a busybox nc echo server) on its own TAP in a network namespace made here, both
# at once; the host side runs from that namespace, alternating between the two guests (so that
# whatever else the machine does hits both alike), REPEAT times, keeping the best:
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

# Results go to $WORK/results as "NAME METRIC VALUE CPU_S COUNT"; then one row per VMM and
# the ratio of the first to the second.
REPEAT=${REPEAT:-3}
run_all() { # NAME:PID:KIND:IP ...
	local r m spec name pid kind ip out
	for r in $(seq 1 "$REPEAT"); do
		for m in rx tx udp rr; do
			for spec in "$@"; do
				IFS=: read -r name pid kind ip <<<"$spec"
				case $m in
				rx) out=$(measure "$pid" "$kind" tcp iperf3 -c "$ip" -t "$TIME" -J) ;;
				tx) out=$(measure "$pid" "$kind" tcp iperf3 -c "$ip" -t "$TIME" -J -R) ;;
				udp) out=$(measure "$pid" "$kind" udp iperf3 -c "$ip" -t "$TIME" -J -u -l 64 -b 0) ;;
				rr) out=$(measure "$pid" "$kind" rr python3 -c "$RR_CLIENT" "$ip" "$TIME") ;;
				esac
				echo "$name $m $out" >>"$WORK/results"
			done
		done
	done
	python3 - "$WORK/results" "$@" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, m, v, cpu, n = line.split()
    best = rows.setdefault(name, {}).get(m)
    if best is None or float(v) > best[0]:
        rows[name][m] = (float(v), float(cpu), int(n))
def per_gb(r): return r[1] / (r[2] / 1e9) if r[2] else 0
def per_msg(r): return r[1] * 1e6 / r[2] if r[2] else 0
names = [s.split(":")[0] for s in sys.argv[2:]]
for name in names:
    d = rows.get(name, {})
    g = lambda m: d.get(m, (0, 0, 0))
    print("%-22s %7.3f %7.3f %9.0f %8.0f | %8.1f %8.1f %8.1f %8.1f" % (name.replace("_", " "),
          g("rx")[0], g("tx")[0], g("udp")[0], g("rr")[0], per_gb(g("rx")), per_gb(g("tx")),
          per_msg(g("udp")), per_msg(g("rr"))))
if len(names) == 2:
    a, b = rows.get(names[0], {}), rows.get(names[1], {})
    def ratio(m): return a[m][0] / b[m][0] if m in a and m in b and b[m][0] else 0
    def cratio(m, f): return f(a[m]) / f(b[m]) if m in a and m in b and f(b[m]) else 0
    print("%-22s %7.2f %7.2f %9.2f %8.2f | %8.2f %8.2f %8.2f %8.2f" % ("ratio first/second",
          ratio("rx"), ratio("tx"), ratio("udp"), ratio("rr"), cratio("rx", per_gb),
          cratio("tx", per_gb), cratio("udp", per_msg), cratio("rr", per_msg)))
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
	local i
	for i in 0 1; do
		"${NSX[@]}" ip tuntap add dev btap$i mode tap
		"${NSX[@]}" ip addr add 10.77.$i.1/24 dev btap$i
		"${NSX[@]}" ip link set btap$i up
	done
	net_initrd "$WORK/initrd.gz" iperf3 >/dev/null || { echo "run-net: initramfs" >&2; exit 1; }
}

append() { # SUBNET
	echo "console=ttyS0 quiet panic=-1 vt.mode=bench vt.ip=10.77.$1.2 vt.peer=10.77.$1.1"
}

wait_ready() { # LOG IP
	net_wait_log "$1" '^VT: ready' 300 || { echo "run-net: guest did not come up ($1)" >&2; tail -5 "$1" >&2; return 1; }
	# the first ping also settles ARP
	"${NSX[@]}" /bin/busybox ping -c 2 -W 5 "$2" >/dev/null 2>&1
}

guest_done() { # PID IP
	echo done | "${NSX[@]}" /bin/busybox nc "$2" 6000 >/dev/null 2>&1
	wait "$1" 2>/dev/null
}

part_kvm() {
	[ -w /dev/kvm ] || { echo "run-net kvm: no usable /dev/kvm here" >&2; exit 1; }
	need iperf3 python3 qemu-system-x86_64 ip
	setup_ns
	echo "# kvm part: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# guests: 2 vCPUs, 512 MiB, 1 queue pair, MTU 1500, both up at once; ${TIME}s per measurement, best of $REPEAT, interleaved"
	echo "# CPU: vireo's main (event-loop) thread vs QEMU's non-vCPU threads"
	net_bg "${NSX[@]}" "$VIREO" run --kernel "$GUEST_DIR/bzImage" --initrd "$WORK/initrd.gz" \
		--cpus 2 --memory 512M --serial "file=$WORK/vireo.log" --cmdline "$(append 0)" \
		--net tap=btap0,mac=52:54:00:77:00:02
	local v=$net_last
	net_bg "${NSX[@]}" qemu-system-x86_64 -name bench,debug-threads=on -accel kvm -cpu host \
		-smp 2 -m 512 -nographic -no-reboot -nodefaults -serial "file:$WORK/qemu.log" \
		-netdev tap,id=n0,ifname=btap1,script=no,downscript=no,vhost=off \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:77:01:02 \
		-kernel "$GUEST_DIR/bzImage" -initrd "$WORK/initrd.gz" -append "$(append 1)"
	local q=$net_last
	wait_ready "$WORK/vireo.log" 10.77.0.2 && wait_ready "$WORK/qemu.log" 10.77.1.2 || return 1
	header
	run_all "vireo_(tap):$v:vireo:10.77.0.2" "QEMU_-accel_kvm_(tap):$q:qemu:10.77.1.2"
	guest_done "$v" 10.77.0.2
	guest_done "$q" 10.77.1.2
}

part_tcg() {
	need iperf3 python3 qemu-system-x86_64 ip
	setup_ns
	echo "# tcg part: $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); QEMU TCG guests (-smp 2, 256 MiB, vectors=0), both up at once"
	echo "# ${TIME}s per measurement, best of $REPEAT, interleaved. CPU: the vireo backend daemon (all of it) vs QEMU's non-vCPU threads"
	local q=(qemu-system-x86_64 -name bench,debug-threads=on -accel tcg -cpu max -smp 2 -m 256
		-nographic -no-reboot -nodefaults
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem
		-kernel "$GUEST_DIR/bzImage" -initrd "$WORK/initrd.gz")
	net_bg "${NSX[@]}" "$VIREO" backend net --socket "$WORK/net.sock" --tap btap0 2>"$WORK/backend.log"
	local b=$net_last
	for _ in $(seq 1 100); do [ -S "$WORK/net.sock" ] && break; sleep 0.05; done
	net_bg "${NSX[@]}" "${q[@]}" -serial "file:$WORK/tcg-vu.log" -append "$(append 0)" \
		-chardev "socket,id=c0,path=$WORK/net.sock" -netdev vhost-user,id=n0,chardev=c0 \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:77:00:02,vectors=0
	local p1=$net_last
	net_bg "${NSX[@]}" "${q[@]}" -serial "file:$WORK/tcg-tap.log" -append "$(append 1)" \
		-netdev tap,id=n0,ifname=btap1,script=no,downscript=no,vhost=off \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:77:01:02,vectors=0
	local p2=$net_last
	wait_ready "$WORK/tcg-vu.log" 10.77.0.2 && wait_ready "$WORK/tcg-tap.log" 10.77.1.2 || return 1
	header
	run_all "vireo_backend_net:$b:backend:10.77.0.2" "QEMU_tap_netdev:$p2:qemu:10.77.1.2"
	guest_done "$p1" 10.77.0.2
	guest_done "$p2" 10.77.1.2
	kill "$b"
	wait "$b" 2>/dev/null
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
		"$SRC_DIR/tests/nested/l1.sh" run --timeout 2400 -- "TIME=$TIME REPEAT=$REPEAT $0 kvm" 2>&1 |
			grep -vE '^VIREO-L1-READY'
	fi
	TIME=$TIME REPEAT=$REPEAT "$0" tcg
	;;
*) sed -n '3,12p' "$0"; exit 2 ;;
esac
