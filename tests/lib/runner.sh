# SPDX-License-Identifier: MIT
# Integration-test running, shared by tests/run.sh (on the host) and tests/nested/batch.sh
# (inside the nested-KVM L1). Sourced; needs SRC_DIR.
#
# Every tests/integration/*.sh says what KVM it needs in a header line `# kvm: WHAT`:
#   none  no KVM (CLI errors, QEMU TCG + vhost-user): runs on the host
#   any   any /dev/kvm, the software kvm_pvm included (payload guests, SeaBIOS to an MBR)
#   full  a whole Linux guest: a hardware KVM, or the nested L1 (../shared/PLATFORM.md)
# A script without the line counts as `none`.

test_kvm_need() { # SCRIPT -> none|any|full
	local w
	w=$(sed -nE '1,30s/^# kvm: *(none|any|full)\b.*/\1/p' "$1" | head -1)
	echo "${w:-none}"
}

# What this host's /dev/kvm is: hw (VT-x/AMD-V behind it), pvm (kvm_pvm, software), none.
host_kvm_kind() {
	if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then echo none; return; fi
	if [ -d /sys/module/kvm_pvm ] || ! grep -qwE 'vmx|svm' /proc/cpuinfo; then echo pvm; return; fi
	echo hw
}

# Where a test with NEED runs under MODE (auto|host|nested) on a host of KIND: host or nested.
test_place() { # NEED MODE KIND
	local need=$1 mode=$2 kind=$3
	[ "$need" = none ] && { echo host; return; }
	case "$mode" in
	host) echo host ;;
	nested) echo nested ;;
	*)
		if [ "$kind" = hw ] || { [ "$kind" = pvm ] && [ "$need" = any ]; }; then
			echo host
		else
			echo nested
		fi
		;;
	esac
}

# Run one integration script with the runner's environment; leaves $WORK/rc and $WORK/secs.
# Output goes to $WORK/output.log.
run_one_test() { # SCRIPT WORK
	local t=$1 work=$2 start rc
	mkdir -p "$work"
	start=$(date +%s)
	VIREO="$SRC_DIR/build/vireo" BUILD_DIR="$SRC_DIR/build" SRC_DIR="$SRC_DIR" \
		GUEST_DIR="${GUEST_DIR:-}" WORK="$work" timeout "${VIREO_TEST_TIMEOUT:-900}" \
		bash "$t" >"$work/output.log" 2>&1 </dev/null
	rc=$?
	echo $rc >"$work/rc"
	echo $(($(date +%s) - start)) >"$work/secs"
	# A test that passed keeps its logs and pictures, not its disk images and data files.
	if [ $rc = 0 ] || [ $rc = 77 ]; then
		find "$work" -maxdepth 2 -type f -size +1M ! -name '*.log' ! -name '*.txt' \
			! -name '*.png' ! -name '*.jpg' -delete 2>/dev/null
	fi
	return 0
}
