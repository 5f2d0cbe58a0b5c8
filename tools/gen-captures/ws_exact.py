#!/usr/bin/env python3
"""Records the captures of tests/ws_exact.rs: permessage-deflate picked up
mid-stream (LZ77 history before the capture), loss inside a compressed
connection, and a peer that ignores a ping. Real peers only: python
`websockets` on both sides, and node `ws` with `autoPong: false` as the peer
that does not answer. Every peer logs what it sent; the truth file holds it.

Writes into OUTDIR (captures/ws_exact/):
  takeover.pcap            whole connection, context takeover, c2s window
                           2^10, s2c window 2^15, 300 similar JSON texts
                           each way; message 150 carries 40 kB of fresh
                           random text (more than a window), so the history
                           becomes whole again after a cut
  takeover_midstream.pcap  the same without its first packets (editcap)
  takeover_loss.pcap       the same without three data packets mid-way
  no_takeover_midstream.pcap  client/server_no_context_takeover, cut too
  ignored_ping.pcap        node ws server (autoPong false) never answers
                           the client's ping; python client answers the
                           server's ping; close handshake after both
  <name>.truth.json        what each peer sent, in order

Usage (as root, with tcpdump, editcap, `pip install websockets`, and
`npm install ws` in NODE_DIR):
    python3 tools/gen-captures/ws_exact.py captures/ws_exact NODE_DIR
"""
import asyncio, base64, hashlib, json, os, random, signal, subprocess, sys, time

import websockets
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory)

NAMES = ["alice", "bob", "carol", "dave", "erin"]
WORDS = ["price", "update", "order", "filled", "cancel", "book", "depth", "trade", "ticker", "消息"]


def entry(data, frames=1):
    b = data.encode() if isinstance(data, str) else bytes(data)
    return {"opcode": "text" if isinstance(data, str) else "binary", "payload_len": len(b),
            "sha256": hashlib.sha256(b).hexdigest(), "frames": frames}


def chat(rnd, i):
    """Similar JSON messages: most bytes repeat earlier messages, so
    back-references across messages are common."""
    return json.dumps({"seq": i, "user": rnd.choice(NAMES), "channel": "market-data",
                       "event": " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 12))),
                       "price": round(rnd.uniform(10, 11), 4), "qty": rnd.randint(1, 500)})


async def deflate_chat(port, sent, n, server_ext, client_ext, burst=()):
    async def handler(ws):
        rnd = random.Random(2)
        try:
            async for msg in ws:
                reply = json.dumps({"ack": json.loads(msg)["seq"], "echo": msg, "server": chat(rnd, 0)})
                sent["s2c"].append(entry(reply))
                await ws.send(reply)
        except websockets.ConnectionClosed:
            pass

    async with websockets.serve(handler, "127.0.0.1", port, extensions=server_ext):
        async with websockets.connect(f"ws://127.0.0.1:{port}/feed", extensions=client_ext) as ws:
            rnd = random.Random(1)
            for i in range(n):
                m = chat(rnd, i)
                if i in burst:
                    # Fresh, barely compressible text: once 2^window_bits
                    # bytes of it passed, no later copy can reach history
                    # older than it.
                    m = json.dumps({"seq": i, "blob": base64.b64encode(rnd.randbytes(30000)).decode()})
                sent["c2s"].append(entry(m))
                await ws.send(m)
                await ws.recv()
            await ws.close(1000, "done")
    return {"close_code": 1000}


async def scenario_takeover(port, sent):
    ext_s = [ServerPerMessageDeflateFactory(server_max_window_bits=15, client_max_window_bits=10)]
    ext_c = [ClientPerMessageDeflateFactory(server_max_window_bits=15, client_max_window_bits=10)]
    burst = (150,)
    out = await deflate_chat(port, sent, 300, ext_s, ext_c, burst)
    return out | {"window_bits": {"c2s": 10, "s2c": 15}, "context_takeover": True,
                  "fresh_text_messages": list(burst)}


async def scenario_no_takeover(port, sent):
    ext_s = [ServerPerMessageDeflateFactory(server_no_context_takeover=True, client_no_context_takeover=True)]
    ext_c = [ClientPerMessageDeflateFactory(server_no_context_takeover=True, client_no_context_takeover=True)]
    out = await deflate_chat(port, sent, 60, ext_s, ext_c)
    return out | {"window_bits": {"c2s": 15, "s2c": 15}, "context_takeover": False}


NODE_SERVER = r"""
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ port: +process.argv[2], host: '127.0.0.1', autoPong: false,
                                  perMessageDeflate: false });
const log = [];
wss.on('connection', (ws) => {
  ws.on('ping', (d) => log.push({ got_ping: d.toString() }));
  ws.on('message', (data, isBinary) => {
    const reply = 'echo:' + data.toString();
    log.push({ dir: 's2c', text: reply });
    ws.send(reply);
    if (data.toString() === 'two') { log.push({ dir: 's2c', ping: 'srv' }); ws.ping('srv'); }
  });
  ws.on('close', () => { console.log(JSON.stringify(log)); process.exit(0); });
});
wss.on('listening', () => console.log('ready'));
"""


