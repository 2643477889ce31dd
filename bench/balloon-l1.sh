#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Inside the L1 for bench/run-balloon.sh: OUT REPEAT
set -uo pipefail
export PATH=$PATH:/usr/sbin:/sbin
out=$1 rep=$2
cd "$(dirname "$0")/.."
G=../shared/guest/bzImage
run() { # NAME MODE -- VMM...
	local name=$1 mode=$2 w=/tmp/bench-$1-$2
	shift 3
	rm -rf $w
	mkdir -p $w
	mkfifo $w/in
	exec 3<>$w/in
	"$@" <$w/in >$w/console.log 2>$w/stderr.log &
	local vpid=$!
	if [ "$name" = qemu ]; then # QEMU's balloon target is set at run time only (QMP)
		# QEMU under nested TCG takes seconds to open its QMP socket: wait up to 2 min, and
		# check that the target was taken (without it nothing inflates: a 300 s "result").
		for _ in $(seq 600); do [ -S $w/qmp ] && break; sleep 0.2; done
		local ans
		ans=$(printf '%s\n' '{"execute":"qmp_capabilities"}' \
			'{"execute":"balloon","arguments":{"value":402653184}}' |
			socat -t 5 - UNIX-CONNECT:$w/qmp 2>&1)
		[ "$(grep -c '"return"' <<<"$ans")" = 2 ] ||
			echo "qemu: QMP balloon target not set: $(tr '\n' ' ' <<<"$ans")"
	fi
	python3 bench/balloon_bench.py --pid $vpid --log $w/console.log --fifo $w/in --mode "$mode" \
		>$w/result 2>&1
	for _ in $(seq 300); do kill -0 $vpid 2>/dev/null || break; sleep 0.2; done
	kill $vpid 2>/dev/null
	wait $vpid
	exec 3>&-
	echo "$name: $(cat $w/result)"
}
CMD="console=ttyS0 quiet panic=-1"
for i in $(seq "$rep"); do
	for mode in inflate report; do
		opt=size=128M
		[ $mode = report ] && opt=free_page_reporting=on
		run vireo $mode -- build/vireo run --kernel $G --initrd "$out/initrd.gz" --memory 512M \
			--cmdline "$CMD vt.mode=$mode" --serial stdio --balloon $opt
		dev=virtio-balloon-pci
		[ $mode = report ] && dev=virtio-balloon-pci,free-page-reporting=on
		run qemu $mode -- qemu-system-x86_64 -accel kvm -cpu host -smp 1 -m 512M -M pc \
			-nodefaults -display none -no-reboot \
			-object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
			-kernel $G -initrd "$out/initrd.gz" -append "$CMD vt.mode=$mode" \
			-chardev stdio,id=s0,signal=off -serial chardev:s0 -device $dev \
			-qmp unix:/tmp/bench-qemu-$mode/qmp,server=on,wait=off
	done
done
echo "qemu: $(qemu-system-x86_64 --version | head -1)"
