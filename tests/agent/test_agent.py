#!/usr/bin/env python3
"""tests/agent/test_agent.py: the guest agent in test mode, over its wire.

Starts build/voidbox-agent --listen-unix in a temporary directory and
speaks proto/agent_abi.h with struct (message numbers and limits are read
from the header itself, so the test follows the contract). One line per
check: "PASS: agent-<name>" or "FAIL: agent-<name>: reason"; the exit
status is nonzero if any check failed. Every wait has a timeout and every
check runs under an alarm, so a broken agent cannot hang the suite.

Run as root it also checks that commands drop to uid 1000 by default.
"""
import errno
import hashlib
import itertools
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT = os.environ.get("VOIDBOX_AGENT", os.path.join(TOP, "build", "voidbox-agent"))
ABI_H = os.path.join(TOP, "proto", "agent_abi.h")
CHECK_SECONDS = 60


def load_abi(path):
    """Message numbers and constants from the header, so they cannot drift."""
    text = open(path).read()
    body = re.search(r"enum agent_msg \{(.*?)\};", text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    msg, n = {}, 0
    for m in re.finditer(r"AGENT_MSG_(\w+)(\s*=\s*(\d+))?", body):
        n = int(m.group(3)) if m.group(3) else n + 1
        msg[m.group(1)] = n
    consts = {}
    for name in ("AGENT_ABI_VERSION", "AGENT_MAGIC", "AGENT_FRAME_MAX",
                 "AGENT_CHUNK", "AGENT_EXEC_STDIN", "AGENT_EXEC_ROOT",
                 "AGENT_EXEC_PARK", "AGENT_EXEC_TTY", "AGENT_PARK_MAX",
                 "AGENT_FILE_MKPARENTS", "AGENT_FILE_APPEND"):
        expr = re.search(r"#define %s\s+([^/\n]+)" % name, text).group(1)
        consts[name] = int(eval(expr.replace("u", "")))
    ready = re.search(r'#define AGENT_READY_LINE "([^"]+)"', text).group(1)
    return msg, consts, ready


M, C, READY_LINE = load_abi(ABI_H)
MAGIC = C["AGENT_MAGIC"]
HDR = struct.Struct("<IHHII")
EXIT = struct.Struct("<IiIIQQQQ")
STAT = struct.Struct("<IIIIQq")
TELEM = struct.Struct("<QQQQQQIIII")
EXIT_CODE, EXIT_SIGNAL = 1, 2
ids = itertools.count(1)


class AgentError(Exception):
    def __init__(self, err, msg):
        super().__init__("%s (%s): %s" % (errno.errorcode.get(err, err), err, msg))
        self.err, self.msg = err, msg


class Conn:
    """One connection; a reader thread sorts frames into per-req_id queues."""

    def __init__(self, path, secret=None, hello=True):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.queues, self.lock, self.send_lock = {}, threading.Lock(), threading.Lock()
        self.closed = threading.Event()
        self.go = threading.Event()
        self.go.set()
        threading.Thread(target=self._reader, daemon=True).start()
        if hello:
            self.hello(secret)

    def _recvn(self, n):
        buf = bytearray()
        while len(buf) < n:
            self.go.wait()
            try:
                chunk = self.s.recv(min(n - len(buf), 1 << 20))
            except socket.timeout:
                continue
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _reader(self):
        try:
            while True:
                magic, typ, _, rid, ln = HDR.unpack(self._recvn(HDR.size))
                if magic != MAGIC:
                    raise ValueError("bad magic from agent")
                self.q(rid).put((typ, self._recvn(ln) if ln else b""))
        except Exception:
            pass
        with self.lock:
            self.closed.set()
            for q in self.queues.values():
                q.put(None)

    def q(self, rid):
        with self.lock:
            if rid not in self.queues:
                self.queues[rid] = queue.Queue()
                if self.closed.is_set():
                    self.queues[rid].put(None)
            return self.queues[rid]

    def send(self, typ, rid, payload=b"", raw=None):
        data = raw if raw is not None else HDR.pack(MAGIC, typ, 0, rid, len(payload)) + payload
        with self.send_lock:
            self.s.sendall(data)

    def get(self, rid, timeout=30):
        try:
            item = self.q(rid).get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no frame for req %d in %ss" % (rid, timeout))
        if item is None:
            raise EOFError("connection closed by agent")
        return item

    def pending(self, rid):
        return self.q(rid).qsize()

    def hello(self, secret, abi=None):
        abi = C["AGENT_ABI_VERSION"] if abi is None else abi
        self.send(M["HELLO"], 0, struct.pack("<II32s", abi, 0, secret))
        typ, p = self.get(0)
        if typ == M["ERROR"]:
            raise error_of(p)
        if typ != M["HELLO_OK"]:
            raise AssertionError("HELLO answered with type %d" % typ)
        return struct.unpack("<IIQ", p)

    def wait_closed(self, timeout=5):
        return self.closed.wait(timeout)

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()


def error_of(p):
    err, _ = struct.unpack_from("<iI", p)
    return AgentError(err, p[8:].decode(errors="replace"))


def request(c, typ, payload=b"", timeout=30):
    """A request whose answer is one OK or ERROR frame."""
    rid = next(ids)
    c.send(typ, rid, payload)
    t, p = c.get(rid, timeout)
    if t == M["ERROR"]:
        raise error_of(p)
    if t != M["OK"]:
        raise AssertionError("expected OK, got type %d" % t)
    return p


def expect_error(fn, want):
    try:
        fn()
    except AgentError as e:
        if e.err != want:
            raise AssertionError("wanted %s, got %s" % (errno.errorcode[want], e))
        return e
    raise AssertionError("wanted %s, got success" % errno.errorcode[want])


def strings(*ss):
    return b"".join(s.encode() + b"\0" for s in ss)


def exec_hdr(flags, uid, gid, timeout_ms, argc, envc, rows=0, cols=0):
    """struct agent_exec (32 bytes)."""
    return struct.pack("<IIIIIIHHI", flags, uid, gid, timeout_ms, argc, envc,
                       rows, cols, 0)


def exec_start(c, argv, env=(), cwd="", flags=0, timeout_ms=0, uid=0, gid=0,
               rows=0, cols=0):
    rid = next(ids)
    hdr = exec_hdr(flags, uid, gid, timeout_ms, len(argv), len(env), rows, cols)
    c.send(M["EXEC"], rid, hdr + strings(*argv) + strings(*env) + strings(cwd))
    return rid


class Result:
    def __init__(self):
        self.pid = None
        self.out, self.err = bytearray(), bytearray()
        self.out_len = 0
        self.out_hash = hashlib.sha256()
        self.exit = None
        self.t_exit = None


def collect(c, rid, timeout=30, keep_out=True, pid=None):
    """Frames of one exec up to its terminal frame; raises on ERROR.
    pid: STARTED was already taken off the queue by the caller."""
    r = Result()
    r.pid = pid
    deadline = time.monotonic() + timeout
    while True:
        t, p = c.get(rid, max(0.1, deadline - time.monotonic()))
        if t == M["STARTED"]:
            if r.pid is not None:
                raise AssertionError("second STARTED")
            r.pid = struct.unpack("<iI", p)[0]
        elif t == M["STDOUT"]:
            if len(p) > C["AGENT_CHUNK"]:
                raise AssertionError("STDOUT frame of %d bytes" % len(p))
            r.out_len += len(p)
            r.out_hash.update(p)
            if keep_out:
                r.out += p
        elif t == M["STDERR"]:
            r.err += p
        elif t == M["EXIT"]:
            if r.pid is None:
                raise AssertionError("EXIT before STARTED")
            r.exit = EXIT.unpack(p)
            r.t_exit = time.monotonic()
            return r
        elif t == M["ERROR"]:
            raise error_of(p)
        else:
            raise AssertionError("unexpected frame type %d" % t)


def run(c, argv, timeout=30, **kw):
    return collect(c, exec_start(c, argv, **kw), timeout)


def file_req(typ, path, flags=0, mode=0):
    b = path.encode() + b"\0"
    return struct.pack("<IIII", flags, mode, len(b), 0) + b


def put(c, path, data, flags=0, mode=0, chunk=256 << 10):
    rid = next(ids)
    c.send(M["FILE_PUT"], rid, file_req(M["FILE_PUT"], path, flags, mode))
    for off in range(0, len(data), chunk):
        c.send(M["FILE_DATA"], rid, data[off:off + chunk])
    c.send(M["FILE_DATA"], rid, b"")
    t, p = c.get(rid)
    if t == M["ERROR"]:
        raise error_of(p)
    if t != M["OK"]:
        raise AssertionError("PUT answered with type %d" % t)
    return struct.unpack("<Q", p)[0]


def get(c, path, timeout=60):
    rid = next(ids)
    c.send(M["FILE_GET"], rid, file_req(M["FILE_GET"], path))
    data = bytearray()
    while True:
        t, p = c.get(rid, timeout)
        if t == M["FILE_DATA"]:
            data += p
        elif t == M["FILE_END"]:
            return bytes(data), STAT.unpack(p)
        elif t == M["ERROR"]:
            raise error_of(p)
        else:
            raise AssertionError("GET answered with type %d" % t)


def stat(c, path):
    return STAT.unpack(request(c, M["STAT"], file_req(M["STAT"], path)))


def group_gone(pgid, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Skip(Exception):
    pass


class Suite:
    def __init__(self):
        self.failed = 0
        self.tmp = tempfile.mkdtemp(prefix="vb-agent-")
        os.chmod(self.tmp, 0o755)	# uid 1000 must reach its workspace
        self.sock = os.path.join(self.tmp, "agent.sock")
        self.secret = os.urandom(32)
        self.log = open(os.path.join(self.tmp, "agent.log"), "w+")
        self.root = os.geteuid() == 0
        self.proc = subprocess.Popen(
            [AGENT, "--listen-unix", self.sock, "--secret", self.secret.hex(),
             "--workspace", self.tmp],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)

    def path(self, p):
        return os.path.join(self.tmp, p.lstrip("/"))

    def conn(self, **kw):
        return Conn(self.sock, self.secret, **kw)

    def check(self, name, fn, limit=CHECK_SECONDS):
        def alarm(*_):
            raise TimeoutError("check took over %d s" % limit)
        signal.signal(signal.SIGALRM, alarm)
        signal.alarm(limit)
        try:
            fn()
            print("PASS: agent-%s" % name, flush=True)
        except Skip as e:
            print("SKIP: agent-%s: %s" % (name, e), flush=True)
        except BaseException as e:
            self.failed += 1
            print("FAIL: agent-%s: %s: %s" % (name, type(e).__name__, e), flush=True)
        finally:
            signal.alarm(0)
        if self.proc.poll() is not None and name not in ("poweroff",):
            raise SystemExit("agent died (rc %s) during %s" % (self.proc.returncode, name))

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.seek(0)
        log = self.log.read()
        if self.failed and log:
            print("--- agent log ---\n" + log[-4000:])
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    if not os.access(AGENT, os.X_OK):
        print("FAIL: agent-binary: %s not built (make build/voidbox-agent)" % AGENT)
        return 1
    s = Suite()
    try:
        tests(s)
    except SystemExit as e:
        s.failed += 1
        print("FAIL: agent-alive: %s" % e)
    finally:
        s.close()
    return 1 if s.failed else 0


def tests(s):
    def ready():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            s.log.seek(0)
            if READY_LINE in s.log.read() and os.path.exists(s.sock):
                return
            if s.proc.poll() is not None:
                raise AssertionError("agent exited with %d" % s.proc.returncode)
            time.sleep(0.02)
        raise TimeoutError("no ready line")
    s.check("ready", ready)
    main_conn = []

    def auth():
        c = s.conn()
        expect_error(lambda: Conn(s.sock, os.urandom(32)), errno.EACCES)
        bad = Conn(s.sock, hello=False)
        expect_error(lambda: bad.hello(s.secret, abi=99), errno.EPROTONOSUPPORT)
        if not bad.wait_closed():
            raise AssertionError("connection open after bad ABI")
        pre = Conn(s.sock, hello=False)
        rid = exec_start(pre, ["true"])
        t, p = pre.get(rid)
        if t != M["ERROR"] or not pre.wait_closed():
            raise AssertionError("EXEC before HELLO was not refused")
        stat(c, "/workspace")
        main_conn.append(c)
    s.check("auth", auth)
    c = main_conn[0] if main_conn else s.conn()

    def garbage():
        g = s.conn()
        g.send(0, 0, raw=b"\xde\xad\xbe\xef" * 8)
        o = s.conn()
        o.send(M["STAT"], 1, raw=HDR.pack(MAGIC, M["STAT"], 0, 1, C["AGENT_FRAME_MAX"] + 1))
        t = s.conn()
        t.send(0, 0, raw=HDR.pack(MAGIC, M["MAX"], 0, 1, 0))
        for name, x in (("garbage", g), ("oversized", o), ("bad type", t)):
            if not x.wait_closed():
                raise AssertionError("%s frame did not close its connection" % name)
        stat(c, "/workspace")	# the others are unaffected
        if run(c, ["true"]).exit is None:
            raise AssertionError("no exit")
    # POLICY must come before the first EXEC, so it is the first thing run.
    allow = ["sh", "cat", "true", "id", "sleep", "/usr/bin/uname"]

    def policy():
        names = strings(*allow)
        request(c, M["POLICY"], struct.pack("<IIIIQ", len(allow), 0, 0, 0, 0) + names)
        expect_error(lambda: request(c, M["POLICY"], struct.pack("<IIIIQ", 0, 0, 0, 0, 0)),
                     errno.EPERM)
    s.check("policy", policy)
    s.check("malformed-frames", garbage)

    def exit_codes():
        r = run(c, ["true"])
        if r.exit[:2] != (EXIT_CODE, 0):
            raise AssertionError("true: %r" % (r.exit[:2],))
        r = run(c, ["sh", "-c", "exit 3"])
        if r.exit[:2] != (EXIT_CODE, 3):
            raise AssertionError("exit 3: %r" % (r.exit[:2],))
        if r.exit[7] <= 0:
            raise AssertionError("wall_us is 0")
    s.check("exit-codes", exit_codes)

    def signals():
        r = run(c, ["sh", "-c", "kill -TERM $$"])
        if r.exit[:2] != (EXIT_SIGNAL, signal.SIGTERM):
            raise AssertionError("self-kill: %r" % (r.exit[:2],))
        rid = exec_start(c, ["sleep", "100"])
        t, p = c.get(rid)
        if t != M["STARTED"]:
            raise AssertionError("no STARTED")
        c.send(M["SIGNAL"], rid, struct.pack("<iI", signal.SIGKILL, 0))
        r = collect(c, rid, 10, pid=struct.unpack("<iI", p)[0])
        if r.exit[:2] != (EXIT_SIGNAL, signal.SIGKILL):
            raise AssertionError("SIGNAL 9: %r" % (r.exit[:2],))
    s.check("signal", signals)

    def streams():
        r = run(c, ["sh", "-c", "printf out1; printf err1 >&2; printf out2"])
        if bytes(r.out) != b"out1out2" or bytes(r.err) != b"err1":
            raise AssertionError("stdout %r stderr %r" % (bytes(r.out), bytes(r.err)))
    s.check("stdout-stderr", streams)

    def big_output():
        n = 20 << 20
        rid = exec_start(c, ["sh", "-c", "head -c %d /dev/urandom > big.out && "
                             "sha256sum big.out >&2 && cat big.out && rm big.out" % n])
        r = collect(c, rid, 60, keep_out=False)
        want = bytes(r.err).split()[0].decode() if r.err else "?"
        if r.exit[:2] != (EXIT_CODE, 0):
            raise AssertionError("exit %r, stderr %r" % (r.exit[:2], bytes(r.err)))
        if r.out_len != n or r.out_hash.hexdigest() != want:
            raise AssertionError("got %d bytes, sha256 %s, want %s" %
                                 (r.out_len, r.out_hash.hexdigest(), want))
        time.sleep(0.2)
        if c.pending(rid):
            raise AssertionError("frames after EXIT")
    s.check("output-20mb", big_output)

    def backpressure():
        n = 24 << 20
        b = s.conn()
        b.go.clear()	# stall the host: the agent must stop reading the pipe
        rid = exec_start(b, ["sh", "-c", "head -c %d /dev/zero" % n])
        time.sleep(1.5)
        rss = rss_kb(s.proc.pid)
        b.go.set()
        r = collect(b, rid, 60, keep_out=False)
        if r.out_len != n:
            raise AssertionError("got %d of %d bytes" % (r.out_len, n))
        if rss > 16 << 10:
            raise AssertionError("agent RSS %d KB while the host stalled" % rss)
        b.close()
    s.check("backpressure", backpressure)

    def stdin_roundtrip():
        data = os.urandom(5 << 20)
        rid = exec_start(c, ["cat"], flags=C["AGENT_EXEC_STDIN"])

        def feed():
            for off in range(0, len(data), 100000):
                c.send(M["STDIN"], rid, data[off:off + 100000])
            c.send(M["STDIN"], rid, b"")
        w = threading.Thread(target=feed, daemon=True)
        w.start()
        r = collect(c, rid, 60)
        w.join(5)
        if r.exit[:2] != (EXIT_CODE, 0) or hashlib.sha256(r.out).digest() != \
                hashlib.sha256(data).digest():
            raise AssertionError("cat returned %d of %d bytes, exit %r" %
                                 (len(r.out), len(data), r.exit[:2]))
        r = run(c, ["cat"])	# no STDIN flag: /dev/null
        if r.out or r.exit[:2] != (EXIT_CODE, 0):
            raise AssertionError("cat without stdin: %r" % (bytes(r.out),))
    s.check("stdin", stdin_roundtrip)

    def env_cwd():
        r = run(c, ["sh", "-c", 'echo "$FOO|$HOME|$USER|$(pwd)"'], env=["FOO=bar baz"],
                cwd="/tmp")
        want = "bar baz|%s|agent|%s\n" % (s.path("/home/agent"), s.path("/tmp"))
        if r.out.decode() != want:
            raise AssertionError("%r != %r" % (r.out.decode(), want))
        r = run(c, ["sh", "-c", "pwd; echo $PATH"], env=["PATH=/bin:/usr/bin"])
        if r.out.decode() != s.path("/workspace") + "\n/bin:/usr/bin\n":
            raise AssertionError("default cwd / PATH: %r" % r.out.decode())
        expect_error(lambda: run(c, ["true"], cwd="/nonexistent-dir"), errno.ENOENT)
    s.check("env-cwd", env_cwd)

    def uid():
        out = run(c, ["id", "-u"]).out.decode().strip()
        if not s.root:	# uid/gid fields need root; commands keep ours
            if out != str(os.geteuid()):
                raise AssertionError("uid %s as non-root agent" % out)
            return
        if out != "1000":
            raise AssertionError("default uid %s, want 1000" % out)
        out = run(c, ["id", "-u"], flags=C["AGENT_EXEC_ROOT"]).out.decode().strip()
        if out != "0":
            raise AssertionError("AGENT_EXEC_ROOT uid %s" % out)
        out = run(c, ["id"], uid=1234, gid=4321).out.decode()
        if "uid=1234" not in out or "gid=4321" not in out or "groups=4321" not in out:
            raise AssertionError("uid/gid fields: %s" % out)
    s.check("uid", uid)

    def timeout():
        t0 = time.monotonic()
        r = run(c, ["sh", "-c", "sleep 100 & sleep 100"], timeout_ms=500, timeout=20)
        took = time.monotonic() - t0
        if not r.exit[2] or r.exit[:2] != (EXIT_SIGNAL, signal.SIGKILL):
            raise AssertionError("exit %r timed_out %d" % (r.exit[:2], r.exit[2]))
        if took > 4:
            raise AssertionError("EXIT after %.1f s" % took)
        if not group_gone(r.pid):
            raise AssertionError("survivors in process group %d" % r.pid)
    s.check("timeout-kills-tree", timeout)

    def background_grace():
        t0 = time.monotonic()
        r = run(c, ["sh", "-c", "sleep 30 & echo hi"], timeout=20)
        took = time.monotonic() - t0
        try:
            os.killpg(r.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if r.out != b"hi\n" or r.exit[:2] != (EXIT_CODE, 0):
            raise AssertionError("out %r exit %r" % (bytes(r.out), r.exit[:2]))
        if took > 5:
            raise AssertionError("EXIT waited %.1f s for the background child" % took)
    s.check("background-grace", background_grace)

    def allowlist():
        e = expect_error(lambda: run(c, ["ls", "/"]), errno.EACCES)
        if "ls" not in e.msg:
            raise AssertionError("message does not name the command: %s" % e.msg)
        expect_error(lambda: run(c, ["no-such-command-xyz"]), errno.ENOENT)
        expect_error(lambda: run(c, ["/usr/bin/no-such-command-xyz"]), errno.ENOENT)
        # uname, not whoami: uid 1000 (what commands drop to as root) may
        # have no name here, as in a fresh Debian root, and whoami fails.
        if run(c, ["uname"]).exit[:2] != (EXIT_CODE, 0):
            raise AssertionError("absolute allowlist entry did not match")
        run(c, ["/bin/uname"])	# /bin is a symlink to usr/bin on merged-usr hosts
        # A workload-owned file named like an allowed command is not it.
        put(c, "/workspace/bin/cat", b"#!/bin/sh\necho pwned\n",
            flags=C["AGENT_FILE_MKPARENTS"], mode=0o755)
        if s.root:
            expect_error(lambda: run(c, ["/workspace/bin/cat"]), errno.EACCES)
            expect_error(lambda: run(c, ["cat"], env=["PATH=%s:/usr/bin" %
                                                      s.path("/workspace/bin")]),
                         errno.EACCES)
    s.check("allowlist", allowlist)

    def concurrent():
        rids = [exec_start(c, ["sh", "-c", "sleep 0.5; echo job%d" % i]) for i in range(8)]
        c2 = s.conn()
        rids2 = [exec_start(c2, ["sh", "-c", "sleep 0.5; echo other%d" % i]) for i in range(4)]
        t0 = time.monotonic()
        for i, rid in enumerate(rids):
            r = collect(c, rid, 20)
            if r.out != b"job%d\n" % i:
                raise AssertionError("job %d: %r" % (i, bytes(r.out)))
        for i, rid in enumerate(rids2):
            if collect(c2, rid, 20).out != b"other%d\n" % i:
                raise AssertionError("other connection, job %d" % i)
        if time.monotonic() - t0 > 3:
            raise AssertionError("execs ran one after another")
        c2.close()
    s.check("concurrent-8", concurrent)

    def close_kills():
        k = s.conn()
        rid = exec_start(k, ["sh", "-c", "sleep 100 & sleep 100"])
        t, p = k.get(rid)
        pid = struct.unpack("<iI", p)[0]
        k.close()
        if not group_gone(pid):
            raise AssertionError("execs survived their connection")
    s.check("close-kills", close_kills)

    def files_big():
        data = os.urandom(20 << 20)
        n = put(c, "/workspace/data/big.bin", data, flags=C["AGENT_FILE_MKPARENTS"],
                mode=0o600, chunk=C["AGENT_FRAME_MAX"])
        if n != len(data):
            raise AssertionError("PUT acknowledged %d bytes" % n)
        back, st = get(c, "/workspace/data/big.bin")
        if hashlib.sha256(back).digest() != hashlib.sha256(data).digest():
            raise AssertionError("GET returned %d bytes, different sha256" % len(back))
        if st[4] != len(data) or st[0] & 0o7777 != 0o600:
            raise AssertionError("FILE_END stat %r" % (st,))
        if s.root and st[1:3] != (1000, 1000):
            raise AssertionError("owner %r, want 1000:1000" % (st[1:3],))
        put(c, "/workspace/data/big.bin", b"tail", flags=C["AGENT_FILE_APPEND"])
        if stat(c, "/workspace/data/big.bin")[4] != len(data) + 4:
            raise AssertionError("APPEND did not append")
        put(c, "/tmp/small.txt", b"hello")
        if get(c, "/tmp/small.txt")[0] != b"hello":
            raise AssertionError("small file round trip")
        leftovers = [f for f in os.listdir(s.path("/workspace/data")) if f.startswith(".vbput")]
        if leftovers:
            raise AssertionError("temporary files left: %r" % leftovers)
    s.check("files-20mb", files_big)

    def escapes():
        os.symlink("/etc", s.path("/workspace/etc-link"))
        os.symlink("/etc/passwd", s.path("/workspace/passwd-link"))
        for p in ("/workspace/../etc/passwd", "/etc/passwd", "/workspacefoo/x",
                  "/tmp/../etc/passwd"):
            expect_error(lambda: get(c, p), errno.EACCES)
        expect_error(lambda: get(c, "workspace/x"), errno.EINVAL)
        for p in ("/workspace/etc-link/passwd", "/workspace/passwd-link"):
            try:
                data, _ = get(c, p)
            except AgentError:
                continue
            if data == open("/etc/passwd", "rb").read():
                raise AssertionError("%s read the real /etc/passwd" % p)
        try:
            put(c, "/workspace/etc-link/voidbox-escape", b"x")
        except AgentError:
            pass
        if os.path.exists("/etc/voidbox-escape"):
            os.unlink("/etc/voidbox-escape")
            raise AssertionError("PUT through a symlink wrote to /etc")
        expect_error(lambda: request(c, M["MKDIR"], file_req(M["MKDIR"], "/workspace/etc-link/x")),
                     errno.ENOENT)
    s.check("path-escape", escapes)

    def mkdir_stat():
        request(c, M["MKDIR"], file_req(M["MKDIR"], "/workspace/a/b/c",
                                        flags=C["AGENT_FILE_MKPARENTS"], mode=0o750))
        st = stat(c, "/workspace/a/b/c")
        if st[0] & 0o170000 != 0o040000 or st[0] & 0o7777 != 0o750:
            raise AssertionError("mode %o" % st[0])
        if s.root and st[1] != 1000:
            raise AssertionError("mkdir owner %d" % st[1])
        request(c, M["MKDIR"], file_req(M["MKDIR"], "/workspace/a/b/c",
                                        flags=C["AGENT_FILE_MKPARENTS"]))
        expect_error(lambda: request(c, M["MKDIR"], file_req(M["MKDIR"], "/workspace/a")),
                     errno.EEXIST)
        expect_error(lambda: request(c, M["MKDIR"], file_req(M["MKDIR"], "/workspace/x/y")),
                     errno.ENOENT)
        expect_error(lambda: stat(c, "/workspace/nope"), errno.ENOENT)
        if stat(c, "/home/agent")[0] & 0o170000 != 0o040000:
            raise AssertionError("/home/agent is not a directory")
        expect_error(lambda: get(c, "/workspace/a"), errno.EISDIR)
    s.check("mkdir-stat", mkdir_stat)

    def telemetry():
        t = s.conn()
        rid = next(ids)
        t.send(M["TELEMETRY_SUB"], rid, struct.pack("<II", 50, 0))
        typ, _ = t.get(rid, 5)
        if typ != M["OK"]:
            raise AssertionError("SUB answered with type %d" % typ)
        frames = []
        while len(frames) < 4:
            typ, p = t.get(rid, 5)
            if typ != M["TELEMETRY"]:
                raise AssertionError("type %d" % typ)
            frames.append(TELEM.unpack(p))
        last = frames[-1]
        if not (last[4] > 0 and 0 < last[5] <= last[4] and last[0] > frames[0][0]
                and last[7] > 0 and last[1] + last[2] + last[3] > 0):
            raise AssertionError("implausible sample %r" % (last,))
        rid2 = next(ids)
        t.send(M["TELEMETRY_SUB"], rid2, struct.pack("<II", 0, 0))
        if t.get(rid2, 5)[0] != M["OK"]:
            raise AssertionError("unsubscribe not acknowledged")
        time.sleep(0.3)
        while t.pending(rid):
            t.get(rid)
        time.sleep(0.3)
        if t.pending(rid):
            raise AssertionError("frames after unsubscribe")
        t.close()
    s.check("telemetry", telemetry)

    def bad_requests():
        hdr = exec_hdr(0, 0, 0, 0, 0, 0)
        for payload in (hdr + strings(""),			# argc 0
                        exec_hdr(0, 0, 0, 0, 1, 0) + b"true",	# no NUL
                        exec_hdr(0, 0, 0, 0, 1, 0) + strings("true"),  # no cwd
                        exec_hdr(0, 0, 0, 0, 1, 1) + strings("true", "NOEQ", ""),
                        exec_hdr(0, 0, 0, 0, 5000, 0) + strings("x", ""),
                        b"\0" * 10):
            expect_error(lambda: request(c, M["EXEC"], payload), errno.EINVAL)
        expect_error(lambda: request(c, M["STAT"], b"\0" * 16 + b"/tmp"), errno.EINVAL)
        c.send(M["STAT"], 0, file_req(M["STAT"], "/tmp"))	# req_id 0
        t, p = c.get(0)
        if t != M["ERROR"] or error_of(p).err != errno.EINVAL:
            raise AssertionError("req_id 0 accepted")
        rid = exec_start(c, ["sleep", "5"])
        c.get(rid)
        c.send(M["EXEC"], rid, exec_hdr(0, 0, 0, 0, 1, 0) + strings("true", ""))
        t, p = c.get(rid)
        if t != M["ERROR"] or error_of(p).err != errno.EBUSY:
            raise AssertionError("duplicate req_id accepted")
        c.send(M["SIGNAL"], rid, struct.pack("<iI", signal.SIGKILL, 0))
        collect(c, rid, 10, pid=0)
        os.mkfifo(s.path("/tmp/fifo"))
        expect_error(lambda: get(c, "/tmp/fifo"), errno.EINVAL)
        b = s.conn()
        b.send(M["SIGNAL"], 1, b"\0")	# malformed stream frame
        if not b.wait_closed():
            raise AssertionError("malformed SIGNAL did not close the connection")
    s.check("bad-requests", bad_requests)

    def put_abort():
        a = s.conn()
        rid = next(ids)
        a.send(M["FILE_PUT"], rid, file_req(M["FILE_PUT"], "/workspace/partial"))
        a.send(M["FILE_DATA"], rid, b"x" * 100000)
        stat(a, "/workspace")	# the PUT is under way
        a.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            left = [f for f in os.listdir(s.path("/workspace"))
                    if f.startswith(".vbput") or f == "partial"]
            if not left:
                return
            time.sleep(0.05)
        raise AssertionError("aborted PUT left %r" % left)
    s.check("put-abort", put_abort)

    def stdin_flood():
        f = s.conn()
        rid = exec_start(f, ["sleep", "3"], flags=C["AGENT_EXEC_STDIN"])
        chunk = b"z" * (1 << 20)
        sent = [0]

        def flood():
            try:
                for _ in range(64):
                    f.send(M["STDIN"], rid, chunk)
                    sent[0] += 1
            except OSError:
                pass
        threading.Thread(target=flood, daemon=True).start()
        time.sleep(1.5)
        rss = rss_kb(s.proc.pid)
        if sent[0] >= 64:
            raise AssertionError("64 MiB of STDIN accepted by a child that never reads")
        if rss > 16 << 10:
            raise AssertionError("agent RSS %d KB under a STDIN flood" % rss)
        r = collect(f, rid, 20)	# sleep exits, stdin is dropped, reading resumes
        if r.exit[:2] != (EXIT_CODE, 0):
            raise AssertionError("exit %r" % (r.exit[:2],))
        stat(f, "/workspace")
        f.close()
    s.check("stdin-bounded", stdin_flood)

    def many_conns():
        before = len(os.listdir("/proc/%d/fd" % s.proc.pid))
        for _ in range(50):
            x = s.conn()
            exec_start(x, ["sleep", "10"])
            x.close()
        x = s.conn()
        put(x, "/tmp/f", b"1")
        x.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            now = len(os.listdir("/proc/%d/fd" % s.proc.pid))
            if now <= before:
                return
            time.sleep(0.1)
        raise AssertionError("agent fds %d -> %d" % (before, now))
    s.check("no-fd-leak", many_conns)

    def park(x, argv):
        """EXEC with AGENT_EXEC_PARK: STARTED with a park id, and nothing
        else on that request."""
        rid = exec_start(x, argv, flags=C["AGENT_EXEC_PARK"])
        t, p = x.get(rid)
        if t == M["ERROR"]:
            raise error_of(p)
        if t != M["STARTED"]:
            raise AssertionError("PARK answered with type %d" % t)
        pid, pk = struct.unpack("<iI", p)
        if not pk:
            raise AssertionError("no park id")
        return rid, pid, pk

    def attach(x, pk, timeout_ms=0):
        rid = next(ids)
        x.send(M["ATTACH"], rid, struct.pack("<II", pk, timeout_ms))
        return rid

    def parked_exec():
        # Started on one connection, which then goes away; the process
        # waits on its stdin; another connection attaches, feeds it and
        # gets its output and exit as if it had started it.
        a = s.conn()
        rid, pid, pk = park(a, ["sh", "-c", "read x; echo got:$x; echo err >&2; exit 3"])
        time.sleep(0.3)
        if a.pending(rid):
            raise AssertionError("frames after a parked STARTED")
        a.close()
        time.sleep(0.3)
        os.kill(pid, 0)	# alive: it outlived the connection that started it
        b = s.conn()
        rid = attach(b, pk)
        t, p = b.get(rid)
        if t != M["STARTED"] or struct.unpack("<iI", p)[0] != pid:
            raise AssertionError("ATTACH answered %d" % t)
        b.send(M["STDIN"], rid, b"hello\n")
        b.send(M["STDIN"], rid, b"")
        r = collect(b, rid, 20, pid=pid)
        if bytes(r.out) != b"got:hello\n" or bytes(r.err) != b"err\n" or \
                r.exit[:2] != (EXIT_CODE, 3):
            raise AssertionError("attached: out %r err %r exit %r" % (bytes(r.out), bytes(r.err), r.exit[:2]))
        # once taken, the park id is gone
        expect_error(lambda: collect(b, attach(b, pk), 10), errno.ENOENT)
        expect_error(lambda: collect(b, attach(b, 0), 10), errno.ENOENT)
        b.close()
    s.check("parked-exec", parked_exec)

    def parked_exited():
        # Output written and the process gone while parked: both arrive
        # on ATTACH (held in the pipe, not lost).
        a = s.conn()
        _, pid, pk = park(a, ["sh", "-c", "echo early; exit 5"])
        time.sleep(0.8)
        rid = attach(a, pk)
        r = collect(a, rid, 20)
        if bytes(r.out) != b"early\n" or r.exit[:2] != (EXIT_CODE, 5):
            raise AssertionError("out %r exit %r" % (bytes(r.out), r.exit[:2]))
        a.close()
    s.check("parked-exited", parked_exited)

    def parked_reattach():
        # The waiting agent's life: attached, talked to, the connection
        # closed (a template's readiness check) -> parked again with its
        # stdin open; a live attachment is never taken over; the next
        # attacher sets the time limit from its own start.
        a = s.conn()
        _, pid, pk = park(a, ["sh", "-c", "read x; echo A:$x; read y; echo B:$y; sleep 30"])
        b = s.conn()
        rid = attach(b, pk)
        t, _ = b.get(rid)
        if t != M["STARTED"]:
            raise AssertionError("first ATTACH answered %d" % t)
        b.send(M["STDIN"], rid, b"one\n")
        t, p = b.get(rid, 10)
        if t != M["STDOUT"] or p != b"A:one\n":
            raise AssertionError("first attachment got %d %r" % (t, p))
        c = s.conn()
        expect_error(lambda: collect(c, attach(c, pk), 10), errno.EBUSY)
        b.close()
        rid = attach(c, pk, timeout_ms=1500)
        t0 = time.monotonic()
        c.send(M["STDIN"], rid, b"two\n")
        r = collect(c, rid, 20)
        took = time.monotonic() - t0
        if r.pid != pid or bytes(r.out) != b"B:two\n" or not r.exit[2] or \
                not 1.0 < took < 6:
            raise AssertionError("reattached: pid %r out %r exit %r in %.1f s" % (r.pid, bytes(r.out), r.exit[:3], took))
        a.close()
        c.close()
    s.check("parked-reattach", parked_reattach)

    def park_bounded():
        a = s.conn()
        pids = [park(a, ["sleep", "60"])[1] for _ in range(C["AGENT_PARK_MAX"])]
        expect_error(lambda: park(a, ["sleep", "60"]), errno.EAGAIN)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        a.close()
    s.check("park-bounded", park_bounded)

    def park_ended_bounded():
        # Ended parked processes wait for an attach, but at most
        # AGENT_PARK_MAX of them: the oldest is forgotten, a new one can
        # always start, the newest still gives its output and exit.
        a = s.conn()
        pks = []
        for i in range(C["AGENT_PARK_MAX"] + 2):
            pks.append(park(a, ["sh", "-c", "echo n%d; exit 7" % i])[2])
            time.sleep(0.05)
        time.sleep(0.5)
        expect_error(lambda: collect(a, attach(a, pks[0]), 10), errno.ENOENT)
        r = collect(a, attach(a, pks[-1]), 10)
        if bytes(r.out) != b"n%d\n" % (len(pks) - 1) or r.exit[:2] != (EXIT_CODE, 7):
            raise AssertionError("newest: out %r exit %r" % (bytes(r.out), r.exit[:2]))
        a.close()
    s.check("park-ended-bounded", park_ended_bounded)

    def tty_read_until(x, rid, want, timeout=10):
        """STDOUT of a terminal exec until `want` shows up; all of it."""
        got = bytearray()
        deadline = time.monotonic() + timeout
        while want not in got:
            t, p = x.get(rid, max(0.1, deadline - time.monotonic()))
            if t == M["STDERR"]:
                raise AssertionError("STDERR frame from a terminal exec")
            if t != M["STDOUT"]:
                raise AssertionError("frame %d waiting for %r; got %r" % (t, want, bytes(got)))
            got += p
        return bytes(got)

    def tty_exec():
        # The command's stdin/stdout/stderr and controlling terminal are
        # a new pseudo-terminal of the size asked; everything it writes
        # comes as STDOUT; what we send is typed (echoed, line-edited).
        x = s.conn()
        rid = exec_start(x, ["sh", "-c", "tty; stty size; [ -t 0 ] && [ -t 2 ] && echo isatty; "
                             "echo to-err >&2; read v; echo got:$v; exit 4"],
                         flags=C["AGENT_EXEC_TTY"], rows=30, cols=100)
        t, _ = x.get(rid)
        if t != M["STARTED"]:
            raise AssertionError("STARTED expected, got %d" % t)
        out = tty_read_until(x, rid, b"to-err")
        for want in (b"/dev/pts/", b"30 100", b"isatty\r\n", b"to-err"):
            if want not in out:
                raise AssertionError("%r not in %r" % (want, out))
        x.send(M["STDIN"], rid, b"typed\r")
        r = collect(x, rid, 20, pid=0)
        rest = bytes(r.out)
        if b"typed\r\n" not in rest or b"got:typed\r\n" not in rest or r.err or \
                r.exit[:2] != (EXIT_CODE, 4):
            raise AssertionError("after input: %r err %r exit %r" % (rest, bytes(r.err), r.exit[:2]))
        x.close()
    s.check("tty-exec", tty_exec)

    def tty_bulk():
        # A terminal program's bursts (a full-screen redraw) arrive whole:
        # 2,000,000 bytes with no newline to translate, written in chunks
        # with pauses, then an exit status.
        x = s.conn()
        rid = exec_start(x, ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do "
                             "head -c 150000 /dev/zero | tr '\\0' a; sleep 0.05; done; "
                             "head -c 500000 /dev/zero | tr '\\0' b; exit 9"],
                         flags=C["AGENT_EXEC_TTY"])
        r = collect(x, rid, 60)
        if r.out_len != 2000000 or r.exit[:2] != (EXIT_CODE, 9):
            raise AssertionError("got %d bytes, exit %r" % (r.out_len, r.exit[:2]))
        x.close()
    s.check("tty-bulk", tty_bulk)

    def tty_resize_and_keys():
        # RESIZE reaches the terminal (SIGWINCH, the new size); ^C from
        # the keyboard is SIGINT to the foreground job; a size of 0 is
        # the 24 x 80 default; RESIZE of a gone or piped exec is ignored.
        x = s.conn()
        rid = exec_start(x, ["sh", "-c", "stty size; trap 'stty size' WINCH; echo ready; "
                             "while :; do sleep 0.1; done"], flags=C["AGENT_EXEC_TTY"])
        x.get(rid)
        out = tty_read_until(x, rid, b"ready")
        if b"24 80" not in out:
            raise AssertionError("default size: %r" % out)
        x.send(M["RESIZE"], rid, struct.pack("<HHI", 40, 120, 0))
        tty_read_until(x, rid, b"40 120")
        x.send(M["RESIZE"], rid, struct.pack("<HHI", 0, 9999, 0))	# ignored
        x.send(M["STDIN"], rid, b"\x03")
        r = collect(x, rid, 10, pid=0)
        if r.exit[:2] not in ((EXIT_SIGNAL, signal.SIGINT), (EXIT_CODE, 130)):
            raise AssertionError("after ^C: exit %r" % (r.exit[:2],))
        x.send(M["RESIZE"], rid, struct.pack("<HHI", 10, 10, 0))	# gone
        p = run(x, ["true"])
        if p.exit[:2] != (EXIT_CODE, 0):
            raise AssertionError("connection broken by a late RESIZE")
        x.close()
    s.check("tty-resize-keys", tty_resize_and_keys)

    def tty_parked():
        # A terminal exec started parked (an attach session): its output
        # waits in the terminal; ATTACH then RESIZE; a detach (closing
        # the connection) parks it again, still running.
        a = s.conn()
        rid = exec_start(a, ["sh", "-c", "echo first; read v; stty size; echo got:$v; read w; exit 6"],
                         flags=C["AGENT_EXEC_TTY"] | C["AGENT_EXEC_PARK"], rows=20, cols=60)
        t, p = a.get(rid)
        pk = struct.unpack("<iI", p)[1]
        a.close()
        b = s.conn()
        rid = attach(b, pk)
        b.send(M["RESIZE"], rid, struct.pack("<HHI", 33, 77, 0))
        b.get(rid)
        tty_read_until(b, rid, b"first")
        b.send(M["STDIN"], rid, b"v1\r")
        out = tty_read_until(b, rid, b"got:v1")
        if b"33 77" not in out:
            raise AssertionError("size after ATTACH+RESIZE: %r" % out)
        b.close()	# detach
        time.sleep(0.3)
        c = s.conn()
        rid = attach(c, pk)
        c.get(rid)
        c.send(M["STDIN"], rid, b"w\r")
        r = collect(c, rid, 10, pid=0)
        if r.exit[:2] != (EXIT_CODE, 6):
            raise AssertionError("re-attached session: exit %r out %r" % (r.exit[:2], bytes(r.out)))
        c.close()
    s.check("tty-parked", tty_parked)

    def no_resume_in_test_mode():
        # RESUME sets the clock, hostname, RNG and MAC: a VM's, never the
        # machine a test-mode agent runs on.
        expect_error(lambda: request(c, M["RESUME"], b"\0" * 184), errno.EPERM)
    s.check("resume-refused-test-mode", no_resume_in_test_mode)

    def still_serving():
        if run(c, ["true"]).exit[:2] != (EXIT_CODE, 0):
            raise AssertionError("agent stopped serving")
    s.check("still-serving", still_serving)

    def poweroff():
        p = s.conn()
        rid = exec_start(p, ["sleep", "100"])
        pid = struct.unpack("<iI", p.get(rid)[1])[0]
        p.send(M["POWEROFF"], 0)
        try:
            rc = s.proc.wait(5)
        except subprocess.TimeoutExpired:
            raise AssertionError("agent did not exit on POWEROFF")
        if rc != 0:
            raise AssertionError("exit status %d" % rc)
        if not group_gone(pid):
            raise AssertionError("exec survived POWEROFF")
    s.check("poweroff", poweroff)


if __name__ == "__main__":
    sys.exit(main())
