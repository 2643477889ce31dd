#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build the disk image for tests/guest/mbr/mbr.S.

Layout (512-byte sectors):
  0        the MBR, with the expected checksums patched in at 0x1F6 (CHS area) and 0x1FA (LBA)
  1..16    pseudo-random data read by INT 13h AH=02h (CHS)
  17..80   pseudo-random data read by INT 13h AH=42h (LBA)
  100      zeros; the MBR writes its marker sector here with AH=43h
The expected marker sector is written to --marker so a test can `cmp` it with the image.

  mkdisk.py --src mbr.S --out disk.img --marker marker.bin [--work DIR] [--size-mib N]
  mkdisk.py --mbr mbr.bin --out disk.img --marker marker.bin
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

SECTOR = 512
CHS_LBA, CHS_COUNT = 1, 16
LBA_LBA, LBA_COUNT = 17, 64
WR_LBA = 100
MARKER_TEXT = b"VIREO-MARKER\n"
OFF_CHS_SUM, OFF_LBA_SUM = 0x1F6, 0x1FA


def checksum(data):
    h = 0
    for (d,) in struct.iter_unpack("<I", data):
        h = ((h << 5) | (h >> 27)) & 0xFFFFFFFF
        h = ((h ^ d) + 0x9E3779B9) & 0xFFFFFFFF
    return h


def pattern(nbytes, seed=0x1234567):
    out = bytearray()
    x = seed
    while len(out) < nbytes:
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out += struct.pack("<I", x)
    return bytes(out[:nbytes])


def marker_sector():
    s = bytearray((3 * i + 0x5A) & 0xFF for i in range(SECTOR))
    s[: len(MARKER_TEXT)] = MARKER_TEXT
    return bytes(s)


def assemble(src, work):
    obj = os.path.join(work, "mbr.o")
    out = os.path.join(work, "mbr.bin")
    subprocess.run(["as", "--32", "-o", obj, src], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary",
                    "-o", out, obj], check=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--src", help="mbr.S to assemble with GNU as/ld")
    g.add_argument("--mbr", help="an assembled 512-byte mbr.bin")
    ap.add_argument("--out", required=True)
    ap.add_argument("--marker", required=True)
    ap.add_argument("--work", help="directory for mbr.o/mbr.bin (default: a temp dir)")
    ap.add_argument("--size-mib", type=int, default=2)
    a = ap.parse_args()

    if a.src:
        work = a.work or tempfile.mkdtemp(prefix="vireo-mbr.")
        mbr_path = assemble(a.src, work)
    else:
        mbr_path = a.mbr
    mbr = bytearray(open(mbr_path, "rb").read())
    if len(mbr) != SECTOR or mbr[510:512] != b"\x55\xaa":
        sys.exit("mkdisk: %s is not a 512-byte boot sector" % mbr_path)

    data = pattern((LBA_LBA + LBA_COUNT - CHS_LBA) * SECTOR)
    chs = data[: CHS_COUNT * SECTOR]
    lba = data[(LBA_LBA - CHS_LBA) * SECTOR:]
    struct.pack_into("<I", mbr, OFF_CHS_SUM, checksum(chs))
    struct.pack_into("<I", mbr, OFF_LBA_SUM, checksum(lba))

    size = a.size_mib * 1024 * 1024
    img = bytearray(size)
    img[0:SECTOR] = mbr
    img[CHS_LBA * SECTOR: CHS_LBA * SECTOR + len(data)] = data
    with open(a.out, "wb") as f:
        f.write(img)
    with open(a.marker, "wb") as f:
        f.write(marker_sector())
    print("mkdisk: %s: %d MiB, chs sum %08x, lba sum %08x, marker at LBA %d"
          % (a.out, a.size_mib, checksum(chs), checksum(lba), WR_LBA))


if __name__ == "__main__":
    main()
