#!/bin/bash
# SPDX-License-Identifier: MIT
# Build a busybox initramfs: mkinitramfs.sh OUT.cpio.gz INIT_SCRIPT [SRC[:DEST] ...]
#
# The archive holds Debian's static busybox at /bin/busybox (applets are installed as links by
# the init script's first line: `/bin/busybox --install -s`), /dev/console, INIT_SCRIPT as /init
# and every extra file at DEST (default: /BASENAME of SRC), mode kept. BUSYBOX=path overrides
# the busybox binary. Needs root or fakeroot for the /dev/console node.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 OUT.cpio.gz INIT_SCRIPT [SRC[:DEST] ...]" >&2
	exit 2
fi
out=$1
init=$2
shift 2
busybox=${BUSYBOX:-/bin/busybox}

if [ ! -x "$busybox" ]; then
	echo "mkinitramfs: $busybox missing (install Debian busybox-static)" >&2
	exit 1
fi
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
	if command -v file >/dev/null; then
		echo "mkinitramfs: $busybox is not statically linked (install busybox-static)" >&2
		exit 1
	fi
fi
[ -r "$init" ] || { echo "mkinitramfs: cannot read $init" >&2; exit 1; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/mkinitramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,mnt,etc,usr/bin,usr/sbin}
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
install -m 0755 "$init" "$stage/init"
mknod -m 600 "$stage/dev/console" c 5 1
mknod -m 666 "$stage/dev/null" c 1 3

for spec in "$@"; do
	src=${spec%%:*}
	if [ "$src" = "$spec" ]; then
		dest=/$(basename "$src")
	else
		dest=${spec#*:}
	fi
	[ -r "$src" ] || { echo "mkinitramfs: cannot read $src" >&2; exit 1; }
	mkdir -p "$stage$(dirname "$dest")"
	cp -p "$src" "$stage$dest"
done

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
	gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
