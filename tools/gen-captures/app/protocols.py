"""Per-protocol decoders for annotate.py: each sets `app_protocol` on the
connections and an `app` record on every message, from the captured
payloads, and compares them with the peers' logs. `_key` marks a request
(the key its answer carries), `_answers_key` an answer; annotate.pair()
turns them into `answers` and `latency_ms`."""
import json
from urllib.parse import parse_qs, urlsplit

SPECS = {}

# ---------------------------------------------------------------- Socket.IO

EIO_TYPES = {"0": "open", "1": "close", "2": "ping", "3": "pong", "4": "message", "5": "upgrade", "6": "noop"}
SIO_TYPES = {"0": "CONNECT", "1": "DISCONNECT", "2": "EVENT", "3": "ACK", "4": "CONNECT_ERROR",
             "5": "BINARY_EVENT", "6": "BINARY_ACK"}


def sio_packet(data):
    """Socket.IO v5 packet (the data of an Engine.IO `message`):
    type [attachments '-'] [namespace ','] [ack id] [JSON]."""
    rec = {"kind": SIO_TYPES[data[0]]}
    p = 1
    if rec["kind"] in ("BINARY_EVENT", "BINARY_ACK"):
        dash = data.index("-", p)
        rec["attachments"] = int(data[p:dash])
        p = dash + 1
    ns = "/"
    if p < len(data) and data[p] == "/":
        comma = data.find(",", p)
        ns = data[p:comma] if comma >= 0 else data[p:]
        p = comma + 1 if comma >= 0 else len(data)
    rec["namespace"] = ns
    q = p
    while q < len(data) and data[q].isdigit():
        q += 1
    rec["id"] = int(data[p:q]) if q > p else None
    body = json.loads(data[q:]) if q < len(data) else None
    rec["name"] = None
    if rec["kind"] in ("EVENT", "BINARY_EVENT") and isinstance(body, list) and body:
        rec["name"] = body[0]
    if rec["kind"] == "CONNECT_ERROR":
        rec["error"] = body.get("message") if isinstance(body, dict) else body
    return rec


def eio_record(typ, data):
    rec = {"protocol": "socket.io", "engineio": EIO_TYPES[typ]}
    if typ == "4":
        rec.update(sio_packet(data))
    elif typ == "0":
        rec.update({"kind": "open", "name": None, "id": None, "sid": json.loads(data)["sid"]})
    else:
        rec.update({"kind": EIO_TYPES[typ], "name": data or None, "id": None})
    return rec


def sio_keys(rec, direction):
    """Request/answer keys: an ack id per namespace, CONNECT per namespace,
    ping → pong (heartbeat or the upgrade probe)."""
    k = rec["kind"]
    if k in ("EVENT", "BINARY_EVENT") and rec["id"] is not None:
        rec["_key"] = ("ack", rec["namespace"], rec["id"])
    elif k in ("ACK", "BINARY_ACK"):
        rec["_answers_key"] = ("ack", rec["namespace"], rec["id"])
    elif k == "CONNECT" and direction == "c2s":
        rec["_key"] = ("connect", rec["namespace"])
    elif k in ("CONNECT", "CONNECT_ERROR") and direction == "s2c":
        rec["_answers_key"] = ("connect", rec["namespace"])
    elif k == "ping":
        rec["_key"] = ("ping", rec["name"])
    elif k == "pong":
        rec["_answers_key"] = ("ping", rec["name"])


