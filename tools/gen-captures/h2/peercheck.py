#!/usr/bin/env python3
"""Compares a truth file with the peers' own logs (JSON lines written by the
peers of every scenario, see README.md): the exact stream bytes each side
handed to / got from its HTTP/2 layer, and every wsproto event it sent or
received. Returns counts and a list of problems (empty when all agree)."""
import base64
import collections
import json

import h2parse as P


def load(path):
    return [json.loads(l) for l in open(path)]


def stream_bytes(internals, conn_index, sid):
    c, r, _, _ = internals[conn_index]
    s = r["streams"][sid]
    return bytes(s["data"]["c2s"].buf), bytes(s["data"]["s2c"].buf)


def check_side(log, side, truth, internals, conn_of_stream=None, key_map=None):
    """log: entries of one peer (side 'client' or 'server'). conn_of_stream:
    maps the log's stream ids to a truth connection index (default: the
    session's own connection, when the stream id is unique). key_map: the
    log's (conn, stream id) -> (connection index, HTTP/2 stream id), for a
    peer behind a proxy whose stream ids are not the capture's."""
    out_dir, in_dir = ("c2s", "s2c") if side == "client" else ("s2c", "c2s")
    problems, counts = [], collections.Counter()
    sent = collections.defaultdict(bytearray)
    recv = collections.defaultdict(bytearray)
    ev_sent = collections.defaultdict(list)
    ev_recv = collections.defaultdict(list)
    for e in log:
        if e.get("side") != side or e.get("layer") != "ws":
            continue
        key = (e.get("conn", 0), e["stream_id"])
        if e["event"] == "StreamData":
            (sent if e["dir"] == "send" else recv)[key] += base64.b64decode(e["b64"])
        elif e["event"] == "wsproto":
            (ev_sent if e["dir"] == "send" else ev_recv)[key].append(e["ev"])
        elif e["event"] == "refused" and ev_sent[key]:
            ev_sent[key].pop()  # wsproto refused to send it: never on the wire
    sessions = {}
    for s in truth["sessions"]:
        sessions[(s["connection"], s["stream_id"])] = s
    # HTTP/1.1 WebSocket connections: key (index, None); their bytes are
    # those after the handshake (h2parse's caller stores them as ws_streams)
    for ci, c in enumerate(truth["connections"]):
        if c.get("is_websocket") and "messages" in c:
            sessions[(ci, None)] = c
    keymap = {}
    for key in set(sent) | set(recv) | set(ev_sent) | set(ev_recv):
        conn, sid = key
        if key_map is not None:
            keymap[key] = key_map.get(key, (None, None))
            continue
        if conn_of_stream is not None:
            ci = conn_of_stream(conn, sid)
        else:
            cands = [k for k in sessions if k[1] == sid]
            ci = cands[0][0] if len(cands) == 1 else None
        keymap[key] = ci
    for key, ci in keymap.items():
        sid = key[1]
        if isinstance(ci, tuple):
            ci, sid = ci
        if ci is None or (ci, sid) not in sessions:
            problems.append("%s log stream %s has no session in the truth" % (side, key))
            continue
        if sid is None:
            c2s, s2c = (bytes(x.buf) for x in internals[ci][0].ws_streams)
        else:
            c2s, s2c = stream_bytes(internals, ci, sid)
        ours_out, ours_in = (c2s, s2c) if side == "client" else (s2c, c2s)
        if bytes(sent[key]) != ours_out:
            problems.append("%s stream %s: bytes sent per log (%d) != capture %s (%d)" % (
                side, sid, len(sent[key]), out_dir, len(ours_out)))
        else:
            counts["streams_bytes_sent_identical"] += 1
        if bytes(recv[key]) != ours_in:
            # a peer may stop reading after a reset: a prefix is acceptable
            if ours_in.startswith(bytes(recv[key])):
                counts["streams_bytes_received_prefix"] += 1
            else:
                problems.append("%s stream %s: bytes received per log (%d) != capture %s (%d)" % (
                    side, sid, len(recv[key]), in_dir, len(ours_in)))
        else:
            counts["streams_bytes_received_identical"] += 1
        sess = sessions[(ci, sid)]
        for evs, d, what in ((ev_sent[key], out_dir, "sent"), (ev_recv[key], in_dir, "received")):
            msgs, ctrl, cur = [], [], None
            for ev in evs:
                t = ev["type"]
                if t in ("TextMessage", "BytesMessage"):
                    if cur is None:
                        cur = {"opcode": "text" if t == "TextMessage" else "binary", "parts": []}
                    cur["parts"].append(ev)
                    if ev["message_finished"]:
                        if len(cur["parts"]) == 1:
                            msgs.append((cur["opcode"], ev["len"], ev["sha256"]))
                        else:  # reassembled: length only (sha per part)
                            msgs.append((cur["opcode"], sum(p["len"] for p in cur["parts"]), None))
                        cur = None
                elif t in ("Ping", "Pong"):
                    ctrl.append((t.lower(), len(bytes.fromhex(ev["payload_hex"])), None, None))
                elif t == "CloseConnection":
                    ctrl.append(("close", None, ev["code"], ev["reason"] or ""))
            ours_m = [(m["opcode"], m["payload_len"], m["sha256"]) for m in sess["messages"] if m["dir"] == d]
            ours_c = [(c["opcode"], c["payload_len"] if c["opcode"] != "close" else None,
                       c["close_code"], c["close_reason"] if c["opcode"] == "close" else None)
                      for c in sess["control"] if c["dir"] == d]
            cmp_m = [(o, l, h if s is not None else None) for (o, l, h), (_, _, s) in zip(ours_m, msgs)]
            if len(ours_m) != len(msgs) or cmp_m != msgs:
                problems.append("%s stream %s: messages %s per log differ from capture %s" % (side, sid, what, d))
            else:
                counts["messages_verified"] += len(msgs)
            if ours_c != ctrl:
                problems.append("%s stream %s: control frames %s per log %s != capture %s" % (
                    side, sid, what, ctrl, ours_c))
            else:
                counts["control_verified"] += len(ctrl)
    return dict(counts), problems


