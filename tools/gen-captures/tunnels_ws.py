#!/usr/bin/env python3
"""One side of a real WebSocket exchange for tools/gen-captures/tunnels.sh.

    tunnels_ws.py server HOST PORT LOG
    tunnels_ws.py client HOST PORT LOG LABEL [LOCAL_PORT]

The server echoes every message (text upper-cased); the client sends three
text messages naming LABEL and one binary message, then closes with 1000.
Each side appends to LOG (JSON lines) what it SENT: direction, opcode,
length, sha256 and the text, so the test compares wsinspect's report with
the peers' own account, not with wsinspect's.
"""
import asyncio, hashlib, json, sys

import websockets


def record(log, direction, data):
    b = data.encode() if isinstance(data, str) else bytes(data)
    entry = {"dir": direction, "opcode": "text" if isinstance(data, str) else "binary",
             "payload_len": len(b), "sha256": hashlib.sha256(b).hexdigest()}
    if isinstance(data, str):
        entry["text"] = data
    with open(log, "a") as f:
        f.write(json.dumps(entry) + "\n")


async def server(host, port, log):
    done = asyncio.Event()

    async def handler(ws):
        try:
            async for msg in ws:
                reply = msg.upper() if isinstance(msg, str) else msg
                record(log, "s2c", reply)
                await ws.send(reply)
        except websockets.ConnectionClosed:
            pass
        done.set()

    async with websockets.serve(handler, host, port, compression=None):
        await asyncio.wait_for(done.wait(), 60)
        await asyncio.sleep(0.5)


async def client(host, port, log, label, local_port):
    any_addr = "::" if ":" in host else "0.0.0.0"
    kw = {"local_addr": (any_addr, int(local_port))} if local_port else {}
    uri = f"ws://{host}:{port}/tunnel" if ":" not in host else f"ws://[{host}]:{port}/tunnel"
    async with websockets.connect(uri, compression=None, **kw) as ws:
        msgs = [f"hello over {label}", f"second message over {label}",
                bytes(range(256)) + label.encode(), f"bye from {label}"]
        for m in msgs:
            record(log, "c2s", m)
            await ws.send(m)
            await ws.recv()
        await ws.close(1000, "done")


def main():
    role, host, port, log = sys.argv[1:5]
    if role == "server":
        asyncio.run(server(host, int(port), log))
    else:
        asyncio.run(client(host, int(port), log, sys.argv[5], sys.argv[6] if len(sys.argv) > 6 else None))


if __name__ == "__main__":
    main()
