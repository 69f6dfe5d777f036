#!/usr/bin/python3
"""
test_raw_frames.py - RFC 6455 framing against a real wsgated, spoken by hand:
the frames stock clients refuse to send (unmasked, reserved bits and
opcodes, bad lengths, bad close codes, broken UTF-8), fragmentation,
control frames between fragments, size limits, the close handshake and the
timers (idle, keepalive, close timeout).
"""

import socket
import struct
import time
import unittest

import wsgtest
from wsgtest import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
                     build_frame, close_payload, expect_close, recv_frame,
                     recv_message, send_frame, text_payload)


class FrameErrors(wsgtest.DaemonTestCase):
    """Each broken frame fails the connection with the right close code."""

    # RFC 6455 5.1: a server MUST close the connection on an unmasked frame.
    def test_unmasked_client_frame_closes_1002(self):
        s = self.raw()
        send_frame(s, OP_TEXT, b"hello", mask=False)
        expect_close(s, 1002)

    # RFC 6455 5.2: RSV1-3 MUST be 0 unless an extension says otherwise.
    def _rsv(self, rsv):
        s = self.raw()
        send_frame(s, OP_TEXT, b"hello", rsv=rsv)
        expect_close(s, 1002)

    def test_rsv1_set_closes_1002(self):
        self._rsv(4)

    def test_rsv2_set_closes_1002(self):
        self._rsv(2)

    def test_rsv3_set_closes_1002(self):
        self._rsv(1)

    def test_rsv_bits_on_ping_close_1002(self):
        s = self.raw()
        send_frame(s, OP_PING, b"p", rsv=7)
        expect_close(s, 1002)

    # RFC 6455 5.5: control frames carry at most 125 bytes.
    def test_ping_with_126_byte_payload_closes_1002(self):
        s = self.raw()
        send_frame(s, OP_PING, b"x" * 126)
        expect_close(s, 1002)

    # RFC 6455 5.5: control frames MUST NOT be fragmented.
    def test_fragmented_ping_closes_1002(self):
        s = self.raw()
        send_frame(s, OP_PING, b"ping", fin=False)
        expect_close(s, 1002)

    # RFC 6455 5.2: the most significant bit of a 64-bit length MUST be 0.
    def test_64bit_length_with_msb_set_closes_1002(self):
        s = self.raw()
        s.sendall(build_frame(OP_BINARY, b"", length=(1 << 63) | 5, length_bytes=8))
        expect_close(s, 1002)

    # RFC 6455 5.4: a continuation frame needs a message to continue.
    def test_continuation_without_start_closes_1002(self):
        s = self.raw()
        send_frame(s, OP_CONT, b"orphan", fin=True)
        expect_close(s, 1002)

    # RFC 6455 5.4: fragments of one message are not interleaved with another.
    def test_new_text_frame_inside_fragmented_message_closes_1002(self):
        s = self.raw()
        send_frame(s, OP_TEXT, b"first ", fin=False)
        send_frame(s, OP_TEXT, b"second", fin=True)
        expect_close(s, 1002)

    def test_new_binary_frame_inside_fragmented_message_closes_1002(self):
        s = self.raw()
        send_frame(s, OP_BINARY, b"first ", fin=False)
        send_frame(s, OP_BINARY, b"second", fin=False)
        expect_close(s, 1002)

    # RFC 6455 8.1: a text message that is not UTF-8 fails the connection.
    def test_invalid_utf8_in_text_frame_closes_1007(self):
        s = self.raw()
        send_frame(s, OP_TEXT, b"\xce\xba\xe1\xbd\xb9\xed\xa0\x80edited")
        expect_close(s, 1007)

    def test_overlong_utf8_closes_1007(self):
        s = self.raw()
        send_frame(s, OP_TEXT, b"\xc0\xaf")
        expect_close(s, 1007)

    def test_utf8_above_u10ffff_closes_1007(self):
        s = self.raw()
        send_frame(s, OP_TEXT, b"\xf4\x90\x80\x80")
        expect_close(s, 1007)

    def test_truncated_utf8_at_message_end_closes_1007(self):
        s = self.raw()
        send_frame(s, OP_TEXT, b"abc\xe2\x82")
        expect_close(s, 1007)

    # RFC 6455 8.1 (Autobahn 6.4): UTF-8 is checked across fragments.
    def test_invalid_utf8_split_across_fragments_closes_1007(self):
        s = self.raw()
        send_frame(s, OP_TEXT, b"\xce\xba\xe1", fin=False)
        send_frame(s, OP_CONT, b"\xbd\xb9\xed\xa0\x80", fin=True)
        expect_close(s, 1007)

    # RFC 6455 8.1 (Autobahn 6.4.x): fail fast, without waiting for FIN.
    def test_invalid_utf8_in_first_fragment_closes_1007_before_message_end(self):
        s = self.raw()
        send_frame(s, OP_TEXT, b"\xce\xba\xe1\xbd\xb9\xed\xa0\x80", fin=False)
        expect_close(s, 1007)

    # RFC 6455 5.7: the close payload's reason is UTF-8.
    def test_close_reason_with_invalid_utf8_closes_1007(self):
        s = self.raw()
        send_frame(s, OP_CLOSE, close_payload(1000, b"bad \xff\xfe reason"))
        expect_close(s, 1007)

    # RFC 6455 5.5.1: a close body is empty or at least 2 bytes (the code).
    def test_close_with_1_byte_payload_closes_1002(self):
        s = self.raw()
        send_frame(s, OP_CLOSE, b"\x03")
        expect_close(s, 1002)


