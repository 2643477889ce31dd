#!/bin/bash
# kvm: full
# SPDX-License-Identifier: MIT
# vhost-user-gpu: QEMU with -device vhost-user-gpu-pci served by `vireo backend gpu` (the
# same device code as `vireo run --gpu`; the screen travels over the vhost-user-gpu socket
# QEMU hands over). The guest (tests/guest/init-vu-gpu.sh):
#   - the virtio_gpu DRM driver binds, fbdev emulation makes fb0 and fbcon takes it, at the
#     size QEMU prefers (xres/yres, asked with GET_DISPLAY_INFO): 800x600 (neither vireo's
#     default 1280x800 nor the driver's fallback 1024x768);
#   - it prints a line on fbcon and four full-width bands of spaces on a red, green, blue and
#     white background (text rows 20..23: pixel rows 304..367).
# QEMU's screendump (QMP) then shows the bands pixel for pixel in the colours of Linux's
# default console palette (170 = 0xaa per channel), the rows around them not in those colours,
# and text elsewhere. QEMU is
# killed (SIGKILL) and a second QEMU against the same back-end gets a working screen again.
# QEMU 7.2 refuses vhost-user-gpu without KVM ("vhost initialization failed: requires kvm":
# its vhost-user backend object wants ioeventfds), so QEMU runs with -accel kvm, in the nested
# L1 where there is no hardware KVM.
set -u
. "$(dirname "$0")/lib/vhost-user.sh"
. "$(dirname "$0")/lib/guest.sh"
vu_require
[ -n "${VIREO:-}" ] || skip "VIREO not set"
[ -w /dev/kvm ] || skip "no /dev/kvm (QEMU 7.2's vhost-user-gpu needs KVM)"
PY=/usr/bin/python3 # Debian's, with python3-pil
$PY -c 'import PIL' 2>/dev/null || skip "python3-pil is not installed"
LIB=$SRC_DIR/tests/integration/lib

guest_initrd "$WORK/initrd.gz" "$SRC_DIR/tests/guest/init-vu-gpu.sh" || exit 1
sock=$WORK/gpu.sock blog=$WORK/backend.log
"$VIREO" backend gpu --socket "$sock" --gpu max_hostmem=64M -vv >"$blog" 2>&1 &
bpid=$!
vu_pids+=("$bpid")
vu_wait_socket "$sock" "$bpid" || { notok "vireo backend gpu did not start"; cat "$blog"; exit 1; }

