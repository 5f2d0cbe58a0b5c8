"""Per-protocol decoders for annotate.py: each sets `app_protocol` on the
connections and an `app` record on every message, from the captured
payloads, and compares them with the peers' logs. `_key` marks a request
(the key its answer carries), `_answers_key` an answer; annotate.pair()
turns them into `answers` and `latency_ms`."""
import base64, json
from urllib.parse import parse_qs, urlsplit

SPECS = {}

# ---------------------------------------------------------------- Socket.IO

EIO_TYPES = {"0": "open", "1": "close", "2": "ping", "3": "pong", "4": "message", "5": "upgrade", "6": "noop"}
SIO_TYPES = {"0": "CONNECT", "1": "DISCONNECT", "2": "EVENT", "3": "ACK", "4": "CONNECT_ERROR",
             "5": "BINARY_EVENT", "6": "BINARY_ACK"}


def sio_packet(data, eio):
    """Socket.IO packet (the data of an Engine.IO `message`): type
    [attachments '-'] [namespace ','] [ack id] [JSON]. Over Engine.IO 4 it is
    protocol v5 (type 4 CONNECT_ERROR), over Engine.IO 3 protocol v4 (type 4
    ERROR)."""
    rec = {"kind": SIO_TYPES[data[0]] if (eio == 4 or data[0] != "4") else "ERROR"}
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
    if rec["kind"] == "ERROR":  # v4: the payload is optional; without it the refusal is the type itself
        rec["error"] = body if body is not None else "ERROR"
    return rec


def eio_record(typ, data, eio):
    rec = {"protocol": "socket.io", "engineio": EIO_TYPES[typ]}
    if typ == "4":
        rec.update(sio_packet(data, eio))
    elif typ == "0":
        rec.update({"kind": "open", "name": None, "id": None, "sid": json.loads(data)["sid"]})
    else:
        rec.update({"kind": EIO_TYPES[typ], "name": data or None, "id": None})
    return rec


def sio_keys(rec, direction, eio):
    """Request/answer keys: an ack id per namespace, CONNECT per namespace,
    ping → pong (heartbeat or the upgrade probe; the server pings in EIO 4,
    the client in EIO 3)."""
    k = rec["kind"]
    if k in ("EVENT", "BINARY_EVENT") and rec["id"] is not None:
        rec["_key"] = ("ack", rec["namespace"], rec["id"])
    elif k in ("ACK", "BINARY_ACK"):
        rec["_answers_key"] = ("ack", rec["namespace"], rec["id"])
    elif k == "CONNECT" and direction == "c2s":
        rec["_key"] = ("connect", rec["namespace"])
    elif k in ("CONNECT", "CONNECT_ERROR", "ERROR") and direction == "s2c":
        if not (eio == 3 and k == "CONNECT" and rec["namespace"] == "/"):
            # (protocol v4 connects "/" without a request from the client)
            rec["_answers_key"] = ("connect", rec["namespace"])
    elif k == "ping":
        rec["_key"] = ("ping", rec["name"])
    elif k == "pong":
        rec["_answers_key"] = ("ping", rec["name"])


def eio_payload(body, eio):
    """Engine.IO packets of a long-polling body: v4 separates them with 0x1e;
    v3 frames each one, either as text '<length>:<packet>' (length in
    characters) or, for XHR2 clients, as binary: a byte 0 (string) or 1
    (binary), the length as one byte per decimal digit, 0xFF, the packet."""
    if not body:
        return []
    if eio == 4:  # a binary packet is 'b' + base64
        return [("binary", base64.b64decode(x[1:])) if x.startswith("b") else ("text", x)
                for x in body.decode().split("\x1e")]
    out, p = [], 0
    if body[0] in (0, 1):
        while p < len(body):
            kind = body[p]
            p += 1
            n = 0
            while body[p] != 0xFF:
                n = n * 10 + body[p]
                p += 1
            p += 1
            chunk = body[p:p + n]
            p += n
            out.append(("text", chunk.decode()) if kind == 0 else ("binary", chunk))
        return out
    txt = body.decode()
    while p < len(txt):
        colon = txt.index(":", p)
        n = int(txt[p:colon])
        out.append(("text", txt[colon + 1:colon + 1 + n]))
        p = colon + 1 + n
    return out


def socketio_logged(peers, sids):
    """What each side logged sending, per session: node hooks (JSON with type
    and data) or python-engineio's logger ('Sending packet TYPE data DATA')."""
    import re
    logged = {}
    for e in peers:
        d = "s2c" if e.get("peer") == "server" else "c2s"
        if e.get("ev") == "send":
            logged.setdefault(e["sid"], {"c2s": [], "s2c": []})[d].append((e["type"], e.get("data")))
        elif e.get("ev") == "log":
            m = re.search(r"(?:(\w+): )?Sending packet (\w+) data (.*)$", e["text"], re.S)
            if m:
                sid = m.group(1) or (sids[0] if len(sids) == 1 else None)
                data = None if m.group(3) == "None" else m.group(3)
                typ = m.group(2).lower()
                logged.setdefault(sid, {"c2s": [], "s2c": []})[d].append((typ, "<open>" if typ == "open" else data))
    return logged


def socketio_decode(t, times, peers):
    captured = {}  # sid -> dir -> [(packet no, type, data)]
    python_logs = any(e.get("ev") == "log" for e in peers)
    for ci, c in enumerate(t["connections"]):
        target = c["handshake"].get("request_target") or ""
        q = parse_qs(urlsplit(target).query)
        if c["is_websocket"]:
            eio = int(q.get("EIO", ["4"])[0])
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
                    data = m["_payload"]
                    if eio == 3:  # EIO3: a binary message starts with the packet type byte 4
                        rec["eio3_type_byte"] = data[0]
                        data = data[1:]
                    rec["attachment_len"] = len(data)
                    owner["next"] += 1
                    if owner["next"] == owner["count"]:
                        pending[d] = None
                    m["app"] = rec
                    entry = ("message", "<binary>" if python_logs else {"binary": data.hex()})
                else:
                    txt = m["_payload"].decode()
                    rec = eio_record(txt[0], txt[1:], eio)
                    sio_keys(rec, d, eio)
                    if rec.get("attachments"):
                        pending[d] = {"index": i, "count": rec["attachments"], "next": 0}
                    if rec["kind"] == "open":
                        sid = rec["sid"]
                    m["app"] = rec
                    entry = (rec["engineio"], "<open>" if python_logs and rec["kind"] == "open" else (txt[1:] or None))
                captured.setdefault(sid, {"c2s": [], "s2c": []})[d].append((m["last_packet"], *entry))
        for ex in c.get("http_exchanges", []):
            eq = parse_qs(urlsplit(ex["target"]).query)
            if eq.get("transport") != ["polling"]:
                continue
            eio = int(eq.get("EIO", ["4"])[0])
            c["app_protocol"] = "socket.io"
            sid = eq.get("sid", [None])[0]
            for side, body, pkt in (("request", ex["_request_body"], ex["_request_last_packet"]),
                                    ("response", ex["_response_body"], ex["_response_last_packet"])):
                recs = []
                if (side == "request") != (ex["method"] == "POST"):
                    continue  # a GET carries its packets in the response; a POST's response is "ok"
                if side == "response" and ex.get("status") != 200:
                    continue  # an error (400 for a closed session) is a JSON text, not a payload
                for kind, part in eio_payload(body, eio):
                    d = "c2s" if side == "request" else "s2c"
                    if kind == "binary":
                        # (v3 keeps the packet type byte 4 before the data)
                        recs.append({"protocol": "socket.io", "engineio": "message", "kind": "attachment",
                                     "name": None, "id": None,
                                     "attachment_len": len(part) - 1 if eio == 3 else len(part)})
                        captured.setdefault(sid, {"c2s": [], "s2c": []})[d].append((pkt, "message", "<binary>"))
                        continue
                    rec = eio_record(part[0], part[1:], eio)
                    recs.append(rec)
                    if rec["kind"] == "open":
                        sid = rec["sid"]
                    data = "<open>" if python_logs and rec["kind"] == "open" else (part[1:] or None)
                    captured.setdefault(sid, {"c2s": [], "s2c": []})[d].append((pkt, rec["engineio"], data))
                ex[f"{side}_app"] = recs
    logged = socketio_logged(peers, list(captured))
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


