#!/usr/bin/env bash
# kvm: any
# Linux boot through vireo's own loaders, from the real guest kernel in $GUEST_DIR:
# the bzImage (64-bit boot protocol entry, boot_params), the ELF vmlinux (PVH entry,
# hvm_start_info) and a copy of vmlinux with its PVH note renamed (plain ELF entry in 64-bit mode,
# boot_params), each with a random token on the command line and a busybox initramfs.
#
# First, images the loader must refuse before any VM exists (exit 2, one line naming the
# problem): protocol < 2.06, no 64-bit entry, truncated bzImage, too long a command line,
# segments beyond RAM, 32-bit ELF, ELF for another machine.
#
# Then, what is asserted comes from the kernel's own log on the serial port:
#   - "Command line: ..." shows the command line vireo placed, token included;
#   - the "BIOS-e820: [mem A-B] usable" lines (vireo's e820 map) add up to the configured
#     memory less the legacy hole [0x9fc00, 0x100000);
#   - "RAMDISK: [mem A-B]" (bzImage: boot_params ramdisk fields; vmlinux: PVH module list):
#     the initrd is page-aligned, wholly below the top of RAM and within a page of it;
#   - "Initmem setup node 0";
#   - vmlinux only, with --cpus 2 and acpi=off (later in boot, ~20 s here): the kernel found
#     vireo's MP table with both processors and the IOAPIC ("Processors: 2", "IOAPIC[0]:
#     apic_id 2"). (With ACPI it reads the MADT instead: tests/integration/26-acpi-linux.sh.)
#
# Two host kinds:
#   - kvm_pvm (/sys/module/kvm_pvm exists, this project's development hosts; see PLATFORM.md):
#     guest kernel code is emulated and the kernel stops at its first CPU exception (right after
#     FPU init), vireo then exits 1 with a register dump. That is expected here: the script
#     stops vireo as soon as the lines above are in the log (vmlinux ~13 s, bzImage ~40 s).
#   - real VT-x/AMD-V: the kernel must get all the way to the initramfs /init, which prints
#     "VIREO-INIT-OK <token>" and reboots (reboot -f, i8042 reset), so vireo exits 0.
#     That marker and exit status are asserted there in addition to the lines above.
set -u
fail=0
say() { echo "$1 - $2"; [ "$1" = ok ] || fail=1; }

if [ -z "${GUEST_DIR:-}" ] || [ ! -r "$GUEST_DIR/bzImage" ] || [ ! -r "$GUEST_DIR/vmlinux" ]; then
	echo "skip: no guest kernel (GUEST_DIR is empty; tests/guest/build-kernel.sh makes one)"
	exit 77
fi
if [ ! -w /dev/kvm ]; then
	echo "skip: /dev/kvm is not usable"
	exit 77
fi
BUSYBOX=/bin/busybox # Debian busybox-static
[ -x "$BUSYBOX" ] || BUSYBOX=$(command -v busybox || echo /nonexistent)
for t in cpio gzip; do
	command -v $t >/dev/null || { echo "skip: $t is not installed"; exit 77; }
done
[ -x "$BUSYBOX" ] || { echo "skip: busybox-static is not installed"; exit 77; }

# Refused before any VM exists: exit status 2 and one line naming the problem.
patch() { # src dst offset printf-bytes
	cp "$1" "$2" && printf "$4" | dd of="$2" bs=1 seek=$(($3)) conv=notrunc status=none
}
refused() { # description expected-substring vireo-run-args...
	local d=$1 want=$2; shift 2
	"$VIREO" run "$@" >"$WORK/refused.out" 2>"$WORK/refused.err" </dev/null
	local rc=$? lines; lines=$(wc -l <"$WORK/refused.err")
	if [ $rc = 2 ] && [ "$lines" = 1 ] && grep -qF -- "$want" "$WORK/refused.err"; then
		say ok "refused: $d"
	else
		say "not ok" "refused: $d: rc=$rc lines=$lines: $(head -2 "$WORK/refused.err")"
	fi
}
patch "$GUEST_DIR/bzImage" "$WORK/old.bz" 0x206 '\x05\x02'
refused "boot protocol 2.05" "older than 2.06" --kernel "$WORK/old.bz"
patch "$GUEST_DIR/bzImage" "$WORK/no64.bz" 0x236 '\x00\x00'
refused "bzImage without a 64-bit entry" "no 64-bit entry" --kernel "$WORK/no64.bz"
head -c 3000000 "$GUEST_DIR/bzImage" >"$WORK/short.bz"
refused "truncated bzImage" "syssize" --kernel "$WORK/short.bz"
refused "command line longer than the kernel takes" "at most 2047" --kernel "$GUEST_DIR/bzImage" \
	--cmdline "$(head -c 3000 /dev/zero | tr '\0' x)"
