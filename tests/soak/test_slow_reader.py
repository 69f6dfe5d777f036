"""
test_slow_reader.py - a client that keeps sending on an echo endpoint and
never reads (a tiny SO_RCVBUF, so its window closes at once).  The echoes
pile up in the daemon; output_high_watermark bounds them:
  - slow_consumer = "close": the daemon closes the client (1008, which the
    client never reads; then TCP goes) and its RSS stays bounded;
  - slow_consumer = "drop": the client stays connected, echoes are dropped
    while it lags, RSS stays bounded, and once it reads again it gets whole
    messages, in order, and the connection still works.
A well-behaved client on /echo keeps getting its echoes throughout.
"""

import socket
import struct
import threading
import time

from soaklib import SANITIZED, SLOW, RssSampler, SoakTestCase, W, figure, main, rss_kb

WATERMARK = 256 * 1024
MESSAGE = 16 * 1024
SEND_FOR = 4.0          # seconds of sending without reading


def message(seq):
    """MESSAGE bytes that say which message they are, everywhere."""
    unit = struct.pack("!I", seq)
    return unit * (MESSAGE // 4)


class SlowReader(SoakTestCase):
    daemon_kwargs = dict(
        limits={"close_timeout": 2},
        endpoints=[
            W.endpoint("/echo"),
            W.endpoint("/slow-close", limits={"output_high_watermark": WATERMARK,
                                               "slow_consumer": "close"}),
            W.endpoint("/slow-drop", limits={"output_high_watermark": WATERMARK,
                                              "slow_consumer": "drop"}),
        ],
        log_level="info")

    # The daemon's RSS may grow by the watermark, one message being built,
    # libevent's read buffers and allocator slack; far less than what the
    # client sends.  ASan keeps freed memory in quarantine: more slack.
    rss_slack_kb = (64 if SANITIZED else 16) * 1024

    def zero_window_client(self, path):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5 * SLOW)
        s.connect(("127.0.0.1", self.port))
        key = W.make_key()
        s.sendall(W.upgrade_request(self.port, path, key=key))
        status, _, headers = W.parse_head(W.read_head(s))
        self.assertEqual(status, 101)
        W.check_101(headers, key)
        self.addCleanup(s.close)
        return s

    def send_without_reading(self, s, seconds):
        """Send messages for seconds (each send may block up to 1 s);
        returns (messages sent, bytes sent, the error that ended it)."""
        s.settimeout(1.0)
        sent = nbytes = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            frame = W.build_frame(W.OP_BINARY, message(sent))
            try:
                s.sendall(frame)
            except socket.timeout:
                continue    # our send buffer is full: the daemon is not reading
            except OSError as e:
                return sent, nbytes, e
            sent += 1
            nbytes += len(frame)
        return sent, nbytes, None

    def test_slow_reader_is_closed(self):
        pid = self.pid()
        base = rss_kb(pid)
        sampler = RssSampler(pid)
        sampler.start()
        s = self.zero_window_client("/slow-close")
        t0 = time.monotonic()
        sent, nbytes, err = self.send_without_reading(s, SEND_FOR + 2 + 6 * SLOW)
        took = time.monotonic() - t0
        peak = sampler.stop()
        figure("slow reader, close policy", "closed after %.1f s and %.1f MiB sent; daemon "
               "RSS peak +%.1f MiB (watermark %d KiB)"
               % (took, nbytes / 2**20, (peak - base) / 1024.0, WATERMARK // 1024))
        self.assertIsNotNone(err, "the daemon never closed a client that does not read "
                             "(%d messages, %.1f MiB sent)" % (sent, nbytes / 2**20))
        self.assertIsInstance(err, (ConnectionResetError, BrokenPipeError))
        self.assertLess(peak - base, WATERMARK // 1024 + self.rss_slack_kb)
        self.assertIn("closing slow reader", self.daemon.stderr_text())

    def test_slow_reader_loses_messages_not_bytes(self):
        pid = self.pid()
        base = rss_kb(pid)
        sampler = RssSampler(pid)
        sampler.start()
        s = self.zero_window_client("/slow-drop")
        sent, nbytes, err = self.send_without_reading(s, SEND_FOR)
        self.assertIsNone(err, "the drop policy closed the connection")
        peak = sampler.stop()

        # Now read: whole messages, in order, some missing; then the
        # connection still echoes.
        got = []
        reader_done = threading.Event()

        def read_all():
            try:
                while True:
                    op, data = W.recv_message(s, 3 * SLOW)
                    got.append((op, data))
                    if data == b"last":
                        return
            finally:
                reader_done.set()
        t = threading.Thread(target=read_all, daemon=True)
        t.start()
        time.sleep(0.5 * SLOW)      # let the backlog drain first, then a final echo
        s.settimeout(5 * SLOW)
        W.send_frame(s, W.OP_TEXT, b"last")
        t.join(30 * SLOW)
        self.assertTrue(reader_done.is_set(), "reading the backlog did not finish")
        self.assertTrue(got and got[-1] == (W.OP_TEXT, b"last"),
                        "the final echo did not come back after the backlog")
        seqs = []
        for op, data in got[:-1]:
            self.assertEqual(op, W.OP_BINARY)
            seq = struct.unpack("!I", data[:4])[0]
            self.assertEqual(data, message(seq), "echo %d is not the message sent" % seq)
            seqs.append(seq)
        self.assertEqual(seqs, sorted(set(seqs)), "echoes out of order or repeated")
        self.assertLess(len(seqs), sent, "nothing was dropped: the test did not lag")
        figure("slow reader, drop policy", "%d of %d messages echoed, %d dropped; daemon "
               "RSS peak +%.1f MiB (watermark %d KiB)"
               % (len(seqs), sent, sent - len(seqs), (peak - base) / 1024.0,
                  WATERMARK // 1024))
        self.assertLess(peak - base, WATERMARK // 1024 + self.rss_slack_kb)


if __name__ == "__main__":
    main()