# RFC 6455 5.2: opcodes 3-7 and 0xB-0xF are reserved: fail the connection.
def _reserved_opcode_test(op):
    def test(self):
        s = self.raw()
        send_frame(s, op, b"reserved")
        expect_close(s, 1002)
    test.__doc__ = "reserved opcode 0x%X is a protocol error (RFC 6455 5.2)" % op
    return test


for _op in list(range(3, 8)) + list(range(0xB, 0x10)):
    setattr(FrameErrors, "test_reserved_opcode_0x%x_closes_1002" % _op, _reserved_opcode_test(_op))


class CloseCodes(wsgtest.DaemonTestCase):
    """RFC 6455 7.4: which close codes a peer may send."""

    # RFC 6455 5.5.1 / 7.1.2: answer a close with a close, then close TCP.
    def test_close_1000_with_reason_is_echoed_then_tcp_closed(self):
        s = self.raw()
        send_frame(s, OP_CLOSE, close_payload(1000, "bye now"))
        expect_close(s, 1000)

    # RFC 6455 7.1.5: an empty close means 1005; the reply may be empty or 1000.
    def test_close_with_empty_payload_gets_close_reply(self):
        s = self.raw()
        send_frame(s, OP_CLOSE, b"")
        expect_close(s, (None, 1000))

    # RFC 6455 1.4/5.5.1: after the close frame nothing more is processed.
    def test_data_after_close_is_ignored(self):
        s = self.raw()
        s.sendall(build_frame(OP_CLOSE, close_payload(1000))
                  + build_frame(OP_TEXT, b"too late") + build_frame(OP_PING, b"late"))
        expect_close(s, 1000)   # strict: a pong or an echo first fails

    def test_close_frame_split_from_data_after_it_is_still_final(self):
        s = self.raw()
        send_frame(s, OP_CLOSE, close_payload(1000))
        time.sleep(0.05)
        try:
            send_frame(s, OP_TEXT, b"too late")
        except (BrokenPipeError, ConnectionResetError):
            pass
        expect_close(s, 1000)


def _bad_close_code_test(code):
    def test(self):
        s = self.raw()
        send_frame(s, OP_CLOSE, close_payload(code, "x"))
        expect_close(s, 1002)
    test.__doc__ = "close code %d may not be sent: 1002 (RFC 6455 7.4.1, 7.4.2)" % code
    return test


