"""
test_idle_connections.py - many idle WebSocket connections on /echo
(WSG_SOAK_CONNS, 10,000 by default, 2,000 against a sanitizer build).

Measures the daemon's RSS growth per idle connection (VmRSS before and
after, reported as a figure), then sends one message on every connection
at once and checks every echo, then drops them all and checks that the
daemon gives their descriptors back.  A well-behaved client echoes every
50 ms throughout (soaklib.EchoChecker).
"""

import asyncio
import os
import time

from soaklib import (CONNS, SLOW, SoakTestCase, W, abort_all, figure, main, open_fds,
                     open_many, raise_nofile, rss_kb, wait_until)


class IdleConnections(SoakTestCase):
    daemon_kwargs = dict(limits={"max_connections": 0}, log_level="info")

    @classmethod
    def setUpClass(cls):
        # Before the daemon starts: it inherits our limits and raises its
        # own soft limit to the hard one.
        cls.nofile = raise_nofile()
        super().setUpClass()

    def test_idle_connections_then_one_echo_each(self):
        if self.nofile < CONNS + 100:
            self.skipTest("RLIMIT_NOFILE hard limit %d is below %d connections"
                          % (self.nofile, CONNS))
        asyncio.run(self.idle_then_echo(CONNS))

    async def idle_then_echo(self, n):
        pid = self.pid()
        timeout = 30 * SLOW

        # Warm up (allocator arenas, the module, evhttp's first buffers)
        # so that the growth measured is the connections' own.
        await abort_all(await open_many(self.port, 200))
        await asyncio.sleep(0.5)
        base = rss_kb(pid)

        t0 = time.monotonic()
        conns = await open_many(self.port, n, timeout=timeout)
        opened = time.monotonic() - t0
        await asyncio.sleep(1.0)
        after = rss_kb(pid)
        per_conn = (after - base) * 1024.0 / n
        figure("idle connections", "%d opened in %.1f s" % (n, opened))
        figure("RSS per idle connection", "%.2f KiB (%d connections: %.1f MiB -> %.1f MiB)%s"
               % (per_conn / 1024, n, base / 1024.0, after / 1024.0,
                  " [sanitizer build]" if SLOW > 1 else ""))

        # One message on every connection at once; every reply checked.
        payloads = [b"conn %d " % i + os.urandom(8 + i % 64) for i in range(n)]
        t0 = time.monotonic()
        for c, p in zip(conns, payloads):
            c.send(W.OP_BINARY, p)

        async def echo_of(c, p):
            f = await c.recv_frame(timeout)
            if f.opcode != W.OP_BINARY or not f.fin or f.payload != p:
                raise AssertionError("wrong echo: opcode %d fin %s %r..., want %r..."
                                     % (f.opcode, f.fin, f.payload[:32], p[:32]))

        results = await asyncio.gather(*(echo_of(c, p) for c, p in zip(conns, payloads)),
                                       return_exceptions=True)
        took = time.monotonic() - t0
        errors = [r for r in results if isinstance(r, BaseException)]
        figure("echo burst", "%d messages, one per connection, all echoed in %.2f s"
               % (n - len(errors), took))
        self.assertEqual(len(errors), 0, "%d of %d echoes failed, first: %r"
                         % (len(errors), n, errors[0] if errors else None))

        # Gone without a close frame: the daemon must free every one.
        await abort_all(conns)
        left = wait_until(lambda: open_fds(pid) < 64, timeout)
        self.assertTrue(left, "the daemon still has %d descriptors open" % open_fds(pid))


if __name__ == "__main__":
    main()
