#!/usr/bin/python3
"""
test_tls.py - wss:// listeners: a throw-away CA and certificates made with
the openssl command at test time (never committed), Python websockets and
raw ssl sockets as clients.  TLS 1.2+ only, ALPN http/1.1, close_notify
on close, client certificates, certificate reload on SIGHUP, clear
start-up errors for bad files, and failed handshakes that hurt no one.
"""

import asyncio
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import wsgtest
from wsgtest import OP_CLOSE, OP_TEXT, Daemon, build_frame, endpoint

try:
    import websockets
except ImportError:  # pragma: no cover
    websockets = None


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class PKI:
    """A CA, server certificates for 127.0.0.1 and a client certificate."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wsgtest-pki-")
        self.serial = 1000
        self.make_ca("ca")
        self.make_ca("other-ca")
        self.issue("server", "ca", san="IP:127.0.0.1,DNS:localhost")
        self.issue("client", "ca", san="DNS:client.test", client=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def make_ca(self, name):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
                "-subj", "/CN=wsgate test " + name, cwd=self.dir)

    def issue(self, name, ca, san, client=False):
        """Issue name.pem/name.key signed by ca; returns the serial (hex)."""
        self.serial += 1
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name,
                cwd=self.dir)
        ext = name + ".ext"
        with open(self.path(ext), "w") as f:
            f.write("subjectAltName=%s\n" % san)
            f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-set_serial", str(self.serial), "-out", name + ".pem", "-days", "2",
                "-extfile", ext, cwd=self.dir)
        return "%X" % self.serial

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def tls_listen(port, pki, **tls):
    group = {"certificate": pki.path("server.pem"), "private_key": pki.path("server.key")}
    group.update(tls)
    return {"address": "127.0.0.1", "port": port, "tls": group}


def tls_config(pki, workers=1, **tls):
    """A config listening with TLS only, as a format string with {port}
    (Daemon's config_text), so the rest of its braces are doubled."""
    extra = {"listen": [tls_listen(12345, pki, **tls)]}
    if workers > 1:
        extra["workers"] = workers
    text = wsgtest.render_config(12345, endpoints=[endpoint("/echo")], extra=extra)
    return text.replace("{", "{{").replace("}", "}}").replace("12345", "{port}")


def client_context(pki, cafile="ca.pem", cert=None):
    ctx = ssl.create_default_context(cafile=pki.path(cafile))
    if cert is not None:
        ctx.load_cert_chain(pki.path(cert + ".pem"), pki.path(cert + ".key"))
    return ctx


def wss_upgrade(port, ctx, path="/echo", server_hostname="127.0.0.1"):
    """A raw TLS socket after a successful upgrade."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname=server_hostname)
    s.sendall(wsgtest.upgrade_request(port, path))
    resp = wsgtest.read_response(s)
    if resp.status != 101:
        raise AssertionError("upgrade answered %d" % resp.status)
    return s


def echo_roundtrip(s, text):
    s.sendall(build_frame(OP_TEXT, text.encode()))
    return wsgtest.recv_message(s) == (OP_TEXT, text.encode())


def peer_serial(s):
    der = s.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem,
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
@unittest.skipIf(shutil.which("openssl") is None, "openssl command not installed")
class TLS(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = PKI()

    @classmethod
    def tearDownClass(cls):
        cls.pki.close()

    def start(self, probe_cert=None, workers=1, **tls):
        d = Daemon(config_text=tls_config(self.pki, workers, **tls))
        d._probe = lambda: self.probe(d, probe_cert)   # it must speak TLS
        d.start()
        self.addCleanup(d.stop)
        return d

    def probe(self, d, cert):
        try:
            s = wss_upgrade(d.port, client_context(self.pki, cert=cert))
        except (OSError, AssertionError):
            return False
        s.close()
        return True

    def test_python_websockets_echoes_over_wss(self):
        if websockets is None:
            self.skipTest("python3-websockets not installed")
        d = self.start()

        async def run():
            async with websockets.connect("wss://127.0.0.1:%d/echo" % d.port,
                                          ssl=client_context(self.pki),
                                          compression=None) as ws:
                await ws.send("over TLS")
                self.assertEqual(await ws.recv(), "over TLS")
                big = os.urandom(300000)
                await ws.send(big)
                self.assertEqual(await ws.recv(), big)
        asyncio.run(run())

    def test_a_client_trusting_another_ca_fails_verification(self):
        d = self.start()
        with self.assertRaises(ssl.SSLCertVerificationError):
            wss_upgrade(d.port, client_context(self.pki, "other-ca.pem"))
        s = wss_upgrade(d.port, client_context(self.pki))
        self.assertTrue(echo_roundtrip(s, "others unaffected"))
        s.close()

    def test_tls_1_1_is_refused_and_alpn_answers_http_1_1(self):
        d = self.start()
        ctx = client_context(self.pki)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        s = wss_upgrade(d.port, ctx)
        self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
        s.close()
        old = client_context(self.pki)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises((ssl.SSLError, OSError)):
            wss_upgrade(d.port, old)

    def test_close_handshake_ends_with_close_notify(self):
        d = self.start()
        s = wss_upgrade(d.port, client_context(self.pki))
        s.sendall(build_frame(OP_CLOSE, b"\x03\xe8"))
        f = wsgtest.recv_frame(s)
        self.assertEqual((f.opcode, f.payload[:2]), (OP_CLOSE, b"\x03\xe8"))
        s.settimeout(5)
        # With close_notify the TLS layer reports a clean end of stream;
        # without it Python raises SSLEOFError ("EOF in violation of protocol").
        self.assertEqual(s.recv(100), b"")
        s.close()

    def test_plain_http_and_garbage_on_the_tls_port_are_logged_and_harmless(self):
        d = self.start()
        good = wss_upgrade(d.port, client_context(self.pki))
        plain = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        plain.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        plain.recv(100)
        plain.close()
        trunc = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        trunc.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # half a ClientHello
        trunc.close()
        self.assertTrue(echo_roundtrip(good, "still fine"))
        good.close()
        deadline = time.monotonic() + 3
        while "TLS handshake failed: http request" not in d.stderr_text():
            self.assertLess(time.monotonic(), deadline, d.stderr_tail())
            time.sleep(0.05)

    def test_client_certificates_are_required_when_verify_client_is_set(self):
        d = self.start(probe_cert="client", ca_file=self.pki.path("ca.pem"),
                       verify_client=True)
        with self.assertRaises((ssl.SSLError, OSError, AssertionError)):
            s = wss_upgrade(d.port, client_context(self.pki))
            # TLS 1.3: the refusal can arrive only with the first read.
            echo_roundtrip(s, "no certificate")
        s = wss_upgrade(d.port, client_context(self.pki, cert="client"))
        self.assertTrue(echo_roundtrip(s, "with a certificate"))
        s.close()

    def test_sni_picks_the_certificate_that_covers_the_name(self):
        serial = self.pki.issue("other", "ca", san="DNS:other.test")
        d = self.start(sni=[{"certificate": self.pki.path("other.pem"),
                             "private_key": self.pki.path("other.key")}])
        by_name = wss_upgrade(d.port, client_context(self.pki), server_hostname="other.test")
        self.assertEqual(int(peer_serial(by_name), 16), int(serial, 16))
        self.assertTrue(echo_roundtrip(by_name, "via SNI"))
        default = wss_upgrade(d.port, client_context(self.pki))   # an IP: no SNI
        self.assertNotEqual(int(peer_serial(default), 16), int(serial, 16))
        by_name.close()
        default.close()

    def test_sighup_loads_a_new_certificate_for_new_connections_only(self):
        d = self.start()
        old = wss_upgrade(d.port, client_context(self.pki))
        first = peer_serial(old)
        serial = self.pki.issue("server", "ca", san="IP:127.0.0.1,DNS:localhost")
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "certificate reloaded" not in d.stderr_text():
            self.assertLess(time.monotonic(), deadline, d.stderr_tail())
            time.sleep(0.05)
        new = wss_upgrade(d.port, client_context(self.pki))
        self.assertEqual(int(peer_serial(new), 16), int(serial, 16))
        self.assertNotEqual(int(first, 16), int(serial, 16))
        self.assertTrue(echo_roundtrip(old, "old connection, old certificate"))
        self.assertTrue(echo_roundtrip(new, "new connection"))
        old.close()
        new.close()

    def test_every_worker_serves_tls_and_reloads_its_certificate(self):
        d = self.start(workers=3)
        serial = self.pki.issue("server", "ca", san="IP:127.0.0.1,DNS:localhost")
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while d.stderr_text().count("certificate reloaded") < 3:
            self.assertLess(time.monotonic(), deadline, d.stderr_tail())
            time.sleep(0.05)
        # The kernel spreads 24 connections over the 3 workers' sockets:
        # every one must have the new certificate and echo.
        for i in range(24):
            s = wss_upgrade(d.port, client_context(self.pki))
            self.assertEqual(int(peer_serial(s), 16), int(serial, 16), "connection %d" % i)
            self.assertTrue(echo_roundtrip(s, "worker echo %d" % i))
            s.close()


@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
@unittest.skipIf(shutil.which("openssl") is None, "openssl command not installed")
class TLSStartupErrors(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = PKI()

    @classmethod
    def tearDownClass(cls):
        cls.pki.close()

    def check(self, expected, **tls):
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "wsgated.conf")
            with open(conf, "w") as f:
                f.write(tls_config(self.pki, **tls).format(port=wsgtest.free_port()))
            r = subprocess.run([wsgtest.WSGATED, "-c", conf], capture_output=True, text=True,
                               timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, expected)

    def test_missing_certificate_names_the_file(self):
        self.check(r"wsgated\.conf:\d+: certificate /nonexistent/cert\.pem: No such file",
                   certificate="/nonexistent/cert.pem")

    def test_key_that_does_not_match_names_both_files(self):
        self.check(r"private key .*client\.key does not match certificate .*server\.pem",
                   private_key=self.pki.path("client.key"))

    def test_missing_sni_certificate_names_the_file(self):
        self.check(r"wsgated\.conf:\d+: certificate /nonexistent/sni\.pem: No such file",
                   sni=[{"certificate": "/nonexistent/sni.pem",
                         "private_key": self.pki.path("server.key")}])

    def test_garbage_certificate_file_is_an_error(self):
        bad = self.pki.path("garbage.pem")
        with open(bad, "w") as f:
            f.write("not a certificate\n")
        self.check(r"certificate .*garbage\.pem: ", certificate=bad)


if __name__ == "__main__":
    wsgtest.main()