def _good_close_code_test(code):
    def test(self):
        s = self.raw()
        send_frame(s, OP_CLOSE, close_payload(code, "x"))
        expect_close(s, code)
    test.__doc__ = "close code %d is valid and echoed (RFC 6455 7.4.1, 7.4.2)" % code
    return test


for _code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
    setattr(CloseCodes, "test_close_code_%d_is_rejected_1002" % _code, _bad_close_code_test(_code))
for _code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
              3000, 3999, 4000, 4999):
    setattr(CloseCodes, "test_close_code_%d_is_echoed" % _code, _good_close_code_test(_code))


class Messages(wsgtest.DaemonTestCase):
    """Echo of well-formed messages, fragmentation and control frames."""

    def _echo(self, opcode, payload, path="/echo"):
        s = self.raw(path)
        send_frame(s, opcode, payload)
        op, got = recv_message(s, timeout=10)
        self.assertEqual(op, opcode)
        self.assertEqual(len(got), len(payload))
        self.assertTrue(got == payload, "payload differs")
        send_frame(s, OP_CLOSE, close_payload(1000))
        expect_close(s, 1000)

    # RFC 6455 5.6: data frames round-trip byte-exactly; lengths at each
    # encoding boundary (5.2: 7-bit, 16-bit, 64-bit).
    def test_text_0_bytes_echoed(self):
        self._echo(OP_TEXT, b"")

    def test_text_125_bytes_echoed(self):
        self._echo(OP_TEXT, text_payload(125))

    def test_text_126_bytes_echoed(self):
        self._echo(OP_TEXT, text_payload(126))

    def test_text_65535_bytes_echoed(self):
        self._echo(OP_TEXT, text_payload(65535))

    def test_text_65536_bytes_echoed(self):
        self._echo(OP_TEXT, text_payload(65536))

    def test_text_1mib_echoed(self):
        self._echo(OP_TEXT, text_payload(1 << 20))

    def test_binary_0_bytes_echoed(self):
        self._echo(OP_BINARY, b"")

    def test_binary_125_bytes_echoed(self):
        self._echo(OP_BINARY, bytes(range(125)))

    def test_binary_126_bytes_echoed(self):
        self._echo(OP_BINARY, bytes(i & 0xFF for i in range(126)))

    def test_binary_65535_bytes_echoed(self):
        self._echo(OP_BINARY, bytes(i & 0xFF for i in range(65535)))

    def test_binary_65536_bytes_echoed(self):
        self._echo(OP_BINARY, bytes(i * 7 & 0xFF for i in range(65536)))

    def test_binary_1mib_echoed(self):
        self._echo(OP_BINARY, bytes(i * 13 & 0xFF for i in range(1 << 20)))

    # RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the
    # length"; wsgated treats a longer form as a protocol error (a choice:
    # python-websockets and ws accept it).
    def test_non_minimal_64bit_length_closes_1002(self):
        s = self.raw()
        s.sendall(build_frame(OP_BINARY, b"small", length_bytes=8))
        expect_close(s, 1002)

    def test_non_minimal_16bit_length_closes_1002(self):
        s = self.raw()
        s.sendall(build_frame(OP_BINARY, b"small", length_bytes=2))
        expect_close(s, 1002)

    # RFC 6455 5.4: fragments reassemble into one message.
    def test_fragmented_text_is_echoed_whole(self):
        s = self.raw()
        send_frame(s, OP_TEXT, b"Hello, ", fin=False)
        send_frame(s, OP_CONT, b"", fin=False)
        send_frame(s, OP_CONT, b"fragmented ", fin=False)
        send_frame(s, OP_CONT, b"world", fin=True)
        self.assertEqual(recv_message(s), (OP_TEXT, b"Hello, fragmented world"))

    def test_fragmented_binary_is_echoed_whole(self):
        s = self.raw()
        send_frame(s, OP_BINARY, b"\x00\x01", fin=False)
        send_frame(s, OP_CONT, b"\x02\x03", fin=True)
        self.assertEqual(recv_message(s), (OP_BINARY, b"\x00\x01\x02\x03"))

    # RFC 6455 8.1: a code point may be split across fragments.
    def test_valid_utf8_split_mid_code_point_is_echoed_whole(self):
        s = self.raw()
        text = "κόσμε € 😀".encode()
        cut1 = 1                    # inside the 2-byte κ
        cut2 = text.index("😀".encode()) + 2   # inside the 4-byte emoji
        send_frame(s, OP_TEXT, text[:cut1], fin=False)
        send_frame(s, OP_CONT, text[cut1:cut2], fin=False)
        send_frame(s, OP_CONT, text[cut2:], fin=True)
        self.assertEqual(recv_message(s), (OP_TEXT, text))

    # RFC 6455 5.4/5.5: control frames may come between fragments and are
    # answered at once.
    def test_ping_between_fragments_gets_pong_then_whole_message(self):
        s = self.raw()
        send_frame(s, OP_TEXT, b"frag1 ", fin=False)
        send_frame(s, OP_PING, b"mid-message")
        f = recv_frame(s)
        self.assertEqual((f.fin, f.opcode, f.payload), (True, OP_PONG, b"mid-message"))
        send_frame(s, OP_CONT, b"frag2", fin=True)
        f = recv_frame(s)
        self.assertEqual((f.fin, f.opcode, f.payload), (True, OP_TEXT, b"frag1 frag2"))

    # RFC 6455 5.5.3: the pong carries the ping's application data.
    def test_ping_payload_echoed_in_pong(self):
        s = self.raw()
        payload = bytes(range(125))
        send_frame(s, OP_PING, payload)
        f = recv_frame(s)
        self.assertEqual((f.fin, f.rsv, f.opcode, f.payload), (True, 0, OP_PONG, payload))

    def test_empty_ping_gets_empty_pong(self):
        s = self.raw()
        send_frame(s, OP_PING, b"")
        f = recv_frame(s)
        self.assertEqual((f.opcode, f.payload), (OP_PONG, b""))

    # RFC 6455 5.5.3: an unsolicited pong needs no answer.
    def test_unsolicited_pong_is_ignored(self):
        s = self.raw()
        send_frame(s, OP_PONG, b"unsolicited")
        send_frame(s, OP_TEXT, b"after pong")
        f = recv_frame(s)
        self.assertEqual((f.opcode, f.payload), (OP_TEXT, b"after pong"))

    # RFC 6455 5.2: the parser resumes at any byte boundary.
    def test_frame_sent_one_byte_at_a_time_is_echoed(self):
        s = self.raw()
        data = build_frame(OP_TEXT, b"byte by byte")
        wsgtest.send_bytewise(s, data, pause=0.002)
        self.assertEqual(recv_message(s), (OP_TEXT, b"byte by byte"))

    def test_16bit_length_frame_sent_one_byte_at_a_time_is_echoed(self):
        s = self.raw()
        payload = text_payload(300)
        wsgtest.send_bytewise(s, build_frame(OP_TEXT, payload), pause=0.001)
        self.assertEqual(recv_message(s), (OP_TEXT, payload))

    def test_64bit_length_header_sent_one_byte_at_a_time_is_echoed(self):
        s = self.raw()
        payload = bytes(range(256)) * 300
        data = build_frame(OP_BINARY, payload)
        wsgtest.send_bytewise(s, data[:14], pause=0.002)
        s.sendall(data[14:])
        self.assertEqual(recv_message(s), (OP_BINARY, payload))

    def test_many_frames_in_one_write_are_all_echoed(self):
        s = self.raw()
        s.sendall(b"".join(build_frame(OP_TEXT, ("msg %d" % i).encode()) for i in range(200)))
        for i in range(200):
            self.assertEqual(recv_message(s), (OP_TEXT, ("msg %d" % i).encode()))


