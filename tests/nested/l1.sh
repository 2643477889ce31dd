#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real KVM on any machine: boot Debian's own kernel under QEMU TCG with `-cpu max` (which
# emulates AMD-V with nested paging), load kvm_amd there, mount the host's root filesystem
# read-only over virtio-9p and run a command chrooted into it, so the host's vireo build, its
# tests and its tools run unchanged against the L1's /dev/kvm. See ../shared/PLATFORM.md.
#
#   l1.sh prepare                  download/cache the L1 kernel and modules; print the cache dir
#   l1.sh run [OPTS] -- CMD...     boot an L1, run CMD (bash -c) in the current directory
#                                  inside it, power off; exit with CMD's exit status
#     --rw DIR        also mount DIR writable at the same path (repeatable; results, images)
#     --log FILE      the L1 console (kernel + CMD's stdout/stderr) goes to FILE, not stdout
#     --interactive   the L1 console is this terminal: CMD gets it as its controlling tty,
#                     Ctrl-C reaches CMD (Ctrl-A X leaves QEMU)
#     --timeout S     give up after S seconds (exit 124)
#     --heartbeat F S CMD keeps touching file F (on a --rw share); should F age past S seconds,
#                     the L1 froze: its vCPU state goes to the log and it is ended (exit 125)
#   l1.sh available                exit 0 when the nested path can be used here, else print why
#
# Environment: VIREO_L1_CACHE (default ~/.cache/vireo/l1), VIREO_L1_MEM (default 6G),
# VIREO_L1_CPUS (default: the host's CPUs, at most 4).
#
# The L1 kernel and modules come from Debian's linux-image-amd64 (apt-get download: nothing is
# installed on the host); they are cached per kernel version outside the source tree.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${VIREO_L1_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vireo/l1}
BUSYBOX=${BUSYBOX:-/bin/busybox}
# Modules the L1 loads, in order (kvm_amd needs ccp; 9p needs netfs/fscache); networking ones
# for tests that build bridges and TAP devices inside the L1.
MODS_BOOT=(virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	netfs fscache 9pnet 9pnet_virtio 9p irqbypass ccp kvm kvm-amd)
MODS_EXTRA=(tun llc stp bridge veth)

die() { echo "l1: $*" >&2; exit 1; }

