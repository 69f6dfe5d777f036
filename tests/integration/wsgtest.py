"""
wsgtest.py - harness for wsgated's integration tests.

Starts a real wsgated on a free 127.0.0.1 port with a generated libconfig
file, and gives tests raw-socket helpers to speak HTTP and RFC 6455 frames
by hand (what stock clients refuse to send).  Standard library only; run
the tests with /usr/bin/python3 (Debian's modules, e.g. python3-websockets,
are visible there).

Environment:
  WSGATED          daemon binary (default <repo>/build/src/wsgated)
  WSG_MODULE_DIR   module directory (default <repo>/build/src/modules/.libs)
  WSG_TEST_PORT    if set, start nothing and test the server already listening
                   on that port (for sanity checks against reference servers)
  WSG_KEEP_TMP     if set, keep the temp directory (config, daemon stderr)
  WSGATED_WRAPPER  a command prefixed to the daemon's, split like a shell
                   would, e.g. "valgrind --leak-check=full --error-exitcode=99";
                   start-up and stop then get 60 s instead of 10

Every socket has a timeout: a test fails in seconds, it never hangs.
"""

import base64
import collections
import hashlib
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WSGATED = os.environ.get("WSGATED") or os.path.join(REPO, "build", "src", "wsgated")
MODULE_DIR = os.environ.get("WSG_MODULE_DIR") or os.path.join(
    REPO, "build", "src", "modules", ".libs")
EXTERNAL_PORT = os.environ.get("WSG_TEST_PORT")
WRAPPER = shlex.split(os.environ.get("WSGATED_WRAPPER", ""))
# WSG_TEST_WORKERS=N: every daemon the tests start runs N workers (unless
# a test sets workers itself), to run the whole suite on N event loops.
TEST_WORKERS = int(os.environ.get("WSG_TEST_WORKERS") or 1)
# Seconds the daemon gets to start and to stop (a wrapper such as valgrind
# makes both much slower).
DAEMON_PATIENCE = 60 if WRAPPER else 10

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                     "runtime error")

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

DEFAULT_TIMEOUT = 5.0

# Global limits written into every config unless a test overrides them.
# ping_interval = 0 so that no keepalive ping lands in the middle of a raw
# test; close_timeout is short so that a daemon waiting for a close reply
# still ends the TCP connection within expect_close's patience.
DEFAULT_LIMITS = collections.OrderedDict([
    ("max_frame", 1048576),
    ("max_message", 16777216),
    ("handshake_timeout", 5),
    ("close_timeout", 2),
    ("ping_interval", 0),
])


def endpoint(path, module="echo", **settings):
    """One endpoint group: endpoint("/x", subprotocols=["a"], limits={...})."""
    ep = collections.OrderedDict([("path", path), ("module", module)])
    ep.update(settings)
    return ep


DEFAULT_ENDPOINTS = [
    endpoint("/echo"),
    endpoint("/small", limits=collections.OrderedDict(
        [("max_message", 1024), ("max_frame", 1024)])),
    endpoint("/proto", subprotocols=["chat.v2", "chat.v1"], subprotocol_required=True),
    endpoint("/origin", allowed_origins=["https://good.example"]),
]


# --------------------------------------------------------------------------
# libconfig rendering

def _cfg_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return "%dL" % v if not -2**31 <= v < 2**31 else "%d" % v
    if isinstance(v, float):
        s = repr(v)
        return s if ("." in s or "e" in s) else s + ".0"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError("no libconfig form for %r" % (v,))


def cfg_value(v, indent=0):
    """Render a Python value as libconfig: dict → group, list of dicts →
    list ( ), list of scalars → array [ ], scalars as themselves."""
    pad = "  " * indent
    if isinstance(v, dict):
        if not v:
            return "{ }"
        inner = "".join("%s  %s = %s;\n" % (pad, k, cfg_value(x, indent + 1))
                        for k, x in v.items())
        return "{\n" + inner + pad + "}"
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, dict) for x in v):
            items = ",\n".join(pad + "  " + cfg_value(x, indent + 1) for x in v)
            return "(\n" + items + "\n" + pad + ")"
        return "[" + ", ".join(_cfg_scalar(x) for x in v) + "]"
    return _cfg_scalar(v)


