#!/usr/bin/env bash
# kvm: full
# ACPI with the real kernel as the client: the shared bzImage (boot_params.acpi_rsdp_addr) and
# the PVH vmlinux (hvm_start_info.rsdp_paddr) boot on vireo with 1, 2 and 4 vCPUs to a busybox
# /init (tests/guest/init-acpi.sh), which reports what Linux found (21-linux-boot covers the
# general boot; this is about what the tables say). Asserted, from what the guest kernel
# printed or exposes:
#   - the RSDP where vireo put it (0xE0000), /sys/firmware/acpi/tables has FACP APIC DSDT FACS
#     MCFG, and the DSDT, MADT and MCFG the guest read are byte for byte the ones acpi-dump
#     builds for that many CPUs (md5);
#   - the CPU count from the MADT; no ACPI errors or warnings, no [Firmware Bug] / BIOS bug
#     lines, no WARNING or Call Trace (the XSAVE warning of CPUID leaf 0xD excepted: issue 7 §2);
#   - timers and interrupts: the PIT on IOAPIC pin 2 ("..TIMER: ... pin1=2", /proc/interrupts
#     "IO-APIC 2-edge timer" with a non-zero count), the LAPIC timer ticking across `sleep 1`
#     or, with `noapictimer` (the PIT is then the only clock event device), the PIT ticking
#     through IOAPIC pin 2 (with KVM's GSI 0 on pin 0, as before the fix, that sleep never
#     returns), the acpi_pm clocksource, the SCI as "IO-APIC 9-fasteoi acpi", and a virtio-pci
#     disk in slot 1 on the _PRT's GSI (pci_slot_irq(1, INTA) = 10);
#   - busybox `poweroff -f` (ACPI S5) and `reboot -f` (FADT reset register) each end vireo with
#     status 0 and the matching reason;
#   - `acpi=off` still boots through the MP table (CPUs, the PIT ticking on pin 2), then resets.
set -u
. "$SRC_DIR/tests/integration/lib/guest.sh"
. "$SRC_DIR/tests/integration/lib/acpi.sh"
guest_require
[ -r "$GUEST_DIR/vmlinux" ] || { echo "skip: no $GUEST_DIR/vmlinux"; exit 77; }
DUMP=$BUILD_DIR/tests/acpi-dump
[ -x "$DUMP" ] || { echo "not ok - $DUMP is not built"; exit 1; }

TOKEN="t$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
guest_initrd "$WORK/initrd.gz" "$SRC_DIR/tests/guest/init-acpi.sh" || exit 1
truncate -s 8M "$WORK/disk.img"
for n in 1 2 4; do
	mkdir -p "$WORK/tables-$n"
	"$DUMP" --cpus $n --memory 512M "$WORK/tables-$n" || { echo "not ok - acpi-dump --cpus $n"; exit 1; }
done

# NAME KERNEL CPUS END(poweroff|reboot) ACPI(1|0) EXTRA-CMDLINE [vireo args...]
boot() {
	local name=$1 kernel=$2 cpus=$3 end=$4 acpi=$5 extra=$6
	shift 6
	guest_boot "$name" 400 --kernel "$kernel" --initrd "$WORK/initrd.gz" --cpus "$cpus" \
		--memory 512M --log-level info \
		--cmdline "console=ttyS0 quiet panic=-1 vt.marker=$TOKEN-$name vt.end=$end $extra" "$@"
	local rc=$? c=$WORK/$name.console
	check_eq "$name: vireo exit status" "$rc" 0
	check_eq "$name: /init ran" "$(vt_get "$WORK/$name.console" marker)" "$TOKEN-$name"
	check_eq "$name: CPUs" "$(vt_get "$WORK/$name.console" cpus)" "$cpus"
	check_eq "$name: CPUs online" "$(vt_get "$WORK/$name.console" online)" "$([ "$cpus" = 1 ] && echo 0 || echo "0-$((cpus - 1))")"
	acpi_dmesg_clean "$name"
	acpi_timers_ok "$name" "$extra"
	if [ "$acpi" = 1 ]; then
		if grep -qE '^VT-LOG: .*ACPI: RSDP 0x0+E0000 000024 \(v02 VIREO \)' "$c"; then
			ok "$name: the kernel found the RSDP at 0xE0000"
		else
			notok "$name: no 'ACPI: RSDP 0x...E0000' line"
		fi
		local t s missing=""
		t=$(vt_get "$WORK/$name.console" tables)
		for s in APIC DSDT FACP FACS MCFG; do
			[[ " $t " == *" $s "* ]] || missing="$missing $s"
		done
		[ -z "$missing" ] && ok "$name: tables in sysfs: $t" || notok "$name: sysfs lacks$missing ($t)"
		acpi_tables_match "$name" "$WORK/tables-$cpus"
		check_eq "$name: SCI" "$(vt_get "$WORK/$name.console" irq9)" "IO-APIC 9-fasteoi acpi"
		if [[ " $(vt_get "$WORK/$name.console" clocksources) " == *" acpi_pm "* ]]; then
			ok "$name: acpi_pm clocksource registered"
		else
			notok "$name: no acpi_pm clocksource: $(vt_get "$WORK/$name.console" clocksources)"
		fi
	else
		check_eq "$name: no ACPI tables" "$(vt_get "$WORK/$name.console" tables)" ""
		if grep -qE '^VT-LOG: .*found SMP MP-table at \[mem 0x0009fc00' "$c" &&
			grep -qE "^VT-LOG: .*Processors: $cpus\$" "$c"; then
			ok "$name: the kernel used vireo's MP table ($cpus processors)"
		else
			notok "$name: no 'found SMP MP-table' / 'Processors: $cpus' lines"
		fi
	fi
	acpi_ended "$name" "$end"
}

boot bz2-disk "$GUEST_DIR/bzImage" 2 reboot 1 "" --disk "path=$WORK/disk.img"
check_eq "bz2-disk: virtio-blk in slot 1 on the _PRT's GSI" "$(vt_get "$WORK/bz2-disk.console" pci_irq_01.0)" 10
boot bz4 "$GUEST_DIR/bzImage" 4 poweroff 1 ""
# the PIT as the only clock event device: through the pin the MADT names (1 vCPU: the
# 1-CPU tables too)
boot pvh1-pit "$GUEST_DIR/vmlinux" 1 poweroff 1 "noapictimer"
# and through the pin the MP table names
boot acpi-off-pit "$GUEST_DIR/bzImage" 2 reboot 0 "acpi=off noapictimer"
exit $guest_fail
