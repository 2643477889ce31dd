#!/usr/bin/env bash
# kvm: any
# SPDX-License-Identifier: MIT
# Many VMs on one host through the CLI client: three named tests/kvm/spin.elf guests (one from
# --config FILE.json) under `vireo ls` (plain and --json), `vireo ctl` (pause, resume, info,
# counters, ping, shutdown, boot, resize, vmm-shutdown, a socket path as NAME), `vireo console`
# (bytes both ways: the guest echoes in upper case), `vireo stop` (it presses the ACPI power
# button; the payload guest has no ACPI driver, so vireo stop says so after its timeout and
# stops the VM), a second VM with a taken name or a writable disk in use
# (exit 2, one line), an entry left by a VM killed with SIGKILL (ls removes it), and the
# client's own errors (exit 2 for usage, 1 for a VM that is not there).
set -u
fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fail=1; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
[ -w /dev/kvm ] || { echo "skip: /dev/kvm is not usable here"; exit 77; }
PY=/usr/bin/python3
SPIN=$BUILD_DIR/tests/kvm/spin.elf
export XDG_RUNTIME_DIR
XDG_RUNTIME_DIR=$(mktemp -d /tmp/vireo-cli.XXXXXX) # sockets: never on 9p
RD=$XDG_RUNTIME_DIR/vireo
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$XDG_RUNTIME_DIR"
}
trap cleanup EXIT

