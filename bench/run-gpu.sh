#!/bin/bash
# SPDX-License-Identifier: MIT
# virtio-gpu + VNC: frames per second and host CPU per frame for full-screen updates drawn by a
# guest program (bench/guest/gpufill.c: DRM dumb buffer + DIRTYFB per frame), and bytes per
# update sent to a VNC viewer (bench/vnc_pull.py, raw and zrle). The peer is QEMU's virtio-gpu
# and VNC server, with the same kernel, initrd and program, on the same KVM, in the same run.
#
#   bench/run-gpu.sh [BUILD_DIR]     env: SECS (per run, default 10), W, H (default 1024x768)
#
# Without a usable /dev/kvm it runs itself inside the nested-KVM L1 (tests/nested/l1.sh).
# CPU per frame is split by thread from /proc/PID/task/*/stat: vireo's loop thread (device
# emulation), its "vnc" thread, the rest (vCPUs); QEMU's main thread, "vnc_worker", "CPU n/KVM".
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SECS=${SECS:-10}
W=${W:-1024}
H=${H:-768}
GUEST=${GUEST_DIR:-../shared/guest}
PY=/usr/bin/python3

if [ -z "${VIREO_BENCH_INNER:-}" ]; then
	[ -x "$BUILD/vireo" ] || { echo "no $BUILD/vireo (build first)" >&2; exit 1; }
	[ -r "$GUEST/bzImage" ] || { echo "no guest kernel in $GUEST" >&2; exit 1; }
	out=$(mktemp -d /tmp/vireo-bench-gpu.XXXXXX)
	gcc -static -O2 -I/usr/include/libdrm -o "$out/gpufill" bench/guest/gpufill.c
	tests/guest/mkinitramfs.sh "$out/initrd.cpio.gz" bench/guest/init-gpubench.sh \
		tests/guest/init-common.sh:/init-common.sh "$out/gpufill:/gpufill"
	echo "# $(date -u +%FT%TZ) host $(uname -r), $(nproc) cpus; ${W}x${H}, ${SECS}s per run"
	if [ -w /dev/kvm ]; then
		VIREO_BENCH_INNER=1 OUT=$out exec "$0" "$BUILD"
	fi
	echo "# no /dev/kvm here: inside the nested-KVM L1 (QEMU TCG -> kvm_amd); absolute figures are TCG-slow, compare the two rows"
	exec tests/nested/l1.sh run --rw "$out" --timeout 1800 -- \
		env VIREO_BENCH_INNER=1 OUT="$out" SECS="$SECS" W="$W" H="$H" GUEST_DIR="$(cd "$GUEST" && pwd)" \
		bash bench/run-gpu.sh "$BUILD"
fi

WORK=$(mktemp -d /tmp/gpubench.XXXXXX) # tmpfs in the L1
trap 'rm -rf "$WORK"' EXIT

# utime+stime ticks per thread class: "loop vnc vcpu" (vireo) / "main vnc vcpu" (QEMU)
cpu_split() { # PID (bash builtins only: forks are slow under TCG)
	local pid=$1 loop=0 vnc=0 vcpu=0 t comm line ticks f
	for t in /proc/"$pid"/task/*; do
		read -r line <"$t/stat" 2>/dev/null || continue
		read -r comm <"$t/comm" 2>/dev/null || comm=?
		read -r -a f <<<"${line##*) }"
		ticks=$((f[11] + f[12]))
		if [ "${t##*/}" = "$pid" ]; then loop=$((loop + ticks))
		elif [[ $comm == vnc* ]]; then vnc=$((vnc + ticks))
		elif [[ $comm == CPU* ]] || [[ $comm == vireo* ]]; then vcpu=$((vcpu + ticks))
		fi
	done
	echo "$loop $vnc $vcpu"
}

