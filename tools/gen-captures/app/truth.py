#!/usr/bin/env python3
"""Independent parse of a loopback capture into the truth-file layout of
captures/README.md (connections, handshake, messages, control frames, packet
numbers), written without wsinspect's code: pcap → Ethernet/IPv4 → TCP
reassembly (first copy of a byte wins; a byte is delivered by the packet
that made the stream contiguous up to it) → HTTP/1.1 → RFC 6455 frames →
messages (permessage-deflate inflated per RFC 7692 §7.2.2).

Used as a module by the generators (annotate.py adds the `app` records) and
as a command: `truth.py CAPTURE` prints the JSON.
"""
import base64, hashlib, json, struct, sys, zlib

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_pcap(path):
    """Returns (format, dlt, [(ts_ns, bytes)]) for a classic pcap file
    (micro- or nanosecond magic)."""
    raw = open(path, "rb").read()
    magic = raw[:4]
    table = {b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
             b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1)}
    if magic not in table:
        raise SystemExit(f"{path}: not a classic pcap file")
    end, mult = table[magic]
    dlt = struct.unpack(end + "I", raw[20:24])[0]
    off, pkts = 24, []
    while off + 16 <= len(raw):
        sec, frac, incl, _orig = struct.unpack(end + "IIII", raw[off:off + 16])
        pkts.append((sec * 1_000_000_000 + frac * mult, raw[off + 16:off + 16 + incl]))
        off += 16 + incl
    return "pcap", dlt, pkts