def render_config(port, limits=None, endpoints=None, extra=None, log_level="debug",
                  module_dir=None):
    """The daemon's config text.  limits are merged over DEFAULT_LIMITS (a
    value of None removes a key); extra adds top-level settings."""
    lim = collections.OrderedDict(DEFAULT_LIMITS)
    for k, v in (limits or {}).items():
        if v is None:
            lim.pop(k, None)
        else:
            lim[k] = v
    top = collections.OrderedDict()
    top["listen"] = [collections.OrderedDict([("address", "127.0.0.1"), ("port", port)])]
    top["module_dir"] = module_dir if module_dir is not None else MODULE_DIR
    top["limits"] = lim
    top["log"] = collections.OrderedDict([("level", log_level)])
    top["endpoints"] = list(endpoints if endpoints is not None else DEFAULT_ENDPOINTS)
    if TEST_WORKERS > 1:
        top["workers"] = TEST_WORKERS
    top.update(extra or {})
    return "".join("%s = %s;\n" % (k, cfg_value(v)) for k, v in top.items())


def line_of(text, needle, start=1):
    """1-based number of the first line at or after start containing needle."""
    for n, line in enumerate(text.splitlines(), 1):
        if n >= start and needle in line:
            return n
    raise ValueError("%r not in config" % needle)


# --------------------------------------------------------------------------
# the daemon

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class DaemonError(AssertionError):
    pass


def check_daemon_binary():
    """A WSGATED that was set but is not there fails the tests; the default
    path missing (nothing built yet) skips them."""
    if os.access(WSGATED, os.X_OK):
        return
    if os.environ.get("WSGATED"):
        raise DaemonError("WSGATED=%s is not an executable" % WSGATED)
    raise unittest.SkipTest("no daemon at %s (build it or set WSGATED)" % WSGATED)


