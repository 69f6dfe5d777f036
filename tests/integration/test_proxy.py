#!/usr/bin/env python3
"""
test_proxy.py - the proxy module: WebSocket clients relayed to backends
this test writes (TCP and Unix sockets), in each framing, with failover,
closing codes, the preamble and flow control both ways (the daemon's RSS
measured while a client or a backend does not read).

Run: WSGATED=build/src/wsgated WSG_MODULE_DIR=build/src/modules/.libs \
     /usr/bin/python3 tests/integration/test_proxy.py
"""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsgtest  # noqa: E402
from wsgtest import (OP_BINARY, OP_CLOSE, OP_TEXT, Daemon, connect_raw,  # noqa: E402
                     endpoint, expect_close, recv_frame, recv_message, send_frame,
                     text_payload)

SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]


class Backend:
    """A backend app: accepts on TCP 127.0.0.1:<free> or a Unix socket and
    runs handler(conn, backend) in a thread per connection."""

    def __init__(self, handler, unix=False, backlog=64):
        self.handler = handler
        self.events = []          # what handlers report
        self.conns = 0
        if unix:
            self.dir = tempfile.mkdtemp(prefix="wsgpx-")
            self.path = os.path.join(self.dir, "backend.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.path)
            self.spec = "unix:" + self.path
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.spec = "tcp:127.0.0.1:%d" % self.sock.getsockname()[1]
        self.sock.listen(backlog)
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.handler(c, self)
        except OSError as e:
            self.events.append(("oserror", str(e)))
        finally:
            c.close()

    def close(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def echo_handler(c, b):
    while True:
        d = c.recv(1 << 20)
        if not d:
            b.events.append("eof")
            return
        c.sendall(d)


def recv_line(c):
    buf = b""
    while not buf.endswith(b"\n"):
        d = c.recv(1)
        if not d:
            raise ConnectionError("EOF in line")
        buf += d
    return buf


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def rss_slack_kb(pid):
    """How much RSS growth the flow-control tests allow: 24 MiB, or 64 MiB
    under AddressSanitizer, whose quarantine and redzones hold freed
    memory back (seen: +26 MiB with the backend correctly paused)."""
    with open("/proc/%d/maps" % pid) as f:
        return (64 if "libasan" in f.read() else 24) * 1024


def px(path, backend, **options):
    opts = {"backend": backend}
    opts.update(options)
    return endpoint(path, "proxy", options=opts)


class ProxyTestCase(unittest.TestCase):
    """A daemon per test, configured with the backends the test starts."""

    def backend(self, handler=echo_handler, **kw):
        b = Backend(handler, **kw)
        self.addCleanup(b.close)
        return b

    def daemon(self, endpoints, **kw):
        d = Daemon(endpoints=endpoints, **kw)
        d.start()
        self.addCleanup(d.stop)
        return d

    def ws(self, d, path, extra_headers=None):
        s, _ = connect_raw(d.port, path, extra_headers, timeout=10)
        self.addCleanup(s.close)
        return s


class TestFramings(ProxyTestCase):
    """Messages of every size round-trip exactly in each framing, over TCP
    and over a Unix socket."""

    def setUp(self):
        self.tcp = self.backend()
        self.unix = self.backend(unix=True)
        big = {"max_line": "2M", "max_message": "2M"}
        self.d = self.daemon([
            px("/lines", self.tcp.spec, framing="lines", **big),
            px("/lines-unix", self.unix.spec, framing="lines", **big),
            px("/lp", self.tcp.spec, framing="length-prefixed", **big),
            px("/lp-unix", self.unix.spec, framing="length-prefixed", **big),
            px("/raw", self.tcp.spec, framing="raw"),
            px("/raw-unix", self.unix.spec, framing="raw"),
        ], limits={"max_message": 4 << 20, "max_frame": 4 << 20})

    def roundtrip(self, path, opcode, payloads):
        s = self.ws(self.d, path)
        for p in payloads:
            send_frame(s, opcode, p)
            op, got = recv_message(s, timeout=20)
            self.assertEqual((op, len(got)), (opcode, len(p)), "size %d" % len(p))
            self.assertEqual(got, p, "size %d" % len(p))

    def test_lines_text_every_size(self):
        for path in ("/lines", "/lines-unix"):
            self.roundtrip(path, OP_TEXT, [text_payload(n) for n in SIZES])

    def test_lines_binary_comes_back_binary(self):
        self.roundtrip("/lines", OP_BINARY, [b"\xff\xfe\x00binary"])

    def test_lines_message_with_newlines_becomes_lines(self):
        s = self.ws(self.d, "/lines")
        send_frame(s, OP_TEXT, b"one\ntwo")
        self.assertEqual(recv_message(s), (OP_TEXT, b"one"))
        self.assertEqual(recv_message(s), (OP_TEXT, b"two"))

    def test_length_prefixed_every_size_text_and_binary(self):
        for path in ("/lp", "/lp-unix"):
            self.roundtrip(path, OP_BINARY, [os.urandom(n) for n in SIZES])
            self.roundtrip(path, OP_TEXT, [text_payload(n) for n in SIZES])

    def test_raw_every_size(self):
        for path in ("/raw", "/raw-unix"):
            s = self.ws(self.d, path)
            for n in SIZES:
                p = os.urandom(n)
                send_frame(s, OP_BINARY, p)
                got = b""
                while len(got) < n:
                    op, part = recv_message(s, timeout=20)
                    self.assertEqual(op, OP_BINARY)
                    got += part
                self.assertEqual(got, p, "size %d" % n)


class TestLengthPrefixedWire(ProxyTestCase):
    """The backend sees exactly the documented bytes, and its bad frames
    close the client with the documented codes."""

    def test_wire_format_both_ways(self):
        seen = []

        def handler(c, b):
            head = wsgtest.recv_exact(c, 5)
            n, t = struct.unpack("!IB", head)
            seen.append((n, t, wsgtest.recv_exact(c, n)))
            c.sendall(struct.pack("!IB", 3, 2) + b"\x00\x01\x02")
            c.sendall(struct.pack("!IB", 2, 1) + "é".encode())
            time.sleep(0.5)

        b = self.backend(handler)
        d = self.daemon([px("/lp", b.spec, framing="length-prefixed")])
        s = self.ws(d, "/lp")
        send_frame(s, OP_TEXT, b"hey")
        self.assertEqual(recv_message(s), (OP_BINARY, b"\x00\x01\x02"))
        self.assertEqual(recv_message(s), (OP_TEXT, "é".encode()))
        self.assertEqual(seen, [(3, 1, b"hey")])

    def test_unknown_type_closes_1011(self):
        b = self.backend(lambda c, b: (c.sendall(struct.pack("!IB", 1, 9) + b"x"),
                                       time.sleep(1)))
        d = self.daemon([px("/lp", b.spec, framing="length-prefixed")])
        expect_close(self.ws(d, "/lp"), 1011)

    def test_oversized_message_closes_1009(self):
        b = self.backend(lambda c, b: (c.sendall(struct.pack("!IB", 2000, 2)), time.sleep(1)))
        d = self.daemon([px("/lp", b.spec, framing="length-prefixed", max_message=1000)])
        expect_close(self.ws(d, "/lp"), 1009)

    def test_long_line_closes_1009(self):
        b = self.backend(lambda c, b: (c.sendall(b"x" * 5000), time.sleep(1)))
        d = self.daemon([px("/l", b.spec, max_line=1024)])
        expect_close(self.ws(d, "/l"), 1009)


class TestClosing(ProxyTestCase):

    def test_backend_eof_closes_1000_after_its_data(self):
        b = self.backend(lambda c, b: c.sendall(b"bye\n"))
        d = self.daemon([px("/p", b.spec)])
        s = self.ws(d, "/p")
        self.assertEqual(recv_message(s), (OP_TEXT, b"bye"))
        expect_close(s, 1000)

    def test_backend_reset_closes_1011(self):
        def handler(c, b):
            recv_line(c)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        b = self.backend(handler)
        d = self.daemon([px("/p", b.spec)])
        s = self.ws(d, "/p")
        send_frame(s, OP_TEXT, b"hi")
        _, reason = expect_close(s, 1011)
        self.assertIn(b"backend", reason)

    def test_no_backend_closes_1014(self):
        d = self.daemon([px("/tcp", "tcp:127.0.0.1:%d" % closed_port()),
                         px("/unix", "unix:/nonexistent/wsgate-test.sock")])
        for path in ("/tcp", "/unix"):
            _, reason = expect_close(self.ws(d, path), 1014)
            self.assertIn(b"no backend", reason)

    def test_backend_not_answering_closes_1013(self):
        # A listener whose accept queue is full drops SYNs: connect hangs.
        full = socket.socket()
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        self.addCleanup(full.close)
        port = full.getsockname()[1]
        fillers = []
        for _ in range(4):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
        self.addCleanup(lambda: [f.close() for f in fillers])
        time.sleep(0.2)
        d = self.daemon([px("/p", "tcp:127.0.0.1:%d" % port, connect_timeout=0.5)])
        t0 = time.monotonic()
        expect_close(self.ws(d, "/p"), 1013)
        self.assertGreater(time.monotonic() - t0, 0.4)

    def test_failover_to_the_second_backend(self):
        b = self.backend()
        d = self.daemon([px("/p", ["tcp:127.0.0.1:%d" % closed_port(),
                                   "unix:/nonexistent/x.sock", b.spec])])
        s = self.ws(d, "/p")
        send_frame(s, OP_TEXT, b"still here")
        self.assertEqual(recv_message(s), (OP_TEXT, b"still here"))

    def test_round_robin_spreads_connections(self):
        names = []
        b1 = self.backend(lambda c, b: (c.sendall(b"one\n"), time.sleep(2)))
        b2 = self.backend(lambda c, b: (c.sendall(b"two\n"), time.sleep(2)))
        # One worker: round robin is each worker's own (as in nginx).
        d = self.daemon([px("/p", [b1.spec, b2.spec], balance="round-robin")],
                        extra={"workers": 1})
        for _ in range(4):
            names.append(recv_message(self.ws(d, "/p"))[1])
        self.assertEqual(sorted(names), [b"one", b"one", b"two", b"two"])

    def test_client_close_shuts_the_backend_down(self):
        got = []

        def handler(c, b):
            got.append(recv_line(c))
            c.settimeout(5)
            got.append(c.recv(10))  # b"" once wsgated shuts its side down
        b = self.backend(handler)
        d = self.daemon([px("/p", b.spec)])
        s = self.ws(d, "/p")
        send_frame(s, OP_TEXT, b"last words")
        send_frame(s, OP_CLOSE, struct.pack("!H", 1000))
        expect_close(s, 1000)
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(got, [b"last words\n", b""])


class TestPreamble(ProxyTestCase):

    def test_preamble_line(self):
        lines = []

        def handler(c, b):
            lines.append(recv_line(c))
            c.sendall(b"ok\n")
            time.sleep(1)
        b = self.backend(handler)
        d = self.daemon([px("/app", b.spec, preamble=True,
                            preamble_headers=["Cookie", "X-Absent"])],
                        extra={})
        s = self.ws(d, "/app?user=7", extra_headers=[("Cookie", 'id="q"'),
                                                     ("X-Other", "secret")])
        self.assertEqual(recv_message(s), (OP_TEXT, b"ok"))
        self.assertTrue(lines[0].endswith(b"}\n") and lines[0].count(b"\n") == 1)
        pre = json.loads(lines[0])
        self.assertEqual(pre["remote_addr"], "127.0.0.1")
        self.assertEqual(pre["remote_port"], s.getsockname()[1])
        self.assertEqual(pre["path"], "/app")
        self.assertEqual(pre["query"], "user=7")
        self.assertIsNone(pre["subprotocol"])
        self.assertIs(pre["secure"], False)
        self.assertEqual(pre["headers"], {"cookie": 'id="q"'})


class TestOptions(unittest.TestCase):
    """Bad options stop the configuration check with the option named."""

    def check(self, options, needle):
        wsgtest.check_daemon_binary()
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "c.conf")
            with open(conf, "w") as f:
                f.write(wsgtest.render_config(8080, endpoints=[
                    endpoint("/p", "proxy", options=options)]))
            r = subprocess.run([wsgtest.WSGATED, "-t", "-c", conf], capture_output=True,
                               text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(needle, r.stderr)

    def test_unknown_option(self):
        self.check({"backend": "tcp:127.0.0.1:1", "bakend": 1}, 'unknown option "bakend"')

    def test_bad_backend(self):
        self.check({"backend": "http://x"}, "backend")

    def test_missing_backend(self):
        self.check({"framing": "lines"}, "backend is required")

    def test_bad_framing(self):
        self.check({"backend": "tcp:127.0.0.1:1", "framing": "json"}, "framing must be one of")

    def test_bad_timeout(self):
        self.check({"backend": "tcp:127.0.0.1:1", "connect_timeout": -1}, "connect_timeout")


class TestFlowControl(ProxyTestCase):
    """Neither a slow client nor a slow backend makes the daemon buffer
    without bound."""

    TOTAL = 256 << 20

    def test_slow_client_pauses_the_backend(self):
        sent = [0]

        def flood(c, b):
            chunk = b"x" * 65535 + b"\n"
            c.settimeout(30)
            try:
                while sent[0] < self.TOTAL:
                    c.sendall(chunk)
                    sent[0] += len(chunk)
            except OSError:
                pass
        b = self.backend(flood)
        d = self.daemon([px("/p", b.spec)])
        pid = d.proc.pid
        before = rss_kb(pid)
        s = self.ws(d, "/p")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        time.sleep(3)          # the client reads nothing meanwhile
        stalled_at = sent[0]
        time.sleep(1)
        growth = rss_kb(pid) - before
        print("\nslow client: backend sent %.1f MiB before stalling, daemon RSS +%d KiB"
              % (stalled_at / 2**20, growth), file=sys.stderr)
        self.assertEqual(sent[0], stalled_at, "the backend was not paused")
        self.assertLess(stalled_at, 32 << 20)
        self.assertLess(growth, rss_slack_kb(pid))
        # Reading again resumes the backend.
        for _ in range(200):
            op, m = recv_message(s, timeout=10)
            self.assertEqual(len(m), 65535)
        self.assertGreater(sent[0], stalled_at)

    def test_slow_backend_pauses_the_client(self):
        def sleeper(c, b):
            time.sleep(8)
        b = self.backend(sleeper)
        d = self.daemon([px("/p", b.spec, framing="raw")])
        pid = d.proc.pid
        before = rss_kb(pid)
        s = self.ws(d, "/p")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sent = 0
        frame = wsgtest.build_frame(OP_BINARY, b"y" * 65536)
        s.settimeout(3)
        try:
            while sent < self.TOTAL:
                s.sendall(frame)
                sent += len(frame)
        except socket.timeout:
            pass
        growth = rss_kb(pid) - before
        print("\nslow backend: client sent %.1f MiB before stalling, daemon RSS +%d KiB"
              % (sent / 2**20, growth), file=sys.stderr)
        self.assertLess(sent, 32 << 20, "the client was not paused")
        self.assertLess(growth, rss_slack_kb(pid))


if __name__ == "__main__":
    wsgtest.main()
