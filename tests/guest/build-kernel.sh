#!/usr/bin/env bash
# Build vireo's minimal guest kernel (the one ../shared/guest provides when it exists) from
# Debian's linux-source-6.12: tinyconfig, then kernel.config.fragment merged on top, then
# olddefconfig; make vmlinux bzImage. About 5 minutes on 2 cores.
#
#   tests/guest/build-kernel.sh OUTDIR
#
# OUTDIR gets bzImage, vmlinux (debug info stripped) and config; OUTDIR/obj keeps the object
# tree so that a second run only relinks. Debian packages: linux-source-6.12 make gcc bc bison
# flex libelf-dev libssl-dev lz4 xz-utils.
set -euo pipefail
out=${1:?usage: build-kernel.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/kernel.config.fragment
jobs=${JOBS:-$(nproc)}

tarball=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -1 || true)
if [ -z "$tarball" ]; then
	echo "build-kernel.sh: /usr/src/linux-source-6.12.tar.* not found (apt-get install linux-source-6.12)" >&2
	exit 1
fi
for tool in make gcc bc bison flex lz4 objcopy; do
	command -v $tool >/dev/null || { echo "build-kernel.sh: $tool is missing" >&2; exit 1; }
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/linux-source-6.12
obj=$out/obj
if [ ! -f "$src/Makefile" ]; then
	echo "build-kernel.sh: unpacking $tarball"
	tar -xf "$tarball" -C "$out"
fi
mkdir -p "$obj"

kmake() { make -C "$src" O="$obj" ARCH=x86_64 "$@"; }
kmake -s tinyconfig
(cd "$src" && scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "$fragment" >/dev/null)
kmake -s olddefconfig

# Every =y of the fragment must have survived olddefconfig (a dependency we forgot drops it).
missing=0
while IFS= read -r line; do
	case $line in CONFIG_*=y) ;; *) continue ;; esac
	if ! grep -qx "$line" "$obj/.config"; then
		echo "build-kernel.sh: $line did not survive olddefconfig" >&2
		missing=1
	fi
done <"$fragment"
[ $missing = 0 ] || exit 1

echo "build-kernel.sh: building with $jobs jobs"
kmake -s -j"$jobs" vmlinux bzImage
cp "$obj/arch/x86/boot/bzImage" "$out/bzImage"
objcopy --strip-debug "$obj/vmlinux" "$out/vmlinux"
cp "$obj/.config" "$out/config"
echo "build-kernel.sh: $out/bzImage and $out/vmlinux ready"
