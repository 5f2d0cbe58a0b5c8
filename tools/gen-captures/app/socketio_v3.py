#!/usr/bin/env python3
"""Socket.IO protocol v4 over Engine.IO v3 (EIO=3) with PyPI python-socketio
4.6 / python-engineio 3.14 on both sides (aiohttp server and client): HTTP
long-polling first, then the upgrade to websocket. Engine.IO's own logger
('Sending packet' / 'Received packet') is written as JSON lines (t_ns, peer,
ev, text) on stdout.

Usage: socketio_v3.py PORT   (requirements-eio3.txt)
"""
import asyncio, json, sys, time

import socketio
from aiohttp import web

from eiolog import logger

PORT = int(sys.argv[1])

# python-socketio 4.6 passes coroutines to asyncio.wait(), which Python 3.11
# refuses; wrapping them in tasks is all it needs (no packet changes).
_wait = asyncio.wait


async def _wait_compat(fs, *a, **k):
    return await _wait([asyncio.ensure_future(f) for f in fs], *a, **k)


asyncio.wait = _wait_compat


sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=1, ping_timeout=2,
                           engineio_logger=logger("server"))
app = web.Application()
sio.attach(app)


@sio.on("hello")
async def hello(sid, data):
    await asyncio.sleep(0.015)
    return {"ok": True, "echo": data}


@sio.on("upload")
async def upload(sid, blob, meta):
    await asyncio.sleep(0.025)
    return {"bytes": len(blob), "name": meta["name"]}


@sio.on("msg", namespace="/chat")
async def chat_msg(sid, m):
    await asyncio.sleep(0.010)

    async def answered(*a):
        print(json.dumps({"t_ns": time.perf_counter_ns(), "peer": "server", "ev": "ack-received", "args": a}), flush=True)
    await sio.emit("question", {"q": "still there?", "n": m["id"]}, room=sid, namespace="/chat", callback=answered)
    return {"delivered": True, "id": m["id"]}


@sio.on("connect", namespace="/admin")
async def admin_connect(sid, environ):
    await asyncio.sleep(0.008)
    return False  # refused: the client gets an ERROR packet for /admin


async def main():
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PORT).start()

    client = socketio.AsyncClient(reconnection=False, engineio_logger=logger("client"))

    @client.on("question", namespace="/chat")
    async def question(q):
        await asyncio.sleep(0.020)
        return {"yes": True, "n": q["n"]}

    await client.connect(f"http://127.0.0.1:{PORT}", namespaces=["/", "/chat", "/admin"])
    await asyncio.sleep(1.5)  # upgrade, then the client's pings (every 1 s) and the server's pongs
    for i in range(1, 3):
        done = asyncio.Event()
        await client.emit("hello", {"n": i}, callback=lambda *a: done.set())
        await done.wait()
    done = asyncio.Event()
    await client.emit("upload", (b"binary \x00\x01\x02 payload", {"name": "part1"}), callback=lambda *a: done.set())
    await done.wait()
    for i in range(1, 3):
        done = asyncio.Event()
        await client.emit("msg", {"id": i}, namespace="/chat", callback=lambda *a: done.set())
        await done.wait()
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.2)
    await client.disconnect()
    await asyncio.sleep(0.3)
    await runner.cleanup()


asyncio.run(main())
