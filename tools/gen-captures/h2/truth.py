#!/usr/bin/env python3
"""Builds a truth file for an HTTP/2 capture: the independent parse
(h2parse.py), checked against tshark 4.0 (tshark_check) and, by the
scenario's own script, against the peers' logs (see README.md)."""
import collections
import json
import os
import subprocess

import h2parse as P


def hdr(headers, name):
    vals = [v for k, v in headers if k == name]
    return ", ".join(vals) if vals else None


def tcp_end(c):
    d = {"fin_c2s": c.c2s.fin is not None, "fin_s2c": c.s2c.fin is not None,
         "rst_from_client": c.c2s.rst is not None, "rst_from_server": c.s2c.rst is not None,
         "first_fin_from": c.first_fin}
    if d["rst_from_client"] or d["rst_from_server"]:
        end = "rst"
    elif d["fin_c2s"] or d["fin_s2c"]:
        end = "fin"
    else:
        end = "open"
    return end, d


def build(capture, keylog=None):
    """Returns (truth dict without notes/generator/verification, parse internals)."""
    conns, count, link = P.tcp_connections(capture)
    keys = P.read_keylog(keylog) if keylog else {}
    truth = {"capture": os.path.basename(capture), "format": "pcap",
             "link_type": {1: "Ethernet", 113: "Linux cooked-mode capture v1",
                           276: "Linux cooked-mode capture v2"}.get(link, str(link)),
             "link_type_dlt": link, "packet_count": count, "connections": [], "sessions": []}
    if keylog:
        truth["keylog"] = os.path.basename(keylog)
    internals = []
    for ci, c in enumerate(conns):
        end, detail = tcp_end(c)
        conn = {"client": c.client, "server": c.server, "transport": "tcp", "alpn": None, "h2": False,
                "h2_mode": None, "packets": len(c.packets), "first_packet": c.packets[0],
                "last_packet": c.packets[-1], "tcp_end": end, "tcp_detail": detail}
        gaps = {d: sorted(x.pending) for d, x in (("c2s", c.c2s), ("s2c", c.s2c)) if x.pending}
        if gaps:  # bytes never captured: the recording is not usable as a golden capture
            conn["tcp_gaps"] = gaps
        is_tls = len(c.c2s.buf) > 0 and c.c2s.buf[0] == 0x16
        if is_tls:
            t = P.tls_decrypt(c, keys)
            conn["transport"] = "tls"
            conn["alpn"] = t["alpn"]
            conn["tls"] = {"version": t["version"], "cipher_suite": t["cipher_suite"], "decrypted": t["decrypted"],
                           "sni": t["sni"], "alpn": t["alpn"], "reason": t["reason"]}
            conn["tls_detail"] = {"alpn_offered": t["alpn_offered"], "records": t["records"],
                                  "alerts": t["alerts"], "key_update": t["key_update"]}
            c2s, s2c = t["c2s"], t["s2c"]
            c.tls_records = t["record_list"]
        else:
            c2s, s2c = P.tcp_stream(c.c2s), P.tcp_stream(c.s2c)
        r = None
        first_line = bytes(c2s.buf[:bytes(c2s.buf).find(b"\r\n")]) if b"\r\n" in c2s.buf[:8192] else b""
        h2c_upgrade = b"h2c" in bytes(c2s.buf[:bytes(c2s.buf).find(b"\r\n\r\n") + 1]).lower() if first_line else False
        if first_line.endswith((b" HTTP/1.1", b" HTTP/1.0")) and not h2c_upgrade:
            http1_websocket(conn, c, c2s, s2c)
        elif len(c2s.buf) or len(s2c.buf):
            r = P.h2_parse(c2s, s2c)
        elif is_tls and conn["tls"]["decrypted"]:
            pass
        internals.append((c, r, c2s, s2c))
        if r is not None and (r["frames"]["c2s"] or r["frames"]["s2c"]):
            conn["h2"] = True
            conn["h2_mode"] = ("tls-alpn" if is_tls else
                               "upgrade" if r["mode"] == "upgrade" else "prior-knowledge")
        elif r is None and is_tls and conn["tls"]["decrypted"]:
            pass
        if r is not None:
            fill_h2(conn, r)
            if r["http1"]:
                conn["http1_upgrade"] = {
                    "request_line": r["http1"].get("request", {}).get("line"),
                    "request_headers": [list(x) for x in r["http1"].get("request", {}).get("headers", [])],
                    "request_packet": r["http1"].get("request", {}).get("packet"),
                    "response_line": r["http1"].get("response", {}).get("line"),
                    "response_headers": [list(x) for x in r["http1"].get("response", {}).get("headers", [])],
                    "response_packet": r["http1"].get("response", {}).get("packet")}
            for sid in sorted(r["streams"]):
                s = r["streams"][sid]
                rq = s["req_headers"]["headers"] if s["req_headers"] else []
                if hdr(rq, ":method") == "CONNECT" and hdr(rq, ":protocol") is not None:
                    truth["sessions"].append(session(ci, conn, c, r, s))
                elif sid != 0:
                    o = other_stream(s, r)
                    if sid == 1 and s["req_headers"] is None and r["http1"].get("request"):
                        # RFC 7540 s3.2: the HTTP/1.1 request that asked for the
                        # upgrade is stream 1, answered over HTTP/2
                        line = r["http1"]["request"]["line"].split()
                        o.update(method=line[0], path=line[1], request_packet=r["http1"]["request"]["packet"],
                                 authority=dict((k.lower(), v) for k, v in r["http1"]["request"]["headers"]).get("host"),
                                 via_http1_upgrade=True)
                    conn["other_streams"].append(o)
        elif is_tls:
            conn["h2_note"] = "no application data could be decrypted on this connection"
        truth["connections"].append(conn)
    return truth, internals


