"""
test_oversize.py - oversized everything, against a daemon whose /limited
endpoint takes messages of at most 1 MiB (frames of 64 KiB):
  - a frame claiming 2^63 bytes (1002) and one claiming 2^63 - 1 (1009);
  - a 100 MiB message, as one frame and as 64 KiB fragments, streamed:
    the daemon closes with 1009 as soon as the header (or the fragment
    that crosses 1 MiB) says so, long before the sender is done, and its
    RSS does not grow by anything like 100 MiB;
  - a handshake with 10,000 headers and one with a 1 MiB header line:
    refused (4xx) or cut, never upgraded.
A well-behaved client on /echo keeps getting its echoes throughout.
"""

import struct
import threading
import time

from soaklib import SANITIZED, SLOW, RssSampler, SoakTestCase, W, figure, main, rss_kb

MiB = 1 << 20
TOTAL = 100 * MiB
CHUNK = 64 * 1024


class Oversize(SoakTestCase):
    daemon_kwargs = dict(
        limits={"close_timeout": 2},
        endpoints=[W.endpoint("/echo"),
                   W.endpoint("/limited", limits={"max_message": MiB,
                                                  "max_frame": CHUNK})],
        log_level="info")

    rss_slack_kb = (64 if SANITIZED else 16) * 1024

    def test_length_2_63_is_a_protocol_error(self):
        s, _ = W.connect_raw(self.port, "/limited")
        self.addCleanup(s.close)
        s.sendall(struct.pack("!BBQ", 0x82, 0xFF, 1 << 63) + b"\0\0\0\0")
        W.expect_close(s, 1002)

    def test_length_2_63_minus_1_is_too_big(self):
        s, _ = W.connect_raw(self.port, "/limited")
        self.addCleanup(s.close)
        s.sendall(struct.pack("!BBQ", 0x82, 0xFF, (1 << 63) - 1) + b"\0\0\0\0")
        W.expect_close(s, 1009)

    def stream_100mib(self, frames):
        """Send frames (an iterator of bytes, 100 MiB in all) from a thread
        while this one waits for the daemon's close; returns (bytes sent
        when the close arrived, seconds, close code, RSS growth in KiB)."""
        pid = self.pid()
        base = rss_kb(pid)
        sampler = RssSampler(pid)
        sampler.start()
        s, _ = W.connect_raw(self.port, "/limited")
        self.addCleanup(s.close)
        sent = [0]
        stop = threading.Event()

        def sender():
            try:
                for f in frames:
                    if stop.is_set():
                        return
                    s.sendall(f)
                    sent[0] += len(f)
            except OSError:
                pass        # the daemon closed: expected
        t = threading.Thread(target=sender, daemon=True)
        t0 = time.monotonic()
        t.start()
        try:
            f = W.recv_frame(s, 30 * SLOW)
        finally:
            at_close = sent[0]
            took = time.monotonic() - t0
            stop.set()
        self.assertEqual(f.opcode, W.OP_CLOSE)
        code = struct.unpack("!H", f.payload[:2])[0]
        t.join(10 * SLOW)
        peak = sampler.stop()
        return at_close, took, code, peak - base

    def test_100_mib_frame_against_1_mib_limit(self):
        mask = b"\x11\x22\x33\x44"
        header = struct.pack("!BBQ", 0x82, 0xFF, TOTAL) + mask
        chunk = W.mask_bytes(b"\0" * CHUNK, mask)        # mask-aligned: 65536 % 4 == 0

        def frames():
            yield header
            for _ in range(TOTAL // CHUNK):
                yield chunk
        at_close, took, code, grew = self.stream_100mib(frames())
        figure("100 MiB frame vs 1 MiB limit", "close %d after %.2f s, %.1f MiB sent; "
               "daemon RSS +%.1f MiB" % (code, took, at_close / MiB, grew / 1024.0))
        self.assertEqual(code, 1009)
        self.assertLess(at_close, 20 * MiB, "the close came only after %d bytes" % at_close)
        self.assertLess(grew, self.rss_slack_kb)

    def test_100_mib_of_fragments_against_1_mib_limit(self):
        def frames():
            payload = b"f" * CHUNK
            yield W.build_frame(W.OP_BINARY, payload, fin=False)
            for _ in range(TOTAL // CHUNK - 2):
                yield W.build_frame(W.OP_CONT, payload, fin=False)
            yield W.build_frame(W.OP_CONT, payload, fin=True)
        at_close, took, code, grew = self.stream_100mib(frames())
        figure("100 MiB in 64 KiB fragments vs 1 MiB limit", "close %d after %.2f s, "
               "%.1f MiB sent; daemon RSS +%.1f MiB"
               % (code, took, at_close / MiB, grew / 1024.0))
        self.assertEqual(code, 1009)
        self.assertLess(at_close, 20 * MiB, "the close came only after %d bytes" % at_close)
        self.assertLess(grew, self.rss_slack_kb)

    def refused(self, request):
        """The daemon must not upgrade: a 4xx, or the connection cut."""
        s = W.tcp_connect(self.port, timeout=10 * SLOW)
        self.addCleanup(s.close)
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            return "cut while sending"
        try:
            r = W.read_response(s)
        except (ConnectionError, OSError):
            return "cut"
        self.assertTrue(400 <= r.status < 500, "answered %d %r" % (r.status, r.raw[:200]))
        return "%d %s" % (r.status, r.reason)

    def test_10000_headers(self):
        extra = [("X-Pad-%d" % i, "v") for i in range(10000)]
        how = self.refused(W.upgrade_request(self.port, "/echo", extra_headers=extra))
        figure("10,000 headers", how)

    def test_1_mib_header_line(self):
        how = self.refused(W.upgrade_request(self.port, "/echo",
                                             extra_headers=[("X-Big", "a" * MiB)]))
        figure("1 MiB header line", how)


if __name__ == "__main__":
    main()
