#!/usr/bin/env bash
# API latency benchmark (bench/api.c): vmm.ping and vm.info p50/p99 from 1 and 64 concurrent
# clients (keep-alive connections) while a Linux guest runs disk I/O
# (tests/guest/init-api.sh: a write/read-back loop plus a counter), and vm.pause / vm.resume
# latency. The peer in the same run: QEMU's QMP monitor (query-status, stop / cont) with the
# same guest, kernel and disk under KVM (QMP takes one client at a time).
#   bench/run-api.sh
# Without a usable /dev/kvm the whole run happens inside the nested-KVM L1 (tests/nested/l1.sh):
# then everything runs under QEMU TCG, and only the ratios between the two mean something.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
G=${GUEST_DIR:-$SRC/../shared/guest}
if [ "${1:-}" != --inner ]; then
	[ -x build/bench/api-bench ] || { echo "build first (ninja -C build)"; exit 2; }
	if [ ! -w /dev/kvm ]; then
		out=$(mktemp -d /tmp/vireo-bench-api.XXXXXX)
		echo "no /dev/kvm here: running inside the nested-KVM L1 (QEMU TCG, -cpu max)"
		GUEST_DIR=$(cd "$G" && pwd) exec tests/nested/l1.sh run --rw "$out" --timeout 1800 -- \
			"GUEST_DIR=$(cd "$G" && pwd) BENCH_OUT=$out bench/run-api.sh --inner"
	fi
fi
OUT=${BENCH_OUT:-$(mktemp -d)}
RUN=$(mktemp -d /tmp/api-bench.XXXXXX)
B=$SRC/build
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)$([ -e /sys/module/kvm_amd ] && echo ", kvm_amd")"
echo "qemu: $(qemu-system-x86_64 --version | head -1)"
head -c $((4 << 20)) /dev/urandom >"$RUN/pattern.bin"
tests/guest/mkinitramfs.sh "$RUN/initrd.gz" tests/guest/init-api.sh \
	tests/guest/init-common.sh:/init-common.sh "$RUN/pattern.bin"
truncate -s 64M "$RUN/disk.img"
wait_ticks() { # LOG
	for _ in $(seq 3000); do grep -q 'tick=5 ' "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "the guest did not start ($1)"; return 1
}

"$B/vireo" run --api-socket "$RUN/api.sock" --kernel "$G/bzImage" --initrd "$RUN/initrd.gz" \
	--cmdline "console=ttyS0 quiet panic=-1" --cpus 2 --memory 256M \
	--disk "path=$RUN/disk.img" --serial "file=$RUN/vireo.serial" &
vpid=$!
wait_ticks "$RUN/vireo.serial"
for route in vmm.ping vm.info; do
	"$B/bench/api-bench" http "$RUN/api.sock" $route 1 500
	"$B/bench/api-bench" http "$RUN/api.sock" $route 64 20
done
"$B/bench/api-bench" http-pause "$RUN/api.sock" 30
curl -s --unix-socket "$RUN/api.sock" http://localhost/api/v1/vm.counters | head -c 300; echo
curl -s -X PUT --unix-socket "$RUN/api.sock" http://localhost/api/v1/vmm.shutdown
wait $vpid || true

qemu-system-x86_64 -accel kvm -cpu host -smp 2 -m 256 -nodefaults -no-user-config -nographic \
	-kernel "$G/bzImage" -initrd "$RUN/initrd.gz" -append "console=ttyS0 quiet panic=-1" \
	-drive "file=$RUN/disk.img,if=virtio,format=raw" -serial "file:$RUN/qemu.serial" \
	-qmp "unix:$RUN/qmp.sock,server=on,wait=off" -display none &
qpid=$!
wait_ticks "$RUN/qemu.serial"
"$B/bench/api-bench" qmp "$RUN/qmp.sock" query-status 500
"$B/bench/api-bench" qmp-pause "$RUN/qmp.sock" 30
kill $qpid
wait $qpid 2>/dev/null || true
rm -rf "$RUN"
