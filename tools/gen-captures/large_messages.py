#!/usr/bin/env python3
"""Records captures/view/large_messages.pcap: one python `websockets` connection
with permessage-deflate (both peers' defaults) carrying a 200 kB JSON text
message (client → server) and a 1 MiB binary message (server → client),
for the view's whole-payload tests (issue 22: the detail pane shows every
byte, `s` saves them byte-exact). Both compress well, so the capture stays
small while the decoded payloads are large. Real peers on loopback, recorded
with tcpdump; the truth file holds what each peer sent (length, SHA-256).

Usage (as root, with tcpdump and `pip install websockets`):
    python3 tools/gen-captures/large_messages.py captures/view
"""
import asyncio, hashlib, json, os, random, signal, subprocess, sys, time

import websockets

PORT = 9517


def text_message():
    rnd = random.Random(22)
    rows = [{"id": i, "user": rnd.choice(["alice", "bob", "carol"]),
             "price": round(rnd.uniform(10, 11), 2), "note": "row %d of the large message" % i}
            for i in range(2600)]
    return json.dumps({"type": "snapshot", "rows": rows}, indent=1)


def binary_message():
    return bytes((i * 7 + (i >> 10)) & 0xFF for i in range(1 << 20))


async def main(sent):
    async def handler(ws):
        msg = await ws.recv()
        sent["c2s"] = msg
        b = binary_message()
        sent["s2c"] = b
        await ws.send(b)
        try:
            await ws.recv()
        except websockets.ConnectionClosed:
            pass

    async with websockets.serve(handler, "127.0.0.1", PORT, max_size=None):
        async with websockets.connect(f"ws://127.0.0.1:{PORT}/large", max_size=None) as ws:
            await ws.send(text_message())
            await ws.recv()
            await ws.close(1000, "done")


def entry(data):
    b = data.encode() if isinstance(data, str) else data
    return {"opcode": "text" if isinstance(data, str) else "binary",
            "payload_len": len(b), "sha256": hashlib.sha256(b).hexdigest()}


if __name__ == "__main__":
    out = sys.argv[1]
    pcap = os.path.join(out, "large_messages.pcap")
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "0", "-U", "-w", pcap,
                             f"tcp port {PORT}"], stderr=subprocess.DEVNULL)
    time.sleep(1)
    sent = {}
    asyncio.run(main(sent))
    time.sleep(1)
    dump.send_signal(signal.SIGINT)
    dump.wait()
    with open(os.path.join(out, "large_messages.sent.json"), "w") as f:
        json.dump({"c2s": [entry(sent["c2s"])], "s2c": [entry(sent["s2c"])]}, f, indent=1)
        f.write("\n")
