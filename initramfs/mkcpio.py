#!/usr/bin/env python3
"""initramfs/mkcpio.py: write a reproducible newc cpio from contents.list.

usage: mkcpio.py LIST STAGE OUT

Reproducible by construction: entries sorted by path, owners 0:0, mtime 0,
inode numbers assigned in order, no hard links. No root is needed because
device nodes are written as cpio headers, never created on disk.
Every problem names the list file and line.
"""
import os
import stat
import subprocess
import sys


def fail(where, msg):
    sys.exit(f"mkcpio: {where}: {msg}")


def parse(list_path, stage):
    entries = {}     # path -> (kind, mode, extra, where)
    applet_dirs = []
    with open(list_path) as f:
        for no, raw in enumerate(f, 1):
            where = f"{list_path}:{no}"
            line = raw.split("#", 1)[0].split()
            if not line:
                continue
            kind, args = line[0], line[1:]
            need = {"dir": 2, "nod": 5, "slink": 2, "file": 3, "applets": 2}
            if kind not in need:
                fail(where, f"unknown entry type '{kind}'")
            if len(args) != need[kind]:
                fail(where, f"'{kind}' takes {need[kind]} fields, got {len(args)}")
            path = args[0]
            if not path.startswith("/") or "//" in path or path.endswith("/") \
                    or "/../" in path + "/":
                fail(where, f"bad path '{path}'")
            if kind == "applets":
                applet_dirs.append((path, args[1], where))
                continue
            if path in entries:
                fail(where, f"'{path}' already declared at {entries[path][3]}")
            if kind == "dir":
                entries[path] = ("dir", int(args[1], 8), None, where)
            elif kind == "nod":
                if args[2] not in ("c", "b"):
                    fail(where, "node type must be c or b")
                entries[path] = ("nod", int(args[1], 8),
                                 (args[2], int(args[3]), int(args[4])), where)
            elif kind == "slink":
                entries[path] = ("slink", 0o777, args[1], where)
            else:
                src = os.path.join(stage, args[2])
                if not os.path.isfile(src):
                    fail(where, f"source '{args[2]}' not found in staging dir")
                entries[path] = ("file", int(args[1], 8), src, where)
    # Applet symlinks never override an explicit entry (e.g. real bash).
    for d, bb, where in applet_dirs:
        if bb not in entries or entries[bb][0] != "file":
            fail(where, f"applets: '{bb}' must be declared as a file first")
        out = subprocess.run([entries[bb][2], "--list"], capture_output=True,
                             text=True)
        if out.returncode != 0:
            fail(where, f"'{bb} --list' failed")
        for name in out.stdout.split():
            p = f"{d}/{name}"
            if p not in entries:
                entries[p] = ("slink", 0o777, bb, where)
    return entries


def header(ino, mode, nlink, size, rdev, name):
    namez = name.encode() + b"\0"
    maj, mnr = rdev
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, maj, mnr, len(namez), 0]
    h = b"070701" + b"".join(b"%08x" % v for v in fields)
    h += namez
    return h + b"\0" * (-len(h) % 4)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    list_path, stage, out_path = sys.argv[1:]
    entries = parse(list_path, stage)
    # Every parent directory must be declared: a missing one is a list bug.
    for p, e in entries.items():
        parent = os.path.dirname(p)
        if parent != "/" and entries.get(parent, ("",))[0] != "dir":
            fail(e[3], f"parent directory '{parent}' is not declared")
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as out:
        for ino, path in enumerate(sorted(entries), 1):
            kind, mode, extra, _ = entries[path]
            name = path[1:]
            if kind == "dir":
                out.write(header(ino, stat.S_IFDIR | mode, 2, 0, (0, 0), name))
            elif kind == "nod":
                t = stat.S_IFCHR if extra[0] == "c" else stat.S_IFBLK
                out.write(header(ino, t | mode, 1, 0, (extra[1], extra[2]),
                                 name))
            elif kind == "slink":
                data = extra.encode()
                out.write(header(ino, stat.S_IFLNK | 0o777, 1, len(data),
                                 (0, 0), name))
                out.write(data + b"\0" * (-len(data) % 4))
            else:
                with open(extra, "rb") as f:
                    data = f.read()
                out.write(header(ino, stat.S_IFREG | mode, 1, len(data),
                                 (0, 0), name))
                out.write(data + b"\0" * (-len(data) % 4))
        out.write(header(0, 0, 1, 0, (0, 0), "TRAILER!!!"))
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main()