def socketio_decode(t, times, peers):
    captured = {}  # sid -> dir -> [(packet no, type, data)]
    sid_of_ws = {}
    for ci, c in enumerate(t["connections"]):
        target = c["handshake"].get("request_target") or ""
        q = parse_qs(urlsplit(target).query)
        if c["is_websocket"]:
            c["app_protocol"] = "socket.io"
            pending = {"c2s": None, "s2c": None}
            sid = q.get("sid", [None])[0]
            for i, m in enumerate(c["messages"]):
                d = m["dir"]
                if m["opcode"] == "binary":
                    owner = pending[d]
                    rec = {"protocol": "socket.io", "engineio": "message", "kind": "attachment",
                           "name": None, "id": None, "attachment_of": owner["index"],
                           "attachment_index": owner["next"]}
                    owner["next"] += 1
                    if owner["next"] == owner["count"]:
                        pending[d] = None
                    m["app"] = rec
                    entry = ("message", {"binary": m["_payload"].hex()})
                else:
                    txt = m["_payload"].decode()
                    rec = eio_record(txt[0], txt[1:])
                    sio_keys(rec, d)
                    if rec.get("attachments"):
                        pending[d] = {"index": i, "count": rec["attachments"], "next": 0}
                    if rec["kind"] == "open":
                        sid = json.loads(txt[1:])["sid"]
                    m["app"] = rec
                    entry = (rec["engineio"], txt[1:] or None)
                sid_of_ws[ci] = sid
                captured.setdefault(sid, {"c2s": [], "s2c": []})[d].append((m["last_packet"], *entry))
        for ex in c.get("http_exchanges", []):
            eq = parse_qs(urlsplit(ex["target"]).query)
            if eq.get("transport") != ["polling"]:
                continue
            c["app_protocol"] = "socket.io"
            sid = eq.get("sid", [None])[0]
            for side, body, pkt in (("request", ex["_request_body"], ex["_request_last_packet"]),
                                    ("response", ex["_response_body"], ex["_response_last_packet"])):
                recs = []
                if (side == "request") != (ex["method"] == "POST"):
                    continue  # a GET carries its packets in the response; a POST's response is "ok"
                for part in body.decode().split("\x1e") if body else []:
                    rec = eio_record(part[0], part[1:])
                    recs.append(rec)
                    if rec["kind"] == "open":
                        sid = json.loads(part[1:])["sid"]
                    d = "c2s" if side == "request" else "s2c"
                    captured.setdefault(sid, {"c2s": [], "s2c": []})[d].append((pkt, rec["engineio"], part[1:] or None))
                ex[f"{side}_app"] = recs
    # Peer logs: per engine session, what each side sent.
    logged = {}
    for e in peers:
        if e.get("ev") != "send":
            continue
        d = "s2c" if e["peer"] == "server" else "c2s"
        logged.setdefault(e["sid"], {"c2s": [], "s2c": []})[d].append((e["type"], e.get("data")))
    result = {"sessions": []}
    for sid, dirs in captured.items():
        row = {"sid": sid}
        for d in ("c2s", "s2c"):
            cap = [(ty, da) for _pkt, ty, da in sorted(dirs[d], key=lambda x: x[0])]
            log = list(logged.get(sid, {}).get(d, []))
            unlogged = [x for x in cap if x not in log]
            missing = [x for x in log if x not in cap]
            row[d] = {"captured": len(cap), "logged": len(log), "captured_not_logged": unlogged,
                      "logged_not_captured": missing,
                      "same_order": [x for x in cap if x in log] == [x for x in log if x in cap]}
        result["sessions"].append(row)
    return result


SPECS["socketio"] = {
    "decode": socketio_decode,
    "decode_as": ["tcp.port==9101,http"],
    "generator": "npm socket.io 4.8 server + socket.io-client 4.8 (Engine.IO v4, Socket.IO protocol v5), node 20, tools/gen-captures/app/socketio_v4.js",
    "notes": ("Two Engine.IO v4 sessions (server pingInterval 400 ms). Session 1 (client A, namespace /) starts with HTTP long-polling: "
              "each polling request is its own TCP connection (no keep-alive), so the session spans 3 plain-HTTP connections plus the websocket one; "
              "their Engine.IO packets are in http_exchanges[].request_app (POST bodies) / response_app (GET bodies; a POST's response body is the text 'ok', not a packet). "
              "One GET response carries two packets separated by 0x1e (CONNECT answer + the server's 'welcome' EVENT). "
              "The websocket connection of session 1 (request target has sid=) begins with the upgrade probe '2probe' / '3probe' and '5' (upgrade): no open packet there. "
              "Session 2 (client B) is websocket-only (request target without sid): the open packet is the first s2c message. "
              "Socket.IO over Engine.IO: one Engine.IO packet per WebSocket message; text '4' + Socket.IO packet (type digit, [attachments '-'], [namespace ','], [ack id], JSON). "
              "BINARY_EVENT '451-[...]' is followed by its attachment as a separate binary WebSocket message with no type byte (Engine.IO v4); app.kind 'attachment' with attachment_of = index of its BINARY_EVENT. "
              "Ack ids are per namespace and per direction: in /chat the client's EVENT 'msg' id 0 and the server's EVENT 'question' id 0 coexist; an ACK answers the EVENT with its id sent the other way. "
              "EIO4: the server sends ping, the client answers pong (the reverse of EIO3). CONNECT to /admin is refused by a middleware: CONNECT_ERROR {message:'not authorized'} (app.error). "
              "latency_ms = capture time of the answer's last_packet minus the request's last_packet; the server delays its acks by 15 ms (hello), 25 ms (upload), 10 ms (msg), 8 ms (/admin refusal); the client acks 'question' after 20 ms. "
              "ACK records carry no event name (the protocol does not send it): name is null."),
}
