#!/usr/bin/python3
"""
test_ratelimit.py - per-address and per-connection rate limits:
connections_per_second_per_ip cuts a connection flood from 127.0.0.2 with
429 and Retry-After while a client on 127.0.0.1 keeps connecting and
echoing; messages_per_second closes (1008) or drops per rate_policy; and
the per-address table stays within max_tracked_addresses while 100,000
distinct client addresses (X-Forwarded-For from a trusted proxy) connect.
Clients bind their source address: all of 127.0.0.0/8 is loopback.
"""

import os
import selectors
import socket
import struct
import threading
import time
import unittest

import wsgtest
from wsgtest import (OP_TEXT, endpoint, expect_close, make_key, parse_head, read_head,
                     recv_message, send_frame, upgrade_request)
from test_metrics import MetricsDaemon, value

DISTINCT = int(os.environ.get("WSG_RATE_ADDRESSES", "100000"))


def connect_from(source, port, path="/echo", headers=None):
    """Upgrade from a given source address: (status, headers, socket)."""
    s = socket.socket()
    s.settimeout(5)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(upgrade_request(port, path, headers))
    status, _, hdrs = parse_head(read_head(s))
    return status, hdrs, s


def echo(sock, text):
    send_frame(sock, OP_TEXT, text)
    return recv_message(sock) == (OP_TEXT, text)


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class ConnectionRate(unittest.TestCase):

    RATE = 20

    def setUp(self):
        self.d = MetricsDaemon(limits={"connections_per_second_per_ip": self.RATE,
                                       "connections_burst_per_ip": self.RATE},
                               log_level="notice")
        self.d.start()
        self.addCleanup(self.d.stop)

    def test_a_flood_from_one_address_is_cut_while_another_keeps_working(self):
        stop = threading.Event()
        flood = {"101": 0, "429": 0, "other": 0, "retry_after": set()}

        def flooder():
            while not stop.is_set():
                status, hdrs, s = connect_from("127.0.0.2", self.d.port)
                s.close()
                if status == 429:
                    flood["429"] += 1
                    flood["retry_after"].add(hdrs.get("Retry-After"))
                else:
                    flood["101" if status == 101 else "other"] += 1
        t = threading.Thread(target=flooder)
        started = time.monotonic()
        t.start()
        good_connects = good_echoes = 0
        try:
            # Below its own limit (10 per second), echoing 20 messages on each.
            while time.monotonic() - started < 3:
                status, _, s = connect_from("127.0.0.1", self.d.port)
                self.assertEqual(status, 101, "the good client was refused")
                good_connects += 1
                for i in range(20):
                    self.assertTrue(echo(s, b"message %d" % i))
                    good_echoes += 1
                s.close()
                time.sleep(0.1)
        finally:
            stop.set()
            t.join()
        elapsed = time.monotonic() - started
        self.assertGreaterEqual(good_connects, 10)
        self.assertEqual(good_echoes, 20 * good_connects)
        self.assertEqual(flood["other"], 0)
        self.assertGreater(flood["429"], 100, flood)
        # The burst, then the rate: never more than that got through.
        self.assertLessEqual(flood["101"], self.RATE + self.RATE * elapsed + 2, flood)
        self.assertGreaterEqual(flood["101"], self.RATE, flood)
        self.assertEqual(flood["retry_after"], {"1"})
        self.assertEqual(value(self.d.scrape(), "wsgate_handshakes_rejected_total",
                               endpoint="/echo", reason="rate"), flood["429"])

    def test_the_bucket_refills_at_the_rate(self):
        for _ in range(self.RATE):
            status, _, s = connect_from("127.0.0.5", self.d.port)
            s.close()
            self.assertEqual(status, 101)
        status, hdrs, s = connect_from("127.0.0.5", self.d.port)
        s.close()
        self.assertEqual(status, 429)
        time.sleep(1.1)     # 20 tokens back
        for _ in range(self.RATE // 2):
            status, _, s = connect_from("127.0.0.5", self.d.port)
            s.close()
            self.assertEqual(status, 101)


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class MessageRate(unittest.TestCase):

    def setUp(self):
        # Slow refills, so that a loaded machine cannot slip in a token
        # the test does not expect.
        self.d = MetricsDaemon(endpoints=[
            endpoint("/close", limits={"messages_per_second": 0.1, "messages_burst": 10}),
            endpoint("/drop", limits={"messages_per_second": 2, "messages_burst": 10,
                                      "rate_policy": "drop"}),
            endpoint("/free"),
        ])
        self.d.start()
        self.addCleanup(self.d.stop)

    def test_over_the_rate_closes_1008(self):
        s = wsgtest.connect_raw(self.d.port, "/close")[0]
        self.addCleanup(s.close)
        for i in range(10):
            self.assertTrue(echo(s, b"%d" % i))
        send_frame(s, OP_TEXT, b"one too many")
        expect_close(s, 1008)
        text = self.d.scrape()
        self.assertEqual(value(text, "wsgate_messages_rate_limited_total", endpoint="/close",
                               action="close"), 1)

    def test_over_the_rate_drops_and_the_connection_carries_on(self):
        s = wsgtest.connect_raw(self.d.port, "/drop")[0]
        self.addCleanup(s.close)
        for i in range(30):
            send_frame(s, OP_TEXT, b"%d" % i)
        got = [recv_message(s)[1] for _ in range(10)]
        self.assertEqual(got, [b"%d" % i for i in range(10)])
        time.sleep(0.6)     # a token back
        self.assertTrue(echo(s, b"later"), "the next message after the burst is 'later'")
        self.assertEqual(value(self.d.scrape(), "wsgate_messages_rate_limited_total",
                               endpoint="/drop", action="drop"), 20)

    def test_no_limit_by_default(self):
        s = wsgtest.connect_raw(self.d.port, "/free")[0]
        self.addCleanup(s.close)
        for i in range(500):
            send_frame(s, OP_TEXT, b"%d" % i)
        for i in range(500):
            self.assertEqual(recv_message(s), (OP_TEXT, b"%d" % i))


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class AddressTable(unittest.TestCase):

    BOUND = 1000
    IN_FLIGHT = 64

    def test_the_table_stays_bounded_under_many_distinct_addresses(self):
        d = MetricsDaemon(limits={"connections_per_second_per_ip": 1,
                                  "max_tracked_addresses": self.BOUND},
                          extra={"trusted_proxies": ["127.0.0.1"]}, log_level="notice")
        d.start()
        self.addCleanup(d.stop)
        sel = selectors.DefaultSelector()
        linger = struct.pack("ii", 1, 0)   # close with RST: no TIME_WAIT per address
        next_addr = 0
        done = 0
        statuses = {}
        peak = 0
        req_of = {}

        def start_one(i):
            s = socket.socket()
            s.setblocking(False)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.connect_ex(("127.0.0.1", d.port))
            xff = "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)
            req_of[s] = [upgrade_request(d.port, "/echo", [("X-Forwarded-For", xff)],
                                         key=make_key()), b""]
            sel.register(s, selectors.EVENT_WRITE)

        deadline = time.monotonic() + 600
        while done < DISTINCT:
            self.assertLess(time.monotonic(), deadline, "too slow: %d done" % done)
            while next_addr < DISTINCT and len(req_of) < self.IN_FLIGHT:
                start_one(next_addr)
                next_addr += 1
            for key, ev in sel.select(timeout=5):
                s = key.fileobj
                st = req_of[s]
                if ev & selectors.EVENT_WRITE:
                    s.send(st[0])
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                chunk = s.recv(4096)
                st[1] += chunk
                if b"\r\n\r\n" in st[1] or not chunk:
                    code = st[1][9:12].decode() or "EOF"
                    statuses[code] = statuses.get(code, 0) + 1
                    sel.unregister(s)
                    del req_of[s]
                    s.close()
                    done += 1
                    if done % 10000 == 0:
                        peak = max(peak, value(d.scrape(), "wsgate_tracked_addresses"))
        self.assertEqual(statuses, {"101": DISTINCT})
        peak = max(peak, value(d.scrape(), "wsgate_tracked_addresses"))
        # Open connections keep their address too: at most IN_FLIGHT of them.
        self.assertLessEqual(peak, self.BOUND + self.IN_FLIGHT)
        self.assertGreaterEqual(peak, self.BOUND / 2, "the table was never used")
        # Each address was admitted once: a second try from a remembered one
        # within the second is refused.
        status, hdrs, s = connect_from("127.0.0.1", d.port, headers=[
            ("X-Forwarded-For", "10.%d.%d.%d" % ((DISTINCT - 1) >> 16 & 255,
                                                   (DISTINCT - 1) >> 8 & 255,
                                                   (DISTINCT - 1) & 255))])
        s.close()
        self.assertEqual(status, 429)


if __name__ == "__main__":
    wsgtest.main()
