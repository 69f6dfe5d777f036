#!/usr/bin/python3
"""
test_broadcast.py - the broadcast module against raw clients: every message
reaches every other member of its room exactly once and nobody else (rooms
from the query or the path, 50 clients at once), echo_to_sender, text and
binary, max_members (1013), accept (1003), room names too long (1008), its
options checked by `wsgated -t`, a client that never reads while others
publish a lot (closed as too slow, or dropped messages, with the daemon's
memory bounded either way), clients leaving mid-broadcast, and the
embedded default configuration's /broadcast.
"""

import collections
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import wsgtest
from wsgtest import (OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, endpoint, line_of,
                     render_config)

HERE = os.path.dirname(os.path.abspath(__file__))


def bc(path, match=None, limits=None, **options):
    """A broadcast endpoint; options go to the module."""
    settings = collections.OrderedDict()
    if match:
        settings["match"] = match
    if options:
        settings["options"] = collections.OrderedDict(options)
    if limits:
        settings["limits"] = limits
    return endpoint(path, "broadcast", **settings)


# --------------------------------------------------------------------------
# many clients at once, read without blocking

def connect(port, path, rcvbuf=None, timeout=wsgtest.DEFAULT_TIMEOUT):
    """A WebSocket by hand, like wsgtest.connect_raw, with SO_RCVBUF set
    before connect() when given (so the window is small from the start)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = wsgtest.make_key()
        s.sendall(wsgtest.upgrade_request(port, path, key=key))
        raw = wsgtest.read_head(s)
        status, _, headers = wsgtest.parse_head(raw)
        if status != 101:
            raise AssertionError("upgrade to %s refused: %r" % (path, raw))
        wsgtest.check_101(headers, key)
    except BaseException:
        s.close()
        raise
    return s


class Client:
    """One raw client; pump() fills msgs with (opcode, payload) (payload cut
    to keep bytes when given, for volume tests), close with (code, reason)
    of a close frame, eof when the server closed TCP."""

    def __init__(self, test, path, rcvbuf=None, keep=None):
        self.path = path
        self.sock = connect(test.port, path, rcvbuf)
        test.addCleanup(self.sock.close)
        self.keep = keep
        self.buf = bytearray()
        self.msgs = []
        self.nbytes = 0
        self.close = None
        self.eof = False
        self.pongs = 0

    def send(self, payload, opcode=None):
        if isinstance(payload, str):
            payload = payload.encode()
            opcode = opcode or OP_TEXT
        wsgtest.send_frame(self.sock, opcode or OP_BINARY, payload)

    def send_close(self, code=1000):
        wsgtest.send_frame(self.sock, OP_CLOSE, wsgtest.close_payload(code))

    def abort(self):
        """Close with a reset, no close frame."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.eof = True

    def on_readable(self):
        try:
            data = self.sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except (BlockingIOError, socket.timeout):
            return
        if not data:
            self.eof = True
            return
        self.buf += data
        self._parse()

    def _parse(self):
        buf, off = self.buf, 0
        while len(buf) - off >= 2:
            b0, b1 = buf[off], buf[off + 1]
            n, hl = b1 & 0x7F, 2
            if b1 & 0x80:
                raise AssertionError("%s: masked server frame" % self.path)
            if n == 126:
                if len(buf) - off < 4:
                    break
                n, hl = struct.unpack_from("!H", buf, off + 2)[0], 4
            elif n == 127:
                if len(buf) - off < 10:
                    break
                n, hl = struct.unpack_from("!Q", buf, off + 2)[0], 10
            if len(buf) - off < hl + n:
                break
            op = b0 & 0x0F
            if not b0 & 0x80 or b0 & 0x70:
                raise AssertionError("%s: fragmented or RSV frame 0x%02x" % (self.path, b0))
            keep = n if self.keep is None or op == OP_CLOSE else min(n, self.keep)
            payload = bytes(buf[off + hl:off + hl + keep])
            off += hl + n
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.close = (code, payload[2:])
            elif op in (OP_TEXT, OP_BINARY):
                if self.close is not None:
                    raise AssertionError("%s: data after the close frame" % self.path)
                self.msgs.append((op, payload))
                self.nbytes += n
            elif op == OP_PONG:
                self.pongs += 1
            elif op != OP_PING:
                raise AssertionError("%s: unexpected opcode %d" % (self.path, op))
        del buf[:off]