class Robustness(wsgtest.DaemonTestCase):
    """Peers that vanish or behave oddly must not hurt the daemon (the
    per-test liveness check and the sanitizer scan at stop do the judging)."""

    # RFC 6455 5.4: a message may have any number of fragments, empty ones too.
    def test_text_in_one_byte_fragments_is_echoed_whole(self):
        s = self.raw()
        text = "fragments κόσμε".encode()
        frames = [build_frame(OP_TEXT if i == 0 else OP_CONT, text[i:i + 1], fin=False)
                  for i in range(len(text))]
        s.sendall(b"".join(frames) + build_frame(OP_CONT, b"", fin=True))
        self.assertEqual(recv_message(s), (OP_TEXT, text))

    # RFC 6455 5.5: a close may come between fragments; the partial message is dropped.
    def test_close_inside_fragmented_message_is_echoed(self):
        s = self.raw()
        send_frame(s, OP_TEXT, b"never finished", fin=False)
        send_frame(s, OP_CLOSE, close_payload(1000))
        expect_close(s, 1000)

    # RFC 6455 5.5: a 125-byte close payload (code + 123-byte reason) is legal.
    def test_close_with_123_byte_reason_is_echoed(self):
        s = self.raw()
        send_frame(s, OP_CLOSE, close_payload(1000, b"r" * 123))
        expect_close(s, 1000)

    def test_close_with_126_byte_payload_closes_1002(self):
        s = self.raw()
        send_frame(s, OP_CLOSE, close_payload(1000, b"r" * 124))
        expect_close(s, 1002)

    def test_peer_vanishing_mid_frame_does_not_hurt(self):
        for cut in (1, 2, 5, 9, 100):
            s, _ = wsgtest.connect_raw(self.port, "/echo")
            s.sendall(build_frame(OP_BINARY, b"x" * 1000)[:cut])
            s.close()
        s = self.raw()
        send_frame(s, OP_TEXT, b"still fine")
        self.assertEqual(recv_message(s), (OP_TEXT, b"still fine"))

    def test_peer_vanishing_with_echo_pending_does_not_hurt(self):
        for _ in range(10):
            s, _ = wsgtest.connect_raw(self.port, "/echo")
            s.sendall(build_frame(OP_BINARY, b"y" * (1 << 20)))
            s.close()
        for _ in range(10):
            s, _ = wsgtest.connect_raw(self.port, "/echo")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(build_frame(OP_BINARY, b"y" * (1 << 20)))
            s.close()       # RST
        s = self.raw()
        send_frame(s, OP_TEXT, b"still fine")
        self.assertEqual(recv_message(s), (OP_TEXT, b"still fine"))

    def test_peer_vanishing_after_protocol_error_does_not_hurt(self):
        for _ in range(10):
            s, _ = wsgtest.connect_raw(self.port, "/echo")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(build_frame(OP_TEXT, b"x", mask=False) + b"\x00" * 64)
            s.close()
        s = self.raw()
        send_frame(s, OP_TEXT, b"still fine")
        self.assertEqual(recv_message(s), (OP_TEXT, b"still fine"))

    def test_many_connections_in_parallel_each_echo(self):
        socks = [self.raw() for _ in range(100)]
        for i, s in enumerate(socks):
            send_frame(s, OP_TEXT, b"conn %d" % i)
        for i, s in enumerate(socks):
            self.assertEqual(recv_message(s), (OP_TEXT, b"conn %d" % i))
        for s in socks:
            send_frame(s, OP_CLOSE, close_payload(1000))
        for s in socks:
            expect_close(s, 1000)


