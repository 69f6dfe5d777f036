"""
soaklib.py - shared pieces of the soak suite (tests/soak/test_*.py).

The soak tests reuse the integration harness (tests/integration/wsgtest.py,
imported from here as W) to start a real wsgated, and add:
  - EchoChecker: a well-behaved client that echoes a message every 50 ms
    on its own connection while a test does something nasty to the same
    daemon, and fails the test if an echo is late, wrong or missing;
  - SoakTestCase: a DaemonTestCase that runs an EchoChecker around every
    test;
  - an asyncio raw-socket client for thousands of connections at once;
  - /proc readings of the daemon (RSS, CPU time, open descriptors);
  - figure(): a measured number, printed as "SOAK-FIGURE: ..." so that the
    runner (tests/soak/run) can show it.

Environment, besides wsgtest's (WSGATED, WSG_MODULE_DIR, ...):
  WSG_SOAK_CONNS   connections for the idle-connection test (default 10000,
                   2000 against a sanitizer build)
  WSG_SOAK_SLOW    factor for every timeout (default 1, 3 against a
                   sanitizer build)
"""

import asyncio
import os
import random
import resource
import struct
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import wsgtest as W  # noqa: E402  (after the path is set)


def _sanitized():
    """Is WSGATED built with AddressSanitizer?  (Its symbols say so.)"""
    try:
        with open(W.WSGATED, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SANITIZED = _sanitized()
SLOW = float(os.environ.get("WSG_SOAK_SLOW") or (3 if SANITIZED else 1))
CONNS = int(os.environ.get("WSG_SOAK_CONNS") or (2000 if SANITIZED else 10000))


def figure(name, text):
    """A measured number for the report: printed on its own line."""
    print("SOAK-FIGURE: %s: %s" % (name, text), flush=True)


def raise_nofile():
    """Soft RLIMIT_NOFILE up to the hard one; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def nofile_limit(n):
    """A preexec_fn for Daemon: the daemon gets n descriptors, hard limit
    included (it raises its soft limit to the hard one at start)."""
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return set_limit


# --------------------------------------------------------------------------
# /proc

def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class RssSampler(threading.Thread):
    """Samples a process's RSS every interval seconds; .peak in KiB."""

    def __init__(self, pid, interval=0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = rss_kb(pid)
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                self.peak = max(self.peak, rss_kb(self.pid))
            except OSError:
                return
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()
        return self.peak


def wait_until(pred, timeout, interval=0.05):
    """pred() within timeout seconds; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# --------------------------------------------------------------------------
# the well-behaved client

class EchoChecker:
    """Echoes a fresh binary message every interval seconds on its own
    connection and checks every reply: same bytes, in order, within
    timeout.  Anything else (a wrong or late echo, a close, a reset) stops
    it and is reported by check()."""

    def __init__(self, port, path="/echo", interval=0.05, timeout=None):
        self.port, self.path, self.interval = port, path, interval
        self.timeout = timeout if timeout is not None else 5.0 * SLOW
        self.sent = self.received = 0
        self.worst = 0.0
        self.error = None
        self._stop = threading.Event()
        self._rng = random.Random(os.getpid())
        self.sock, _ = W.connect_raw(port, path, timeout=self.timeout)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                payload = b"check %d " % self.sent + bytes(
                    self._rng.getrandbits(8) for _ in range(self._rng.randrange(0, 200)))
                t0 = time.monotonic()
                W.send_frame(self.sock, W.OP_BINARY, payload)
                self.sent += 1
                opcode, data = W.recv_message(self.sock, self.timeout)
                if opcode != W.OP_BINARY or data != payload:
                    raise AssertionError("echo %d is wrong: opcode %d, %r..., want %r..."
                                         % (self.sent, opcode, data[:40], payload[:40]))
                self.received += 1
                self.worst = max(self.worst, time.monotonic() - t0)
                self._stop.wait(self.interval)
        except Exception:  # noqa: BLE001 - reported by check()
            self.error = traceback.format_exc()

    def stop(self):
        self._stop.set()
        self.thread.join(self.timeout + 5)
        try:
            W.send_frame(self.sock, W.OP_CLOSE, W.close_payload(1000))
        except OSError:
            pass
        self.sock.close()

    def check(self, testcase, min_echoes=1):
        """Fail testcase unless every echo came back right."""
        if self.error is not None:
            testcase.fail("the well-behaved client's echo failed after %d good echoes:\n%s"
                          % (self.received, self.error))
        testcase.assertGreaterEqual(self.received, min_echoes,
                                    "the well-behaved client got too few echoes")
        testcase.assertEqual(self.sent, self.received, "an echo was lost")


class SoakTestCase(W.DaemonTestCase):
    """One daemon per class (daemon_kwargs); an EchoChecker on
    checker_path runs through every test and must stay healthy."""
    checker_path = "/echo"

    def setUp(self):
        super().setUp()
        self.checker = EchoChecker(self.port, self.checker_path)
        self.addCleanup(self._check_checker)

    def _check_checker(self):
        self.checker.stop()
        self.daemon.assert_alive()
        self.checker.check(self)

    def pid(self):
        return self.daemon.proc.pid


# --------------------------------------------------------------------------
# many connections at once: asyncio streams

class AsyncWS:
    """A raw WebSocket client connection on asyncio streams."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port, path="/echo", timeout=10.0, local_addr=None):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=local_addr), timeout)
        try:
            key = W.make_key()
            writer.write(W.upgrade_request(port, path, key=key))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            status, _, headers = W.parse_head(head)
            if status != 101:
                raise AssertionError("upgrade refused: %r" % head[:200])
            W.check_101(headers, key)
        except BaseException:
            writer.close()
            raise
        return cls(reader, writer)

    def send(self, opcode, payload):
        self.writer.write(W.build_frame(opcode, payload))

    async def recv_frame(self, timeout=10.0):
        async def read():
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            if b1 & 0x80:
                raise AssertionError("server sent a masked frame")
            return W.Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF,
                           await self.reader.readexactly(n))
        return await asyncio.wait_for(read(), timeout)

    def abort(self):
        """Close TCP, no close frame.  asyncio closes the socket on the
        loop's next turn: await abort_all() or yield before relying on it."""
        self.writer.transport.abort()


async def abort_all(conns):
    """Close every connection (no close frame) and let asyncio do it."""
    for c in conns:
        c.abort()
    await asyncio.sleep(0.05)


async def open_many(port, n, path="/echo", concurrency=200, timeout=20.0):
    """n connections, at most concurrency handshakes in flight; returns
    them all or raises the first failure."""
    sem = asyncio.Semaphore(concurrency)

    async def one():
        async with sem:
            return await AsyncWS.open(port, path, timeout)

    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        for r in results:
            if not isinstance(r, BaseException):
                r.abort()
        raise AssertionError("%d of %d handshakes failed, first: %r"
                             % (len(errors), n, errors[0]))
    return results


def main():
    W.main()