def check_h2_events(log, side, truth, internals, conn_index_of=lambda e: 0):
    """The h2 layer as a peer saw it: request headers received / response
    headers sent (server), RST_STREAM and GOAWAY received."""
    problems, counts = [], collections.Counter()
    for e in log:
        if e.get("side") != side or e.get("layer") != "h2":
            continue
        ci = conn_index_of(e)
        c, r, _, _ = internals[ci]
        sid = e.get("stream_id")
        if e["event"] in ("RequestReceived", "ResponseReceived", "SendHeaders"):
            s = r["streams"].get(sid)
            if s is None:
                problems.append("%s: headers on stream %s not in capture" % (side, sid))
                continue
            blocks = ([s["req_headers"]["headers"]] if s["req_headers"] else []) + [h["headers"] for h in s["resp_headers"]]
            want = [tuple(x) for x in e["headers"]]
            if any([tuple(x) for x in b] == want for b in blocks):
                counts["header_blocks_verified"] += 1
            else:
                problems.append("%s: headers of stream %s (%s) differ from capture" % (side, sid, e["event"]))
        elif e["event"] == "StreamReset":
            if any(x["stream_id"] == sid and x["error_code"] == e.get("error_code") for x in r["rst"]):
                counts["rst_verified"] += 1
            else:
                problems.append("%s: RST_STREAM on %s code %s not in capture" % (side, sid, e.get("error_code")))
        elif e["event"] == "ConnectionTerminated":
            if any(g["error_code"] == e.get("error_code") and g["last_stream_id"] == e.get("last_stream_id")
                   for g in r["goaway"]):
                counts["goaway_verified"] += 1
            else:
                problems.append("%s: GOAWAY %s not in capture" % (side, e))
    return dict(counts), problems
