#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of tests/integration/71-virtio-balloon.sh. The host answers "go" on the serial
# console whenever this script waits (it measures vireo's resident memory meanwhile).
#  vt.mode=inflate  (--balloon size=128M): MemTotal once the balloon is full; unbind the
#                   driver (it deflates everything) and MemTotal again; fill 400 MiB of tmpfs
#                   (more than fits with the balloon full) and free it; wait; bind the driver
#                   again (it inflates 128 MiB of now-touched memory); MemTotal; wait.
#  vt.mode=report   (free_page_reporting=on): fill 200 MiB of tmpfs, wait, free it, wait.
#  vt.mode=oom      (size=320M,deflate_on_oom=on): wait for the balloon, then write 250 MiB to
#                   tmpfs, which only fits if the driver deflates on OOM.
. /init-common.sh
memtotal() { sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
memfree() { sed -n 's/^MemFree: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
# Wait until $1 (a function) gives the same value 3 times 1 s apart (60 s at most).
stable() {
	last=-1 same=0 i=0
	while [ $i -lt 60 ]; do
		v=$($1)
		if [ "$v" = "$last" ]; then same=$((same + 1)); else same=0; fi
		[ $same -ge 3 ] && break
		last=$v
		sleep 1
		i=$((i + 1))
	done
	echo "$v"
}
wait_go() {
	vt "$1"
	read -r _go
}
drv=/sys/bus/virtio/drivers/virtio_balloon
dev=$(basename "$(ls -d $drv/virtio* 2>/dev/null | head -1)")
vt "balloon_dev=$dev"
mount -t tmpfs -o size=460m fill /mnt
case "$(vt_param mode)" in
inflate)
	vt "memtotal_inflated=$(stable memtotal)"
	echo "$dev" >$drv/unbind
	vt "memtotal_deflated=$(stable memtotal)"
	dd if=/dev/zero of=/mnt/fill bs=1M count=400 2>/dev/null
	vt "filled_mib=$(($(stat -c %s /mnt/fill) / 1048576))"
	rm /mnt/fill
	wait_go touched
	echo "$dev" >$drv/bind
	vt "memtotal_reinflated=$(stable memtotal)"
	wait_go inflated
	;;
report)
	dd if=/dev/zero of=/mnt/fill bs=1M count=200 2>/dev/null
	vt "filled_mib=$(($(stat -c %s /mnt/fill) / 1048576))"
	wait_go filled
	rm /mnt/fill
	wait_go freed
	;;
oom)
	vt "memfree_inflated=$(stable memfree)"
	dd if=/dev/zero of=/mnt/fill bs=1M count=250 2>/dev/null
	vt "dd_rc=$?"
	vt "filled_mib=$(($(stat -c %s /mnt/fill) / 1048576))"
	vt "oom_kills=$(dmesg | grep -c 'Killed process')"
	wait_go written
	;;
esac
vt_end