SPECS["socketio_v3"] = {
    "decode": lambda t, times, peers: socketio_decode(t, times, peers),
    "decode_as": ["tcp.port==9102,http"],
    "generator": "PyPI python-socketio 4.6.1 + python-engineio 3.14.2 (Engine.IO v3, Socket.IO protocol v4), aiohttp 3.8.6 server and client, python 3.11, tools/gen-captures/app/socketio_v3.py",
    "notes": ("One Engine.IO v3 session (EIO=3, server pingInterval 1 s), python-socketio on both sides. TRAP: the aiohttp client keeps ONE TCP connection for the "
              "long-polling GET and the websocket upgrade: the connection has two HTTP exchanges (http_exchanges) and then WebSocket frames. "
              "TRAP: the polling response uses Engine.IO v3's binary (XHR2) payload framing: byte 0 (string packet), the length as one byte per decimal digit, 0xFF, "
              "the packet; it carries two packets: open and the server's unsolicited CONNECT for '/' (protocol v4 connects the default namespace without a request: "
              "no answers). Then probe (2probe/3probe), upgrade '5', a noop '6' from the server (closing the pending poll), CONNECT /chat answered, CONNECT /admin refused by "
              "returning False: packet type 4 is ERROR in protocol v4 (no payload here; app.error 'ERROR'). EIO3: the CLIENT pings ('2') and the server answers pong ('3'), "
              "the reverse of EIO4. Events with acks (hello 15 ms, upload 25 ms), BINARY_EVENT '51-' with its attachment as a binary WebSocket message whose FIRST BYTE 0x04 "
              "is the Engine.IO message type (EIO3 only; app.eio3_type_byte, attachment_len excludes it); /chat: the server emits 'question' with ack id 1 while the "
              "client's msg id 1 is open in the same namespace (pair by direction), the client acks after 20 ms. "
              "TRAP (timing-dependent, true of the committed recording): the client logged sending DISCONNECT /chat, DISCONNECT / and the Engine.IO close, but they never "
              "reached the wire: python-engineio 3.14 closed the WebSocket (close 1000) first (verification lists them as logged_not_captured); the client then resets "
              "the TCP connection. A re-recording may carry them. "
              "Python 3.11 needs a one-line shim for python-socketio 4.6 (coroutines passed to asyncio.wait are wrapped in tasks); it does not change any packet."),
}
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

SPECS["socketio_polling"] = {
    "decode": socketio_decode,
    "decode_as": ["tcp.port==9103,http"],
    "generator": "PyPI python-socketio 5.18.1 + python-engineio 4.15.1 (Engine.IO v4, Socket.IO protocol v5), aiohttp 3.14.5 server and client, python 3.11, tools/gen-captures/app/socketio_polling.py",
    "notes": ("One Engine.IO v4 session that never upgrades: the client is limited to HTTP long-polling (transports=['polling']). "
              "TRAP: the aiohttp client keeps two keep-alive TCP connections, one for the waiting GET and one for POSTs, and which connection carries "
              "which request changes as the pool hands them out: a request and its answer are often on different connections (the client's CONNECT is "
              "POSTed on one, the server's CONNECT answer comes in a GET response on the other); they belong together by the request target's sid. "
              "TRAP: several packets per body, 0x1e-separated: the server's connect handler emits 'welcome' and 'news' before its CONNECT answer goes out; "
              "the client's three 'hello' EVENTs (ack ids 1-3) go in one POST and the server's three ACKs in one GET response; a POST carries EVENT 'note' "
              "(no ack), BINARY_EVENT 'upload' ('451-[...]') and its attachment as a base64 packet ('b' + base64, Engine.IO v4: no type byte). "
              "The server acks 'upload' after 25 ms and, before that, emits 'question' with ack id 1, which the client acks after 20 ms in a POST: acks "
              "over polling both ways. A POST's response body is the text 'ok' (not a payload); the last GET, still waiting when the client disconnects "
              "(DISCONNECT and Engine.IO close in one POST), is answered 400. No answers/latency are given for polling records (pairing across "
              "connections is by sid, which the WebSocket-message pairing of these truth files does not model)."),
}

# --------------------------------------------------------------------- MQTT

MQTT_TYPES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
              7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
              12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}
# MQTT 5.0 §2.4 reason codes (those a decoder names; the number is in the record too)
MQTT5_REASONS = {0x80: "Unspecified error", 0x81: "Malformed Packet", 0x82: "Protocol Error",
                 0x83: "Implementation specific error", 0x84: "Unsupported Protocol Version",
                 0x85: "Client Identifier not valid", 0x86: "Bad User Name or Password",
                 0x87: "Not authorized", 0x8F: "Topic Filter invalid", 0x90: "Topic Name invalid",
                 0x91: "Packet Identifier in use", 0x92: "Packet Identifier not found",
                 0x97: "Quota exceeded", 0x99: "Payload format invalid"}
MQTT3_CONNACK = {1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
                 4: "bad user name or password", 5: "not authorized"}


def varint(b, p):
    n, shift = 0, 0
    while True:
        x = b[p]
        n |= (x & 0x7F) << shift
        p += 1
        if not x & 0x80:
            return n, p
        shift += 7


