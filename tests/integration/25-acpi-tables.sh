#!/usr/bin/env bash
# kvm: none
# The ACPI tables vireo builds, disassembled by ACPICA's iasl (Debian acpica-tools), which
# nobody here wrote: tests/acpi-dump writes exactly what `vireo run` places for a direct boot
# (same code path, linked at 0xE0000), for 1, 4 and 32 vCPUs and 512 MiB / 6 GiB of RAM.
# Asserted:
#   - `iasl -d` disassembles every table without an error or warning;
#   - the disassembly names what it should: the PCI root bridge (PNP0A08/PNP0A03) with its bus
#     range, I/O ranges and memory windows, the 124-entry _PRT, COM1/PS2K/RTC/PIT/PIC/motherboard
#     resources, one ACPI0007 processor device per vCPU, _S5; a FADT that is not
#     hardware-reduced with the PM block at 0x600, SCI 9 and the 0xCF9/6 reset register; a MADT
#     with one enabled Local APIC per vCPU, the IOAPIC, IRQ0 -> GSI 2 and the level/high SCI
#     override, LAPIC NMI on LINT1; MCFG at 0xE0000000 for buses 0-255; RSDT/XSDT pointing at
#     the FADT, MADT and MCFG;
#   - the disassembled DSDT compiles back with iasl without a warning, to the same AML bytes;
#   - the RSDP (which this iasl cannot disassemble by itself): signature, both checksums,
#     revision 2, the XSDT address.
set -u
fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fail=1; }
command -v iasl >/dev/null || { echo "skip: iasl not installed (Debian acpica-tools; ./dev.sh setup)"; exit 77; }
DUMP=$BUILD_DIR/tests/acpi-dump
[ -x "$DUMP" ] || { echo "not ok - $DUMP is not built"; exit 1; }

