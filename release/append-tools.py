#!/usr/bin/env python3
"""release/append-tools.py VOIDBOX TOOLS OUT: append the claude-code tools
image to a voidbox executable, making the single-file "full" binary.

Layout (read by host/util/trailer.c): the executable, zero padding to a
4 KiB boundary, the image, then a 64-byte trailer:
  magic "VBTOOLS1" | u64 offset | u64 length | sha256[32] | magic "VBTOOLZ1"
(little-endian). The kernel loads only the ELF's PT_LOAD segments, so the
appended bytes cost nothing at exec; the VMM serves the image to the guest
straight from the file (a window at `offset`), 4 KiB-aligned so guest
block reads stay page-aligned in the page cache.
"""
import hashlib
import os
import struct
import sys


def main():
    exe, tools, out = sys.argv[1:4]
    tmp = out + ".tmp"
    h = hashlib.sha256()
    with open(exe, "rb") as f:
        body = f.read()
    if body[-8:] == b"VBTOOLZ1":
        sys.exit("%s already carries a tools image" % exe)
    off = (len(body) + 4095) & ~4095
    with open(tmp, "wb") as o:
        o.write(body)
        o.write(b"\0" * (off - len(body)))
        n = 0
        with open(tools, "rb") as t:
            while True:
                chunk = t.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                o.write(chunk)
                n += len(chunk)
        o.write(b"VBTOOLS1" + struct.pack("<QQ", off, n) + h.digest() + b"VBTOOLZ1")
    os.chmod(tmp, 0o755)
    os.rename(tmp, out)


if __name__ == "__main__":
    main()
