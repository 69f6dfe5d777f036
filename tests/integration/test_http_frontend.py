#!/usr/bin/python3
"""
test_http_frontend.py - the HTTP side of wsgated: plain routes (/healthz,
404, 426) and the RFC 6455 section 4 opening handshake on the configured
endpoints (validation, Origin policy, subprotocol choice, accept key), with
requests that arrive slowly, together with the first frame, or never.
"""

import socket
import time

import wsgtest
from wsgtest import (OP_CLOSE, OP_TEXT, build_frame, close_payload, expect_close,
                     http_exchange, http_get, recv_message, send_frame,
                     upgrade_request)


class Routes(wsgtest.DaemonTestCase):

    def test_healthz_is_200(self):
        r = http_get(self.port, "/healthz")
        self.assertEqual(r.status, 200, r.raw)

    def test_unknown_path_is_404(self):
        r = http_get(self.port, "/no/such/path")
        self.assertEqual(r.status, 404, r.raw)

    def test_upgrade_on_unknown_path_is_404(self):
        r = http_exchange(self.port, upgrade_request(self.port, "/nowhere"))
        self.assertEqual(r.status, 404, r.raw)

    # RFC 6455 4.2.2 / RFC 7231 6.5.15: a WebSocket-only resource asked for
    # without Upgrade answers 426 and says which version it speaks.
    def test_plain_get_on_endpoint_is_426_with_version_13(self):
        r = http_get(self.port, "/echo")
        self.assertEqual(r.status, 426, r.raw)
        self.assertEqual(r.headers.get("Sec-WebSocket-Version"), "13", r.raw)

    def test_query_string_does_not_change_endpoint(self):
        s, _ = wsgtest.connect_raw(self.port, "/echo?room=1&x=y")
        self.addCleanup(s.close)
        send_frame(s, OP_TEXT, b"q")
        self.assertEqual(recv_message(s), (OP_TEXT, b"q"))


