#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Inside the L1 for bench/run-vsock.sh: OUT MIB
set -uo pipefail
export PATH=$PATH:/usr/sbin:/sbin
out=$1 mib=$2
cd "$(dirname "$0")/.."
# The peer needs the L1 kernel's vhost-vsock (not in the L1's initramfs): insmod it, and say
# why on stdout (the caller keeps "vhost-vsock:" lines) when /dev/vhost-vsock is missing.
: >"$out/modules.log"
for m in vsock vmw_vsock_virtio_transport_common vhost_iotlb vhost vhost_vsock; do
	[ -d /sys/module/$m ] && continue
	insmod "$(ls "$out/$m".ko* | head -1)" >>"$out/modules.log" 2>&1 ||
		echo "vhost-vsock: insmod $m failed: $(tail -1 "$out/modules.log")"
done
{ ls -la /dev/vhost-vsock; lsmod; dmesg | tail -20; } >>"$out/modules.log" 2>&1
[ -c /dev/vhost-vsock ] || echo "vhost-vsock: no /dev/vhost-vsock in the L1 (see $out/modules.log)"
G=../shared/guest/bzImage
CMD="console=ttyS0 quiet panic=-1 vt.conns=100"
run() { # NAME BENCH-ARGS -- VMM...
	local name=$1 args=() w=/tmp/bench-$1
	shift
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	mkdir -p $w
	mkfifo $w/in
	exec 3<>$w/in
	"$@" <$w/in >$w/console.log 2>$w/stderr.log &
	local vpid=$!
	python3 bench/vsock_bench.py "${args[@]}" --log $w/console.log --go $w/in --mib "$mib" \
		>$w/results 2>&1
	local rc=$?
	sleep 2
	kill $vpid 2>/dev/null
	wait $vpid
	exec 3>&-
	echo "$name: $(tr '\n' ' ' <$w/results) (bench rc $rc)"
	mkdir -p "$out/$name" && cp $w/*.log $w/results "$out/$name/" 2>/dev/null
}
run vireo --vireo /tmp/vb.sock -- build/vireo run --kernel $G --initrd "$out/initrd.gz" \
	--memory 512M --cmdline "$CMD" --serial stdio --vsock cid=3,socket=/tmp/vb.sock -v
run vhost-vsock --vhost 3 -- qemu-system-x86_64 -accel kvm -cpu host -smp 1 -m 512M -M pc \
	-nodefaults -display none -no-reboot -kernel $G -initrd "$out/initrd.gz" -append "$CMD" \
	-chardev stdio,id=s0,signal=off -serial chardev:s0 -device vhost-vsock-pci,guest-cid=3
echo "qemu: $(qemu-system-x86_64 --version | head -1)"
