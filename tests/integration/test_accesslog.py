#!/usr/bin/python3
"""
test_accesslog.py - the access log (log.access_log): one logfmt line per
WebSocket session when it ends (client address, endpoint, subprotocol,
start, duration, messages and bytes each way, close code, who closed), per
refused handshake and per plain HTTP request, checked field by field for a
normal close, an abnormal close, an idle timeout and a refused handshake;
the client address a trusted proxy reports; and a logrotate-style rename
followed by SIGUSR1 loses no line.
"""

import datetime
import os
import re
import signal
import threading
import time
import unittest

import wsgtest
from wsgtest import (OP_CLOSE, OP_TEXT, Daemon, close_payload, connect_raw, endpoint,
                     expect_close, http_exchange, http_get, recv_message, send_frame,
                     upgrade_request)

FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def parse(line):
    """A logfmt line as a dict; quoted values unescaped."""
    out = {}
    for k, v in FIELD.findall(line):
        if v.startswith('"'):
            v = bytes(v[1:-1], "ascii").decode("unicode_escape")
        out[k] = v
    return out


def rfc3339(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class AccessLogDaemon(Daemon):

    def __init__(self, **kw):
        super().__init__(**kw)
        self.log_path = None

    def _spawn(self):
        self.log_path = os.path.join(self.tmp, "access.log")
        self.extra = dict(self.extra or {})
        self.extra["log"] = {"level": "debug", "access_log": self.log_path}
        super()._spawn()

    def lines(self, path=None):
        try:
            with open(path or self.log_path) as f:
                return [parse(line) for line in f.read().splitlines()]
        except FileNotFoundError:
            return []

    def wait_line(self, timeout=5, **fields):
        """The first line whose fields include these."""
        deadline = time.monotonic() + timeout
        while True:
            for ln in self.lines():
                if all(ln.get(k) == v for k, v in fields.items()):
                    return ln
            if time.monotonic() > deadline:
                raise AssertionError("no line with %r in:\n%s" % (fields, self.lines()))
            time.sleep(0.02)


ENDPOINTS = [
    endpoint("/chat", subprotocols=["chat.v1"]),
    endpoint("/idle", limits={"idle_timeout": 0.5}),
    endpoint("/origin", allowed_origins=["https://good.example"]),
]


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class Sessions(unittest.TestCase):

    def setUp(self):
        self.d = AccessLogDaemon(endpoints=ENDPOINTS,
                                 extra={"trusted_proxies": ["127.0.0.3"]})
        self.d.start()
        self.addCleanup(self.d.stop)

    def test_normal_close_by_the_client(self):
        began = time.time()
        sock, _ = connect_raw(self.d.port, "/chat?x=1",
                              [("Sec-WebSocket-Protocol", "chat.v1")])
        for text in (b"abc", b"defg"):
            send_frame(sock, OP_TEXT, text)
            self.assertEqual(recv_message(sock), (OP_TEXT, text))
        time.sleep(0.3)
        send_frame(sock, OP_CLOSE, close_payload(1000))
        expect_close(sock, 1000)
        sock.close()
        ln = self.d.wait_line(event="session", endpoint="/chat")
        self.assertEqual(ln["client"], "127.0.0.1")
        self.assertEqual(ln["subprotocol"], "chat.v1")
        self.assertEqual(ln["target"], "/chat?x=1")
        self.assertEqual((ln["msgs_in"], ln["msgs_out"]), ("2", "2"))
        self.assertEqual((ln["bytes_in"], ln["bytes_out"]), ("7", "7"))
        self.assertEqual((ln["close_code"], ln["closed_by"]), ("1000", "client"))
        self.assertEqual(ln["tls"], "0")
        self.assertLess(abs(rfc3339(ln["start"]) - began), 2)
        self.assertGreaterEqual(float(ln["duration"]), 0.3)
        self.assertLess(float(ln["duration"]), 5)
        self.assertGreaterEqual(rfc3339(ln["time"]), rfc3339(ln["start"]))

    def test_abnormal_close_is_1006_by_the_client(self):
        sock, _ = connect_raw(self.d.port, "/chat")
        send_frame(sock, OP_TEXT, b"x")
        recv_message(sock)
        sock.close()
        ln = self.d.wait_line(event="session", endpoint="/chat")
        self.assertEqual((ln["close_code"], ln["closed_by"]), ("1006", "client"))
        self.assertEqual(ln["subprotocol"], "-")
        self.assertEqual((ln["msgs_in"], ln["bytes_in"]), ("1", "1"))

    def test_idle_timeout_is_1001_by_the_server(self):
        sock, _ = connect_raw(self.d.port, "/idle")
        expect_close(sock, 1001, timeout=5)
        sock.close()
        ln = self.d.wait_line(event="session", endpoint="/idle")
        self.assertEqual((ln["close_code"], ln["closed_by"]), ("1001", "server"))
        self.assertEqual((ln["msgs_in"], ln["msgs_out"]), ("0", "0"))
        self.assertGreaterEqual(float(ln["duration"]), 0.45)

    def test_refused_handshake_and_plain_request_have_a_line_with_status(self):
        resp = http_exchange(self.d.port, upgrade_request(
            self.d.port, "/origin", [("Origin", "https://evil.example")]))
        self.assertEqual(resp.status, 403)
        ln = self.d.wait_line(event="rejected")
        self.assertEqual(ln["status"], "403")
        self.assertEqual(ln["reason"], "origin")
        self.assertEqual(ln["endpoint"], "/origin")
        self.assertEqual(ln["client"], "127.0.0.1")
        self.assertEqual(ln["method"], "GET")
        self.assertEqual(http_get(self.d.port, "/nowhere?a=1").status, 404)
        ln = self.d.wait_line(event="http", target="/nowhere?a=1")
        self.assertEqual(ln["status"], "404")

    def test_a_trusted_proxy_gives_the_real_client_address(self):
        s = wsgtest.socket.socket()
        s.settimeout(5)
        s.bind(("127.0.0.3", 0))
        s.connect(("127.0.0.1", self.d.port))
        s.sendall(upgrade_request(self.d.port, "/chat",
                                  [("X-Forwarded-For", "203.0.113.9")]))
        self.assertEqual(wsgtest.parse_head(wsgtest.read_head(s))[0], 101)
        s.close()
        ln = self.d.wait_line(event="session", endpoint="/chat")
        self.assertEqual(ln["client"], "203.0.113.9")

    def test_values_a_client_controls_are_quoted_and_escaped(self):
        self.assertEqual(http_get(self.d.port, '/x?q="a\\b"').status, 404)
        ln = self.d.wait_line(event="http", status="404")
        self.assertEqual(ln["target"], '/x?q="a\\b"')
        with open(self.d.log_path) as f:
            self.assertIn(r'target="/x?q=\"a\\b\""', f.read())


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class Rotation(unittest.TestCase):

    def test_rename_and_sigusr1_lose_no_line(self):
        d = AccessLogDaemon()
        d.start()
        self.addCleanup(d.stop)
        n = 400
        rotated = d.log_path + ".1"

        def rotate():
            time.sleep(0.2)
            os.rename(d.log_path, rotated)
            time.sleep(0.05)            # lines written now go to the renamed file
            d.proc.send_signal(signal.SIGUSR1)
        t = threading.Thread(target=rotate)
        t.start()
        for i in range(n):
            self.assertEqual(http_get(d.port, "/r?i=%d" % i).status, 404)
            if i == n // 2:
                t.join()
        t.join()
        deadline = time.monotonic() + 5
        while "reopened the access log" not in d.stderr_text():
            self.assertLess(time.monotonic(), deadline, d.stderr_tail())
            time.sleep(0.02)
        old, new = d.lines(rotated), d.lines()
        seen = [ln["target"] for ln in old + new if ln.get("target", "").startswith("/r?")]
        self.assertEqual(sorted(seen), sorted("/r?i=%d" % i for i in range(n)))
        self.assertTrue(any(ln.get("target") == "/r?i=%d" % (n - 1) for ln in new),
                        "the new file gets the lines after the reopen")
        self.assertTrue(old and new)


if __name__ == "__main__":
    wsgtest.main()