def fill_h2(conn, r):
    s2c_settings = r["settings"]["s2c"]
    conn["settings"] = {d: [{"values": x["values"], "packet": x["packet"]} for x in r["settings"][d]]
                        for d in ("c2s", "s2c")}
    ecp = None
    for x in s2c_settings:
        if "ENABLE_CONNECT_PROTOCOL" in x["values"]:
            ecp = x["values"]["ENABLE_CONNECT_PROTOCOL"]
    conn["enable_connect_protocol"] = ecp
    conn["goaway"] = r["goaway"]
    conn["rst_streams"] = r["rst"]
    conn["pings"] = r["pings"]
    conn["frame_counts"] = {d: dict(collections.Counter(f["type"] for f in r["frames"][d])) for d in ("c2s", "s2c")}
    conn["continuation_frames"] = sum(1 for d in ("c2s", "s2c") for f in r["frames"][d] if f["type"] == "CONTINUATION")
    conn["padded_frames"] = sum(s["padded_data_frames"] for s in r["streams"].values())
    conn["padded_headers"] = sum(1 for d in ("c2s", "s2c") for f in r["frames"][d]
                                 if f["type"] == "HEADERS" and f["flags"] & 0x8)
    pads = [f["pad"] for d in ("c2s", "s2c") for f in r["frames"][d] if f.get("pad") is not None and f["flags"] & 0x8]
    pads += [f["hpad"] for d in ("c2s", "s2c") for f in r["frames"][d] if f.get("hpad") is not None]
    conn["pad_length_range"] = [min(pads), max(pads)] if pads else None
    conn["hpack"] = r["hpack"]
    conn["other_streams"] = []
    conn["violations"] = []
    if r["problems"]:
        conn["h2_problems"] = r["problems"]


def other_stream(s, r):
    rq = s["req_headers"]["headers"] if s["req_headers"] else []
    rs = s["resp_headers"][0]["headers"] if s["resp_headers"] else []
    return {"stream_id": s["stream_id"], "method": hdr(rq, ":method"), "path": hdr(rq, ":path"),
            "authority": hdr(rq, ":authority"), "protocol": hdr(rq, ":protocol"),
            "status": int(hdr(rs, ":status")) if hdr(rs, ":status") else None,
            "request_packet": s["req_headers"]["last_packet"] if s["req_headers"] else None,
            "response_packet": s["resp_headers"][0]["last_packet"] if s["resp_headers"] else None,
            "request_body_len": len(s["data"]["c2s"].buf), "response_body_len": len(s["data"]["s2c"].buf),
            "end_stream": {d: s["end_stream"].get(d) for d in ("c2s", "s2c")}, "rst_stream": s["rst"]}


