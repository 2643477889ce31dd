#!/usr/bin/env bash
# kvm: any
# SPDX-License-Identifier: MIT
# The firmware's screen: `vireo run --firmware bios.bin --display screenshot=...` adds the
# bochs-display with Debian's vgabios-bochs-display.bin as its option ROM (fw_cfg
# "pci1234,1111.rom"). SeaBIOS must find and run that VGA BIOS (its debug log says so: the
# device identified itself, the 1024x768x32 mode was set), print its banner through it, find no
# bootable disk and reset (exit 0). The screenshot vireo writes when the VM stops must be
# 1024x768 and show text at the top of the screen (where SeaBIOS writes its banner and
# "No bootable device") and nothing at the bottom. Without --display the firmware gets no
# screen (no VGA BIOS runs): the serial console still has everything.
# Then a real bootloader's menu: a FAT disk with SYSLINUX and its menu.c32 (Debian syslinux,
# mtools), booted by SeaBIOS from virtio-blk; once the menu is up (SYSLINUX also prints to
# COM1), vireo's screenshot (SIGUSR2) must show it, and Debian's vncsnapshot must get the same
# picture over VNC.
set -u
BIOS=${SEABIOS_BIN:-/usr/share/seabios/bios.bin}
VGABIOS=/usr/share/seabios/vgabios-bochs-display.bin
PY=/usr/bin/python3
LIB=$SRC_DIR/tests/integration/lib
export PATH=$PATH:/usr/sbin:/sbin
fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fail=1; }
[ -r "$BIOS" ] && [ -r "$VGABIOS" ] || { echo "skip: Debian seabios is not installed"; exit 77; }
$PY -c 'import PIL' 2>/dev/null || { echo "skip: python3-pil is not installed"; exit 77; }
[ -w /dev/kvm ] || { echo "skip: /dev/kvm is not usable"; exit 77; }

timeout 120 "$VIREO" run --firmware "$BIOS" --memory 128M --display "screenshot=$WORK/bios.png" \
	--serial "file=$WORK/serial.log" --firmware-log "$WORK/fw.log" -v \
	>"$WORK/stdout.log" 2>"$WORK/stderr.log" </dev/null
rc=$?
[ $rc = 0 ] && ok "exit status 0 (reset after 'No bootable device')" || notok "exit status $rc"
grep -q "Found QEMU fw_cfg" "$WORK/fw.log" || notok "no fw_cfg in the firmware log"
if grep -q "Start SeaVGABIOS" "$WORK/fw.log" && grep -q "bochs-display: id is 0xb0c5, good" "$WORK/fw.log"; then
	ok "SeaBIOS ran the VGA BIOS and it found the device: $(grep -m1 'bochs-display: bdf' "$WORK/fw.log")"
else
	notok "the VGA BIOS did not run or did not find the device (see fw.log)"
fi
if grep -q "bochs-display: using 1024x768, 32 bpp" "$WORK/fw.log"; then
	ok "the VGA BIOS set 1024x768x32"
else
	notok "no 1024x768x32 mode in the firmware log"
fi
grep -q "bochs-display: mode 1024x768, 32 bpp" "$WORK/stderr.log" && ok "vireo saw the mode" ||
	notok "vireo did not see the VGA BIOS's mode: $(tail -3 "$WORK/stderr.log")"
grep -aq "No bootable device" "$WORK/serial.log" && ok "SeaBIOS's console also on COM1" ||
	notok "nothing on COM1"
if [ -s "$WORK/bios.png" ]; then
	$PY "$LIB/imgcmp.py" text "$WORK/bios.png" >"$WORK/text.txt" 2>&1
	read -r size _ <"$WORK/text.txt"
	[ "$size" = 1024x768 ] && ok "screenshot is 1024x768" || notok "screenshot: $(cat "$WORK/text.txt")"
	top=$($PY "$LIB/imgcmp.py" box "$WORK/bios.png" 0 0 1024 64)
	bottom=$($PY "$LIB/imgcmp.py" box "$WORK/bios.png" 0 400 1024 368)
	# Text covers a few percent of the pixels where it is; nothing below.
	if awk -v t="$top" -v b="$bottom" 'BEGIN { exit !(t > 0.02 && b == 0) }'; then
		ok "text at the top of the screen ($top of the pixels), none at the bottom"
	else
		notok "top $top, bottom $bottom: not SeaBIOS's text layout"
	fi
else
	notok "no screenshot written when the VM stopped"
fi

