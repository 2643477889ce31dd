#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host side of the vsock suites (70-virtio-vsock, 47-vhost-user-vsock) and bench/vsock.

Speaks vireo's hybrid vsock protocol over its unix socket: a host connection writes
"CONNECT <port>\\n" and reads "OK <host-port>\\n"; guest connections to host port P arrive on
the listening socket "<uds>_P".

  vsock_host.py scenario --uds PATH --log CONSOLE [--conns 8] [--mib 16]
      The test scenario run against tests/guest/init-vsock.sh:
      - receive the guest's random reference data on PATH_5001 (its sha256 must be the one
        the guest printed), and CONNS streams on PATH_5000 at once: each must be the reference
        rotated by a distinct number of MiB (so every stream differs from the others);
      - once the guest prints "VT: listening", open CONNS connections to guest port 6000 at
        once, send MIB MiB of distinct random data on each, half-close, and read back the
        sha256 the guest computed (its socat runs sha256sum per connection);
      - CONNECT to port 7777, where nothing listens: the socket must close without "OK";
      - CONNECT to port 6001 and say "bye": the guest ends its test.
      Then checks all of it against what the guest printed ("VT: key=value" lines) and
      prints TAP lines ("ok - ..." / "not ok - ..."); exit status 1 if any check failed.
"""
import argparse
import hashlib
import os
import re
import socket
import sys
import threading
import time


def connect(uds, port, timeout=120.0):
    """CONNECT handshake; returns (socket, host_port) or raises ConnectionError."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            s.close()
            raise ConnectionError("closed without OK (%r)" % line)
        line += c
        if len(line) > 64:
            raise ConnectionError("overlong reply %r" % line)
    m = re.match(rb"OK (\d+)\n$", line)
    if not m:
        s.close()
        raise ConnectionError("bad reply %r" % line)
    return s, int(m.group(1))


def wait_for(log, pattern, timeout):
    end = time.time() + timeout
    rx = re.compile(pattern)
    while time.time() < end:
        try:
            with open(log, "rb") as f:
                for line in f.read().decode("latin-1").replace("\r", "").splitlines():
                    if rx.search(line):
                        return line
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    return None


class Receiver(threading.Thread):
    """Accept `n` connections on path and hash each stream to EOF."""

    def __init__(self, path, n, timeout, keep=False):
        super().__init__(daemon=True)
        self.n, self.timeout, self.keep = n, timeout, keep
        self.digests, self.errors, self.data = [], [], []
        self.lock = threading.Lock()
        if os.path.exists(path):
            os.unlink(path)
        self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ls.bind(path)
        self.ls.listen(64)
        self.ls.settimeout(timeout)

    def one(self, c):
        h, total, parts = hashlib.sha256(), 0, []
        try:
            c.settimeout(self.timeout)
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                h.update(b)
                total += len(b)
                if self.keep:
                    parts.append(b)
            with self.lock:
                self.digests.append(h.hexdigest())
                if self.keep:
                    self.data.append(b"".join(parts))
        except OSError as e:
            with self.lock:
                self.errors.append(str(e))
        finally:
            c.close()

    def run(self):
        workers = []
        try:
            for _ in range(self.n):
                c, _ = self.ls.accept()
                t = threading.Thread(target=self.one, args=(c,), daemon=True)
                t.start()
                workers.append(t)
        except OSError as e:
            self.errors.append("accept: %s" % e)
        for t in workers:
            t.join()


def connect_retry(uds, port, timeout, tries=25):
    """The guest's listener may not be up yet: a refused CONNECT is retried."""
    for k in range(tries):
        try:
            return connect(uds, port, timeout)
        except ConnectionError:
            if k == tries - 1:
                raise
            time.sleep(0.5)


def send_one(uds, port, data, timeout, out, i):
    sent, phase = 0, "connect"
    try:
        s, _ = connect_retry(uds, port, timeout)
        phase = "send"
        view = memoryview(data)
        while sent < len(data):
            sent += s.send(view[sent:sent + (1 << 20)])
        phase = "reply"
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            reply += b
        s.close()
        out[i] = reply.decode("latin-1").split()[0] if reply.split() else "(empty)"
    except (OSError, ConnectionError) as e:
        # where it stopped: a stall shows as a timeout with the bytes that went through
        out[i] = "error:%s (in %s, %d of %d bytes sent)" % (e, phase, sent, len(data))


