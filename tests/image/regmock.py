#!/usr/bin/env python3
"""tests/image/regmock.py: the registry side of tests/image/registry.sh.

  push ARCHIVE URL REPO TAG [--ca F] [--user U --password P] [--index ARCHS]
      push a `docker save` archive (gzip layers, a Docker v2 manifest) to a
      real registry, answering its Basic or Bearer challenge; --index
      amd64,arm64 pushes one manifest per architecture under an OCI index
      (the arm64 one only differs by its config). Prints the digest of
      what TAG names.
  token PORT_FILE KEY CERT USER PASSWORD ISSUER SERVICE
      a token server for the registry's `auth: token`: Basic credentials
      in, an RS256 JWT (x5c: CERT, signed with openssl) out.
  mock PORT_FILE ARCHIVE LOG
      a hostile registry (plain HTTP): repos good, corrupt (a layer's
      bytes do not match its digest), cut (the first GET of each layer is
      cut half way; Range is honoured after), big (a layer longer than
      its descriptor), bomb (one layer of 24 MiB zeros), liar (any
      manifest digest answered with a document of another). LOG gets one
      line per request with its Range header.
"""
import base64, gzip, re, hashlib, http.server, io, json, os, ssl, subprocess, sys, tarfile, time
import urllib.error, urllib.parse, urllib.request

D_LIST = "application/vnd.docker.distribution.manifest.v2+json"
D_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
D_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def load_archive(path):
    """(config dict, [layer tar bytes]) of a docker save archive."""
    with tarfile.open(path, "r:*") as t:
        files = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    man = json.loads(files["manifest.json"])[0]
    return json.loads(files[man["Config"]]), [files[l] for l in man["Layers"]]


def image_blobs(cfg, layers, arch="amd64"):
    """{digest: bytes} and the manifest bytes of one image."""
    cfg = dict(cfg, architecture=arch)
    cfg["rootfs"] = {"type": "layers", "diff_ids": [sha(l) for l in layers]}
    cb = json.dumps(cfg).encode()
    gz = [gzip.compress(l, mtime=0) for l in layers]
    blobs = {sha(cb): cb, **{sha(g): g for g in gz}}
    man = json.dumps({"schemaVersion": 2, "mediaType": D_LIST,
                      "config": {"mediaType": D_CONFIG, "digest": sha(cb), "size": len(cb)},
                      "layers": [{"mediaType": D_LAYER, "digest": sha(g), "size": len(g)}
                                 for g in gz]}).encode()
    return blobs, man


class Client:
    def __init__(self, url, ca, user, password):
        self.url, self.user, self.password, self.auth = url, user, password, None
        self.ctx = ssl.create_default_context(cafile=ca) if ca else None

    def req(self, method, path, data=None, headers=None, retry=True):
        u = path if path.startswith("http") else self.url + path
        h = dict(headers or {})
        if self.auth:
            h["Authorization"] = self.auth
        r = urllib.request.Request(u, data=data, method=method, headers=h)
        try:
            return urllib.request.urlopen(r, context=self.ctx)
        except urllib.error.HTTPError as e:
            if e.code != 401 or not retry:
                raise
            self.challenge(e.headers["WWW-Authenticate"])
            return self.req(method, path, data, headers, retry=False)

    def challenge(self, ch):
        basic = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if ch.startswith("Basic"):
            self.auth = basic
            return
        params = dict(re.findall(r'(\w+)="([^"]*)"', ch))
        scope = params.get("scope", "")
        q = urllib.parse.urlencode({"service": params["service"], "scope": scope})
        r = urllib.request.Request(params["realm"] + "?" + q, headers={"Authorization": basic})
        tok = json.loads(urllib.request.urlopen(r).read())["token"]
        self.auth = "Bearer " + tok

    def blob(self, repo, digest, data):
        try:
            self.req("HEAD", f"/v2/{repo}/blobs/{digest}")
            return
        except urllib.error.HTTPError:
            pass
        r = self.req("POST", f"/v2/{repo}/blobs/uploads/", b"")
        loc = r.headers["Location"]
        if loc.startswith("/"):
            loc = self.url + loc
        sep = "&" if "?" in loc else "?"
        self.req("PUT", f"{loc}{sep}digest={digest}", data,
                 {"Content-Type": "application/octet-stream"})

    def manifest(self, repo, ref, body, mt):
        self.req("PUT", f"/v2/{repo}/manifests/{ref}", body, {"Content-Type": mt})