refused "vmlinux segments beyond RAM" "does not fit in guest RAM" --kernel "$GUEST_DIR/vmlinux" \
	--memory 16M
head -c 65536 "$GUEST_DIR/vmlinux" >"$WORK/head.vmlinux"
patch "$WORK/head.vmlinux" "$WORK/elf32" 4 '\x01'
refused "32-bit ELF" "not ELF64" --kernel "$WORK/elf32"
patch "$WORK/head.vmlinux" "$WORK/elf-arm" 18 '\x28'
refused "ELF for another machine" "machine 40" --kernel "$WORK/elf-arm"

PVM=0
[ -d /sys/module/kvm_pvm ] && PVM=1
MEM_MB=512
MEM=$((MEM_MB * 1024 * 1024))
LEGACY_HOLE=$((0x100000 - 0x9fc00))
TOKEN="t$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"

# The initramfs: busybox and an /init that prints the marker and resets the machine.
R=$WORK/initramfs
mkdir -p "$R/bin" "$R/dev" "$R/proc"
cp "$BUSYBOX" "$R/bin/busybox"
cat >"$R/init" <<INIT
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev 2>/dev/null
exec >/dev/console 2>&1 </dev/console
echo "VIREO-INIT-OK $TOKEN"
/bin/busybox reboot -f
INIT
chmod 755 "$R/init"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$WORK/initrd.cpio.gz"
INITRD_SIZE=$(stat -c %s "$WORK/initrd.cpio.gz")

# vmlinux without XEN_ELFNOTE_PHYS32_ENTRY: the note header (namesz 4, descsz 8, type 18, "Xen")
# gets type 0x99, so vireo enters it at e_entry like any x86-64 ELF.
NOPVH=$WORK/vmlinux-nopvh
off=$(LC_ALL=C grep -obUaP '\x04\x00\x00\x00\x08\x00\x00\x00\x12\x00\x00\x00Xen\x00' \
	"$GUEST_DIR/vmlinux" | head -1 | cut -d: -f1)
if [ -n "$off" ]; then
	cp "$GUEST_DIR/vmlinux" "$NOPVH"
	printf '\x99' | dd of="$NOPVH" bs=1 seek=$((off + 8)) conv=notrunc status=none
fi

