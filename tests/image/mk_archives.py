#!/usr/bin/env python3
"""tests/image/mk_archives.py DIR: image archives in the formats voidbox
imports, written here from the specs (Docker's `docker save` legacy
layout, OCI image layout v1, Docker 25's OCI-in-tar) with Python's
tarfile: the good ones and the hostile ones test_import refuses."""
import gzip, hashlib, io, json, os, shutil, sys, tarfile

d = sys.argv[1]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def tarball(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mode = 0o755 if name.startswith("bin/") else 0o644
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


L1 = tarball([("etc/os-release", b"ID=test\n"), ("bin/hello", b"#!/bin/sh\necho hello\n"),
              ("app/old.txt", b"old\n")])
L2 = tarball([("app/main.py", b"print('hi')\n"), ("app/.wh.old.txt", b"")])
BOMB = tarball([("zeros", bytes(64 << 20))])


def config(diff_ids, arch="amd64"):
    return json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin", "APP=1"], "WorkingDir": "/app",
                   "User": "1000", "Cmd": ["python3", "main.py"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(x) for x in diff_ids]},
    }).encode()


def write_tar(path, files, gz=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    open(os.path.join(d, path), "wb").write(gzip.compress(raw, mtime=0) if gz else raw)


# 1. docker save, legacy layout (uncompressed layer.tar files).
cfg = config([L1, L2])
legacy = [("manifest.json", json.dumps([{"Config": sha(cfg) + ".json",
                                          "RepoTags": ["example/app:1"],
                                          "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]).encode()),
          (sha(cfg) + ".json", cfg), ("aaa/layer.tar", L1), ("bbb/layer.tar", L2),
          ("repositories", b"{}")]
write_tar("docker-legacy.tar", legacy)
write_tar("docker-legacy.tar.gz", legacy, gz=True)
write_tar("missing-layer.tar", [e for e in legacy if e[0] != "bbb/layer.tar"])
write_tar("not-an-image.tar", [("hello.txt", b"hi")])


# 2. OCI layout: gzip layers, a multi-platform index.
def layout(layers, archs=("amd64", "arm64"), name="example/app:2", nested=False, bad=None):
    blobs, descs = {}, []
    for l in layers:
        z = gzip.compress(l, mtime=0)
        blobs[sha(z)] = z
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": "sha256:" + sha(z), "size": len(z)})
    mans = []
    for a in archs:
        c = config(layers, a)
        blobs[sha(c)] = c
        m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                   "digest": "sha256:" + sha(c), "size": len(c)},
                        "layers": descs}).encode()
        blobs[sha(m)] = m
        mans.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "digest": "sha256:" + sha(m), "size": len(m),
                     "platform": {"architecture": a, "os": "linux"}})
    idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": mans}
    if nested:	# Docker 25: index.json -> one image index blob -> manifests
        inner = json.dumps(idx).encode()
        blobs[sha(inner)] = inner
        idx = {"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": "sha256:" + sha(inner), "size": len(inner),
            "annotations": {"io.containerd.image.name": "docker.io/example/app:3"}}]}
    else:
        for m in idx["manifests"]:
            m["annotations"] = {"org.opencontainers.image.ref.name": name}
    files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", json.dumps(idx).encode())]
    for h, b in blobs.items():
        files.append(("blobs/sha256/" + h, b))
    if bad:
        files = bad(files)
    return files


def as_dir(name, files):
    root = os.path.join(d, name)
    shutil.rmtree(root, ignore_errors=True)
    for p, b in files:
        os.makedirs(os.path.dirname(os.path.join(root, p)), exist_ok=True)
        open(os.path.join(root, p), "wb").write(b)


as_dir("oci-dir", layout([L1, L2]))
write_tar("oci-archive.tar", layout([L1, L2], nested=True))
as_dir("arm-only", layout([L1], archs=("arm64",)))
as_dir("bomb-dir", layout([BOMB], archs=("amd64",)))


def corrupt(files):
    out = []
    for p, b in files:
        if p.startswith("blobs/") and b[:2] == b"\x1f\x8b":
            b = b[:-1] + bytes([b[-1] ^ 1])
        out.append((p, b))
    return out


write_tar("bad-blob.tar", layout([L1], archs=("amd64",), bad=corrupt))
write_tar("bad-blob-name.tar", layout([L1], archs=("amd64",),
                                        bad=lambda f: f + [("blobs/sha256/../../escape", b"x")]))