def mqtt_props(b, p):
    """MQTT 5.0 §2.2.2 properties: returns (dict, next offset)."""
    n, p = varint(b, p)
    end, props = p + n, {}
    u16 = lambda q: (int.from_bytes(b[q:q + 2], "big"), q + 2)
    u32 = lambda q: (int.from_bytes(b[q:q + 4], "big"), q + 4)
    def s(q):
        ln = int.from_bytes(b[q:q + 2], "big")
        return b[q + 2:q + 2 + ln].decode(), q + 2 + ln
    def bin_(q):
        ln = int.from_bytes(b[q:q + 2], "big")
        return b[q + 2:q + 2 + ln].hex(), q + 2 + ln
    names = {0x01: ("payload_format_indicator", lambda q: (b[q], q + 1)),
             0x02: ("message_expiry_interval", u32), 0x03: ("content_type", s),
             0x08: ("response_topic", s), 0x09: ("correlation_data", bin_),
             0x0B: ("subscription_identifier", lambda q: varint(b, q)),
             0x11: ("session_expiry_interval", u32), 0x12: ("assigned_client_identifier", s),
             0x13: ("server_keep_alive", u16), 0x15: ("authentication_method", s),
             0x16: ("authentication_data", bin_), 0x17: ("request_problem_information", lambda q: (b[q], q + 1)),
             0x18: ("will_delay_interval", u32), 0x19: ("request_response_information", lambda q: (b[q], q + 1)),
             0x1A: ("response_information", s), 0x1C: ("server_reference", s), 0x1F: ("reason_string", s),
             0x21: ("receive_maximum", u16), 0x22: ("topic_alias_maximum", u16), 0x23: ("topic_alias", u16),
             0x24: ("maximum_qos", lambda q: (b[q], q + 1)), 0x25: ("retain_available", lambda q: (b[q], q + 1)),
             0x27: ("maximum_packet_size", u32), 0x28: ("wildcard_subscription_available", lambda q: (b[q], q + 1)),
             0x29: ("subscription_identifier_available", lambda q: (b[q], q + 1)),
             0x2A: ("shared_subscription_available", lambda q: (b[q], q + 1))}
    while p < end:
        pid = b[p]
        p += 1
        if pid == 0x26:
            k, p = s(p)
            v, p = s(p)
            props.setdefault("user_properties", []).append([k, v])
            continue
        name, fn = names[pid]
        props[name], p = fn(p)
    return props, end


def mqtt_packet(b, version, aliases):
    """One whole MQTT control packet → app record (MQTT 3.1.1 §2-3, 5.0 §2-3)."""
    t, flags = b[0] >> 4, b[0] & 0x0F
    rl, p = varint(b, 1)
    end = p + rl
    kind = MQTT_TYPES[t]
    rec = {"protocol": "mqtt", "kind": kind, "name": None, "id": None, "packet_len": len(b)}
    u16 = lambda q: int.from_bytes(b[q:q + 2], "big")
    def s(q):
        ln = u16(q)
        return b[q + 2:q + 2 + ln].decode(), q + 2 + ln
    v5 = version == 5
    if kind == "CONNECT":
        proto, p = s(p)
        level, cflags, rec["keepalive"] = b[p], b[p + 1], u16(p + 2)
        p += 4
        rec["protocol_level"] = level
        if level == 5:
            props, p = mqtt_props(b, p)
            if props:
                rec["properties"] = props
        rec["client_id"], p = s(p)
        rec["clean_start"] = bool(cflags & 0x02)
        rec["username_flag"] = bool(cflags & 0x80)
    elif kind == "CONNACK":
        rec["session_present"] = bool(b[p] & 1)
        rc = b[p + 1]
        rec["reason_code"] = rc
        if v5:
            props, _ = mqtt_props(b, p + 2)
            if props:
                rec["properties"] = props
            if rc >= 0x80:
                rec["error"] = f"0x{rc:02X} {MQTT5_REASONS.get(rc, '')}".strip()
        elif rc:
            rec["error"] = f"{rc} {MQTT3_CONNACK.get(rc, '')}".strip()
    elif kind == "PUBLISH":
        qos = (flags >> 1) & 3
        rec.update({"qos": qos, "retain": bool(flags & 1), "dup": bool(flags & 8)})
        topic, p = s(p)
        if qos:
            rec["id"] = u16(p)
            p += 2
        if v5:
            props, p = mqtt_props(b, p)
            if props:
                rec["properties"] = props
            alias = props.get("topic_alias")
            if alias is not None:
                if topic:
                    aliases[alias] = topic
                else:
                    topic = aliases.get(alias)
                    rec["topic_from_alias"] = True
        rec["name"] = topic
        rec["payload_len"] = end - p
    elif kind in ("PUBACK", "PUBREC", "PUBREL", "PUBCOMP"):
        rec["id"] = u16(p)
        if v5 and rl > 2:
            rc = b[p + 2]
            rec["reason_code"] = rc
            if rc >= 0x80:
                rec["error"] = f"0x{rc:02X} {MQTT5_REASONS.get(rc, '')}".strip()
            if rl > 3:
                props, _ = mqtt_props(b, p + 3)
                if props:
                    rec["properties"] = props
        elif v5:
            rec["reason_code"] = 0
    elif kind in ("SUBSCRIBE", "UNSUBSCRIBE"):
        rec["id"] = u16(p)
        p += 2
        if v5:
            props, p = mqtt_props(b, p)
            if props:
                rec["properties"] = props
        topics = []
        while p < end:
            f, p = s(p)
            if kind == "SUBSCRIBE":
                topics.append({"filter": f, "options": b[p]})
                p += 1
            else:
                topics.append({"filter": f})
        rec["topics"] = topics
        rec["name"] = topics[0]["filter"] if topics else None
    elif kind in ("SUBACK", "UNSUBACK"):
        rec["id"] = u16(p)
        p += 2
        if v5:
            props, p = mqtt_props(b, p)
            if props:
                rec["properties"] = props
        if kind == "SUBACK" or v5:
            codes = list(b[p:end])
            rec["reason_codes"] = codes
            bad = [c for c in codes if c >= 0x80]
            if bad:
                rec["error"] = ", ".join(f"0x{c:02X} {MQTT5_REASONS.get(c, '') if v5 else 'Failure'}".strip() for c in bad)
    elif kind == "DISCONNECT" and v5 and rl >= 1:
        rec["reason_code"] = b[p]
    return rec