class SizeLimits(wsgtest.DaemonTestCase):
    """/small: max_frame = max_message = 1024.  RFC 6455 7.4.1: 1009."""

    def test_frame_at_max_frame_is_echoed(self):
        s = self.raw("/small")
        send_frame(s, OP_BINARY, b"a" * 1024)
        self.assertEqual(recv_message(s), (OP_BINARY, b"a" * 1024))

    def test_frame_over_max_frame_closes_1009(self):
        s = self.raw("/small")
        send_frame(s, OP_BINARY, b"a" * 1025)
        expect_close(s, 1009)

    def test_frame_header_over_max_frame_closes_1009_before_payload(self):
        # the limit is enforced on the header, before the payload arrives
        s = self.raw("/small")
        s.sendall(build_frame(OP_BINARY, b"", length=1 << 40))
        expect_close(s, 1009)

    def test_message_at_max_message_across_fragments_is_echoed(self):
        s = self.raw("/small")
        send_frame(s, OP_TEXT, b"a" * 512, fin=False)
        send_frame(s, OP_CONT, b"b" * 512, fin=True)
        self.assertEqual(recv_message(s), (OP_TEXT, b"a" * 512 + b"b" * 512))

    def test_message_over_max_message_across_fragments_closes_1009(self):
        s = self.raw("/small")
        send_frame(s, OP_TEXT, b"a" * 500, fin=False)
        send_frame(s, OP_CONT, b"b" * 500, fin=False)
        send_frame(s, OP_CONT, b"c" * 500, fin=True)
        expect_close(s, 1009)

    def test_message_over_max_message_closes_before_fin(self):
        s = self.raw("/small")
        send_frame(s, OP_BINARY, b"a" * 1000, fin=False)
        send_frame(s, OP_CONT, b"b" * 1000, fin=False)
        expect_close(s, 1009)

    def test_limits_of_small_do_not_apply_to_echo(self):
        s = self.raw("/echo")
        send_frame(s, OP_BINARY, b"a" * 4096)
        self.assertEqual(recv_message(s), (OP_BINARY, b"a" * 4096))


