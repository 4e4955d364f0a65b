#!/usr/bin/env python3
"""tests/image/mk_pyimage.py TOOLBOX_ROOT BUSYBOX OUT.tar.gz: a real image
for the nested tests: Debian 12's python3 (from the toolbox tree, itself
built from pinned Debian packages) on a busybox base, written as a
gzipped `docker save` archive with two layers, so an import exercises
layering, a whiteout and an opaque directory on real files.

  layer 1 (base)    busybox + applet links, /etc (passwd, os-release),
                    /etc/removed, /opt/old/{a,b}, /srv
  layer 2 (python)  python3.11 with its stdlib and the libraries it
                    loads; /etc/.wh.removed; /opt/old/.wh..wh..opq + new
  config            Env PATH, PYTHONDONTWRITEBYTECODE, IMAGE_MARK;
                    WorkingDir /srv; User nobody (not applied: the doc)
"""
import gzip, hashlib, io, json, os, sys, tarfile

root, busybox, out = sys.argv[1:4]

APPLETS = ("sh ls cat echo id env grep touch rm mkdir sed wc head tr test uname true false "
           "cp mv ln chmod sleep").split()
LIBS = ["libc.so.6", "libm.so.6", "libz.so.1", "libexpat.so.1", "ld-linux-x86-64.so.2",
        "libffi.so.8", "libbz2.so.1.0", "liblzma.so.5", "libuuid.so.1"]
SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "__pycache__"}


class Layer:
    def __init__(self):
        self.buf = io.BytesIO()
        self.t = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def add(self, name, data=b"", mode=0o644, kind=tarfile.REGTYPE, link=""):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.linkname, ti.mtime = kind, mode, link, 0
        ti.size = len(data) if kind == tarfile.REGTYPE else 0
        self.t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

    def dir(self, name, mode=0o755):
        self.add(name, mode=mode, kind=tarfile.DIRTYPE)

    def file(self, name, path):
        """A host file, links followed (the image gets the content)."""
        st = os.stat(path)
        self.add(name, open(path, "rb").read(), st.st_mode & 0o755 or 0o644)

    def bytes(self):
        self.t.close()
        return self.buf.getvalue()


def sha(b):
    return hashlib.sha256(b).hexdigest()


base = Layer()
for d in ("bin", "etc", "opt", "opt/old", "srv", "tmp", "usr", "usr/bin", "usr/lib"):
    base.dir(d, 0o1777 if d == "tmp" else 0o755)
base.file("bin/busybox", busybox)
for a in APPLETS:
    base.add("bin/" + a, kind=tarfile.SYMTYPE, link="busybox")
base.add("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
base.add("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
base.add("etc/os-release", b'NAME="voidbox test python"\nID=vbtest\n')
base.add("etc/removed", b"layer 2 whites this out\n")
base.add("opt/old/a", b"a\n")
base.add("opt/old/b", b"b\n")

py = Layer()
gnu = "usr/lib/x86_64-linux-gnu"
py.dir(gnu)
py.dir("lib64")
for lib in LIBS:
    p = os.path.join(root, gnu, lib)
    if os.path.exists(p):
        py.file(gnu + "/" + lib, p)
py.add("lib64/ld-linux-x86-64.so.2", kind=tarfile.SYMTYPE,
       link="/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
py.file("usr/bin/python3.11", os.path.join(root, "usr/bin/python3.11"))
py.add("usr/bin/python3", kind=tarfile.SYMTYPE, link="python3.11")
std = os.path.join(root, "usr/lib/python3.11")
for dirpath, dirs, files in os.walk(std):
    dirs[:] = sorted(x for x in dirs if x not in SKIP)
    rel = os.path.relpath(dirpath, root)
    py.dir(rel)
    for f in sorted(files):
        p = os.path.join(dirpath, f)
        if os.path.isfile(p):
            py.file(rel + "/" + f, p)
py.add("etc/.wh.removed")
py.dir("opt/old")
py.add("opt/old/.wh..wh..opq")
py.add("opt/old/new", b"new\n")

layers = [base.bytes(), py.bytes()]
cfg = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1",
                       "IMAGE_MARK=voidbox-test"],
               "WorkingDir": "/srv", "User": "nobody", "Cmd": ["python3"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(x) for x in layers]},
}).encode()
names = ["%s/layer.tar" % sha(x) for x in layers]
files = [("manifest.json", json.dumps([{"Config": sha(cfg) + ".json",
                                         "RepoTags": ["voidbox-test/python:3.11"],
                                         "Layers": names}]).encode()),
         (sha(cfg) + ".json", cfg)] + list(zip(names, layers))
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    for name, data in files:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime = len(data), 0
        t.addfile(ti, io.BytesIO(data))
with open(out + ".tmp", "wb") as f:
    f.write(gzip.compress(buf.getvalue(), compresslevel=6, mtime=0))
os.rename(out + ".tmp", out)
print("%s: %d + %d bytes of layers" % (out, len(layers[0]), len(layers[1])))