class Daemon:
    """A wsgated on 127.0.0.1:<free port>.

        with Daemon(limits={"idle_timeout": 1}) as d:
            sock, _ = connect_raw(d.port, "/echo")

    On exit: SIGTERM, wait <= 10 s (else SIGKILL and fail), exit status 0,
    and no sanitizer report in its stderr, or DaemonError."""

    def __init__(self, limits=None, endpoints=None, extra=None, log_level="debug",
                 config_text=None, args=(), env=None, preexec_fn=None):
        self.limits = limits
        self.endpoints = endpoints
        self.extra = extra
        self.log_level = log_level
        self.config_text = config_text      # a format string with {port}, if given
        self.args = list(args)
        self.env = env                      # added to the daemon's environment
        self.preexec_fn = preexec_fn        # run in the child before exec (setrlimit...)
        self.proc = None
        self.port = None
        self.tmp = None
        self.config_path = None
        self.stderr_path = None
        self.external = EXTERNAL_PORT is not None

    # -- lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        return False

    def start(self):
        if self.external:
            self.port = int(EXTERNAL_PORT)
            return self
        check_daemon_binary()
        self.tmp = tempfile.mkdtemp(prefix="wsgtest-")
        last = None
        for _attempt in range(3):
            self.port = free_port()
            try:
                self._spawn()
                return self
            except DaemonError as e:
                last = e
                if "in use" not in self.stderr_text():
                    break
        if os.environ.get("WSG_KEEP_TMP"):
            print("kept", self.tmp, file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None
        raise last

    def _spawn(self):
        d = self.tmp
        self.config_path = os.path.join(d, "wsgated.conf")
        self.stderr_path = os.path.join(d, "wsgated.stderr")
        if self.config_text is not None:
            text = self.config_text.format(port=self.port, module_dir=MODULE_DIR)
        else:
            text = render_config(self.port, self.limits, self.endpoints, self.extra,
                                 self.log_level)
        with open(self.config_path, "w") as f:
            f.write(text)
        # With several workers the port answers (on a worker already
        # serving) before the rest have started: wait for the "started"
        # line too, where the log level shows it.
        level = re.search(r'\blevel\s*=\s*"(\w+)"', text)
        self._wait_started = (level is None
                              or level.group(1) in ("debug", "info", "notice"))
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(WRAPPER + [WSGATED, "-c", self.config_path] + self.args,
                                     preexec_fn=self.preexec_fn,
                                     stdin=subprocess.DEVNULL, stdout=self._stderr,
                                     stderr=self._stderr, cwd=d,
                                     env=dict(os.environ, **(self.env or {})))
        deadline = time.monotonic() + DAEMON_PATIENCE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._stderr.close()
                raise DaemonError("wsgated exited with status %s during start-up:\n%s"
                                  % (self.proc.returncode, self.stderr_text()))
            if self._probe() and (not self._wait_started
                                  or " started, configuration " in self.stderr_text()):
                return
            time.sleep(0.02)
        self._kill()
        raise DaemonError("wsgated did not accept on port %d within %d s:\n%s"
                          % (self.port, DAEMON_PATIENCE, self.stderr_text()))

    def _probe(self):
        """Ready = the port accepts a TCP connection and the event loop
        answers on it.  A bare connect is not enough: the kernel completes
        it from the listen backlog even when the daemon is stuck or dying
        (e.g. a sanitizer report printing right after listen())."""
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
        except OSError:
            return False
        try:
            s.settimeout(2)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(1) != b""
        except OSError:
            return False
        finally:
            s.close()

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def terminate(self):
        """Send SIGTERM now (a test of graceful stop); stop() then only waits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self._terminated = True

    def wait_exit(self, timeout):
        """Exit status within timeout, or None if still running."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """SIGTERM; fail unless it exits 0 within 10 s with clean stderr."""
        if self.external or self.proc is None:
            return
        try:
            problems = []
            terminated = getattr(self, "_terminated", False)
            if self.proc.poll() is not None and not terminated:
                problems.append("wsgated died during the tests (status %s)"
                                % self.proc.returncode)
            else:
                if not terminated:
                    self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=DAEMON_PATIENCE)
                except subprocess.TimeoutExpired:
                    self._kill()
                    problems.append("wsgated ignored SIGTERM for %d s (killed)"
                                    % DAEMON_PATIENCE)
                if self.proc.returncode != 0:
                    problems.append("wsgated exited with status %s after SIGTERM"
                                    % self.proc.returncode)
            self._stderr.close()
            err = self.stderr_text()
            for marker in SANITIZER_MARKERS:
                if marker in err:
                    problems.append("stderr contains %r" % marker)
            if problems:
                raise DaemonError("; ".join(problems) + "\n--- stderr (tail) ---\n"
                                  + self.stderr_tail(120))
        finally:
            self.proc = None
            if self.tmp is not None:
                if os.environ.get("WSG_KEEP_TMP"):
                    print("kept", self.tmp, file=sys.stderr)
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)
                self.tmp = None

    # -- inspection
    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def stderr_tail(self, lines=40):
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def alive(self):
        return self.external or (self.proc is not None and self.proc.poll() is None)

    def assert_alive(self):
        """Fail if the daemon has exited; its stderr is shown the first time."""
        if self.alive():
            return
        status = self.proc.returncode if self.proc else None
        if getattr(self, "_death_reported", False):
            raise DaemonError("wsgated is gone (status %s), see the first failure" % status)
        self._death_reported = True
        raise DaemonError("wsgated is gone (status %s):\n%s" % (status, self.stderr_tail(80)))

    def url(self, path="/echo"):
        return "ws://127.0.0.1:%d%s" % (self.port, path)


class DaemonTestCase(unittest.TestCase):
    """One daemon per test class; daemon_kwargs configure it.  Each test
    fails if the daemon died during it."""
    daemon_kwargs = {}
    daemon = None

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(**cls.daemon_kwargs)
        cls.daemon.start()
        cls.port = cls.daemon.port

    @classmethod
    def tearDownClass(cls):
        if cls.daemon is not None:
            d, cls.daemon = cls.daemon, None
            d.stop()

    def setUp(self):
        if self.daemon is not None and not self.daemon.alive():
            self.daemon.assert_alive()

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.assert_alive()

    def raw(self, path="/echo", extra_headers=None):
        """connect_raw whose socket is closed when the test ends."""
        sock, leftover = connect_raw(self.port, path, extra_headers)
        self.addCleanup(sock.close)
        self.assertEqual(leftover, b"")
        return sock


# --------------------------------------------------------------------------
# HTTP by hand

Response = collections.namedtuple("Response", "status reason headers body raw")


class HTTPHeaders(list):
    """[(name, value)] with case-insensitive lookup."""

    def get(self, name, default=None):
        for k, v in self:
            if k.lower() == name.lower():
                return v
        return default

    def get_all(self, name):
        return [v for k, v in self if k.lower() == name.lower()]


def tcp_connect(port, timeout=DEFAULT_TIMEOUT):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def make_key(raw16=None):
    return base64.b64encode(raw16 if raw16 is not None else os.urandom(16)).decode()


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def upgrade_request(port, path="/echo", extra_headers=None, key=None, version="13",
                    method="GET", omit=()):
    """Bytes of a client opening handshake (RFC 6455 4.1).  extra_headers:
    list of (name, value) appended; omit: header names to leave out."""
    hdrs = [("Host", "127.0.0.1:%d" % port),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key if key is not None else make_key()),
            ("Sec-WebSocket-Version", version)]
    omit_l = {o.lower() for o in omit}
    hdrs = [(k, v) for k, v in hdrs if k.lower() not in omit_l]
    hdrs += list(extra_headers or [])
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in hdrs) + "\r\n"
    return head.encode("latin-1")


def read_head(sock):
    """Read a response head up to CRLFCRLF, one byte at a time so that not a
    byte past it is consumed."""
    buf = bytearray()
    while not buf.endswith(b"\r\n\r\n"):
        b = sock.recv(1)
        if not b:
            raise ConnectionError("EOF inside response head: %r" % bytes(buf))
        buf += b
        if len(buf) > 65536:
            raise AssertionError("response head too long")
    return bytes(buf)


def parse_head(raw):
    lines = raw.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})(?: (.*))?$", lines[0])
    if not m:
        raise AssertionError("bad status line %r" % lines[0])
    headers = HTTPHeaders()
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return int(m.group(1)), m.group(2) or "", headers


def read_response(sock):
    """Response head and (for non-101) its body."""
    raw = read_head(sock)
    status, reason, headers = parse_head(raw)
    body = b""
    if status != 101:
        cl = headers.get("Content-Length")
        if cl is not None:
            body = recv_exact(sock, int(cl))
        elif headers.get("Transfer-Encoding", "").lower() != "chunked":
            try:
                while True:
                    b = sock.recv(65536)
                    if not b:
                        break
                    body += b
            except (socket.timeout, ConnectionResetError):
                pass
    return Response(status, reason, headers, body, raw)


def http_exchange(port, request_bytes, timeout=DEFAULT_TIMEOUT):
    """Send raw request bytes on a new connection; return the Response."""
    s = tcp_connect(port, timeout)
    try:
        s.sendall(request_bytes)
        return read_response(s)
    finally:
        s.close()


def http_get(port, path, headers=None, timeout=DEFAULT_TIMEOUT):
    req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n" % (path, port)
    req += "".join("%s: %s\r\n" % kv for kv in (headers or [])) + "\r\n"
    return http_exchange(port, req.encode("latin-1"), timeout)


def connect_raw(port, path="/echo", extra_headers=None, timeout=DEFAULT_TIMEOUT, key=None):
    """Open a WebSocket by hand.  Returns (socket, leftover): leftover is the
    bytes received after the 101's head (always b"" here, the head is read
    byte by byte, so frames stay in the socket for recv_frame).  Fails
    unless the answer is 101 with the right Sec-WebSocket-Accept."""
    key = key or make_key()
    s = tcp_connect(port, timeout)
    try:
        s.sendall(upgrade_request(port, path, extra_headers, key=key))
        raw = read_head(s)
        status, _, headers = parse_head(raw)
        if status != 101:
            raise AssertionError("upgrade to %s refused: %r" % (path, raw))
        check_101(headers, key)
    except BaseException:
        s.close()
        raise
    return s, b""


def check_101(headers, key):
    if headers.get("Sec-WebSocket-Accept") != accept_for(key):
        raise AssertionError("bad Sec-WebSocket-Accept %r for key %r (want %r)"
                             % (headers.get("Sec-WebSocket-Accept"), key, accept_for(key)))
    if "websocket" not in headers.get("Upgrade", "").lower():
        raise AssertionError("101 without Upgrade: websocket: %r" % headers)
    if "upgrade" not in [t.strip().lower() for t in headers.get("Connection", "").split(",")]:
        raise AssertionError("101 without Connection: Upgrade: %r" % headers)


# --------------------------------------------------------------------------
# frames (RFC 6455 5.2)

Frame = collections.namedtuple("Frame", "fin rsv opcode payload")


class PeerClosed(ConnectionError):
    """The server closed TCP (EOF or reset) while we expected bytes."""


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None,
                length=None, length_bytes=None):
    """A client frame.  length: value to put in the header instead of
    len(payload); length_bytes: force 0 (7-bit), 2 or 8 extended-length
    bytes; rsv: the 3 RSV bits as a number 0-7 (4 = RSV1)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n < 65536 else 8
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if length_bytes == 0:
        head = struct.pack("!BB", b0, mbit | n)
    elif length_bytes == 2:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return head + key + mask_bytes(payload, key)