def pump(clients, until=None, timeout=5.0, linger=0.0):
    """Read from every client until until() is true (then linger seconds
    more, to catch what should not come) or timeout.  Returns until()."""
    sel = selectors.DefaultSelector()
    for c in clients:
        if not c.eof:
            sel.register(c.sock, selectors.EVENT_READ, c)
    deadline = time.monotonic() + timeout
    stop_at = None
    try:
        while True:
            now = time.monotonic()
            if stop_at is None and until is not None and until():
                if linger <= 0:
                    return True
                stop_at = now + linger
            end = stop_at if stop_at is not None else deadline
            if now >= end or not sel.get_map():
                break
            for key, _ in sel.select(min(0.1, end - now)):
                c = key.data
                c.on_readable()
                if c.eof:
                    sel.unregister(c.sock)
    finally:
        sel.close()
    return until() if until is not None else True


def counter(msgs):
    return collections.Counter(msgs)


def examples(msgs, n=2):
    return ", ".join("%d:%r" % (op, p[:40]) for op, p in list(msgs)[:n]) or "none"


# --------------------------------------------------------------------------

ENDPOINTS = [
    bc("/bq", room="query"),
    bc("/bp", match="prefix", room="path"),
    bc("/bone"),
    bc("/bparam", room="query", room_param="channel"),
    bc("/becho", room="query", echo_to_sender=True),
    bc("/bmax", room="query", max_members=3),
    bc("/btext", room="query", accept="text"),
    bc("/bbinary", room="query", accept="binary"),
    bc("/bleave", room="query", limits={"output_high_watermark": "16M"}),
    endpoint("/echo"),
]


class RoomTestCase(wsgtest.DaemonTestCase):
    """A daemon per class, and helpers for rooms of raw clients."""

    def clients(self, paths, **kw):
        return [Client(self, p, **kw) for p in paths]

    def exchange(self, groups, outsiders=(), per_client=4, echo=False):
        """Every client of every group sends per_client messages (text and
        binary alternately, each unique); each must then get exactly the
        messages of the other members of its group (and its own if echo),
        once each, and outsiders nothing."""
        everyone = [c for g in groups for c in g] + list(outsiders)
        for i, c in enumerate(c for g in groups for c in g):
            c.sent = []
            for j in range(per_client):
                text = ("%s#%d/%d" % (c.path, i, j)).encode()
                op, payload = (OP_TEXT, text) if j % 2 == 0 else (OP_BINARY, text + b"\x00\xff")
                c.send(payload, op)
                c.sent.append((op, payload))
        want = {}
        for g in groups:
            for c in g:
                want[c] = counter(m for o in g if o is not c or echo for m in o.sent)
        for c in outsiders:
            want[c] = counter([])
        done = lambda: all(len(c.msgs) >= sum(want[c].values()) for c in everyone)
        pump(everyone, done, timeout=10, linger=0.3)
        for c in everyone:
            got = counter(c.msgs)
            missing, extra = want[c] - got, got - want[c]
            if missing or extra:
                self.fail("%s: %d missing (e.g. %s), %d extra or duplicated (e.g. %s)"
                          % (c.path[:40], sum(missing.values()), examples(missing),
                             sum(extra.values()), examples(extra)))
            self.assertIsNone(c.close, "%s closed: %s" % (c.path[:40], c.close))
        return everyone


