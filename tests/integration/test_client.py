#!/usr/bin/python3
"""
test_client.py - the wsgate command-line client, and through it the client
library, against real servers on 127.0.0.1:

  - wsgated (wsgtest.Daemon): echo, --once, binary/raw output, subprotocol,
    Origin, 404 on an unknown path, flow control on a big input, and its
    wss:// listener;
  - a Python websockets server started here: echo, subprotocol choice,
    request headers, server close with a code, fragmented messages, a ping
    from the server, the close code we send;
  - a Node `ws` server (node_ws_server.js): the same cases (skipped with the
    reason when node or ws is missing);
  - TLS: a websockets server with a throw-away CA and certificates made here
    with the openssl command (nothing is committed): --cacert, no CA,
    --insecure, SNI, wrong host names, close_notify;
  - failures: refused port, a plain HTTP server's 404, a wrong
    Sec-WebSocket-Accept, an unoffered subprotocol, a masked server frame,
    an unanswered ping, a server vanishing, usage errors.

Each run of wsgate must end within its timeout and print no sanitizer report.

Environment: WSGATE (default <repo>/build/src/wsgate), plus wsgtest's.
"""

import asyncio
import collections
import http.server
import json
import os
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

import wsgtest

HERE = os.path.dirname(os.path.abspath(__file__))
WSGATE = os.environ.get("WSGATE") or os.path.join(wsgtest.REPO, "build", "src", "wsgate")
NODE_SERVER = os.path.join(HERE, "node_ws_server.js")

try:
    import websockets
    WEBSOCKETS_MISSING = None
except ImportError as e:  # pragma: no cover
    websockets = None
    WEBSOCKETS_MISSING = "python3-websockets is missing (%s); run with /usr/bin/python3" % e

# Exit statuses, as `wsgate --help` documents them.
OK, LOCAL, USAGE, PEER_CLOSE, CONNECT, TLS, HANDSHAKE, PROTOCOL, LOST = range(9)

Run = collections.namedtuple("Run", "status out err")


def check_wsgate_binary():
    if os.access(WSGATE, os.X_OK):
        return
    if os.environ.get("WSGATE"):
        raise AssertionError("WSGATE=%s is not an executable" % WSGATE)
    raise unittest.SkipTest("no client at %s (build it or set WSGATE)" % WSGATE)


def _result(proc_status, out, err):
    err = err.decode("utf-8", "replace")
    for marker in wsgtest.SANITIZER_MARKERS:
        if marker in err:
            raise AssertionError("wsgate stderr has %r:\n%s" % (marker, err))
    return Run(proc_status, out, err)