l1_available() {
	command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 is not installed"; return 1; }
	[ -x "$BUSYBOX" ] || { echo "$BUSYBOX (busybox-static) is not installed"; return 1; }
	command -v cpio >/dev/null || { echo "cpio is not installed"; return 1; }
	if ! ls "$CACHE"/*/vmlinuz >/dev/null 2>&1; then
		command -v apt-get >/dev/null || { echo "no cached L1 kernel and no apt-get to fetch one"; return 1; }
	fi
	return 0
}

# Download linux-image-<ver>-amd64 (the dependency of linux-image-amd64), keep the kernel and the
# modules the L1 needs, with a modules.dep for busybox modprobe. Prints the version's cache dir.
l1_prepare() {
	local pkg ver dir
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	if [ -z "$pkg" ] && ! ls "$CACHE"/*/ready >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true # a fresh machine has no package lists yet
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	fi
	if [ -z "$pkg" ]; then
		# no package lists (offline): use what is cached
		dir=$(ls -d "$CACHE"/*/ 2>/dev/null | sort -V | tail -1)
		[ -n "$dir" ] && [ -f "$dir/vmlinuz" ] || die "cannot find linux-image-amd64 (apt-get update?)"
		echo "${dir%/}"
		return
	fi
	ver=${pkg#linux-image-}
	dir=$CACHE/$ver
	if [ -f "$dir/ready" ]; then echo "$dir"; return; fi
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	if [ -f "$dir/ready" ]; then echo "$dir"; return; fi
	local tmp; tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
	(cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
		{ rm -rf "$tmp"; die "apt-get download $pkg failed"; }
	dpkg-deb -x "$tmp"/*.deb "$tmp/x"
	rm -rf "$dir"; mkdir -p "$dir/lib/modules/$ver"
	cp "$tmp/x/boot/vmlinuz-$ver" "$dir/vmlinuz"
	local m f
	depmod -b "$tmp/x" "$ver" 2>/dev/null || die "depmod failed (install kmod)"
	for m in "${MODS_BOOT[@]}" "${MODS_EXTRA[@]}"; do
		f=$(modprobe -d "$tmp/x" -S "$ver" --show-depends "$m" 2>/dev/null |
			awk '$1 == "insmod" {print $2}') || true
		[ -n "$f" ] || die "module $m not in $pkg"
		for p in $f; do
			mkdir -p "$dir/$(dirname "${p#$tmp/x/}")"
			cp -n "$p" "$dir/${p#$tmp/x/}"
		done
	done
	cp "$tmp/x/lib/modules/$ver"/modules.{order,builtin,builtin.modinfo} "$dir/lib/modules/$ver/" 2>/dev/null || true
	depmod -b "$dir" "$ver"
	rm -rf "$tmp"
	echo "$ver" >"$dir/ready"
	echo "$dir"
}

# The base initramfs (busybox, modules, /init), cached beside the kernel.
l1_base_initrd() { # DIR
	local dir=$1 ver; ver=$(cat "$dir/ready")
	# keyed by what goes in, so that checkouts with different init scripts do not fight
	local key; key=$( (cat "$HERE/l1-init.sh" "$BUSYBOX"; echo "${MODS_BOOT[*]} ${MODS_EXTRA[*]}") |
		sha256sum | cut -c1-16)
	local out=$dir/base-$key.cpio.gz
	if [ -f "$out" ]; then echo "$out"; return; fi
	local st; st=$(mktemp -d)
	mkdir -p "$st"/{bin,dev,proc,sys,host,etc}
	cp "$BUSYBOX" "$st/bin/busybox"
	install -m 755 "$HERE/l1-init.sh" "$st/init"
	cp -a "$dir/lib" "$st/"
	printf '%s\n' "${MODS_BOOT[@]}" >"$st/etc/l1-modules"
	printf '%s\n' "${MODS_EXTRA[@]}" >"$st/etc/l1-modules-extra"
	(cd "$st" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
		gzip -1 >"$out.tmp.$$"
	mv "$out.tmp.$$" "$out"
	rm -rf "$st"
	echo "$out"
}

l1_run() {
	local rw=() log="" interactive=0 tmo=0 hb="" stall=0
	while [ $# -gt 0 ]; do
		case "$1" in
		--heartbeat) hb=$2; stall=$3; shift 3 ;;
		--rw) rw+=("$(cd "$2" && pwd)"); shift 2 ;;
		--log) log=$2; shift 2 ;;
		--interactive) interactive=1; shift ;;
		--timeout) tmo=$2; shift 2 ;;
		--) shift; break ;;
		*) die "unknown option $1" ;;
		esac
	done
	[ $# -gt 0 ] || die "run: no command"
	local why; why=$(l1_available) || die "$why"
	local dir base; dir=$(l1_prepare); base=$(l1_base_initrd "$dir")

	# The per-run part: the command, the directory, the writable mounts, the terminal size.
	local st; st=$(mktemp -d)
	trap 'rm -rf "$st"' RETURN
	mkdir -p "$st/etc" "$st/ctl"
	printf '%s\n' "$*" >"$st/etc/l1-cmd"
	pwd >"$st/etc/l1-cwd"
	: >"$st/etc/l1-rw"
	local i=0
	for d in "${rw[@]}"; do echo "rw$i $d" >>"$st/etc/l1-rw"; i=$((i + 1)); done
	echo "$interactive" >"$st/etc/l1-interactive"
	if [ $interactive = 1 ] && [ -t 0 ]; then stty size >"$st/etc/l1-stty" 2>/dev/null || true; fi
	env | grep -E '^(VIREO_[A-Z0-9_]*|TERM|LANG)=' | grep -v '^VIREO_L1_' >"$st/etc/l1-env" || true
	(cd "$st" && find . -mindepth 1 | cpio --quiet -o -H newc -R 0:0) | gzip -1 >"$st.cpio"
	cat "$base" "$st.cpio" >"$st/initrd"
	rm -f "$st.cpio"

	local cpus=${VIREO_L1_CPUS:-$(nproc)}
	[ "$cpus" -gt 4 ] && cpus=4
	local args=(-accel tcg,thread=${VIREO_L1_TCG_THREAD:-multi} -cpu max,xsave=off -smp "$cpus" -m "${VIREO_L1_MEM:-6G}"
		-M pc -nodefaults -no-reboot -display none -vga none
		-kernel "$dir/vmlinuz" -initrd "$st/initrd"
		-append "console=ttyS0 quiet loglevel=$((interactive ? 1 : 4)) panic=-1 tsc=reliable kvm_amd.vgif=0"
		-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap
		-virtfs "local,path=$st/ctl,mount_tag=ctl,security_model=none")
	i=0
	for d in "${rw[@]}"; do
		args+=(-virtfs "local,path=$d,mount_tag=rw$i,security_model=passthrough,multidevs=remap")
		i=$((i + 1))
	done
	local rc
	if [ $interactive = 1 ]; then
		args+=(-chardev stdio,id=con,mux=on,signal=off -serial chardev:con -mon chardev=con)
		# QEMU restores the terminal when it exits; put it back ourselves should it be killed
		local saved=""
		[ -t 0 ] && saved=$(stty -g 2>/dev/null)
		set +e
		qemu-system-x86_64 "${args[@]}"
		rc=$?
		set -e
		[ -n "$saved" ] && stty "$saved" 2>/dev/null
		[ $rc = 0 ] || die "qemu-system-x86_64 exited with status $rc"
		rc=$(cat "$st/ctl/rc" 2>/dev/null || echo 1)
		return "$rc"
	fi
	args+=(-serial stdio -monitor "unix:$st/mon.sock,server,nowait")
	local out=${log:-$st/console.log}
	set +e
	[ "$tmo" -gt 0 ] || tmo=0
	timeout -k 5 "$tmo" qemu-system-x86_64 "${args[@]}" </dev/null >"$out" 2>&1 &
	local qpid=$! froze=0
	if [ -n "$hb" ]; then
		# The L1 touches the heartbeat file every few seconds. Should it stop (the L1 froze:
		# seen once under QEMU TCG with nested SVM, no console output, for an hour), record
		# where its vCPUs are and end it, so that the caller can go on in a fresh L1.
		: >"$hb"
		while kill -0 $qpid 2>/dev/null; do
			sleep 5
			local age=$(($(date +%s) - $(stat -c %Y "$hb" 2>/dev/null || date +%s)))
			if [ "$age" -gt "$stall" ]; then
				froze=1
				{
					echo "l1: no heartbeat for $age s: the L1 froze; its vCPUs (twice, 3 s apart: do they move?):"
					for pass in 1 2; do
					[ $pass = 1 ] || sleep 3
					printf 'info cpus\ninfo registers -a\n' |
						timeout 10 python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(3)
s.sendall(sys.stdin.read().encode()); time.sleep(2)
try:
    while True:
        d = s.recv(65536)
        if not d: break
        sys.stdout.write(d.decode(errors="replace"))
except Exception: pass' "$st/mon.sock"
					done
				} >>"$out" 2>&1
				kill $qpid 2>/dev/null
				pkill -f -- "$st/initrd" 2>/dev/null
				break
			fi
		done
	fi
	wait $qpid
	rc=$?
	set -e
	[ -z "$log" ] && tr -d '\r' <"$out"
	[ $froze = 1 ] && { echo "l1: the L1 froze (no heartbeat for over $stall s)" >&2; return 125; }
	[ $rc = 124 ] && { echo "l1: timed out after $tmo s" >&2; return 124; }
	[ $rc = 0 ] || { echo "l1: qemu-system-x86_64 exited with status $rc" >&2; return 1; }
	if [ ! -s "$st/ctl/rc" ]; then
		echo "l1: the L1 did not report an exit status; its console ends:" >&2
		tr -d '\r' <"$out" | tail -20 >&2
		return 1
	fi
	return "$(cat "$st/ctl/rc")"
}

case "${1:-}" in
prepare) l1_prepare ;;
available) l1_available ;;
run) shift; l1_run "$@" ;;
*) sed -n '8,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