# The bands the guest drew: pixel rows 304..367, 16 rows each, in RGB.
check_bands() { # PPM
	$PY - "$1" <<'PYEOF'
import sys
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGB")
w, h = img.size
if (w, h) != (800, 600):
    print(f"screen is {w}x{h}, not 800x600")
    sys.exit(1)
px = img.load()
want = [(170, 0, 0), (0, 170, 0), (0, 0, 170), (170, 170, 170)]
bad = 0
for n, c in enumerate(want):
    for y in range(304 + 16 * n, 320 + 16 * n):
        bad += sum(1 for x in range(w) if px[x, y] != c)
# the rows just outside the bands are not band-coloured (the check can fail)
edge = sum(1 for x in range(w) if px[x, 303] == want[0]) + sum(1 for x in range(w) if px[x, 368] == want[3])
print(f"{w}x{h} band_pixels_off={bad} edge_pixels_in_band_colour={edge}")
sys.exit(0 if bad == 0 and edge < w // 2 else 1)
PYEOF
}

for run in 1 2; do
	log=$WORK/qemu-$run.console.log qmp=$WORK/qmp-$run.sock shot=$WORK/shot-$run.ppm
	: >"$log"
	VU_BG=1 VU_TIMEOUT=600 VU_ACCEL=kvm VU_CPU=host VU_SMP=1 vu_qemu "$log" "$WORK/initrd.gz" \
		"vt.global_cursor_default=0 vt.token=run$run" \
		-vga none -chardev "socket,id=c0,path=$sock" \
		-device vhost-user-gpu-pci,chardev=c0,xres=800,yres=600 \
		-qmp "unix:$qmp,server=on,wait=off"
	for _ in $(seq 1 1100); do
		grep -aq 'VT: screen=ready' "$log" && break
		kill -0 "$vu_qemu_pid" 2>/dev/null || break
		sleep 0.5
	done
	if ! grep -aq 'VT: screen=ready' "$log"; then
		notok "run $run: the guest never got its screen ready (console $log)"
		tail -n 20 "$log" "$blog"
		break
	fi
	ok "run $run: guest booted with vhost-user-gpu and drew on its screen"
	check_eq "run $run: DRM driver bound" "$(vt_get "$log" drm_driver)" "Initialized virtio_gpu"
	check_eq "run $run: fbdev emulation made fb0" "$(vt_get "$log" fb0)" virtio_gpudrmfb
	check_eq "run $run: fb0 has QEMU's preferred size" "$(vt_get "$log" fb0_size)" "800,600"
	check_eq "run $run: fbcon took the screen" "$(vt_get "$log" fbcon)" \
		"Console: switching to colour frame buffer device 100x37"
	check_eq "run $run: colour bands drawn on fbcon" "$(vt_get "$log" bands)" 4
	# fbdev's deferred I/O flushes within a second; QEMU then has the back-end's UPDATEs.
	# Under nested virtualisation that can take longer: a few screendumps, the last judged.
	for try in 1 2 3 4 5 6; do
		sleep 2
		rm -f "$shot"
		if ! $PY "$LIB/qmp.py" "$qmp" screendump "$shot" >"$WORK/qmp-$run.log" 2>&1 || [ ! -s "$shot" ]; then
			continue
		fi
		check_bands "$shot" >"$WORK/bands-$run.txt" 2>&1 && break
	done
	if [ -s "$shot" ]; then
		ok "run $run: QEMU wrote a screendump"
	else
		notok "run $run: screendump failed: $(cat "$WORK/qmp-$run.log")"
	fi
	if check_bands "$shot" >"$WORK/bands-$run.txt" 2>&1; then
		ok "run $run: the guest's colour bands are on QEMU's screen: $(cat "$WORK/bands-$run.txt")"
	else
		notok "run $run: colour bands differ: $(cat "$WORK/bands-$run.txt")"
	fi
	# fbcon's line: text elsewhere on the screen (fewer transitions than a full console)
	if $PY "$LIB/imgcmp.py" text "$shot" 200 >"$WORK/text-$run.txt" 2>&1; then
		ok "run $run: QEMU's screen shows fbcon text: $(cat "$WORK/text-$run.txt")"
	else
		notok "run $run: no text on QEMU's screen: $(cat "$WORK/text-$run.txt")"
	fi
	# An abrupt front-end death; the back-end must serve the next one.
	vu_qemu_kill9
	sleep 1
	if ! kill -0 "$bpid" 2>/dev/null; then
		notok "run $run: the back-end exited with QEMU (log $blog)"
		break
	fi
	ok "run $run: back-end alive after QEMU was killed"
done

vu_stop "$bpid"
check_eq "backend exit status after SIGTERM" "$vu_rc" 0
check_eq "back-end connected to the gpu socket twice" "$(grep -c 'gpu socket: connected' "$blog")" 2
n=$(sed -n 's/.*gpu socket: \([0-9]*\) scanouts, \([0-9]*\) updates.*/\2/p' "$blog" | tail -n1)
if [ "${n:-0}" -gt 0 ]; then ok "back-end sent $n UPDATE messages"; else notok "no UPDATE counted (log $blog)"; fi
if grep -q 'closing connection\|dropping it' "$blog"; then
	notok "back-end dropped a front-end: $(grep 'closing connection\|dropping it' "$blog" | head -n1)"
fi
[ -e "$sock" ] && notok "socket $sock left behind"
exit $vu_fail
