#!/usr/bin/python3
"""
test_browser.py - wsgated against a real browser: headless Chromium opens
browser_page.html, served from this test on 127.0.0.1, whose JavaScript

  - connects to /echo offering the subprotocol "chat.v1" and checks that
    ws.protocol is "chat.v1" and no extension was agreed (Chromium offers
    permessage-deflate);
  - sends text (ASCII, multi-byte UTF-8, empty, 125/126/65536 bytes, 300 KB)
    and binary ArrayBuffers (0..255, empty, 65535 and 300 KB random) and
    checks every echo byte for byte, then a clean close 1000;
  - opens a and b on /broadcast/room1 and c and d on /broadcast/room2 and
    checks that what one member sends reaches the other member of its room
    exactly once, never its sender and never the other room.

The verdict: the page sets document.title to "PASS" or "FAIL: ..." and
POSTs it, with every check and its log, to /result on the test's HTTP
server; the test waits for that POST (or Chromium's death, or a timeout),
then SIGKILLs all of Chromium: its process group, and the crashpad helpers
that leave the group, found by a tag in their environment.  Progress lines
POSTed to /progress are shown if the page never reports.

Skips (exit 77) if Chromium is not installed (Debian: `chromium`).
Environment, besides wsgtest's:
  WSG_CHROMIUM        the browser (default /usr/bin/chromium); set but not
                      executable is a failure, not a skip
  WSG_BROWSER_BREAK   give that one check of the page a wrong expectation
                      (e.g. echo.protocol): the test must then fail
  WSG_BROWSER_LOG     print the page's log and Chromium's stderr even on success
"""

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import wsgtest
from wsgtest import Daemon, endpoint

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(HERE, "browser_page.html")
CHROMIUM = os.environ.get("WSG_CHROMIUM") or "/usr/bin/chromium"

PAGE_BUDGET_MS = 15000          # the page gives up after this long
RESULT_TIMEOUT = 25.0           # the test gives up on the page after this long

# Every check the page must have run and passed.
EXPECTED_CHECKS = [
    "echo.protocol", "echo.extensions",
    "echo.text.ascii", "echo.text.utf8", "echo.text.empty", "echo.text.125",
    "echo.text.126", "echo.text.65536", "echo.text.300k",
    "echo.binary.0-255", "echo.binary.empty", "echo.binary.65535", "echo.binary.300k",
    "echo.close", "echo.nothing_else",
    "deflate.extensions", "deflate.text.small", "deflate.text.json", "deflate.text.300k",
    "deflate.binary.zeros", "deflate.binary.random", "deflate.close",
    "broadcast.open", "broadcast.room2.c_to_d", "broadcast.a_to_b.text",
    "broadcast.b_to_a.binary", "broadcast.a_to_b.second",
    "broadcast.not_to_sender.a", "broadcast.not_to_sender.b", "broadcast.exactly_once",
    "broadcast.room_isolation",
    "broadcast.close.a", "broadcast.close.b", "broadcast.close.c", "broadcast.close.d",
]

ENDPOINTS = [
    endpoint("/echo", subprotocols=["chat.v1"]),
    endpoint("/zecho", compression={"enabled": True}),
    endpoint("/broadcast", module="broadcast", match="prefix", options={"room": "path"}),
]

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--no-proxy-server", "--mute-audio",
    # Debian's launcher adds this only when it can read /dev/shm's size;
    # shared memory in /tmp works in any container.
    "--disable-dev-shm-usage",
]

# Chromium's stderr noise in a container without a session bus.
NOISE = ("dbus/", "Failed to connect to the bus", "unexpected operator")


def check_chromium():
    if os.access(CHROMIUM, os.X_OK):
        return
    if os.environ.get("WSG_CHROMIUM"):
        raise AssertionError("WSG_CHROMIUM=%s is not an executable" % CHROMIUM)
    raise unittest.SkipTest("no Chromium at %s (Debian package `chromium`)" % CHROMIUM)


