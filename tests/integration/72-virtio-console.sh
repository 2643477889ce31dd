#!/bin/bash
# kvm: full
# SPDX-License-Identifier: MIT
# virtio-console in `vireo run`: Linux's virtio_console driver gives the guest /dev/hvc0, where
# tests/guest/init-console.sh runs a shell; tests/integration/lib/console_client.py types
# commands through each host back-end and reads the shell's answers back:
#  - socket=PATH: "echo R1:$((6*7))" answers R1:42 and uname answers Linux; the client leaves,
#    a second client connects and is answered too;
#  - pty: vireo names the pty on stderr ("vireo: console: /dev/pts/N"); the same commands
#    through it;
#  - stdio on a terminal (vireo itself on a pseudo-terminal of 37 rows x 101 columns): the
#    guest's `stty size` says "37 101"; the terminal is resized to 50 x 132 and the guest's
#    `stty size` follows ("50 132": VIRTIO_CONSOLE_F_SIZE and SIGWINCH); vireo exits 0.
# Each time the shell exits and the guest resets, so vireo exits 0.
set -u
. "$(dirname "$0")/lib/guest.sh"
guest_require
command -v python3 >/dev/null || { echo "skip: python3 is not installed"; exit 77; }
guest_initrd "$WORK/initrd.gz" "$SRC_DIR/tests/guest/init-console.sh" || exit 1
client=$SRC_DIR/tests/integration/lib/console_client.py
args=(--kernel "$GUEST_DIR/bzImage" --initrd "$WORK/initrd.gz" --memory 256M
	--cmdline "console=ttyS0 quiet panic=-1")
cv() { sed -n "s/^$2=//p" "$WORK/$1.client" | tail -1; }

# socket
timeout -k 5 300 "$VIREO" run "${args[@]}" --serial "file=$WORK/socket.serial.log" \
	--console "virtio,socket=$WORK/con.sock" >"$WORK/socket.stdout.log" 2>"$WORK/socket.stderr.log" &
vp=$!
python3 "$client" socket "$WORK/con.sock" --log "$WORK/socket.transcript.log" >"$WORK/socket.client"
wait $vp
check_eq "socket: vireo exit status" $? 0
check_eq "socket: arithmetic answered through the socket" "$(cv socket r1)" 42
check_eq "socket: uname answered" "$(cv socket r2)" Linux
check_eq "socket: a second client is answered" "$(cv socket again)" 123
[ -e "$WORK/con.sock" ] && notok "socket: vireo left its socket behind" || ok "socket: socket removed at exit"

# pty
timeout -k 5 300 "$VIREO" run "${args[@]}" --serial "file=$WORK/pty.serial.log" \
	--console virtio,pty >"$WORK/pty.stdout.log" 2>"$WORK/pty.stderr.log" &
vp=$!
python3 "$client" pty "$WORK/pty.stderr.log" --log "$WORK/pty.transcript.log" >"$WORK/pty.client"
wait $vp
check_eq "pty: vireo exit status" $? 0
case "$(cv pty pty)" in /dev/pts/*) ok "pty: vireo named $(cv pty pty)" ;; *) notok "pty: no pty named" ;; esac
check_eq "pty: arithmetic answered through the pty" "$(cv pty r1)" 42
check_eq "pty: uname answered" "$(cv pty r2)" Linux

# stdio on a terminal, resized
python3 "$client" stdio --log "$WORK/stdio.transcript.log" -- "$VIREO" run "${args[@]}" \
	--serial "file=$WORK/stdio.serial.log" --console virtio >"$WORK/stdio.client" 2>"$WORK/stdio.stderr.log"
check_eq "stdio: vireo exit status" "$(cv stdio vireo_status)" 0
check_eq "stdio: arithmetic answered through the terminal" "$(cv stdio r1)" 42
check_eq "stdio: the guest's terminal size" "$(cv stdio r3)" "37 101"
check_eq "stdio: the guest's terminal size after a resize" "$(cv stdio r4)" "50 132"
# (vireo's stderr is the terminal in the stdio case: the transcript)
for f in socket.stderr.log pty.stderr.log stdio.transcript.log; do
	grep -aq 'needs reset' "$WORK/$f" 2>/dev/null && notok "$f: $(grep -am1 'needs reset' "$WORK/$f")"
done
exit $guest_fail
