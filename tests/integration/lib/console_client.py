#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Types shell commands into a guest's virtio console (hvc0) through one of vireo's console
back-ends and reads their output back (tests/integration/72-virtio-console.sh).

  console_client.py socket PATH          connect to vireo's --console virtio,socket=PATH;
                                         run the commands, disconnect, reconnect, run one more
  console_client.py pty STDERR-LOG       find "vireo: console: /dev/pts/N" in vireo's stderr
                                         and talk to that pty
  console_client.py stdio -- VIREO-ARGS  run vireo itself on a new pseudo-terminal (37x101),
                                         resize it to 50x132 halfway (SIGWINCH)

The guest runs `sh` on /dev/hvc0 (tests/guest/init-console.sh). Every command prints a tagged
result ("R1:42"), and the typed command itself (echoed by the guest's tty) never contains the
result. Prints key=value lines: r1..rN, the results found; transcript in --log.
"""
import argparse
import fcntl
import os
import pty
import re
import select
import socket
import struct
import sys
import termios
import time

COMMANDS = [
    ("r1", "echo R1:$((6*7))", r"R1:(\d+)"),
    ("r2", "echo R2:$(uname -s)", r"R2:(\w+)"),
    ("r3", "echo R3:$(stty size)", r"R3:(\d+ \d+)"),
]


class Chan:
    def __init__(self, rd, wr, log):
        self.rd, self.wr, self.buf, self.log = rd, wr, b"", log

    def send(self, s):
        self.wr(s.encode())

    def expect(self, rx, timeout):
        end = time.time() + timeout
        pat = re.compile(rx.encode())
        while time.time() < end:
            m = pat.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m.group(1).decode()
            chunk = self.rd(max(0.0, end - time.time()))
            if chunk is None:
                return None
            self.log.write(chunk)
            self.log.flush()
            self.buf += chunk.replace(b"\r", b"")
        return None


def fd_reader(fd):
    def rd(timeout):
        r, _, _ = select.select([fd], [], [], min(timeout, 1.0))
        if not r:
            return b""
        try:
            b = os.read(fd, 4096)
        except OSError:
            return None
        return b if b else None
    return rd


def run_commands(ch, cmds, timeout, prefix=""):
    for key, cmd, rx in cmds:
        # The shell may still be starting: retype until it answers.
        val = None
        for _ in range(6):
            ch.send(cmd + "\n")
            val = ch.expect(rx, timeout / 6)
            if val is not None:
                break
        print("%s%s=%s" % (prefix, key, val), flush=True)


def sock_connect(path, timeout):
    end = time.time() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.2)


def mode_socket(a, log):
    s = sock_connect(a.path, a.timeout)
    ch = Chan(fd_reader(s.fileno()), s.sendall, log)
    run_commands(ch, COMMANDS[:2], a.timeout)
    s.close()
    # a second client after the first left
    s = sock_connect(a.path, a.timeout)
    ch = Chan(fd_reader(s.fileno()), s.sendall, log)
    run_commands(ch, [("again", "echo AGAIN:$((100+23))", r"AGAIN:(\d+)")], a.timeout)
    ch.send("exit\n")
    time.sleep(1)
    s.close()


def mode_pty(a, log):
    end = time.time() + a.timeout
    path = None
    while time.time() < end and not path:
        try:
            with open(a.path) as f:
                m = re.search(r"vireo: console: (/dev/pts/\d+)", f.read())
                path = m.group(1) if m else None
        except FileNotFoundError:
            pass
        if not path:
            time.sleep(0.2)
    print("pty=%s" % path, flush=True)
    if not path:
        return
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    t = termios.tcgetattr(fd)
    t[3] &= ~(termios.ECHO | termios.ICANON)  # the user's side of a raw line
    termios.tcsetattr(fd, termios.TCSANOW, t)
    ch = Chan(fd_reader(fd), lambda b: os.write(fd, b), log)
    run_commands(ch, COMMANDS[:2], a.timeout)
    ch.send("exit\n")
    time.sleep(1)
    os.close(fd)


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def mode_stdio(a, log):
    pid, master = pty.fork()
    if pid == 0:
        set_size(0, 37, 101)
        os.execv(a.vireo[0], a.vireo)
    ch = Chan(fd_reader(master), lambda b: os.write(master, b), log)
    run_commands(ch, COMMANDS, a.timeout)
    set_size(master, 50, 132)  # the kernel sends SIGWINCH to vireo
    time.sleep(2)
    run_commands(ch, [("r4", "echo R4:$(stty size)", r"R4:(\d+ \d+)")], a.timeout)
    ch.send("exit\n")
    end = time.time() + a.timeout
    while time.time() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            print("vireo_status=%d" % os.waitstatus_to_exitcode(status), flush=True)
            break
        ch.expect(r"(never)", 0.5)
    else:
        os.kill(pid, 9)
        print("vireo_status=timeout", flush=True)


def main():
    argv = sys.argv[1:]
    vireo = []
    if "--" in argv:
        vireo = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["socket", "pty", "stdio"])
    p.add_argument("path", nargs="?")
    p.add_argument("--log", required=True)
    p.add_argument("--timeout", type=float, default=240)
    a = p.parse_args(argv)
    a.vireo = vireo
    with open(a.log, "ab") as log:
        {"socket": mode_socket, "pty": mode_pty, "stdio": mode_stdio}[a.mode](a, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
