#!/usr/bin/env python3
"""
test_nginx.py - wsgated behind a real nginx (Debian's), configured with the
location block of etc/nginx-wsgated.conf.

nginx is started by the test on 127.0.0.1 with its own prefix and config
and connects to wsgated from 127.0.0.2 (proxy_bind), the only address in
wsgated's trusted_proxies; clients connect from 127.0.0.3.  Checked: echoes
through nginx; wsgated (its log, and an exec endpoint printing REMOTE_ADDR)
sees the client's address 127.0.0.3 only because nginx is trusted (a second
wsgated without trusted_proxies behind the same nginx sees 127.0.0.2); a
client sending a forged X-Forwarded-For straight to wsgated is not believed.
Skipped (exit 77) without nginx.

Run: WSGATED=build/src/wsgated WSG_MODULE_DIR=build/src/modules/.libs \
     /usr/bin/python3 tests/integration/test_nginx.py
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsgtest  # noqa: E402
from wsgtest import (OP_TEXT, Daemon, endpoint, make_key, parse_head, read_head,  # noqa: E402
                     recv_message, send_frame, check_101)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SNIPPET = os.path.join(wsgtest.REPO, "etc", "nginx-wsgated.conf")
PROXY_ADDR = "127.0.0.2"     # nginx → wsgated
CLIENT_ADDR = "127.0.0.3"    # test client → nginx

WHOAMI = endpoint("/whoami", "exec", options={
    "command": ["/bin/sh", "-c", 'echo "$REMOTE_ADDR $HTTPS"']})


def snippet_blocks():
    """The map and the location block of the documented snippet."""
    with open(SNIPPET) as f:
        text = f.read()
    m = re.search(r"^map .*?^}\n", text, re.S | re.M)
    loc = re.search(r"^    location / \{\n.*?^    \}\n", text, re.S | re.M)
    assert m and loc, "etc/nginx-wsgated.conf lost its map or location block"
    return m.group(0), loc.group(0)


class Nginx:
    def __init__(self, upstreams):
        """upstreams: {nginx port: wsgated port}."""
        self.tmp = tempfile.mkdtemp(prefix="wsgnginx-")
        self.upstreams = upstreams
        self.proc = None

    def start(self):
        mapping, location = snippet_blocks()
        servers = ""
        for i, (port, ws_port) in enumerate(sorted(self.upstreams.items())):
            loc = location.replace("http://wsgated;", "http://wsgated%d;" % i)
            loc = loc.replace("proxy_pass", "proxy_bind %s;\n        proxy_pass" % PROXY_ADDR,
                              1)
            servers += ("    upstream wsgated%d { server 127.0.0.1:%d; }\n"
                        "    server {\n        listen 127.0.0.1:%d;\n%s    }\n"
                        % (i, ws_port, port, loc))
        t = self.tmp
        conf = (
            "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            "pid %(t)s/nginx.pid;\nerror_log %(t)s/error.log info;\n"
            "events { worker_connections 128; }\n"
            "http {\n    access_log %(t)s/access.log;\n"
            "    client_body_temp_path %(t)s/body;\n    proxy_temp_path %(t)s/proxy;\n"
            "    fastcgi_temp_path %(t)s/fastcgi;\n    uwsgi_temp_path %(t)s/uwsgi;\n"
            "    scgi_temp_path %(t)s/scgi;\n" % {"t": t})
        conf += "    " + mapping.replace("\n", "\n    ") + "\n" + servers + "}\n"
        self.conf = os.path.join(t, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen([NGINX, "-p", t, "-c", self.conf, "-e",
                                      os.path.join(t, "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port = min(self.upstreams)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited: %s\n%s" % (
                    self.proc.stderr.read().decode(errors="replace"), self.error_log()))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not listen:\n" + self.error_log())

    def error_log(self):
        try:
            with open(os.path.join(self.tmp, "error.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def ws_connect(port, path, headers=(), source=None):
    """A WebSocket by hand, from source address if given."""
    s = socket.socket()
    s.settimeout(10)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    key = make_key()
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           % (path, port, key))
    req += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
    s.sendall(req.encode())
    status, _, hdrs = parse_head(read_head(s))
    if status != 101:
        s.close()
        raise AssertionError("upgrade through %d refused: %d" % (port, status))
    check_101(hdrs, key)
    return s


class TestBehindNginx(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(NGINX, os.X_OK):
            raise unittest.SkipTest("no nginx (apt-get install nginx-light)")
        wsgtest.check_daemon_binary()
        eps = [endpoint("/echo"), WHOAMI]
        cls.trusting = Daemon(endpoints=eps, extra={"trusted_proxies": [PROXY_ADDR + "/32"]})
        cls.trusting.start()
        cls.plain = Daemon(endpoints=eps)
        try:
            cls.plain.start()
            cls.port_t, cls.port_u = wsgtest.free_port(), wsgtest.free_port()
            cls.nginx = Nginx({cls.port_t: cls.trusting.port, cls.port_u: cls.plain.port})
            cls.nginx.start()
        except BaseException:
            cls.trusting.stop()
            cls.plain.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        cls.trusting.stop()
        cls.plain.stop()

    def whoami(self, port, **kw):
        s = ws_connect(port, "/whoami", **kw)
        try:
            op, line = recv_message(s)
        finally:
            s.close()
        return line.decode()

    def test_echo_through_nginx(self):
        s = ws_connect(self.port_t, "/echo", source=CLIENT_ADDR)
        self.addCleanup(s.close)
        for n in (0, 1, 125, 126, 65536, 1 << 20):
            p = wsgtest.text_payload(n)
            send_frame(s, OP_TEXT, p)
            self.assertEqual(recv_message(s, timeout=20), (OP_TEXT, p))

    def test_trusted_nginx_gives_the_client_address(self):
        self.assertEqual(self.whoami(self.port_t, source=CLIENT_ADDR), CLIENT_ADDR + " ")
        time.sleep(0.2)
        self.assertRegex(self.trusting.stderr_text(),
                         r"127\.0\.0\.3:0: upgraded /whoami")

    def test_untrusted_nginx_is_just_the_peer(self):
        self.assertEqual(self.whoami(self.port_u, source=CLIENT_ADDR), PROXY_ADDR + " ")

    def test_forged_x_forwarded_for_straight_to_wsgated_is_ignored(self):
        forged = [("X-Forwarded-For", "203.0.113.66"), ("X-Forwarded-Proto", "https"),
                  ("Forwarded", "for=203.0.113.67")]
        self.assertEqual(self.whoami(self.trusting.port, headers=forged,
                                     source=CLIENT_ADDR), CLIENT_ADDR + " ")
        self.assertNotIn("203.0.113.66", self.trusting.stderr_text())

    def test_forged_hop_through_nginx_is_not_the_client(self):
        # nginx appends the real peer; the client's own entry stays on the left.
        got = self.whoami(self.port_t, source=CLIENT_ADDR,
                          headers=[("X-Forwarded-For", "203.0.113.66")])
        self.assertEqual(got, CLIENT_ADDR + " ")


if __name__ == "__main__":
    wsgtest.main()
