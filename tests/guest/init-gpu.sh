#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of tests/integration/80-gpu-linux.sh: report what the virtio_gpu DRM driver and
# fbcon made of vireo's GPU, put the kernel's log on the screen, then wait for a key from the
# host's VNC client and report the input events the virtio keyboard delivered.
. /init-common.sh

i=0
while [ ! -e /dev/fb0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
vt "drm_driver=$(dmesg | grep -o 'Initialized virtio_gpu' | head -1)"
vt "fb0=$(cat /sys/class/graphics/fb0/name 2>/dev/null)"
vt "fb0_size=$(cat /sys/class/graphics/fb0/virtual_size 2>/dev/null)"
vt "fb_msg=$(dmesg | grep -o 'fb0: [a-z_]* frame buffer device' | head -1)"
vt "fbcon=$(dmesg | grep -o 'Console: switching to colour frame buffer device [0-9x]*' | head -1)"
vt "modes=$(cat /sys/class/drm/card0-Virtual-1/modes 2>/dev/null | head -1)"
vt "edid_bytes=$(wc -c </sys/class/drm/card0-Virtual-1/edid 2>/dev/null)"
for d in /sys/class/input/event*; do
	n=$(cat "$d/device/name" 2>/dev/null)
	[ "$n" = "vireo keyboard" ] && kbd=/dev/input/$(basename "$d")
	[ "$n" = "vireo tablet" ] && tablet=/dev/input/$(basename "$d")
done
vt "keyboard=$kbd"
vt "tablet=$tablet"

# The kernel's own text on the framebuffer console (fbcon is bound to tty1): its log, and a
# marker line. The cursor does not blink (vt.global_cursor_default=0), so the screen is still.
echo 0 >/sys/class/graphics/fbcon/cursor_blink 2>/dev/null
{
	dmesg | head -40
	echo "VIREO-GPU-SCREEN $(vt_param token)"
} >/dev/tty1 2>/dev/null
sleep 1

# Input: read 4 events (key down, SYN, key up, SYN) from the keyboard and 6 from the tablet
# (X, Y, left button down, SYN, button up, SYN) in the background, then tell the host the
# screen is ready.
pids=""
if [ -n "$kbd" ]; then
	dd if="$kbd" bs=24 count=4 of=/tmp/ev 2>/dev/null &
	pids="$pids $!"
fi
if [ -n "$tablet" ]; then
	dd if="$tablet" bs=24 count=6 of=/tmp/pev 2>/dev/null &
	pids="$pids $!"
fi
vt "screen=ready"
for p in $pids; do wait $p; done
# struct input_event on x86-64: 16 bytes of time, u16 type, u16 code, s32 value
for f in ev pev; do
	[ -s /tmp/$f ] || continue
	od -An -v -tu2 -w24 /tmp/$f | while read -r t0 t1 t2 t3 t4 t5 t6 t7 type code vlo vhi; do
		vt "$f=$type,$code,$vlo"
	done
done
# A viewer's resize request: the driver gets a display-change event and re-reads the modes.
i=0
while [ "$(head -1 /sys/class/drm/card0-Virtual-1/modes 2>/dev/null)" != 800x600 ] && [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
vt "modes_after_resize=$(head -1 /sys/class/drm/card0-Virtual-1/modes 2>/dev/null)"
vt_end
