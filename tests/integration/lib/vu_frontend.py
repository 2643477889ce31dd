#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A minimal vhost-user front-end for the hostile cases no real front-end produces.

    vu_frontend.py SOCKET good     set up a virtio-rng ring over the protocol, send one
                                   request, wait for the used element; prints
                                   "good: N random bytes"
    vu_frontend.py SOCKET shrink   same set-up, publish the request, then shrink the guest
                                   memfd to 0 and kick: the back-end must not die but drop us;
                                   prints "shrink: dropped" once it closed the connection

Exit status 0 when the case behaved as described, 1 otherwise (with one line saying why).
Wire format: QEMU docs/interop/vhost-user.rst (12-byte header, little-endian payload, fds as
SCM_RIGHTS).
"""
import mmap
import os
import select
import socket
import struct
import sys
import time

GET_FEATURES, SET_FEATURES, SET_OWNER = 1, 2, 3
SET_MEM_TABLE, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE = 5, 8, 9, 10
SET_VRING_KICK, SET_VRING_CALL = 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, SET_VRING_ENABLE = 15, 16, 18
F_VERSION_1, F_PROTOCOL_FEATURES = 1 << 32, 1 << 30
PF_REPLY_ACK = 1 << 3
NEED_REPLY = 1 << 3
VRING_DESC_F_WRITE = 2

MEM = 1 << 20
UADDR = 0x7F0000000000  # the front-end's "virtual address" of guest RAM (an identifier)
QSIZE = 16
DESC, AVAIL, USED, BUF = 0x1000, 0x2000, 0x3000, 0x10000


def die(msg):
    print(msg)
    sys.exit(1)


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.settimeout(10)

    def send(self, req, payload=b"", fds=(), flags=1):
        msg = struct.pack("<III", req, flags, len(payload)) + payload
        if fds:
            self.s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                    struct.pack("<%di" % len(fds), *fds))])
        else:
            self.s.sendall(msg)

    def recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.s.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def reply(self, req):
        hdr = self.recv(12)
        if hdr is None:
            die("back-end closed the connection (waiting for the reply to %d)" % req)
        r, _, size = struct.unpack("<III", hdr)
        body = self.recv(size) if size else b""
        if r != req:
            die("reply to %d, expected %d" % (r, req))
        return body

    def get_u64(self, req):
        self.send(req)
        return struct.unpack("<Q", self.reply(req))[0]

    def set_u64(self, req, v, ack=False):
        self.send(req, struct.pack("<Q", v), flags=1 | (NEED_REPLY if ack else 0))
        if ack and struct.unpack("<Q", self.reply(req))[0] != 0:
            die("request %d refused" % req)

    def state(self, req, index, num):
        self.send(req, struct.pack("<II", index, num))


def setup(c):
    """Handshake, guest RAM (a memfd), one ring of QSIZE at DESC/AVAIL/USED."""
    feats = c.get_u64(GET_FEATURES)
    if not feats & F_VERSION_1 or not feats & F_PROTOCOL_FEATURES:
        die("back-end features 0x%x" % feats)
    pf = c.get_u64(GET_PROTOCOL_FEATURES)
    c.set_u64(SET_PROTOCOL_FEATURES, pf & PF_REPLY_ACK)
    c.send(SET_OWNER)
    c.set_u64(SET_FEATURES, F_VERSION_1 | F_PROTOCOL_FEATURES)
    memfd = os.memfd_create("guest")
    os.ftruncate(memfd, MEM)
    ram = mmap.mmap(memfd, MEM)
    region = struct.pack("<IIQQQQ", 1, 0, 0, MEM, UADDR, 0)
    c.send(SET_MEM_TABLE, region, fds=[memfd], flags=1 | NEED_REPLY)
    if struct.unpack("<Q", c.reply(SET_MEM_TABLE))[0] != 0:
        die("SET_MEM_TABLE refused")
    c.state(SET_VRING_NUM, 0, QSIZE)
    c.state(SET_VRING_BASE, 0, 0)
    c.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 0, UADDR + DESC, UADDR + USED,
                                       UADDR + AVAIL, 0))
    call = os.eventfd(0, os.EFD_NONBLOCK)
    kick = os.eventfd(0, os.EFD_NONBLOCK)
    c.send(SET_VRING_CALL, struct.pack("<Q", 0), fds=[call])
    c.send(SET_VRING_KICK, struct.pack("<Q", 0), fds=[kick])
    c.state(SET_VRING_ENABLE, 0, 1)
    return memfd, ram, kick, call


def publish(ram, length):
    """One writable buffer as descriptor 0, made available."""
    ram[DESC:DESC + 16] = struct.pack("<QIHH", BUF, length, VRING_DESC_F_WRITE, 0)
    ram[AVAIL + 4:AVAIL + 6] = struct.pack("<H", 0)
    ram[AVAIL + 2:AVAIL + 4] = struct.pack("<H", 1)


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("good", "shrink"):
        die("usage: vu_frontend.py SOCKET good|shrink")
    c = Conn(sys.argv[1])
    memfd, ram, kick, call = setup(c)
    publish(ram, 64)
    if sys.argv[2] == "shrink":
        ram.close()
        os.ftruncate(memfd, 0)  # the guest memory goes away under the back-end
        os.eventfd_write(kick, 1)
        r, _, _ = select.select([c.s], [], [], 10)
        if r and c.s.recv(1) == b"":
            print("shrink: dropped")
            return
        die("shrink: the back-end kept the connection")
    os.eventfd_write(kick, 1)
    end = time.time() + 10
    while time.time() < end:
        if struct.unpack("<H", ram[USED + 2:USED + 4])[0] == 1:
            break
        time.sleep(0.01)
    else:
        die("good: no used element")
    _, length = struct.unpack("<II", ram[USED + 4:USED + 12])
    data = ram[BUF:BUF + length]
    if length != 64 or data == bytes(64):
        die("good: used length %d, data %s" % (length, data.hex()))
    print("good: %d random bytes" % length)


if __name__ == "__main__":
    main()