def mqtt_keys(rec, d):
    k = rec["kind"]
    if k == "CONNECT":
        rec["_key"] = ("connect",)
    elif k == "CONNACK":
        rec["_answers_key"] = ("connect",)
    elif k == "PUBLISH" and rec["qos"] == 1:
        rec["_key"] = ("puback", rec["id"])
    elif k == "PUBLISH" and rec["qos"] == 2:
        rec["_key"] = ("pubrec", rec["id"])
    elif k == "PUBACK":
        rec["_answers_key"] = ("puback", rec["id"])
    elif k == "PUBREC":
        rec["_answers_key"] = ("pubrec", rec["id"])
        rec["_key"] = ("pubrel", rec["id"])
    elif k == "PUBREL":
        rec["_answers_key"] = ("pubrel", rec["id"])
        rec["_key"] = ("pubcomp", rec["id"])
    elif k == "PUBCOMP":
        rec["_answers_key"] = ("pubcomp", rec["id"])
    elif k in ("SUBSCRIBE", "UNSUBSCRIBE"):
        rec["_key"] = (k, rec["id"])
    elif k in ("SUBACK", "UNSUBACK"):
        rec["_answers_key"] = ({"SUBACK": "SUBSCRIBE", "UNSUBACK": "UNSUBSCRIBE"}[k], rec["id"])
    elif k == "PINGREQ":
        rec["_key"] = ("ping",)
    elif k == "PINGRESP":
        rec["_answers_key"] = ("ping",)


def mqtt_decode(t, times, peers):
    per_conn = []
    for c in t["connections"]:
        if not c["is_websocket"]:
            continue
        c["app_protocol"] = "mqtt"
        version = None
        stats = {"client": c["client"], "packets": {"c2s": [], "s2c": []}, "multi_packet_messages": 0,
                 "packets_spanning_messages": 0}
        for d in ("c2s", "s2c"):
            buf, owners, aliases = b"", [], {}
            idx = [i for i, m in enumerate(c["messages"]) if m["dir"] == d]
            done_in = {i: [] for i in idx}
            for i in idx:
                m = c["messages"][i]
                buf += m["_payload"]
                owners += [i] * len(m["_payload"])
                while len(buf) >= 2:
                    try:
                        rl, p = varint(buf, 1)
                    except IndexError:
                        break
                    if len(buf) < p + rl:
                        break
                    pkt = buf[:p + rl]
                    if pkt[0] >> 4 == 1:
                        version = pkt[8] if pkt[2:8] == b"\x00\x04MQTT" else version
                    rec = mqtt_packet(pkt, 5 if version == 5 else 4, aliases)
                    if owners[0] != i:
                        rec["starts_in"] = owners[0]
                        stats["packets_spanning_messages"] += 1
                    mqtt_keys(rec, d)
                    done_in[i].append(rec)
                    stats["packets"][d].append(rec)
                    buf, owners = buf[p + rl:], owners[p + rl:]
            for i in idx:
                recs = done_in[i]
                if len(recs) != 1:
                    stats["multi_packet_messages"] += len(recs) > 1
                c["messages"][i]["app"] = recs if len(recs) != 1 else recs[0]
        per_conn.append(stats)
    # Client logs (mqtt.js packetsend / packetreceive), one client per connection in order.
    names = []
    for e in peers:
        if e.get("ev") in ("send", "recv") and e["peer"] not in names:
            names.append(e["peer"])
    result = {"connections": []}
    for stats, name in zip(per_conn, names):
        row = {"client": stats["client"], "peer": name,
               "multi_packet_messages": stats["multi_packet_messages"],
               "packets_spanning_messages": stats["packets_spanning_messages"]}
        for d, ev in (("c2s", "send"), ("s2c", "recv")):
            logged = [(e["packet"]["cmd"].upper(), e["packet"].get("messageId") or None, e["packet"].get("topic"))
                      for e in peers if e.get("peer") == name and e.get("ev") == ev]
            cap = [(r["kind"], r["id"], r["name"] if r["kind"] == "PUBLISH" else None) for r in stats["packets"][d]]
            # mqtt.js reports the topic it resolved from an alias; a PUBLISH sent with an alias
            # and an empty topic is logged with topic ''.
            logged = [(k, i, tp if k == "PUBLISH" else None) for k, i, tp in logged]
            diffs = [[a, b] for a, b in zip(cap, logged) if a != b and not (a[0] == b[0] == "PUBLISH" and a[1] == b[1] and b[2] == "")]
            row[d] = {"captured": len(cap), "logged": len(logged), "differences": diffs}
        result["connections"].append(row)
    return result


def mosquitto_check(log_path, t):
    """Packet types in mosquitto's own log ('Received X from' / 'Sending X to')
    against the capture, per client id."""
    import re
    seq = {}
    for line in open(log_path, encoding="utf-8", errors="replace"):
        m = re.search(r": (Received|Denied|Sending) (\w+) (?:from|to) (\S+)", line)
        if m:  # "Denied PUBLISH from": received, refused by the ACL
            d = "s2c" if m.group(1) == "Sending" else "c2s"
            seq.setdefault(m.group(3), {"c2s": [], "s2c": []})[d].append(m.group(2))
        m = re.search(r": Sending CONNACK to ::ffff:[\d.]+ \(\d+, (\d+)\)", line)
        if m:  # a refused CONNECT: mosquitto logs no client id for it
            seq.setdefault("<refused>", {"c2s": [], "s2c": []})
            seq["<refused>"]["c2s"].append("CONNECT")
            seq["<refused>"]["s2c"].append(f"CONNACK rc={m.group(1)}")
        m = re.search(r"New client connected from \S+ as (\S+)", line)
        if m:
            seq.setdefault(m.group(1), {"c2s": [], "s2c": []})["c2s"].append("CONNECT")
    out = []
    for c in t["connections"]:
        if c.get("app_protocol") != "mqtt":
            continue
        recs = {"c2s": [], "s2c": []}
        cid, refused = None, False
        for m in c["messages"]:
            for r in (m["app"] if isinstance(m["app"], list) else [m["app"]]):
                recs[m["dir"]].append(r["kind"])
                if r["kind"] == "CONNECT":
                    cid = r["client_id"]
                if r["kind"] == "CONNACK" and r["reason_code"]:
                    refused = True
                    recs[m["dir"]][-1] = f"CONNACK rc={r['reason_code']}"
        logged = seq.get("<refused>" if refused else cid, {"c2s": [], "s2c": []})
        out.append({"client_id": cid,
                    "c2s": {"captured": recs["c2s"], "broker_log": logged["c2s"]},
                    "s2c": {"captured": recs["s2c"], "broker_log": logged["s2c"]},
                    "agree": recs == logged})
    return out


