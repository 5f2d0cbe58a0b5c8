#!/usr/bin/env python3
"""Truth of socketio_h2 (Engine.IO long-polling over HTTP/2) from the
client's own log: every request in the order it started (the order of its
HTTP/2 stream, so of `http_exchanges`), with the Engine.IO records of the
body it sent (POST) or received (GET, status 200), decoded by protocols.py
as for the other Socket.IO captures; checked against the server's
Engine.IO log (every packet it logged sending or receiving is in a body).

Usage: h2_truth.py CAPTURE PEERLOG > TRUTH   (tshark names the client)
"""
import json, os, re, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protocols  # noqa: E402

peers = [json.loads(x) for x in open(sys.argv[2]) if x.startswith("{")]
syn = subprocess.run(["tshark", "-r", sys.argv[1], "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0",
                      "-T", "fields", "-e", "ip.src", "-e", "tcp.srcport"],
                     capture_output=True, text=True, check=True).stdout.split()
client = f"{syn[0]}:{syn[1]}"
exchanges, started = [], []
for e in peers:
    if e.get("peer") != "client":
        continue
    if e["ev"] in ("get", "post"):
        x = {"method": e["ev"].upper(), "target": e["url"].split("://", 1)[1].split("/", 1)[1]}
        x["target"] = "/" + x["target"]
        if e["ev"] == "post":
            x["_body"] = e["body"]
        exchanges.append(x)
        started.append(x)
    elif e["ev"] == "got":
        x = next(x for x in started if x["method"] == "GET" and "_body" not in x and e["url"].endswith(x["target"]))
        x["status"] = e["status"]
        x["_body"] = e["body"] if e["status"] == 200 else None
    elif e["ev"] == "posted":
        x = next(x for x in started if x["method"] == "POST" and "status" not in x)
        x["status"] = e["status"]
sent = {"c2s": 0, "s2c": 0}
for x in exchanges:
    body = x.pop("_body", None)
    if body is None:
        continue
    recs = []
    for kind, part in protocols.eio_payload(body.encode(), 4):
        recs.append(protocols.eio_record(part[0], part[1:], 4))
    x["request_app" if x["method"] == "POST" else "response_app"] = recs
    sent["c2s" if x["method"] == "POST" else "s2c"] += len(recs)
# The server logged every packet it sent and received.
logged = {"c2s": 0, "s2c": 0}
for e in peers:
    if e.get("peer") == "server" and e.get("ev") == "log":
        if re.search(r"Sending packet \w+", e["text"]):
            logged["s2c"] += 1
        elif re.search(r"Received packet \w+", e["text"]):
            logged["c2s"] += 1
print(json.dumps({
    "capture": "socketio_h2.pcap",
    "generator": "PyPI python-socketio 5.18.1 (ASGI) under hypercorn 0.18; client httpx 0.29 + h2 4 (HTTP/2 prior knowledge) speaking Engine.IO v4 polling; python 3.11; tools/gen-captures/app/socketio_h2.py",
    "notes": ("Engine.IO v4 long-polling over cleartext HTTP/2 on ONE connection: the handshake GET, POST '40', the GET with the CONNECT answer, then "
              "a GET waiting on one stream while a POST of two EVENTs with ack ids goes on the next (the acks come back together in the waiting GET's "
              "response, 15 ms later), then POST '41' + close. http_exchanges are in the order the streams were opened."),
    "connections": [{"client": client, "app_protocol": "socket.io", "http_exchanges": exchanges}],
    "verification": {"packets_in_bodies": sent, "server_logged": logged, "agree": sent == logged},
}, indent=1))