# No --display: no firmware screen, the VGA BIOS never runs.
timeout 120 "$VIREO" run --firmware "$BIOS" --memory 128M \
	--serial "file=$WORK/serial2.log" --firmware-log "$WORK/fw2.log" \
	>"$WORK/stdout2.log" 2>"$WORK/stderr2.log" </dev/null
rc=$?
[ $rc = 0 ] && ok "without --display: exit status 0" || notok "without --display: exit status $rc"
grep -q "Start SeaVGABIOS" "$WORK/fw2.log" && notok "a VGA BIOS ran without --display" ||
	ok "without --display: no VGA BIOS"

# A bootloader's menu on the screen, seen over VNC too.
if ! command -v syslinux >/dev/null || ! command -v mcopy >/dev/null || ! command -v mkfs.fat >/dev/null ||
	! command -v vncsnapshot >/dev/null || [ ! -r /usr/lib/syslinux/modules/bios/menu.c32 ]; then
	echo "# no syslinux/mtools/dosfstools/vncsnapshot: bootloader menu not checked"
	exit $fail
fi
img=$WORK/syslinux.img
M=/usr/lib/syslinux/modules/bios
cat >"$WORK/syslinux.cfg" <<'CFG'
SERIAL 0 115200
UI menu.c32
PROMPT 0
TIMEOUT 0
MENU TITLE vireo boot menu
LABEL first
  MENU LABEL First entry (does nothing)
  COM32 reboot.c32
LABEL second
  MENU LABEL Second entry
  COM32 reboot.c32
CFG
if truncate -s 16M "$img" && mkfs.fat -F 16 -n VIREO "$img" >/dev/null &&
	syslinux --install "$img" &&
	MTOOLS_SKIP_CHECK=1 mcopy -i "$img" "$WORK/syslinux.cfg" "$M/menu.c32" "$M/libutil.c32" \
		"$M/libcom32.c32" "$M/reboot.c32" ::/; then
	ok "built a SYSLINUX disk"
else
	notok "could not build the SYSLINUX disk"
	exit 1
fi
# The menu is up once its last line, "Press [Tab] to edit options", is drawn. Only its tail is
# matched: under QEMU TCG SYSLINUX once sent a character of its first, interrupted draw in the
# middle of the redraw ("Press [Tab]s to edit options").
PORT=$((20000 + $$ % 20000))
"$VIREO" run --firmware "$BIOS" --memory 128M --disk "path=$img" \
	--display "vnc=127.0.0.1:$PORT" --display "screenshot=$WORK/menu.png" \
	--serial "file=$WORK/serial3.log" --firmware-log "$WORK/fw3.log" -v \
	>"$WORK/stdout3.log" 2>"$WORK/stderr3.log" </dev/null &
pid=$!
for _ in $(seq 1 900); do
	grep -aq "to edit options" "$WORK/serial3.log" 2>/dev/null && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.5
done
if grep -aq "to edit options" "$WORK/serial3.log"; then
	ok "SYSLINUX's menu is up (on COM1)"
	sleep 2 # the firmware screen is compared 20 times a second
	kill -USR2 $pid
	for _ in $(seq 1 40); do [ -s "$WORK/menu.png" ] && break; sleep 0.25; done
	cp "$WORK/menu.png" "$WORK/menu-running.png" 2>/dev/null
	if $PY "$LIB/imgcmp.py" text "$WORK/menu-running.png" 500 >"$WORK/menu-text.txt" 2>&1; then
		ok "the screenshot shows the menu: $(cat "$WORK/menu-text.txt")"
	else
		notok "the screenshot does not show text: $(cat "$WORK/menu-text.txt")"
	fi
	if timeout 60 vncsnapshot -quiet -nojpeg -encodings "hextile raw" "127.0.0.1::$PORT" \
		"$WORK/menu-vnc.jpg" >"$WORK/vnc3.log" 2>&1 &&
		$PY "$LIB/imgcmp.py" same "$WORK/menu-running.png" "$WORK/menu-vnc.jpg" \
			>"$WORK/menu-cmp.txt" 2>&1; then
		ok "vncsnapshot sees the same menu: $(cat "$WORK/menu-cmp.txt")"
	else
		notok "vncsnapshot: $(cat "$WORK/vnc3.log" "$WORK/menu-cmp.txt" 2>/dev/null | tail -3)"
	fi
else
	notok "SYSLINUX's menu never came up: $(tail -c 300 "$WORK/serial3.log" | tr -c '[:print:]\n' .)"
fi
kill -TERM $pid 2>/dev/null
wait $pid
rc=$?
[ $rc = 0 ] && ok "stopped by SIGTERM: exit status 0" || notok "exit status $rc after SIGTERM"
exit $fail
