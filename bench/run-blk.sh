#!/bin/bash
# virtio-blk data path vs host fio on the same file in the same run.
#   bench/run-blk.sh [BUILD_DIR]      env: IMG (default /var/tmp/vireo-bench-blk.img, 1 GiB,
#                                     created if missing), TIME (s per run, default 5),
#                                     MODES ("buffered direct"), ENGINE (io_uring|sync)
# Prints one line per workload: vireo IOPS / MB/s / CPU per request, fio the same, ratio.
set -euo pipefail
BUILD=${1:-build}
BENCH=$BUILD/bench/bench-blk
IMG=${IMG:-/var/tmp/vireo-bench-blk.img}
TIME=${TIME:-5}
MODES=${MODES:-"buffered direct"}
REPEAT=${REPEAT:-3}   # alternate vireo/fio this many times, keep the best run of each
ENGINE=${ENGINE:-io_uring}
[ -x "$BENCH" ] || { echo "no $BENCH (build first)" >&2; exit 1; }
command -v fio >/dev/null || { echo "fio not installed" >&2; exit 1; }
if [ ! -f "$IMG" ]; then
	dd if=/dev/urandom of="$IMG" bs=1M count=1024 status=none
fi
SIZE=$(stat -c %s "$IMG")

fio_run() { # rw bs qd direct engine -> "iops mbs cpu_us"
	# CPU is the whole fio process tree (RUSAGE_CHILDREN: io_uring io-wq workers included),
	# the same accounting bench-blk uses for itself (RUSAGE_SELF); fio's own usr/sys figures
	# leave the io-wq workers out.
	python3 - "$IMG" "$SIZE" "$1" "$2" "$3" "$4" "$5" "$TIME" <<'PY'
import json, resource, subprocess, sys
img, size, rw, bs, qd, direct, engine, t = sys.argv[1:]
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
out = subprocess.run(["fio", "--name=ref", "--filename=" + img, "--size=" + size,
    "--ioengine=" + engine, "--rw=" + rw, "--bs=" + bs, "--iodepth=" + qd, "--direct=" + direct,
    "--time_based", "--runtime=" + t, "--norandommap", "--randrepeat=0", "--invalidate=0",
    "--output-format=json"], capture_output=True, text=True).stdout
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
j = json.loads(out[out.index("{"):])["jobs"][0]
d = j["read"] if j["read"]["total_ios"] else j["write"]
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print("%.0f %.1f %.2f" % (d["iops"], d["bw_bytes"] / 1e6, cpu * 1e6 / max(d["total_ios"], 1)))
PY
}

best() { # keep the triple with the higher IOPS
	python3 -c 'import sys; a=sys.argv[1].split(); b=sys.argv[2].split(); print(" ".join(b if float(b[0])>float(a[0]) else a))' "$1" "$2"
}

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus; image $IMG ($SIZE bytes); ${TIME}s per run, best of $REPEAT; engine $ENGINE"
printf '%-9s %-6s %-4s %-8s | %10s %9s %8s | %10s %9s %8s | %5s\n' rw bs qd mode \
	"vireo IOPS" "MB/s" "us/req" "fio IOPS" "MB/s" "us/req" ratio
for mode in $MODES; do
	d=0; flag=""
	[ "$mode" = direct ] && { d=1; flag=--direct; }
	# Buffered runs measure the data path over a warm page cache (fio: invalidate=0).
	[ "$mode" = buffered ] && cat "$IMG" >/dev/null
	sflag=""; fengine=io_uring
	[ "$ENGINE" = sync ] && { sflag=--sync; fengine=psync; }
	for w in "randread 4096 1" "randwrite 4096 1" "randread 4096 32" "randwrite 4096 32" \
		 "read 131072 32" "write 131072 32"; do
		set -- $w
		qd=$3; [ "$ENGINE" = sync ] && qd=1
		v="0 0 0"; f="0 0 0"
		for _ in $(seq "$REPEAT"); do
			vv=$("$BENCH" --file "$IMG" --rw "$1" --bs "$2" --qd "$qd" --time "$TIME" $flag $sflag |
				sed -E 's/.*: ([0-9.]+) IOPS, ([0-9.]+) MB\/s, ([0-9.]+) us.*/\1 \2 \3/')
			ff=$(fio_run "$1" "$2" "$qd" "$d" "$fengine")
			v=$(best "$v" "$vv"); f=$(best "$f" "$ff")
		done
		set -- $w $v $f
		ratio=$(python3 -c "print('%.2f' % ($4/$7))")
		printf '%-9s %-6s %-4s %-8s | %10s %9s %8s | %10s %9s %8s | %5s\n' "$1" "$2" "$qd" \
			"$mode" "$4" "$5" "$6" "$7" "$8" "$9" "$ratio"
	done
done
