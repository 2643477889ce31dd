#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Balloon benchmark inside the nested-KVM L1 (tests/nested/l1.sh): how long guest memory takes
# to reach the host, vireo's virtio-balloon against QEMU's (-device virtio-balloon-pci, guest
# RAM a shared memfd too), same guest kernel and script (tests/guest/init-balloon.sh), same
# L1, alternating. Timed from the host by bench/balloon_bench.py on the VMM's RssShmem:
#  - inflate: the guest binds its balloon driver (128 MiB target, memory all touched before):
#    time until the VMM's resident guest memory fell by 120 MiB;
#  - report: with free page reporting, the guest removes a 200 MiB tmpfs file: time until it
#    fell by 150 MiB.
#   bench/run-balloon.sh [REPEAT]
# Everything in the L1 runs under QEMU TCG: compare the two VMMs, not absolute times.
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT=${1:-3}
out=$(mktemp -d /tmp/vireo-bench-balloon.XXXXXX)
tests/guest/mkinitramfs.sh "$out/initrd.gz" tests/guest/init-balloon.sh \
	tests/guest/init-common.sh:/init-common.sh
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
	"kernel $(uname -r); vireo and QEMU run in the nested L1 (QEMU TCG -cpu max, kvm_amd)" |
	tee "$out/results"
tests/nested/l1.sh run --rw "$out" --timeout 3000 -- bench/balloon-l1.sh "$out" "$REPEAT" |
	tr -d '\r' | grep -E '^(vireo|qemu):' | tee -a "$out/results"
echo "results in $out/results"