def mask_bytes(payload, key):
    if not payload:
        return b""
    n = len(payload)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")


def send_frame(sock, opcode, payload=b"", **kw):
    """Send one frame (see build_frame for the options)."""
    sock.sendall(build_frame(opcode, payload, **kw))


def send_bytewise(sock, data, pause=0.001):
    for i in range(len(data)):
        sock.sendall(data[i:i + 1])
        if pause:
            time.sleep(pause)


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def recv_exact(sock, n, timeout=None):
    """n bytes, or PeerClosed on EOF/reset, socket.timeout on timeout."""
    if timeout is not None:
        sock.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        try:
            b = sock.recv(min(n - len(buf), 1 << 20))
        except ConnectionResetError:
            raise PeerClosed("connection reset after %d of %d bytes" % (len(buf), n))
        if not b:
            raise PeerClosed("EOF after %d of %d bytes" % (len(buf), n))
        buf += b
    return bytes(buf)


def recv_frame(sock, timeout=DEFAULT_TIMEOUT):
    """Next server frame as Frame(fin, rsv, opcode, payload).  Raises
    PeerClosed on EOF, socket.timeout on timeout, AssertionError if the
    server masked it (RFC 6455 5.1: a server MUST NOT mask)."""
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    b0, b1 = recv_exact(sock, 2)
    sock.settimeout(max(0.05, deadline - time.monotonic()))
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(sock, 8))[0]
    if b1 & 0x80:
        raise AssertionError("server sent a masked frame (RFC 6455 5.1)")
    payload = recv_exact(sock, n)
    sock.settimeout(timeout)
    return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload)


