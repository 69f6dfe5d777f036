#!/usr/bin/python3
"""
test_workers.py - workers = N: N event loops on N threads, all listening on
the daemon's port.  Connections land on several workers and each echoes;
/metrics sums every worker and shows each one's connections; a broadcast
room whose members are spread over the workers delivers every message
exactly once, in order per sender, and nothing to other rooms, and its
max_members counts every worker; the connection limits hold for the
daemon, not per worker; a reload reaches
every worker; SIGTERM closes connections on every worker with 1001; and a
port already in use is still an error.
"""

import collections
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import wsgtest
from wsgtest import (OP_TEXT, Daemon, DaemonTestCase, connect_raw, endpoint, expect_close,
                     free_port, http_get, recv_message, render_config, send_frame)
from test_broadcast import Client, bc, pump

WORKERS = 4
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def samples(port):
    resp = http_get(port, "/metrics")
    if resp.status != 200:
        raise AssertionError("GET /metrics: %d %r" % (resp.status, resp.body))
    out = []
    for line in resp.body.decode().splitlines():
        m = SAMPLE.match(line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def per_worker(port):
    """{worker index: connections open on it}"""
    return {int(l["worker"]): v for n, l, v in samples(port)
            if n == "wsgate_worker_connections_open"}


def metric(port, name, **labels):
    found = [v for n, l, v in samples(port)
             if n == name and all(l.get(k) == w for k, w in labels.items())]
    if len(found) != 1:
        raise AssertionError("%s%r: %d samples" % (name, labels, len(found)))
    return found[0]


class WorkersDaemon(Daemon):
    def __init__(self, **kw):
        self.metrics_port = free_port()
        extra = kw.pop("extra", {})
        extra["workers"] = WORKERS
        extra["metrics"] = {"address": "127.0.0.1", "port": self.metrics_port}
        super().__init__(extra=extra, **kw)


ENDPOINTS = [endpoint("/echo"), bc("/room", room="query")]


class WorkersTestCase(DaemonTestCase):
    daemon_kwargs = {"endpoints": ENDPOINTS}

    @classmethod
    def setUpClass(cls):
        if wsgtest.EXTERNAL_PORT is not None:
            raise unittest.SkipTest("WSG_TEST_PORT set: needs its own daemon")
        cls.daemon = WorkersDaemon(**cls.daemon_kwargs)
        cls.daemon.start()
        cls.port = cls.daemon.port
        cls.mport = cls.daemon.metrics_port

    def wait_open(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            spread = per_worker(self.mport)
            if sum(spread.values()) == n or time.monotonic() > deadline:
                return spread
            time.sleep(0.02)


class Spread(WorkersTestCase):
    def test_each_worker_is_a_thread_and_connections_spread_over_them(self):
        threads = len(os.listdir("/proc/%d/task" % self.daemon.proc.pid))
        self.assertGreaterEqual(threads, WORKERS)
        self.assertIn("%d workers" % WORKERS, self.daemon.stderr_text())
        socks = [self.raw("/echo") for _ in range(40)]
        for i, s in enumerate(socks):
            send_frame(s, OP_TEXT, b"hello %d" % i)
        for i, s in enumerate(socks):
            self.assertEqual(recv_message(s), (OP_TEXT, b"hello %d" % i))
        spread = self.wait_open(40)
        self.assertEqual(sorted(spread), list(range(WORKERS)), spread)
        self.assertEqual(sum(spread.values()), 40, spread)
        self.assertGreaterEqual(sum(1 for v in spread.values() if v > 0), 2,
                                "every connection on one worker: %r" % spread)
        # The per-endpoint figures are every worker's together.
        self.assertEqual(metric(self.mport, "wsgate_connections_open", endpoint="/echo"), 40)
        self.assertGreaterEqual(
            metric(self.mport, "wsgate_messages_received_total", endpoint="/echo"), 40)
        for s in socks:
            s.close()
        self.assertEqual(sum(self.wait_open(0).values()), 0)


class Broadcast(WorkersTestCase):
    def test_a_room_spread_over_workers_gets_each_message_exactly_once_in_order(self):
        room = [Client(self, "/room?room=a") for _ in range(24)]
        other = [Client(self, "/room?room=b") for _ in range(4)]
        spread = self.wait_open(28)
        self.assertGreaterEqual(sum(1 for v in spread.values() if v > 0), 2, spread)
        # Rooms spanning workers count once; members are everyone's.
        self.assertEqual(metric(self.mport, "wsgate_broadcast_rooms", endpoint="/room"), 2)
        self.assertEqual(metric(self.mport, "wsgate_broadcast_members", endpoint="/room"), 28)
        per_sender = 20
        for k in range(per_sender):
            for i, c in enumerate(room):
                c.send("%d:%d" % (i, k))
        want = (len(room) - 1) * per_sender
        ok = pump(room + other, until=lambda: all(len(c.msgs) >= want for c in room),
                  timeout=10, linger=0.3)
        self.assertTrue(ok, [len(c.msgs) for c in room])
        for i, c in enumerate(room):
            self.assertEqual(len(c.msgs), want, "client %d: %d messages" % (i, len(c.msgs)))
            got = collections.defaultdict(list)
            for op, payload in c.msgs:
                self.assertEqual(op, OP_TEXT)
                sender, k = payload.decode().split(":")
                got[int(sender)].append(int(k))
            self.assertNotIn(i, got, "client %d got its own messages" % i)
            for sender, ks in got.items():
                self.assertEqual(ks, list(range(per_sender)),
                                 "client %d from %d: duplicated, lost or out of order"
                                 % (i, sender))
        for c in other:
            self.assertEqual(c.msgs, [], "room b got room a's messages")


class RoomSize(WorkersTestCase):
    daemon_kwargs = {"endpoints": [bc("/small", room="query", max_members=6)]}

    def test_max_members_counts_every_worker(self):
        members, refused = [], 0
        for _ in range(10):
            c = Client(self, "/small?room=r")
            pump([c], until=lambda: c.close is not None, timeout=0.3)
            if c.close is not None:
                self.assertEqual(c.close[0], 1013, c.close)
                refused += 1
            else:
                members.append(c)
        self.assertEqual((len(members), refused), (6, 4))
        self.assertGreaterEqual(sum(1 for v in self.wait_open(6).values() if v > 0), 2)
        # A place freed on one worker can be taken through any.
        members.pop().sock.close()
        self.wait_open(5)
        c = Client(self, "/small?room=r")
        self.assertFalse(pump([c], until=lambda: c.close is not None, timeout=0.5),
                         "refused with 5 members: %r" % (c.close,))


class Limits(WorkersTestCase):
    daemon_kwargs = {"endpoints": ENDPOINTS + [endpoint("/capped", limits={"max_connections": 6})],
                     "limits": {"max_connections_per_ip": 12}}

    def refused(self, path):
        try:
            s, _ = connect_raw(self.port, path)
        except AssertionError as e:
            self.assertIn("503", str(e))
            return True
        self.addCleanup(s.close)
        return False

    def test_the_limits_count_every_worker_together(self):
        capped = [self.refused("/capped") for _ in range(10)]
        self.assertEqual(capped, [False] * 6 + [True] * 4)
        more = [self.refused("/echo") for _ in range(10)]
        self.assertEqual(more, [False] * 6 + [True] * 4,
                         "max_connections_per_ip 12 with 6 open already")
        self.assertGreaterEqual(sum(1 for v in self.wait_open(12).values() if v > 0), 2)


class Reload(WorkersTestCase):
    def test_a_reload_reaches_every_worker(self):
        d = self.daemon
        with open(d.config_path, "w") as f:
            f.write(render_config(d.port, endpoints=ENDPOINTS + [endpoint("/new")],
                                  extra={"workers": WORKERS,
                                         "metrics": {"address": "127.0.0.1",
                                                     "port": self.mport}}))
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        # Once the daemon says it reloaded, every worker has.
        while "reloaded configuration" not in d.stderr_text():
            self.assertLess(time.monotonic(), deadline, d.stderr_tail(20))
            time.sleep(0.005)
        self.assertEqual(d.stderr_text().count("configuration reloaded"), WORKERS - 1)
        socks = [self.raw("/new") for _ in range(24)]
        self.assertGreaterEqual(sum(1 for v in self.wait_open(24).values() if v > 0), 2)
        for s in socks:
            send_frame(s, OP_TEXT, b"x")
            self.assertEqual(recv_message(s), (OP_TEXT, b"x"))


class Stop(unittest.TestCase):
    def test_sigterm_closes_connections_on_every_worker_with_1001(self):
        d = WorkersDaemon(endpoints=ENDPOINTS)
        d.start()
        try:
            socks = [connect_raw(d.port, "/echo")[0] for _ in range(20)]
            while sum(v > 0 for v in per_worker(d.metrics_port).values()) < 2:
                socks.append(connect_raw(d.port, "/echo")[0])
            d.proc.send_signal(signal.SIGTERM)
            for s in socks:
                expect_close(s, 1001)
                s.close()
            d.proc.wait(timeout=10)
            self.assertEqual(d.proc.returncode, 0)
        finally:
            d._terminated = True
            d.stop()

    def test_a_port_in_use_is_an_error_with_workers_too(self):
        wsgtest.check_daemon_binary()
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        try:
            with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
                f.write(render_config(port, endpoints=ENDPOINTS, extra={"workers": 2}))
                f.flush()
                p = subprocess.run([wsgtest.WSGATED, "-c", f.name], capture_output=True,
                                   text=True, timeout=10)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertRegex(p.stderr, r"cannot listen on 127\.0\.0\.1 port %d: "
                             r"Address already in use" % port)
        finally:
            busy.close()


if __name__ == "__main__":
    wsgtest.main()
