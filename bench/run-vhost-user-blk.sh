#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vhost-user-blk data path: `vireo backend blk` vs qemu-storage-daemon (cache.direct=off,
# aio=io_uring) on the same image in the same run, driven by bench/vhost-user-blk.c (a
# front-end without a guest), with host fio on the file as the limit.
#   bench/run-vhost-user-blk.sh [RUNTIME_S] [IMAGE_MIB]
# Cases: 4k randread/randwrite at QD1 and QD32, 128k read/write at QD8; completion by
# busy-polling the used ring and by sleeping on the call eventfd.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME=${1:-5}
SIZE_MIB=${2:-512}
B=${BUILD_DIR:-build}
BENCH=$B/bench/vhost-user-blk-bench
VIREO=$B/vireo
[ -x "$BENCH" ] && [ -x "$VIREO" ] || { echo "build first (ninja -C $B)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/vu-bench.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

IMG=$W/disk.img
dd if=/dev/urandom of="$IMG" bs=1M count="$SIZE_MIB" status=none
sync "$IMG"

CASES=("randread 4096 1" "randwrite 4096 1" "randread 4096 32" "randwrite 4096 32"
       "read 131072 8" "write 131072 8")

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "kernel $(uname -r); image ${SIZE_MIB} MiB on $(df -T "$W" | awk 'NR==2{print $2}');" \
     "runtime ${RUNTIME}s per case; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "qemu-storage-daemon: $(qemu-storage-daemon --version | head -1)"
printf '%-8s %-9s %7s %3s %-5s %10s %9s %9s %9s %8s\n' backend rw bs qd wait iops MB/s \
	p50_us p99_us cpu_us/io

wait_sock() {
	for _ in $(seq 1 100); do [ -S "$1" ] && return 0; sleep 0.05; done
	echo "socket $1 did not appear" >&2
	return 1
}

run_backend() { # LABEL PID SOCK
	for c in "${CASES[@]}"; do
		set -- "$1" "$2" "$3" $c
		for mode in poll event; do
			"$BENCH" --socket "$3" --rw "$4" --bs "$5" --qd "$6" --runtime "$RUNTIME" \
				--wait "$mode" --backend-pid "$2" --label "$1"
		done
	done
}

S=$W/vireo.sock
"$VIREO" backend blk --socket "$S" --disk "path=$IMG" 2>"$W/vireo.log" &
pids+=($!)
wait_sock "$S"
run_backend vireo "${pids[-1]}" "$S"
kill -TERM "${pids[-1]}"
wait "${pids[-1]}" || true

S=$W/qsd.sock
qemu-storage-daemon \
	--blockdev "driver=file,node-name=f,filename=$IMG,cache.direct=off,aio=io_uring" \
	--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$S,writable=on" \
	2>"$W/qsd.log" &
pids+=($!)
wait_sock "$S"
run_backend qsd "${pids[-1]}" "$S"
kill -TERM "${pids[-1]}"
wait "${pids[-1]}" || true

if command -v fio >/dev/null; then
	for c in "${CASES[@]}"; do
		set -- $c
		fio --name=limit --filename="$IMG" --rw="$1" --bs="$2" --iodepth="$3" \
			--ioengine=io_uring --direct=0 --invalidate=0 --runtime="$RUNTIME" --time_based \
			--output-format=json 2>/dev/null |
			python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
rw, bs, qd = sys.argv[1:4]
d = j["write" if "write" in rw else "read"]
p = d["clat_ns"].get("percentile", {})
cpu = (j["usr_cpu"] + j["sys_cpu"]) / 100 * j["elapsed"] / max(d["total_ios"], 1) * 1e6
print("%-8s %-9s %7s %3s %-5s %10.0f %9.1f %9.1f %9.1f %8.2f" % ("fio", rw, bs, qd, "-",
      d["iops"], d["bw_bytes"] / 1e6, p.get("50.000000", 0) / 1e3,
      p.get("99.000000", 0) / 1e3, cpu))' "$1" "$2" "$3"
	done
fi