def run_wsgate(*args, input=b"", timeout=20):
    """Run wsgate to the end with input on stdin; Run(status, out, err)."""
    try:
        r = subprocess.run([WSGATE] + list(args), input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("wsgate %s did not exit within %d s; stderr:\n%s"
                             % (" ".join(args), timeout,
                                (e.stderr or b"").decode(errors="replace")))
    return _result(r.returncode, r.stdout, r.stderr)


class Running:
    """wsgate with stdin held open (so that it does not close first)."""

    def __init__(self, *args):
        self.args = args
        self.proc = subprocess.Popen([WSGATE] + list(args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def readline(self, timeout=10):
        """One line of stdout, read without blocking past timeout."""
        out = bytearray()
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while not out.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no line from wsgate within %d s (got %r)" % (timeout, out))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                b = os.read(fd, 1)
                if not b:
                    raise AssertionError("wsgate stdout ended (got %r)" % out)
                out += b
        return bytes(out)

    def finish(self, timeout=20):
        """Close stdin (if still open) and wait for the end."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError("wsgate %s did not exit within %d s:\n%s"
                                 % (" ".join(self.args), timeout, err.decode(errors="replace")))
        return _result(self.proc.returncode, out, err)

    def wait_server_close(self, timeout=20):
        """wsgate must exit on its own, with stdin still open: the server
        ended the connection."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError("wsgate %s still running %d s after the server should have "
                                 "closed:\n%s" % (" ".join(self.args), timeout,
                                                   err.decode(errors="replace")))
        return self.finish()


def converse(test, args, exchanges):
    """Run wsgate with args; for each (sent, expected) write sent to stdin
    and read the next stdout line, which must be expected; then close stdin
    and return the Run.  One reply at a time, so that no server drops a
    reply still owed when our close arrives."""
    p = Running(*args)
    try:
        for sent, expected in exchanges:
            if sent:
                p.send(sent)
            test.assertEqual(p.readline(), expected)
    except BaseException:
        p.proc.kill()
        p.finish()
        raise
    return p.finish()


class ClientTestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        check_wsgate_binary()
        super().setUpClass()

    def assertRun(self, run, status, out=None, err=None, no_err=False):
        """status as expected; out equal (bytes) if given; err: a substring
        (or list of them) stderr must contain."""
        ctx = "exit %d, stdout %r, stderr:\n%s" % (run.status, run.out[:500], run.err)
        self.assertEqual(run.status, status, ctx)
        if out is not None:
            self.assertEqual(run.out, out, ctx)
        for needle in ([err] if isinstance(err, str) else (err or [])):
            self.assertIn(needle, run.err, ctx)
        if no_err:
            self.assertEqual(run.err, "", ctx)


# --------------------------------------------------------------------------
# servers started by the tests

class PyServer:
    """A websockets server in a thread of its own (paths as in
    node_ws_server.js, plus /record which records the close it gets)."""

    def __init__(self, ssl_context=None, compression=None):
        self.ssl_context = ssl_context
        self.compression = compression    # "deflate": permessage-deflate on
        self.closes = []          # (code, reason) seen on /record
        self.sni = []             # server names the TLS handshakes carried
        self.loop = None
        self.thread = None
        self.server = None
        self.port = None

    def __enter__(self):
        if self.ssl_context is not None:
            self.ssl_context.sni_callback = self._sni
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        return False

    def _sni(self, sslobj, name, ctx):
        self.sni.append(name)

    async def _start(self):
        self.server = await websockets.serve(
            self._handler, "127.0.0.1", 0, ssl=self.ssl_context,
            subprotocols=["chat.v2", "chat.v1"], ping_interval=None,
            compression=self.compression)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _stop(self):
        self.server.close()
        await self.server.wait_closed()

    def url(self, path):
        scheme = "wss" if self.ssl_context is not None else "ws"
        return "%s://127.0.0.1:%d%s" % (scheme, self.port, path)

    async def _echo(self, ws):
        async for m in ws:
            await ws.send(m)

    async def _handler(self, ws):
        path = ws.path.split("?")[0]
        if path == "/echo":
            await self._echo(ws)
        elif path == "/proto":
            await ws.send("proto=%s" % (ws.subprotocol or "(none)"))
            await self._echo(ws)
        elif path == "/close":
            await ws.close(4001, "bye")
        elif path == "/frag":
            await ws.send(["part1-", "part2-", "part3"])     # an iterable: fragments
            await ws.send([b"\x01\x02", b"\x03"])
            await ws.close(1000)
        elif path == "/ping":
            waiter = await ws.ping(b"x")
            await asyncio.wait_for(waiter, 5)
            await ws.send("pong received x")
            await ws.close(1000)
        elif path == "/headers":
            await ws.send("x-token=%s" % ws.request_headers.get("X-Token", ""))
            await ws.close(1000)
        elif path == "/record":
            try:
                async for _ in ws:
                    pass
            except websockets.ConnectionClosed:
                pass                    # any code but 1000/1001 lands here
            self.closes.append((ws.close_code, ws.close_reason))
        else:
            await ws.close(4404, "no such path")


class NodeServer:
    """node_ws_server.js in a child process."""

    def __enter__(self):
        env = dict(os.environ, NODE_PATH=node_path())
        self.proc = subprocess.Popen(["node", NODE_SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline()
        try:
            self.port = json.loads(line)["port"]
        except (ValueError, KeyError):
            self.proc.kill()
            raise AssertionError("node server did not start: %r %r"
                                 % (line, self.proc.stderr.read()))
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return False

    def url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.port, path)


def node_path():
    paths = [p for p in os.environ.get("NODE_PATH", "").split(":") if p]
    if "/usr/share/nodejs" not in paths:
        paths.append("/usr/share/nodejs")
    return ":".join(paths)


def node_missing():
    node = shutil.which("node")
    if node is None:
        return "node is not installed"
    r = subprocess.run([node, "-e", "require('ws')"], env=dict(os.environ, NODE_PATH=node_path()),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    if r.returncode != 0:
        return "node cannot load the ws module (apt-get install node-ws)"
    return None


NODE_MISSING = node_missing()


class RawServer:
    """A scripted server, one connection at a time: script(server, sock)
    speaks HTTP and RFC 6455 by hand (what stock servers refuse to do).
    Problems the script finds go to self.errors and fail the test."""

    def __init__(self, script, ssl_context=None):
        self.script = script
        self.ssl_context = ssl_context
        self.errors = []
        self.notes = []
        self.stopping = False

    def __enter__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.lsock.settimeout(0.1)
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        self.thread.join(15)
        self.lsock.close()
        if exc[0] is None and self.errors:
            raise AssertionError("server side: %s" % "; ".join(self.errors))
        return False

    def url(self, path="/"):
        scheme = "wss" if self.ssl_context is not None else "ws"
        return "%s://127.0.0.1:%d%s" % (scheme, self.port, path)

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                if self.ssl_context is not None:
                    conn = self.ssl_context.wrap_socket(conn, server_side=True)
                self.script(self, conn)
            except Exception as e:    # noqa: BLE001 - reported by __exit__
                self.errors.append("%s: %s" % (type(e).__name__, e))
            finally:
                conn.close()

    # -- helpers for scripts
    @staticmethod
    def read_request(conn):
        raw = wsgtest.read_head(conn).decode("latin-1")
        headers = {}
        for line in raw.split("\r\n")[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        return raw, headers

    @staticmethod
    def send_101(conn, key, accept=None, extra=()):
        head = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                % (accept if accept is not None else wsgtest.accept_for(key)))
        head += "".join("%s: %s\r\n" % kv for kv in extra) + "\r\n"
        conn.sendall(head.encode("latin-1"))

    def upgrade(self, conn, **kw):
        _, headers = self.read_request(conn)
        self.send_101(conn, headers["sec-websocket-key"], **kw)
        return headers

    @staticmethod
    def send_frame(conn, opcode, payload=b"", masked=False):
        conn.sendall(wsgtest.build_frame(opcode, payload, mask=masked))

    def recv_client_frame(self, conn):
        """(opcode, payload) of the next client frame; it must be masked."""
        b0, b1 = wsgtest.recv_exact(conn, 2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", wsgtest.recv_exact(conn, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", wsgtest.recv_exact(conn, 8))[0]
        self.last_rsv = b0 & 0x70
        if not b1 & 0x80:
            self.errors.append("client frame not masked (RFC 6455 5.1)")
            key = b"\0\0\0\0"
        else:
            key = wsgtest.recv_exact(conn, 4)
        payload = wsgtest.mask_bytes(wsgtest.recv_exact(conn, n), key)
        return b0 & 0x0F, payload

    def answer_close(self, conn):
        """Read frames until the client's close; echo its code; return it."""
        while True:
            op, payload = self.recv_client_frame(conn)
            if op == wsgtest.OP_CLOSE:
                self.send_frame(conn, wsgtest.OP_CLOSE, payload[:2])
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


class HTTP404Server:
    """A plain HTTP/1.0 server (http.server) that answers 404 to everything."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *args):
            pass

    def __enter__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self.Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        return False


# --------------------------------------------------------------------------
# wsgate against wsgated

class AgainstWsgated(wsgtest.DaemonTestCase, ClientTestCase):

    @classmethod
    def setUpClass(cls):
        check_wsgate_binary()
        super().setUpClass()

    def url(self, path="/echo"):
        return self.daemon.url(path)

    def test_lines_are_echoed_and_eof_closes_normally(self):
        r = run_wsgate(self.url(), input=b"hello\nw\xc3\xb6rld\r\n\nlast line without newline")
        self.assertRun(r, OK, out=b"hello\nw\xc3\xb6rld\n\nlast line without newline\n",
                       no_err=True)

    def test_binary_input_is_printed_as_hex(self):
        r = run_wsgate("--binary", self.url(), input=b"\x00\x01\xfe\xff")
        self.assertRun(r, OK, out=b"0001feff\n")

    def test_binary_raw_round_trip_of_a_big_input(self):
        # 3 MiB through chunked binary messages: flow control pauses stdin
        # when the output backs up, and nothing is lost or reordered.
        data = os.urandom(3 << 20)
        r = run_wsgate("--binary", "--raw", self.url(), input=data, timeout=60)
        self.assertEqual(r.status, OK, r.err)
        self.assertEqual(len(r.out), len(data))
        self.assertTrue(r.out == data, "output differs from input")

    def test_once_sends_all_of_stdin_as_one_message(self):
        r = run_wsgate("--once", self.url(), input=b"line one\nline two\n")
        self.assertRun(r, OK, out=b"line one\nline two\n\n")

    def test_once_big_text_message(self):
        text = wsgtest.text_payload(1 << 20)
        r = run_wsgate("-1", self.url(), input=text, timeout=30)
        self.assertRun(r, OK)
        self.assertTrue(r.out == text + b"\n", "1 MiB echo differs")

    def test_once_binary_raw(self):
        r = run_wsgate("--once", "--binary", "--raw", self.url(), input=b"\x00abc\xff")
        self.assertRun(r, OK, out=b"\x00abc\xff")

    def test_not_utf8_line_is_skipped_with_a_warning_and_exit_1(self):
        r = run_wsgate(self.url(), input=b"ok\n\xff\xfe\nafter\n")
        self.assertRun(r, LOCAL, out=b"ok\nafter\n",
                       err="stdin line 2 is not valid UTF-8")

    def test_subprotocol_is_negotiated_and_shown_with_verbose(self):
        r = run_wsgate("-v", "-p", "nope", "-p", "chat.v1", self.url("/proto"), input=b"x\n")
        self.assertRun(r, OK, out=b"x\n",
                       err=["* subprotocol: chat.v1", "> Sec-WebSocket-Protocol: nope, chat.v1",
                            "< HTTP/1.1 101 Switching Protocols"])

    def test_required_subprotocol_missing_is_a_rejected_handshake(self):
        r = run_wsgate(self.url("/proto"), input=b"x\n")
        self.assertRun(r, HANDSHAKE, out=b"", err="server refused the upgrade: HTTP/1.1 4")

    def test_origin_allowed_and_refused(self):
        r = run_wsgate("--origin", "https://good.example", self.url("/origin"), input=b"hi\n")
        self.assertRun(r, OK, out=b"hi\n")
        r = run_wsgate("--origin", "https://evil.example", self.url("/origin"), input=b"hi\n")
        self.assertRun(r, HANDSHAKE, out=b"",
                       err="server refused the upgrade: HTTP/1.1 403 Forbidden")

    def test_unknown_path_shows_the_404_status_line(self):
        r = run_wsgate(self.url("/nowhere"), input=b"x\n")
        self.assertRun(r, HANDSHAKE, out=b"",
                       err="wsgate: server refused the upgrade: HTTP/1.1 404 Not Found")

    def test_verbose_on_refusal_shows_the_response_head(self):
        r = run_wsgate("-v", self.url("/nowhere"), input=b"")
        self.assertRun(r, HANDSHAKE, err=["> GET /nowhere HTTP/1.1", "< HTTP/1.1 404 Not Found"])

    def test_message_over_the_server_limit_gets_1009_and_exit_3(self):
        # /small allows 1024 bytes: the server closes with 1009 (RFC 6455 7.4.1).
        r = run_wsgate("--once", "--binary", self.url("/small"), input=b"x" * 5000)
        self.assertRun(r, PEER_CLOSE, err="closed the connection with 1009")

    def test_close_code_option_is_sent_and_exit_is_0(self):
        r = run_wsgate("--close-code", "4000", self.url(), input=b"a\n")
        self.assertRun(r, OK, out=b"a\n")

    def test_sigint_closes_with_1001_and_exits_130(self):
        p = Running(self.url())
        p.send(b"before\n")
        self.assertEqual(p.readline(), b"before\n")
        p.proc.send_signal(signal.SIGINT)
        r = p.wait_server_close()       # with stdin still open
        self.assertRun(r, 128 + signal.SIGINT, out=b"")

    def test_interactive_messages_flow_while_stdin_stays_open(self):
        p = Running(self.url())
        for i in range(3):
            p.send(b"msg %d\n" % i)
            self.assertEqual(p.readline(), b"msg %d\n" % i)
        r = p.finish()
        self.assertRun(r, OK, no_err=True)


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class CompressAgainstWsgated(wsgtest.DaemonTestCase, ClientTestCase):
    """--compress (permessage-deflate) against compressing endpoints."""

    daemon_kwargs = {"endpoints": [
        wsgtest.endpoint("/z", compression=collections.OrderedDict([("enabled", True)])),
        wsgtest.endpoint("/plain"),
    ]}

    @classmethod
    def setUpClass(cls):
        check_wsgate_binary()
        super().setUpClass()

    def test_text_and_a_100k_message_are_echoed_exactly(self):
        r = run_wsgate("--compress", self.daemon.url("/z"), input=b"hi\n" + b"x" * 200 + b"\n")
        self.assertRun(r, OK, out=b"hi\n" + b"x" * 200 + b"\n", no_err=True)
        text = wsgtest.text_payload(100 * 1024)
        r = run_wsgate("--compress", "--once", self.daemon.url("/z"), input=text, timeout=30)
        self.assertRun(r, OK)
        self.assertTrue(r.out == text + b"\n", "100 KB compressed echo differs")

    def test_a_message_sent_uncompressed_is_not_referred_back_to(self):
        # a is incompressible, so it goes uncompressed; a + a then compresses
        # well, but must not point back at the a the server never inflated.
        a = os.urandom(1000)
        p = Running("--compress", "--binary", self.daemon.url("/z"))
        p.send(a)
        self.assertEqual(p.readline(), a.hex().encode() + b"\n")
        p.send(a + a)
        self.assertEqual(p.readline(), (a + a).hex().encode() + b"\n")
        self.assertRun(p.finish(), OK, no_err=True)

    def test_verbose_shows_permessage_deflate_agreed(self):
        r = run_wsgate("-v", "--compress", self.daemon.url("/z"), input=b"a\n")
        self.assertRun(r, OK, out=b"a\n", err=[
            "> Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
            "< Sec-WebSocket-Extensions: permessage-deflate"])

    def test_a_server_that_declines_gives_a_plain_connection(self):
        r = run_wsgate("-v", "--compress", self.daemon.url("/plain"), input=b"b" * 100 + b"\n")
        self.assertRun(r, OK, out=b"b" * 100 + b"\n")
        self.assertNotIn("< Sec-WebSocket-Extensions", r.err)

    def test_without_the_option_nothing_is_offered(self):
        r = run_wsgate("-v", self.daemon.url("/z"), input=b"c\n")
        self.assertRun(r, OK, out=b"c\n")
        self.assertNotIn("Sec-WebSocket-Extensions", r.err)


@unittest.skipIf(WEBSOCKETS_MISSING, WEBSOCKETS_MISSING or "")
class CompressAgainstPythonWebsockets(ClientTestCase):

    def test_echo_with_permessage_deflate(self):
        # --once: websockets drops the replies it still owes once our close arrives.
        text = wsgtest.text_payload(100 * 1024)
        with PyServer(compression="deflate") as s:
            r = run_wsgate("-v", "--compress", "-1", s.url("/echo"), input=b"short")
            self.assertRun(r, OK, out=b"short\n",
                           err="< Sec-WebSocket-Extensions: permessage-deflate")
            r = run_wsgate("--compress", "-1", s.url("/echo"), input=text, timeout=30)
        self.assertEqual(r.status, OK, r.err)
        self.assertTrue(r.out == text + b"\n", "100 KB compressed echo differs")


class CompressByHand(ClientTestCase):
    """RSV1 and the deflate stream checked with zlib, both ways."""

    def test_frames_are_compressed_both_ways(self):
        msg = b"compress me " * 20

        def script(srv, conn):
            srv.upgrade(conn, extra=[("Sec-WebSocket-Extensions", "permessage-deflate")])
            op, payload = srv.recv_client_frame(conn)
            srv.notes.append((op, srv.last_rsv,
                              zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")))
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            z = (c.compress(b"from server " * 10) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
            conn.sendall(wsgtest.build_frame(wsgtest.OP_TEXT, z, rsv=4, mask=False))
            srv.notes.append(srv.answer_close(conn))
        with RawServer(script) as s:
            p = Running("--compress", s.url())
            p.send(msg + b"\n")
            self.assertEqual(p.readline(), b"from server " * 10 + b"\n")
            r = p.finish()
            self.assertRun(r, OK)
        self.assertEqual(s.notes, [(wsgtest.OP_TEXT, 0x40, msg), 1000])


# --------------------------------------------------------------------------
# the same cases against two other servers

class PeerCases:
    """Cases run against any server implementing node_ws_server.js's paths."""

    def server(self):
        raise NotImplementedError

    def test_echo_text_and_binary(self):
        with self.server() as s:
            r = converse(self, [s.url("/echo")], [(b"one\n", b"one\n"), (b"two\n", b"two\n")])
            self.assertRun(r, OK, no_err=True)
            r = converse(self, ["--binary", s.url("/echo")], [(b"\x01\x02", b"0102\n")])
            self.assertRun(r, OK, no_err=True)

    def test_wait_keeps_receiving_after_stdin_ends(self):
        with self.server() as s:
            r = run_wsgate("--wait", "1", s.url("/echo"), input=b"a\nb\n")
            self.assertRun(r, OK, out=b"a\nb\n")

    def test_subprotocol_selection(self):
        with self.server() as s:
            r = converse(self, ["-v", "-p", "other", "-p", "chat.v1", s.url("/proto")],
                         [(None, b"proto=chat.v1\n"), (b"x\n", b"x\n")])
            self.assertRun(r, OK, err="* subprotocol: chat.v1")
            r = converse(self, [s.url("/proto")], [(None, b"proto=(none)\n")])
            self.assertRun(r, OK)

    def test_extra_header_reaches_the_server(self):
        with self.server() as s:
            r = Running("-H", "X-Token: s3cret", s.url("/headers")).wait_server_close()
            self.assertRun(r, OK, out=b"x-token=s3cret\n")

    def test_server_close_with_code_exits_3_with_code_and_reason(self):
        with self.server() as s:
            r = Running(s.url("/close")).wait_server_close()
            self.assertRun(r, PEER_CLOSE, out=b"",
                           err="wsgate: the server closed the connection with 4001: bye")

    def test_fragmented_messages_are_joined(self):
        with self.server() as s:
            r = Running(s.url("/frag")).wait_server_close()
            self.assertRun(r, OK, out=b"part1-part2-part3\n010203\n")

    def test_ping_from_the_server_is_answered(self):
        with self.server() as s:
            r = Running(s.url("/ping")).wait_server_close()
            self.assertRun(r, OK, out=b"pong received x\n")


@unittest.skipIf(WEBSOCKETS_MISSING, WEBSOCKETS_MISSING or "")
class AgainstPythonWebsockets(PeerCases, ClientTestCase):

    def server(self):
        return PyServer()

    def test_close_code_option_reaches_the_server(self):
        with PyServer() as s:
            r = run_wsgate("--close-code", "4000", s.url("/record"), input=b"a\nb\n")
            self.assertRun(r, OK)
            time.sleep(0.2)
            self.assertEqual(s.closes, [(4000, "")])

    def test_default_close_code_is_1000(self):
        with PyServer() as s:
            r = run_wsgate(s.url("/record"), input=b"")
            self.assertRun(r, OK)
            time.sleep(0.2)
            self.assertEqual(s.closes, [(1000, "")])


@unittest.skipIf(NODE_MISSING, NODE_MISSING or "")
class AgainstNodeWs(PeerCases, ClientTestCase):

    def server(self):
        return NodeServer()


# --------------------------------------------------------------------------
# TLS

def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed:\n%s" % (" ".join(args),
                                                        r.stderr.decode(errors="replace")))


def make_pki(d):
    """A CA and two server certificates signed by it, in directory d:
    good (DNS:wsgate.test, IP:127.0.0.1) and wrong (DNS:wrong.example)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=wsgate test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, san in (("good", "DNS:wsgate.test,IP:127.0.0.1"), ("wrong", "DNS:wrong.example")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n" % san)
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + san.split(",")[0][4:], cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2",
                "-extfile", name + ".ext", cwd=d)


@unittest.skipIf(WEBSOCKETS_MISSING, WEBSOCKETS_MISSING or "")
@unittest.skipIf(shutil.which("openssl") is None, "no openssl command to make certificates")
class OverTLS(ClientTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="wsgtest-pki-")
        make_pki(cls.tmp)
        cls.ca = os.path.join(cls.tmp, "ca.pem")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def context(self, name="good", max_version=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(self.tmp, name + ".pem"),
                            os.path.join(self.tmp, name + ".key"))
        if max_version is not None:
            ctx.maximum_version = max_version
        return ctx

    def test_cacert_verifies_the_ip_address(self):
        with PyServer(self.context()) as s:
            r = converse(self, ["--cacert", self.ca, "-v", s.url("/echo")],
                         [(b"secure\n", b"secure\n")])
            self.assertRun(r, OK,
                           err=["* TLS TLSv1.3", "certificate verification: ok"])
            # RFC 6066 3: no SNI for an IP literal.
            self.assertEqual(s.sni, [None])

    def test_without_the_ca_verification_fails_naming_the_reason(self):
        with PyServer(self.context()) as s:
            r = run_wsgate(s.url("/echo"), input=b"x\n")
            self.assertRun(r, TLS, out=b"", err="wsgate: certificate verify failed: "
                                                "unable to get local issuer certificate")

    def test_insecure_skips_verification(self):
        with PyServer(self.context()) as s:
            r = converse(self, ["--insecure", "-v", s.url("/echo")], [(b"x\n", b"x\n")])
            self.assertRun(r, OK, err="verification: skipped (--insecure)")
            r = converse(self, ["-k", s.url("/echo")], [(b"y\n", b"y\n")])
            self.assertRun(r, OK)

    def test_sni_name_is_sent_and_verified(self):
        with PyServer(self.context()) as s:
            r = converse(self, ["--cacert", self.ca, "--sni", "wsgate.test", s.url("/echo")],
                         [(b"x\n", b"x\n")])
            self.assertRun(r, OK)
            self.assertEqual(s.sni, ["wsgate.test"])

    def test_sni_name_not_in_the_certificate_fails(self):
        with PyServer(self.context()) as s:
            r = run_wsgate("--cacert", self.ca, "--sni", "other.test", s.url("/echo"),
                           input=b"x\n")
            self.assertRun(r, TLS, out=b"",
                           err="certificate verify failed: hostname mismatch "
                               "(the certificate is not for other.test)")

    def test_certificate_for_another_host_fails(self):
        with PyServer(self.context("wrong")) as s:
            r = run_wsgate("--cacert", self.ca, s.url("/echo"), input=b"x\n")
            self.assertRun(r, TLS, out=b"",
                           err="certificate verify failed: IP address mismatch")
            r = converse(self, ["--cacert", self.ca, "--sni", "wrong.example", s.url("/echo")],
                         [(b"x\n", b"x\n")])
            self.assertRun(r, OK)

    def test_tls12_server_is_fine(self):
        with PyServer(self.context(max_version=ssl.TLSVersion.TLSv1_2)) as s:
            r = converse(self, ["-v", "--cacert", self.ca, s.url("/echo")], [(b"x\n", b"x\n")])
            self.assertRun(r, OK, err="* TLS TLSv1.2")

    def test_server_close_code_over_tls(self):
        with PyServer(self.context()) as s:
            r = Running("--cacert", self.ca, s.url("/close")).wait_server_close()
            self.assertRun(r, PEER_CLOSE, err="4001: bye")

    def test_close_notify_is_sent_after_the_close_handshake(self):
        def script(srv, conn):
            srv.upgrade(conn)
            srv.notes.append(srv.answer_close(conn))
            # The client waits for us to close TCP (RFC 6455 7.1.1), so the
            # only way this read ends is its close_notify: b"" (a client
            # that sends none leaves it to time out).
            conn.settimeout(3)
            if conn.recv(1) == b"":
                srv.notes.append("close_notify")
        with RawServer(script, self.context()) as s:
            r = run_wsgate("--cacert", self.ca, s.url(), input=b"")
            self.assertRun(r, OK)
        self.assertEqual(s.notes, [1000, "close_notify"])

    def test_wss_to_a_plain_server_is_a_tls_failure(self):
        with PyServer() as s:
            r = run_wsgate("wss://127.0.0.1:%d/echo" % s.port, input=b"x\n")
            self.assertRun(r, TLS, err="wsgate: TLS handshake failed: ")

    def test_unreadable_cacert_is_a_usage_error(self):
        r = run_wsgate("--cacert", os.path.join(self.tmp, "nope.pem"), "wss://127.0.0.1:1/")
        self.assertRun(r, USAGE, err="cannot read CA file")


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
@unittest.skipIf(shutil.which("openssl") is None, "no openssl command to make certificates")
class AgainstWsgatedTLS(ClientTestCase):
    """wsgate against wsgated's own wss:// listener (a plain listener beside
    it serves the harness's readiness probe)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        wsgtest.check_daemon_binary()
        cls.tmp = tempfile.mkdtemp(prefix="wsgtest-pki-")
        make_pki(cls.tmp)
        cls.ca = os.path.join(cls.tmp, "ca.pem")
        cls.tls_port = wsgtest.free_port()
        tls = {"address": "127.0.0.1", "port": 23456,
               "tls": {"certificate": os.path.join(cls.tmp, "good.pem"),
                       "private_key": os.path.join(cls.tmp, "good.key")}}
        plain = {"address": "127.0.0.1", "port": 12345}
        text = wsgtest.render_config(12345, endpoints=[wsgtest.endpoint("/echo")],
                                     extra={"listen": [plain, tls]})
        text = text.replace("{", "{{").replace("}", "}}")
        text = text.replace("12345", "{port}").replace("23456", str(cls.tls_port))
        cls.daemon = wsgtest.Daemon(config_text=text)
        try:
            cls.daemon.start()
        except wsgtest.DaemonError as e:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            if "tls" in str(e).lower():
                raise unittest.SkipTest("this wsgated has no TLS listeners: %s"
                                        % str(e).splitlines()[0])
            raise

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def url(self, path="/echo"):
        return "wss://127.0.0.1:%d%s" % (self.tls_port, path)

    def test_echo_over_wsgated_tls(self):
        r = run_wsgate("-v", "--cacert", self.ca, self.url(), input=b"one\ntwo\n")
        self.assertRun(r, OK, out=b"one\ntwo\n",
                       err=["* TLS TLSv1.3", "certificate verification: ok"])

    def test_once_big_binary_over_wsgated_tls(self):
        data = os.urandom(1 << 20)
        r = run_wsgate("--once", "--binary", "--raw", "--cacert", self.ca, "--sni",
                       "wsgate.test", self.url(), input=data, timeout=30)
        self.assertRun(r, OK)
        self.assertTrue(r.out == data, "1 MiB echo over TLS differs")

    def test_wsgated_tls_without_the_ca_fails(self):
        r = run_wsgate(self.url(), input=b"x\n")
        self.assertRun(r, TLS, err="unable to get local issuer certificate")


# --------------------------------------------------------------------------
# failures

class Failures(ClientTestCase):

    def test_refused_port(self):
        port = wsgtest.free_port()
        r = run_wsgate("ws://127.0.0.1:%d/" % port, input=b"x\n")
        self.assertRun(r, CONNECT, out=b"",
                       err="wsgate: cannot connect to 127.0.0.1:%d: Connection refused" % port)

    def test_plain_http_server_404_shows_its_status_line(self):
        with HTTP404Server() as h:
            r = run_wsgate("ws://127.0.0.1:%d/chat" % h.port, input=b"x\n")
            self.assertRun(r, HANDSHAKE, out=b"",
                           err="wsgate: server refused the upgrade: HTTP/1.0 404 Not Found")

    def test_wrong_accept_key(self):
        def script(srv, conn):
            srv.upgrade(conn, accept=wsgtest.accept_for(wsgtest.make_key()))
            conn.recv(1)
        with RawServer(script) as s:
            r = run_wsgate(s.url(), input=b"x\n")
            self.assertRun(r, HANDSHAKE, out=b"",
                           err="invalid handshake response: Sec-WebSocket-Accept missing or wrong")

    def test_unoffered_subprotocol(self):
        def script(srv, conn):
            srv.upgrade(conn, extra=[("Sec-WebSocket-Protocol", "evil")])
            conn.recv(1)
        with RawServer(script) as s:
            r = run_wsgate("-p", "chat", s.url(), input=b"x\n")
            self.assertRun(r, HANDSHAKE, out=b"",
                           err="server chose a subprotocol that was not offered (\"evil\")")
            r = run_wsgate(s.url(), input=b"x\n")
            self.assertRun(r, HANDSHAKE, err="not offered")

    def test_masked_server_frame_is_a_protocol_error(self):
        def script(srv, conn):
            srv.upgrade(conn)
            srv.send_frame(conn, wsgtest.OP_TEXT, b"masked!", masked=True)
            srv.notes.append(srv.answer_close(conn))
        with RawServer(script) as s:
            r = Running(s.url()).wait_server_close()
            self.assertRun(r, PROTOCOL, out=b"", err="server frame is masked")
        self.assertEqual(s.notes, [1002])

    def test_invalid_utf8_text_from_the_server_closes_1007(self):
        def script(srv, conn):
            srv.upgrade(conn)
            srv.send_frame(conn, wsgtest.OP_TEXT, b"bad \xc0\xaf")
            srv.notes.append(srv.answer_close(conn))
        with RawServer(script) as s:
            r = Running(s.url()).wait_server_close()
            self.assertRun(r, PROTOCOL, out=b"", err="not valid UTF-8")
        self.assertEqual(s.notes, [1007])

    def test_keepalive_ping_is_sent_after_silence(self):
        def script(srv, conn):
            srv.upgrade(conn)
            start = time.monotonic()
            op, payload = srv.recv_client_frame(conn)
            if op != wsgtest.OP_PING:
                srv.errors.append("first frame opcode %d, want a ping" % op)
            srv.notes.append(time.monotonic() - start)
            srv.send_frame(conn, wsgtest.OP_PONG, payload)
            srv.send_frame(conn, wsgtest.OP_TEXT, b"got ping")
            srv.send_frame(conn, wsgtest.OP_CLOSE, struct.pack("!H", 1000))
            srv.recv_client_frame(conn)
        with RawServer(script) as s:
            r = Running("--ping-interval", "0.3", s.url()).wait_server_close()
            self.assertRun(r, OK, out=b"got ping\n")
        self.assertGreater(s.notes[0], 0.2)

    def test_unanswered_ping_gives_up_with_exit_8(self):
        def script(srv, conn):
            srv.upgrade(conn)
            srv.notes.append(srv.answer_close(conn))     # pings go unanswered
        with RawServer(script) as s:
            r = Running("--ping-interval", "0.2", s.url()).wait_server_close()
            self.assertRun(r, LOST, err="no pong within 200 ms")
        self.assertEqual(s.notes, [1001])

    def test_server_vanishing_without_close_frame_is_exit_8(self):
        def script(srv, conn):
            srv.upgrade(conn)
            srv.send_frame(conn, wsgtest.OP_TEXT, b"last words")
        with RawServer(script) as s:
            r = Running(s.url()).wait_server_close()
            self.assertRun(r, LOST, out=b"last words\n",
                           err="the server closed the connection without a close frame")

    def test_once_without_reply_times_out_with_exit_8(self):
        def script(srv, conn):
            srv.upgrade(conn)
            srv.notes.append(srv.answer_close(conn))
        with RawServer(script) as s:
            t0 = time.monotonic()
            r = run_wsgate("--once", "--timeout", "0.5", s.url(), input=b"anyone?")
            self.assertRun(r, LOST, out=b"", err="no reply")
            self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(s.notes, [1001])


class Usage(ClientTestCase):

    def test_help_lists_every_option_and_exit_status(self):
        r = run_wsgate("--help")
        self.assertEqual(r.status, OK)
        text = r.out.decode()
        for opt in ("--binary", "--raw", "--once", "--protocol", "--header", "--origin",
                    "--close-code", "--ping-interval", "--connect-timeout", "--timeout",
                    "--cacert", "--sni", "--insecure", "--verbose", "--version", "--help",
                    "--wait", "-1,", "-p,", "-H,", "-v,", "-h,", "-k,", "-w,", "-t,"):
            self.assertIn(opt, text)
        for status in range(9):
            self.assertRegex(text, r"\n    %d   " % status)

    def test_version(self):
        r = run_wsgate("--version")
        self.assertRun(r, OK)
        self.assertRegex(r.out.decode(), r"^wsgate \d+\.\d+\.\d+\n$")

    def test_bad_urls_are_usage_errors(self):
        for url, msg in (("http://127.0.0.1/", "unsupported scheme \"http\""),
                         ("ws://127.0.0.1/#frag", "fragments"),
                         ("ws://user@127.0.0.1/", "user information"),
                         ("ws://127.0.0.1:99999/", "out of range"),
                         ("ws://[::1/", "closing ']'")):
            r = run_wsgate(url)
            self.assertRun(r, USAGE, out=b"", err=msg)

    def test_bad_options_are_usage_errors(self):
        for args, msg in ((["--close-code", "1005"], "--close-code 1005"),
                          (["--close-code", "x"], "--close-code x"),
                          (["--ping-interval", "-1"], "--ping-interval -1"),
                          (["-p", "a b"], "not an HTTP token"),
                          (["-H", "Host: x"], "set by the client"),
                          (["-H", "novalue"], "not \"Name: value\""),
                          (["--sni", "bad name"], "not a DNS host name"),
                          (["--no-such-option"], "unrecognized option"),
                          ([], "no URL given")):
            r = run_wsgate(*(args + (["ws://127.0.0.1:1/"] if args else [])))
            self.assertRun(r, USAGE, out=b"", err=msg)
        r = run_wsgate("ws://127.0.0.1:1/", "ws://127.0.0.1:2/")
        self.assertRun(r, USAGE, err="more than one URL")


if __name__ == "__main__":
    wsgtest.main()
