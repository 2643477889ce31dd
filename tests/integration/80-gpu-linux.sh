#!/usr/bin/env bash
# kvm: full
# SPDX-License-Identifier: MIT
# Linux on vireo with --gpu --input --display vnc=...,screenshot=...: real clients all the way.
#   - the guest's virtio_gpu DRM driver binds, fbdev emulation makes fb0 and fbcon takes it
#     (the kernel says so in its log), the mode and EDID vireo offered are what DRM sees;
#   - the kernel's log and a marker line go to tty1 (fbcon); vireo's screenshot (SIGUSR2)
#     shows text: non-uniform rows, many ink/background transitions;
#   - Debian's vncsnapshot (two at once: several viewers) gets a picture that matches the
#     screenshot (JPEG output: small per-pixel differences allowed), and a picture of another
#     screen does not match (the comparison can fail);
#   - a key typed through VNC (RFB KeyEvent) arrives in the guest on the virtio keyboard's
#     /dev/input/event* as EV_KEY down/up with SYN_REPORTs, a click (PointerEvent) on the
#     tablet's as scaled EV_ABS coordinates and BTN_LEFT;
#   - the viewer asks for 800x600 (SetDesktopSize): the driver gets the display event and its
#     connector's preferred mode becomes 800x600;
#   - the guest reboots, vireo exits 0 and writes the final screenshot.
set -u
. "$(dirname "$0")/lib/guest.sh"
guest_require
PY=/usr/bin/python3 # Debian's, with python3-pil
command -v vncsnapshot >/dev/null || { echo "skip: vncsnapshot is not installed"; exit 77; }
$PY -c 'import PIL' 2>/dev/null || { echo "skip: python3-pil is not installed"; exit 77; }
LIB=$SRC_DIR/tests/integration/lib

TOKEN="t$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
PORT=$((20000 + $$ % 20000))
guest_initrd "$WORK/initrd.cpio.gz" "$SRC_DIR/tests/guest/init-gpu.sh" || exit 1
serial=$WORK/gpu.serial.log
: >"$serial"
# vireo itself in the background (not under timeout(1): SIGUSR2 must reach vireo), with a
# watchdog.
"$VIREO" run --kernel "$GUEST_DIR/bzImage" --initrd "$WORK/initrd.cpio.gz" \
	--cmdline "console=ttyS0 quiet panic=-1 vt.global_cursor_default=0 vt.token=$TOKEN" \
	--memory 512M --gpu width=1024,height=768 --input \
	--display "vnc=127.0.0.1:$PORT" --display "screenshot=$WORK/shot.png" \
	--serial "file=$serial" -v >"$WORK/gpu.stdout.log" 2>"$WORK/gpu.stderr.log" </dev/null &
pid=$!
( sleep 400; kill -KILL $pid 2>/dev/null ) &
watchdog=$!
trap 'kill $watchdog $pid 2>/dev/null' EXIT

for _ in $(seq 1 600); do
	grep -q 'VT: screen=ready' "$serial" 2>/dev/null && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.5
done
if ! grep -q 'VT: screen=ready' "$serial"; then
	notok "the guest never got its screen ready"
	tail -20 "$serial" "$WORK/gpu.stderr.log"
	kill $pid 2>/dev/null
	wait $pid
	exit 1
fi
ok "guest booted with the GPU and printed to its screen"
sleep 3 # fbdev's deferred I/O flushes within a second

# vireo's own screenshot.
rm -f "$WORK/shot.png"
kill -USR2 $pid
for _ in $(seq 1 40); do [ -s "$WORK/shot.png" ] && break; sleep 0.25; done
cp "$WORK/shot.png" "$WORK/shot-running.png" 2>/dev/null
if $PY "$LIB/imgcmp.py" text "$WORK/shot-running.png" >"$WORK/text.txt" 2>&1; then
	ok "the screenshot shows text: $(cat "$WORK/text.txt")"
else
	notok "the screenshot does not show text: $(cat "$WORK/text.txt")"
fi

# Two real VNC clients at once.
for n in 1 2; do
	timeout 60 vncsnapshot -quiet -nojpeg -encodings "hextile raw" -quality 100 \
		"127.0.0.1::$PORT" "$WORK/vnc$n.jpg" >"$WORK/vnc$n.log" 2>&1 &
	vpids[$n]=$!
