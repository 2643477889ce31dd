#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Send key presses and pointer events to a VNC server: a minimal RFB 3.8 client (no
authentication), for the integration tests. Pictures are checked with a real client
(vncsnapshot); this only types and clicks.

    rfb_key.py HOST PORT ARG...   KEYSYM (hex or decimal): pressed and released;
                                  click:X,Y: pointer to (X, Y), left button down, then up
                                  resize:W,H: ask for a W x H desktop (SetDesktopSize)
"""
import socket
import struct
import sys


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError("server closed the connection")
        b += chunk
    return b


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    s = socket.create_connection((host, port), timeout=30)
    version = recv_exact(s, 12)
    if not version.startswith(b"RFB 003."):
        raise SystemExit(f"not an RFB server: {version!r}")
    s.sendall(b"RFB 003.008\n")
    n = recv_exact(s, 1)[0]
    if n == 0:
        reason_len = struct.unpack(">I", recv_exact(s, 4))[0]
        raise SystemExit("server refused: " + recv_exact(s, reason_len).decode(errors="replace"))
    types = recv_exact(s, n)
    if 1 not in types:
        raise SystemExit(f"server wants authentication (types {list(types)})")
    s.sendall(b"\x01")
    if struct.unpack(">I", recv_exact(s, 4))[0] != 0:
        raise SystemExit("security handshake failed")
    s.sendall(b"\x01")  # ClientInit: shared
    w, h = struct.unpack(">HH", recv_exact(s, 4))
    recv_exact(s, 16)  # pixel format
    name_len = struct.unpack(">I", recv_exact(s, 4))[0]
    recv_exact(s, name_len)
    # Raw pixels and the ExtendedDesktopSize pseudo-encoding (needed for SetDesktopSize).
    s.sendall(struct.pack(">BxHii", 2, 2, 0, -308))
    for a in args:
        if a.startswith("resize:"):
            rw, rh = (int(v) for v in a[7:].split(","))
            s.sendall(struct.pack(">BxHHBx", 251, rw, rh, 1) +
                      struct.pack(">IHHHHI", 0, 0, 0, rw, rh, 0))
        elif a.startswith("click:"):
            x, y = (int(v) for v in a[6:].split(","))
            for mask in (1, 0):
                s.sendall(struct.pack(">BBHH", 5, mask, x, y))  # PointerEvent
        else:
            for down in (1, 0):
                s.sendall(struct.pack(">BBxxI", 4, down, int(a, 0)))  # KeyEvent
    s.close()
    print(f"sent {' '.join(args)} to a {w}x{h} screen")


if __name__ == "__main__":
    main()