def tcp_of(dlt, data):
    if dlt != 1:
        raise SystemExit(f"link type {dlt} not handled (loopback Ethernet expected)")
    if struct.unpack(">H", data[12:14])[0] != 0x0800:
        return None
    ip = data[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != 6:
        return None
    tot = struct.unpack(">H", ip[2:4])[0]
    src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
    tcp = ip[ihl:tot]
    sport, dport, seq, _ack, offflags = struct.unpack(">HHIIH", tcp[:14])
    doff = (offflags >> 12) * 4
    flags = offflags & 0x1FF
    return {"src": f"{src}:{sport}", "dst": f"{dst}:{dport}", "seq": seq, "flags": flags,
            "payload": bytes(tcp[doff:])}


SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10


class Stream:
    """One direction of a TCP connection: bytes by offset, the packet that
    first carried each byte and the packet that delivered it in order."""

    def __init__(self):
        self.isn = None
        self.data = bytearray()
        self.have = bytearray()
        self.first = []
        self.deliv = []
        self.delivered = 0

    def add(self, seq, payload, pkt, syn):
        if syn:
            self.isn = (seq + 1) & 0xFFFFFFFF
            return
        if not payload:
            return
        if self.isn is None:
            self.isn = seq
        rel = (seq - self.isn) & 0xFFFFFFFF
        if rel > 0x7FFFFFFF:
            return
        need = rel + len(payload)
        if need > len(self.data):
            grow = need - len(self.data)
            self.data.extend(b"\0" * grow)
            self.have.extend(b"\0" * grow)
            self.first.extend([None] * grow)
            self.deliv.extend([None] * grow)
        for i, b in enumerate(payload):
            j = rel + i
            if not self.have[j]:
                self.have[j] = 1
                self.data[j] = b
                self.first[j] = pkt
        while self.delivered < len(self.have) and self.have[self.delivered]:
            self.deliv[self.delivered] = pkt
            self.delivered += 1

    def bytes(self):
        return bytes(self.data[:self.delivered])


def connections(pkts, dlt):
    conns, open_by_pair = [], {}
    for no, (ts, data) in enumerate(pkts, 1):
        t = tcp_of(dlt, data)
        if t is None:
            continue
        pair = frozenset((t["src"], t["dst"]))
        c = open_by_pair.get(pair)
        syn_only = t["flags"] & SYN and not t["flags"] & ACK
        if c is None or (syn_only and c["ended"] and t["seq"] != c["syn_seq"]):
            c = {"client": t["src"] if (syn_only or c is None) else None, "server": None,
                 "pkts": [], "streams": {}, "fin": {}, "rst": {}, "first_fin": None,
                 "ended": False, "syn_seq": t["seq"] if syn_only else None}
            if not syn_only:
                c["client"] = t["src"]  # refined below by masking if needed
            c["server"] = t["dst"]
            conns.append(c)
            open_by_pair[pair] = c
        c["pkts"].append((no, ts))
        s = c["streams"].setdefault(t["src"], Stream())
        s.add(t["seq"], t["payload"], no, bool(t["flags"] & SYN))
        if t["flags"] & FIN:
            c["fin"][t["src"]] = True
            c["ended"] = True
            if c["first_fin"] is None:
                c["first_fin"] = t["src"]
        if t["flags"] & RST:
            c["rst"][t["src"]] = True
            c["ended"] = True
    return conns


def parse_headers(block):
    lines = block.decode("latin-1").split("\r\n")
    start = lines[0]
    headers = []
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            headers.append((k.strip().lower(), v.strip()))
    return start, headers


def hv(headers, name):
    vals = [v for k, v in headers if k == name]
    return ", ".join(vals) if vals else None


def http_messages(buf, is_request):
    """Splits a byte stream into HTTP/1.1 messages: (start offset, header
    end offset, start line, headers, body, complete)."""
    out, off = [], 0
    while off < len(buf):
        end = buf.find(b"\r\n\r\n", off)
        if end < 0:
            out.append((off, None, None, [], b"", False))
            break
        start, headers = parse_headers(buf[off:end])
        body_start = end + 4
        te = (hv(headers, "transfer-encoding") or "").lower()
        cl = hv(headers, "content-length")
        status = None if is_request else int(start.split()[1])
        if "chunked" in te:
            body, p = b"", body_start
            while True:
                nl = buf.find(b"\r\n", p)
                if nl < 0:
                    break
                n = int(buf[p:nl].split(b";")[0], 16)
                body += buf[nl + 2:nl + 2 + n]
                p = nl + 2 + n + 2
                if n == 0:
                    break
            nxt = p
        elif cl is not None:
            nxt = body_start + int(cl)
            body = buf[body_start:nxt]
        else:
            nxt = body_start
            body = b""
        out.append((off, end + 4, start, headers, body, nxt <= len(buf)))
        if status == 101:
            break
        off = nxt
    return out


def ws_frames(buf, base, stream):
    """RFC 6455 §5.2 frames from offset `base` of a direction's bytes."""
    frames, off = [], base
    while off + 2 <= len(buf):
        b0, b1 = buf[off], buf[off + 1]
        n, p = b1 & 0x7F, off + 2
        if n == 126:
            if p + 2 > len(buf):
                break
            n = struct.unpack(">H", buf[p:p + 2])[0]
            p += 2
        elif n == 127:
            if p + 8 > len(buf):
                break
            n = struct.unpack(">Q", buf[p:p + 8])[0]
            p += 8
        key = None
        if b1 & 0x80:
            key = buf[p:p + 4]
            p += 4
        if p + n > len(buf):
            break
        payload = bytearray(buf[p:p + n])
        if key:
            for i in range(n):
                payload[i] ^= key[i & 3]
        frames.append({"fin": bool(b0 & 0x80), "rsv1": bool(b0 & 0x40), "opcode": b0 & 0x0F,
                       "payload": bytes(payload), "wire_len": n, "masked": key is not None,
                       "first_packet": stream.first[off], "last_packet": stream.deliv[p + n - 1],
                       "start": off})
        off = p + n
    return frames, off


def deflate_params(ext):
    """permessage-deflate parameters of the negotiated extension header."""
    if not ext or "permessage-deflate" not in ext:
        return None
    params = {}
    for part in ext.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        params[k] = v.strip('"')
    return params


def messages_of(frames, direction, deflate, role_no_takeover):
    msgs, ctrl, cur = [], [], None
    inflater = zlib.decompressobj(-15)
    for f in frames:
        op = f["opcode"]
        if op >= 8:
            entry = {"dir": direction, "opcode": {8: "close", 9: "ping", 10: "pong"}[op],
                     "payload_len": len(f["payload"]), "packet": f["last_packet"]}
            if op == 8:
                if len(f["payload"]) >= 2:
                    entry["close_code"] = struct.unpack(">H", f["payload"][:2])[0]
                    entry["close_reason"] = f["payload"][2:].decode()
                else:
                    entry["close_code"] = entry["close_reason"] = None
            ctrl.append(entry)
            continue
        if op in (1, 2):
            cur = {"opcode": op, "frames": [f]}
        else:
            cur["frames"].append(f)
        if not f["fin"]:
            continue
        fs = cur["frames"]
        wire = b"".join(x["payload"] for x in fs)
        compressed = fs[0]["rsv1"]
        if compressed:
            if role_no_takeover:
                inflater = zlib.decompressobj(-15)
            payload = inflater.decompress(wire + b"\x00\x00\xff\xff")
        else:
            payload = wire
        m = {"dir": direction, "opcode": "text" if cur["opcode"] == 1 else "binary",
             "frames": len(fs), "compressed": compressed, "payload_len": len(payload),
             "sha256": hashlib.sha256(payload).hexdigest(),
             "text": payload.decode()[:80] if cur["opcode"] == 1 else None,
             "wire_payload_len": sum(x["wire_len"] for x in fs),
             "first_packet": fs[0]["first_packet"], "last_packet": fs[-1]["last_packet"],
             "_payload": payload}
        msgs.append(m)
        cur = None
    return msgs, ctrl


def build(path):
    fmt, dlt, pkts = read_pcap(path)
    times = {no: ts for no, (ts, _d) in enumerate(pkts, 1)}
    out = {"capture": path.rsplit("/", 1)[-1], "format": fmt,
           "link_type": {1: "Ethernet"}[dlt], "link_type_dlt": dlt, "packet_count": len(pkts),
           "connections": []}
    for c in conns_of(pkts, dlt):
        out["connections"].append(c)
    return out, times


def conns_of(pkts, dlt):
    result = []
    for c in connections(pkts, dlt):
        cli, srv = c["client"], c["server"]
        cs, ss = c["streams"].get(cli, Stream()), c["streams"].get(srv, Stream())
        cbuf, sbuf = cs.bytes(), ss.bytes()
        reqs = http_messages(cbuf, True) if cbuf[:4] in (b"GET ", b"POST", b"PUT ", b"HEAD", b"OPTI") else []
        resps = http_messages(sbuf, False) if sbuf.startswith(b"HTTP/") else []
        if not reqs and not resps:
            continue
        hs = {"seen": False, "request_target": None, "sec_websocket_key": None, "status": None,
              "sec_websocket_accept": None, "accept_valid": None, "subprotocol": None,
              "extensions": None}
        upgrade_idx = None
        for i, r in enumerate(reqs):
            if r[2] and (hv(r[3], "upgrade") or "").lower() == "websocket":
                upgrade_idx = i
        conn = {"client": cli, "server": srv, "handshake": hs, "messages": [], "control": []}
        is_ws = False
        if upgrade_idx is not None:
            r = reqs[upgrade_idx]
            resp = resps[upgrade_idx] if upgrade_idx < len(resps) else None
            key = hv(r[3], "sec-websocket-key")
            hs.update({"seen": True, "request_target": r[2].split()[1], "sec_websocket_key": key,
                       "offered_subprotocols": hv(r[3], "sec-websocket-protocol"),
                       "offered_extensions": hv(r[3], "sec-websocket-extensions"),
                       "request_complete": r[1] is not None,
                       "response_complete": bool(resp and resp[1] is not None)})
            if resp and resp[2]:
                acc = hv(resp[3], "sec-websocket-accept")
                hs.update({"status": int(resp[2].split()[1]), "sec_websocket_accept": acc,
                           "subprotocol": hv(resp[3], "sec-websocket-protocol"),
                           "extensions": hv(resp[3], "sec-websocket-extensions")})
                if acc is not None and key is not None:
                    want = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
                    hs["accept_valid"] = acc == want
                if hs["status"] == 101 and hs["accept_valid"]:
                    is_ws = True
                    cfr, _ = ws_frames(cbuf, r[1], cs)
                    sfr, _ = ws_frames(sbuf, resp[1], ss)
                    dp = deflate_params(hs["extensions"])
                    cm, cc = messages_of(cfr, "c2s", dp, dp is not None and "client_no_context_takeover" in dp)
                    sm, sc = messages_of(sfr, "s2c", dp, dp is not None and "server_no_context_takeover" in dp)
                    # Order of completion; ties (same packet) keep per-direction order.
                    conn["messages"] = sorted(cm + sm, key=lambda m: m["last_packet"])
                    conn["control"] = sorted(cc + sc, key=lambda m: m["packet"])
                    conn["_frames"] = {"c2s": cfr, "s2c": sfr}
        closes = [x for x in conn["control"] if x["opcode"] == "close"]
        conn["close_initiator"] = ({"c2s": "client", "s2c": "server"}[closes[0]["dir"]]
                                   if closes else None)
        conn["tcp_end"] = "rst" if c["rst"] else ("fin" if c["fin"] else "open")
        conn["tcp_detail"] = {"fin_c2s": bool(c["fin"].get(cli)), "fin_s2c": bool(c["fin"].get(srv)),
                              "rst_from_client": bool(c["rst"].get(cli)),
                              "rst_from_server": bool(c["rst"].get(srv)),
                              "first_fin_from": {cli: "client", srv: "server", None: None}[c["first_fin"]]}
        conn["is_websocket"] = is_ws
        conn["packets"] = len(c["pkts"])
        conn["first_packet"] = c["pkts"][0][0]
        conn["last_packet"] = c["pkts"][-1][0]
        conn["violations"] = []
        if not is_ws or len(reqs) > 1:
            ex = []
            for i, r in enumerate(reqs):
                if r[2] is None:
                    continue
                resp = resps[i] if i < len(resps) else None
                e = {"method": r[2].split()[0], "target": r[2].split()[1],
                     "upgrade": (hv(r[3], "upgrade") or "").lower() == "websocket",
                     "status": int(resp[2].split()[1]) if resp and resp[2] else None,
                     "request_packet": cs.first[r[0]],
                     "response_packet": ss.first[resp[0]] if resp else None,
                     "request_complete": r[1] is not None and r[5],
                     "response_complete": bool(resp and resp[1] is not None and resp[5]),
                     "_request_body": r[4], "_response_body": resp[4] if resp else b"",
                     "_request_last_packet": cs.deliv[min(len(cbuf), (r[1] or 0) + len(r[4])) - 1],
                     "_response_last_packet": (ss.deliv[min(len(sbuf), resp[1] + len(resp[4])) - 1]
                                               if resp and resp[1] else None)}
                ex.append(e)
            conn["http_exchanges"] = ex
        result.append(conn)
    return result


def strip_private(obj):
    if isinstance(obj, dict):
        return {k: strip_private(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [strip_private(v) for v in obj]
    return obj


if __name__ == "__main__":
    t, _ = build(sys.argv[1])
    print(json.dumps(strip_private(t), indent=1, ensure_ascii=False))