def synthetic_tcp_pcap(path, segments):
    """Writes a pcap of one TCP connection (127.0.0.1:50000 ↔ 127.0.0.1:1883,
    SYN handshake first) whose segments are `segments`: [(from_client, bytes)].
    Used to hand the WebSocket payloads, as tshark itself extracted them, to
    tshark's MQTT dissector, which tshark 4.0 does not call for WebSocket."""
    import struct
    out = [struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1)]
    seq = {True: 1000, False: 5000}
    def pkt(i, from_client, flags, payload):
        sport, dport = (50000, 1883) if from_client else (1883, 50000)
        tcp = struct.pack(">HHIIBBHHH", sport, dport, seq[from_client], seq[not from_client],
                          5 << 4, flags, 65535, 0, 0) + payload
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xFFFF, 0, 64, 6, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + tcp
        eth = b"\0" * 12 + b"\x08\x00" + ip
        out.append(struct.pack("<IIII", 1, i, len(eth), len(eth)) + eth)
    seq[True] -= 1
    seq[False] -= 1
    pkt(1, True, 0x02, b"")
    seq[True] += 1
    pkt(2, False, 0x12, b"")
    seq[False] += 1
    pkt(3, True, 0x10, b"")
    for n, (from_client, data) in enumerate(segments, 4):
        pkt(n, from_client, 0x18, data)
        seq[from_client] += len(data)
    open(path, "wb").write(b"".join(out))


def tshark_mqtt(pcap, t, port):
    """Independent MQTT decode: tshark's unmasked WebSocket payloads, in
    capture order, replayed as a TCP stream into tshark's MQTT dissector;
    (type, packet id, topic, original frame where the packet completes)
    compared with ours per direction."""
    import os, subprocess, tempfile
    out = subprocess.run(["tshark", "-r", pcap, "-d", f"tcp.port=={port},http", "-Y", "websocket", "-T", "fields",
                          "-e", "frame.number", "-e", "ip.src", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "websocket.opcode", "-e", "data.data"],
                         capture_output=True, text=True, check=True).stdout
    frames = []
    for line in out.splitlines():
        no, ip, sport, dport, ops, datas = (line.split("\t") + [""] * 6)[:6]
        ops, datas = ops.split(","), datas.split(",")
        di = 0
        for op in ops:
            if op == "2":
                frames.append((int(no), f"{ip}:{sport}", bytes.fromhex(datas[di]), f"{ip}:{dport}"))
                di += 1
    rows, agree = [], True
    for c in t["connections"]:
        if c.get("app_protocol") != "mqtt":
            continue
        pair = {c["client"], c["server"]}
        mine = [f for f in frames if {f[1], f[3]} == pair]
        segs = [(f[1] == c["client"], f[2]) for f in mine]
        with tempfile.TemporaryDirectory() as td:
            synth = os.path.join(td, "mqtt.pcap")
            synthetic_tcp_pcap(synth, segs)
            js = subprocess.run(["tshark", "-r", synth, "-Y", "mqtt", "-T", "json", "--no-duplicate-keys"], capture_output=True,
                                text=True, check=True).stdout
        theirs = {True: [], False: []}
        for pkt in json.loads(js or "[]"):
            L = pkt["_source"]["layers"]
            no = int(L["frame"]["frame.number"])
            from_client = L["tcp"]["tcp.srcport"] == "50000"
            for mq in (L["mqtt"] if isinstance(L["mqtt"], list) else [L["mqtt"]]):
                hdr = mq["mqtt.hdrflags_tree"]
                typ = int(hdr["mqtt.msgtype"])
                mid = mq.get("mqtt.msgid")
                topic = mq.get("mqtt.topic") if typ == 3 else None
                theirs[from_client].append((MQTT_TYPES.get(typ, f"type {typ}"), int(mid) if mid else None, topic or None, mine[no - 4][0]))
        for d, from_client in (("c2s", True), ("s2c", False)):
            ours = []
            for m in c["messages"]:
                if m["dir"] != d:
                    continue
                for r in (m["app"] if isinstance(m["app"], list) else [m["app"]]):
                    ours.append((r["kind"], r["id"], r["name"] if r["kind"] == "PUBLISH" else None, m["last_packet"]))
            th = theirs[from_client]
            diffs = [[a, b] for a, b in zip(ours, th) if a != b]
            if diffs or len(ours) != len(th):
                agree = False
            rows.append({"client": c["client"], "dir": d, "ours": len(ours), "tshark": len(th), "differences": diffs[:5]})
    return {"mqtt_packets": rows, "agree": agree,
            "method": "tshark 4.0 does not hand WebSocket payloads to its MQTT dissector; the unmasked payloads tshark extracted (data.data) are replayed as one TCP stream to port 1883 and dissected by tshark's MQTT dissector",
            "compared": "per direction in order: packet type, packet id, PUBLISH topic (tshark resolves topic aliases too), frame where the packet completes"}


SPECS["mqtt"] = {
    "decode": mqtt_decode,
    "decode_as": ["tcp.port==9001,http"],
    "tshark_app": lambda pcap, t: tshark_mqtt(pcap, t, 9001),
    "broker_check": mosquitto_check,
    "generator": "Debian mosquitto 2.0.11 (websockets listener on 9001, password file, ACL file) + npm mqtt 5.16 (node 20, ws), tools/gen-captures/app/mqtt_client.js",
    "notes": {
        "common": ("mosquitto 2.0.11 broker, websockets listener (libwebsockets), subprotocol 'mqtt', request target /mqtt; npm mqtt 5.16 client over node ws. "
                   "TRAP: mqtt.js writes every field of a packet as its own WebSocket message (fixed-header byte, remaining length, topic length, topic, packet id, properties, payload ...), "
                   "so most client packets span several binary messages, some messages have 1 byte and one (the empty topic of a topic-alias PUBLISH in v5) has 0 bytes; "
                   "the broker sends one whole packet per message. A decoder must reassemble MQTT packets across the messages of a direction. "
                   "app is one record on the message where a packet completes, with starts_in = index of the message holding its first byte when it started earlier; "
                   "messages on which no packet completes have app: [] (and a list would hold several packets completing in one message: none here). "
                   "First connection: CONNECT with a wrong password, refused by CONNACK (3.1.1: return code 5 'not authorized'; 5.0: reason 0x87 'Not authorized', mosquitto's choice over 0x86), then the broker closes. "
                   "Second connection: keepalive 2 s; SUBSCRIBE qos 2, PUBLISH qos 0/1/2 to a topic the client itself subscribes to, so each PUBLISH comes back from the broker with its own packet id "
                   "(client ids 1..65535 counting up from a random start, broker ids 1,2,3...: the same number can be in flight in both directions, pair by direction); "
                   "the QoS 2 flows interleave: PUBLISH c→s, PUBREC s→c, PUBREL c→s, PUBLISH s→c (the broker's copy), PUBCOMP s→c, PUBREC c→s, PUBREL s→c, PUBCOMP c→s. "
                   "The client delays its PUBACK/PUBREC to the broker's PUBLISH by 20 ms (mqtt.js handleMessage), so those latencies are ~20 ms; the broker answers in 0.03-3 ms, "
                   "except some answers that wait ~100 ms in mosquitto's websockets service loop (a real property of this broker, visible in the capture). "
                   "A retained PUBLISH (retain=1) then a SUBSCRIBE that receives it with retain=1. SUBSCRIBE to secret/# is GRANTED although the ACL gives no access: "
                   "mosquitto 2.0's ACL file is not checked at subscribe time (messages are filtered at delivery), so there is no SUBACK failure code. UNSUBSCRIBE/UNSUBACK, "
                   "2.6 s idle → PINGREQ/PINGRESP, DISCONNECT (no answer); then the client closes the WebSocket; what the broker does next (close reply, FIN or RST) varies between recordings: see control and tcp_detail. "
                   "latency_ms for QoS 2 chains: PUBREC answers PUBLISH, PUBREL answers PUBREC, PUBCOMP answers PUBREL."),
        "mqtt_v5": ("MQTT 5.0: CONNECT properties (session expiry 60, topic alias maximum 5, user property app=wsinspect), CONNACK properties from mosquitto; "
                    "PUBLISH with user properties, message expiry 300, content type; topic alias: PUBLISH v5/humidity with alias 1, then PUBLISH with an EMPTY topic and alias 1 "
                    "(app.name is the topic resolved from the alias, topic_from_alias: true; the broker's copies carry the full topic); response topic + correlation data; "
                    "PUBLISH to secret/plans refused by the ACL: PUBACK reason 0x87 (app.error). PUBACK/PUBREC/... carry reason_code (0 when the 2-byte short form is used)."),
        "mqtt_v311": "MQTT 3.1.1 (protocol level 4).",
    },
}