class Broadcast(RoomTestCase):
    daemon_kwargs = {"endpoints": ENDPOINTS}

    # -- delivery: exactly once to every other member, nobody else
    def test_50_clients_in_two_query_rooms_get_each_message_once(self):
        red = self.clients(["/bq?room=red"] * 25)
        blue = self.clients(["/bq?room=blue"] * 25)
        lobby = self.clients(["/bq", "/bq?room="])      # the default room ""
        self.exchange([red, blue], outsiders=lobby)

    def test_50_clients_in_two_path_rooms_get_each_message_once(self):
        red = self.clients(["/bp/red"] * 25)
        blue = self.clients(["/bp/blue"] * 25)
        lobby = self.clients(["/bp", "/bp/"])          # the room ""
        self.exchange([red, blue], outsiders=lobby)

    def test_delivery_rate_of_50_clients_in_one_room(self):
        """50 members each publish 40 messages of 64 bytes: 98,000
        deliveries, every one checked; the rate goes to stderr."""
        room = self.clients(["/bq?room=rate"] * 50, keep=16)
        stat0 = cpu_seconds(self.daemon)
        t0 = time.monotonic()
        for k in range(40):
            for i, c in enumerate(room):
                c.send(b"%04d:%04d:" % (i, k) + b"x" * 54)
            if k % 8 == 7:
                pump(room, lambda: False, timeout=0.01)
        want = 49 * 40
        self.assertTrue(pump(room, lambda: all(len(c.msgs) >= want for c in room),
                             timeout=30, linger=0.2))
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(self.daemon) - stat0
        for i, c in enumerate(room):
            self.assertEqual(len(c.msgs), want)
            senders = counter(p[:4] for _, p in c.msgs)
            self.assertNotIn(b"%04d" % i, senders)
            self.assertEqual(set(senders.values()), {40})
        n = 50 * want
        print("\n  broadcast: %d deliveries in %.2f s = %.0f/s (client-bound); "
              "daemon CPU %.2f s = %.2f us per delivery"
              % (n, elapsed, n / elapsed, cpu, cpu * 1e6 / n), file=sys.stderr)

    def test_sender_gets_its_own_messages_with_echo_to_sender(self):
        self.exchange([self.clients(["/becho?room=e"] * 5),
                       self.clients(["/becho?room=f"] * 2)], echo=True)

    def test_sender_alone_gets_nothing_without_echo(self):
        alone = self.clients(["/bq?room=solo"])
        self.exchange([alone])
        self.assertEqual(alone[0].msgs, [])

    def test_text_and_binary_keep_their_type_and_bytes(self):
        a, b = self.clients(["/bone", "/bone"])
        big = os.urandom(200000)
        text = wsgtest.text_payload(70000)
        a.send(b"")
        a.send("")
        a.send(big, OP_BINARY)
        a.send(text, OP_TEXT)
        self.assertTrue(pump([b], lambda: len(b.msgs) >= 4))
        self.assertEqual(b.msgs, [(OP_BINARY, b""), (OP_TEXT, b""), (OP_BINARY, big),
                                  (OP_TEXT, text)])

    def test_messages_from_one_sender_arrive_in_order(self):
        a, b, c = self.clients(["/bq?room=order"] * 3)
        for i in range(500):
            a.send("%d" % i)
        self.assertTrue(pump([b, c], lambda: len(b.msgs) >= 500 and len(c.msgs) >= 500))
        for r in (b, c):
            self.assertEqual([int(p) for _, p in r.msgs], list(range(500)))

    def test_pongs_between_broadcast_frames_keep_both_intact_and_in_order(self):
        # A receiver's output mixes shared frames (written uncopied at the
        # turn's end) with its own pongs (queued in its buffer).
        a, b = self.clients(["/bq?room=mixed"] * 2)
        for i in range(200):
            a.send("%d" % i)
            if i % 20 == 0:
                wsgtest.send_frame(b.sock, OP_PING, b"p%d" % i)
        self.assertTrue(pump([b], lambda: len(b.msgs) >= 200 and b.pongs >= 10))
        self.assertEqual([int(p) for _, p in b.msgs], list(range(200)))
        self.assertEqual(b.pongs, 10)

    def test_no_room_option_makes_one_room_of_the_endpoint(self):
        self.exchange([self.clients(["/bone", "/bone?room=x", "/bone?room=y"])])

    # -- where the room comes from
    def test_query_room_is_the_first_room_parameter(self):
        a = self.clients(["/bq?room=q1", "/bq?a=1&room=q1", "/bq?room=q1&room=q2",
                          "/bq?x&room=q1#frag"])
        b = self.clients(["/bq?room=q2", "/bq?roomy=q1&room=q2"])
        c = self.clients(["/bq?room", "/bq?roomy=q1", "/bq?Room=q1"])   # room ""
        self.exchange([a, b, c])

    def test_room_param_names_the_query_parameter(self):
        self.exchange([self.clients(["/bparam?channel=c1", "/bparam?room=c2&channel=c1"]),
                       self.clients(["/bparam?room=c1", "/bparam"])])

    def test_path_room_is_below_the_endpoint_path_without_query(self):
        self.exchange([self.clients(["/bp/p1", "/bp/p1?room=p2"]),
                       self.clients(["/bp/p1/sub", "/bp/p1/sub?x=1"]),
                       self.clients(["/bp/p2"]),
                       self.clients(["/bp", "/bp/", "/bp?room=p1"])])   # the room ""

    def test_room_names_are_raw_bytes_not_decoded(self):
        self.exchange([self.clients(["/bq?room=a%20b"] * 2),
                       self.clients(["/bq?room=a+b"] * 2)])

    def test_room_name_of_128_bytes_joins_and_129_is_closed_1008(self):
        ok = self.clients(["/bq?room=" + "n" * 128] * 2)
        self.exchange([ok])
        s = self.raw("/bq?room=" + "n" * 129)
        _, reason = wsgtest.expect_close(s, 1008)
        self.assertEqual(reason, b"room name too long")
        s = self.raw("/bp/" + "n" * 129)
        _, reason = wsgtest.expect_close(s, 1008)
        self.assertEqual(reason, b"room name too long")

    # -- max_members
    def test_max_members_closes_one_more_with_1013_room_full(self):
        members = self.clients(["/bmax?room=m"] * 3)
        s = self.raw("/bmax?room=m")
        _, reason = wsgtest.expect_close(s, 1013)
        self.assertEqual(reason, b"room full")
        # Other rooms have their own count; the refused one is not a member.
        self.exchange([members, self.clients(["/bmax?room=n"] * 3)])

    def test_max_members_place_freed_by_a_leaver_is_taken(self):
        members = self.clients(["/bmax?room=k"] * 3)
        _, reason = wsgtest.expect_close(self.raw("/bmax?room=k"), 1013)
        self.assertEqual(reason, b"room full")
        members[0].send_close()
        pump([members[0]], lambda: members[0].eof, timeout=5)
        self.assertEqual(members[0].close, (1000, b""))
        members[0].sock.close()
        deadline = time.monotonic() + 5
        while True:    # on_close runs once the daemon has seen our FIN
            newcomer = Client(self, "/bmax?room=k")
            pump([newcomer], lambda: newcomer.close is not None, timeout=0.2)
            if newcomer.close is None or time.monotonic() > deadline:
                break
            self.assertEqual(newcomer.close, (1013, b"room full"))
        self.assertIsNone(newcomer.close, "the freed place was not given back")
        self.exchange([members[1:] + [newcomer]])

    # -- accept
    def test_accept_text_closes_a_binary_sender_with_1003(self):
        a, b = self.clients(["/btext?room=t"] * 2)
        a.send("fine")
        a.send(b"\x00binary", OP_BINARY)
        a.send("after")
        pump([a, b], lambda: a.close is not None, timeout=5)
        self.assertEqual(a.close, (1003, b"text messages only"))
        self.assertTrue(pump([b], lambda: len(b.msgs) >= 1, linger=0.3))
        self.assertEqual(b.msgs, [(OP_TEXT, b"fine")])

    def test_accept_binary_closes_a_text_sender_with_1003(self):
        a, b = self.clients(["/bbinary?room=t"] * 2)
        a.send(b"\x01", OP_BINARY)
        a.send("text")
        pump([a, b], lambda: a.close is not None, timeout=5)
        self.assertEqual(a.close, (1003, b"binary messages only"))
        self.assertTrue(pump([b], lambda: len(b.msgs) >= 1, linger=0.3))
        self.assertEqual(b.msgs, [(OP_BINARY, b"\x01")])

    # -- leaving
    def test_receivers_leaving_mid_broadcast_do_not_disturb_the_others(self):
        pub = Client(self, "/bleave?room=l")
        stay = self.clients(["/bleave?room=l"] * 4)
        aborter, closer = self.clients(["/bleave?room=l"] * 2)
        for i in range(400):
            pub.send(b"%06d" % i + b"y" * 4000)
            if i == 100:
                aborter.abort()
                closer.send_close(1001)
        self.assertTrue(pump(stay + [closer], lambda: all(len(c.msgs) >= 400 for c in stay),
                             timeout=20, linger=0.2))
        for c in stay:
            self.assertEqual([int(p[:6]) for _, p in c.msgs], list(range(400)))
        # The room is whole again for the next message and a newcomer.
        newcomer = Client(self, "/bleave?room=l")
        pub.send("after")
        self.assertTrue(pump(stay + [newcomer],
                             lambda: all(c.msgs[-1:] == [(OP_TEXT, b"after")]
                                         for c in stay + [newcomer])))

    def test_sender_leaving_right_after_its_messages_still_delivers_them(self):
        pub = Client(self, "/bleave?room=s")
        subs = self.clients(["/bleave?room=s"] * 3)
        frames = b"".join(wsgtest.build_frame(OP_TEXT, "last words %d" % i)
                          for i in range(50))
        pub.sock.sendall(frames + wsgtest.build_frame(OP_CLOSE, wsgtest.close_payload(1000)))
        pub.abort()
        self.assertTrue(pump(subs, lambda: all(len(c.msgs) >= 50 for c in subs)))
        for c in subs:
            self.assertEqual(c.msgs, [(OP_TEXT, b"last words %d" % i) for i in range(50)])

    def test_joins_and_leaves_are_logged_at_debug(self):
        a = Client(self, "/bq?room=logged")
        a.send_close()
        pump([a], lambda: a.eof)
        deadline = time.monotonic() + 3
        while 'left room "logged"' not in self.daemon.stderr_text() \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        log = self.daemon.stderr_text()
        self.assertRegex(log, r'debug: [0-9.:]+: joined room "logged" of /bq \(1 member\)')
        self.assertRegex(log, r'debug: [0-9.:]+: left room "logged" of /bq \(0 members\)')