class Handshake(wsgtest.DaemonTestCase):

    def upgrade(self, path="/echo", extra=None, **kw):
        return http_exchange(self.port, upgrade_request(self.port, path, extra, **kw))

    # RFC 6455 4.4: an unsupported version is refused with the versions we
    # support in Sec-WebSocket-Version.
    def test_version_8_is_426_with_version_13(self):
        r = self.upgrade(version="8")
        self.assertEqual(r.status, 426, r.raw)
        self.assertEqual(r.headers.get("Sec-WebSocket-Version"), "13", r.raw)

    # RFC 6455 4.2.1 item 5: Sec-WebSocket-Key is 16 bytes, base64.
    def test_missing_key_is_400(self):
        r = self.upgrade(omit=["Sec-WebSocket-Key"])
        self.assertEqual(r.status, 400, r.raw)

    def test_short_key_is_400(self):
        r = self.upgrade(key=wsgtest.make_key(b"12345678"))
        self.assertEqual(r.status, 400, r.raw)

    def test_key_not_base64_is_400(self):
        r = self.upgrade(key="!!!!!!!!!!!!!!!!!!!!!!==")
        self.assertEqual(r.status, 400, r.raw)

    # RFC 6455 4.2.1 items 3-4: Upgrade: websocket and Connection: Upgrade.
    def test_missing_connection_upgrade_is_refused(self):
        r = self.upgrade(omit=["Connection"])
        self.assertIn(r.status, (400, 426), r.raw)

    def test_connection_token_list_with_upgrade_is_accepted(self):
        req = upgrade_request(self.port, "/echo", [("Connection", "keep-alive, Upgrade")],
                              omit=["Connection"])
        r = http_exchange(self.port, req)
        self.assertEqual(r.status, 101, r.raw)

    def test_missing_host_is_400(self):
        r = self.upgrade(omit=["Host"])
        self.assertEqual(r.status, 400, r.raw)

    # RFC 6455 4.2.1 item 1: the method is GET.
    def test_post_upgrade_is_refused(self):
        r = self.upgrade(method="POST", extra=[("Content-Length", "0")])
        self.assertIn(r.status, (400, 405), r.raw)

    # A body on the upgrade request would be read as HTTP and eat WebSocket
    # bytes (DESIGN, "Things that bite" 2).
    def test_content_length_body_on_upgrade_is_400(self):
        req = upgrade_request(self.port, "/echo", [("Content-Length", "5")]) + b"hello"
        r = http_exchange(self.port, req)
        self.assertEqual(r.status, 400, r.raw)

    def test_transfer_encoding_on_upgrade_is_400(self):
        req = upgrade_request(self.port, "/echo", [("Transfer-Encoding", "chunked")]) + b"0\r\n\r\n"
        r = http_exchange(self.port, req)
        self.assertEqual(r.status, 400, r.raw)

    # RFC 6455 4.2.2 item 4 / 1.3: Sec-WebSocket-Accept = base64(SHA-1(key + GUID)).
    def test_accept_key_is_correct(self):
        key = "dGhlIHNhbXBsZSBub25jZQ=="        # the RFC's example
        r = self.upgrade(key=key)
        self.assertEqual(r.status, 101, r.raw)
        self.assertEqual(r.headers.get("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        wsgtest.check_101(r.headers, key)

    def test_accept_key_is_correct_for_random_keys(self):
        for _ in range(5):
            key = wsgtest.make_key()
            r = self.upgrade(key=key)
            self.assertEqual(r.headers.get("Sec-WebSocket-Accept"), wsgtest.accept_for(key))

    def test_101_has_no_body_headers(self):
        r = self.upgrade()
        self.assertEqual(r.status, 101, r.raw)
        self.assertIsNone(r.headers.get("Content-Length"), r.raw)
        self.assertIsNone(r.headers.get("Transfer-Encoding"), r.raw)

    # RFC 6455 4.2.2 item 4 / 10.2: the server may refuse an Origin.
    def test_bad_origin_is_403(self):
        r = self.upgrade("/origin", [("Origin", "https://evil.example")])
        self.assertEqual(r.status, 403, r.raw)

    def test_good_origin_is_101(self):
        r = self.upgrade("/origin", [("Origin", "https://good.example")])
        self.assertEqual(r.status, 101, r.raw)

    def test_origin_list_does_not_apply_to_other_endpoints(self):
        r = self.upgrade("/echo", [("Origin", "https://evil.example")])
        self.assertEqual(r.status, 101, r.raw)

    # RFC 6455 4.2.2 item 4 (subprotocol): the server picks one the client
    # offered; ours in the server's order of preference.
    def test_subprotocol_server_preference_wins(self):
        r = self.upgrade("/proto", [("Sec-WebSocket-Protocol", "chat.v1, chat.v2")])
        self.assertEqual(r.status, 101, r.raw)
        self.assertEqual(r.headers.get("Sec-WebSocket-Protocol"), "chat.v2", r.raw)

    def test_subprotocol_offer_in_repeated_headers(self):
        r = self.upgrade("/proto", [("Sec-WebSocket-Protocol", "chat.v1"),
                                    ("Sec-WebSocket-Protocol", "chat.v2")])
        self.assertEqual(r.status, 101, r.raw)
        self.assertEqual(r.headers.get("Sec-WebSocket-Protocol"), "chat.v2", r.raw)

    def test_subprotocol_single_common_offer_is_chosen(self):
        r = self.upgrade("/proto", [("Sec-WebSocket-Protocol", "other, chat.v1")])
        self.assertEqual(r.status, 101, r.raw)
        self.assertEqual(r.headers.get("Sec-WebSocket-Protocol"), "chat.v1", r.raw)

    def test_required_subprotocol_with_none_in_common_is_400(self):
        r = self.upgrade("/proto", [("Sec-WebSocket-Protocol", "other")])
        self.assertEqual(r.status, 400, r.raw)

    def test_required_subprotocol_with_no_offer_is_400(self):
        r = self.upgrade("/proto")
        self.assertEqual(r.status, 400, r.raw)

    # RFC 6455 4.2.2: no subprotocol configured → none in the reply.
    def test_offered_subprotocol_on_endpoint_without_any_is_not_echoed(self):
        r = self.upgrade("/echo", [("Sec-WebSocket-Protocol", "chat.v1")])
        self.assertEqual(r.status, 101, r.raw)
        self.assertIsNone(r.headers.get("Sec-WebSocket-Protocol"), r.raw)

    # RFC 6455 9.1: an extension the server does not support is not accepted.
    def test_offered_extension_is_not_accepted(self):
        r = self.upgrade("/echo", [("Sec-WebSocket-Extensions", "x-unknown-ext; foo=1")])
        self.assertEqual(r.status, 101, r.raw)
        self.assertIsNone(r.headers.get("Sec-WebSocket-Extensions"), r.raw)


class Delivery(wsgtest.DaemonTestCase):
    """How the handshake's bytes arrive must not matter."""

    def test_request_sent_one_byte_at_a_time_still_upgrades(self):
        key = wsgtest.make_key()
        s = wsgtest.tcp_connect(self.port)
        self.addCleanup(s.close)
        wsgtest.send_bytewise(s, upgrade_request(self.port, "/echo", key=key), pause=0.005)
        status, _, headers = wsgtest.parse_head(wsgtest.read_head(s))
        self.assertEqual(status, 101)
        wsgtest.check_101(headers, key)
        send_frame(s, OP_TEXT, b"slow")
        self.assertEqual(recv_message(s), (OP_TEXT, b"slow"))

    # DESIGN "Things that bite" 7: a first frame in the same write as the
    # request is already buffered when the connection is handed over.
    def test_handshake_and_first_frame_in_one_write_is_echoed(self):
        for i in range(20):
            key = wsgtest.make_key()
            s = wsgtest.tcp_connect(self.port)
            try:
                s.sendall(upgrade_request(self.port, "/echo", key=key)
                          + build_frame(OP_TEXT, b"early %d" % i))
                status, _, headers = wsgtest.parse_head(wsgtest.read_head(s))
                self.assertEqual(status, 101)
                self.assertEqual(recv_message(s, timeout=3), (OP_TEXT, b"early %d" % i))
            finally:
                s.close()

    def test_handshake_first_frame_and_close_in_one_write(self):
        s = wsgtest.tcp_connect(self.port)
        self.addCleanup(s.close)
        s.sendall(upgrade_request(self.port, "/echo") + build_frame(OP_TEXT, b"hi")
                  + build_frame(OP_CLOSE, close_payload(1000)))
        status, _, _ = wsgtest.parse_head(wsgtest.read_head(s))
        self.assertEqual(status, 101)
        self.assertEqual(recv_message(s), (OP_TEXT, b"hi"))
        expect_close(s, 1000)

    def test_client_that_disconnects_mid_request_does_not_hurt(self):
        for _ in range(20):
            s = wsgtest.tcp_connect(self.port)
            s.sendall(upgrade_request(self.port, "/echo")[:30])
            s.close()
        r = http_get(self.port, "/healthz")
        self.assertEqual(r.status, 200)

    def test_client_that_disconnects_right_after_101_does_not_hurt(self):
        for _ in range(20):
            s = wsgtest.tcp_connect(self.port)
            s.sendall(upgrade_request(self.port, "/echo"))
            s.close()
        r = http_get(self.port, "/healthz")
        self.assertEqual(r.status, 200)


class PerAddressLimit(wsgtest.DaemonTestCase):
    daemon_kwargs = {"limits": {"max_connections_per_ip": 2}}

    def test_upgrade_over_max_connections_per_ip_is_503(self):
        a = self.raw()
        self.raw()          # the second connection from this address
        r = http_exchange(self.port, upgrade_request(self.port, "/echo"))
        self.assertEqual(r.status, 503, r.raw)
        send_frame(a, OP_CLOSE, close_payload(1000))
        expect_close(a, 1000)
        a.close()
        deadline = time.monotonic() + 1
        while True:
            r = http_exchange(self.port, upgrade_request(self.port, "/echo"))
            if r.status == 101 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(r.status, 101, r.raw)


class Odd(wsgtest.DaemonTestCase):
    """Unusual but legal (or plainly bad) HTTP around the upgrade."""

    # RFC 7230 6.3: a persistent connection may carry the upgrade as its
    # second request.
    def test_upgrade_as_second_request_on_keepalive_connection(self):
        s = wsgtest.tcp_connect(self.port)
        self.addCleanup(s.close)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        r = wsgtest.read_response(s)
        self.assertEqual(r.status, 200, r.raw)
        if (r.headers.get("Connection") or "").lower() == "close":
            self.skipTest("daemon closes after /healthz")
        key = wsgtest.make_key()
        s.sendall(upgrade_request(self.port, "/echo", key=key))
        status, _, headers = wsgtest.parse_head(wsgtest.read_head(s))
        self.assertEqual(status, 101)
        wsgtest.check_101(headers, key)
        send_frame(s, OP_TEXT, b"second request")
        self.assertEqual(recv_message(s), (OP_TEXT, b"second request"))

    def test_huge_request_head_is_refused_not_crashing(self):
        req = upgrade_request(self.port, "/echo", [("X-Filler", "f" * 100000)])
        s = wsgtest.tcp_connect(self.port)
        self.addCleanup(s.close)
        try:
            s.sendall(req)
            r = wsgtest.read_response(s)
            self.assertGreaterEqual(r.status, 400, r.raw)
        except (ConnectionError, OSError):
            pass            # dropping the connection is fine too
        self.assertEqual(http_get(self.port, "/healthz").status, 200)

    def test_http_1_0_upgrade_is_refused(self):
        req = upgrade_request(self.port, "/echo").replace(b"HTTP/1.1", b"HTTP/1.0", 1)
        r = http_exchange(self.port, req)
        self.assertIn(r.status, (400, 426, 505), r.raw)

    def test_header_names_are_case_insensitive(self):
        key = wsgtest.make_key()
        req = ("GET /echo HTTP/1.1\r\nhost: 127.0.0.1\r\nUPGRADE: WebSocket\r\n"
               "connection: upgrade\r\nsec-websocket-key: %s\r\n"
               "SEC-WEBSOCKET-VERSION: 13\r\n\r\n" % key).encode()
        r = http_exchange(self.port, req)
        self.assertEqual(r.status, 101, r.raw)
        wsgtest.check_101(r.headers, key)

    def test_garbage_request_line_is_400_or_dropped(self):
        s = wsgtest.tcp_connect(self.port)
        self.addCleanup(s.close)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200 + b"\r\n\r\n")
        try:
            data = s.recv(100)
        except (ConnectionError, OSError):
            data = b""
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 400") or
                        data.startswith(b"HTTP/1.0 400"), data)
        self.assertEqual(http_get(self.port, "/healthz").status, 200)


