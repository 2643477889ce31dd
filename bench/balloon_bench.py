#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host side of bench/run-balloon.sh (runs in the nested L1 next to the VMM under test).

Drives tests/guest/init-balloon.sh through its serial console (a FIFO) and times how long
guest memory takes to reach the host, from the VMM's RssShmem (/proc/PID/status, polled every
5 ms):
  --mode inflate  after "VT: touched" (400 MiB of guest memory used and freed, the driver
                  unbound): "go" -> the guest binds the driver, which inflates 128 MiB ->
                  time until RssShmem fell by 120 MiB
  --mode report   after "VT: filled" (200 MiB in tmpfs): "go" -> the guest removes the file
                  -> time until RssShmem fell by 150 MiB (free page reporting)
Prints "<mode>_s=SECONDS drop_mib=N".
"""
import argparse
import re
import time


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^RssShmem:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1))


def wait_vt(log, key, timeout):
    end = time.time() + timeout
    while time.time() < end:
        with open(log, "rb") as f:
            if re.search(rb"^VT: " + key.encode(), f.read().replace(b"\r", b""), re.M):
                return True
        time.sleep(0.1)
    raise SystemExit("timeout waiting for VT: %s" % key)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--fifo", required=True)
    p.add_argument("--mode", choices=["inflate", "report"], required=True)
    a = p.parse_args()
    marker, drop, after = {"inflate": ("touched", 120, "inflated"),
                           "report": ("filled", 150, "freed")}[a.mode]
    wait_vt(a.log, marker, 900)
    time.sleep(1)
    r0 = rss_kb(a.pid)
    fifo = open(a.fifo, "w")
    t0 = time.monotonic()
    fifo.write("go\n")
    fifo.flush()
    while time.monotonic() - t0 < 300:
        if r0 - rss_kb(a.pid) >= drop * 1024:
            break
        time.sleep(0.005)
    dt = time.monotonic() - t0
    print("%s_s=%.2f drop_mib=%d" % (a.mode, dt, (r0 - rss_kb(a.pid)) // 1024), flush=True)
    wait_vt(a.log, after, 300)
    fifo.write("go\n")
    fifo.flush()


if __name__ == "__main__":
    main()