def push(argv):
    archive, url, repo, tag = argv[:4]
    opts = dict(zip(argv[4::2], argv[5::2]))
    c = Client(url, opts.get("--ca"), opts.get("--user", ""), opts.get("--password", ""))
    cfg, layers = load_archive(archive)
    archs = opts.get("--index", "").split(",") if "--index" in opts else None
    mans = []
    for arch in archs or ["amd64"]:
        blobs, man = image_blobs(cfg, layers, arch)
        for d, b in blobs.items():
            c.blob(repo, d, b)
        c.manifest(repo, sha(man), man, D_LIST)
        mans.append((arch, man))
    if archs is None:
        c.manifest(repo, tag, mans[0][1], D_LIST)
        print(sha(mans[0][1]))
        return
    idx = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": D_LIST, "digest": sha(m), "size": len(m),
         "platform": {"os": "linux", "architecture": a}} for a, m in mans]}).encode()
    c.manifest(repo, tag, idx, OCI_INDEX)
    print(sha(idx))


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(argv):
    port_file, key, cert, user, password, issuer, service = argv
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.headers.get("Authorization") != want:
                self.send_response(401)
                self.end_headers()
                return
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            access = []
            for s in q.get("scope", []):
                kind, name, actions = s.split(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            head = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
            claims = {"iss": issuer, "sub": user, "aud": service, "exp": now + 600,
                      "nbf": now - 30, "iat": now, "jti": os.urandom(8).hex(), "access": access}
            signing = b64u(json.dumps(head).encode()) + "." + b64u(json.dumps(claims).encode())
            sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                                 capture_output=True, check=True).stdout
            body = json.dumps({"token": signing + "." + b64u(sig)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    serve(H, port_file)


def serve(handler, port_file):
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(s.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    s.serve_forever()


def mock(argv):
    port_file, archive, log = argv
    cfg, layers = load_archive(archive)
    one = image_blobs(cfg, layers)
    repos = {name: one for name in ("good", "corrupt", "cut", "big", "liar")}
    repos["bomb"] = image_blobs(cfg, [layers[0], tar_of_zeros(24 << 20)])
    cut_done = set()
    logf = open(log, "a", buffering=1)

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, code, body=b"", ctype="application/octet-stream", extra=None, length=None):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            rng = self.headers.get("Range", "")
            logf.write(f"{self.path} {rng}\n")
            parts = self.path.split("/")
            if self.path == "/v2/":
                return self.send(200, b"{}", "application/json")
            if len(parts) != 5 or parts[1] != "v2" or parts[2] not in repos:
                return self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no such repo"}]}',
                                 "application/json")
            repo, kind, ref = parts[2], parts[3], parts[4]
            blobs, man = repos[repo]
            if kind == "manifests":
                if repo == "liar" and ref.startswith("sha256:"):
                    # any digest asked for: the same (other) manifest
                    return self.send(200, man + b" ", D_LIST)
                if ref not in ("1", sha(man)):
                    return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN",'
                                     b'"message":"manifest unknown"}]}', "application/json")
                return self.send(200, man, D_LIST, {"Docker-Content-Digest": sha(man)})
            if kind != "blobs" or ref not in blobs:
                return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}',
                                 "application/json")
            data = blobs[ref]
            is_layer = not data.startswith(b"{")
            if repo == "corrupt" and is_layer:
                data = data[:-1] + bytes([data[-1] ^ 1])
            if repo == "big" and is_layer:
                data = data + b"\0" * 4096
            start = int(rng[6:].split("-")[0]) if rng.startswith("bytes=") else 0
            if repo == "cut" and is_layer and ref not in cut_done:
                cut_done.add(ref)
                half = len(data) // 2
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:half])
                self.wfile.flush()
                self.close_connection = True
                return
            if start:
                return self.send(206, data[start:], extra={
                    "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
            self.send(200, data)

    serve(H, port_file)


def tar_of_zeros(n):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("zeros")
        ti.size = n
        t.addfile(ti, io.BytesIO(bytes(n)))
    return buf.getvalue()


if __name__ == "__main__":
    {"push": push, "token": token, "mock": mock}[sys.argv[1]](sys.argv[2:])
