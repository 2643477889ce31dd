#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of tests/integration/95-api-linux-guest.sh: a counter and disk writes that run
# across vm.pause/vm.resume, a shell command channel on the serial console, and the ACPI
# power button turned into a power-off.
#   every tick (0.25 s): "VT: tick=N mono=SECONDS" on the serial port and the same text in
#                        sector 4096+N of /dev/vda (O_DIRECT)
#   in the background:   /pattern.bin written to [16 MiB, 20 MiB) of /dev/vda and read back,
#                        over and over; mismatches counted
#   "report" typed on the console: the kernel's warnings since /init started, the I/O
#                        counts, then "VT: report=done"
. /init-common.sh
dmesg -c >/dev/null # what follows is under test, the boot is not

for d in /sys/class/input/input*; do
	[ "$(cat "$d/name" 2>/dev/null)" = "Power Button" ] || continue
	for e in "$d"/event*; do
		[ -e "$e" ] || continue
		(head -c 1 "/dev/input/${e##*/}" >/dev/null && vt "power_button=pressed" &&
			sync && poweroff -f) &
		vt "power_button=armed"
	done
done

want=$(sha256sum /pattern.bin | cut -d' ' -f1)
echo 0 >/tmp/io_ok
echo 0 >/tmp/io_bad
(
	ok=0 bad=0
	while true; do
		dd if=/pattern.bin of=/dev/vda bs=64k seek=256 oflag=direct 2>/dev/null
		got=$(dd if=/dev/vda bs=64k skip=256 count=64 iflag=direct 2>/dev/null | sha256sum)
		if [ "${got%% *}" = "$want" ]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
		echo $ok >/tmp/io_ok.new && mv /tmp/io_ok.new /tmp/io_ok
		echo $bad >/tmp/io_bad.new && mv /tmp/io_bad.new /tmp/io_bad
	done
) &

report() {
	dmesg -r | grep -E '^<[0-4]>' | sed 's/^/VT: dmesg: /'
	vt "dmesg_warnings=$(dmesg -r | grep -cE '^<[0-4]>')"
	vt "complaints=$(dmesg | grep -ciE 'soft lockup|rcu.*stall|hung task|blocked for more|unstable|skew')"
	vt "io_ok=$(cat /tmp/io_ok) io_bad=$(cat /tmp/io_bad)"
	vt "report=done"
}
stty -F /dev/ttyS0 -echo 2>/dev/null
(while read -r cmd; do
	case "$cmd" in
	report) report ;;
	esac
done </dev/ttyS0) &

vt "ready"
i=0
while true; do
	i=$((i + 1))
	read -r m _ </proc/uptime
	vt "tick=$i mono=$m"
	printf 'tick=%d mono=%s\n' "$i" "$m" >/tmp/tick
	# (from a file, not a pipe: one read, one 512-byte block)
	dd if=/tmp/tick of=/dev/vda bs=512 seek=$((4096 + i)) conv=sync oflag=direct 2>/tmp/tick.err ||
		vt "tick_write_failed=$i $(tr '\n' ' ' </tmp/tick.err)"
	sleep 0.25
done
