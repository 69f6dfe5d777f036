"""python_server.py - Python websockets echo (/echo) and broadcast
(/broadcast/*) server for bench/compare.sh.
usage: /usr/bin/python3 python_server.py PORT   (Debian's python3-websockets)
"""
import asyncio
import sys

import websockets

room = set()


async def handler(ws):
    if ws.path.startswith("/broadcast/"):
        room.add(ws)
        try:
            async for message in ws:
                websockets.broadcast([c for c in room if c is not ws], message)
        finally:
            room.discard(ws)
    else:
        async for message in ws:
            await ws.send(message)


async def main(port):
    async with websockets.serve(handler, "127.0.0.1", port, compression=None,
                                ping_interval=None, max_size=None,
                                max_queue=None, backlog=4096):
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
