#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Talk to QEMU's QMP monitor on a unix socket (the tests' QEMU front-ends).

    qmp.py SOCK screendump FILE     write the current screen to FILE (PPM); exit 1 on error
    qmp.py SOCK quit                ask QEMU to quit
"""
import json
import socket
import sys


def command(f, sock, name, args=None):
    msg = {"execute": name}
    if args:
        msg["arguments"] = args
    sock.sendall(json.dumps(msg).encode() + b"\n")
    for line in f:
        reply = json.loads(line)
        if "return" in reply:
            return reply["return"]
        if "error" in reply:
            raise RuntimeError(f"{name}: {reply['error'].get('desc')}")
    raise RuntimeError(f"{name}: QMP connection closed")


def main():
    path, what = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(path)
    f = s.makefile("r")
    json.loads(f.readline())  # greeting
    command(f, s, "qmp_capabilities")
    if what == "screendump":
        command(f, s, "screendump", {"filename": sys.argv[3]})
    elif what == "quit":
        try:
            command(f, s, "quit")
        except RuntimeError:
            pass  # QEMU may close before answering
    else:
        print(f"unknown command {what}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, RuntimeError, ValueError) as e:
        print(f"qmp: {e}", file=sys.stderr)
        sys.exit(1)
