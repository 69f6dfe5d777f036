#!/usr/bin/python3
"""
test_deflate.py - permessage-deflate (RFC 7692) in wsgated: Python
websockets (which offers it by default) and Node's ws with perMessageDeflate
against compressing echo endpoints (text and binary, 0 bytes to 1 MiB,
context takeover on and off, window bits 9 to 15), and raw sockets with
zlib for what stock clients will not send: fragmented compressed messages,
RSV1 on a control frame, on a continuation and without negotiation (1002),
a compression bomb (1009, with the daemon's RSS bounded), a corrupt stream
and compressed invalid UTF-8 (1007), window bits 8, the negotiation itself,
and a broadcast compressed once for all its receivers.
"""

import asyncio
import collections
import json
import os
import shutil
import subprocess
import unittest
import zlib

import wsgtest
from wsgtest import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, build_frame,
                     connect_raw, expect_close, recv_frame, text_payload)

try:
    import websockets
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
except ImportError:  # pragma: no cover - reported as a skip
    websockets = None

TAIL = b"\x00\x00\xff\xff"
MIB = 1 << 20


def zcfg(**kw):
    c = collections.OrderedDict([("enabled", True)])
    c.update(kw)
    return c


ENDPOINTS = [
    wsgtest.endpoint("/z", compression=zcfg(min_size=0)),
    wsgtest.endpoint("/znt", compression=zcfg(server_no_context_takeover=True,
                                              client_no_context_takeover=True, min_size=0)),
    wsgtest.endpoint("/zmin", compression=zcfg()),           # min_size 64
    wsgtest.endpoint("/zwin", compression=zcfg(server_max_window_bits=12,
                                               client_max_window_bits=10, min_size=0)),
    wsgtest.endpoint("/zsmall", compression=zcfg(min_size=0), limits=collections.OrderedDict(
        [("max_message", MIB), ("max_frame", MIB)])),
    wsgtest.endpoint("/zb", module="broadcast", compression=zcfg(min_size=0),
                     options=collections.OrderedDict([("echo_to_sender", True)])),
    wsgtest.endpoint("/plain"),
]


def deflate(data, wbits=15, compressor=None):
    """One message as a permessage-deflate payload: sync flush, tail off."""
    c = compressor or zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(payload, wbits=15, decompressor=None):
    d = decompressor or zlib.decompressobj(-wbits)
    return d.decompress(payload + TAIL)


def json_like(n, seed=1):
    """About n bytes that compress to roughly half, not to nothing."""
    import random
    rnd = random.Random(seed)
    words = ["%x" % rnd.getrandbits(40) for _ in range(64)]
    out = []
    size = 0
    while size < n:
        w = '{"k":"%s"},' % rnd.choice(words)
        out.append(w)
        size += len(w)
    return "".join(out).encode()[:n]


def offer(value):
    return [("Sec-WebSocket-Extensions", value)]


def response_extensions(port, path, value):
    """The 101's Sec-WebSocket-Extensions for an offer (None if absent)."""
    key = wsgtest.make_key()
    s = wsgtest.tcp_connect(port)
    try:
        s.sendall(wsgtest.upgrade_request(port, path, offer(value) if value else None, key=key))
        status, _, headers = wsgtest.parse_head(wsgtest.read_head(s))
        assert status == 101, status
        return headers.get("Sec-WebSocket-Extensions")
    finally:
        s.close()


