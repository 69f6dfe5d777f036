#!/usr/bin/python3
"""
test_sleep.py - quiet plain connections give back their buffers (conn.c,
"Sleeping") and wake for whatever comes next.

A connection sleeps once the 101 is out if the client has not spoken, and
after 5 s of quiet otherwise; wsgate_connections_asleep counts them.
Asleep, it still echoes (small, large and fragmented messages), still
receives broadcasts (a small one without waking), still keeps a
compression context, and still notices a close frame, a FIN or a reset.  A connection holding half a frame or half a
fragmented message stays awake: its reader holds that part.  (TLS
connections never sleep, their bufferevent being evhttp's: every test in
test_tls.py would fail if they did.)
"""
import os
import socket
import time
import unittest
import zlib

import wsgtest
from wsgtest import (OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT, build_frame, close_payload,
                     endpoint, recv_frame, recv_message, send_frame)
from test_broadcast import Client, bc, pump
from test_deflate import deflate, inflate, offer, zcfg
from test_metrics import MetricsDaemon, value

# A connection quiet this long has slept (conn.c sleeps after 5 s).
SLEPT = 8.0


class Sleep(wsgtest.DaemonTestCase):
    daemon_kwargs = {"endpoints": [
        endpoint("/echo"),
        endpoint("/partial"),
        endpoint("/gone"),
        endpoint("/z", compression=zcfg(min_size=0)),
        bc("/room", limits={"max_message": "8M", "max_frame": "8M"}),
    ]}

    @classmethod
    def setUpClass(cls):
        if wsgtest.EXTERNAL_PORT is not None:
            raise unittest.SkipTest("WSG_TEST_PORT set: needs its own daemon")
        cls.daemon = MetricsDaemon(**cls.daemon_kwargs)
        cls.daemon.start()
        cls.port = cls.daemon.port

    def asleep(self, path):
        return value(self.daemon.scrape(), "wsgate_connections_asleep", endpoint=path)

    def wait_asleep(self, path, n):
        got = self.daemon.wait_for("wsgate_connections_asleep", n, timeout=SLEPT, endpoint=path)
        self.assertEqual(got, n, "connections asleep on %s" % path)

    def wait_open(self, path, n):
        got = self.daemon.wait_for("wsgate_connections_open", n, timeout=SLEPT, endpoint=path)
        self.assertEqual(got, n, "connections open on %s" % path)

    def test_quiet_connections_sleep_and_wake_for_every_kind_of_message(self):
        socks = [self.raw("/echo") for _ in range(10)]
        self.wait_asleep("/echo", 10)       # the 101 is out, not a word back
        for i, s in enumerate(socks):
            send_frame(s, OP_TEXT, b"hello %d" % i)
            self.assertEqual(recv_message(s), (OP_TEXT, b"hello %d" % i))
        self.assertEqual(self.asleep("/echo"), 0, "woken by their messages")
        self.wait_asleep("/echo", 10)       # after 5 s of quiet
        big = os.urandom(300000)            # many reads, echoed by reference
        for s in socks:
            send_frame(s, OP_BINARY, big)
            self.assertEqual(recv_message(s), (OP_BINARY, big))
        self.wait_asleep("/echo", 10)
        s = socks[0]
        s.sendall(build_frame(OP_TEXT, b"frag", fin=False)
                  + build_frame(OP_CONT, b"mented"))
        self.assertEqual(recv_message(s), (OP_TEXT, b"fragmented"))

    def test_half_a_frame_or_message_keeps_the_connection_awake(self):
        header_only = self.raw("/partial")
        half_message = self.raw("/partial")
        self.wait_asleep("/partial", 2)
        frame = build_frame(OP_BINARY, b"x" * 1000)
        header_only.sendall(frame[:3])      # inside the header
        half_message.sendall(build_frame(OP_TEXT, b"first half, ", fin=False))
        time.sleep(SLEPT)
        self.assertEqual(self.asleep("/partial"), 0, "slept holding part of a message")
        header_only.sendall(frame[3:])
        self.assertEqual(recv_message(header_only), (OP_BINARY, b"x" * 1000))
        half_message.sendall(build_frame(OP_CONT, b"second half"))
        self.assertEqual(recv_message(half_message), (OP_TEXT, b"first half, second half"))

    def test_broadcast_reaches_sleeping_members(self):
        # Small receive buffers: the big message does not go out in one write.
        members = [Client(self, "/room", rcvbuf=4096) for _ in range(6)]
        self.wait_asleep("/room", 6)
        members[0].send("to everyone asleep")
        self.assertTrue(pump(members[1:], lambda: all(len(m.msgs) == 1 for m in members[1:])),
                        [m.msgs for m in members[1:]])
        # The socket took the frame whole: the receivers did not wake.
        self.assertEqual(self.asleep("/room"), 5)
        self.wait_asleep("/room", 6)
        # Too big for one write: the rest waits in a bufferevent.
        big = os.urandom(4 << 20)
        members[0].send(big)
        self.assertTrue(pump(members[1:], lambda: all(len(m.msgs) == 2 for m in members[1:])),
                        [len(m.msgs) for m in members[1:]])
        for m in members[1:]:
            self.assertEqual(m.msgs, [(OP_TEXT, b"to everyone asleep"), (OP_BINARY, big)])

    def test_close_fin_and_reset_are_noticed_while_asleep(self):
        closing = self.raw("/gone")
        fin = self.raw("/gone")
        reset = Client(self, "/gone")
        self.wait_asleep("/gone", 3)
        send_frame(closing, OP_CLOSE, close_payload(1000, b"bye"))
        f = recv_frame(closing)
        self.assertEqual((f.opcode, f.payload[:2]), (OP_CLOSE, b"\x03\xe8"))
        wsgtest.assert_eof(closing)
        fin.shutdown(socket.SHUT_WR)
        reset.abort()
        self.wait_open("/gone", 0)
        self.assertEqual(self.asleep("/gone"), 0)

    # RFC 7692 7.2.3: with context takeover the client's next message may
    # refer to the last; asleep, the server must keep that window.
    def test_compression_context_survives_sleep(self):
        s = self.raw("/z", offer("permessage-deflate"))
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        decomp = zlib.decompressobj(-15)
        text = b"the same words, again and again and again " * 20
        for _ in range(2):
            s.sendall(build_frame(OP_TEXT, deflate(text, compressor=comp), rsv=4))
            f = recv_frame(s)
            self.assertEqual((f.opcode, f.rsv), (OP_TEXT, 4))
            self.assertEqual(inflate(f.payload, decompressor=decomp), text)
            self.wait_asleep("/z", 1)


if __name__ == "__main__":
    unittest.main()
