# SPDX-License-Identifier: MIT
# Helpers shared by the 40-vhost-user-*.sh suites (sourced; not a test itself).
# Needs $WORK, $GUEST_DIR, $SRC_DIR from the integration runner.

vu_fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; vu_fail=1; }
check_eq() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1 ($2)"; else notok "$1: got '$2', want '$3'"; fi
}
skip() { echo "skip - $*"; exit 77; }

vu_pids=()
vu_cleanup() {
	for p in "${vu_pids[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	vu_pids=()
}
trap vu_cleanup EXIT INT TERM

vu_require() {
	[ -n "${GUEST_DIR:-}" ] && [ -r "$GUEST_DIR/bzImage" ] || skip "no guest kernel (GUEST_DIR empty)"
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
	[ -x /bin/busybox ] || skip "busybox-static not installed"
}

# Wait until a unix socket exists (backend started) or the process died.
vu_wait_socket() { # SOCK PID
	for _ in $(seq 1 100); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# Stop a daemon with SIGTERM and wait for it; its exit status goes to $vu_rc.
vu_stop() { # PID
	local rc=0
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null || rc=$?
	local keep=()
	for p in "${vu_pids[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
	vu_pids=("${keep[@]}")
	vu_rc=$rc
}

# Boot the guest under QEMU TCG (VU_ACCEL=kvm VU_CPU=host: under KVM; VU_SMP vCPUs, default
# 2) with one vhost-user device; console to LOG. A guest reboot
# ends QEMU unless VU_REBOOT=1 (then only a power-off does). Runs in the background when
# VU_BG=1: then $vu_qemu_pid is the `timeout ${VU_TIMEOUT:-120}` wrapper (killed by the EXIT trap; SIGTERM
# to it reaches QEMU); vu_qemu_kill9 kills QEMU itself with SIGKILL.
vu_qemu() { # LOG INITRD APPEND DEVICE-ARGS...
	local log=$1 initrd=$2 append=$3
	shift 3
	local noreboot=-no-reboot
	[ "${VU_REBOOT:-0}" = 1 ] && noreboot=
	if [ "${VU_BG:-0}" = 1 ]; then
		timeout "${VU_TIMEOUT:-120}" qemu-system-x86_64 -accel "${VU_ACCEL:-tcg}" -cpu "${VU_CPU:-max}" -smp "${VU_SMP:-2}" -m 256 -nographic $noreboot \
			-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
			"$@" -kernel "$GUEST_DIR/bzImage" -initrd "$initrd" \
			-append "console=ttyS0 panic=-1 rdinit=/init quiet $append" >"$log" 2>&1 </dev/null &
		vu_qemu_pid=$!
		vu_pids+=("$vu_qemu_pid")
		return 0
	fi
	timeout "${VU_TIMEOUT:-120}" qemu-system-x86_64 -accel "${VU_ACCEL:-tcg}" -cpu "${VU_CPU:-max}" -smp "${VU_SMP:-2}" -m 256 -nographic $noreboot \
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
		"$@" -kernel "$GUEST_DIR/bzImage" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 rdinit=/init quiet $append" >"$log" 2>&1 </dev/null
	local rc=$?
	[ $rc -eq 124 ] && echo "qemu timed out, console in $log" >&2
	return $rc
}

# SIGKILL the QEMU started with VU_BG=1 (an abrupt front-end death) and reap its wrapper.
vu_qemu_kill9() {
	local child
	child=$(pgrep -P "$vu_qemu_pid" -x qemu-system-x86 || pgrep -P "$vu_qemu_pid")
	[ -n "$child" ] && kill -KILL $child 2>/dev/null
	wait "$vu_qemu_pid" 2>/dev/null
	local keep=()
	for p in "${vu_pids[@]}"; do [ "$p" != "$vu_qemu_pid" ] && keep+=("$p"); done
	vu_pids=("${keep[@]}")
}

# Value of "VT: key=value" in a console log (first match, CR stripped).
vt_get() { # LOG KEY
	grep -ao "VT: $2=.*" "$1" | head -n1 | sed "s/^VT: $2=//" | tr -d '\r'
}
