#!/usr/bin/env bash
# vireo developer entry point. Each command installs what is missing (Debian 12, as root) first.
#
#   ./dev.sh demo    build vireo, a busybox initramfs and the guest kernel, and boot it
#   ./dev.sh test    build everything and run the whole test suite (what CI runs)
#   ./dev.sh build   just build (build/vireo)
#   ./dev.sh setup   just install the Debian packages vireo needs
#   ./dev.sh bench   run the benchmarks in bench/ (prints figures; see BENCHMARKS.md)
set -euo pipefail
cd "$(dirname "$0")"
SRC_DIR=$(pwd)

# Packages to build and test vireo (peers and tools the tests use included).
PKGS=(gcc libc6-dev pkg-config meson ninja-build liburing-dev
      clang lld libclang-rt-14-dev llvm
      seabios qemu-system-x86 qemu-system-common qemu-utils
      busybox-static cpio gzip fio hyperfine python3 e2fsprogs util-linux procps kmod
      libvncserver-dev libpng-dev vncsnapshot python3-pil libdrm-dev
      libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev curl python3-yaml python3-jsonschema
      acpica-tools syslinux syslinux-common extlinux grub-pc-bin grub-common mtools dosfstools
      fdisk iproute2 ethtool iperf3)
# Extra packages to build the guest kernel when ../shared/guest is absent.
KERNEL_PKGS=(linux-source-6.12 make bc bison flex libelf-dev libssl-dev lz4 xz-utils)

need_root() {
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null; then echo sudo; else
			echo "dev.sh: installing packages needs root (or sudo)" >&2; exit 2; fi
	fi
}

install_pkgs() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "dev.sh: installing ${missing[*]}"
	local s; s=$(need_root)
	$s apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $s apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

# The OpenAPI validator the API tests use (tests/api/package.json, pinned; npm registry).
install_npm_tools() {
	[ -x tests/api/node_modules/.bin/redocly ] && return 0
	if ! command -v npm >/dev/null; then
		echo "dev.sh: npm not found: the OpenAPI lint test will be skipped" >&2
		return 0
	fi
	echo "dev.sh: installing @redocly/cli into tests/api (npm ci)"
	(cd tests/api && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
		echo "dev.sh: npm ci failed: the OpenAPI lint test will be skipped" >&2
}

build() {
	if [ ! -f build/build.ninja ]; then
		meson setup build >/dev/null
	fi
	ninja -C build
}

guest_kernel() {
	# Prints the path of a bzImage: ../shared/guest when present, else builds one.
	if [ -f ../shared/guest/bzImage ]; then
		echo "$(cd ../shared/guest && pwd)/bzImage"
		return
	fi
	install_pkgs "${KERNEL_PKGS[@]}"
	local out=$SRC_DIR/tests/guest/out/kernel
	[ -f "$out/bzImage" ] || tests/guest/build-kernel.sh "$out" >&2
	echo "$out/bzImage"
}

cmd=${1:-}
case "$cmd" in
setup)
	install_pkgs "${PKGS[@]}"
	install_npm_tools
	;;
build)
	install_pkgs "${PKGS[@]}"
	build
	;;
test)
	install_pkgs "${PKGS[@]}"
	install_npm_tools
	exec tests/run.sh
	;;
demo)
	install_pkgs "${PKGS[@]}"
	build
	kernel=$(guest_kernel)
	mkdir -p tests/guest/out
	tests/guest/mkinitramfs.sh tests/guest/out/demo-initrd.cpio.gz tests/guest/init-demo.sh
	args=(build/vireo run --kernel "$kernel" --initrd tests/guest/out/demo-initrd.cpio.gz
		--memory 512M --cpus 2 --cmdline "console=ttyS0 quiet panic=-1" "${@:2}")
	. tests/lib/runner.sh
	kind=$(host_kvm_kind)
	if [ "$kind" = hw ] && [ "${VIREO_DEMO_NESTED:-0}" != 1 ]; then
		exec "${args[@]}"
	fi
	# No hardware KVM: the same vireo runs inside a nested-KVM L1 (tests/nested/l1.sh).
	case "$kind" in
	none) why="this host has no /dev/kvm" ;;
	pvm) why="this host's /dev/kvm is kvm_pvm, a software KVM that stops Linux at its first exception" ;;
	*) why="VIREO_DEMO_NESTED=1" ;;
	esac
	echo "dev.sh: $why: running vireo inside a nested KVM under QEMU TCG (slower; a few seconds to start)" >&2
	exec tests/nested/l1.sh run --interactive -- "$(printf '%q ' "${args[@]}")"
	;;
bench)
	install_pkgs "${PKGS[@]}"
	build
	for b in bench/run-*.sh; do [ -x "$b" ] && "$b"; done
	;;
*)
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	[ -z "$cmd" ] && exit 2
	echo "dev.sh: unknown command '$cmd'" >&2
	exit 2
	;;
esac