done
for n in 1 2; do
	wait "${vpids[$n]}"
	check_eq "vncsnapshot $n exit status" "$?" 0
	if $PY "$LIB/imgcmp.py" same "$WORK/shot-running.png" "$WORK/vnc$n.jpg" >"$WORK/cmp$n.txt" 2>&1; then
		ok "vncsnapshot $n's picture matches vireo's screenshot: $(cat "$WORK/cmp$n.txt")"
	else
		notok "vncsnapshot $n's picture differs: $(cat "$WORK/cmp$n.txt")"
	fi
done
# The comparison can fail: the screenshot against itself shifted by a text line.
$PY - "$WORK/shot-running.png" "$WORK/shifted.png" <<'EOF'
import sys
from PIL import Image
img = Image.open(sys.argv[1])
out = Image.new(img.mode, img.size)
out.paste(img, (0, 16))
out.save(sys.argv[2])
EOF
if $PY "$LIB/imgcmp.py" same "$WORK/shifted.png" "$WORK/vnc1.jpg" >/dev/null 2>&1; then
	notok "the picture comparison cannot tell a shifted screen apart"
else
	ok "a shifted screen does not match (the comparison can fail)"
fi

# A key through VNC: 'v' (keysym 0x76 = KEY_V, 47), then a click at the centre of the screen.
if timeout 30 $PY "$LIB/rfb_key.py" 127.0.0.1 "$PORT" 0x76 click:512,384 resize:800,600 \
	>"$WORK/key.log" 2>&1; then
	ok "typed a key and clicked through VNC: $(cat "$WORK/key.log")"
else
	notok "could not type through VNC: $(cat "$WORK/key.log")"
fi

wait $pid
rc=$?
kill $watchdog 2>/dev/null
tr -d '\r' <"$serial" >"$WORK/gpu.console"
check_eq "vireo exit status after the guest's reboot" "$rc" 0
v() { sed -nE "s/^VT: $1=(.*)$/\\1/p" "$WORK/gpu.console" | tail -1; }
check_eq "DRM driver bound to the GPU" "$(v drm_driver)" "Initialized virtio_gpu"
check_eq "fbdev emulation made fb0" "$(v fb0)" virtio_gpudrmfb
check_eq "the kernel's fb0 line" "$(v fb_msg)" "fb0: virtio_gpudrmfb frame buffer device"
case "$(v fbcon)" in
"Console: switching to colour frame buffer device 128x48") ok "fbcon took the 1024x768 screen" ;;
*) notok "fbcon line: '$(v fbcon)'" ;;
esac
check_eq "fb0 size" "$(v fb0_size)" "1024,768"
check_eq "preferred mode from vireo's display info / EDID" "$(v modes)" 1024x768
check_eq "EDID bytes the guest read" "$(v edid_bytes)" 128
[ -n "$(v keyboard)" ] && ok "virtio keyboard: $(v keyboard)" || notok "no 'vireo keyboard' input device"
[ -n "$(v tablet)" ] && ok "virtio tablet: $(v tablet)" || notok "no 'vireo tablet' input device"
events=$(sed -nE 's/^VT: ev=(.*)$/\1/p' "$WORK/gpu.console" | tr '\n' ' ')
check_eq "input events the guest read" "$events" "1,47,1 0,0,0 1,47,0 0,0,0 "
# The tablet: (512, 384) of 1024x768 scaled to 0..32767 (ABS_X 0, ABS_Y 1), BTN_LEFT (272)
# down and up; the input core drops the repeated coordinates of the release.
pevents=$(sed -nE 's/^VT: pev=(.*)$/\1/p' "$WORK/gpu.console" | tr '\n' ' ')
check_eq "tablet events the guest read" "$pevents" "3,0,16399 3,1,16404 1,272,1 0,0,0 1,272,0 0,0,0 "
check_eq "preferred mode after the viewer asked for 800x600" "$(v modes_after_resize)" 800x600
[ -s "$WORK/shot.png" ] && ok "final screenshot written when the VM stopped" ||
	notok "no final screenshot"
if grep -qE 'needs reset|error' "$WORK/gpu.stderr.log"; then
	notok "vireo complained: $(grep -E 'needs reset|error' "$WORK/gpu.stderr.log" | head -3)"
fi
exit $guest_fail