class IdleTimeout(wsgtest.DaemonTestCase):
    daemon_kwargs = {"limits": {"idle_timeout": 1, "ping_interval": 0, "close_timeout": 1}}

    # RFC 6455 7.4.1: 1001 "going away" for a server-side timeout.
    def test_idle_connection_gets_close_1001_then_eof(self):
        s = self.raw()
        t0 = time.monotonic()
        expect_close(s, 1001, timeout=5)
        self.assertGreater(time.monotonic() - t0, 0.5, "closed before the idle timeout")

    def test_idle_timer_is_reset_by_client_messages(self):
        s = self.raw()
        for i in range(5):          # 2 s of traffic, 0.4 s apart
            send_frame(s, OP_TEXT, b"still here")
            self.assertEqual(recv_message(s), (OP_TEXT, b"still here"))
            time.sleep(0.4)
        expect_close(s, 1001, timeout=5)

    # RFC 6455 7.1.1: after the server's close, a client close reply lets
    # the server close TCP at once.
    def test_idle_close_answered_by_client_closes_tcp(self):
        s = self.raw()
        f = recv_frame(s, timeout=5)
        self.assertEqual(f.opcode, OP_CLOSE)
        send_frame(s, OP_CLOSE, f.payload[:2])
        wsgtest.assert_eof(s, timeout=2)


class EndpointTimers(wsgtest.DaemonTestCase):
    """An endpoint's limits override the global ones for its connections only."""
    daemon_kwargs = {"limits": {"idle_timeout": 0, "close_timeout": 1},
                     "endpoints": wsgtest.DEFAULT_ENDPOINTS + [
                         wsgtest.endpoint("/idle", limits={"idle_timeout": 1})]}

    def test_endpoint_idle_timeout_applies_to_its_connections(self):
        idle = self.raw("/idle")
        other = self.raw("/echo")
        expect_close(idle, 1001, timeout=4)
        send_frame(other, OP_TEXT, b"no idle timeout here")
        self.assertEqual(recv_message(other), (OP_TEXT, b"no idle timeout here"))


