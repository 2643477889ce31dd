#!/usr/bin/env bash
# kvm: full
# SPDX-License-Identifier: MIT
# Whole Linux guests on vireo: the shared bzImage (64-bit boot protocol entry) and the PVH
# vmlinux, each with 1, 2 and 4 vCPUs, boot to a busybox /init (tests/guest/init-boot.sh) that
# reports from inside the guest: the CPU count, MemTotal against --memory, a clean dmesg (no
# WARNING:, BUG:, Call Trace, ACPI errors...), a working timer. The guest then reboots or powers
# off, and vireo must exit 0 promptly either way.
set -u
. "$(dirname "$0")/lib/guest.sh"
guest_require
[ -r "$GUEST_DIR/vmlinux" ] || { echo "skip: no $GUEST_DIR/vmlinux"; exit 77; }
initrd=$WORK/initrd-boot.cpio.gz
guest_initrd "$initrd" "$SRC_DIR/tests/guest/init-boot.sh" || exit 1

boot() { # KERNEL CPUS MEM_MB END
	local kernel=$1 cpus=$2 mem=$3 end=$4 name=$1-$2cpu
	local token; token=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
	local t0=$SECONDS
	guest_boot "$name" 300 --kernel "$GUEST_DIR/$kernel" --initrd "$initrd" --cpus "$cpus" \
		--memory "${mem}M" --cmdline "console=ttyS0 quiet panic=-1 vt.token=$token vt.end=$end"
	local rc=$? log=$WORK/$name.console
	echo "# $name: $((SECONDS - t0)) s"
	check_eq "$name: vireo exit status after the guest's $end" "$rc" 0
	check_eq "$name: /init ran with this boot's command line" "$(vt_get "$log" token)" "$token"
	check_eq "$name: CPUs the guest brought up" "$(vt_get "$log" cpus)" "$cpus"
	check_eq "$name: CPUs online" "$(vt_get "$log" online)" "$([ "$cpus" = 1 ] && echo 0 || echo "0-$((cpus - 1))")"
	local kb; kb=$(vt_get "$log" memtotal_kb)
	# MemTotal is --memory less the legacy hole, the kernel image and early reservations
	if [ -n "$kb" ] && [ "$kb" -le $((mem * 1024)) ] && [ "$kb" -ge $(((mem - 64) * 1024)) ]; then
		ok "$name: MemTotal ${kb} kB for --memory ${mem}M"
	else
		notok "$name: MemTotal '${kb}' kB, want within 64 MiB below ${mem} MiB"
	fi
	check_eq "$name: dmesg has no warnings or errors" "$(vt_get "$log" dmesg_bad)" 0
	grep -a '^VT-BAD: ' "$log" | head -5 | sed 's/^/# /'
	local d; d=$(vt_get "$log" uptime_delta)
	if [ -n "$d" ] && [ "$d" -ge 10 ]; then ok "$name: sleep 1 returned, the clock advanced (${d}/10 s)"; else notok "$name: timer: uptime advanced '${d}'/10 s over sleep 1"; fi
	check_eq "$name: guest reached the end" "$(grep -ac '^VT: done' "$log")" 1
}

# poweroff -f is ACPI S5 (without ACPI the kernel would only halt and vireo would not exit);
# reboot -f is the ACPI reset register / 0xCF9
boot bzImage 1 256 poweroff
boot bzImage 2 512 reboot
boot bzImage 4 768 poweroff
boot vmlinux 1 384 reboot
boot vmlinux 2 512 poweroff
boot vmlinux 4 1024 reboot
exit $guest_fail
