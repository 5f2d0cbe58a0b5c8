"""ASGI app served by hypercorn for the HTTP/2 captures: GET returns a body
of the size named in the path (/bytes/N, frame-like binary), POST echoes
the body reversed. Run: hypercorn peers.h2_app:app"""
import random


def body_of(n, seed):
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        ln = rnd.randint(0, 125)
        out += bytes([rnd.choice([0x81, 0x82, 0x88])]) + bytes([ln]) + rnd.randbytes(ln)
    return bytes(out[:n])


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif m["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    data = b""
    while True:
        m = await receive()
        data += m.get("body", b"")
        if not m.get("more_body"):
            break
    path = scope["path"]
    if scope["method"] == "POST":
        body = data[::-1]
    elif path.startswith("/bytes/"):
        body = body_of(int(path.split("/")[2]), path)
    else:
        body = b"hello over HTTP/" + scope["http_version"].encode() + b"\n"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
