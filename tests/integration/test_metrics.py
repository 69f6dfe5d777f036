#!/usr/bin/python3
"""
test_metrics.py - the Prometheus metrics listener: off unless configured and
never on the public port, counters that follow real sessions (connections,
messages, bytes, close codes, refused handshakes by reason, handshake
latency), the broadcast module's gauges through the module API, reloads
counted, a scrape that `promtool check metrics` accepts, and a real
Prometheus server scraping wsgated and answering a query with the number of
connections the test holds open.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import wsgtest
from wsgtest import (OP_TEXT, Daemon, close_payload, connect_raw, endpoint, expect_close,
                     free_port, http_exchange, http_get, recv_message, send_frame,
                     upgrade_request)

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def scrape(port):
    resp = http_get(port, "/metrics")
    if resp.status != 200:
        raise AssertionError("GET /metrics: %d %r" % (resp.status, resp.body))
    return resp.body.decode()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def samples(text):
    """[(name, {label: value}, float)] of every sample line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def value(text, name, **labels):
    """The one sample of name with exactly these labels (0 if absent)."""
    found = [v for n, lab, v in samples(text) if n == name and lab == labels]
    if len(found) > 1:
        raise AssertionError("%s%r appears %d times" % (name, labels, len(found)))
    return found[0] if found else 0.0


def echo(sock, text):
    send_frame(sock, OP_TEXT, text.encode())
    assert recv_message(sock) == (OP_TEXT, text.encode())


class MetricsDaemon(Daemon):
    """A daemon with its metrics listener on a free port."""

    def __init__(self, endpoints=None, **kw):
        self.metrics_port = free_port()
        extra = kw.pop("extra", {})
        extra["metrics"] = {"address": "127.0.0.1", "port": self.metrics_port}
        super().__init__(endpoints=endpoints, extra=extra, **kw)

    def scrape(self):
        return scrape(self.metrics_port)

    def wait_for(self, name, want, timeout=5, **labels):
        deadline = time.monotonic() + timeout
        while True:
            got = value(self.scrape(), name, **labels)
            if got == want or time.monotonic() > deadline:
                return got
            time.sleep(0.02)