class Keepalive(wsgtest.DaemonTestCase):
    daemon_kwargs = {"limits": {"ping_interval": 1, "idle_timeout": 0}}

    # RFC 6455 5.5.2: a ping may be sent at any time as a keepalive.
    def test_server_sends_ping_within_interval(self):
        s = self.raw()
        f = recv_frame(s, timeout=3)
        self.assertEqual((f.fin, f.opcode), (True, OP_PING))
        self.assertLessEqual(len(f.payload), 125)
        send_frame(s, OP_PONG, f.payload)
        send_frame(s, OP_TEXT, b"after keepalive")
        self.assertEqual(recv_message(s), (OP_TEXT, b"after keepalive"))

    def test_client_answering_pings_stays_connected(self):
        s = self.raw()
        deadline = time.monotonic() + 3.5
        pings = 0
        while time.monotonic() < deadline:
            try:
                f = recv_frame(s, timeout=max(0.05, deadline - time.monotonic()))
            except socket.timeout:
                break
            self.assertEqual(f.opcode, OP_PING, "unexpected frame %r" % (f,))
            pings += 1
            send_frame(s, OP_PONG, f.payload)
        self.assertGreaterEqual(pings, 2)
        send_frame(s, OP_TEXT, b"alive")
        self.assertEqual(recv_message(s), (OP_TEXT, b"alive"))


class CloseTimeout(wsgtest.DaemonTestCase):
    daemon_kwargs = {"limits": {"close_timeout": 1, "max_frame": 16 << 20,
                                "max_message": 16 << 20, "output_high_watermark": 64 << 20}}

    # RFC 6455 7.1.1 and DESIGN: a peer that never reads does not keep its
    # TCP connection (and the daemon's buffers) forever.
    def test_peer_that_sends_close_and_never_reads_gets_tcp_closed(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5)
        s.connect(("127.0.0.1", self.port))
        key = wsgtest.make_key()
        s.sendall(wsgtest.upgrade_request(self.port, "/echo", key=key))
        status, _, headers = wsgtest.parse_head(wsgtest.read_head(s))
        self.assertEqual(status, 101)
        # an echo far bigger than the socket buffers can hold, then close
        payload = b"z" * (8 << 20)
        s.sendall(build_frame(OP_BINARY, payload) + build_frame(OP_CLOSE, close_payload(1000)))
        me = s.getsockname()[1]
        deadline = time.monotonic() + 6
        state = wsgtest.tcp_state(self.port, me)
        while state == "ESTABLISHED" and time.monotonic() < deadline:
            time.sleep(0.1)
            state = wsgtest.tcp_state(self.port, me)
        self.assertNotEqual(state, "ESTABLISHED",
                            "daemon still holds the connection of a peer that never reads")


