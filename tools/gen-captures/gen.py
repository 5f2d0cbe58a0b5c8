#!/usr/bin/env python3
"""Records extra real captures for wsinspect's tests, with an independent
expectation of every message taken from the peers themselves.

Each scenario runs a python `websockets` server and client on loopback while
tcpdump records the port, and writes <name>.pcap plus <name>.expect.json:
the messages each side SENT (direction, opcode, length, sha256, fragment
count), in order, and the close code. wsinspect must report exactly these.

Usage (as root, with tcpdump and `pip install websockets`):
    python3 tools/gen-captures/gen.py OUTDIR
"""
import asyncio, hashlib, json, os, random, signal, subprocess, sys, time

import websockets
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory)


def digest(data):
    b = data.encode() if isinstance(data, str) else bytes(data)
    return {"opcode": "text" if isinstance(data, str) else "binary",
            "payload_len": len(b), "sha256": hashlib.sha256(b).hexdigest()}


def words(n, seed):
    rnd = random.Random(seed)
    vocab = ["websocket", "frame", "mask", "deflate", "ping", "pong", "close", "消息", "données", "😀"]
    out = []
    while sum(len(w) + 1 for w in out) < n:
        out.append(rnd.choice(vocab))
    return " ".join(out)


async def scenario_fragmented_deflate(port, sent):
    """Fragmented messages compressed across fragments (RSV1 on the first
    frame only), small windows, a 200 kB text, random binary, pings."""
    async def handler(ws):
        try:
            async for msg in ws:
                reply = msg if isinstance(msg, bytes) else msg.upper()
                sent["s2c"].append(digest(reply) | {"frames": 1})
                await ws.send(reply)
        except websockets.ConnectionClosed:
            pass  # the client closes with 4001

    server_ext = [ServerPerMessageDeflateFactory(server_max_window_bits=11, client_max_window_bits=9)]
    client_ext = [ClientPerMessageDeflateFactory(server_max_window_bits=11, client_max_window_bits=9)]
    async with websockets.serve(handler, "127.0.0.1", port, extensions=server_ext, max_size=None):
        async with websockets.connect(f"ws://127.0.0.1:{port}/frag", extensions=client_ext, max_size=None) as ws:
            rnd = random.Random(7)
            for i in range(6):
                if i % 2 == 0:
                    parts = [words(rnd.randint(10, 3000), i * 10 + k) for k in range(rnd.randint(2, 5))]
                    # websockets ends a fragmented send with an empty final
                    # continuation frame: one frame more than fragments.
                    sent["c2s"].append(digest("".join(parts)) | {"frames": len(parts) + 1})
                    await ws.send(parts)
                else:
                    parts = [rnd.randbytes(rnd.randint(1, 2000)) for _ in range(3)]
                    sent["c2s"].append(digest(b"".join(parts)) | {"frames": len(parts) + 1})
                    await ws.send(parts)
                await ws.recv()
                pong = await ws.ping(f"p{i}".encode())
                await pong
            big = words(200_000, 99)
            sent["c2s"].append(digest(big) | {"frames": 1})
            await ws.send(big)
            await ws.recv()
            await ws.close(4001, "custom goodbye")
    return {"close_code": 4001, "close_reason": "custom goodbye", "request_target": "/frag"}


async def scenario_server_push_no_compression(port, sent):
    """Server pushes first, many small messages, no extension, server closes 1001."""
    async def handler(ws):
        for i in range(50):
            m = json.dumps({"seq": i, "type": "tick", "value": i * i})
            sent["s2c"].append(digest(m) | {"frames": 1})
            await ws.send(m)
        b = bytes(range(256)) * 40
        sent["s2c"].append(digest(b) | {"frames": 1})
        await ws.send(b)
        await ws.close(1001, "bye")

    async with websockets.serve(handler, "127.0.0.1", port, compression=None):
        async with websockets.connect(f"ws://127.0.0.1:{port}/push?x=1", compression=None) as ws:
            async for _ in ws:
                pass
    return {"close_code": 1001, "close_reason": "bye", "request_target": "/push?x=1"}


async def scenario_keepalive(port, sent):
    """TCP keep-alive probes on an idle WebSocket: the client's socket has
    SO_KEEPALIVE with TCP_KEEPIDLE=1 s and TCP_KEEPINTVL=1 s, and nothing is
    sent for 3.5 s between two messages (no WebSocket pings), so the kernel
    probes the server (RFC 9293 §3.8.4) and the server's kernel ACKs. Probes
    repeat bytes the server has already acknowledged: they are keep-alives,
    not retransmissions."""
    import socket

    async def handler(ws):
        async for msg in ws:
            sent["s2c"].append(digest(msg) | {"frames": 1})
            await ws.send(msg)

    async with websockets.serve(handler, "127.0.0.1", port, compression=None, ping_interval=None):
        async with websockets.connect(f"ws://127.0.0.1:{port}/idle", compression=None,
                                      ping_interval=None) as ws:
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
            for text in ["before the pause", "after the pause"]:
                sent["c2s"].append(digest(text) | {"frames": 1})
                await ws.send(text)
                await ws.recv()
                if text.startswith("before"):
                    await asyncio.sleep(3.5)
            await ws.close(1000, "done")
    return {"close_code": 1000, "close_reason": "done", "request_target": "/idle"}


SCENARIOS = {
    "py_fragmented_deflate": scenario_fragmented_deflate,
    "py_server_push": scenario_server_push_no_compression,
    "py_keepalive": scenario_keepalive,
}


def tshark_tcp_analysis(pcap, port):
    """Wireshark's own count of keep-alive probes, their ACKs and
    retransmissions per direction (tcp.analysis.*), when tshark is
    installed: an expectation independent of wsinspect's TCP code."""
    import shutil
    if not shutil.which("tshark"):
        return None
    out = {}
    for d, flt in [("c2s", f"tcp.dstport == {port}"), ("s2c", f"tcp.srcport == {port}")]:
        for field in ["keep_alive", "keep_alive_ack", "retransmission"]:
            r = subprocess.run(["tshark", "-r", pcap, "-Y", f"{flt} && tcp.analysis.{field}"],
                               capture_output=True, text=True, check=True)
            out[f"{field}s_{d}"] = len(r.stdout.splitlines())
    v = subprocess.run(["tshark", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    out["counted_by"] = " ".join(v.split()[:3])  # "TShark (Wireshark) 4.0.17"
    return out


def record(name, fn, outdir, port):
    pcap = os.path.join(outdir, name + ".pcap")
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", pcap, f"tcp port {port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)  # tcpdump needs a moment before it captures
    sent = {"c2s": [], "s2c": []}
    extra = asyncio.run(fn(port, sent))
    time.sleep(2.0)  # let tcpdump write the last packets
    dump.send_signal(signal.SIGINT)
    dump.wait()
    expect = {"capture": name + ".pcap", "server_port": port, "messages": sent} | extra
    expect["generator"] = f"tools/gen-captures/gen.py, python websockets {websockets.__version__}"
    tcp = tshark_tcp_analysis(pcap, port)
    if tcp:
        expect["tcp"] = tcp
    with open(os.path.join(outdir, name + ".expect.json"), "w") as f:
        json.dump(expect, f, indent=1)
    print(name, {k: len(v) for k, v in sent.items()})


if __name__ == "__main__":
    # python3 gen.py OUTDIR [SCENARIO...]: all scenarios unless named.
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    only = set(sys.argv[2:])
    for i, (name, fn) in enumerate(SCENARIOS.items()):
        if not only or name in only:
            record(name, fn, out, 9300 + i)