boot() { # name kernel-file cpus
	local name=$1 kernel=$2 cpus=$3 log=$WORK/$1.serial.log
	local cmdline="console=ttyS0 noxsave earlyprintk=serial reboot=k panic=-1 vireo.test=$TOKEN"
	# with ACPI the kernel takes the CPUs from the MADT (26-acpi-linux checks that); acpi=off
	# makes it use vireo's MP table, which this script checks
	[ "$cpus" -gt 1 ] && cmdline="$cmdline acpi=off"
	local want="Initmem setup node 0"
	[ "$cpus" -gt 1 ] && want="Processors: $cpus"
	[ $PVM = 0 ] && want="VIREO-INIT-OK $TOKEN"
	: >"$log"
	local t0=$SECONDS
	timeout 240 "$VIREO" run --kernel "$kernel" --initrd "$WORK/initrd.cpio.gz" \
		--cmdline "$cmdline" --memory ${MEM_MB}M --cpus "$cpus" --serial "file=$log" \
		>"$WORK/$name.stdout.log" 2>"$WORK/$name.stderr.log" </dev/null &
	local pid=$!
	while kill -0 $pid 2>/dev/null; do
		if grep -qF "$want" "$log"; then
			# on kvm_pvm the rest is the expected exception: stop here to save time
			[ $PVM = 1 ] && { sleep 0.2; kill $pid 2>/dev/null; }
			break
		fi
		sleep 0.5
	done
	wait $pid
	local rc=$?
	echo "$name: vireo rc=$rc after $((SECONDS - t0)) s"
	tr -d '\r' <"$log" >"$log.txt"
	log=$log.txt

	if grep -qF "Command line: $cmdline" "$log"; then
		say ok "$name: kernel printed the command line vireo passed"
	else
		say "not ok" "$name: no 'Command line: $cmdline' in the log"
	fi

	local usable=0 n=0 a b
	while read -r a b; do
		usable=$((usable + 16#$b - 16#$a + 1))
		n=$((n + 1))
	done < <(sed -nE 's/.*BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable.*/\1 \2/p' "$log")
	if [ $n -ge 2 ] && [ $usable = $((MEM - LEGACY_HOLE)) ]; then
		say ok "$name: $n usable BIOS-e820 ranges add up to ${MEM_MB} MiB less the legacy hole"
	else
		say "not ok" "$name: usable e820 ranges ($n) add up to $usable, want $((MEM - LEGACY_HOLE))"
	fi
	# (the PVH entry merges it with the ISA range Linux reserves itself: 0x9fc00-0xfffff)
	if grep -qE 'BIOS-e820: \[mem 0x0*9fc00-0x0*(9ffff|fffff)\] reserved' "$log"; then
		say ok "$name: EBDA reserved in the e820 map"
	else
		say "not ok" "$name: no reserved EBDA range in the e820 map"
	fi

	local rd
	rd=$(sed -nE 's/.*RAMDISK: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\].*/\1 \2/p' "$log" | head -1)
	if [ -n "$rd" ]; then
		read -r a b <<<"$rd"
		a=$((16#$a)) b=$((16#$b))
		if [ $((a % 4096)) = 0 ] && [ $b -lt $MEM ] && [ $((MEM - b)) -le 4096 ] &&
			[ $((b - a + 1)) -ge $INITRD_SIZE ]; then
			say ok "$name: initrd page-aligned at the top of RAM ($(printf '0x%x' $a))"
		else
			say "not ok" "$name: RAMDISK at $(printf '0x%x-0x%x' $a $b), size $INITRD_SIZE, RAM $MEM"
		fi
	else
		say "not ok" "$name: kernel printed no RAMDISK line"
	fi

	if grep -q "Initmem setup node 0" "$log"; then
		say ok "$name: kernel reached 'Initmem setup node 0'"
	else
		say "not ok" "$name: no 'Initmem setup node 0' in the log"
	fi

	if [ "$cpus" -gt 1 ]; then
		if grep -q "Processors: $cpus" "$log" && grep -q "Processor #$((cpus - 1))" "$log" &&
			grep -q "IOAPIC\[0\]: apic_id $cpus, .*address 0xfec00000" "$log"; then
			say ok "$name: kernel found $cpus processors and the IOAPIC in vireo's MP table"
		else
			say "not ok" "$name: no 'Processors: $cpus' / IOAPIC apic_id $cpus from the MP table"
		fi
	fi

	if [ $PVM = 0 ]; then
		if grep -qF "VIREO-INIT-OK $TOKEN" "$log"; then
			say ok "$name: initramfs /init ran"
		else
			say "not ok" "$name: no 'VIREO-INIT-OK $TOKEN' from /init"
		fi
		[ $rc = 0 ] && say ok "$name: vireo exit status 0 after the guest's reboot" ||
			say "not ok" "$name: vireo exit status $rc, want 0"
	elif [ $rc = 124 ]; then
		say "not ok" "$name: timed out after 240 s"
	fi
}

boot vmlinux "$GUEST_DIR/vmlinux" 2
if [ -f "$NOPVH" ]; then
	boot vmlinux-elf64 "$NOPVH" 1
else
	say "not ok" "vmlinux has no PVH note to rename"
fi
boot bzImage "$GUEST_DIR/bzImage" 1
exit $fail