# ------------------------------------------------------------ JSON protocols

def ws_log_check(t, peers, client="client", server="server"):
    """Every text message of the WebSocket connections, in order per
    direction, against what the sender logged sending and the receiver logged
    receiving (exact payload text)."""
    cap = {"c2s": [], "s2c": []}
    for c in t["connections"]:
        for m in c.get("messages", []):
            cap[m["dir"]].append(m["_payload"].decode() if m["opcode"] == "text" else m["_payload"].decode("latin-1"))
    res = {}
    for d, sender, receiver in (("c2s", client, server), ("s2c", server, client)):
        sent = [e["data"] for e in peers if e.get("peer") == sender and e.get("ev") == "send"]
        got = [e["data"] for e in peers if e.get("peer") == receiver and e.get("ev") == "recv"]
        res[d] = {"captured": len(cap[d])}
        if sender:
            res[d].update({"sender_logged": len(sent), "sender_log_equal": sent == cap[d]})
        if receiver:
            res[d].update({"receiver_logged": len(got), "receiver_log_equal": got == cap[d]})
    return res


def graphql_operation(payload):
    """Operation name, type and first root field of a GraphQL request."""
    import re
    q = (payload or {}).get("query") or ""
    name = (payload or {}).get("operationName")
    m = re.match(r"\s*(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?", q)
    op = m.group(1) if m else ("query" if q.lstrip().startswith("{") else None)
    if not name and m and m.group(2):
        name = m.group(2)
    f = re.search(r"\{\s*([_A-Za-z][_0-9A-Za-z]*)", q)
    return name, op, f.group(1) if f else None


def graphql_errors(payload):
    if isinstance(payload, list):
        return "; ".join(e.get("message", "") for e in payload)
    if isinstance(payload, dict):
        if "errors" in payload:
            return "; ".join(e.get("message", "") for e in payload["errors"])
        if "message" in payload:
            return payload["message"]
    return None


def graphql_decode_with(protocol, t, times, peers):
    legacy = protocol == "graphql-ws"
    request_types = ("start",) if legacy else ("subscribe",)
    stream_types = ("data",) if legacy else ("next",)
    final_types = ("error", "complete")
    for c in t["connections"]:
        if not c["is_websocket"]:
            continue
        c["app_protocol"] = protocol
        for m in c["messages"]:
            j = json.loads(m["_payload"])
            k = j.get("type")
            rec = {"protocol": protocol, "kind": k, "name": None, "id": j.get("id")}
            if k in request_types:
                rec["name"], rec["operation"], rec["root_field"] = graphql_operation(j.get("payload"))
                rec["_key"] = ("op", rec["id"])
            elif m["dir"] == "s2c" and k in stream_types + final_types and rec["id"] is not None:
                rec["_answers_key"] = ("op", rec["id"])
                if k in stream_types:
                    rec["_keep_open"] = True
                err = graphql_errors(j.get("payload")) if k != "complete" else None
                if err:
                    rec["error"] = err
            elif k == "connection_init":
                rec["_key"] = ("init",)
            elif k in ("connection_ack", "connection_error"):
                rec["_answers_key"] = ("init",)
                if k == "connection_error":
                    rec["error"] = graphql_errors(j.get("payload"))
            elif k == "ping":
                rec["_key"] = ("ping",)
            elif k == "pong":
                rec["_answers_key"] = ("ping",)
            m["app"] = rec
    return ws_log_check(t, peers)


SPECS["graphql_ws"] = {
    "decode": lambda t, times, peers: graphql_decode_with("graphql-transport-ws", t, times, peers),
    "decode_as": ["tcp.port==9201,http"],
    "generator": "npm graphql-ws 6.4 server (use/ws) + client, graphql 16.15, ws 8.23, node 20, tools/gen-captures/app/graphql.js modern",
    "notes": ("Subprotocol graphql-transport-ws (the graphql-ws library's protocol), request target /graphql. connection_init (payload {token}) → connection_ack after the server's 8 ms onConnect. "
              "Operations (id = a UUID chosen by the client): query Hello (15 ms resolver) → next + complete; { slow(ms: 40) } → next after 40 ms + complete; "
              "subscription { countdown(from: 4) } → five next 10 ms apart + complete; { broken } → next whose payload has errors (app.error) + complete; "
              "{ nosuchfield } → error (validation; payload is a list of GraphQL errors) and no complete; subscription Tick { ticker } → next every 30 ms until the CLIENT sends complete; "
              "TRAP: a next for that id arrives after the client's complete (the generator was already running). Client keepAlive 250 ms: ping (client) → pong (server), also in the middle of a subscription. "
              "Every s2c next/error/complete with an id answers the subscribe with that id (answers + latency_ms from the subscribe); several next answer the same subscribe. "
              "name is the operation name (operationName, else the name in the document, else null); operation (query|subscription|mutation) and root_field are added. "
              "The client's complete answers nothing. The client closes with 1000 'Normal Closure'."),
}
SPECS["graphql_legacy"] = {
    "decode": lambda t, times, peers: graphql_decode_with("graphql-ws", t, times, peers),
    "decode_as": ["tcp.port==9202,http"],
    "generator": "npm subscriptions-transport-ws 0.11 SubscriptionServer + SubscriptionClient, graphql 16.15, ws 8.23, node 20, tools/gen-captures/app/graphql.js legacy",
    "notes": ("Legacy subprotocol graphql-ws (subscriptions-transport-ws; NOT the graphql-ws library, whose subprotocol is graphql-transport-ws), request target /subscriptions. "
              "connection_init → connection_ack (after an 8 ms onConnect) immediately followed by ka; server keepAlive 300 ms: unsolicited ka messages (no answer, no id). "
              "Operation ids are '1', '2', ... (strings). start → data ... complete: query Hello (15 ms), subscription countdown (4 data 10 ms apart), { broken } → data with errors (app.error) + complete, "
              "{ nosuchfield } → validation errors ALSO as data + complete (this library), a syntax error → error (payload {message}) without complete, subscription ticker stopped by the client's stop; "
              "TRAP: a data and a complete for that id follow the stop. Every s2c data/error/complete answers the start with that id. The client ends with connection_terminate then closes."),
}