class Negotiation(wsgtest.DaemonTestCase):
    daemon_kwargs = {"endpoints": ENDPOINTS}

    def test_response_carries_only_what_was_agreed(self):
        cases = [
            ("/z", "permessage-deflate", "permessage-deflate"),
            ("/z", "permessage-deflate; client_max_window_bits", "permessage-deflate"),
            ("/z", "permessage-deflate; server_max_window_bits=10",
             "permessage-deflate; server_max_window_bits=10"),
            ("/z", "permessage-deflate; client_max_window_bits=9",
             "permessage-deflate; client_max_window_bits=9"),
            ("/z", "permessage-deflate; server_no_context_takeover",
             "permessage-deflate; server_no_context_takeover"),
            ("/znt", "permessage-deflate",
             "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ("/zwin", "permessage-deflate; client_max_window_bits",
             "permessage-deflate; client_max_window_bits=10"),
            ("/zwin", "permessage-deflate; server_max_window_bits=14; client_max_window_bits",
             "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10"),
            # A client whose window cannot be limited is declined on /zwin.
            ("/zwin", "permessage-deflate", None),
            # Invalid or repeated parameters decline that offer, not the handshake.
            ("/z", "permessage-deflate; server_max_window_bits=16", None),
            ("/z", "permessage-deflate; foo", None),
            ("/z", "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
             None),
            ("/z", "permessage-deflate; foo, permessage-deflate; client_no_context_takeover",
             "permessage-deflate; client_no_context_takeover"),
            ("/z", "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8",
             "permessage-deflate; server_max_window_bits=8"),
            ("/plain", "permessage-deflate", None),
            ("/z", None, None),
        ]
        for path, value, want in cases:
            with self.subTest(path=path, offer=value):
                self.assertEqual(response_extensions(self.port, path, value), want)

    def test_offers_over_several_headers_are_read_in_order(self):
        key = wsgtest.make_key()
        s = wsgtest.tcp_connect(self.port)
        self.addCleanup(s.close)
        req = wsgtest.upgrade_request(self.port, "/z", None, key=key)
        extra = (b"Sec-WebSocket-Extensions: permessage-deflate; bad=1\r\n"
                 b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=11\r\n")
        s.sendall(req[:-2] + extra + b"\r\n")
        status, _, headers = wsgtest.parse_head(wsgtest.read_head(s))
        self.assertEqual(status, 101)
        self.assertEqual(headers.get("Sec-WebSocket-Extensions"),
                         "permessage-deflate; server_max_window_bits=11")


class RawFrames(wsgtest.DaemonTestCase):
    """zlib by hand over raw sockets."""
    daemon_kwargs = {"endpoints": ENDPOINTS}

    def connect(self, path="/z", value="permessage-deflate; client_max_window_bits"):
        sock, _ = connect_raw(self.port, path, offer(value) if value else None)
        self.addCleanup(sock.close)
        return sock

    def recv_compressed(self, sock, wbits=15, decompressor=None):
        f = recv_frame(sock)
        self.assertTrue(f.fin)
        self.assertEqual(f.rsv, 4, "expected RSV1 on the echo")
        return f.opcode, inflate(f.payload, wbits, decompressor)

    def recv_any(self, sock):
        """Compressed or not: what did not get smaller goes out as it is."""
        f = recv_frame(sock)
        return f.opcode, inflate(f.payload) if f.rsv == 4 else f.payload

    def test_compressed_text_and_binary_echo_compressed(self):
        sock = self.connect()
        for opcode, data in ((OP_TEXT, text_payload(3000)), (OP_BINARY, json_like(3000))):
            sock.sendall(build_frame(opcode, deflate(data), rsv=4))
            self.assertEqual(self.recv_compressed(sock), (opcode, data))
        for opcode, data in ((OP_BINARY, os.urandom(3000)), (OP_TEXT, b""),
                             (OP_BINARY, b"\x00")):
            sock.sendall(build_frame(opcode, deflate(data), rsv=4))
            self.assertEqual(self.recv_any(sock), (opcode, data))

    def test_uncompressed_messages_are_still_accepted(self):
        sock = self.connect()
        data = text_payload(1000)
        sock.sendall(build_frame(OP_TEXT, data))
        self.assertEqual(self.recv_compressed(sock), (OP_TEXT, data))

    def test_fragmented_compressed_message_with_rsv1_on_the_first_frame_only(self):
        sock = self.connect()
        data = text_payload(100000)
        z = deflate(data)
        third = len(z) // 3
        sock.sendall(build_frame(OP_TEXT, z[:third], fin=False, rsv=4))
        sock.sendall(build_frame(OP_PING, b"between"))        # control frame in between
        sock.sendall(build_frame(OP_CONT, z[third:2 * third], fin=False))
        sock.sendall(build_frame(OP_CONT, z[2 * third:]))
        f = recv_frame(sock)
        self.assertEqual((f.opcode, f.payload, f.rsv), (0xA, b"between", 0))
        self.assertEqual(self.recv_compressed(sock), (OP_TEXT, data))

    def test_context_takeover_makes_a_repeated_message_tiny(self):
        data = json_like(2000)
        sizes = {}
        for path in ("/z", "/znt"):
            sock = self.connect(path)
            d = zlib.decompressobj(-15)
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            got = []
            for _ in range(3):
                if path == "/znt":
                    c = zlib.compressobj(6, zlib.DEFLATED, -15)
                sock.sendall(build_frame(OP_BINARY, deflate(data, compressor=c), rsv=4))
                f = recv_frame(sock)
                self.assertEqual(f.rsv, 4)
                got.append(len(f.payload))
                self.assertEqual(inflate(f.payload, decompressor=d if path == "/z" else None),
                                 data)
            sizes[path] = got
        self.assertLess(sizes["/z"][1], 40, sizes)     # refers back to the first one
        self.assertLess(sizes["/z"][2], 40, sizes)
        self.assertEqual(len(set(sizes["/znt"])), 1, sizes)
        self.assertGreater(sizes["/znt"][1], 500, sizes)

    def test_client_context_takeover_is_followed(self):
        # Our second message refers back into the first one.
        sock = self.connect("/z")
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        d = zlib.decompressobj(-15)
        data = text_payload(5000)
        sizes = []
        for _ in range(3):
            z = deflate(data, compressor=c)
            sizes.append(len(z))
            sock.sendall(build_frame(OP_TEXT, z, rsv=4))
            self.assertEqual(self.recv_compressed(sock, decompressor=d), (OP_TEXT, data))
        self.assertLess(sizes[1], 40, sizes)

    def test_messages_under_min_size_go_out_uncompressed(self):
        sock = self.connect("/zmin")
        sock.sendall(build_frame(OP_TEXT, deflate(b"short"), rsv=4))
        f = recv_frame(sock)
        self.assertEqual((f.rsv, f.payload), (0, b"short"))
        sock.sendall(build_frame(OP_TEXT, deflate(b"a" * 64), rsv=4))
        self.assertEqual(self.recv_compressed(sock), (OP_TEXT, b"a" * 64))

    def test_incompressible_messages_go_out_uncompressed(self):
        sock = self.connect("/z")
        data = os.urandom(1000)
        sock.sendall(build_frame(OP_BINARY, data))
        f = recv_frame(sock)
        self.assertEqual((f.rsv, f.payload), (0, data))

    def test_window_bits_agreed_are_used(self):
        # /zwin compresses with at most 12 bits; an inflater with 12 reads it.
        sock = self.connect("/zwin", "permessage-deflate; client_max_window_bits")
        data = os.urandom(3000) * 4  # matches 3000 bytes back: within 4096
        d = zlib.decompressobj(-12)
        for _ in range(3):
            sock.sendall(build_frame(OP_BINARY, deflate(data, wbits=10), rsv=4))
            self.assertEqual(self.recv_compressed(sock, decompressor=d), (OP_BINARY, data))

    def test_server_max_window_bits_8_is_honoured(self):
        sock = self.connect("/z", "permessage-deflate; server_max_window_bits=8; "
                                  "client_max_window_bits=9")
        d = zlib.decompressobj(-8)
        data = text_payload(20000)
        for _ in range(3):
            sock.sendall(build_frame(OP_TEXT, deflate(data, wbits=9), rsv=4))
            self.assertEqual(self.recv_compressed(sock, decompressor=d), (OP_TEXT, data))

    def test_rsv1_on_a_control_frame_is_1002(self):
        sock = self.connect()
        sock.sendall(build_frame(OP_PING, b"x", rsv=4))
        expect_close(sock, 1002)

    def test_rsv1_on_a_continuation_is_1002(self):
        sock = self.connect()
        z = deflate(b"hello hello hello")
        sock.sendall(build_frame(OP_TEXT, z[:3], fin=False, rsv=4))
        sock.sendall(build_frame(OP_CONT, z[3:], rsv=4))
        expect_close(sock, 1002)

    def test_rsv1_without_negotiation_is_1002(self):
        for path, value in (("/z", None), ("/plain", "permessage-deflate")):
            with self.subTest(path=path):
                sock = self.connect(path, value)
                sock.sendall(build_frame(OP_TEXT, deflate(b"hello"), rsv=4))
                expect_close(sock, 1002)

    def test_rsv2_and_rsv3_stay_1002(self):
        sock = self.connect()
        sock.sendall(build_frame(OP_TEXT, b"x", rsv=2))
        expect_close(sock, 1002)

    def test_corrupt_stream_is_1007(self):
        sock = self.connect()
        sock.sendall(build_frame(OP_BINARY, b"\xff\xff\xff\xff", rsv=4))
        expect_close(sock, 1007)

    def test_truncated_stream_is_1007(self):
        sock = self.connect()
        z = deflate(os.urandom(2000))
        sock.sendall(build_frame(OP_BINARY, z[:len(z) // 2], rsv=4))
        expect_close(sock, 1007)

    def test_compressed_invalid_utf8_is_1007(self):
        sock = self.connect()
        sock.sendall(build_frame(OP_TEXT, deflate(b"ok \xc3\x28 not"), rsv=4))
        expect_close(sock, 1007)

    def test_compressed_message_over_max_message_is_1009(self):
        sock = self.connect("/zsmall")
        sock.sendall(build_frame(OP_BINARY, deflate(b"a" * (MIB + 1)), rsv=4))
        expect_close(sock, 1009)

    def test_compressed_message_at_max_message_is_echoed(self):
        sock = self.connect("/zsmall")
        data = b"b" * MIB
        sock.sendall(build_frame(OP_BINARY, deflate(data), rsv=4))
        self.assertEqual(self.recv_compressed(sock), (OP_BINARY, data))


class Bomb(wsgtest.DaemonTestCase):
    """A few KiB that inflate to hundreds of MiB: 1009, and the daemon's
    memory stays within the 1 MiB limit (plus zlib's own state)."""
    daemon_kwargs = {"endpoints": ENDPOINTS}

    def test_bomb_is_1009_before_the_memory_is_spent(self):
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = bytes(MIB)
        z = b"".join(c.compress(chunk) for _ in range(256)) + c.flush(zlib.Z_SYNC_FLUSH)
        z = z[:-4]
        self.assertLess(len(z), 300 * 1024)       # 256 MiB of zeros in < 300 KiB
        before = self.daemon.rss_kb()
        for _ in range(5):
            sock, _ = connect_raw(self.port, "/zsmall", offer("permessage-deflate"))
            try:
                sock.sendall(build_frame(OP_BINARY, z, rsv=4))
                expect_close(sock, 1009)
            finally:
                sock.close()
        grown = self.daemon.rss_kb() - before
        # Under AddressSanitizer freed memory sits in its quarantine, with
        # redzones around it: far more slack, still far below 256 MiB.
        with open("/proc/%d/maps" % self.daemon.proc.pid) as f:
            slack = 64 if "libasan" in f.read() else 8
        self.assertLess(grown, slack * 1024, "RSS grew by %d KiB" % grown)
        # Small bombs too: 8 MiB of zeros in about 8 KiB.
        small = deflate(bytes(8 * MIB))
        self.assertLess(len(small), 10 * 1024)
        sock, _ = connect_raw(self.port, "/zsmall", offer("permessage-deflate"))
        self.addCleanup(sock.close)
        sock.sendall(build_frame(OP_BINARY, small, rsv=4))
        expect_close(sock, 1009)


class Broadcast(wsgtest.DaemonTestCase):
    """A broadcast is compressed once for receivers with the same parameters."""
    daemon_kwargs = {"endpoints": ENDPOINTS}

    def test_receivers_get_the_same_compressed_frame(self):
        socks = []
        for value in ("permessage-deflate", "permessage-deflate; server_no_context_takeover",
                      None):
            sock, _ = connect_raw(self.port, "/zb", offer(value) if value else None)
            self.addCleanup(sock.close)
            socks.append(sock)
        import time
        time.sleep(0.2)                      # all three in the room
        data = text_payload(5000)
        # The sender (context takeover) sends its own message compressed too.
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        socks[0].sendall(build_frame(OP_TEXT, deflate(data, compressor=c), rsv=4))
        frames = [recv_frame(s) for s in socks]
        self.assertEqual([f.rsv for f in frames], [4, 4, 0])
        self.assertEqual(frames[0].payload, frames[1].payload)
        self.assertEqual(inflate(frames[0].payload), data)
        self.assertEqual(frames[2].payload, data)
        # After a shared message the takeover receiver still decodes what
        # its own context sends next (the echo of a second message).
        d = zlib.decompressobj(-15)
        self.assertEqual(inflate(frames[0].payload, decompressor=d), data)
        socks[0].sendall(build_frame(OP_TEXT, deflate(data, compressor=c), rsv=4))
        f = recv_frame(socks[0])
        self.assertEqual(inflate(f.payload, decompressor=d), data)


@unittest.skipIf(websockets is None, "python3-websockets is not installed")
class PythonWebsockets(wsgtest.DaemonTestCase):
    daemon_kwargs = {"endpoints": ENDPOINTS}
    SIZES = [0, 1, 125, 126, 1000, 65535, 65536, 300000, MIB]

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 60))

    async def echo_sizes(self, url, extensions=None, sizes=None):
        kw = {"max_size": 2 * MIB}
        if extensions is not None:
            kw["extensions"] = extensions
        async with websockets.connect(url, **kw) as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions")
            for n in sizes or self.SIZES:
                text = text_payload(n).decode()
                await ws.send(text)
                self.assertEqual(await ws.recv(), text, n)
                data = os.urandom(n // 2) + bytes(n - n // 2)
                await ws.send(data)
                self.assertEqual(await ws.recv(), data, n)
            return ext

    def test_default_client_text_and_binary_0_to_1_mib(self):
        for path in ("/z", "/znt", "/zmin"):
            with self.subTest(path=path):
                ext = self.run_async(self.echo_sizes(self.daemon.url(path)))
                self.assertTrue(ext.startswith("permessage-deflate"), ext)

    def test_context_takeover_off_either_way(self):
        for snct, cnct in ((True, False), (False, True), (True, True)):
            with self.subTest(server_no_context_takeover=snct, client_no_context_takeover=cnct):
                f = ClientPerMessageDeflateFactory(server_no_context_takeover=snct,
                                                   client_no_context_takeover=cnct)
                ext = self.run_async(self.echo_sizes(self.daemon.url("/z"), [f],
                                                     [0, 100, 70000, MIB]))
                self.assertEqual("server_no_context_takeover" in ext, snct, ext)
                self.assertEqual("client_no_context_takeover" in ext, cnct, ext)

    def test_window_bits_9_to_15(self):
        for bits in range(9, 16):
            with self.subTest(bits=bits):
                f = ClientPerMessageDeflateFactory(server_max_window_bits=bits,
                                                   client_max_window_bits=bits)
                ext = self.run_async(self.echo_sizes(self.daemon.url("/z"), [f],
                                                     [10, 5000, 300000]))
                self.assertIn("server_max_window_bits=%d" % bits, ext)
                if bits < 15:
                    self.assertIn("client_max_window_bits=%d" % bits, ext)

    def test_endpoint_window_limits_are_accepted_by_the_client(self):
        ext = self.run_async(self.echo_sizes(self.daemon.url("/zwin"), None, [10, 300000]))
        self.assertEqual(ext, "permessage-deflate; client_max_window_bits=10")

    def test_uncompressed_endpoint_is_not_compressed(self):
        ext = self.run_async(self.echo_sizes(self.daemon.url("/plain"), None, [10, 1000]))
        self.assertIsNone(ext)


NODE_CLIENT = r"""
'use strict';
const WebSocket = require('ws');
const [url, optsJson] = process.argv.slice(1);
const opts = JSON.parse(optsJson);
setTimeout(() => { console.log(JSON.stringify({ok: false, detail: 'timeout'})); process.exit(1); },
           50000).unref();
const ws = new WebSocket(url, { perMessageDeflate: opts, maxPayload: 4 << 20 });
const queue = [], waiters = [];
ws.on('message', (data, isBinary) => {
  const m = { data: Buffer.from(data), isBinary };
  if (waiters.length) waiters.shift()(m); else queue.push(m);
});
ws.on('error', (e) => { console.log(JSON.stringify({ok: false, detail: String(e)})); process.exit(1); });
const next = () => queue.length ? Promise.resolve(queue.shift())
                                : new Promise((r) => waiters.push(r));
ws.on('open', async () => {
  const sizes = [0, 1, 125, 126, 1000, 65536, 300000, 1 << 20];
  for (const n of sizes) {
    const text = 'κόσμε json {"id": 1} '.repeat(Math.ceil(n / 20) + 1).slice(0, n);
    ws.send(text);
    let m = await next();
    if (m.isBinary || m.data.toString('utf8') !== text) {
      console.log(JSON.stringify({ok: false, detail: 'text ' + n})); process.exit(1);
    }
    const bin = Buffer.alloc(n);
    for (let i = 0; i < n; i++) bin[i] = (i * 7) % 251;
    ws.send(bin, { fin: true });
    m = await next();
    if (!m.isBinary || !m.data.equals(bin)) {
      console.log(JSON.stringify({ok: false, detail: 'binary ' + n})); process.exit(1);
    }
  }
  // A fragmented compressed message (ws compresses each fragment's data
  // into one deflate stream, RSV1 on the first frame).
  const parts = ['first part ', 'second part '.repeat(100), 'last'];
  parts.forEach((p, i) => ws.send(p, { fin: i === parts.length - 1, compress: true }));
  const m = await next();
  if (m.data.toString('utf8') !== parts.join('')) {
    console.log(JSON.stringify({ok: false, detail: 'fragmented'})); process.exit(1);
  }
  const ext = ws.extensions;
  ws.close(1000);
  ws.on('close', (code) => {
    console.log(JSON.stringify({ok: code === 1000, extensions: ext, detail: 'close ' + code}));
    process.exit(code === 1000 ? 0 : 1);
  });
});
"""


def node_missing():
    if shutil.which("node") is None:
        return "node is not installed"
    r = subprocess.run(["node", "-e", "require('ws')"], env=node_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    if r.returncode != 0:
        return "node cannot load the ws module (apt-get install node-ws)"
    return None


def node_env():
    env = dict(os.environ)
    paths = [p for p in env.get("NODE_PATH", "").split(":") if p]
    if "/usr/share/nodejs" not in paths:
        paths.append("/usr/share/nodejs")
    env["NODE_PATH"] = ":".join(paths)
    return env


NODE_MISSING = node_missing()


@unittest.skipIf(NODE_MISSING, NODE_MISSING or "")
class NodeWs(wsgtest.DaemonTestCase):
    daemon_kwargs = {"endpoints": ENDPOINTS}

    def run_node(self, path, opts):
        r = subprocess.run(["node", "-e", NODE_CLIENT, self.daemon.url(path), json.dumps(opts)],
                           env=node_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        try:
            result = json.loads(r.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.fail("no JSON from node (exit %d): %s" % (r.returncode, out))
        self.assertTrue(result["ok"], out)
        return result

    def test_node_ws_per_message_deflate(self):
        cases = [
            {"threshold": 0},
            {"threshold": 0, "serverNoContextTakeover": True, "clientNoContextTakeover": True},
            {"threshold": 0, "serverMaxWindowBits": 9, "clientMaxWindowBits": 9},
            {"threshold": 0, "serverMaxWindowBits": 12, "clientMaxWindowBits": 15},
            {"threshold": 0, "serverMaxWindowBits": 15, "clientMaxWindowBits": 11},
        ]
        for opts in cases:
            with self.subTest(opts=opts):
                result = self.run_node("/z", opts)
                self.assertIn("permessage-deflate", result["extensions"])

    def test_node_ws_against_window_limited_endpoint(self):
        result = self.run_node("/zwin", {"threshold": 0})
        self.assertIn("permessage-deflate", result["extensions"])


if __name__ == "__main__":
    wsgtest.main()