class HandshakeTimeout(wsgtest.DaemonTestCase):
    daemon_kwargs = {"limits": {"handshake_timeout": 1}}

    def _expect_dropped(self, s, within):
        t0 = time.monotonic()
        s.settimeout(within)
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            self.fail("connection still open after %.1f s" % within)
        # evhttp may answer 408 before closing; anything else is wrong
        if data:
            self.assertTrue(data.startswith(b"HTTP/1.1 408") or data.startswith(b"HTTP/1.0 408"),
                            data)
        return time.monotonic() - t0

    def test_silent_client_is_dropped_after_handshake_timeout(self):
        s = wsgtest.tcp_connect(self.port)
        self.addCleanup(s.close)
        elapsed = self._expect_dropped(s, 4)
        self.assertGreater(elapsed, 0.5)

    def test_client_with_unfinished_request_is_dropped(self):
        s = wsgtest.tcp_connect(self.port)
        self.addCleanup(s.close)
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        self._expect_dropped(s, 4)

    # DESIGN "Things that bite" 6: the HTTP timeout must not follow the
    # connection past the upgrade.
    def test_upgraded_connection_outlives_handshake_timeout(self):
        s = self.raw()
        time.sleep(2.2)
        send_frame(s, OP_TEXT, b"still open")
        self.assertEqual(recv_message(s), (OP_TEXT, b"still open"))


class ConnectionLimits(wsgtest.DaemonTestCase):
    """max_connections: upgrades past the limit are refused with 503, and a
    closed connection gives its place back."""
    daemon_kwargs = {"limits": {"max_connections": 3}}

    def test_upgrade_over_max_connections_is_503_until_one_closes(self):
        socks = [self.raw() for _ in range(3)]
        r = http_exchange(self.port, upgrade_request(self.port, "/echo"))
        self.assertEqual(r.status, 503, r.raw)
        send_frame(socks[0], OP_CLOSE, close_payload(1000))
        expect_close(socks[0], 1000)
        socks[0].close()    # our FIN ends the daemon's linger at once
        deadline = time.monotonic() + 1
        while True:
            r = http_exchange(self.port, upgrade_request(self.port, "/echo"))
            if r.status == 101 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(r.status, 101, r.raw)

    def test_plain_http_does_not_count_against_max_connections(self):
        socks = [self.raw() for _ in range(3)]
        self.assertEqual(http_get(self.port, "/healthz").status, 200)
        for s in socks:
            send_frame(s, OP_CLOSE, close_payload(1000))
            expect_close(s, 1000)


if __name__ == "__main__":
    wsgtest.main()