class PageServer:
    """The page and the verdict channel: GET / serves browser_page.html,
    POST /progress collects log lines, POST /result the verdict."""

    def __init__(self):
        with open(PAGE, "rb") as f:
            page = f.read()
        self.result = None
        self.result_event = threading.Event()
        self.progress = []
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                owner.requests.append(fmt % args)

            def _reply(self, status, body=b"", ctype="text/plain"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if urllib.parse.urlsplit(self.path).path in ("/", "/index.html"):
                    self._reply(200, page, "text/html; charset=utf-8")
                else:
                    self._reply(404, b"not found\n")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urllib.parse.urlsplit(self.path).path
                if path == "/progress":
                    owner.progress.append(body.decode("utf-8", "replace"))
                    self._reply(204)
                elif path == "/result":
                    try:
                        result = json.loads(body.decode("utf-8"))
                    except ValueError as e:
                        result = {"verdict": "FAIL: unreadable result (%s): %r" % (e, body[:200])}
                    result["http_user_agent"] = self.headers.get("User-Agent", "")
                    if owner.result is None:
                        owner.result = result
                    owner.result_event.set()
                    self._reply(204)
                else:
                    self._reply(404, b"not found\n")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, **query):
        return "http://127.0.0.1:%d/?%s" % (self.port, urllib.parse.urlencode(query))

    def progress_text(self):
        def key(line):
            n, _, rest = line.partition("\t")
            return (int(n) if n.isdigit() else 1 << 30, rest)
        return "\n".join(sorted(self.progress, key=key)) or "(no progress line)"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


LIVE_BROWSERS = set()


def become_subreaper():
    """Make Chromium's orphans (its helpers, once the browser is killed, and
    the crashpad handlers it double-forks) children of this process rather
    than of PID 1, which in some containers never reaps them: kill() reaps
    them.  Linux's PR_SET_CHILD_SUBREAPER; without it, zombies may remain."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def proc_stat(pid):
    """(state, ppid, pgrp) of a pid from /proc, or None."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            fields = f.read().rpartition(")")[2].split()
        return fields[0], int(fields[1]), int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


class Browser:
    """Headless Chromium in its own session (process group), with a fresh
    profile and HOME in a temp dir.  Its environment carries a unique tag,
    so that kill() also finds the helpers that leave the group (Chromium's
    crashpad handlers call setsid() and are reparented to init)."""

    def __init__(self, url):
        self.tmp = tempfile.mkdtemp(prefix="wsgtest-chromium-")
        home = os.path.join(self.tmp, "home")
        os.mkdir(home)
        self.log_path = os.path.join(self.tmp, "chromium.log")
        self._log = open(self.log_path, "wb")
        self.tag = "wsgtest-%d-%s" % (os.getpid(), os.urandom(8).hex())
        become_subreaper()
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
                   XDG_CACHE_HOME=os.path.join(home, ".cache"), WSG_BROWSER_TAG=self.tag)
        for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                    "ALL_PROXY", "DISPLAY", "WAYLAND_DISPLAY"):
            env.pop(var, None)
        args = [CHROMIUM] + CHROMIUM_FLAGS + [
            "--user-data-dir=" + os.path.join(self.tmp, "profile"), url]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, env=env, start_new_session=True)
        self.pgid = self.proc.pid      # start_new_session: pid = sid = pgid
        LIVE_BROWSERS.add(self)

    def alive(self):
        return self.proc.poll() is None

    def processes(self):
        """Live pids of this browser: its process group, and any process
        whose environment has its tag."""
        mark = ("WSG_BROWSER_TAG=" + self.tag).encode()
        pids = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            st = proc_stat(name)
            if st is None or st[0] in ("Z", "X"):
                continue
            if st[2] == self.pgid:
                pids.append(int(name))
                continue
            try:
                with open("/proc/%s/environ" % name, "rb") as f:
                    if mark in f.read().split(b"\0"):
                        pids.append(int(name))
            except OSError:
                continue
        return pids

    def kill(self, patience=5.0):
        """SIGKILL the group and every tagged process until none is left,
        then reap those that became our children; the pids still alive
        after patience seconds (none, normally)."""
        deadline = time.monotonic() + patience
        seen = set()
        while True:
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            left = self.processes()
            seen.update(left)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(0.05)
            except subprocess.TimeoutExpired:
                pass
            if (not left and self.proc.poll() is not None) or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        me = os.getpid()
        for name in os.listdir("/proc"):
            st = proc_stat(name) if name.isdigit() else None
            if st and st[0] == "Z" and st[1] == me and (st[2] == self.pgid or int(name) in seen):
                try:
                    os.waitpid(int(name), os.WNOHANG)
                except ChildProcessError:
                    pass
        LIVE_BROWSERS.discard(self)
        if not self._log.closed:
            self._log.close()
        return left

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        kept = [l for l in text.splitlines() if not any(n in l for n in NOISE)]
        return "\n".join(kept[-lines:]) or "(nothing but D-Bus noise)"

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def on_sigterm(signum, frame):
    """Killed from outside (e.g. a make check timeout): take Chromium and
    the daemon along instead of leaving them behind."""
    for b in list(LIVE_BROWSERS):
        b.kill(patience=2.0)
    d = BrowserTest.daemon
    if d is not None and d.proc is not None and d.proc.poll() is None:
        d.proc.kill()
    os._exit(128 + signum)


