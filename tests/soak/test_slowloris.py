"""
test_slowloris.py - clients that hold a connection open without finishing
the HTTP handshake: some send nothing at all, some send the upgrade request
one byte per second (each byte well inside the timeout, the whole request
far outside it).  handshake_timeout bounds the whole handshake, so the
daemon must cut both kinds within it, and meanwhile (max_connections is
small) well-behaved clients still get in and get their echoes.
"""

import asyncio
import time

from soaklib import SLOW, AsyncWS, SoakTestCase, W, abort_all, figure, main

HANDSHAKE_TIMEOUT = 2


class Slowloris(SoakTestCase):
    daemon_kwargs = dict(limits={"handshake_timeout": HANDSHAKE_TIMEOUT,
                                 "max_connections": 4}, log_level="info")

    def test_silent_and_byte_per_second_clients_are_cut(self):
        asyncio.run(self.slowloris(silent=20, trickling=20))

    async def slowloris(self, silent, trickling):
        request = W.upgrade_request(self.port, "/echo")
        # The request takes ~len(request) seconds at one byte per second:
        # any cut well before that is the handshake timeout at work.
        patience = HANDSHAKE_TIMEOUT + 3 * SLOW
        give_up = HANDSHAKE_TIMEOUT + 8 * SLOW
        self.assertGreater(len(request), give_up * 4)

        async def silent_client():
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            t0 = time.monotonic()
            try:
                data = await asyncio.wait_for(reader.read(4096), give_up)
                # A 408 is fine too; EOF must follow.
                while data:
                    data = await asyncio.wait_for(reader.read(4096), give_up)
                return time.monotonic() - t0
            except (asyncio.TimeoutError, TimeoutError):
                return None
            except ConnectionError:
                return time.monotonic() - t0
            finally:
                writer.close()

        async def trickling_client():
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            t0 = time.monotonic()
            try:
                for i in range(len(request)):
                    writer.write(request[i:i + 1])
                    try:
                        data = await asyncio.wait_for(reader.read(4096), 1.0)
                        if not data:
                            return time.monotonic() - t0
                        # a response (408/400): then EOF
                    except (asyncio.TimeoutError, TimeoutError):
                        pass
                    if time.monotonic() - t0 > give_up:
                        return None
                return None
            except ConnectionError:
                return time.monotonic() - t0
            finally:
                writer.close()

        async def well_behaved():
            # While the slowloris clients hold their sockets: the three
            # free slots (the checker has the fourth) are there, and a
            # fifth client is refused with 503 at the HTTP stage.
            await asyncio.sleep(0.5)
            conns = [await AsyncWS.open(self.port, "/echo", timeout=5 * SLOW) for _ in range(3)]
            for i, c in enumerate(conns):
                c.send(W.OP_TEXT, b"hi %d" % i)
                f = await c.recv_frame(5 * SLOW)
                self.assertEqual(f.payload, b"hi %d" % i)
            with self.assertRaisesRegex(AssertionError, "503"):
                await abort_all([await AsyncWS.open(self.port, "/echo", timeout=5 * SLOW)])
            await abort_all([conns.pop()])
            await asyncio.sleep(0.3)
            # After the handshake timeout has done its work, a newcomer
            # still gets in.
            await asyncio.sleep(HANDSHAKE_TIMEOUT + 1)
            late = await AsyncWS.open(self.port, "/echo", timeout=5 * SLOW)
            late.send(W.OP_TEXT, b"late")
            self.assertEqual((await late.recv_frame(5 * SLOW)).payload, b"late")
            await abort_all(conns + [late])

        results = await asyncio.gather(
            asyncio.gather(*(silent_client() for _ in range(silent))),
            asyncio.gather(*(trickling_client() for _ in range(trickling))),
            well_behaved())
        quiet, trickled = results[0], results[1]

        def describe(times):
            cut = [t for t in times if t is not None]
            return "%d of %d cut%s" % (len(cut), len(times),
                                        ", after %.1f-%.1f s" % (min(cut), max(cut))
                                        if cut else "")
        figure("slowloris", "silent clients: %s; one byte per second: %s "
               "(handshake_timeout %d s)" % (describe(quiet), describe(trickled),
                                            HANDSHAKE_TIMEOUT))
        self.assertNotIn(None, quiet, "a silent client was never cut")
        self.assertLessEqual(max(quiet), patience)
        self.assertNotIn(None, trickled,
                         "a client sending its request one byte per second was still "
                         "connected after %d s: handshake_timeout (%d s) must bound the "
                         "whole handshake, not each read" % (give_up, HANDSHAKE_TIMEOUT))
        self.assertLessEqual(max(trickled), patience)


if __name__ == "__main__":
    main()
