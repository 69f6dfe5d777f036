"""
test_faults.py - peers that go away badly, peers that never answer,
connection limits and running out of file descriptors.  Throughout, a
well-behaved client echoes every 50 ms on the same daemon (soaklib.SoakTestCase)
and must never miss an echo.

  - resets (SO_LINGER 0) mid-handshake, mid-frame, with output queued,
    mid-close, and half-closed peers: every session is freed (all
    max_connections slots are usable again, descriptors given back);
  - a peer that never answers the daemon's close frame is dropped after
    close_timeout;
  - max_connections and max_connections_per_ip: the next client gets 503
    at the HTTP stage, the others keep being served, a freed slot is
    usable again;
  - RLIMIT_NOFILE of 64: more clients than descriptors; the daemon logs,
    sheds load without spinning, and serves new clients once descriptors
    are free again.
"""

import asyncio
import socket
import struct
import time

from soaklib import (SLOW, AsyncWS, SoakTestCase, W, abort_all, cpu_seconds, figure, main,
                     nofile_limit, open_fds, wait_until)


def reset(sock):
    """Close with an RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def expect_503(port, path="/echo", source=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if source is not None:
            s.bind((source, 0))
        s.settimeout(5 * SLOW)
        s.connect(("127.0.0.1", port))
        s.sendall(W.upgrade_request(port, path))
        r = W.read_response(s)
    finally:
        s.close()
    if r.status != 503:
        raise AssertionError("expected 503, got %d %r" % (r.status, r.raw[:200]))


def connect_from(port, source, path="/echo"):
    """connect_raw from a given local address (127.0.0.x)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(5 * SLOW)
    s.connect(("127.0.0.1", port))
    key = W.make_key()
    s.sendall(W.upgrade_request(port, path, key=key))
    status, _, headers = W.parse_head(W.read_head(s))
    if status != 101:
        s.close()
        raise AssertionError("upgrade refused with %d" % status)
    W.check_101(headers, key)
    return s


def echo_ok(testcase, sock, payload=b"ping"):
    W.send_frame(sock, W.OP_TEXT, payload)
    testcase.assertEqual(W.recv_message(sock, 5 * SLOW), (W.OP_TEXT, payload))


