#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of the vhost-user-blk Linux-driver suite (tests/integration/40-vhost-user-blk.sh).
# Disk layout of the 64 MiB test image (offsets in MiB):
#   [0,32) ext2 made here   [40,44) /pattern.bin written here
#   [48,52) discarded here   [56,60) zeroed here with BLKZEROOUT
#   [60,61) written by the multiqueue and stress I/O   61 MiB: the reboot mark
#   62 MiB: the rebind marks
. /init-common.sh
mode=$(vt_param mode || echo rw)

i=0
while [ ! -e /sys/block/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -e /sys/block/vda ]; then
	vt "error=no-vda"
	vt_end
fi
vt "size=$(cat /sys/block/vda/size)"
vt "serial=$(cat /sys/block/vda/serial 2>/dev/null)"
vt "ro=$(cat /sys/block/vda/ro)"
vt "mq=$(ls /sys/block/vda/mq | wc -l)"
vt "cpus=$(nproc)"
vt "discard_max=$(cat /sys/block/vda/queue/discard_max_bytes)"
vt "write_zeroes_max=$(cat /sys/block/vda/queue/write_zeroes_max_bytes)"

if [ "$mode" = stress ]; then
	# I/O on both queues until the host kills QEMU.
	vt "stress=started"
	while true; do
		taskset 1 dd if=/dev/vda of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null
		taskset 2 dd if=/pattern.bin of=/dev/vda bs=64k count=16 seek=960 oflag=direct 2>/dev/null
	done
fi
if [ "$mode" = rebind ]; then
	# The driver lets go of the device and takes it again, twice: each time the device is
	# reset (Linux writes 0 to device_status and polls until it reads 0) and activated again.
	# A reader keeps I/O going while the driver unbinds. The pattern and a mark written after
	# each re-activation must read back.
	dd if=/pattern.bin of=/dev/vda bs=1M seek=40 oflag=direct conv=fsync 2>/dev/null
	dev=$(basename "$(readlink -f /sys/block/vda/device)")
	vt "rebind_dev=$dev"
	for round in 1 2; do
		(while dd if=/dev/vda of=/dev/null bs=64k count=16 iflag=direct 2>/dev/null; do :; done) &
		reader=$!
		sleep 0.2
		echo "$dev" >/sys/bus/virtio/drivers/virtio_blk/unbind
		kill $reader 2>/dev/null
		wait $reader 2>/dev/null
		[ -e /sys/block/vda ] && vt "rebind_$round=unbind-kept-vda"
		echo "$dev" >/sys/bus/virtio/drivers/virtio_blk/bind
		i=0
		while [ ! -e /sys/block/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		mark="VIREO-REBIND-$round"
		echo "$mark" | dd of=/dev/vda bs=512 seek=$((126976 + round)) conv=sync,fsync oflag=direct 2>/dev/null
		got=$(dd if=/dev/vda bs=512 skip=$((126976 + round)) count=1 iflag=direct 2>/dev/null | head -c ${#mark})
		vt "rebind_$round=$got"
	done
	vt "rebind_sha=$(dd if=/dev/vda bs=1M skip=40 count=4 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
	vt_end
fi
if [ "$mode" = reboot ]; then
	# First boot: leave a mark on the disk and reboot (the device is reset and set up again);
	# second boot: find it and read the pattern back, then power off.
	if [ "$(dd if=/dev/vda bs=512 skip=124928 count=1 iflag=direct 2>/dev/null | head -c 17)" = VIREO-REBOOT-MARK ]; then
		vt "reboot=second"
		vt "reboot_sha=$(dd if=/dev/vda bs=1M skip=40 count=4 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
		dd if=/dev/zero of=/dev/vda bs=512 seek=124928 count=1 oflag=direct 2>/dev/null
		vt "done"
		sync
		poweroff -f
	fi
	echo VIREO-REBOOT-MARK | dd of=/dev/vda bs=512 seek=124928 conv=sync,fsync oflag=direct 2>/dev/null
	vt "reboot=first"
	reboot -f
fi

if [ "$mode" = ro ]; then
	if dd if=/pattern.bin of=/dev/vda bs=4k count=1 seek=10240 oflag=direct 2>/dev/null; then
		vt "ro_write=succeeded"
	else
		vt "ro_write=refused"
	fi
	vt "read_sha=$(dd if=/dev/vda bs=1M skip=40 count=4 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
	vt_end
fi

# 1. data: write a pseudo-random pattern, read it back bypassing the page cache.
vt "pattern_sha=$(sha256sum /pattern.bin | cut -d' ' -f1)"
if dd if=/pattern.bin of=/dev/vda bs=1M seek=40 oflag=direct conv=fsync 2>/dev/null; then
	sync
	vt "readback_sha=$(dd if=/dev/vda bs=1M skip=40 count=4 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
else
	vt "pattern_write=failed"
fi

# 2. a filesystem in the first 32 MiB.
if mke2fs -F /dev/vda 32768 >/tmp/mkfs.log 2>&1 && mount -t ext2 /dev/vda /mnt; then
	echo "hello from the guest" >/mnt/hello.txt
	mkdir /mnt/dir
	cp /pattern.bin /mnt/dir/pattern.bin
	sha=$(sha256sum /mnt/dir/pattern.bin | cut -d' ' -f1)
	umount /mnt && vt "fs=ok $sha"
else
	vt "fs=failed"
	cat /tmp/mkfs.log
fi

# 3. discard and write-zeroes.
if blkdiscard -o $((48 << 20)) -l $((4 << 20)) /dev/vda; then vt "discard=ok"; else vt "discard=failed"; fi
if /blkzero /dev/vda $((56 << 20)) $((4 << 20)); then vt "zeroout=ok"; else vt "zeroout=failed"; fi

# 4. multiqueue: I/O from each CPU (blk-mq maps CPU n to queue n).
for mask in 1 2; do
	taskset $mask dd if=/dev/vda of=/dev/null bs=4k count=64 skip=$((mask * 1000)) iflag=direct 2>/dev/null
	taskset $mask dd if=/pattern.bin of=/dev/vda bs=4k count=16 seek=$((15360 + mask * 16)) oflag=direct 2>/dev/null
done
vt "mq_io=done"
vt_end
