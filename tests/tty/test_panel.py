#!/usr/bin/env python3
"""tests/tty/test_panel.py: the live run panel of `voidbox run` (mock mode,
no VM), rendered into a real pseudo-terminal and read back as a screen
(vtscreen.py), compared with golden screens; and the line log, byte for
byte the same as before the panel existed, wherever the panel must not
draw (a pipe, NO_COLOR, TERM=dumb, --log-format json).

Times and durations vary from run to run: digits before "s" are replaced
by N in both the screens and the logs compared. UPDATE=1 rewrites the
golden screens (review the diff)."""
import os
import pty
import re
import select
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import vtscreen  # noqa: E402

VB = os.environ.get("VOIDBOX", os.path.join(os.environ.get("BUILD", os.path.join(TOP, "build")), "voidbox"))
SPEC = os.path.join(HERE, "specs", "panel.yaml")
GOLDEN = os.path.join(HERE, "golden")
ROWS, COLS = 24, 100
results = []


def norm(text):
    text = re.sub(r"\d+\.\d+ ?s\b", "N.Ns", text)
    return re.sub(r"\d+/(\d+) done", r"N/\1 done", text)


def check(name, fn):
    try:
        fn()
        print("PASS: panel-%s" % name)
    except Exception as e:  # report and go on
        print("FAIL: panel-%s: %s" % (name, e))
        results.append(name)


def run_pty(env_extra, args=(), until=None, timeout=60):
    """voidbox run on a terminal; the screen at `until(screen)` (first
    time true) and at the end, the raw bytes, and the exit status."""
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm-256color"
    env.update(env_extra)
    pid, fd = pty.fork()
    if pid == 0:
        import fcntl
        import struct
        import termios
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        os.chdir(TOP)
        os.execve(VB, [VB] + list(args) + ["run", "--file", SPEC], env)
    scr = vtscreen.Screen(ROWS, COLS)
    raw, seen = b"", None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        try:
            d = os.read(fd, 65536)
        except OSError:
            break
        if not d:
            break
        raw += d
        scr.feed(d)
        if until and seen is None and until(scr.text()):
            seen = scr.text()
    _, st = os.waitpid(pid, 0)
    os.close(fd)
    return seen, scr.text(), raw, os.waitstatus_to_exitcode(st)


def golden(name, got):
    path = os.path.join(GOLDEN, name)
    if os.environ.get("UPDATE") == "1":
        with open(path, "w") as f:
            f.write(got + "\n")
    want = open(path).read().rstrip("\n")
    if got != want:
        raise AssertionError("screen differs from %s:\n--- want\n%s\n--- got\n%s" % (name, want, got))


def line_log(env_extra, args=()):
    """stderr of the same run through a pipe: the line log."""
    env = dict(os.environ)
    env.update(env_extra)
    p = subprocess.run([VB] + list(args) + ["run", "--file", SPEC], cwd=TOP, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.stderr.decode(), p.returncode


def screen_running():
    def both(t):
        return re.search(r"analyse\s+running", t) and re.search(r"broken\s+failed", t) \
            and "Read /workspace/input.json" in t and "[vm:broken] mock mode" in t
    seen, final, raw, rc = run_pty({}, until=both)
    if seen is None:
        raise AssertionError("never saw analyse running beside broken failed:\n%s" % final)
    golden("panel-running.txt", norm(seen))
    golden("panel-final.txt", norm(final))
    if rc != 1:
        raise AssertionError("exit %d, want 1 (a stage failed)" % rc)
    if raw.rfind(b"\x1b[?25h") < raw.rfind(b"\x1b[?25l"):
        raise AssertionError("cursor not shown again at the end")


def plain_where_not_wanted():
    # The line log is the reference; on a terminal without colour or with
    # TERM=dumb, the screen shows exactly those lines.
    ref, rc = line_log({})
    if rc != 1 or "[vm:broken] failed" not in ref or "\x1b" in ref:
        raise AssertionError("line log (rc %d): %r" % (rc, ref))
    # (fan-out branches run at once: their lines may come in either order)
    want = "\n".join(sorted(norm(ref.rstrip("\n")).split("\n")))
    for env in ({"NO_COLOR": "1"}, {"TERM": "dumb"}):
        _, final, raw, rc = run_pty(env)
        got = "\n".join(sorted(norm(final).split("\n")))
        if b"\x1b[" in raw or got != want or rc != 1:
            raise AssertionError("%r: rc %d, escapes %s, screen:\n%s\n--- want\n%s" %
                                 (env, rc, b"\x1b[" in raw, got, want))


def json_log_on_terminal():
    _, final, raw, rc = run_pty({}, args=("--log-format", "json"))
    lines = [l for l in raw.decode(errors="replace").replace("\r", "").split("\n") if l]
    if rc != 1 or b"\x1b[" in raw or not lines or \
            not all(l.startswith("{") and l.endswith("}") for l in lines):
        raise AssertionError("rc %d, lines %r" % (rc, lines[:5]))


def lines_above_panel():
    # Every line the run logs still appears, above the panel; the live
    # event lines (tool calls, claude's text) are what the panel shows in
    # its last-tool column instead.
    ref, _ = line_log({})
    _, final, raw, _ = run_pty({})
    scr_lines = final.split("\n")
    for l in ref.rstrip("\n").split("\n"):
        if re.search(r"\] (tool|tool error|claude|claude-code started)\b", l):
            continue
        if norm(l) not in [norm(x) for x in scr_lines]:
            raise AssertionError("line %r missing from the screen:\n%s" % (l, final))


check("running-golden", screen_running)
check("plain-where-not-wanted", plain_where_not_wanted)
check("json-log-on-terminal", json_log_on_terminal)
check("lines-above-panel", lines_above_panel)
sys.exit(1 if results else 0)