def _slow_reader(port):
    """A client with a tiny receive window that has upgraded /echo."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(wsgtest.upgrade_request(port, "/echo"))
    status, _, _ = wsgtest.parse_head(wsgtest.read_head(s))
    assert status == 101, status
    return s


def _pump(s, total, size=65536, seconds=6):
    """Send numbered binary messages of size bytes without reading, until
    total bytes, an error (the server dropped us) or no progress for 0.5 s.
    Returns (messages sent, whether the server cut the connection)."""
    s.settimeout(0.5)
    body = b"s" * (size - 8)
    n, deadline = 0, time.monotonic() + seconds
    while n * size < total and time.monotonic() < deadline:
        try:
            s.sendall(build_frame(OP_BINARY, struct.pack("!Q", n) + body))
        except socket.timeout:
            return n, False
        except (BrokenPipeError, ConnectionResetError):
            return n, True
        n += 1
    return n, False


class SlowConsumerClose(wsgtest.DaemonTestCase):
    """DESIGN: a slow reader must not make the daemon buffer without bound;
    slow_consumer = "close" drops it (1008, RFC 6455 7.4.1)."""
    daemon_kwargs = {"limits": {"output_high_watermark": 262144, "slow_consumer": "close",
                                "close_timeout": 1}}

    def test_reader_that_never_reads_is_dropped(self):
        s = _slow_reader(self.port)
        self.addCleanup(s.close)
        me = s.getsockname()[1]
        sent, cut = _pump(s, 64 << 20)
        deadline = time.monotonic() + 4
        while wsgtest.tcp_state(self.port, me) == "ESTABLISHED" and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertNotEqual(wsgtest.tcp_state(self.port, me), "ESTABLISHED",
                            "daemon still serves a reader that never reads (%d x 64 KiB sent)"
                            % sent)
        # what was already in flight arrives intact; a close, if any, is 1008
        got = 0
        try:
            while True:
                f = recv_frame(s, timeout=3)
                if f.opcode == OP_CLOSE:
                    self.assertEqual(struct.unpack("!H", f.payload[:2])[0], 1008)
                    break
                self.assertEqual(f.opcode, OP_BINARY)
                self.assertEqual(struct.unpack("!Q", f.payload[:8])[0], got)
                got += 1
        except wsgtest.PeerClosed:
            pass
        self.assertLess(got, sent)

    def test_reader_that_keeps_up_is_not_dropped(self):
        s = self.raw()
        payload = b"k" * 200000          # each message alone is near the watermark
        for _ in range(20):
            send_frame(s, OP_BINARY, payload)
            self.assertEqual(recv_message(s), (OP_BINARY, payload))


class SlowConsumerDrop(wsgtest.DaemonTestCase):
    """slow_consumer = "drop": messages for a slow reader are dropped whole,
    the connection stays, and it gets messages again once it catches up."""
    daemon_kwargs = {"limits": {"output_high_watermark": 262144, "slow_consumer": "drop"}}

    def test_slow_reader_loses_whole_messages_but_stays_connected(self):
        s = _slow_reader(self.port)
        self.addCleanup(s.close)
        sent, cut = _pump(s, 32 << 20)
        self.assertFalse(cut, "the daemon cut the connection")
        self.assertGreater(sent * 65536, 16 << 20, "the daemon stopped reading")
        send_frame(s, OP_TEXT, b"end")
        last, got = -1, 0
        while True:
            op, payload = recv_message(s, timeout=10)
            if op == OP_TEXT:
                self.assertEqual(payload, b"end")
                break
            self.assertEqual(len(payload), 65536)
            n = struct.unpack("!Q", payload[:8])[0]
            self.assertGreater(n, last, "messages out of order")
            last, got = n, got + 1
        self.assertLess(got, sent, "nothing was dropped: the daemon buffered it all")


class GracefulStop(unittest.TestCase):
    """SIGTERM (DESIGN, "Things that bite" 10): every connection gets 1001
    (RFC 6455 7.4.1 "going away"), then the daemon exits 0."""

    def test_sigterm_sends_1001_and_exits_after_client_replies(self):
        with wsgtest.Daemon(limits={"close_timeout": 5}) as d:
            s, _ = wsgtest.connect_raw(d.port, "/echo")
            self.addCleanup(s.close)
            send_frame(s, OP_TEXT, b"before stop")
            self.assertEqual(recv_message(s), (OP_TEXT, b"before stop"))
            t0 = time.monotonic()
            d.terminate()
            f = recv_frame(s, timeout=5)
            self.assertEqual(f.opcode, OP_CLOSE)
            self.assertEqual(struct.unpack("!H", f.payload[:2])[0], 1001)
            send_frame(s, OP_CLOSE, close_payload(1001))
            wsgtest.assert_eof(s, timeout=3)
            s.close()       # the daemon half-closes and lingers for our FIN
            self.assertIsNotNone(d.wait_exit(4), "daemon still running after the close handshake")
            self.assertLess(time.monotonic() - t0, 4, "exit waited for close_timeout")

    def test_sigterm_with_silent_client_exits_after_close_timeout(self):
        with wsgtest.Daemon(limits={"close_timeout": 1}) as d:
            s, _ = wsgtest.connect_raw(d.port, "/echo")
            self.addCleanup(s.close)
            d.terminate()
            f = recv_frame(s, timeout=5)
            self.assertEqual((f.opcode, f.payload[:2]), (OP_CLOSE, struct.pack("!H", 1001)))
            self.assertIsNotNone(d.wait_exit(5), "daemon did not give up on a silent client")

    def test_sigterm_with_no_connections_exits_at_once(self):
        with wsgtest.Daemon() as d:
            t0 = time.monotonic()
            d.terminate()
            self.assertIsNotNone(d.wait_exit(3))
            self.assertLess(time.monotonic() - t0, 2)


if __name__ == "__main__":
    wsgtest.main()