ENDPOINTS = [
    endpoint("/echo"),
    endpoint("/origin", allowed_origins=["https://good.example"]),
    endpoint("/rooms", module="broadcast", match="prefix", options={"room": "path"}),
]


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class Metrics(unittest.TestCase):

    def setUp(self):
        self.d = MetricsDaemon(endpoints=ENDPOINTS)
        self.d.start()
        self.addCleanup(self.d.stop)

    def test_metrics_are_not_served_on_the_public_port(self):
        self.assertEqual(http_get(self.d.port, "/metrics").status, 404)
        self.assertEqual(http_get(self.d.metrics_port, "/other").status, 404)

    def test_a_session_is_counted_connection_messages_bytes_and_close_code(self):
        sock, _ = connect_raw(self.d.port, "/echo")
        for text in ("one", "two", "three"):
            echo(sock, text)
        self.assertEqual(self.d.wait_for("wsgate_connections_open", 1, endpoint="/echo"), 1)
        send_frame(sock, wsgtest.OP_CLOSE, close_payload(1000))
        expect_close(sock, 1000)
        sock.close()
        self.assertEqual(self.d.wait_for("wsgate_connections_open", 0, endpoint="/echo"), 0)
        text = self.d.scrape()
        self.assertEqual(value(text, "wsgate_connections_total", endpoint="/echo"), 1)
        self.assertEqual(value(text, "wsgate_messages_received_total", endpoint="/echo"), 3)
        self.assertEqual(value(text, "wsgate_messages_sent_total", endpoint="/echo"), 3)
        self.assertEqual(value(text, "wsgate_bytes_received_total", endpoint="/echo"), 11)
        self.assertEqual(value(text, "wsgate_bytes_sent_total", endpoint="/echo"), 11)
        self.assertEqual(value(text, "wsgate_close_codes_total", endpoint="/echo",
                               code="1000", by="client"), 1)
        self.assertEqual(value(text, "wsgate_handshake_duration_seconds_count",
                               endpoint="/echo"), 1)
        self.assertEqual(value(text, "wsgate_handshake_duration_seconds_bucket",
                               endpoint="/echo", le="+Inf"), 1)

    def test_a_peer_that_vanishes_is_1006_by_client_and_a_protocol_error_by_server(self):
        gone, _ = connect_raw(self.d.port, "/echo")
        gone.close()
        bad, _ = connect_raw(self.d.port, "/echo")
        send_frame(bad, OP_TEXT, b"unmasked", mask=False)
        expect_close(bad, 1002)
        bad.close()
        self.assertEqual(self.d.wait_for("wsgate_close_codes_total", 1, endpoint="/echo",
                                         code="1006", by="client"), 1)
        self.assertEqual(self.d.wait_for("wsgate_close_codes_total", 1, endpoint="/echo",
                                         code="1002", by="server"), 1)

    def test_refused_handshakes_are_counted_by_reason(self):
        def status(path, **kw):
            return http_exchange(self.d.port, upgrade_request(self.d.port, path, **kw)).status
        self.assertEqual(status("/origin", extra_headers=[("Origin", "https://evil.example")]),
                         403)
        self.assertEqual(status("/echo", version="8"), 426)
        self.assertEqual(status("/echo", omit=("Sec-WebSocket-Key",)), 400)
        self.assertEqual(http_get(self.d.port, "/echo").status, 426)
        text = self.d.scrape()
        self.assertEqual(value(text, "wsgate_handshakes_rejected_total", endpoint="/origin",
                               reason="origin"), 1)
        self.assertEqual(value(text, "wsgate_handshakes_rejected_total", endpoint="/echo",
                               reason="version"), 1)
        self.assertEqual(value(text, "wsgate_handshakes_rejected_total", endpoint="/echo",
                               reason="bad_request"), 1)
        self.assertEqual(value(text, "wsgate_handshakes_rejected_total", endpoint="/echo",
                               reason="not_websocket"), 1)

    def test_the_broadcast_module_registers_rooms_and_members(self):
        socks = [connect_raw(self.d.port, "/rooms/" + room)[0] for room in ("a", "a", "b")]
        self.assertEqual(self.d.wait_for("wsgate_broadcast_members", 3, endpoint="/rooms"), 3)
        self.assertEqual(value(self.d.scrape(), "wsgate_broadcast_rooms", endpoint="/rooms"), 2)
        socks[2].close()
        self.assertEqual(self.d.wait_for("wsgate_broadcast_rooms", 1, endpoint="/rooms"), 1)
        self.assertEqual(value(self.d.scrape(), "wsgate_broadcast_members",
                               endpoint="/rooms"), 2)
        for s in socks[:2]:
            s.close()

    def test_process_figures_are_there(self):
        text = self.d.scrape()
        self.assertGreater(value(text, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(value(text, "process_open_fds"), 3)
        self.assertLess(abs(value(text, "process_start_time_seconds") - time.time()), 120)

    def test_reloads_are_counted_and_counters_survive_them(self):
        sock, _ = connect_raw(self.d.port, "/echo")
        echo(sock, "before")
        with open(self.d.config_path) as f:
            good = f.read()
        for text in (good, "this is not a configuration"):
            with open(self.d.config_path, "w") as f:
                f.write(text)
            self.d.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)
        self.assertEqual(self.d.wait_for("wsgate_config_reloads_total", 1, result="failed"), 1)
        text = self.d.scrape()
        self.assertEqual(value(text, "wsgate_config_reloads_total", result="ok"), 1)
        self.assertEqual(value(text, "wsgate_messages_received_total", endpoint="/echo"), 1)
        self.assertEqual(value(text, "wsgate_connections_open", endpoint="/echo"), 1)
        sock.close()

    def test_promtool_check_metrics_accepts_a_scrape(self):
        socks = [connect_raw(self.d.port, p)[0] for p in ("/echo", "/rooms/x")]
        echo(socks[0], "hello")
        http_exchange(self.d.port, upgrade_request(self.d.port, "/echo", version="8"))
        socks[0].close()
        self.d.wait_for("wsgate_connections_open", 0, endpoint="/echo")
        text = self.d.scrape()
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, "promtool: %s%s\n%s" % (r.stdout, r.stderr, text))
        socks[1].close()


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class MetricsConfig(unittest.TestCase):

    def test_no_metrics_group_no_listener(self):
        with Daemon() as d:
            self.assertEqual(http_get(d.port, "/metrics").status, 404)
            self.assertNotIn("metrics on", d.stderr_text())

    def test_a_reload_moves_the_listener(self):
        d = MetricsDaemon()
        d.start()
        self.addCleanup(d.stop)
        scrape(d.metrics_port)
        old = d.metrics_port
        new = free_port()
        with open(d.config_path) as f:
            text = f.read().replace("port = %d;" % old, "port = %d;" % new)
        with open(d.config_path, "w") as f:
            f.write(text)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "metrics on http://127.0.0.1:%d" % new not in d.stderr_text():
            self.assertLess(time.monotonic(), deadline, d.stderr_tail())
            time.sleep(0.02)
        self.assertIn("wsgate_connections_open", scrape(new))
        with self.assertRaises(OSError):
            scrape(old)


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class PrometheusServer(unittest.TestCase):
    """A real Prometheus scrapes wsgated every second; its query API must
    report the connections this test holds open."""

    HELD = 5

    def query(self, port, expr):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            port, urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        self.assertEqual(body["status"], "success", body)
        return [float(res["value"][1]) for res in body["data"]["result"]]

    def test_prometheus_sees_the_open_connections(self):
        self.assertTrue(os.access(PROMETHEUS, os.X_OK), "no %s (Debian prometheus)" % PROMETHEUS)
        d = MetricsDaemon()
        d.start()
        self.addCleanup(d.stop)
        socks = [connect_raw(d.port, "/echo")[0] for _ in range(self.HELD)]
        for s in socks:
            self.addCleanup(s.close)
        tmp = tempfile.mkdtemp(prefix="wsgtest-prom-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: wsgated\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
                    % d.metrics_port)
        port = free_port()
        log = open(os.path.join(tmp, "prometheus.log"), "wb")
        self.addCleanup(log.close)
        prom = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(tmp, "data"),
             "--web.listen-address=127.0.0.1:%d" % port],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=tmp)

        def stop():
            prom.terminate()
            try:
                prom.wait(10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
        self.addCleanup(stop)
        expr = 'wsgate_connections_open{job="wsgated",endpoint="/echo"}'
        deadline = time.monotonic() + 30
        got = None
        while time.monotonic() < deadline:
            self.assertIsNone(prom.poll(), "prometheus exited")
            try:
                got = self.query(port, expr)
            except OSError:
                got = None
            if got == [float(self.HELD)]:
                break
            time.sleep(0.5)
        with open(os.path.join(tmp, "prometheus.log"), "rb") as f:
            plog = f.read().decode(errors="replace")[-3000:]
        self.assertEqual(got, [float(self.HELD)], "query %s: %r\n%s" % (expr, got, plog))
        self.assertEqual(self.query(port, 'up{job="wsgated"}'), [1.0])


if __name__ == "__main__":
    wsgtest.main()
