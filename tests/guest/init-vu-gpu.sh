#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of tests/integration/48-vhost-user-gpu.sh (QEMU with -device vhost-user-gpu-pci
# served by `vireo backend gpu`): report what the virtio_gpu DRM driver and fbcon made of the
# device, then draw on fbcon: a text line and four full-width colour bands (spaces on a red,
# green, blue and white background, text rows 20..23), and wait for the host's screendump
# (the host ends QEMU).
# (Bytes written to /dev/fb0 with write() are not flushed to the device by this kernel's
# fbdev emulation, with QEMU's own virtio-gpu-pci too: fbcon's drawing is.)
. /init-common.sh

i=0
while [ ! -e /dev/fb0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
vt "drm_driver=$(dmesg | grep -o 'Initialized virtio_gpu' | head -1)"
vt "fb0=$(cat /sys/class/graphics/fb0/name 2>/dev/null)"
vt "fb0_size=$(cat /sys/class/graphics/fb0/virtual_size 2>/dev/null)"
vt "fbcon=$(dmesg | grep -o 'Console: switching to colour frame buffer device [0-9x]*' | head -1)"
cols=$(($(cut -d, -f1 /sys/class/graphics/fb0/virtual_size 2>/dev/null || echo 0) / 8))

echo 0 >/sys/class/graphics/fbcon/cursor_blink 2>/dev/null
{
	printf '\033[?25l\033[2J\033[10;1HVIREO-VHOST-USER-GPU %s' "$(vt_param token)"
	row=20
	for bg in 41 42 44 47; do
		printf "\\033[%d;1H\\033[%dm%${cols}s\\033[0m" $row $bg ""
		row=$((row + 1))
	done
} >/dev/tty1 2>/dev/null && vt "bands=4"
vt "screen=ready"
# The host takes its screendump and ends QEMU; never reboot on our own before that.
sleep 600
vt_end