def session(ci, conn, c, r, s):
    rq = s["req_headers"]["headers"]
    rs = s["resp_headers"][0]["headers"] if s["resp_headers"] else []
    status = int(hdr(rs, ":status")) if hdr(rs, ":status") else None
    ext = hdr(rs, "sec-websocket-extensions")
    deflate = bool(ext and "permessage-deflate" in ext)
    hs = {"method": "CONNECT", "protocol": hdr(rq, ":protocol"), "scheme": hdr(rq, ":scheme"),
          "path": hdr(rq, ":path"), "authority": hdr(rq, ":authority"), "status": status,
          "offered_subprotocols": hdr(rq, "sec-websocket-protocol"), "subprotocol": hdr(rs, "sec-websocket-protocol"),
          "offered_extensions": hdr(rq, "sec-websocket-extensions"), "extensions": ext,
          "version": hdr(rq, "sec-websocket-version"), "sec_websocket_key": hdr(rq, "sec-websocket-key"),
          "request_packet": s["req_headers"]["last_packet"],
          "response_packet": s["resp_headers"][0]["last_packet"] if s["resp_headers"] else None,
          "request_complete": True, "response_complete": bool(s["resp_headers"])}
    messages, control, initiator, frames_n, incomplete, incomplete_msgs = ws_layer(
        s["data"]["c2s"], s["data"]["s2c"], ext)
    closes = [x for x in control if x["opcode"] == "close"]
    end = {"close": {"c2s": any(x["dir"] == "c2s" for x in closes), "s2c": any(x["dir"] == "s2c" for x in closes)},
           "end_stream": {d: s["end_stream"].get(d) for d in ("c2s", "s2c")},
           "rst_stream": s["rst"], "goaway": r["goaway"][0] if r["goaway"] else None, "tcp": conn["tcp_end"]}
    out = {"connection": ci, "client": conn["client"], "server": conn["server"], "transport": "h2",
           "stream_id": s["stream_id"], "handshake": hs, "is_websocket": status is not None and 200 <= status < 300,
           "messages": messages, "control": control, "close_initiator": initiator, "end": end,
           "data_frames": dict(s["data_frames"]), "ws_frames": frames_n,
           "stream_bytes": {d: len(s["data"][d].buf) for d in ("c2s", "s2c")}, "violations": []}
    out["incomplete_messages"] = incomplete_msgs
    if incomplete:
        out["incomplete_tail_bytes"] = incomplete
    return out


def ws_layer(c2s, s2c, ext):
    """RFC 6455 frames of both directions (Streams of the WebSocket bytes):
    messages, control frames, close initiator, frame counts, undecodable
    tail bytes and unfinished messages."""
    deflate = bool(ext and "permessage-deflate" in ext)
    messages, control, frames_n = [], [], {}
    incomplete, incomplete_msgs = {}, []
    for d, st, noto in (("c2s", c2s, "client_no_context_takeover"), ("s2c", s2c, "server_no_context_takeover")):
        frames, used = P.ws_frames(st)
        frames_n[d] = sum(1 for f in frames if not f.get("incomplete"))
        if used < len(st.buf):
            incomplete[d] = len(st.buf) - used
        ms, cs, partial = P.ws_messages(frames, deflate, bool(ext and noto in ext))
        if partial:
            partial["dir"] = d
            incomplete_msgs.append(partial)
        for m in ms:
            m["dir"] = d
        for x in cs:
            x["dir"] = d
        messages += ms
        control += cs
    messages.sort(key=lambda m: (m["last_packet"], 0 if m["dir"] == "c2s" else 1))
    control.sort(key=lambda x: (x["packet"], 0 if x["dir"] == "c2s" else 1))
    order = ["dir", "opcode", "frames", "compressed", "payload_len", "wire_payload_len", "sha256", "text",
             "first_packet", "last_packet"]
    messages = [dict({k: m[k] for k in order}, **({"utf8_valid": False} if m.get("utf8_valid") is False else {}))
                for m in messages]
    control = [{k: x[k] for k in ("dir", "opcode", "payload_len", "close_code", "close_reason", "packet")}
               for x in control]
    closes = [x for x in control if x["opcode"] == "close"]
    initiator = ("client" if closes[0]["dir"] == "c2s" else "server") if closes else None
    return messages, control, initiator, frames_n, incomplete, incomplete_msgs


def substream(st, off):
    out = P.Stream()
    out.extend(bytes(st.buf[off:]), st.first[off:], st.last[off:])
    return out


