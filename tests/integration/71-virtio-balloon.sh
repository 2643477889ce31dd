#!/bin/bash
# kvm: full
# SPDX-License-Identifier: MIT
# virtio-balloon in `vireo run` with Linux's virtio_balloon driver (tests/guest/init-balloon.sh),
# its effect measured on the host: vireo's resident guest memory is RssShmem in
# /proc/PID/status (guest RAM is a shared memfd). The guest waits for "go" on the serial
# console while the host measures. Three boots of a 512 MiB guest:
#  1. --balloon size=128M,stats=1: the driver inflates at start; unbinding it deflates
#     everything: MemTotal grows by 128 MiB (131072 kB, +-1 MiB) and 400 MiB of tmpfs, which
#     would not fit with the balloon full, is written (the guest uses the memory again);
#     freed without page reporting the host keeps it (RssShmem >= 400 MiB). Binding the
#     driver again inflates 128 MiB of that touched memory: MemTotal back where it was, and
#     RssShmem falls by >= 112 MiB. Statistics arrive: a stats line (vireo --log-level debug)
#     shows actual=128 MiB and the guest's own MemTotal.
#  2. --balloon free_page_reporting=on: 200 MiB written to tmpfs then removed; RssShmem falls
#     back by >= 150 MiB within 90 s without any target change.
#  3. --balloon size=320M,deflate_on_oom=on: 250 MiB written to tmpfs (more than is left)
#     succeed with no OOM kill, and the balloon the driver reports shrank below 320 MiB.
set -u
. "$(dirname "$0")/lib/guest.sh"
guest_require
guest_initrd "$WORK/initrd.gz" "$SRC_DIR/tests/guest/init-balloon.sh" || exit 1

vpid=
trap '[ -n "$vpid" ] && kill -9 $vpid 2>/dev/null' EXIT
start() { # NAME MODE BALLOON-OPTS
	name=$1
	mkfifo "$WORK/$name.in"
	exec 3<>"$WORK/$name.in"
	"$VIREO" run --kernel "$GUEST_DIR/bzImage" --initrd "$WORK/initrd.gz" --memory 512M \
		--cmdline "console=ttyS0 quiet panic=-1 vt.mode=$2" --serial stdio --balloon "$3" \
		--log-level debug <"$WORK/$name.in" >"$WORK/$name.serial.log" 2>"$WORK/$name.stderr.log" &
	vpid=$!
}
console() { tr -d '\r' <"$WORK/$name.serial.log" >"$WORK/$name.console"; }
wait_vt() { # KEY [TIMEOUT]: until "VT: KEY" is on the console
	local i
	for i in $(seq $((${2:-300} * 2))); do
		console
		grep -q "^VT: $1" "$WORK/$name.console" && return 0
		kill -0 $vpid 2>/dev/null || break
		sleep 0.5
	done
	notok "$name: no 'VT: $1' from the guest"
	return 1
}
rss() { sed -nE 's/^RssShmem:[[:space:]]+([0-9]+) kB/\1/p' /proc/$vpid/status; } # kB
go() { echo go >&3; }
finish() {
	local i rc
	for i in $(seq 240); do kill -0 $vpid 2>/dev/null || break; sleep 0.5; done
	kill -0 $vpid 2>/dev/null && { notok "$name: vireo still running"; kill -9 $vpid; }
	wait $vpid
	rc=$?
	vpid=
	exec 3>&-
	console
	check_eq "$name: vireo exit status" $rc 0
	check_eq "$name: guest reached the end" "$(grep -c '^VT: done' "$WORK/$name.console")" 1
	if grep -q 'needs reset' "$WORK/$name.stderr.log"; then
		notok "$name: $(grep -m1 'needs reset' "$WORK/$name.stderr.log")"
	fi
}
# The last stats line's value of KEY (vireo --log-level debug).
stat_val() { grep 'balloon0: stats:' "$WORK/$name.stderr.log" | tail -1 | sed -nE "s/.* $1=([0-9]+).*/\\1/p"; }
within() { # NAME GOT WANT SLACK
	if [ -n "$2" ] && [ $(($2 - $3)) -le $4 ] && [ $(($3 - $2)) -le $4 ]; then ok "$1 ($2)"; else
		notok "$1: got '$2', want $3 +- $4"; fi
}
atleast() { # NAME GOT MIN
	if [ -n "$2" ] && [ "$2" -ge "$3" ]; then ok "$1 ($2 >= $3)"; else notok "$1: got '$2', want >= $3"; fi
}

