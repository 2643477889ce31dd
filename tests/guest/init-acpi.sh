#!/bin/sh
# SPDX-License-Identifier: MIT
# /init for the ACPI and firmware-boot suites (tests/integration/26-acpi-linux.sh,
# 31-firmware-disks.sh): reports what the kernel found as "VT: key=value" lines, the dmesg lines
# the suites assert on as "VT-LOG: ...", the ones they must never see as "VT-DMESG: ...", then
# powers off (vt.end=poweroff, ACPI S5) or resets (vt.end=reboot).
. /init-common.sh

# busybox awk: the sum of the per-CPU counts of one /proc/interrupts line ("0:", "LOC:")
irq_count() {
	awk -v k="$1" '$1 == k { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }' \
		/proc/interrupts
}
# the chip, pin-trigger and name columns of one /proc/interrupts line
irq_desc() {
	awk -v k="$1" '$1 == k { print $(NF - 2), $(NF - 1), $NF }' /proc/interrupts
}

# A fresh line: after a boot loader the console may hold SeaBIOS's screen-clear sequence.
echo
vt "marker=$(vt_param marker)"
vt "cpus=$(grep -c '^processor' /proc/cpuinfo)"
vt "online=$(cat /sys/devices/system/cpu/online)"
T=/sys/firmware/acpi/tables
vt "tables=$(ls $T 2>/dev/null | grep -v -e data -e dynamic | tr '\n' ' ')"
if [ -r $T/DSDT ]; then
	vt "dsdt_md5=$(md5sum <$T/DSDT | cut -d' ' -f1)"
	vt "apic_md5=$(md5sum <$T/APIC | cut -d' ' -f1)"
	vt "mcfg_md5=$(md5sum <$T/MCFG | cut -d' ' -f1)"
	vt "dsdt_oem=$(dd if=$T/DSDT bs=1 skip=10 count=6 2>/dev/null)"
	vt "pwr_btn_events=$(cat /sys/firmware/acpi/interrupts/ff_pwr_btn 2>/dev/null)"
fi

# timers and interrupts: the PIT on IOAPIC pin 2; across a sleep, the LAPIC timer ticking, or
# with `noapictimer` the PIT itself (then it is the only clock event device)
vt "irq0=$(irq_desc 0:)"
vt "irq0_count=$(irq_count 0:)"
vt "irq9=$(irq_desc 9:)"
loc0=$(irq_count LOC:)
pit0=$(irq_count 0:)
sleep 1
vt "slept=1"
vt "loc_delta=$(($(irq_count LOC:) - loc0))"
vt "irq0_delta=$(($(irq_count 0:) - pit0))"
vt "clocksources=$(cat /sys/devices/system/clocksource/clocksource0/available_clocksource)"
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1af4 ] && vt "pci_irq_${d##*:}=$(cat "$d/irq")"
done

# The XSAVE warning (CPUID leaf 0xD, issue 7 part 2) is somebody else's: its block is skipped.
dmesg | awk '
	/WARNING:.*fpu\/xstate\.c/ { skip = 1 }
	skip { if (/end trace/) skip = 0; next }
	/ACPI (BIOS )?(Error|Warning)|ACPI Exception|\[Firmware Bug\]|BIOS bug|BIOS BUG|WARNING:|Call Trace|BUG:|APIC timer disabled|verification failure|IO-APIC \+ timer doesn/ {
		print "VT-DMESG: " $0
	}
	END { print "VT: dmesg_scanned=" NR }'
dmesg | grep -E 'Command line:|\.\.TIMER: |IOAPIC\[0\]:|INT_SRC_OVR|ACPI: RSDP|MP-table|Processors: |Processor #' |
	sed 's/^/VT-LOG: /'

end=$(vt_param end)
vt "done"
sync
if [ "$end" = reboot ]; then
	reboot -f
else
	poweroff -f
fi