def http1_websocket(conn, c, c2s, s2c):
    """An HTTP/1.1 connection (RFC 6455 s4 handshake): the fields of the
    main README (handshake, messages, control, close_initiator, is_websocket).
    Returns False when the client's bytes are not an HTTP/1.1 request."""
    import base64
    import hashlib as _h
    rq = P.http1_head(c2s.buf)
    if rq is None or " HTTP/1." not in rq[0]:
        return False
    rs = P.http1_head(s2c.buf)
    rh = [(k.lower(), v) for k, v in rq[1]]
    sh = [(k.lower(), v) for k, v in rs[1]] if rs else []
    status = int(rs[0].split()[1]) if rs else None
    key, accept = hdr(rh, "sec-websocket-key"), hdr(sh, "sec-websocket-accept")
    valid = None
    if key and accept is not None:
        valid = accept == base64.b64encode(_h.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    ext = hdr(sh, "sec-websocket-extensions")
    conn["handshake"] = {"seen": True, "request_target": rq[0].split()[1], "sec_websocket_key": key, "status": status,
                         "sec_websocket_accept": accept, "accept_valid": valid,
                         "subprotocol": hdr(sh, "sec-websocket-protocol"), "extensions": ext,
                         "offered_subprotocols": hdr(rh, "sec-websocket-protocol"),
                         "offered_extensions": hdr(rh, "sec-websocket-extensions"),
                         "request_complete": True, "response_complete": rs is not None,
                         "request_packet": c2s.last[rq[2] - 1], "response_packet": s2c.last[rs[2] - 1] if rs else None}
    conn["websocket_transport"] = "http/1.1"
    if status == 101 and valid:
        wc, ws_ = substream(c2s, rq[2]), substream(s2c, rs[2])
        c.ws_streams = (wc, ws_)
        m, ctl, init, fn, inc, incm = ws_layer(wc, ws_, ext)
        conn.update(messages=m, control=ctl, close_initiator=init, is_websocket=True, ws_frames=fn,
                    incomplete_messages=incm, violations=[])
        if inc:
            conn["incomplete_tail_bytes"] = inc
    else:
        conn.update(messages=[], control=[], close_initiator=None, is_websocket=False, violations=[])
    return True


# ------------------------------------------------------------------ tshark

def tshark_check(capture, keylog, internals, truth):
    """Compares our HTTP/2 frames, headers and per-stream DATA bytes with
    tshark's (4.0) dissection; returns the verification dict."""
    # the full dissection tree (one object per HTTP/2 frame, padding and
    # pad length per frame), duplicate keys merged into lists
    args = ["tshark", "-r", capture, "-Y", "http2", "-T", "json", "--no-duplicate-keys", "-J", "frame tcp http2"]
    if keylog:
        args[3:3] = ["-o", "tls.keylog_file:" + keylog]
    # cleartext with prior knowledge: tell tshark the port is HTTP/2; the
    # HTTP/1.1 Upgrade path is followed by tshark's HTTP dissector itself
    # (port 8080 is one of its HTTP ports)
    ports = set()
    for c, r, _, _ in internals:
        if r is not None and r["mode"] == "preface" and c.c2s.buf[:1] != b"\x16":
            ports.add(c.server.rsplit(":", 1)[1])
    for p in sorted(ports):
        args[3:3] = ["-d", "tcp.port==%s,http2" % p]
    out = json.loads(subprocess.run(args, capture_output=True, check=True).stdout or b"[]")
    ts_frames = collections.defaultdict(list)      # (client, dir) -> [(pkt, sid, type, len)]
    ts_data = collections.defaultdict(bytearray)   # (client, dir, sid) -> bytes
    ts_headers = collections.defaultdict(list)     # (client, dir, sid) -> [names]
    by_port = {}
    for ci, (c, r, _, _) in enumerate(internals):
        by_port[int(c.client.rsplit(":", 1)[1])] = c

    def as_list(x):
        return x if isinstance(x, list) else [x]

    def first(x):
        return as_list(x)[0]

    for pkt in out:
        L = pkt["_source"]["layers"]
        n = int(first(L["frame"]["frame.number"]))
        sp, dp = int(first(L["tcp"]["tcp.srcport"])), int(first(L["tcp"]["tcp.dstport"]))
        if sp in by_port:
            c, d = by_port[sp], "c2s"
        elif dp in by_port:
            c, d = by_port[dp], "s2c"
        else:
            continue
        for h in as_list(L.get("http2", [])):
            if not isinstance(h, dict):
                continue
            for fr in as_list(h.get("http2.stream", [])):
                if not isinstance(fr, dict) or "http2.type" not in fr:
                    continue  # e.g. the connection preface item
                t, sid, ln = int(first(fr["http2.type"])), int(first(fr["http2.streamid"])), int(first(fr["http2.length"]))
                ts_frames[(c.client, d)].append((n, sid, t, ln))
                if t == 0:
                    flags = int(first(fr["http2.flags"]), 16)
                    pad = int(first(fr.get("http2.pad_length", "0"))) if flags & 0x8 else 0
                    dlen = ln - (1 + pad) if flags & 0x8 else ln
                    raw = first(fr.get("http2.data.data", ""))
                    b = bytes.fromhex(raw.replace(":", "")) if raw and raw != "<MISSING>" else b""
                    # tshark 4.0 sometimes includes the padding in http2.data.data
                    if pad and len(b) >= dlen + pad and b.endswith(bytes(pad)):
                        b = b[:len(b) - pad]
                    # on the last DATA frame of a body tshark 4.0 shows the whole
                    # reassembled body: keep the tail that is this frame's data
                    ts_data[(c.client, d, sid)] += b[-dlen:] if dlen and len(b) > dlen else (b if dlen else b"")
                if t == 1 or t == 9:
                    names = [first(x["http2.header.name"]) for x in as_list(fr.get("http2.header", []))
                             if isinstance(x, dict) and "http2.header.name" in x]
                    # tshark 4.0 lists each header under the frame whose
                    # bytes carried it: a CONTINUATION continues the block
                    if t == 9 and ts_headers[(c.client, d, sid)]:
                        ts_headers[(c.client, d, sid)][-1].extend(names)
                    elif names:
                        ts_headers[(c.client, d, sid)].append(names)
    res = {"connections": [], "frames_agree": True, "data_agree": True, "disagreements": []}
    for c, r, _, _ in internals:
        if r is None:
            continue
        entry = {"client": c.client}
        for d in ("c2s", "s2c"):
            ours = [(f["last_packet"], f["stream_id"], [k for k, v in P.FRAME_TYPES.items() if v == f["type"]][0]
                     if f["type"] in P.FRAME_TYPES.values() else int(f["type"], 16), f["length"])
                    for f in r["frames"][d]]
            theirs = ts_frames[(c.client, d)]
            same = sorted(ours) == sorted(theirs)
            entry[d] = {"h2_frames_ours": len(ours), "h2_frames_tshark": len(theirs),
                        "frames_and_packets_agree": same}
            if not same:
                res["frames_agree"] = False
                so, st = collections.Counter(ours), collections.Counter(theirs)
                res["disagreements"].append({"client": c.client, "dir": d,
                                             "only_ours": [list(x) for x in (so - st).elements()][:10],
                                             "only_tshark": [list(x) for x in (st - so).elements()][:10]})
            streams_ok = 0
            for sid, s in r["streams"].items():
                mine = bytes(s["data"][d].buf)
                theirs_b = bytes(ts_data.get((c.client, d, sid), b""))
                if mine == theirs_b:
                    streams_ok += 1
                else:
                    res["data_agree"] = False
                    res["disagreements"].append({"client": c.client, "dir": d, "stream": sid,
                                                 "data_ours": len(mine), "data_tshark": len(theirs_b)})
            entry[d]["streams_with_identical_data"] = streams_ok
            entry[d]["streams"] = len(r["streams"])
        entry["header_blocks_tshark"] = sum(len(v) for k, v in ts_headers.items() if k[0] == c.client)
        res["connections"].append(entry)
    # the byte -> packet maps: TCP segments (relative seq, length) and TLS
    # records (packet where tshark shows them, length) as tshark sees them
    fields = ["tshark", "-r", capture, "-T", "fields", "-e", "frame.number", "-e", "tcp.srcport", "-e", "tcp.dstport",
              "-e", "tcp.seq", "-e", "tcp.len", "-e", "tls.record.length", "-Y", "tcp"]
    if keylog:
        fields[3:3] = ["-o", "tls.keylog_file:" + keylog]
    seg_t, rec_t = collections.defaultdict(list), collections.defaultdict(list)
    for line in subprocess.run(fields, capture_output=True, check=True).stdout.decode().splitlines():
        f = line.split("\t")
        n, sp, dp, seq, ln = int(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4])
        if sp in by_port:
            key = (by_port[sp].client, "c2s")
        elif dp in by_port:
            key = (by_port[dp].client, "s2c")
        else:
            continue
        if ln:
            seg_t[key].append((n, seq - 1, ln))
        if len(f) > 5 and f[5]:
            for rl in f[5].split(","):
                rec_t[key].append((n, int(rl)))
    seg_ok, rec_ok = True, True
    for c, r, _, _ in internals:
        for d, dd in (("c2s", c.c2s), ("s2c", c.s2c)):
            if sorted(dd.segs) != sorted(seg_t[(c.client, d)]):
                seg_ok = False
                res["disagreements"].append({"client": c.client, "dir": d, "what": "tcp segments"})
            recs = getattr(c, "tls_records", None)
            if recs is not None and sorted(recs[d]) != sorted(rec_t[(c.client, d)]):
                rec_ok = False
                res["disagreements"].append({"client": c.client, "dir": d, "what": "tls records",
                                             "ours": len(recs[d]), "tshark": len(rec_t[(c.client, d)])})
    res["tcp_segments_agree"] = seg_ok
    # HTTP/1.1 WebSocket connections (a browser's fallback): tshark 4.0 does
    # dissect these; compare every frame (packet, opcode, 7-bit payload length)
    ws1 = [(c, c.ws_streams) for c, _, _, _ in internals if getattr(c, "ws_streams", None)]
    if ws1:
        wargs = ["tshark", "-r", capture, "-Y", "websocket", "-T", "fields", "-e", "frame.number", "-e", "tcp.srcport",
                 "-e", "tcp.dstport", "-e", "websocket.opcode", "-e", "websocket.payload_length"]
        if keylog:
            wargs[3:3] = ["-o", "tls.keylog_file:" + keylog]
        ts_ws = collections.defaultdict(list)
        for line in subprocess.run(wargs, capture_output=True, check=True).stdout.decode().splitlines():
            f = line.split("\t")
            n, sp, dp = int(f[0]), int(f[1]), int(f[2])
            key = (by_port[sp].client, "c2s") if sp in by_port else (by_port[dp].client, "s2c") if dp in by_port else None
            if key is None:
                continue
            for op, ln in zip(f[3].split(","), f[4].split(",")):
                ts_ws[key].append((n, int(op), int(ln)))
        ok = True
        for c, (wc, ws_) in ws1:
            for d, st in (("c2s", wc), ("s2c", ws_)):
                fr, _ = P.ws_frames(st)
                # websocket.payload_length is the 7-bit field (126/127 announce an extended length)
                ours = [(f["last_packet"], f["opcode"], f["len"] if f["len"] < 126 else 126 if f["len"] < 65536 else 127)
                        for f in fr if not f.get("incomplete")]
                if sorted(ours) != sorted(ts_ws[(c.client, d)]):
                    ok = False
                    res["disagreements"].append({"client": c.client, "dir": d, "what": "websocket frames (HTTP/1.1)",
                                                 "ours": len(ours), "tshark": len(ts_ws[(c.client, d)])})
        res["http1_websocket_frames_agree"] = ok
        res["http1_websocket_connections"] = len(ws1)
    if keylog:
        res["tls_records_agree"] = rec_ok
    # the WebSocket layer: tshark 4.0 does not dissect WebSocket inside HTTP/2
    args2 = ["tshark", "-r", capture, "-Y", "websocket"]
    if keylog:
        args2[3:3] = ["-o", "tls.keylog_file:" + keylog]
    res["tshark_websocket_packets"] = len(subprocess.run(args2, capture_output=True).stdout.splitlines())
    if keylog:
        res["tshark_without_keylog_http2_packets"] = len(subprocess.run(
            ["tshark", "-r", capture, "-Y", "http2"], capture_output=True).stdout.splitlines())
    # header names: compare tshark's per-stream name lists with ours
    hdr_ok, hdr_bad = 0, []
    for c, r, _, _ in internals:
        if r is None:
            continue
        for sid, s in r["streams"].items():
            blocks = []
            if s["req_headers"]:
                blocks.append(("c2s", [k for k, _ in s["req_headers"]["headers"]]))
            for h in s["resp_headers"]:
                blocks.append(("s2c", [k for k, _ in h["headers"]]))
            for d, names in blocks:
                if names in ts_headers.get((c.client, d, sid), []):
                    hdr_ok += 1
                else:
                    hdr_bad.append({"client": c.client, "stream": sid, "dir": d})
    res["header_blocks_agree"] = hdr_ok
    res["header_blocks_disagree"] = hdr_bad
    return res


def dump(truth, path):
    with open(path, "w") as f:
        json.dump(truth, f, indent=1, ensure_ascii=False)
        f.write("\n")