def cpu_seconds(daemon):
    """The daemon's user + system CPU time."""
    with open("/proc/%d/stat" % daemon.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------
# a reader that never reads

SLOW_MSG = 65536
SLOW_TOTAL = 96 << 20            # published, more than the RSS bound
RSS_BOUND_KB = 64 << 10


def asan_friendly_environment():
    """Under AddressSanitizer freed memory sits in a 256 MB quarantine and
    shows up as RSS; keep it small so RSS measures what is really held."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    if "quarantine_size_mb" not in opts:
        os.environ["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "quarantine_size_mb=8"


class SlowReader(RoomTestCase):
    daemon_kwargs = {"endpoints": [
        bc("/close", limits={"output_high_watermark": "1M", "slow_consumer": "close"}),
        bc("/drop", limits={"output_high_watermark": "1M", "slow_consumer": "drop"}),
    ], "log_level": "info"}

    @classmethod
    def setUpClass(cls):
        asan_friendly_environment()
        super().setUpClass()

    def publish_past_a_slow_reader(self, path):
        """One publisher, three readers that keep up, and one that never
        reads (joined between them, so that it is neither first nor last
        in any order of delivery): publish SLOW_TOTAL bytes in batches the
        readers take in full before the next.  Returns the slow client and
        the largest RSS growth seen (KB)."""
        pub = Client(self, path)
        fast = self.clients([path], keep=8)
        slow = Client(self, path, rcvbuf=4096, keep=8)
        fast += self.clients([path] * 2, keep=8)
        rss0 = self.daemon.rss_kb()
        peak = 0
        n = SLOW_TOTAL // SLOW_MSG
        batch = 8
        body = os.urandom(SLOW_MSG - 8)
        t0 = time.monotonic()
        for start in range(0, n, batch):
            for i in range(start, start + batch):
                pub.send(struct.pack("!Q", i) + body)
            self.assertTrue(pump(fast, lambda: all(len(c.msgs) >= start + batch
                                                   for c in fast), timeout=20),
                            "readers that keep up stalled at message %d: %s"
                            % (start, [len(c.msgs) for c in fast]))
            peak = max(peak, self.daemon.rss_kb() - rss0)
        elapsed = time.monotonic() - t0
        for c in fast:
            self.assertEqual([struct.unpack("!Q", p)[0] for _, p in c.msgs], list(range(n)))
            self.assertIsNone(c.close)
        print("\n  %s: %d MB to 3 readers in %.1f s beside one that never reads; "
              "daemon RSS peak +%.1f MB" % (path, SLOW_TOTAL >> 20, elapsed, peak / 1024.0),
              file=sys.stderr)
        return slow, peak

    def test_never_reading_client_is_closed_too_slow_and_memory_stays_bounded(self):
        slow, peak = self.publish_past_a_slow_reader("/close")
        self.assertLess(peak, RSS_BOUND_KB, "daemon RSS grew by %d KB" % peak)
        self.assertIn("closing slow reader", self.daemon.stderr_text())
        # What it finally reads is a prefix of the stream, then the end.
        pump([slow], lambda: slow.eof, timeout=10)
        self.assertTrue(slow.eof)
        seqs = [struct.unpack("!Q", p)[0] for _, p in slow.msgs]
        self.assertEqual(seqs, list(range(len(seqs))))
        self.assertLess(len(seqs), SLOW_TOTAL // SLOW_MSG // 2)
        self.assertIn(slow.close, (None, (1008, b"too slow")))

    def test_never_reading_client_loses_messages_with_drop_but_stays(self):
        slow, peak = self.publish_past_a_slow_reader("/drop")
        self.assertLess(peak, RSS_BOUND_KB, "daemon RSS grew by %d KB" % peak)
        n = SLOW_TOTAL // SLOW_MSG
        pump([slow], lambda: len(slow.msgs) > 0, timeout=5, linger=1.0)
        seqs = [struct.unpack("!Q", p)[0] for _, p in slow.msgs]
        self.assertTrue(seqs, "the slow reader got nothing at all")
        self.assertLess(len(seqs), n // 2)
        self.assertEqual(seqs, sorted(set(seqs)), "duplicated or out of order")
        self.assertFalse(slow.eof or slow.close, "dropped instead of its messages")
        # Still a member: it hears the next message and is heard.
        other = Client(self, "/drop")
        other.send("still there?")
        self.assertTrue(pump([slow], lambda: slow.msgs[-1:] == [(OP_TEXT, b"still th")]))
        slow.send("yes")
        self.assertTrue(pump([other], lambda: (OP_TEXT, b"yes") in other.msgs))


# --------------------------------------------------------------------------
# the embedded default

def embedded_default_text():
    """wsg_cfg_default_text()'s string, read from src/daemon/config.c."""
    src = os.path.join(os.path.dirname(os.path.dirname(HERE)), "src", "daemon", "config.c")
    with open(src) as f:
        code = f.read()
    literal = r'"(?:[^"\\]|\\.)*"'
    body = re.search(r"wsg_cfg_default_text\(void\)\s*\{\s*return((?:\s*%s)+)\s*;"
                     % literal, code)
    if body is None:
        raise AssertionError("wsg_cfg_default_text not found in %s" % src)
    literals = [l[1:-1] for l in re.findall(literal, body.group(1))]
    return "".join(literals).encode().decode("unicode_escape")


class EmbeddedDefault(RoomTestCase):
    """A daemon on a configuration equal to the embedded default but for
    its port: /broadcast/ROOM rooms, /echo."""

    @classmethod
    def setUpClass(cls):
        text = embedded_default_text()
        if "port = 8080;" not in text:
            raise AssertionError("no port = 8080 in the embedded default:\n" + text)
        text = text.replace("{", "{{").replace("}", "}}").replace("port = 8080;",
                                                                    "port = {port};")
        cls.daemon_kwargs = {"config_text": text}
        super().setUpClass()

    def test_broadcast_rooms_from_the_path(self):
        lobby = [Client(self, "/broadcast/lobby") for _ in range(3)]
        other = [Client(self, "/broadcast/other") for _ in range(2)]
        top = [Client(self, "/broadcast"), Client(self, "/broadcast?room=lobby")]
        self.exchange([lobby, other, top])

    def test_echo_is_still_there(self):
        s = self.raw("/echo")
        wsgtest.send_frame(s, OP_TEXT, "ping")
        self.assertEqual(wsgtest.recv_message(s), (OP_TEXT, b"ping"))


# --------------------------------------------------------------------------
# SIGHUP

class Reload(RoomTestCase):
    """A reload keeps the endpoint's rooms: members from before and after
    it share a room, and new options apply at once."""
    daemon_kwargs = {"endpoints": [bc("/r", room="query")]}

    def reload(self, endpoints):
        d = self.daemon
        if d.external:
            self.skipTest("WSG_TEST_PORT set")
        before = d.stderr_text().count("reloaded configuration")
        with open(d.config_path, "w") as f:
            f.write(render_config(d.port, endpoints=endpoints))
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while d.stderr_text().count("reloaded configuration") == before:
            if "reload failed" in d.stderr_text() or time.monotonic() > deadline:
                self.fail("no reload:\n" + d.stderr_tail(20))
            time.sleep(0.02)

    def test_members_from_before_and_after_a_reload_share_their_room(self):
        old = self.clients(["/r?room=x"] * 2)
        other = self.clients(["/r?room=y"])
        self.reload([bc("/r", room="query", echo_to_sender=True, max_members=3)])
        new = Client(self, "/r?room=x")
        self.exchange([old + [new], other], echo=True)
        # max_members = 3 applies from now on.
        _, reason = wsgtest.expect_close(self.raw("/r?room=x"), 1013)
        self.assertEqual(reason, b"room full")


# --------------------------------------------------------------------------
# options, checked by wsgated -t

@unittest.skipIf(wsgtest.EXTERNAL_PORT, "WSG_TEST_PORT set: no daemon binary under test")
class Options(unittest.TestCase):

    def setUp(self):
        wsgtest.check_daemon_binary()
        self.tmp = tempfile.TemporaryDirectory(prefix="wsgtest-bc-")
        self.addCleanup(self.tmp.cleanup)

    def check(self, options):
        """wsgated -t on a config with one broadcast endpoint; returns
        (exit status, stderr+stdout, config text)."""
        text = render_config(wsgtest.free_port(), endpoints=[
            endpoint("/echo"), endpoint("/b", "broadcast", match="prefix", options=options)])
        path = os.path.join(self.tmp.name, "wsgated.conf")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([wsgtest.WSGATED, "-t", "-c", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        out = (r.stdout + r.stderr).decode(errors="replace")
        for marker in wsgtest.SANITIZER_MARKERS:
            self.assertNotIn(marker, out)
        return r.returncode, out, text, path

    def rejected(self, options, message):
        code, out, text, path = self.check(options)
        self.assertNotEqual(code, 0, "accepted %r:\n%s" % (options, out))
        lines = [int(n) for n in re.findall(re.escape(path) + r":(\d+):", out)]
        first = line_of(text, '"broadcast"')
        self.assertTrue(lines and first - 1 <= lines[0] <= first + 1 + len(options),
                        "want %s:LINE near line %d:\n%s" % (path, first, out))
        self.assertIn(message, out)

    def test_every_option_with_a_good_value_is_ok(self):
        for options in ({}, {"room": "none"}, {"room": "path"},
                        {"room": "query", "room_param": "channel"},
                        {"room": "query", "echo_to_sender": True, "max_members": 0,
                         "accept": "text"},
                        {"max_members": 1000000, "accept": "binary"}):
            code, out, _, _ = self.check(options)
            self.assertEqual(code, 0, "%r refused:\n%s" % (options, out))

    def test_unknown_option_is_refused_with_file_line(self):
        self.rejected({"room": "path", "rooms": "x"},
                      'unknown option "rooms" (valid: room, room_param, echo_to_sender, '
                      'max_members, accept, backplane, backplane_password, backplane_prefix)')

    def test_bad_room_is_refused(self):
        self.rejected({"room": "cookie"},
                      'room must be one of "none", "query", "path", not "cookie"')
        self.rejected({"room": 1}, 'room must be one of "none", "query", "path"')

    def test_bad_accept_is_refused(self):
        self.rejected({"accept": "json"},
                      'accept must be one of "any", "text", "binary", not "json"')

    def test_bad_echo_to_sender_is_refused(self):
        self.rejected({"echo_to_sender": "yes"}, "echo_to_sender must be true or false")

    def test_bad_max_members_is_refused(self):
        self.rejected({"max_members": "10"}, "max_members must be an integer")
        self.rejected({"max_members": -1}, "max_members must be between 0 and 4294967295")
        self.rejected({"max_members": 1.5}, "max_members must be an integer")
        self.rejected({"max_members": 1 << 40}, "max_members must be between 0")

    def test_bad_room_param_is_refused(self):
        self.rejected({"room": "query", "room_param": ""}, "room_param must be 1 to 64")
        self.rejected({"room": "query", "room_param": "a=b"}, "not a query parameter name")
        self.rejected({"room": "query", "room_param": 3}, "room_param must be a string")
        self.rejected({"room_param": "channel"},
                      'room_param is only used with room = "query"')


if __name__ == "__main__":
    wsgtest.main()