class BrowserTest(unittest.TestCase):
    daemon = None

    @classmethod
    def setUpClass(cls):
        check_chromium()
        if wsgtest.EXTERNAL_PORT is not None:
            raise unittest.SkipTest("needs its own wsgated (an /echo with chat.v1 and "
                                    "/broadcast), not WSG_TEST_PORT")
        cls.daemon = Daemon(endpoints=ENDPOINTS, log_level="info")
        cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        if cls.daemon is not None:
            d, cls.daemon = cls.daemon, None
            d.stop()

    def tearDown(self):
        self.daemon.assert_alive()

    def run_page(self, brk=""):
        """Open the page in Chromium; the result it POSTed (a dict)."""
        server = PageServer()
        self.addCleanup(server.close)
        query = {"ws": self.daemon.port, "budget": PAGE_BUDGET_MS}
        if brk:
            query["break"] = brk
        t0 = time.monotonic()
        browser = Browser(server.url(**query))
        try:
            deadline = t0 + RESULT_TIMEOUT
            while not server.result_event.wait(0.1):
                if not browser.alive():
                    self.fail("Chromium exited with status %s before the page reported:\n"
                              "--- page progress ---\n%s\n--- chromium ---\n%s"
                              % (browser.proc.returncode, server.progress_text(),
                                 browser.log_tail()))
                if time.monotonic() > deadline:
                    self.fail("no verdict from the page within %.1f s\n--- requests ---\n%s\n"
                              "--- page progress ---\n%s\n--- chromium ---\n%s"
                              % (RESULT_TIMEOUT, "\n".join(server.requests),
                                 server.progress_text(), browser.log_tail()))
            took = time.monotonic() - t0
        finally:
            t1 = time.monotonic()
            left = browser.kill()
            killed_in = time.monotonic() - t1
            chromium_log = browser.log_tail(80)
            browser.cleanup()
        self.assertEqual(left, [], "Chromium processes survived 5 s of SIGKILL")
        result = server.result
        result["took"] = took
        if os.environ.get("WSG_BROWSER_LOG"):
            print("\n--- page log (%.2f s from launch to verdict, %.2f s to kill) ---\n"
                  "%s--- chromium ---\n%s" % (took, killed_in, result.get("log", ""),
                                             chromium_log), file=sys.stderr)
        return result

    def report(self, result):
        return ("\n--- page log ---\n%s--- wsgated (tail) ---\n%s"
                % (result.get("log", "(none)"), self.daemon.stderr_tail(30)))

    def test_page_passes(self):
        """Echo with a subprotocol and broadcast rooms, seen from Chromium."""
        result = self.run_page(os.environ.get("WSG_BROWSER_BREAK", ""))
        self.assertEqual(result.get("verdict"), "PASS", self.report(result))
        self.assertIn("HeadlessChrome/", result.get("userAgent", ""))
        self.assertIn("HeadlessChrome/", result.get("http_user_agent", ""))
        passed = {c["name"] for c in result.get("checks", []) if c.get("ok")}
        missing = [n for n in EXPECTED_CHECKS if n not in passed]
        self.assertEqual(missing, [], "checks that did not run or pass" + self.report(result))

    def test_wrong_expectation_fails(self):
        """The verdict channel reports a failure: one check given a wrong
        expectation makes the page say FAIL, naming that check only."""
        brk = "echo.binary.300k"
        result = self.run_page(brk)
        verdict = result.get("verdict", "")
        self.assertTrue(verdict.startswith("FAIL: " + brk + " ("), verdict + self.report(result))
        failed = [c["name"] for c in result.get("checks", []) if not c.get("ok")]
        self.assertEqual(failed, [brk], self.report(result))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    wsgtest.main()
