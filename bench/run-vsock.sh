#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vsock benchmark, guest <-> host, inside the nested-KVM L1 (tests/nested/l1.sh): vireo's
# virtio-vsock (hybrid AF_UNIX host side) against the Linux kernel's vhost-vsock driven by
# QEMU (-device vhost-vsock-pci, AF_VSOCK host side), same guest kernel and initramfs
# (bench/guest/vsockperf.c), same L1, one after the other. Measures (bench/vsock_bench.py):
# host->guest and guest->host throughput of one connection (MIB MiB, best of 3) and the rate
# of short connections (1-byte ping) opened by the host and by the guest.
#   bench/run-vsock.sh [MIB]
# Everything in the L1 runs under QEMU TCG: absolute figures mean little, the ratio between
# the two VMMs in the same run is what to read.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-128}
out=$(mktemp -d /tmp/vireo-bench-vsock.XXXXXX)
gcc -static -O2 -o "$out/vsockperf" bench/guest/vsockperf.c
tests/guest/mkinitramfs.sh "$out/initrd.gz" bench/guest/init-vsockperf.sh \
	tests/guest/init-common.sh:/init-common.sh "$out/vsockperf:/vsockperf"
# The peer's kernel modules, from the same Debian package as the L1 kernel.
l1dir=$(tests/nested/l1.sh prepare)
ver=$(cat "$l1dir/ready")
mods=${VIREO_L1_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vireo/l1}/vhost-vsock-$ver
if [ ! -f "$mods/ready" ]; then
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -q "linux-image-$ver" >/dev/null)
	dpkg-deb -x "$tmp"/*.deb "$tmp/x"
	mkdir -p "$mods"
	for m in vsock vmw_vsock_virtio_transport_common vhost_iotlb vhost vhost_vsock; do
		cp "$(find "$tmp/x/lib/modules" -name "$m.ko*" | head -1)" "$mods/"
	done
	rm -rf "$tmp"
	touch "$mods/ready"
fi
cp "$mods"/*.ko* "$out/"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
	"kernel $(uname -r); vireo and QEMU run in the nested L1 ($ver, QEMU TCG -cpu max, kvm_amd)" |
	tee "$out/results"
tests/nested/l1.sh run --rw "$out" --timeout 2400 -- bench/vsock-l1.sh "$out" "$MIB" |
	tr -d '\r' | grep -E '^(vireo|vhost-vsock|qemu):' | tee -a "$out/results"
echo "results in $out/results"
