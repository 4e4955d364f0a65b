#!/usr/bin/env python3
"""tests/unit/mk_layers.py DIR: the layer blobs test_layers applies, made
with Python's tarfile (an independent tar writer): two good layers and
the hostile ones, each named for what it tests."""
import gzip, io, os, subprocess, sys, tarfile

d = sys.argv[1]


def add(t, name, data=None, **kw):
    ti = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(ti, k, v)
    if data is not None:
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    else:
        t.addfile(ti)


def layer(name, fmt, entries, gz=True):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            add(t, *e[:2], **e[2] if len(e) > 2 else {})
    raw = buf.getvalue()
    with open(os.path.join(d, name), "wb") as f:
        f.write(gzip.compress(raw, mtime=0) if gz else raw)
    return raw


DIR, REG, SYM, LNK, CHR = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE
deep = "deep/" + "/".join(["component-%02d" % i for i in range(12)]) + "/file.txt"
layer("l0.tar.gz", tarfile.PAX_FORMAT, [
    ("etc", None, dict(type=DIR, mode=0o755)),
    ("etc/passwd", b"root:x:0:0\n", dict(mode=0o644, mtime=1700000000.25)),
    ("bin/tool", b"T" * 70000, dict(mode=0o4755, uid=3000000, gid=3000001)),
    ("bin/sh", None, dict(type=SYM, linkname="busybox")),
    ("bin/tool-link", None, dict(type=LNK, linkname="bin/tool")),
    ("dev/null", None, dict(type=CHR, mode=0o666, devmajor=1, devminor=3)),
    (deep, b"deep\n"),
    ("opq/old", b"old"),
    ("gone/x", b"x"),
    ("replaced", b"one"),
])
layer("l1.tar", tarfile.GNU_FORMAT, [
    ("gone/.wh..wh..opq", b""),		# harmless: gone goes anyway
    (".wh.gone", b""),
    ("opq/.wh..wh..opq", b""),
    ("opq/new", b"new"),
    ("replaced", b"two"),
    ("gnu/" + "g" * 150, b"gnu long name"),
], gz=False)

good = layer("one.tar", tarfile.USTAR_FORMAT, [("a", b"a" * 1000)], gz=False)
bad = bytearray(good)
bad[0] ^= 1					# name changed, checksum not
open(os.path.join(d, "bad-checksum.tar"), "wb").write(bad)
open(os.path.join(d, "truncated.tar"), "wb").write(good[:700])
gzgood = gzip.compress(good, mtime=0)
open(os.path.join(d, "truncated.tar.gz"), "wb").write(gzgood[:len(gzgood) // 2])
corrupt = bytearray(gzgood)
corrupt[20] ^= 0xff
open(os.path.join(d, "corrupt.tar.gz"), "wb").write(corrupt)
layer("traversal.tar", tarfile.USTAR_FORMAT, [("../../evil", b"x")], gz=False)
layer("bomb.tar.gz", tarfile.USTAR_FORMAT, [("zeros", bytes(64 << 20))])
# zstd (the CLI writes it: Python 3.11 has no zstd): the second layer, a
# truncated one, two frames in a row, and a bomb.
def zstd(src, dst, *opt):
    subprocess.run(["zstd", "-q", "-f", *opt, os.path.join(d, src), "-o", os.path.join(d, dst)],
                   check=True)
zstd("l1.tar", "l1.tar.zst")
z = open(os.path.join(d, "l1.tar.zst"), "rb").read()
open(os.path.join(d, "truncated.tar.zst"), "wb").write(z[:len(z) // 2])
bad = bytearray(z)
bad[len(z) // 2] ^= 0xff		# a damaged block (or its checksum)
open(os.path.join(d, "zstd.tar.zst"), "wb").write(bad)
half = len(good) // 1024 * 512
open(os.path.join(d, "one-a"), "wb").write(good[:half])
open(os.path.join(d, "one-b"), "wb").write(good[half:])
zstd("one-a", "one-a.zst")
zstd("one-b", "one-b.zst")
open(os.path.join(d, "frames.tar.zst"), "wb").write(
    open(os.path.join(d, "one-a.zst"), "rb").read() + open(os.path.join(d, "one-b.zst"), "rb").read())
open(os.path.join(d, "bomb.tar"), "wb").write(gzip.decompress(open(os.path.join(d, "bomb.tar.gz"), "rb").read()))
zstd("bomb.tar", "bomb.tar.zst", "-19")
os.unlink(os.path.join(d, "bomb.tar"))
# A GNU long name past 4,096 bytes, and a pax record with a bad length.
layer("longname.tar", tarfile.GNU_FORMAT, [("n/" + "x" * 5000, b"x")], gz=False)
pax = bytearray(layer("pax.tar", tarfile.PAX_FORMAT, [("p/" + "y" * 200, b"y")], gz=False))
i = pax.index(b" path=")
pax[i - 3:i] = b"999"			# the record claims more than there is
hdr = pax[:512]
hdr[148:156] = b"        "
hdr[148:156] = b"%06o\0 " % sum(hdr)
pax[:512] = hdr
open(os.path.join(d, "bad-pax.tar"), "wb").write(pax)
