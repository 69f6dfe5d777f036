#!/usr/bin/python3
"""
test_python_websockets.py - a stock client (Debian's python3-websockets
10.4, asyncio) against wsgated: echo of text and binary messages, pipelining,
subprotocols, the close handshake, many concurrent clients, and a default
client that offers permessage-deflate (which wsgated does not negotiate yet).
"""

import asyncio
import os
import unittest

import wsgtest

try:
    import websockets
    import websockets.exceptions
except ImportError:                     # not /usr/bin/python3, or not installed
    websockets = None

SIZES = (0, 1, 125, 126, 127, 65535, 65536, 100000, 1 << 20)


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@unittest.skipIf(websockets is None, "python3-websockets missing (run with /usr/bin/python3)")
class PythonWebsocketsClient(wsgtest.DaemonTestCase):

    def connect(self, path="/echo", **kw):
        kw.setdefault("compression", None)
        kw.setdefault("max_size", None)
        kw.setdefault("open_timeout", 5)
        kw.setdefault("close_timeout", 5)
        kw.setdefault("ping_interval", None)
        return websockets.connect(self.daemon.url(path), **kw)

    # RFC 6455 5.6: text messages round-trip exactly.
    def test_text_messages_of_various_sizes_are_echoed(self):
        async def go():
            async with self.connect() as ws:
                for n in SIZES:
                    msg = wsgtest.text_payload(n).decode()
                    await ws.send(msg)
                    got = await ws.recv()
                    self.assertIsInstance(got, str)
                    self.assertEqual(len(got), len(msg), "size %d" % n)
                    self.assertTrue(got == msg, "text of %d bytes differs" % n)
        run(go())

    def test_binary_messages_of_various_sizes_are_echoed(self):
        async def go():
            async with self.connect() as ws:
                for n in SIZES:
                    msg = os.urandom(n)
                    await ws.send(msg)
                    got = await ws.recv()
                    self.assertIsInstance(got, bytes)
                    self.assertTrue(got == msg, "binary of %d bytes differs" % n)
        run(go())

    # RFC 6455 5.4: a fragmented send (an iterable in websockets) is one message.
    def test_fragmented_send_is_echoed_as_one_message(self):
        async def go():
            async with self.connect() as ws:
                await ws.send(["frag", "mented ", "κόσμε"])
                self.assertEqual(await ws.recv(), "fragmented κόσμε")
                await ws.send([b"\x00", b"\x01\x02", b""])
                self.assertEqual(await ws.recv(), b"\x00\x01\x02")
        run(go())

    # RFC 6455 6.1: messages are delivered in order.
    def test_100_messages_in_flight_come_back_in_order(self):
        async def go():
            async with self.connect() as ws:
                msgs = ["message %d %s" % (i, "x" * (i * 37 % 500)) for i in range(100)]
                for m in msgs:
                    await ws.send(m)
                for m in msgs:
                    self.assertEqual(await ws.recv(), m)
        run(go())

    # RFC 6455 5.5.2/5.5.3: the client's ping is answered.
    def test_ping_gets_pong(self):
        async def go():
            async with self.connect() as ws:
                waiter = await ws.ping(b"are you there")
                await asyncio.wait_for(waiter, 5)
        run(go())

    # RFC 6455 4.2.2: the subprotocol offered and configured is chosen.
    def test_subprotocol_negotiated_on_proto(self):
        async def go():
            async with self.connect("/proto", subprotocols=["chat.v1"]) as ws:
                self.assertEqual(ws.subprotocol, "chat.v1")
                await ws.send("with protocol")
                self.assertEqual(await ws.recv(), "with protocol")
        run(go())

    def test_subprotocol_server_preference_on_proto(self):
        async def go():
            async with self.connect("/proto", subprotocols=["chat.v1", "chat.v2"]) as ws:
                self.assertEqual(ws.subprotocol, "chat.v2")
        run(go())

    def test_required_subprotocol_missing_is_refused(self):
        async def go():
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                async with self.connect("/proto"):
                    pass
            self.assertEqual(cm.exception.status_code, 400)
        run(go())

    # RFC 6455 7.1.2/7.4.1: a clean close; the server echoes the client's 1000.
    def test_clean_close_with_1000_on_both_sides(self):
        async def go():
            ws = await self.connect()
            await ws.send("before close")
            self.assertEqual(await ws.recv(), "before close")
            t0 = asyncio.get_running_loop().time()
            await ws.close(code=1000, reason="done")
            elapsed = asyncio.get_running_loop().time() - t0
            self.assertEqual(ws.close_code, 1000)      # from the server's close frame
            self.assertTrue(ws.closed)
            # RFC 6455 7.1.1: the server closes TCP first, at once; the client
            # would otherwise wait out its close_timeout (5 s) and abort.
            self.assertLess(elapsed, 2.0, "server did not close TCP after the close handshake")
        run(go())

    def test_recv_after_clean_close_raises_connection_closed_ok(self):
        async def go():
            async with self.connect() as ws:
                await ws.close()
                with self.assertRaises(websockets.exceptions.ConnectionClosedOK):
                    await ws.recv()
        run(go())

    def test_200_concurrent_clients_each_echo(self):
        async def client(i):
            async with self.connect() as ws:
                for j in range(5):
                    msg = "client %d message %d" % (i, j)
                    await ws.send(msg)
                    self.assertEqual(await ws.recv(), msg)
                await ws.send(b"\xff" * (i + 1))
                self.assertEqual(await ws.recv(), b"\xff" * (i + 1))
            return ws.close_code

        async def go():
            codes = await asyncio.gather(*(client(i) for i in range(200)))
            self.assertEqual(codes, [1000] * 200)
        run(go(), timeout=30)

    # RFC 7692 5 / RFC 6455 9.1: an offered extension the server does not
    # accept is simply absent from the 101; the client then sends plain frames.
    def test_default_client_offering_deflate_connects_without_extension(self):
        async def go():
            async with websockets.connect(self.daemon.url("/echo"), open_timeout=5,
                                          max_size=None) as ws:
                self.assertEqual(ws.extensions, [])
                self.assertIsNone(ws.response_headers.get("Sec-WebSocket-Extensions"))
                msg = "compressible " * 1000
                await ws.send(msg)
                self.assertEqual(await ws.recv(), msg)
        run(go())


if __name__ == "__main__":
    wsgtest.main()