def scenario(a):
    n, size = a.conns, a.mib << 20
    ref = Receiver(a.uds + "_5001", 1, a.timeout, keep=True)
    recv = Receiver(a.uds + "_5000", n, a.timeout)
    ref.start()
    recv.start()
    print("ready=1", flush=True)
    line = wait_for(a.log, r"VT: listening", a.timeout)
    if not line:
        print("listening=timeout")
        return 1
    datas = [os.urandom(size) for _ in range(n)]
    want = [hashlib.sha256(d).hexdigest() for d in datas]
    got = [None] * n
    t0 = time.time()
    threads = [threading.Thread(target=send_one, args=(a.uds, 6000, datas[i], a.timeout, got, i))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("send_seconds=%.1f" % (time.time() - t0))
    print("send_ok=%d" % sum(1 for i in range(n) if got[i] == want[i]))
    for i in range(n):
        if got[i] != want[i]:
            print("send_mismatch_%d=%s want %s" % (i, got[i], want[i]))
    ref.join(a.timeout)
    recv.join(a.timeout)
    print("recv_seconds=%.1f" % (time.time() - t0))
    print("recv_errors=%d" % (len(recv.errors) + len(ref.errors)))
    for e in (recv.errors + ref.errors)[:4]:
        print("recv_error=%s" % e)
    if ref.data and len(ref.data[0]) == size:
        d = ref.data[0]
        print("ref_sha=%s" % hashlib.sha256(d).hexdigest())
        mib = 1 << 20
        rot = {hashlib.sha256(d[r * mib:] + d[:r * mib]).hexdigest(): r
               for r in range(min(n, a.mib))}
        found = sorted(rot[x] for x in recv.digests if x in rot)
        print("recv_rotations=%s" % ",".join(str(r) for r in found))
        print("recv_unknown=%d" % sum(1 for x in recv.digests if x not in rot))
    else:
        print("ref_sha=missing:%d" % (len(ref.data[0]) if ref.data else -1))
    try:
        s, _ = connect(a.uds, 7777, a.timeout)
        s.close()
        refused = False
    except ConnectionError:
        refused = True
    if not wait_for(a.log, r"VT: waiting", a.timeout):
        print("bye=guest not waiting")
        return 1
    try:
        s, port = connect_retry(a.uds, 6001, a.timeout)
        print("bye_host_port=%d" % port)
        s.sendall(b"bye\n")
        s.close()
    except (OSError, ConnectionError) as e:
        print("bye=error:%s" % e)
    wait_for(a.log, r"VT: done", a.timeout)
    return check(a, n, got, want, ref, recv, refused)


def vt_values(log):
    vals = {}
    with open(log, "rb") as f:
        for line in f.read().decode("latin-1").replace("\r", "").splitlines():
            m = re.search(r"VT: (\w+)=(.*)$", line)
            if m:
                vals[m.group(1)] = m.group(2)
    return vals


def check(a, n, got, want, ref, recv, refused):
    vt = vt_values(a.log)
    fails = 0

    def result(cond, what):
        nonlocal fails
        print("%s - %s" % ("ok" if cond else "not ok", what), flush=True)
        fails += 0 if cond else 1

    def num(key, default=-1):
        try:
            return int(vt.get(key, ""))
        except ValueError:
            return default

    result(0 <= num("own_cid_tries") < 50,
           "the guest reached its own listener at CID %s (vsock loopback: the CID the device "
           "gave it)" % a.cid)
    result(num("other_cid_rc", 0) != 0, "a connect to CID %d (not the host) is reset" % (a.cid + 1))
    result(vt.get("ref_rc") == "0", "guest -> host: reference sent")
    ref_sha = hashlib.sha256(ref.data[0]).hexdigest() if ref.data else "missing"
    result(ref_sha == vt.get("sha"), "guest -> host: reference digest %s" % ref_sha)
    result(vt.get("sent_rcs") == " %d 0;" % n, "guest -> host: every socat exited 0 (%r)" %
           vt.get("sent_rcs"))
    rot = {}
    if ref.data and len(ref.data[0]) == a.mib << 20:
        d, mib = ref.data[0], 1 << 20
        rot = {hashlib.sha256(d[r * mib:] + d[:r * mib]).hexdigest(): r
               for r in range(min(n, a.mib))}
    found = sorted(rot[x] for x in recv.digests if x in rot)
    result(found == list(range(n)) and len(recv.digests) == n,
           "guest -> host: %d streams at once, each a distinct rotation of the reference %s" %
           (n, found))
    result(not recv.errors and not ref.errors, "guest -> host: no receive errors %s" %
           (recv.errors + ref.errors)[:2])
    ok = sum(1 for i in range(n) if got[i] == want[i])
    result(ok == n, "host -> guest: %d of %d streams of %d MiB hashed right by the guest" %
           (ok, n, a.mib))
    result(num("unknown_port_rc", 0) != 0,
           "guest connect to a host port nobody serves fails: %s" % vt.get("unknown_port_err"))
    result(refused, "host CONNECT to a guest port nobody listens on is closed without OK")
    result(vt.get("bye") == "bye", "the host's 'bye' reached the guest")
    return 1 if fails else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sc = sub.add_parser("scenario")
    sc.add_argument("--uds", required=True)
    sc.add_argument("--log", required=True)
    sc.add_argument("--conns", type=int, default=8)
    sc.add_argument("--mib", type=int, default=16)
    sc.add_argument("--timeout", type=float, default=300.0)
    sc.add_argument("--cid", type=int, default=3)
    a = p.parse_args()
    return scenario(a)


if __name__ == "__main__":
    sys.exit(main())