# One line on stderr, the given exit status, and the expected text.
expect() { # description status substring command...
	local d=$1 want=$2 text=$3
	shift 3
	"$@" >"$WORK/out" 2>"$WORK/err" </dev/null
	local rc=$? lines
	lines=$(wc -l <"$WORK/err")
	if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && grep -qF -- "$text" "$WORK/err"; then
		ok "$d"
	else
		notok "$d: rc=$rc lines=$lines: $(head -3 "$WORK/err")"
	fi
}
wait_ready() { # serial-log count
	local i
	for i in $(seq 600); do
		[ "$(grep -c 'spin: ready' "$1" 2>/dev/null)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
state_of() { # name
	"$VIREO" ls --json | $PY -c "import json,sys
for r in json.load(sys.stdin):
    if r['name'] == '$1': print(r['state'])"
}

# ---- the client's errors, no VM needed ----
expect "ctl without arguments" 2 "usage" "$VIREO" ctl
expect "ctl with an unknown verb" 2 "unknown verb 'fly'" "$VIREO" ctl web1 fly
expect "ctl create without a file" 2 "needs one FILE.json" "$VIREO" ctl web1 create
expect "ctl pause with an argument" 2 "takes no arguments" "$VIREO" ctl web1 pause now
expect "ctl resize without a size" 2 "needs desired_balloon" "$VIREO" ctl web1 resize
expect "ctl resize with a bad size" 2 "desired_balloon=lots" "$VIREO" ctl web1 resize desired_balloon=lots
expect "ctl to a VM that does not exist" 1 "no VM named 'ghost'" "$VIREO" ctl ghost ping
expect "ctl to an invalid name" 2 "name 'a b'" "$VIREO" ctl 'a b' ping
expect "ctl to a socket nobody serves" 1 "cannot connect" "$VIREO" ctl "$XDG_RUNTIME_DIR/none.sock" ping
expect "stop without a name" 2 "usage" "$VIREO" stop
expect "stop a VM that does not exist" 1 "no VM named 'ghost'" "$VIREO" stop ghost
expect "console to a VM that does not exist" 1 "no VM named 'ghost'" "$VIREO" console ghost
expect "run --name with a bad name" 2 "name '../x'" "$VIREO" run --name ../x --kernel "$SPIN"
echo '{"payload": {"kernel": "'"$SPIN"'"}, "memory": {"size": "64M"}}' >"$WORK/bad.json"
expect "run --config with a wrong type" 2 "memory.size: expected an integer" "$VIREO" run --config "$WORK/bad.json"
echo '{"payload": {"kernel": ' >"$WORK/trunc.json"
expect "run --config with bad JSON" 2 "bad JSON at line" "$VIREO" run --config "$WORK/trunc.json"
expect "run --config that does not exist" 2 "--config /nonexistent.json: No such file" "$VIREO" run --config /nonexistent.json
expect "run --config with --kernel" 2 "--kernel: not with --config" "$VIREO" run --config "$WORK/bad.json" --kernel "$SPIN"
expect "run --api-socket in a missing directory" 2 "/nonexistent/dir/a.sock" "$VIREO" run --api-socket /nonexistent/dir/a.sock --kernel "$SPIN"
"$VIREO" ls >"$WORK/ls0" 2>&1
rc=$?
check "ls with no VMs: the header only" '[ $rc = 0 ] && [ "$(wc -l <"$WORK/ls0")" = 1 ]'

# ---- three VMs ----
truncate -s 8M "$WORK/web1.img" "$WORK/db.img"
"$VIREO" run --name web1 --kernel "$SPIN" --cpus 2 --memory 64M --disk "path=$WORK/web1.img" \
	--serial "file=$WORK/web1.log" 2>"$WORK/web1.err" &
pids+=($!) web1=$!
"$VIREO" run --name web2 --kernel "$SPIN" --memory 32M --serial "file=$WORK/web2.log" \
	2>"$WORK/web2.err" &
pids+=($!) web2=$!
cat >"$WORK/db.json" <<JSON
{
  "payload": {"kernel": "$SPIN"},
  "cpus": {"boot_vcpus": 1, "max_vcpus": 1},
  "memory": {"size": 50331648},
  "disks": [{"path": "$WORK/db.img", "readonly": false}],
  "serial": {"mode": "File", "file": "$WORK/db.log"}
}
JSON
"$VIREO" run --name db --config "$WORK/db.json" 2>"$WORK/db.err" &
pids+=($!) db=$!
check "three VMs boot" 'wait_ready "$WORK/web1.log" 1 && wait_ready "$WORK/web2.log" 1 && wait_ready "$WORK/db.log" 1'
"$VIREO" ls >"$WORK/ls1"
cat "$WORK/ls1"
check "ls: web1 row (pid, Running, 2 vCPUs, 64M, its disk)" \
	'grep -qE "^web1 +$web1 +Running +2 +64M +[0-9hms]+ +$WORK/web1.img\$" "$WORK/ls1"'
check "ls: web2 row (1 vCPU, 32M, no disk)" 'grep -qE "^web2 +$web2 +Running +1 +32M +[0-9hms]+ +-\$" "$WORK/ls1"'
check "ls: db row, from --config (48M, its disk)" 'grep -qE "^db +$db +Running +1 +48M +.* $WORK/db.img\$" "$WORK/ls1"'
check "ls: sorted by name" '[ "$(awk "NR>1 {print \$1}" "$WORK/ls1" | tr "\n" " ")" = "db web1 web2 " ]'
"$VIREO" ls --json >"$WORK/ls.json"
check "ls --json: three entries with pids" "$PY -c \"import json; r=json.load(open('$WORK/ls.json')); assert sorted((x['name'], x['pid']) for x in r) == sorted([('web1', $web1), ('web2', $web2), ('db', $db)])\""

# ---- the same name, the same writable disk: refused, one line, exit 2 ----
expect "a second VM named web1" 2 "name 'web1' is in use (pid $web1)" "$VIREO" run --name web1 --kernel "$SPIN" --memory 16M
expect "a second VM on web1's disk" 2 "$WORK/web1.img: already in use" "$VIREO" run --name other --kernel "$SPIN" --memory 16M --disk "path=$WORK/web1.img"
check "the refused VMs left no entry" '[ ! -e "$RD/other.lock" ] && [ ! -e "$RD/other.sock" ]'

# ---- ctl ----
check "ctl web1 pause" '"$VIREO" ctl web1 pause'
check "ls: web1 Paused, the others Running" '[ "$(state_of web1)" = Paused ] && [ "$(state_of web2)" = Running ] && [ "$(state_of db)" = Running ]'
expect "ctl web1 pause again: refused with the state" 1 "not while the VM is Paused" "$VIREO" ctl web1 pause
check "ctl web1 resume" '"$VIREO" ctl web1 resume && [ "$(state_of web1)" = Running ]'
"$VIREO" ctl web2 info >"$WORK/info.json"
check "ctl web2 info: JSON with the state and the memory" "$PY -c \"import json; i=json.load(open('$WORK/info.json')); assert i['state'] == 'Running' and i['config']['memory']['size'] == 32 << 20\""
"$VIREO" ctl db ping >"$WORK/ping.json"
check "ctl db ping: name and pid" "$PY -c \"import json; p=json.load(open('$WORK/ping.json')); assert p['name'] == 'db' and p['pid'] == $db\""
"$VIREO" ctl web1 counters >"$WORK/counters.json"
check "ctl web1 counters: the disk and both vCPUs" "$PY -c \"import json; c=json.load(open('$WORK/counters.json')); assert 'blk0' in c and 'vcpu1' in c\""
check "ctl with a route name (vm.info) and the socket path as NAME" '"$VIREO" ctl "$RD/web2.sock" vm.info | grep -q "\"state\": \"Running\""'
expect "ctl web1 resize: no balloon" 1 "no balloon" "$VIREO" ctl web1 resize desired_balloon=1M
check "ctl db shutdown: state Shutdown, the process stays" '"$VIREO" ctl db shutdown && [ "$(state_of db)" = Shutdown ] && kill -0 $db'
check "ctl db boot: Running again (a second ready line)" '"$VIREO" ctl db boot && wait_ready "$WORK/db.log" 2 && [ "$(state_of db)" = Running ]'

# ---- console ----
(printf 'xyz'; sleep 3) | timeout 60 "$VIREO" console web2 >"$WORK/console.out" 2>"$WORK/console.err"
check "console web2: typed xyz, the guest answered XYZ" 'grep -q XYZ "$WORK/console.out"'
check "console web2: the output also went to the serial file" 'grep -q XYZ "$WORK/web2.log"'

# On a terminal: raw mode while attached, Ctrl-] detaches, the terminal comes back as it was.
$PY - "$VIREO" <<'PY' >"$WORK/console-tty.out" 2>&1
import os, pty, select, sys, termios, time
vireo = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execv(vireo, [vireo, "console", "web2"])
before = termios.tcgetattr(fd)
def read_until(text, secs=60):
    got, end = b"", time.time() + secs
    while text not in got and time.time() < end:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                got += os.read(fd, 1024)
            except OSError:
                break
    return got
banner = read_until(b"detach: Ctrl-]")
raw = termios.tcgetattr(fd)
os.write(fd, b"tty")
echo = read_until(b"TTY")
os.write(fd, b"\x1d")
_, status = os.waitpid(pid, 0)
after = termios.tcgetattr(fd)
print("banner", b"attached to web2" in banner)
print("raw", not (raw[3] & termios.ICANON) and (before[3] & termios.ICANON) != 0)
print("echo", b"TTY" in echo)
print("exit", os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1)
print("restored", after == before)
PY
check "console on a terminal: banner, raw mode, the guest's echo" 'grep -q "banner True" "$WORK/console-tty.out" && grep -q "raw True" "$WORK/console-tty.out" && grep -q "echo True" "$WORK/console-tty.out"'
check "console on a terminal: Ctrl-] detaches with exit 0 and the terminal is restored" 'grep -q "exit 0" "$WORK/console-tty.out" && grep -q "restored True" "$WORK/console-tty.out"'
check "web2 still runs after the console detached" 'kill -0 $web2 && [ "$(state_of web2)" = Running ]'

# ---- stop ----
timeout 120 "$VIREO" stop web1 --timeout 5 >"$WORK/stop.out" 2>&1
rc=$?
cat "$WORK/stop.out"
check "stop web1: exit 0, reported stopped" '[ $rc = 0 ] && grep -q "^web1: stopped" "$WORK/stop.out"'
check "stop web1: the button was pressed; a guest without an ACPI driver is stopped after the timeout" 'grep -q "^web1: still running after 5 s; stopping it" "$WORK/stop.out"'
wait $web1
rc=$?
check "web1's vireo exited 0" '[ $rc = 0 ]'
check "web1's entry and socket are gone" '[ ! -e "$RD/web1.lock" ] && [ ! -e "$RD/web1.sock" ] && ! "$VIREO" ls | grep -q "^web1 "'
check "web1's disk is free again" '"$VIREO" run --name reuse --kernel "$SPIN" --memory 16M --disk "path=$WORK/web1.img" --serial none & p=$!; sleep 2; kill -0 $p && kill $p; wait $p'

# ---- a VM killed with SIGKILL leaves an entry; ls removes it ----
kill -9 $web2
wait $web2 2>/dev/null
check "web2 killed: its files are still there" '[ -e "$RD/web2.lock" ] && [ -e "$RD/web2.sock" ]'
"$VIREO" ls >"$WORK/ls2"
check "ls after the kill: web2 not listed, db is" '! grep -q "^web2 " "$WORK/ls2" && grep -q "^db " "$WORK/ls2"'
check "ls removed web2's lock and socket" '[ ! -e "$RD/web2.lock" ] && [ ! -e "$RD/web2.sock" ]'
check "the name web2 can be used again" '"$VIREO" run --name web2 --kernel "$SPIN" --memory 16M --serial none & p=$!; sleep 2; kill -0 $p && kill $p; wait $p'

# ---- vmm-shutdown ----
check "ctl db vmm-shutdown" '"$VIREO" ctl db vmm-shutdown'
wait $db
rc=$?
check "db's vireo exited 0" '[ $rc = 0 ]'
check "ls is empty again" '[ "$("$VIREO" ls | wc -l)" = 1 ]'
for f in web1 web2 db; do
	if grep -vE "^vireo: (vmm.shutdown|stopped by .*)$" "$WORK/$f.err" | grep -q .; then
		notok "$f: unexpected stderr: $(head -3 "$WORK/$f.err")"
	fi
done
exit $fail