async def scenario_ignored_ping(port, sent, node_dir):
    script = os.path.join(node_dir, "ignore_ping_server.js")
    with open(script, "w") as f:
        f.write(NODE_SERVER)
    node = subprocess.Popen(["node", script, str(port)], stdout=subprocess.PIPE, text=True, cwd=node_dir)
    try:
        return await asyncio.wait_for(ignored_ping_client(port, sent, node), 30)
    finally:
        node.kill()


async def ignored_ping_client(port, sent, node):
    assert node.stdout.readline().strip() == "ready"
    pings = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/chat", compression=None,
                                  ping_interval=None) as ws:
        for i, m in enumerate(["one", "two", "three", "four"]):
            sent["c2s"].append(entry(m))
            await ws.send(m)
            await ws.recv()
            if i == 0:
                # The server reads on (it echoes the next messages) but
                # never answers this ping.
                pings.append({"dir": "c2s", "payload": "cli", "answered": False})
                await ws.ping(b"cli")  # the pong waiter is never awaited
        await asyncio.sleep(0.2)
        await ws.close(1000, "bye")
    log = json.loads(node.stdout.readline())
    node.wait()
    for e in log:
        if e.get("dir") == "s2c" and "text" in e:
            sent["s2c"].append(entry(e["text"]))
        elif e.get("ping"):
            pings.append({"dir": "s2c", "payload": e["ping"], "answered": True})
    assert any("got_ping" in e for e in log), "the server never saw the ping"
    return {"close_code": 1000, "pings": pings, "node_log": log,
            "violations": [{"kind": "unanswered_ping", "dir": "s2c"}]}


def record(name, fn, outdir, port):
    pcap = os.path.join(outdir, name + ".pcap")
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", pcap, f"tcp port {port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)
    sent = {"c2s": [], "s2c": []}
    extra = asyncio.run(fn(port, sent))
    time.sleep(2.0)
    dump.send_signal(signal.SIGINT)
    dump.wait()
    truth = {"capture": name + ".pcap", "server_port": port, "messages": sent} | extra
    truth["generator"] = f"tools/gen-captures/ws_exact.py, python websockets {websockets.__version__}"
    write_truth(outdir, name, truth)
    return truth


def write_truth(outdir, name, truth):
    with open(os.path.join(outdir, name + ".truth.json"), "w") as f:
        # One message a line: small, and diffs stay readable.
        f.write(json.dumps(truth).replace('}, {', '},\n {') + "\n")
    print(name, {k: len(v) for k, v in truth["messages"].items()})


def packets(pcap):
    out = subprocess.run(["capinfos", "-c", "-M", pcap], capture_output=True, text=True).stdout
    return int(out.split("Number of packets:")[1].split()[0])


def derive(outdir, src, name, keep, note, truth):
    """A copy of `src` holding only the packets in editcap range `keep`."""
    subprocess.run(["editcap", "-F", "pcap", "-r", os.path.join(outdir, src + ".pcap"),
                    os.path.join(outdir, name + ".pcap")] + keep, check=True)
    derived = {k: v for k, v in truth.items() if k != "messages"}
    derived |= {"capture": name + ".pcap", "derived_from": src + ".pcap",
                "messages_in": src + ".truth.json", "editcap_keep": keep, "note": note}
    with open(os.path.join(outdir, name + ".truth.json"), "w") as f:
        json.dump(derived, f, indent=1)


if __name__ == "__main__":
    out, node_dir = sys.argv[1], os.path.abspath(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    t = record("takeover", scenario_takeover, out, 9411)
    n = packets(os.path.join(out, "takeover.pcap"))
    derive(out, "takeover", "takeover_midstream", [f"{n // 4}-{n}"],
           f"packets 1-{n // 4 - 1} (handshake and the first messages) removed", t)
    mid = n // 3
    derive(out, "takeover", "takeover_loss", [f"1-{mid - 1}", f"{mid + 3}-{n}"],
           f"packets {mid}-{mid + 2} removed (loss inside the compressed stream)", t)
    t = record("no_takeover", scenario_no_takeover, out, 9412)
    n = packets(os.path.join(out, "no_takeover.pcap"))
    derive(out, "no_takeover", "no_takeover_midstream", [f"{n // 3}-{n}"],
           f"packets 1-{n // 3 - 1} (handshake and the first messages) removed", t)
    record("ignored_ping", lambda p, s: scenario_ignored_ping(p, s, node_dir), out, 9413)