has() { # NAME FILE REGEX...: every regex matches some line of FILE
	local name=$1 f=$2 miss=()
	shift 2
	for re in "$@"; do grep -qE -- "$re" "$f" || miss+=("$re"); done
	if [ ${#miss[@]} = 0 ]; then ok "$name"; else notok "$name: missing ${miss[*]}"; fi
}
count() { grep -cE -- "$2" "$1"; }

check_set() { # CPUS MEMORY
	local cpus=$1 mem=$2 d=$WORK/t-$1-$2
	mkdir -p "$d"
	"$DUMP" --cpus "$cpus" --memory "$mem" "$d" || { notok "acpi-dump --cpus $cpus --memory $mem"; return; }
	local tag="$cpus CPUs, $mem"
	for s in FACP FACS DSDT APIC MCFG RSDT XSDT; do
		[ -s "$d/$s.dat" ] || { notok "$tag: no $s"; continue; }
		if (cd "$d" && iasl -d "$s.dat" >"$s.iasl.log" 2>&1) && [ -s "$d/$s.dsl" ] &&
			! grep -qiE 'error|warning' "$d/$s.iasl.log" "$d/$s.dsl"; then
			ok "$tag: iasl -d $s"
		else
			notok "$tag: iasl -d $s: $(grep -iE 'error|warning' "$d/$s.iasl.log" "$d/$s.dsl" | head -3)"
		fi
	done

	local f=$d/DSDT.dsl
	has "$tag: DSDT: PCI root bridge" "$f" 'Device \(PCI0\)' 'EisaId \("PNP0A08"\)' 'EisaId \("PNP0A03"\)' \
		'Name \(_BBN, Zero\)'
	has "$tag: DSDT: root bridge _CRS" "$f" 'WordBusNumber \(ResourceProducer' '0x00FF, +// Range Maximum' \
		'WordIO \(ResourceProducer' '0x0CF7, +// Range Maximum' '0x0D00, +// Range Minimum' \
		'0xC0000000, +// Range Minimum' '0xDFFFFFFF, +// Range Maximum' '0xF0000000, +// Range Minimum' \
		'0xFEBFFFFF, +// Range Maximum' 'QWordMemory \(ResourceProducer'
	has "$tag: DSDT: legacy devices" "$f" 'Device \(COM1\)' 'EisaId \("PNP0501"\)' '0x03F8, +// Range Minimum' \
		'Device \(PS2K\)' 'EisaId \("PNP0303"\)' 'Device \(RTC\)' 'EisaId \("PNP0B00"\)' \
		'EisaId \("PNP0100"\)' 'EisaId \("PNP0000"\)' 'EisaId \("PNP0C02"\)' '0x0600, +// Range Minimum' \
		'Memory32Fixed \(ReadWrite,' '0xE0000000, +// Address Base'
	has "$tag: DSDT: _S5" "$f" 'Name \(\\_S5, Package \(0x04\)'
	local n
	n=$(count "$f" 'Name \(_PRT, Package \(0x7C\)')
	[ "$n" = 1 ] && ok "$tag: DSDT: _PRT with 124 entries" || notok "$tag: DSDT: no 124-entry _PRT"
	n=$(count "$f" '0x001FFFFF,')
	[ "$n" = 4 ] && ok "$tag: DSDT: _PRT covers slot 31, 4 pins" || notok "$tag: DSDT: slot 31 entries: $n"
	n=$(count "$f" 'Name \(_HID, "ACPI0007"')
	[ "$n" = "$cpus" ] && ok "$tag: DSDT: $cpus processor devices" || notok "$tag: DSDT: $n processor devices"

	f=$d/FACP.dsl
	has "$tag: FADT" "$f" 'Revision : 06' 'SCI Interrupt : 0009' 'PM1A Event Block Address : 00000600' \
		'PM1A Control Block Address : 00000604' 'PM Timer Block Address : 00000608' \
		'Hardware Reduced \(V5\) : 0' 'Reset Register Supported \(V2\) : 1' '32-bit PM Timer \(V1\) : 1' \
		'Address : 0000000000000CF9' 'Value to cause reset : 06' '8042 Present on ports 60/64 \(V2\) : 1'
	f=$d/APIC.dsl
	n=$(count "$f" 'Subtable Type : 00 \[Processor Local APIC\]')
	[ "$n" = "$cpus" ] && ok "$tag: MADT: $cpus Local APICs" || notok "$tag: MADT: $n Local APICs"
	n=$(count "$f" 'Processor Enabled : 1')
	[ "$n" = "$cpus" ] && ok "$tag: MADT: all enabled" || notok "$tag: MADT: $n enabled"
	has "$tag: MADT: IOAPIC, overrides, NMI" "$f" 'Subtable Type : 01 \[I/O APIC\]' \
		"I/O Apic ID : $(printf %02X "$cpus")" 'Address : FEC00000' \
		'Local Apic Address : FEE00000' 'Interrupt Input LINT : 01'
	# IRQ 0 -> GSI 2 (flags 0) and IRQ 9 -> GSI 9 (level, active high)
	if awk '/Interrupt Source Override/ {o = 1; next} o && /Source :/ {src = $NF} o && /Interrupt :/ {gsi = $NF}
		o && /Flags/ {print src, gsi, $NF; o = 0}' "$f" | sort | tr '\n' ';' |
		grep -qx '00 00000002 0000;09 00000009 000D;'; then
		ok "$tag: MADT: IRQ0 -> GSI 2, SCI level/high"
	else
		notok "$tag: MADT: overrides: $(grep -A4 'Interrupt Source Override' "$f" | tr -s ' ' | tr '\n' ' ')"
	fi
	has "$tag: MCFG" "$d/MCFG.dsl" 'Base Address : 00000000E0000000' 'Start Bus Number : 00' 'End Bus Number : FF'
	for s in XSDT RSDT; do
		n=$(count "$d/$s.dsl" 'ACPI Table Address +[0-9]+ :')
		[ "$n" = 3 ] && ok "$tag: $s lists 3 tables" || notok "$tag: $s lists $n tables"
	done

	# the disassembled DSDT compiles back without a warning (iasl checks more than the
	# disassembler: e.g. a device with both _HID and _ADR), to the very same AML (-on: keep the
	# name paths as written); only the header (compiler ID, checksum) differs
	mkdir -p "$d/rt"
	cp "$d/DSDT.dsl" "$d/rt/DSDT.dsl"
	if (cd "$d/rt" && iasl -on -p again DSDT.dsl >iasl.log 2>&1) &&
		grep -q ' 0 Errors, 0 Warnings, 0 Remarks' "$d/rt/iasl.log" &&
		cmp -s <(tail -c +37 "$d/DSDT.dat") <(tail -c +37 "$d/rt/again.aml"); then
		ok "$tag: DSDT round trip through iasl: the same AML"
	else
		notok "$tag: DSDT round trip: $(grep -iE -B1 'error|warning' "$d/rt/iasl.log" | head -4)"
	fi

	# RSDP
	python3 - "$d" <<'EOF' && ok "$tag: RSDP" || notok "$tag: RSDP"
import struct, sys
d = sys.argv[1]
r = open(d + "/RSDP.dat", "rb").read()
x = open(d + "/XSDT.dat", "rb").read()
assert len(r) == 36 and r[:8] == b"RSD PTR " and r[15] == 2, r
assert sum(r[:20]) % 256 == 0 and sum(r) % 256 == 0, "checksums"
rsdt, length, xsdt = struct.unpack_from("<IIQ", r, 16)
assert length == 36
assert 0xE0000 < xsdt < 0x100000 and 0xE0000 < rsdt < 0x100000, (hex(xsdt), hex(rsdt))
assert sum(x) % 256 == 0 and x[:4] == b"XSDT"
EOF
}

check_set 1 512M
check_set 4 512M
check_set 32 6G
exit $fail
