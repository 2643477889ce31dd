#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Boot benchmark: wall time from exec to the guest's /init (its first line on the serial
# console), median over RUNS, for the shared bzImage and the PVH vmlinux with 1 and 2 vCPUs,
# vireo and QEMU (-M microvm, -accel kvm) side by side with the same kernel and initramfs.
# On a host with a hardware KVM it runs there; otherwise the whole benchmark runs inside the
# nested-KVM L1 (tests/nested/l1.sh) and says so: figures there are TCG-emulated and compare
# the two VMMs only with each other.
#   bench/run-boot.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib/runner.sh
G=${GUEST_DIR:-../shared/guest}
[ -r "$G/bzImage" ] || { echo "bench/run-boot.sh: no guest kernel in $G" >&2; exit 2; }
G=$(cd "$G" && pwd)
CONFIGS=("bzImage 1" "bzImage 2" "vmlinux 1" "vmlinux 2")
if [ "${VIREO_BENCH_INSIDE:-0}" != 1 ] && [ "$(host_kvm_kind)" != hw ]; then
	RUNS=${1:-10}
	echo "bench/run-boot.sh: no hardware KVM here ($(host_kvm_kind)): running in the nested-KVM L1"
	# One L1 per kernel/vCPU configuration, with a heartbeat: the L1 has been seen to freeze
	# (soft lockup of one of its vCPUs under TCG) and then that configuration is run again in
	# a fresh L1, once.
	out=$(mktemp -d)
	rc=0
	for cfg in "${CONFIGS[@]}"; do
		for try in 1 2; do
			r=0
			VIREO_BENCH_INSIDE=1 VIREO_BOOT_CONFIG=$cfg GUEST_DIR=$G tests/nested/l1.sh run \
				--rw "$out" --log "$out/console.log" --heartbeat "$out/hb" 60 \
				--timeout $((300 + RUNS * 60)) -- "{ (while :; do touch $out/hb; sleep 5; done) & } ;
				bench/run-boot.sh $RUNS >$out/result.txt 2>&1" || r=$?
			if [ $try = 1 ] && [ "$cfg" = "${CONFIGS[0]}" ]; then head -2 "$out/result.txt"; fi
			grep -vE '^(machine|qemu):' "$out/result.txt" || true
			[ $r = 125 ] || [ $r = 124 ] || break
			echo "bench/run-boot.sh: $cfg: the L1 froze or timed out (rc $r), again in a fresh L1"
		done
		[ $r = 0 ] || rc=$r
	done
	rm -rf "$out"
	exit $rc
fi
RUNS=${1:-30}
initrd=$(mktemp /tmp/boot-initrd.XXXXXX)
tests/guest/mkinitramfs.sh "$initrd" bench/init-boot.sh
where="host, hardware KVM"
[ "${VIREO_BENCH_INSIDE:-0}" = 1 ] && where="nested-KVM L1 under QEMU TCG (no hardware KVM on the host)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r); $where"
echo "qemu: $(qemu-system-x86_64 --version | head -1); runs: $RUNS; marker: the guest's /init line"
CMDLINE="console=ttyS0 quiet panic=-1"
export BENCH_MARKER=VIREO-BOOT-INIT
for cfg in "${CONFIGS[@]}"; do
	read -r k c <<<"$cfg"
	[ -z "${VIREO_BOOT_CONFIG:-}" ] || [ "$VIREO_BOOT_CONFIG" = "$cfg" ] || continue
	build/bench/startup "$RUNS" "vireo-$k-${c}cpu" -- build/vireo run --kernel "$G/$k" \
		--initrd "$initrd" --cpus "$c" --memory 256M --cmdline "$CMDLINE" --serial stdio |
		grep -E 'marker|exit|failed|RssAnon' || true
	build/bench/startup "$RUNS" "qemu-$k-${c}cpu" -- qemu-system-x86_64 \
		-M microvm,rtc=off -accel kvm -cpu host -smp "$c" -m 256 -nodefaults \
		-no-user-config -display none -no-reboot -serial stdio \
		-kernel "$G/$k" -initrd "$initrd" -append "$CMDLINE" |
		grep -E 'marker|exit|failed|RssAnon' || true
done
rm -f "$initrd"
