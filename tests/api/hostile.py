# SPDX-License-Identifier: MIT
"""Hostile API clients against a vireo running the tests/kvm/spin.elf payload: malformed and
oversized requests, a client that sends a byte a second, hundreds of connections at once,
clients that vanish mid-request, and requests racing VM reboots. Every answer must be a
status the spec documents with a valid body; no request may hang; afterwards the VMM answers,
the guest still runs (its serial echo works) and vmm.shutdown ends it with 0.
Run by tests/integration/91-api-hostile.sh.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from apiclient import (Spec, Tap, console_upgrade, put_bytes, raw_request,  # noqa: E402
                       request, wait_socket)

VIREO = os.environ["VIREO"]
WORK = os.environ["WORK"]
SPIN = os.path.join(os.environ["BUILD_DIR"], "tests", "kvm", "spin.elf")
RUN = os.environ.get("API_RUN_DIR", WORK)
SOCK = os.path.join(RUN, "api.sock")
SERIAL = os.path.join(WORK, "spin.serial.log")
spec = Spec()
t = Tap()


def checked(route, method, r):
    try:
        spec.check(route, method, r)
        return True
    except AssertionError as e:
        print("# %s" % e)
        return False


def ping_ok(timeout=60):
    try:
        return request(SOCK, "GET", "vmm.ping", timeout=timeout).status == 200
    except OSError:
        return False


def wait_for(cond, secs=120):
    deadline = time.time() + secs
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def echo_works(text=b"ping"):
    st, con, _ = console_upgrade(SOCK)
    if st != 101:
        return False
    try:
        con.sendall(text)
        got = b""
        deadline = time.time() + 60
        while text.upper() not in got and time.time() < deadline:
            chunk = con.recv(100)
            if not chunk:
                break
            got += chunk
        return text.upper() in got
    finally:
        con.close()


proc = subprocess.Popen(
    [VIREO, "run", "--api-socket", SOCK, "--kernel", SPIN, "--memory", "64M", "--cpus", "2",
     "--serial", "file=" + SERIAL],
    stdout=open(os.path.join(WORK, "vireo.stdout.log"), "w"),
    stderr=open(os.path.join(WORK, "vireo.stderr.log"), "w"))
wait_socket(SOCK, proc=proc)
def serial_has(text):
    try:
        with open(SERIAL, "rb") as f:
            return text in f.read()
    except OSError:
        return False


t.ok(wait_for(lambda: serial_has(b"spin: ready")), "the guest runs")

# ---- a client sending a byte a second, all along (on its own thread) ----
slow_result = {}


def slow_client():
    req = b"GET /api/v1/vmm.ping HTTP/1.1\r\nHost: x\r\n\r\n"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(SOCK)
    start = time.time()
    try:
        for b in req:
            s.sendall(bytes([b]))
            time.sleep(1)
        data = b""
        while b"\r\n\r\n" not in data:
            c = s.recv(4096)
            if not c:
                break
            data += c
        slow_result["status"] = data.split(b" ")[1] if data else b""
    except OSError as e:
        slow_result["status"] = str(e).encode()
    slow_result["secs"] = time.time() - start
    s.close()


slow = threading.Thread(target=slow_client)
slow.start()

# ---- malformed bodies: 400 with one line, whatever the VM's state ----
bad_bodies = [
    ("truncated JSON", b'{"payload": {"kernel": "x"'),
    ("NaN", b'{"payload": {"kernel": "x"}, "memory": {"size": NaN}}'),
    ("huge number", b'{"payload": {"kernel": "x"}, "memory": {"size": 1e999}}'),
    ("integer over 64 bits", b'{"payload": {"kernel": "x"}, "memory": {"size": 123456789012345678901234567890}}'),
    ("negative size", b'{"payload": {"kernel": "x"}, "memory": {"size": -4096}}'),
    ("float for an integer", b'{"payload": {"kernel": "x"}, "cpus": {"boot_vcpus": 1.5}}'),
    ("duplicate keys", b'{"payload": {"kernel": "x"}, "payload": {"kernel": "y"}}'),
    ("invalid UTF-8", b'{"payload": {"kernel": "\xff\xfe"}}'),
    ("NUL in a string", b'{"payload": {"kernel": "a\\u0000b"}}'),
    ("deep nesting", b"[" * 30000 + b"]" * 30000),
    ("control characters in a key", b'{"pay\\u0007load\\n": 1}'),
    ("a 20000-character key", b'{"' + b"k" * 20000 + b'": 1}'),
    ("trailing garbage", b'{"payload": {"kernel": "x"}} xyz'),
    ("only whitespace", b"   \n  "),
    ("a bare string", b'"payload"'),
]
for what, body in bad_bodies:
    r = put_bytes(SOCK, "vm.create", body)
    # Running: a well-formed but bad config is still 400 (decoded before the state check)
    ok = checked("vm.create", "PUT", r) and r.status == 400 and "\n" not in r.error()
    t.ok(ok, "vm.create, %s: %d %s" % (what, r.status, r.body[:120]))
r = put_bytes(SOCK, "vm.resize", b'{"desired_balloon": "1G"}')
t.ok(checked("vm.resize", "PUT", r) and r.status == 400, "vm.resize, wrong type: %d" % r.status)

# ---- sizes and framing ----
r = raw_request(SOCK, b"PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 1000000000\r\n\r\n")
t.ok(checked("vm.create", "PUT", r) and r.status == 413, "Content-Length 1e9: 413 at once")
for cl in [b"-1", b"abc", b"1 2"]:
    try:
        r = raw_request(SOCK, b"PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                        cl + b"\r\n\r\n{}", timeout=30)
        t.ok(400 <= r.status < 500, "Content-Length %s: %d" % (cl.decode(), r.status))
    except (OSError, Exception) as e:  # the library may also just close: no hang is the point
        t.ok(not isinstance(e, socket.timeout), "Content-Length %s: closed (%s)" %
             (cl.decode(), type(e).__name__))


def chunked_over_limit():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(SOCK)
    s.sendall(b"PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 8192
    sent = 0
    try:
        while sent < 1 << 20:
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
        return "accepted %d bytes" % sent
    except (BrokenPipeError, ConnectionResetError):
        return "closed after %d bytes" % sent
    finally:
        s.close()


res = chunked_over_limit()
t.ok(res.startswith("closed"), "a chunked body over the limit: the connection is dropped (%s)"
     % res)
r = raw_request(SOCK, b"GET /api/v1/vmm.ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 +
                b"\r\n\r\n")
t.ok(400 <= r.status < 500, "a 20 KB header: %d" % r.status)
for what, data in [("binary garbage", os.urandom(2000)),
                   ("HTTP/9.9", b"GET /api/v1/vmm.ping HTTP/9.9\r\n\r\n"),
                   ("a header line without a colon", b"GET /api/v1/vmm.ping HTTP/1.1\r\nHost x\r\n\r\n"),
                   ("no Host (HTTP/1.1)", b"GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n")]:
    try:
        r = raw_request(SOCK, data, timeout=30)
        t.ok(r.status >= 400, "%s: %d" % (what, r.status))
    except Exception as e:
        t.ok(not isinstance(e, socket.timeout), "%s: connection closed (%s)" %
             (what, type(e).__name__))
# both framings at once: refused, or the chunked one wins (RFC 9112); it must not hang
try:
    r = raw_request(SOCK, b"GET /api/v1/vmm.ping HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", timeout=30)
    t.ok(r.status in (200, 400), "Content-Length and chunked: %d" % r.status)
except Exception as e:
    t.ok(not isinstance(e, socket.timeout), "Content-Length and chunked: closed (%s)" %
         type(e).__name__)
t.ok(ping_ok(), "the VMM answers after the malformed requests")

# ---- clients that vanish mid-request ----
for i in range(50):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(SOCK)
    s.sendall(b"GET /api/v1/vm.info HTTP/1.1\r\nHost: x\r\n\r\n" if i % 2 else
              b"PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"pay")
    s.close()
t.ok(ping_ok(), "the VMM answers after 50 clients vanished mid-request")

# ---- hundreds of connections at once ----
idle = []
for i in range(400):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(SOCK)
        idle.append(s)
    except OSError:
        s.close()
        break
t.ok(len(idle) == 400, "400 idle connections open (%d)" % len(idle))
t.ok(ping_ok(), "vmm.ping answers with 400 idle connections open")
results = []
lock = threading.Lock()


def worker(route):
    try:
        r = request(SOCK, "GET", route, timeout=120)
        ok = checked(route, "GET", r)
        with lock:
            results.append((r.status, ok))
    except Exception as e:
        with lock:
            results.append((str(e), False))


threads = [threading.Thread(target=worker, args=("vm.info" if i % 2 else "vm.counters",))
           for i in range(300)]
for th in threads:
    th.start()
for th in threads:
    th.join()
good = sum(1 for st, ok in results if ok and st == 200)
t.ok(all(ok for st, ok in results), "300 concurrent requests: every answer matches the spec")
t.ok(good == len(results), "300 concurrent requests: %d of %d answered 200" % (good, len(results)))
for s in idle:
    s.close()

# ---- requests racing reboots, pauses and shutdowns ----
stop = threading.Event()
racers = []


def racer(method, route):
    n = bad = 0
    while not stop.is_set():
        try:
            r = request(SOCK, method, route, timeout=120)
            n += 1
            if not checked(route, method, r):
                bad += 1
        except Exception as e:
            print("# racer %s: %s" % (route, e))
            bad += 1
            break
    racers.append((route, n, bad))


rthreads = [threading.Thread(target=racer, args=a) for a in
            [("GET", "vm.info"), ("PUT", "vm.pause"), ("PUT", "vm.resume"),
             ("GET", "vm.counters"), ("PUT", "vm.power-button")]]
for th in rthreads:
    th.start()
lifecycle_ok = True
for step in range(3):
    for method, route in [("PUT", "vm.reboot"), ("PUT", "vm.shutdown"), ("PUT", "vm.boot")]:
        r = request(SOCK, method, route, timeout=120)
        if not checked(route, method, r):
            lifecycle_ok = False
        print("# race %d: %s %d %s" % (step, route, r.status, r.error()))
stop.set()
for th in rthreads:
    th.join()
t.ok(lifecycle_ok, "reboot/shutdown/boot racing other requests: answers match the spec")
for route, n, bad in racers:
    t.ok(bad == 0 and n > 0, "racing %s: %d requests, %d bad" % (route, n, bad))
r = request(SOCK, "GET", "vm.info")
if r.status == 200 and r.json()["state"] == "Paused":
    request(SOCK, "PUT", "vm.resume")
elif r.status == 200 and r.json()["state"] == "Shutdown":
    request(SOCK, "PUT", "vm.boot")
t.eq(request(SOCK, "GET", "vm.info").json()["state"], "Running", "the VM runs after the races")

# ---- the slow client finished, and the guest still answers ----
slow.join(timeout=120)
t.ok(not slow.is_alive() and slow_result.get("status") == b"200",
     "the byte-a-second client got its answer (%r after %.0f s) while others were served" %
     (slow_result.get("status"), slow_result.get("secs", 0)))
t.ok(echo_works(b"still"), "the guest still echoes on its console")
exits = request(SOCK, "GET", "vm.counters").json()["vcpu0"]["exits"]
t.ok(exits > 0, "vCPU 0 exits counted: %d" % exits)
r = request(SOCK, "PUT", "vmm.shutdown")
t.eq(r.status, 204, "vmm.shutdown")
try:
    rc = proc.wait(timeout=60)
except subprocess.TimeoutExpired:
    proc.kill()
    rc = None
t.eq(rc, 0, "vireo exited 0")
with open(os.path.join(WORK, "vireo.stderr.log")) as f:
    err = f.read()
t.ok(len(err.splitlines()) < 50, "vireo's stderr stays short (rate-limited): %d lines" %
     len(err.splitlines()))
t.done()
