# SPDX-License-Identifier: MIT
# Helpers for the whole-Linux-guest suites (`# kvm: full` scripts; sourced, not a test).
# Needs $VIREO, $WORK, $GUEST_DIR, $SRC_DIR from the runner (tests/lib/runner.sh).
#
#   guest_require                      skip (77) without a guest kernel or busybox-static
#   guest_initrd OUT INIT [SRC[:DEST]...]
#                                      busybox initramfs with INIT as /init and
#                                      tests/guest/init-common.sh beside it
#   guest_boot NAME TIMEOUT VIREO-RUN-ARGS...
#                                      run vireo (serial to $WORK/NAME.serial.log), wait;
#                                      $WORK/NAME.console is the log without \r; returns
#                                      vireo's exit status (124 on timeout)
#   vt_get LOG KEY                     value of the guest's first "VT: KEY=VALUE" line
#   ok / notok / check_eq              TAP-style results; $guest_fail is 1 after a failure
guest_fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; guest_fail=1; }
check_eq() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1 ($2)"; else notok "$1: got '$2', want '$3'"; fi
}

guest_require() {
	if [ -z "${GUEST_DIR:-}" ] || [ ! -r "$GUEST_DIR/bzImage" ]; then
		echo "skip: no guest kernel (GUEST_DIR is empty; tests/guest/build-kernel.sh makes one)"
		exit 77
	fi
	[ -x /bin/busybox ] || { echo "skip: busybox-static is not installed"; exit 77; }
	[ -w /dev/kvm ] || { echo "skip: /dev/kvm is not usable here"; exit 77; }
}

guest_initrd() { # OUT INIT [SRC[:DEST]...]
	local out=$1 init=$2
	shift 2
	"$SRC_DIR/tests/guest/mkinitramfs.sh" "$out" "$init" \
		"$SRC_DIR/tests/guest/init-common.sh:/init-common.sh" "$@"
}

guest_boot() { # NAME TIMEOUT VIREO-RUN-ARGS...
	local name=$1 tmo=$2 rc
	shift 2
	: >"$WORK/$name.serial.log"
	timeout -k 5 "$tmo" "$VIREO" run --serial "file=$WORK/$name.serial.log" "$@" \
		>"$WORK/$name.stdout.log" 2>"$WORK/$name.stderr.log" </dev/null
	rc=$?
	tr -d '\r' <"$WORK/$name.serial.log" >"$WORK/$name.console"
	[ $rc = 124 ] && echo "# $name: vireo timed out after $tmo s"
	return $rc
}

vt_get() { # LOG KEY (as in lib/vhost-user.sh)
	grep -ao "VT: $2=.*" "$1" | head -n1 | sed "s/^VT: $2=//" | tr -d '\r'
}

# The value of the last "VT: KEY=VALUE" line of guest_boot NAME's console ($WORK/NAME.console).
vt_val() { # NAME KEY
	sed -nE "s/^VT: $2=(.*)$/\\1/p" "$WORK/$1.console" | tr -d '\r' | tail -1
}

# SRC:DEST arguments for guest_initrd that put the host's socat (Debian's, with AF_VSOCK) and
# the shared libraries ldd names into the initramfs at the same paths.
guest_socat_files() {
	local s l
	s=$(command -v socat) || return 1
	echo "$s:/usr/bin/socat"
	for l in $(ldd "$s" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
		echo "$l:$l"
	done
}
