#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of tests/integration/41-vhost-user-rng.sh (QEMU) and 73-virtio-rng.sh (vireo):
# read the virtio-rng device. With a virtio console, also write this boot's id to it.
. /init-common.sh
vt "rng_available=$(cat /sys/class/misc/hw_random/rng_available 2>/dev/null)"
vt "rng_current=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
if [ -c /dev/hwrng ]; then
	t0=$(cut -d' ' -f1 /proc/uptime | tr -d .)
	n=$(dd if=/dev/hwrng bs=512 count=8 2>/dev/null | tee /tmp/rnd | wc -c)
	t1=$(cut -d' ' -f1 /proc/uptime | tr -d .)
	vt "bytes=$n"
	vt "read_cs=$((t1 - t0))"
	# bytes that are not zero, and how many distinct byte values (>200 for 4 KiB of noise)
	vt "nonzero=$(tr -d '\000' </tmp/rnd | wc -c)"
	vt "distinct=$(od -An -v -tu1 -w1 /tmp/rnd | sort -u | wc -l)"
	vt "sha=$(sha256sum /tmp/rnd | cut -d' ' -f1)"
else
	vt "bytes=no-hwrng"
fi
if [ -c /dev/hvc0 ]; then
	id=$(cat /proc/sys/kernel/random/boot_id)
	vt "boot_id=$id"
	echo "hvc0 says $id" >/dev/hvc0
fi
vt_end
