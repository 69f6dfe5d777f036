"""
seeds_connection.py - writes the seed corpus of fuzz_connection.c into
tests/fuzz/corpus/connection/ (run it again when the input layout changes):
three control bytes (see the comment at the top of fuzz_connection.c),
then masked client frames.

    /usr/bin/python3 tests/fuzz/seeds_connection.py
"""

import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "connection")
KEY = b"\x01\x02\x03\x04"


def frame(op, payload=b"", fin=True, mask=True, length=None, length_bytes=None, rsv1=False):
    n = len(payload) if length is None else length
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n < 65536 else 8
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | op
    m = 0x80 if mask else 0
    if length_bytes == 0:
        head = bytes([b0, m | n])
    elif length_bytes == 2:
        head = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    return head + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))


def close(code=None, reason=b""):
    return frame(8, b"" if code is None else struct.pack("!H", code) + reason)


class Deflater:
    """The client's side of permessage-deflate, with context takeover."""

    def __init__(self, wbits=15):
        self.z = zlib.compressobj(6, zlib.DEFLATED, -wbits)

    def message(self, op, data, fin=True):
        z = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert z.endswith(b"\x00\x00\xff\xff")
        return frame(op, z[:-4], fin=fin, rsv1=True)


def seeds():
    s = {}
    s["echo_ping_close"] = (0, 0, 0, frame(1, b"hello") + frame(9, b"p")
                            + frame(2, bytes(range(200))) + close(1000, b"done"))
    s["bytewise_fragments"] = (0x01, 0, 0, frame(1, b"fra", fin=False) + frame(9, b"mid")
                               + frame(0, "gmént".encode(), fin=False) + frame(0, b"!")
                               + close(1001))
    s["prebuffered"] = (0x08 | 0x05, 0, 0, frame(1, b"early") + frame(2, b"\x00\xff") + close())
    s["slow_reader_close"] = (0x10, 0, 0, b"".join(frame(2, b"x" * 40) for _ in range(8))
                              + frame(9) + close(1000))
    s["slow_reader_drop"] = (0x30 | 0x02, 0x04, 0,
                             b"".join(frame(1, b"!2" + b"y" * 100) for _ in range(10)))
    s["eof_no_close"] = (0x40 | 0x03, 0x0c, 0, frame(1, b"bye soon")
                         + frame(10, b"unsolicited pong"))
    s["wait_keepalive"] = (0, 0x70, 0, frame(1, b"then idle"))
    s["wait_idle"] = (0x40, 0x50, 0, frame(1, b"then idle") + frame(9, b"p"))
    s["wait_after_close"] = (0x06, 0x7c, 0, frame(1, b"!c please") + frame(9, b"ignored")
                             + frame(1, b"ignored too"))
    s["module_close_invalid"] = (0, 0, 0, frame(1, b"!x"))
    s["refused"] = (0, 0x01, 0, frame(1, b"ignored") + close(1000))
    s["open_close"] = (0x40, 0x02, 0, frame(1, b"ignored") + close(4001))
    s["greeting"] = (0x04, 0x03, 0, frame(1, b"hi") + close(3000, "räson".encode()))
    s["unmasked"] = (0, 0, 0, frame(1, b"hello", mask=False))
    s["bad_utf8"] = (0x01, 0, 0, frame(1, b"ok \xce", fin=False) + frame(0, b"\xff"))
    s["huge_length"] = (0x02, 0, 0, frame(2, b"", length=1 << 63, length_bytes=8))
    s["frame_too_big"] = (0x05, 0, 0, frame(2, b"z" * 2100))
    s["message_too_big"] = (0x06, 0, 0, b"".join(frame(2 if i == 0 else 0, b"m" * 2000, fin=False)
                                                 for i in range(5)))
    s["bad_close_code"] = (0, 0, 0, close(1005))
    s["empty_close"] = (0, 0, 0, frame(8))
    s["control_too_long"] = (0, 0, 0, frame(9, b"p" * 126))
    s["non_minimal_length"] = (0, 0, 0, frame(2, b"a", length_bytes=2))
    s["shared_small_and_large"] = (0, 0, 0, frame(1, b"!s small") + frame(2, b"!s" + bytes(600))
                                   + close(1000))
    s["pause_resume_early"] = (0x03, 0, 0, frame(1, b"!p first") + frame(9, b"while paused")
                               + frame(1, b"second") + frame(1, b"!p third") + close(1000))
    s["pause_resume_late"] = (0, 0x80, 0, frame(1, b"!p first") + frame(1, b"second")
                              + frame(9, b"x") + close(1000))
    s["server_shutdown"] = (0x40, 0x60, 0, frame(1, b"before shutdown"))
    s["shutdown_write_cb"] = (0x80 | 0x40, 0, 0, frame(1, b"x") + close(1000, b"bye"))
    s["paused_then_slow"] = (0x10 | 0x80, 0x84, 0, b"".join(frame(2, b"!p" + b"z" * 100)
                                                         for _ in range(6)) + close(1001))
    # permessage-deflate
    d = Deflater()
    s["deflate_takeover"] = (0, 0, 0x01, d.message(1, b"hello hello hello") + frame(1, b"plain")
                             + d.message(2, b"hello hello hello again") + close(1000))
    d = Deflater(9)
    s["deflate_no_takeover_small_windows"] = (0x02, 0, 0x01 | 0x02 | 0x08 | 0x20 | 0x40,
                                              d.message(1, "wörds " .encode() * 40)
                                              + Deflater(9).message(2, b"!2" + bytes(300)))
    d = Deflater()
    z = d.z.compress(b"!s " + b"shared " * 60) + d.z.flush(zlib.Z_SYNC_FLUSH)
    s["deflate_fragmented_shared"] = (0x03, 0, 0x81, frame(2, z[:10], fin=False, rsv1=True)
                                      + frame(9, b"between") + frame(0, z[10:-4]))
    s["deflate_bomb"] = (0, 0, 0x01, Deflater().message(2, bytes(100000)))
    s["deflate_bad_stream"] = (0, 0, 0x01, frame(1, b"\xff\xff\xff\xff", rsv1=True))
    s["deflate_bad_utf8"] = (0, 0, 0x01, Deflater().message(1, b"ok \xc3\x28"))
    s["rsv1_without_deflate"] = (0, 0, 0, Deflater().message(1, b"not negotiated"))
    s["deflate_slow_reader"] = (0x10, 0x04, 0x81, b"".join(Deflater().message(2, b"q" * 200)
                                                          for _ in range(6)))
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    for name, (c0, c1, c2, body) in sorted(seeds().items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes([c0, c1, c2]) + body)


if __name__ == "__main__":
    main()
