#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A VNC viewer that only counts: for bench/run-gpu.sh. It asks for incremental updates of the
whole screen, one after the other, in one encoding (raw or zrle, 32-bit pixels), and prints a
line per update received:  <unix time> <updates so far> <bytes so far> <pixels so far>

    vnc_pull.py HOST PORT ENCODING SECONDS
"""
import socket
import struct
import sys
import time

ENC = {"raw": 0, "zrle": 16}


def recv_exact(s, n):
    parts, got = [], 0
    while got < n:
        chunk = s.recv(min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def main():
    host, port, enc, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    end = time.time() + secs
    s = None
    while s is None:
        try:
            s = socket.create_connection((host, port), timeout=10)
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.2)
    recv_exact(s, 12)
    s.sendall(b"RFB 003.008\n")
    n = recv_exact(s, 1)[0]
    if 1 not in recv_exact(s, n):
        raise SystemExit("needs authentication")
    s.sendall(b"\x01")
    recv_exact(s, 4)
    s.sendall(b"\x01")
    w, h = struct.unpack(">HH", recv_exact(s, 4))
    recv_exact(s, 16)
    recv_exact(s, struct.unpack(">I", recv_exact(s, 4))[0])
    # 32 bpp, depth 24, little-endian true colour
    s.sendall(struct.pack(">BxxxBBBBHHHBBBxxx", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
    s.sendall(struct.pack(">BxHi", 2, 1, ENC[enc]))
    updates = total = pixels = 0
    s.settimeout(2)
    while time.time() < end:
        s.sendall(struct.pack(">BBHHHH", 3, 1, 0, 0, w, h))
        try:
            t = recv_exact(s, 1)[0]
        except socket.timeout:
            continue
        if t == 0:
            nrects = struct.unpack(">xH", recv_exact(s, 3))[0]
            size = 4
            for _ in range(nrects):
                x, y, rw, rh, e = struct.unpack(">HHHHi", recv_exact(s, 12))
                size += 12
                if e == 0:
                    recv_exact(s, rw * rh * 4)
                    size += rw * rh * 4
                elif e == 16:
                    n = struct.unpack(">I", recv_exact(s, 4))[0]
                    recv_exact(s, n)
                    size += 4 + n
                elif e == -223:  # DesktopSize
                    w, h = rw, rh
                else:
                    raise SystemExit(f"unexpected encoding {e}")
                pixels += rw * rh
            updates += 1
            total += size
            print(f"{time.time():.3f} {updates} {total} {pixels}", flush=True)
        elif t == 2:
            pass
        elif t == 3:
            recv_exact(s, 3)
            recv_exact(s, struct.unpack(">I", recv_exact(s, 4))[0])
        else:
            raise SystemExit(f"unexpected message {t}")


if __name__ == "__main__":
    try:
        main()
    except (EOFError, ConnectionError, OSError):
        pass