def recv_message(sock, timeout=DEFAULT_TIMEOUT):
    """Next data message (opcode, payload), reassembled from fragments;
    pings/pongs are skipped, a close frame is an AssertionError."""
    deadline = time.monotonic() + timeout
    opcode, parts = None, []
    while True:
        f = recv_frame(sock, max(0.05, deadline - time.monotonic()))
        if f.opcode in (OP_PING, OP_PONG):
            continue
        if f.opcode == OP_CLOSE:
            raise AssertionError("close frame %s instead of a message" % describe_close(f.payload))
        if f.rsv:
            raise AssertionError("server frame with RSV bits %d" % f.rsv)
        if opcode is None:
            if f.opcode == OP_CONT:
                raise AssertionError("server sent a continuation without a start")
            opcode = f.opcode
        elif f.opcode != OP_CONT:
            raise AssertionError("server interleaved opcode %d into a message" % f.opcode)
        parts.append(f.payload)
        if f.fin:
            return opcode, b"".join(parts)


def describe_close(payload):
    if len(payload) >= 2:
        return "code %d reason %r" % (struct.unpack("!H", payload[:2])[0], payload[2:])
    return "payload %r" % payload


def assert_eof(sock, timeout=DEFAULT_TIMEOUT):
    """The server closes TCP (EOF or reset) within timeout and sends nothing
    more before that."""
    sock.settimeout(timeout)
    try:
        b = sock.recv(65536)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise AssertionError("server did not close TCP within %.1f s" % timeout)
    if b:
        raise AssertionError("bytes after the close frame: %r" % b[:64])


