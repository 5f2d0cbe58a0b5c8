"""Real python websockets server over TLS (self-signed), echoing every
message; used behind tinyproxy (CONNECT) by gen_connect.sh."""
import asyncio, ssl, sys
from websockets.asyncio.server import serve

async def echo(ws):
    async for m in ws:
        await ws.send(m)

async def main(port, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    async with serve(echo, "127.0.0.1", port, ssl=ctx):
        await asyncio.sleep(8)

asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
