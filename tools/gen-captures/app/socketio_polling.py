#!/usr/bin/env python3
"""Socket.IO protocol v5 over Engine.IO v4 (EIO=4) with PyPI python-socketio
5.18 / python-engineio 4.15 on both sides (aiohttp server and client), the
client limited to HTTP long-polling (transports=['polling']): no upgrade.
The client's write loop sends every queued packet in one POST, and the
server answers a waiting GET with every packet queued for it, so bodies
carry several packets; acks travel over polling both ways, and a binary
event's attachment rides the same POST body as base64 ('b' + base64).
Engine.IO's own logger ('Sending packet' / 'Received packet') is written as
JSON lines (t_ns, peer, ev, text) on stdout.

Usage: socketio_polling.py PORT   (requirements-polling.txt)
"""
import asyncio, json, sys, time

import socketio
from aiohttp import web

from eiolog import logger

PORT = int(sys.argv[1])


sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=2, ping_timeout=2,
                           engineio_logger=logger("server"))
app = web.Application()
sio.attach(app)


@sio.on("connect")
async def connect(sid, environ):
    # Two events queued at once: one GET response carries both.
    await sio.emit("welcome", {"to": sid}, to=sid)
    await sio.emit("news", {"n": 1}, to=sid)


@sio.on("hello")
async def hello(sid, data):
    await asyncio.sleep(0.015)
    return {"ok": True, "echo": data}


@sio.on("upload")
async def upload(sid, blob, meta):
    await asyncio.sleep(0.025)

    async def answered(*a):
        print(json.dumps({"t_ns": time.perf_counter_ns(), "peer": "server", "ev": "ack-received", "args": a}), flush=True)
    await sio.emit("question", {"q": "more?"}, to=sid, callback=answered)
    return {"bytes": len(blob), "name": meta["name"]}


async def main():
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PORT).start()

    client = socketio.AsyncClient(reconnection=False, engineio_logger=logger("client"))

    @client.on("question")
    async def question(q):
        await asyncio.sleep(0.020)
        return {"yes": True}

    await client.connect(f"http://127.0.0.1:{PORT}", transports=["polling"])
    await asyncio.sleep(0.3)
    # Three events emitted back to back: queued together, one POST.
    done = [asyncio.Event() for _ in range(3)]
    for i in range(3):
        await client.emit("hello", {"n": i}, callback=lambda *a, e=done[i]: e.set())
    for e in done:
        await e.wait()
    await client.emit("note", "no ack wanted")
    done = asyncio.Event()
    await client.emit("upload", (b"binary \x00\x01\x02 payload", {"name": "part1"}), callback=lambda *a: done.set())
    await done.wait()
    await asyncio.sleep(0.3)
    await client.disconnect()
    await asyncio.sleep(0.3)
    await runner.cleanup()


asyncio.run(main())