# 1. inflate at start, deflate (unbind), use the memory, inflate again (bind).
start inflate inflate size=128M,stats=1
if wait_vt touched; then
	m1=$(vt_val inflate memtotal_inflated) m2=$(vt_val inflate memtotal_deflated)
	within "inflate: MemTotal grows by 128 MiB when the driver deflates" $((m2 - m1)) 131072 1024
	check_eq "inflate: 400 MiB written after the deflate" "$(vt_val inflate filled_mib)" 400
	r1=$(rss)
	atleast "inflate: host resident guest memory after the guest used it, kB" "$r1" $((400 * 1024))
	go
	if wait_vt inflated; then
		r2=$(rss)
		m3=$(vt_val inflate memtotal_reinflated)
		within "inflate: MemTotal after inflating again" "$m3" "$m1" 1024
		atleast "inflate: host memory given back by inflating 128 MiB, kB" $((r1 - r2)) $((112 * 1024))
		for _ in $(seq 60); do
			[ "$(stat_val memtot)" = $((m3 * 1024)) ] && [ "$(stat_val actual)" = 128 ] && break
			sleep 0.5
		done
		check_eq "inflate: stats: the guest's MemTotal in bytes" "$(stat_val memtot)" $((m3 * 1024))
		check_eq "inflate: stats: balloon actual, MiB" "$(stat_val actual)" 128
		go
	fi
fi
finish

# 2. free page reporting: memory the guest frees goes back without a target change.
start report report free_page_reporting=on
if wait_vt filled; then
	check_eq "report: 200 MiB written" "$(vt_val report filled_mib)" 200
	r1=$(rss)
	atleast "report: host resident guest memory with 200 MiB in tmpfs, kB" "$r1" $((200 * 1024))
	go
	if wait_vt freed; then
		t0=$SECONDS
		for _ in $(seq 180); do
			[ $((r1 - $(rss))) -ge $((150 * 1024)) ] && break
			sleep 0.5
		done
		r2=$(rss)
		atleast "report: host memory back after the guest freed 200 MiB, kB" $((r1 - r2)) $((150 * 1024))
		echo "# report: fell by $(((r1 - r2) / 1024)) MiB within $((SECONDS - t0)) s"
		go
	fi
fi
finish

# 3. deflate on OOM.
start oom oom size=320M,deflate_on_oom=on,stats=1
if wait_vt written 600; then
	check_eq "oom: dd exit status" "$(vt_val oom dd_rc)" 0
	check_eq "oom: 250 MiB written" "$(vt_val oom filled_mib)" 250
	check_eq "oom: processes killed by the OOM killer" "$(vt_val oom oom_kills)" 0
	for _ in $(seq 20); do
		a=$(stat_val actual)
		[ -n "$a" ] && [ "$a" -lt 320 ] && break
		sleep 0.5
	done
	if [ -n "$a" ] && [ "$a" -lt 320 ]; then ok "oom: the driver deflated to $a MiB"; else
		notok "oom: balloon actual '$a' MiB, want < 320"; fi
	grep -q 'balloon at its target, 320 MiB' "$WORK/oom.stderr.log" &&
		ok "oom: the balloon reached 320 MiB first" || notok "oom: the balloon never held 320 MiB"
	go
fi
finish
exit $guest_fail