def expect_close(sock, code, timeout=DEFAULT_TIMEOUT, allow_data=False):
    """The server's next frame is a close with this code (an int, a
    collection of acceptable ints, or None for "empty payload"; "empty" is
    also accepted where None is in a collection), then TCP is closed within
    timeout.  Returns (code or None, reason bytes)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            f = recv_frame(sock, max(0.05, deadline - time.monotonic()))
        except PeerClosed as e:
            raise AssertionError("expected a close frame with %s, got %s" % (code, e))
        except socket.timeout:
            raise AssertionError("expected a close frame with %s, got nothing within %.1f s"
                                 % (code, timeout))
        if f.opcode == OP_CLOSE:
            break
        if not allow_data:
            raise AssertionError("expected a close frame with %s, got opcode %d payload %r"
                                 % (code, f.opcode, f.payload[:64]))
    if not f.fin:
        raise AssertionError("fragmented close frame")
    if len(f.payload) == 1:
        raise AssertionError("server close payload of 1 byte")
    got = struct.unpack("!H", f.payload[:2])[0] if len(f.payload) >= 2 else None
    want = set(code) if isinstance(code, (set, frozenset, list, tuple)) else {code}
    if got not in want:
        raise AssertionError("close %s, want %s" % (describe_close(f.payload), code))
    assert_eof(sock, max(0.5, deadline - time.monotonic()))
    return got, f.payload[2:]


def text_payload(n):
    """Exactly n bytes of valid UTF-8 with multi-byte characters in it."""
    unit = "héllo wörld € 😀 κόσμε ".encode()
    buf = (unit * (n // len(unit) + 1))[:n]
    # back off a cut code point, pad with ASCII
    while buf:
        try:
            buf.decode()
            break
        except UnicodeDecodeError:
            buf = buf[:-1]
    return buf + b"x" * (n - len(buf))


def tcp_state(local_port, remote_port):
    """State of the kernel socket 127.0.0.1:local_port ↔ :remote_port from
    /proc/net/tcp ("ESTABLISHED", "FIN_WAIT1", ...), or None if gone."""
    names = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
             6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
             11: "CLOSING"}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            lp = int(parts[1].split(":")[1], 16)
            rp = int(parts[2].split(":")[1], 16)
            if lp == local_port and rp == remote_port:
                return names.get(int(parts[3], 16), parts[3])
    return None


def main():
    """unittest.main, but exit 77 (automake's SKIP) when every test skipped."""
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    if r.skipped and len(r.skipped) >= r.testsRun and r.wasSuccessful():
        sys.exit(77)
    sys.exit(0 if r.wasSuccessful() else 1)
