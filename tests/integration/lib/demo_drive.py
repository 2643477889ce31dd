#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Drive `./dev.sh demo` on a pseudo-terminal like a user: wait for the guest's shell, type a
# command and read its output back, then end the VM (Ctrl-C or `poweroff -f`). Prints TAP lines
# for what it saw; exit status 0 when all of them passed.
#   demo_drive.py ctrl-c|poweroff TRANSCRIPT -- COMMAND...
import os, sys, time, termios, select, subprocess, fcntl, struct, random

how, transcript = sys.argv[1], sys.argv[2]
cmd = sys.argv[sys.argv.index('--') + 1:]
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 30, 100, 0, 0))
before = termios.tcgetattr(slave)

def setup():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)

p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, preexec_fn=setup, close_fds=True)
out = bytearray()
failed = False

def say(good, what):
    global failed
    print(('ok - ' if good else 'not ok - ') + what, flush=True)
    failed |= not good

def read_until(needle, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if needle in out:
            return True
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                out.extend(os.read(master, 65536))
            except OSError:
                return needle in out
        elif p.poll() is not None and needle not in out:
            return False
    return needle in out

def typ(s):
    for ch in s.encode():  # a user types one key at a time
        os.write(master, bytes([ch]))
        time.sleep(0.02)

try:
    say(read_until(b"vireo demo: type 'poweroff -f'", 600), "the guest's /init greets on the terminal")
    say(b'reached /init on 2 CPU(s)' in out, "the greeting reports the guest's 2 CPUs")
    token = 'k%08x' % random.getrandbits(32)
    read_until(b'# ', 30)
    typ('echo typed-$((6*7))-%s\r' % token)
    say(read_until(('typed-42-' + token).encode(), 120), "keystrokes reach the guest's shell (it evaluated $((6*7)))")
    if how == 'ctrl-c':
        os.write(master, b'\x03')
    else:
        typ('poweroff -f\r')
    try:
        rc = p.wait(timeout=180)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = 'timeout'
    read_until(b'\x00never', 1)
    say(rc == 0, 'the demo ends with exit status 0 after %s (got %s)' % (how, rc))
    after = termios.tcgetattr(slave)
    say(after == before, 'the terminal settings are restored')
finally:
    if p.poll() is None:
        p.kill()
    with open(transcript, 'wb') as f:
        f.write(bytes(out))
sys.exit(1 if failed else 0)
