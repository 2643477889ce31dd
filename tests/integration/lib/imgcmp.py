#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Picture checks for the display tests (Pillow, Debian python3-pil).

    imgcmp.py text PNG [MIN]            the picture shows text: print rows/columns statistics,
                                        exit 1 when it is uniform or has fewer than MIN
                                        (default 2000) ink/background transitions along rows
    imgcmp.py same A B [MAX_MEAN]       A and B are the same picture (B may be a JPEG: small
                                        per-pixel differences allowed); exit 1 otherwise
    imgcmp.py box PNG X Y W H           print the fraction of pixels in the box that differ
                                        from the picture's background colour
"""
import sys
from PIL import Image


def grey(path):
    return Image.open(path).convert("L")


def background(img):
    hist = img.histogram()
    return max(range(256), key=lambda v: hist[v])


def text(path, min_transitions=2000):
    img = grey(path)
    w, h = img.size
    px = img.load()
    bg = background(img)
    # A row is "inked" when some pixel in it is far from the background.
    inked = [y for y in range(h) if any(abs(px[x, y] - bg) > 64 for x in range(w))]
    uniform_rows = sum(1 for y in range(h) if len({px[x, y] for x in range(0, w, 1)}) == 1)
    # Text has many ink/background transitions along a row.
    transitions = 0
    for y in inked:
        prev = None
        for x in range(w):
            on = abs(px[x, y] - bg) > 64
            if prev is not None and on != prev:
                transitions += 1
            prev = on
    print(f"{w}x{h} background={bg} inked_rows={len(inked)} uniform_rows={uniform_rows} "
          f"transitions={transitions}")
    ok = len(inked) >= 16 and uniform_rows < h and transitions >= min_transitions
    return 0 if ok else 1


def same(a, b, max_mean=4.0):
    ia, ib = grey(a), grey(b)
    if ia.size != ib.size:
        print(f"sizes differ: {ia.size} vs {ib.size}")
        return 1
    pa, pb = ia.getdata(), ib.getdata()
    diffs = [abs(x - y) for x, y in zip(pa, pb)]
    mean = sum(diffs) / len(diffs)
    big = sum(1 for d in diffs if d > 96)
    print(f"{ia.size[0]}x{ia.size[1]} mean_abs_diff={mean:.3f} pixels_off_by_96+={big}")
    return 0 if mean <= max_mean and big <= len(diffs) // 1000 else 1


def box(path, x, y, w, h):
    img = grey(path)
    bg = background(img)
    px = img.load()
    n = sum(1 for j in range(y, y + h) for i in range(x, x + w) if abs(px[i, j] - bg) > 64)
    print(f"{n / (w * h):.4f}")
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "text":
        return text(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2000)
    if cmd == "same":
        return same(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 4.0)
    if cmd == "box":
        return box(sys.argv[2], *map(int, sys.argv[3:7]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
