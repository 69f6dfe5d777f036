#!/usr/bin/python3
"""
deflate_rss.py - wsgated's memory per connection with permessage-deflate
negotiated, for several compression settings.

For each setting: start wsgated (WSGATED, WSG_MODULE_DIR as for the
integration tests) with one echo endpoint, open N connections that offer
permessage-deflate, and measure the daemon's RSS growth per connection
  idle:   negotiated, no message yet (zlib state is allocated lazily)
  active: after one compressed 1 KiB JSON-like message each way
and print a Markdown table.
Usage: bench/deflate_rss.py [N]   (default 1000)
"""

import os
import random
import socket
import sys
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "tests", "integration"))
import wsgtest  # noqa: E402

SETTINGS = [
    ("default: takeover, 15 bits, mem_level 8", {}),
    ("takeover, 12 bits, mem_level 5",
     {"server_max_window_bits": 12, "client_max_window_bits": 12, "mem_level": 5}),
    ("takeover, 10 bits, mem_level 1",
     {"server_max_window_bits": 10, "client_max_window_bits": 10, "mem_level": 1}),
    ("no context takeover either way, 15 bits, mem_level 8",
     {"server_no_context_takeover": True, "client_no_context_takeover": True}),
    ("compression off (baseline)", None),
]


def message():
    rnd = random.Random(1)
    words = ["%x" % rnd.getrandbits(40) for _ in range(64)]
    return ("[" + ",".join('{"id":%d,"k":"%s"}' % (i, rnd.choice(words))
                           for i in range(40)) + "]").encode()[:1024]


def open_conns(port, n):
    socks = []
    for _ in range(n):
        s, _ = wsgtest.connect_raw(port, "/z", [("Sec-WebSocket-Extensions",
                                                 "permessage-deflate; client_max_window_bits")])
        socks.append(s)
    return socks


def measure(n, compression):
    ep = wsgtest.endpoint("/z")
    if compression is not None:
        c = {"enabled": True, "min_size": 0}
        c.update(compression)
        ep = wsgtest.endpoint("/z", compression=c)
    with wsgtest.Daemon(endpoints=[ep], log_level="warning",
                        limits={"max_connections": n + 100}) as d:
        time.sleep(0.2)
        base = d.rss_kb()
        socks = open_conns(d.port, n)
        time.sleep(0.5)
        idle = d.rss_kb()
        msg = message()
        for s in socks:
            z = zlib.compressobj(6, zlib.DEFLATED, -15)
            payload = z.compress(msg) + z.flush(zlib.Z_SYNC_FLUSH)
            rsv = 4 if compression is not None else 0
            s.sendall(wsgtest.build_frame(wsgtest.OP_BINARY,
                                          payload[:-4] if rsv else msg, rsv=rsv))
            wsgtest.recv_frame(s)
        time.sleep(0.5)
        active = d.rss_kb()
        for s in socks:
            s.close()
    return (idle - base) * 1024 / n, (active - base) * 1024 / n


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print("| setting | RSS/conn idle | RSS/conn after a message each way |")
    print("|---|---|---|")
    for name, comp in SETTINGS:
        idle, active = measure(n, comp)
        print("| %s | %.1f KiB | %.1f KiB |" % (name, idle / 1024, active / 1024))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
