# SPDX-License-Identifier: MIT
# Checks shared by the ACPI suites (26-acpi-linux, 31-firmware-disks) on what
# tests/guest/init-acpi.sh reported; sourced after lib/guest.sh (ok, notok, check_eq, vt_get).

# NAME: dmesg had no line the suites forbid (VT-DMESG), and /init really scanned it.
acpi_dmesg_clean() {
	local name=$1 c=$WORK/$1.console scanned
	scanned=$(vt_get "$WORK/$name.console" dmesg_scanned)
	if [ "${scanned:-0}" -lt 100 ]; then
		notok "$name: /init scanned ${scanned:-no} dmesg lines"
	elif grep -q '^VT-DMESG: ' "$c"; then
		notok "$name: dmesg has lines it must not have:"
		grep '^VT-DMESG: ' "$c" | head -20
	else
		ok "$name: no ACPI errors, firmware bugs, warnings, call traces or APIC timer failure ($scanned lines)"
	fi
}

# NAME CMDLINE: the PIT on IOAPIC pin 2 and a clock event device ticking across `sleep 1`: the
# LAPIC timer, or with `noapictimer` on CMDLINE the PIT itself through IOAPIC pin 2 (the only
# way a guest proves at run time that KVM's GSI 0 reaches the pin the tables name: without it
# the sleep never returns).
acpi_timers_ok() {
	local name=$1 cmdline=$2 c=$WORK/$1.console n
	if grep -qE '^VT-LOG: .*\.\.TIMER: vector=0x[0-9a-f]+ apic1=0 pin1=2 ' "$c"; then
		ok "$name: the kernel's timer setup put the PIT on IOAPIC pin 2"
	else
		notok "$name: no '..TIMER: ... apic1=0 pin1=2' line"
	fi
	check_eq "$name: IRQ 0 in /proc/interrupts" "$(vt_get "$WORK/$name.console" irq0)" "IO-APIC 2-edge timer"
	n=$(vt_get "$WORK/$name.console" irq0_count)
	if [ "${n:-0}" -gt 0 ]; then ok "$name: the PIT interrupted ($n)"; else notok "$name: IRQ 0 count '$n'"; fi
	check_eq "$name: sleep 1 returned" "$(vt_get "$WORK/$name.console" slept)" 1
	if [[ " $cmdline " == *" noapictimer "* ]]; then
		n=$(vt_get "$WORK/$name.console" irq0_delta)
		if [ "${n:-0}" -gt 0 ]; then
			ok "$name: the PIT ticked through IOAPIC pin 2 during sleep 1 ($n)"
		else
			notok "$name: IRQ 0 delta during sleep 1 '$n'"
		fi
	else
		n=$(vt_get "$WORK/$name.console" loc_delta)
		if [ "${n:-0}" -gt 0 ]; then ok "$name: LAPIC timer ticked during sleep 1 ($n)"; else notok "$name: LOC delta '$n'"; fi
	fi
}

# NAME DIR: the DSDT, MADT and MCFG the guest read are DIR/{DSDT,APIC,MCFG}.dat (acpi-dump).
acpi_tables_match() {
	local name=$1 dir=$2 s lc
	for s in DSDT APIC MCFG; do
		lc=$(echo "$s" | tr A-Z a-z)
		check_eq "$name: the guest's $s is acpi-dump's" "$(vt_get "$WORK/$name.console" ${lc}_md5)" \
			"$(md5sum <"$dir/$s.dat" | cut -d' ' -f1)"
	done
}

# NAME: how vireo ended: poweroff (ACPI S5) or reboot (reset).
acpi_ended() {
	local name=$1 how=$2 err=$WORK/$1.stderr.log
	if [ "$how" = poweroff ]; then
		grep -q 'reboot: Power down' "$WORK/$name.console" && ok "$name: kernel powered down" ||
			notok "$name: no 'reboot: Power down'"
		grep -q 'guest powered off (ACPI S5)' "$err" && ok "$name: vireo saw S5" ||
			notok "$name: vireo did not report S5: $(tail -2 "$err")"
	else
		grep -q 'guest requested reset' "$err" && ok "$name: vireo saw the reset" ||
			notok "$name: vireo did not report a reset: $(tail -2 "$err")"
	fi
}