def jsonrpc_record(j):
    rec = {"protocol": "jsonrpc", "kind": None, "name": None, "id": j.get("id") if isinstance(j, dict) else None}
    if not isinstance(j, dict):
        rec["kind"] = "invalid"
        return rec
    if "method" in j:
        rec["name"] = j["method"]
        if "id" in j:
            rec["kind"] = "request"
            rec["_key"] = ("rpc", json.dumps(j["id"]))
        else:
            rec["kind"] = "notification"
    elif "result" in j or "error" in j:
        rec["kind"] = "response"
        rec["_answers_key"] = ("rpc", json.dumps(j.get("id")))
        if "error" in j:
            e = j["error"]
            rec["error"] = f'{e.get("code")} {e.get("message")}'
            rec["error_code"] = e.get("code")
    return rec


def jsonrpc_decode(t, times, peers):
    for c in t["connections"]:
        if not c["is_websocket"]:
            continue
        c["app_protocol"] = "jsonrpc"
        for m in c["messages"]:
            j = json.loads(m["_payload"])
            if isinstance(j, list):
                m["app"] = [dict(jsonrpc_record(x), batch_index=i) for i, x in enumerate(j)]
            else:
                m["app"] = jsonrpc_record(j)
    return ws_log_check(t, peers)


SPECS["jsonrpc"] = {
    "decode": jsonrpc_decode,
    "decode_as": ["tcp.port==9401,http"],
    "generator": "npm rpc-websockets 10 Server + Client (ws 8), node 20, tools/gen-captures/app/jsonrpc.js",
    "notes": ("JSON-RPC 2.0, request target /rpc, no subprotocol negotiated (detection must come from the content). Ids are integers 1..6 from the client library and strings b1..b3 in the batch. "
              "sum (12 ms), slow 40 ms, a notification (method log, no id, never answered), nosuch → error -32601 'Method not found', fail → error -32000 with data; "
              "slow(30) id 5 and sum id 6 sent back to back are ANSWERED OUT OF ORDER (6 before 5): pair by id, not by order. "
              "A batch (written on the client library's socket; the client API has no batch call) of 4 entries: request b1, a notification, request b2 for a missing method, request b3; "
              "the server answers with ONE array message of 3 responses (none for the notification). A batch message's app is a list with one record per element (batch_index); "
              "each response record answers the message holding its request (here the same batch message). kind: request | notification | response; error responses have error ('<code> <message>') and error_code. "
              "No permessage-deflate (rpc-websockets turns it off)."),
}


OCPP_TYPES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR", 5: "CALLRESULTERROR", 6: "SEND"}


def ocpp_decode_with(protocol, t, times, peers):
    for c in t["connections"]:
        if not c["is_websocket"]:
            continue
        c["app_protocol"] = protocol
        for m in c["messages"]:
            j = json.loads(m["_payload"])
            kind = OCPP_TYPES.get(j[0], str(j[0]))
            rec = {"protocol": protocol, "kind": kind, "name": None, "id": j[1]}
            if kind == "CALL":
                rec["name"] = j[2]
                rec["_key"] = ("call", j[1])
            elif kind in ("CALLRESULT", "CALLERROR"):
                rec["_answers_key"] = ("call", j[1])
                if kind == "CALLERROR":
                    rec["error"] = j[2]
                    rec["error_description"] = j[3]
            m["app"] = rec
    return ws_log_check(t, peers, client="charge_point", server="central_system")


OCPP_NOTES = ("Charge point CP-0001 (request target /CP-0001) and central system, both the mobilityhouse ocpp library (2.1) over python websockets 17.4 with its default permessage-deflate: "
              "every message is COMPRESSED (inflate before decoding). OCPP-J arrays: [2, uniqueId, action, payload] CALL, [3, uniqueId, payload] CALLRESULT, "
              "[4, uniqueId, errorCode, errorDescription, details] CALLERROR; unique ids are UUIDs; a CALLRESULT/CALLERROR does not repeat the action (name null): pair by unique id. "
              "The central system answers after 30 ms (BootNotification), 10 ms (StatusNotification), 5 ms (Heartbeat), 20 ms (Authorize); an Authorize for an unknown tag gets a normal "
              "CALLRESULT with status Invalid (not an error at the OCPP-J level). DataTransfer has no handler: CALLERROR NotImplemented (app.error = the error code, error_description). "
              "The central system also calls the charge point (CALL in the s2c direction, answered by the charge point after 15 ms): pairs exist in both directions. ")
SPECS["ocpp16"] = {
    "decode": lambda t, times, peers: ocpp_decode_with("ocpp1.6", t, times, peers),
    "decode_as": ["tcp.port==9301,http"],
    "generator": "PyPI ocpp 2.1.0 (v16 ChargePoint on both sides) + websockets 17.4, python 3.11, tools/gen-captures/app/ocpp_pair.py 1.6",
    "notes": OCPP_NOTES + "OCPP 1.6J, subprotocol ocpp1.6; the central system's call is ChangeConfiguration.",
}
SPECS["ocpp201"] = {
    "decode": lambda t, times, peers: ocpp_decode_with("ocpp2.0.1", t, times, peers),
    "decode_as": ["tcp.port==9302,http"],
    "generator": "PyPI ocpp 2.1.0 (v201 ChargePoint on both sides) + websockets 17.4, python 3.11, tools/gen-captures/app/ocpp_pair.py 2.0.1",
    "notes": OCPP_NOTES + "OCPP 2.0.1, subprotocol ocpp2.0.1; the central system's (CSMS) call is GetVariables.",
}


# -------------------------------------------------------------------- STOMP