class Resets(SoakTestCase):
    MAX = 20
    daemon_kwargs = dict(limits={"max_connections": MAX, "close_timeout": 1},
                         endpoints=[W.endpoint("/echo"),
                                    W.endpoint("/idle", limits={"idle_timeout": 1})],
                         log_level="info")

    def settle_fds(self, base):
        """The daemon is back to base descriptors (sessions freed)."""
        pid = self.pid()
        ok = wait_until(lambda: open_fds(pid) <= base, 5 * SLOW)
        self.assertTrue(ok, "the daemon holds %d descriptors, %d before"
                        % (open_fds(pid), base))

    def test_resets_and_half_closes_free_every_session(self):
        pid = self.pid()
        base = open_fds(pid)
        request = W.upgrade_request(self.port, "/echo")
        big = W.build_frame(W.OP_BINARY, b"b" * 65536)

        def mid_handshake():
            s = W.tcp_connect(self.port)
            s.sendall(request[:len(request) // 2])
            time.sleep(0.005)
            reset(s)

        def request_then_reset():
            s = W.tcp_connect(self.port)
            s.sendall(request)
            reset(s)

        def mid_frame():
            s, _ = W.connect_raw(self.port)
            s.sendall(big[:1000])
            time.sleep(0.005)
            reset(s)

        def output_queued():
            s, _ = W.connect_raw(self.port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            for _ in range(40):
                s.sendall(big)
            reset(s)

        def close_then_reset():
            s, _ = W.connect_raw(self.port)
            W.send_frame(s, W.OP_CLOSE, W.close_payload(1000))
            reset(s)

        def close_received_then_reset():
            s, _ = W.connect_raw(self.port)
            W.send_frame(s, W.OP_TEXT, b"x", mask=False)      # 1002 from the daemon
            f = W.recv_frame(s, 5 * SLOW)
            self.assertEqual(f.opcode, W.OP_CLOSE)
            reset(s)

        def half_close():
            s, _ = W.connect_raw(self.port)
            W.send_frame(s, W.OP_TEXT, b"x")
            s.shutdown(socket.SHUT_WR)                          # FIN, no close frame
            try:
                while s.recv(65536):
                    pass
            except ConnectionResetError:
                pass
            s.close()

        kinds = [mid_handshake, request_then_reset, mid_frame, output_queued,
                 close_then_reset, close_received_then_reset, half_close]
        rounds = max(5, int(30 / SLOW))
        t0 = time.monotonic()
        for _ in range(rounds):
            for kind in kinds:
                kind()
        took = time.monotonic() - t0
        self.settle_fds(base)
        figure("resets", "%d connections reset or half-closed at 7 points in %.1f s, "
               "all freed" % (rounds * len(kinds), took))

        # Every slot is usable: MAX - 1 (the checker has one) at once.
        conns = [W.connect_raw(self.port)[0] for _ in range(self.MAX - 1)]
        try:
            for i, s in enumerate(conns):
                echo_ok(self, s, b"slot %d" % i)
            expect_503(self.port)
        finally:
            for s in conns:
                s.close()

    def test_peer_that_never_answers_a_close_is_dropped(self):
        pid = self.pid()
        base = open_fds(pid)
        # The daemon closes an idle connection (1001) and waits close_timeout
        # (1 s) for a reply that never comes; the client neither answers
        # nor closes.
        s, _ = W.connect_raw(self.port, "/idle")
        self.addCleanup(s.close)
        f = W.recv_frame(s, 5 * SLOW)
        self.assertEqual(f.opcode, W.OP_CLOSE)
        self.assertEqual(struct.unpack("!H", f.payload[:2])[0], 1001)
        t0 = time.monotonic()
        W.assert_eof(s, 1 + 3 * SLOW)
        dropped = time.monotonic() - t0
        figure("unanswered close", "dropped %.1f s after its close frame (close_timeout 1 s)"
               % dropped)
        self.assertGreater(dropped, 0.5, "dropped before close_timeout")
        self.settle_fds(base)

        # After a protocol error the daemon sends its close, then lingers
        # for the peer's EOF at most close_timeout: one that keeps its end
        # open is freed all the same.
        s2, _ = W.connect_raw(self.port)
        self.addCleanup(s2.close)
        W.send_frame(s2, W.OP_TEXT, b"x", mask=False)
        f = W.recv_frame(s2, 5 * SLOW)
        self.assertEqual(struct.unpack("!H", f.payload[:2])[0], 1002)
        self.settle_fds(base)


class ConnectionLimits(SoakTestCase):
    daemon_kwargs = dict(limits={"max_connections": 5}, log_level="info")

    def test_max_connections(self):
        conns = [W.connect_raw(self.port)[0] for _ in range(4)]      # + the checker = 5
        try:
            for _ in range(3):
                expect_503(self.port)
            for i, s in enumerate(conns):
                echo_ok(self, s, b"still here %d" % i)
            W.send_frame(conns[0], W.OP_CLOSE, W.close_payload(1000))
            W.expect_close(conns[0], 1000)
            conns[0].close()
            # The freed slot is usable (maybe not at once: the session
            # ends when its TCP connection does).
            deadline = time.monotonic() + 5 * SLOW
            while True:
                try:
                    conns[0], _ = W.connect_raw(self.port)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            echo_ok(self, conns[0], b"newcomer")
            expect_503(self.port)
        finally:
            for s in conns:
                s.close()


class PerIpLimit(SoakTestCase):
    daemon_kwargs = dict(limits={"max_connections_per_ip": 3}, log_level="info")

    def test_max_connections_per_ip(self):
        # 127.0.0.1: the checker and two more.
        mine = [W.connect_raw(self.port)[0] for _ in range(2)]
        others = []
        try:
            expect_503(self.port)
            # Another loopback address has its own three.
            try:
                others = [connect_from(self.port, "127.0.0.2") for _ in range(3)]
            except OSError as e:
                self.skipTest("cannot connect from 127.0.0.2: %s" % e)
            expect_503(self.port, source="127.0.0.2")
            for s in mine + others:
                echo_ok(self, s)
        finally:
            for s in mine + others:
                s.close()


class DescriptorExhaustion(SoakTestCase):
    NOFILE = 64
    daemon_kwargs = dict(limits={"max_connections": 0}, log_level="info",
                         preexec_fn=nofile_limit(NOFILE))

    def test_out_of_descriptors_sheds_load_and_recovers(self):
        asyncio.run(self.exhaust())

    async def exhaust(self):
        pid = self.pid()
        attempts = 2 * self.NOFILE
        timeout = 2 * SLOW

        async def attempt():
            try:
                return await AsyncWS.open(self.port, "/echo", timeout=timeout)
            except (AssertionError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                return None
        got = await asyncio.gather(*(attempt() for _ in range(attempts)))
        conns = [c for c in got if c is not None]
        self.assertLess(len(conns), self.NOFILE, "more connections than descriptors?")
        self.assertGreater(len(conns), self.NOFILE // 2, "far fewer connections than "
                           "descriptors: %d" % len(conns))

        # More clients wait in the listen backlog: the daemon cannot accept
        # them and must not spin on the listener meanwhile.
        waiting = [W.tcp_connect(self.port) for _ in range(16)]
        for s in waiting:
            s.sendall(W.upgrade_request(self.port, "/echo"))
        c0 = cpu_seconds(pid)
        await asyncio.sleep(2)
        cpu = cpu_seconds(pid) - c0
        for c in conns[:3]:
            c.send(W.OP_TEXT, b"busy but fine")
            self.assertEqual((await c.recv_frame(5 * SLOW)).payload, b"busy but fine")
        log = self.daemon.stderr_text()
        self.assertRegex(log, r"(?i)accept.*(too many open files|descriptors)",
                         "nothing logged about running out of descriptors")
        figure("descriptor exhaustion", "RLIMIT_NOFILE %d: %d of %d clients served, "
               "daemon CPU %.2f s in 2 s while out of descriptors"
               % (self.NOFILE, len(conns), attempts, cpu))
        self.assertLess(cpu, 0.5, "the daemon spins while out of descriptors")

        # Descriptors free again: the clients that waited are served and
        # newcomers get in.
        await abort_all(conns)

        def served(s):
            try:
                s.settimeout(5 * SLOW)
                return W.parse_head(W.read_head(s))[0] == 101
            except (OSError, ConnectionError):
                return False
            finally:
                s.close()
        answered = await asyncio.gather(*(asyncio.to_thread(served, s) for s in waiting))
        served = sum(answered)
        t0 = time.monotonic()
        fresh = await AsyncWS.open(self.port, "/echo", timeout=5 * SLOW)
        fresh.send(W.OP_TEXT, b"recovered")
        self.assertEqual((await fresh.recv_frame(5 * SLOW)).payload, b"recovered")
        await abort_all([fresh])
        figure("descriptor exhaustion", "after descriptors were freed: %d of %d waiting "
               "clients served, a newcomer in %.2f s" % (served, len(waiting),
                                                          time.monotonic() - t0))


if __name__ == "__main__":
    main()
