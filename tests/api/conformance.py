# SPDX-License-Identifier: MIT
"""Every route and every documented error case of src/api/openapi.yaml, against a real vireo
running the tests/kvm/spin.elf payload; every response is checked against the spec (status
documented for the route, body valid for its schema). Run by tests/integration/90-api-spec.sh.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from apiclient import Spec, Tap, console_upgrade, put_bytes, request, wait_socket  # noqa: E402

VIREO = os.environ["VIREO"]
WORK = os.environ["WORK"]
SPIN = os.path.join(os.environ["BUILD_DIR"], "tests", "kvm", "spin.elf")
RUN = os.environ.get("API_RUN_DIR", WORK)  # unix sockets: not on 9p
SOCK = os.path.join(RUN, "api.sock")
SERIAL = os.path.join(WORK, "spin.serial.log")

spec = Spec()
t = Tap()


def call(method, route, want, body=None, what=None, spec_method=None, **kw):
    r = request(SOCK, method, route, body=body, **kw)
    try:
        spec.check(route, spec_method or method, r)
        checked = True
    except AssertionError as e:
        checked = False
        print("# %s" % e)
    t.ok(checked and r.status == want, "%s %s%s: %d%s" % (
        method, route, " (%s)" % what if what else "", r.status,
        "" if r.status == want else " want %d: %s" % (want, r.body[:200])))
    return r


def call_big(route, want, body, what):
    r = put_bytes(SOCK, route, json.dumps(body).encode())
    try:
        spec.check(route, "PUT", r)
        checked = True
    except AssertionError as e:
        checked = False
        print("# %s" % e)
    t.ok(checked and r.status == want, "PUT %s (%s): %d" % (route, what, r.status))


def console_call(want, what):
    """vm.console with the upgrade headers; checks the error body; returns the socket."""
    st, con, body = console_upgrade(SOCK)
    good = st == want
    if st != 101:
        try:
            good = good and spec.valid("ErrorResponse", json.loads(body))
        except ValueError:
            good = False
    if good:
        spec.seen.add(("vm.console", "PUT", st))
    t.ok(good, "PUT vm.console (%s): %d %s" % (what, st, body))
    return con


def info_state():
    r = request(SOCK, "GET", "vm.info")
    return r.json()["state"] if r.status == 200 else None


def ready_lines():
    try:
        with open(SERIAL, "rb") as f:
            return f.read().count(b"spin: ready")
    except OSError:
        return 0


def wait_for(cond, secs=120):
    deadline = time.time() + secs
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


vm = {
    "payload": {"kernel": SPIN},
    "cpus": {"boot_vcpus": 2, "max_vcpus": 2},
    "memory": {"size": 64 << 20},
    "serial": {"mode": "File", "file": SERIAL},
}
text_kernel = os.path.join(WORK, "not-a-kernel")
with open(text_kernel, "w") as f:
    f.write("this is not a kernel\n")
disk = os.path.join(WORK, "disk.img")
with open(disk, "wb") as f:
    f.truncate(8 << 20)

proc = subprocess.Popen([VIREO, "run", "--api-socket", SOCK], stdout=open(
    os.path.join(WORK, "vireo.stdout.log"), "w"), stderr=open(
    os.path.join(WORK, "vireo.stderr.log"), "w"))
wait_socket(SOCK, proc=proc)

# ---- no VM ----
r = call("GET", "vmm.ping", 200)
t.eq(r.json().get("pid"), proc.pid, "vmm.ping: pid is the VMM's")
for route in ["vm.info", "vm.counters"]:
    call("GET", route, 404, what="no VM")
for route in ["vm.boot", "vm.pause", "vm.resume", "vm.shutdown", "vm.reboot",
              "vm.power-button"]:
    call("PUT", route, 404, what="no VM")
call("PUT", "vm.resize", 404, body={"desired_balloon": 0}, what="no VM")
console_call(404, "no VM")
call("PUT", "vm.delete", 204, what="no VM is not an error")

# Every route: the wrong method is 405 with Allow naming the right one; a body where the route
# takes none is 400 (checked before the state, so vmm.shutdown with a body stops nothing).
for path, ops in spec.doc["paths"].items():
    route = path[1:]
    for method, op in ops.items():
        method = method.upper()
        other = "GET" if method == "PUT" else "PUT"
        r = call(other, route, 405, what="wrong method", spec_method=method)
        t.eq(r.headers.get("Allow"), method, "%s: 405 carries Allow" % route)
        if "requestBody" not in op:
            call(method, route, 400, body={"x": 1}, what="a body where none is taken")
r = request(SOCK, "GET", None, raw_path="/api/v1/vm.nonexistent")
t.ok(r.status == 404 and spec.valid("ErrorResponse", r.json()), "unknown route: 404 %s" % r.body)
r = request(SOCK, "GET", None, raw_path="/vmm.ping")
t.eq(r.status, 404, "route outside /api/v1/: 404")
t.eq(proc.poll(), None, "the VMM still runs")

# ---- vm.create: every kind of bad VmConfig, and the spec agrees that it is bad ----
bad = [
    ("bad JSON", '{"payload": {"kernel": '),
    ("not an object", "[1, 2]"),
    ("empty body", ""),
    ("unknown top-level field", dict(vm, hugepages=True)),
    ("unknown nested field", dict(vm, memory={"size": 64 << 20, "shared": True})),
    ("wrong type", dict(vm, cpus={"boot_vcpus": "2"})),
    ("wrong type in a disk", dict(vm, disks=[{"path": disk, "readonly": "yes"}])),
    ("missing payload", {"cpus": {"boot_vcpus": 1}}),
    ("kernel and firmware", dict(vm, payload={"kernel": SPIN, "firmware": SPIN})),
    ("neither kernel nor firmware", dict(vm, payload={"cmdline": "x"})),
    ("boot_vcpus 0", dict(vm, cpus={"boot_vcpus": 0})),
    ("boot_vcpus 33", dict(vm, cpus={"boot_vcpus": 33})),
    ("memory below 2 MiB", dict(vm, memory={"size": 4096})),
    ("queue_size not a power of two", dict(vm, disks=[{"path": disk, "queue_size": 100}])),
    ("17 disks", dict(vm, disks=[{"path": disk}] * 17)),
    ("serial mode Vt100", dict(vm, serial={"mode": "Vt100"})),
    ("net ip (vireo leaves the TAP to the host)",
     dict(vm, net=[{"tap": "tap0", "ip": "192.168.249.1"}])),
    ("net num_queues odd (a queue pair is two)", dict(vm, net=[{"tap": "tap0", "num_queues": 3}])),
    ("net one_time_burst", dict(vm, net=[{"tap": "tap0", "rate_limiter_config": {
        "bandwidth": {"size": 1000, "refill_time": 1000, "one_time_burst": 10}}}])),
    ("rng src other than /dev/urandom", dict(vm, rng={"src": "/dev/random"})),
    ("balloon without size", dict(vm, balloon={"deflate_on_oom": True})),
    ("vsock cid 2 (the host's)", dict(vm, vsock={"cid": 2, "socket": "/tmp/v.sock"})),
    ("console mode Vga", dict(vm, console={"mode": "Vga"})),
    ("gpu width 100", dict(vm, gpu={"width": 100})),
    ("display vnc port 70000", dict(vm, display={"vnc": {"port": 70000}})),
]
for what, body in bad:
    call("PUT", "vm.create", 400, body=body, what=what)
    if not isinstance(body, str):
        t.ok(not spec.valid("VmConfig", body), "spec: VmConfig schema also refuses: %s" % what)
# refused by the VMM, though the schema (OpenAPI 3.0) cannot say it
call("PUT", "vm.create", 400, body=dict(vm, cpus={"boot_vcpus": 1, "max_vcpus": 2}),
     what="max_vcpus != boot_vcpus")
# refused by the VMM though the schema cannot know: files that do not exist
call("PUT", "vm.create", 400, body=dict(vm, payload={"kernel": "/nonexistent/kernel"}),
     what="kernel file missing")
call("PUT", "vm.create", 400, body=dict(vm, disks=[{"path": "/nonexistent.img"}]),
     what="disk file missing")
call_big("vm.create", 413, dict(vm, payload={"kernel": SPIN, "cmdline": "x" * 70000}),
         "body over 64 KiB")
t.ok(spec.valid("VmConfig", vm), "spec: VmConfig schema accepts the good config")

# ---- every device in one VmConfig: accepted, and vm.info gives it back as the spec says ----
devs = dict(vm,
            net=[{"tap": "vireo-absent0", "mac": "52:54:00:12:34:56", "num_queues": 4,
                  "queue_size": 512, "mtu": 1500, "vhost_user": False,
                  "rate_limiter_config": {"bandwidth": {"size": 1048576, "refill_time": 1000}}},
                 {"vhost_user": True, "vhost_socket": os.path.join(RUN, "n.sock"),
                  "num_queues": 2, "queue_size": 256}],
            rng={"src": "/dev/urandom",
                 "rate_limiter_config": {"bandwidth": {"size": 65536, "refill_time": 1000}}},
            balloon={"size": 16 << 20, "deflate_on_oom": True, "free_page_reporting": True,
                     "stats_polling_interval_s": 5},
            vsock={"cid": 3, "socket": os.path.join(RUN, "v.sock")},
            console={"mode": "File", "file": os.path.join(WORK, "hvc0.log")},
            gpu={"width": 1024, "height": 768, "max_hostmem": 64 << 20}, input=True,
            display={"vnc": {"address": "127.0.0.1", "port": 0},
                     "screenshot": os.path.join(WORK, "shot.png")})
t.ok(spec.valid("VmConfig", devs), "spec: VmConfig schema accepts every device")
call("PUT", "vm.create", 204, body=devs, what="every device")
r = call("GET", "vm.info", 200)
got = r.json()["config"]
t.ok(spec.valid("VmConfig", got), "spec: vm.info's config with every device is a valid VmConfig")
for key in ["net", "rng", "balloon", "vsock", "console", "gpu", "input", "display"]:
    t.eq(got.get(key), devs[key], "vm.info: %s comes back as it was sent" % key)
call("PUT", "vm.delete", 204)

# ---- a config the VMM accepts but cannot boot ----
call("PUT", "vm.create", 204, body=dict(vm, payload={"kernel": text_kernel}))
call("PUT", "vm.boot", 400, what="not a kernel")
call("PUT", "vm.delete", 204)
# a disk another process holds (vireo backend blk takes the image's lock)
holder = subprocess.Popen([VIREO, "backend", "blk", "--socket", os.path.join(RUN, "h.sock"),
                           "--disk", "path=" + disk], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
wait_socket(os.path.join(RUN, "h.sock"), proc=holder)
call("PUT", "vm.create", 204, body=dict(vm, disks=[{"path": disk}]))
r = call("PUT", "vm.boot", 409, what="disk locked by another process")
t.ok("in use" in r.error(), "409 names the problem: %s" % r.error())
holder.terminate()
holder.wait()
call("PUT", "vm.delete", 204)

# ---- Created ----
call("PUT", "vm.create", 204, body=vm)
call("PUT", "vm.create", 405, body=vm, what="a VM exists")
r = call("GET", "vm.info", 200)
t.eq(r.json()["state"], "Created", "vm.info: state Created")
t.eq(r.json()["config"]["cpus"]["boot_vcpus"], 2, "vm.info: config round trip (boot_vcpus)")
t.eq(r.json()["config"]["memory"]["size"], 64 << 20, "vm.info: config round trip (memory)")
t.ok(spec.valid("VmConfig", r.json()["config"]), "spec: vm.info's config is a valid VmConfig")
for route in ["vm.pause", "vm.resume", "vm.shutdown", "vm.reboot", "vm.power-button"]:
    call("PUT", route, 405, what="Created")
call("GET", "vm.counters", 405, what="Created")
call("PUT", "vm.resize", 405, body={"desired_balloon": 0}, what="Created")
console_call(405, "Created")

# ---- Running ----
call("PUT", "vm.boot", 204)
t.ok(wait_for(lambda: ready_lines() == 1), "the guest printed its ready line once")
r = call("GET", "vm.info", 200)
t.eq(r.json()["state"], "Running", "vm.info: state Running")
t.ok(isinstance(r.json().get("uptime_ms"), int), "vm.info: uptime_ms while running")
call("PUT", "vm.boot", 405, what="Running")
call("PUT", "vm.resume", 405, what="Running")
r = call("GET", "vm.counters", 200)
t.ok("vcpu0" in r.json() and "vcpu1" in r.json(), "vm.counters: both vCPUs")
r = request(SOCK, "PUT", "vm.power-button")
spec.check("vm.power-button", "PUT", r)
have_acpi = r.status == 204
t.ok(r.status == 204 or (r.status == 400 and "no ACPI" in r.error()),
     "vm.power-button: 204, or 400 without an ACPI power button (%s)" % r)
call("PUT", "vm.resize", 400, body={"desired_balloon": 1 << 20}, what="no balloon device")
call("PUT", "vm.resize", 400, body={"desired_vcpus": 4}, what="no CPU hotplug")
call("PUT", "vm.resize", 204, body={"desired_vcpus": 2, "desired_ram": 64 << 20},
     what="the current sizes: nothing to do")
call("PUT", "vm.resize", 400, body={"desired_balloon": -1}, what="negative")
call("PUT", "vm.resize", 400, body={"balloon": 1}, what="unknown field")
call("PUT", "vm.resize", 400, body={}, what="nothing to resize")
call_big("vm.resize", 413, {"desired_balloon": 0, "pad": "x" * 70000}, "body over 64 KiB")

# the console: one client at a time, and bytes both ways (the payload echoes in upper case)
con = console_call(101, "Running")
console_call(409, "a second client")
if con:
    con.sendall(b"abc")
    got = b""
    deadline = time.time() + 60
    while b"ABC" not in got and time.time() < deadline:
        try:
            got += con.recv(100)
        except OSError:
            break
    t.ok(b"ABC" in got, "vm.console: typed abc, the guest echoed ABC")
    con.close()

# ---- Paused ----
call("PUT", "vm.pause", 204)
t.eq(info_state(), "Paused", "vm.info: state Paused")
call("PUT", "vm.pause", 405, what="Paused")
call("PUT", "vm.power-button", 405, what="Paused")
call("PUT", "vm.resize", 405, body={"desired_balloon": 0}, what="Paused")
r = call("GET", "vm.counters", 200)
t.eq(r.json()["vm"]["pauses"], 1, "vm.counters: one pause")
con = console_call(101, "Paused")
if con:
    con.close()
call("PUT", "vm.resume", 204)
t.eq(info_state(), "Running", "resumed")

# ---- reboot, shutdown, boot again ----
call("PUT", "vm.reboot", 204)
t.ok(wait_for(lambda: ready_lines() == 2), "vm.reboot: the guest started again (2 ready lines)")
call("PUT", "vm.pause", 204)
call("PUT", "vm.reboot", 204, what="from Paused")
t.ok(wait_for(lambda: ready_lines() == 3), "vm.reboot from Paused: 3 ready lines")
call("PUT", "vm.shutdown", 204)
t.eq(info_state(), "Shutdown", "vm.info: state Shutdown")
for route in ["vm.shutdown", "vm.reboot", "vm.pause", "vm.resume", "vm.power-button"]:
    call("PUT", route, 405, what="Shutdown")
call("GET", "vm.counters", 405, what="Shutdown")
call("PUT", "vm.boot", 204, what="again after vm.shutdown")
t.ok(wait_for(lambda: ready_lines() == 4), "booted again: 4 ready lines")
call("PUT", "vm.pause", 204)
call("PUT", "vm.shutdown", 204, what="from Paused")
call("PUT", "vm.boot", 204)
call("PUT", "vm.delete", 204, what="while Running")
call("GET", "vm.info", 404, what="deleted")

# ---- vmm.shutdown: the process ends with 0 ----
call("PUT", "vm.create", 204, body=vm)
call("PUT", "vm.boot", 204)
call("PUT", "vmm.shutdown", 204)
try:
    rc = proc.wait(timeout=60)
except subprocess.TimeoutExpired:
    proc.kill()
    rc = None
t.eq(rc, 0, "vmm.shutdown: vireo exited 0")
t.ok(not os.path.exists(SOCK), "the API socket is removed at exit")

# every documented (route, method, status) was seen, except the VMM failures no client can
# provoke on purpose
unreachable = {("vm.boot", "PUT", 500), ("vm.pause", "PUT", 500), ("vm.reboot", "PUT", 409),
               ("vm.reboot", "PUT", 500)}
if not have_acpi:
    unreachable.add(("vm.power-button", "PUT", 204))
    print("# vm.power-button 204 not exercised: this build has no ACPI power button")
for route, method, st in sorted(spec.documented() - unreachable):
    t.ok((route, method, st) in spec.seen, "spec coverage: %s %s %d was exercised" %
         (method, route, st))
t.done()