def stomp_unescape(v):
    """STOMP 1.2 §Value Encoding: \\r \\n \\c \\\\ (CONNECT/CONNECTED excepted)."""
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\" and i + 1 < len(v):
            out.append({"r": "\r", "n": "\n", "c": ":", "\\": "\\"}.get(v[i + 1], "\\" + v[i + 1]))
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def stomp_frames(buf):
    """Splits a direction's bytes into ('heartbeat'|'frame', start, end, parsed)."""
    out, p = [], 0
    while p < len(buf):
        if buf[p:p + 1] == b"\n" or buf[p:p + 2] == b"\r\n":
            n = 1 if buf[p:p + 1] == b"\n" else 2
            out.append(("eol", p, p + n, None))
            p += n
            continue
        hdr_end = buf.find(b"\n\n", p)
        hdr_end_crlf = buf.find(b"\r\n\r\n", p)
        if hdr_end < 0 and hdr_end_crlf < 0:
            break
        if hdr_end_crlf >= 0 and (hdr_end < 0 or hdr_end_crlf < hdr_end):
            head, body_start = buf[p:hdr_end_crlf].decode(), hdr_end_crlf + 4
        else:
            head, body_start = buf[p:hdr_end].decode(), hdr_end + 2
        lines = head.replace("\r\n", "\n").split("\n")
        cmd, headers = lines[0], {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            if cmd not in ("CONNECT", "CONNECTED"):
                k, v = stomp_unescape(k), stomp_unescape(v)
            headers.setdefault(k, v)  # repeated header: the first one wins (1.2)
        if "content-length" in headers:
            body_end = body_start + int(headers["content-length"])
            if body_end >= len(buf):
                break
        else:
            body_end = buf.find(b"\x00", body_start)
            if body_end < 0:
                break
        out.append(("frame", p, body_end + 1, {"command": cmd, "headers": headers, "body_len": body_end - body_start}))
        p = body_end + 1
    return out


def stomp_decode(t, times, peers):
    for c in t["connections"]:
        if not c["is_websocket"]:
            continue
        c["app_protocol"] = "stomp"
        for d in ("c2s", "s2c"):
            idx = [i for i, m in enumerate(c["messages"]) if m["dir"] == d]
            buf, owner = b"", []
            for i in idx:
                buf += c["messages"][i]["_payload"]
                owner += [i] * len(c["messages"][i]["_payload"])
            recs = {i: [] for i in idx}
            connected = False
            for typ, a, b, f in stomp_frames(buf):
                i_end = owner[b - 1]
                if typ == "eol":
                    last = recs[i_end][-1] if recs[i_end] else None
                    if last is not None and last["kind"] != "heartbeat":
                        # EOL after a frame's NUL in the same message (RabbitMQ sends "\0\n")
                        last["trailing_eols"] = last.get("trailing_eols", 0) + 1
                    else:
                        recs[i_end].append({"protocol": "stomp", "kind": "heartbeat", "name": None, "id": None})
                    continue
                h, cmd = f["headers"], f["command"]
                rec = {"protocol": "stomp", "kind": cmd, "name": h.get("destination"), "id": None,
                       "headers": h, "body_len": f["body_len"]}
                if owner[a] != i_end:
                    rec["starts_in"] = owner[a]
                if "receipt" in h and d == "c2s":  # only client frames ask for receipts
                    rec["id"] = h["receipt"]
                    rec["_key"] = ("receipt", h["receipt"])
                elif cmd in ("SUBSCRIBE", "UNSUBSCRIBE"):
                    rec["id"] = h.get("id")
                elif cmd == "MESSAGE":
                    rec["id"] = h.get("ack", h.get("message-id"))
                    if "ack" in h:
                        rec["_key"] = ("ack", h["ack"])
                elif cmd in ("ACK", "NACK"):
                    rec["id"] = h.get("id", h.get("message-id"))
                    rec["_answers_key"] = ("ack", rec["id"])
                elif cmd in ("RECEIPT", "ERROR") and "receipt-id" in h:
                    rec["id"] = h["receipt-id"]
                    rec["_answers_key"] = ("receipt", h["receipt-id"])
                if cmd in ("CONNECT", "STOMP"):
                    rec["_key"] = ("connect",)
                elif cmd == "CONNECTED" or (cmd == "ERROR" and "receipt-id" not in h and not connected):
                    rec["_answers_key"] = ("connect",)
                connected = connected or cmd == "CONNECTED"
                if cmd == "ERROR":
                    rec["error"] = h.get("message")
                recs[i_end].append(rec)
            for i in idx:
                r = recs[i]
                c["messages"][i]["app"] = r[0] if len(r) == 1 else r
    return ws_log_check(t, peers, client="client", server=None)


SPECS["stomp"] = {
    "decode": stomp_decode,
    "decode_as": ["tcp.port==15674,http"],
    "generator": "Debian rabbitmq-server 3.10.8 with rabbitmq_web_stomp (ws://127.0.0.1:15674/ws) + npm @stomp/stompjs 7 over ws 8, node 20, tools/gen-captures/app/stomp.js",
    "notes": ("STOMP 1.2 over WebSocket (offered v12.stomp, v11.stomp, v10.stomp; RabbitMQ selects v12.stomp), permessage-deflate negotiated: every message is compressed. "
              "Connection 1: CONNECT (heart-beat 400,400) → CONNECTED (heart-beat 1000,1000: each side beats every 1000 ms); SUBSCRIBE /queue/orders ack:client-individual; "
              "three SEND with receipt → MESSAGE + RECEIPT (the broker delivers the MESSAGE before the RECEIPT); the client ACKs each MESSAGE after 20 ms, "
              "except that it NACKs (requeue) 'order 2' once: the MESSAGE comes again with redelivered:true and is ACKed; a SEND without receipt whose header value is escaped "
              "(x-note:a\\cb\\nc\\\\d = 'a:b<LF>c\\d' decoded; app.headers holds decoded values); SUBSCRIBE /topic/news (auto ack), a SEND in a BINARY WebSocket message "
              "with content-length 5 and NUL bytes in the body, its MESSAGE, UNSUBSCRIBE; 2.6 s idle: heart-beats, each a lone '\\n' in its own message (app.kind 'heartbeat'); "
              "DISCONNECT with receipt close-0: RabbitMQ sends NO RECEIPT, it closes the WebSocket (1000 'STOMP died') - the DISCONNECT stays unanswered. "
              "Connection 2: CONNECT without heart-beats, SEND with receipt bad-1 to an invalid destination → ERROR 'Unknown destination' WITHOUT receipt-id "
              "(so it answers nothing: unanswered bad-1; app.error is the message header), DISCONNECT, broker close. "
              "TRAPS: RabbitMQ ends every frame with NUL + '\\n' in the same message (app.trailing_eols: 1; not a separate heart-beat); "
              "RabbitMQ copies the SEND's receipt header into the MESSAGE it delivers (a server frame's receipt header asks for nothing); "
              "repeated headers: first wins; CONNECT/CONNECTED headers are not unescaped. id: receipt for client frames that carry one, else the subscription id "
              "(SUBSCRIBE/UNSUBSCRIBE), the ack header (MESSAGE; ACK/NACK carry it as id and answer that MESSAGE), receipt-id (RECEIPT). "
              "Peer logs: the client's (every message sent and received); the broker's log is kept for the ERROR frame (stomp_rabbitmq.broker.log)."),
}
