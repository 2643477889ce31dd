#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host side of bench/run-vsock.sh (runs in the nested L1, next to the VMM under test).

The guest runs bench/guest/vsockperf serve (sink 7000, source 7001, ping 7002) and, after
"go" on its serial console, `vsockperf rate 2 7003 N` against our listener on port 7003.
  --vireo UDS   vireo's hybrid vsock: connect to UDS + "CONNECT <port>\\n"; listen on UDS_7003
  --vhost CID   the kernel's vhost-vsock (QEMU -device vhost-vsock-pci): AF_VSOCK both ways
Prints key=value lines: h2g_MBps, g2h_MBps (best of --repeat), h2g_conn_per_s, g2h_conn_per_s.
"""
import argparse
import os
import re
import socket
import struct
import threading
import time

MIB = 1 << 20


def wait_vt(log, key, timeout):
    end = time.time() + timeout
    while time.time() < end:
        with open(log, "rb") as f:
            m = re.search(rb"VT: " + key.encode() + rb"(?:=(\S*))?", f.read())
        if m:
            return (m.group(1) or b"").decode()
        time.sleep(0.2)
    raise SystemExit("timeout waiting for VT: %s" % key)


class Transport:
    def __init__(self, a):
        self.a = a

    def connect(self, port):
        if self.a.vireo:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.a.vireo)
            s.sendall(b"CONNECT %d\n" % port)
            line = b""
            while not line.endswith(b"\n"):
                c = s.recv(1)
                if not c:
                    raise ConnectionError("refused")
                line += c
            if not line.startswith(b"OK "):
                raise ConnectionError(line)
            return s
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.connect((self.a.vhost, port))
        return s

    def listen(self, port):
        if self.a.vireo:
            path = "%s_%d" % (self.a.vireo, port)
            if os.path.exists(path):
                os.unlink(path)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
        else:
            s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
            s.bind((socket.VMADDR_CID_ANY, port))
        s.listen(128)
        return s


def h2g(t, size):
    buf = b"\xa5" * MIB
    t0 = time.time()
    s = t.connect(7000)
    left = size
    while left:
        n = s.send(buf[:min(left, MIB)])
        left -= n
    s.shutdown(socket.SHUT_WR)
    ack = b""
    while len(ack) < 8:
        c = s.recv(8 - len(ack))
        if not c:
            break
        ack += c
    dt = time.time() - t0
    s.close()
    if len(ack) != 8 or struct.unpack("<Q", ack)[0] != size:
        raise SystemExit("h2g: guest counted %r" % ack)
    return size / dt / 1e6


def g2h(t, size):
    t0 = time.time()
    s = t.connect(7001)
    s.sendall(struct.pack("<Q", size))
    got = 0
    while got < size:
        b = s.recv(MIB)
        if not b:
            break
        got += len(b)
    dt = time.time() - t0
    s.close()
    if got != size:
        raise SystemExit("g2h: got %d of %d bytes" % (got, size))
    return size / dt / 1e6


def h2g_rate(t, n):
    t0 = time.time()
    for _ in range(n):
        s = t.connect(7002)
        s.sendall(b"p")
        if s.recv(1) != b"p":
            raise SystemExit("ping failed")
        s.close()
    return n / (time.time() - t0)


def pong_server(ls):
    while True:
        try:
            c, _ = ls.accept()
        except OSError:
            return
        b = c.recv(1)
        if b:
            c.sendall(b)
        c.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vireo")
    p.add_argument("--vhost", type=int)
    p.add_argument("--log", required=True)
    p.add_argument("--go", required=True, help="FIFO feeding the guest's serial console")
    p.add_argument("--mib", type=int, default=128)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--conns", type=int, default=100)
    a = p.parse_args()
    t = Transport(a)
    wait_vt(a.log, "serving", 300)
    for _ in range(50):  # the servers may need a moment
        try:
            h2g(t, MIB)
            break
        except (ConnectionError, OSError):
            time.sleep(0.2)
    size = a.mib * MIB
    print("h2g_MBps=%.1f" % max(h2g(t, size) for _ in range(a.repeat)), flush=True)
    print("g2h_MBps=%.1f" % max(g2h(t, size) for _ in range(a.repeat)), flush=True)
    print("h2g_conn_per_s=%.0f" % max(h2g_rate(t, a.conns) for _ in range(a.repeat)), flush=True)
    ls = t.listen(7003)
    threading.Thread(target=pong_server, args=(ls,), daemon=True).start()
    with open(a.go, "w") as f:
        f.write("go\n")
    print("g2h_conn_per_s=%s" % wait_vt(a.log, "g2h_conn_per_s", 600), flush=True)
    wait_vt(a.log, "done", 120)


if __name__ == "__main__":
    main()
