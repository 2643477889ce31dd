#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of the whole-Linux boot suite (tests/integration/21-linux-boot.sh): what the
# kernel found, said from inside the guest, then the end the host asked for (vt.end=reboot or
# poweroff).
. /init-common.sh
vt "token=$(vt_param token)"
vt "cpus=$(nproc)"
vt "online=$(cat /sys/devices/system/cpu/online)"
vt "memtotal_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
vt "clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
# The kernel's complaints: any of these lines fails the boot.
dmesg >/tmp/dmesg
bad='WARNING:|BUG:|Call Trace|Oops|ACPI (BIOS )?Error|ACPI Warning|XSAVE consistency|timer disabled|Firmware Bug|FW_BUG|soft lockup|rcu_sched self-detected|clocksource .* unstable'
vt "dmesg_bad=$(grep -cE "$bad" /tmp/dmesg)"
grep -E "$bad" /tmp/dmesg | head -5 | sed 's/^/VT-BAD: /'
# the timer ticks: a sleep returns and the clock moved
t0=$(cut -d' ' -f1 /proc/uptime)
sleep 1
vt "uptime_delta=$(awk -v a="$t0" '{printf "%d", ($1 - a) * 10}' /proc/uptime)"
vt "done"
sync
if [ "$(vt_param end)" = poweroff ]; then poweroff -f; else reboot -f; fi