run_one() { # NAME ENCODING CMD...
	local name=$1 enc=$2 serial=$WORK/$1.serial pid c0 c1 t0 t1 port=$3
	shift 3
	: >"$serial"
	"$@" >"$WORK/$name.out" 2>&1 &
	pid=$!
	$PY bench/vnc_pull.py 127.0.0.1 "$port" "$enc" $((SECS + 240)) >"$WORK/$name.vnc" &
	local vpid=$!
	for _ in $(seq 1 2400); do
		grep -aq "GPUFILL start" "$serial" && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	c0=$(cpu_split $pid); t0=$(date +%s.%N)
	for _ in $(seq 1 $((SECS * 50 + 2400))); do
		grep -aq "GPUFILL frames=" "$serial" && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	c1=$(cpu_split $pid); t1=$(date +%s.%N)
	wait $pid || true
	kill $vpid 2>/dev/null || true
	wait $vpid 2>/dev/null || true
	local line frames ns
	line=$(grep -a "GPUFILL frames=" "$serial" | tr -d '\r' | tail -1)
	frames=$(sed -E 's/.*frames=([0-9]+).*/\1/' <<<"$line")
	ns=$(sed -E 's/.*ns=([0-9]+).*/\1/' <<<"$line")
	[ -n "$line" ] || { echo "$name: no result"; tail -5 "$serial" "$WORK/$name.out"; return; }
	cp "$WORK/$name.vnc" "$WORK/$name.out" "$OUT/" 2>/dev/null || true
	$PY - "$name" "$enc" "$frames" "$ns" "$c0" "$c1" "$t0" "$t1" "$WORK/$name.vnc" <<'PY'
import os, sys
name, enc, frames, ns, c0, c1, t0, t1, vnc = sys.argv[1:]
frames, ns, t0, t1 = int(frames), int(ns), float(t0), float(t1)
hz = os.sysconf("SC_CLK_TCK")
d = [(int(b) - int(a)) * 1000.0 / hz / max(frames, 1) for a, b in zip(c0.split(), c1.split())]
rows = [l.split() for l in open(vnc) if l.strip()]
inside = [r for r in rows if t0 <= float(r[0]) <= t1]
if len(inside) >= 2:
    n = int(inside[-1][1]) - int(inside[0][1])
    b = int(inside[-1][2]) - int(inside[0][2])
    px = int(inside[-1][3]) - int(inside[0][3])
    ups = n / (float(inside[-1][0]) - float(inside[0][0]))
    per = "%10.0f %8.2f %6.1f" % (b / max(n, 1), px / max(n, 1) / 1e6, ups)
else:
    per = "%10s %8s %6s" % ("-", "-", "-")
print("%-6s %-5s %6.1f %9.2f %9.2f %9.2f %s" % (name.split("-")[0], enc, frames * 1e9 / ns, d[0], d[1], d[2], per))
PY
}

printf '%-6s %-5s %6s %9s %9s %9s %10s %8s %6s\n' vmm vnc fps "loop ms" "vnc ms" "vcpu ms" \
	"B/update" "Mpx/upd" "upd/s"
n=0
for enc in raw zrle; do
	n=$((n + 1))
	p1=$((25900 + n)) p2=$((26900 + n))
	run_one "vireo-$enc" "$enc" "$p1" "$BUILD/vireo" run --kernel "$GUEST_DIR/bzImage" \
		--initrd "$OUT/initrd.cpio.gz" --cmdline "console=ttyS0 quiet panic=-1 vt.secs=$SECS" \
		--memory 512M --gpu "width=$W,height=$H" --display "vnc=127.0.0.1:$p1" \
		--serial "file=$WORK/vireo-$enc.serial"
	run_one "qemu-$enc" "$enc" "$p2" qemu-system-x86_64 -enable-kvm -cpu host -m 512 \
		-name bench,debug-threads=on \
		-nodefaults -no-reboot -display none -vnc "127.0.0.1:$((p2 - 5900))" \
		-device "virtio-gpu-pci,xres=$W,yres=$H" -kernel "$GUEST_DIR/bzImage" \
		-initrd "$OUT/initrd.cpio.gz" -append "console=ttyS0 quiet panic=-1 vt.secs=$SECS" \
		-serial "file:$WORK/qemu-$enc.serial"
done
