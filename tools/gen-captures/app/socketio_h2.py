#!/usr/bin/env python3
"""Engine.IO v4 long-polling over cleartext HTTP/2 (prior knowledge): the
server is PyPI python-socketio 5.18 (ASGI) under hypercorn 0.18; the client
is httpx 0.29 with h2 (HTTP/2 only) speaking Engine.IO polling itself, as a
browser's Socket.IO client does over h2: the handshake GET, POST '40', a GET
waiting on one stream while a POST of two EVENTs with acks goes on another
(the acks come back in that GET's response), then a POST of DISCONNECT and
close. Every body each side sent and received is logged as JSON lines
(t_ns, peer, ev, ...) on stdout: the client's bodies exactly, the server's
packets through Engine.IO's own logger. `get`/`post` are logged as each
request starts (the order of the HTTP/2 streams), `got`/`posted` as it
ends.

Usage: socketio_h2.py PORT   (requirements-polling.txt + hypercorn, httpx[http2])
"""
import asyncio, json, logging, sys, time

import httpx
import socketio
from hypercorn.asyncio import serve
from hypercorn.config import Config

PORT = int(sys.argv[1])


def log(**kw):
    print(json.dumps({"t_ns": time.perf_counter_ns(), **kw}), flush=True)


class JsonLines(logging.Handler):
    def emit(self, record):
        log(peer="server", ev="log", text=record.getMessage())


lg = logging.getLogger("eio.server")
lg.setLevel(logging.INFO)
lg.propagate = False
lg.addHandler(JsonLines())

sio = socketio.AsyncServer(async_mode="asgi", ping_interval=5, ping_timeout=5, engineio_logger=lg)
app = socketio.ASGIApp(sio)


@sio.on("hello")
async def hello(sid, data):
    await asyncio.sleep(0.015)
    return {"ok": True, "n": data["n"]}


async def client():
    base = f"http://127.0.0.1:{PORT}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient(http1=False, http2=True) as c:
        async def get(url):
            log(peer="client", ev="get", url=url)
            r = await c.get(url)
            log(peer="client", ev="got", url=url, status=r.status_code, http=r.http_version, body=r.text)
            return r.text

        async def post(url, body):
            log(peer="client", ev="post", url=url, body=body)
            r = await c.post(url, content=body.encode(), headers={"content-type": "text/plain;charset=UTF-8"})
            log(peer="client", ev="posted", status=r.status_code, http=r.http_version, body=r.text)

        opened = await get(base)
        sid = json.loads(opened[1:])["sid"]
        url = f"{base}&sid={sid}"
        await post(url, "40")
        await get(url)
        waiting = asyncio.create_task(get(url))
        await asyncio.sleep(0.05)
        await post(url, '421["hello",{"n":1}]\x1e422["hello",{"n":2}]')
        await waiting
        await post(url, "41\x1e1")


async def main():
    cfg = Config()
    cfg.bind = [f"127.0.0.1:{PORT}"]
    stop = asyncio.Event()
    srv = asyncio.create_task(serve(app, cfg, shutdown_trigger=stop.wait))
    await asyncio.sleep(0.5)
    await client()
    await asyncio.sleep(0.2)
    stop.set()
    await srv


asyncio.run(main())
