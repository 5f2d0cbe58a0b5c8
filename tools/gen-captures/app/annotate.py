#!/usr/bin/env python3
"""Builds the truth file of an application-protocol capture: the WebSocket
layer from truth.py's independent parse, the `app` record of every message
from a decode of its payload that must agree, packet for packet, with what
the peers logged (PEERLOG, JSON lines), and a cross-check with tshark 4.x.

Usage: annotate.py PROTOCOL CAPTURE PEERLOG [SERVERLOG] > TRUTH
PROTOCOL: socketio | mqtt | stomp | graphql_ws | graphql_legacy | jsonrpc | ocpp
"""
import json, os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import truth  # noqa: E402
import protocols  # noqa: E402


def latency_ms(times, req, ans):
    """Capture time of the answer's last packet minus the request's, in ms
    (the capture has nanosecond timestamps, so 6 decimals are exact)."""
    return round((times[ans["last_packet"]] - times[req["last_packet"]]) / 1e6, 6)


def pair(conn, times):
    """Fills `answers` / `latency_ms` from the `_key` / `_answers_key` the
    decoder set on each app record: an answer refers to the earliest
    unanswered request with the same key in the other direction."""
    open_reqs, answered = {}, set()
    for i, m in enumerate(conn["messages"]):
        recs = m.get("app")
        if recs is None:
            continue
        for r in (recs if isinstance(recs, list) else [recs]):
            ak = r.pop("_answers_key", None)
            keep = r.pop("_keep_open", False)  # one of several answers (a stream)
            if ak is not None:
                q = open_reqs.get((m["dir"] == "c2s" and "s2c" or "c2s", ak))
                if q:
                    j = q[0] if keep else q.pop(0)
                    answered.add(j)
                    r["answers"] = j
                    r["latency_ms"] = latency_ms(times, conn["messages"][j], m)
                else:
                    r["answers"] = None
                    r["latency_ms"] = None
            k = r.pop("_key", None)
            if k is not None:
                open_reqs.setdefault((m["dir"], k), []).append(i)
    unanswered = []
    for (d, k), idx in open_reqs.items():
        unanswered.extend(i for i in idx if i not in answered)
    return sorted(set(unanswered))


def tshark_check(pcap, t, decode_as):
    """tshark's WebSocket frames (frame number where each frame completes,
    opcode, payload length) against ours, per connection and direction."""
    cmd = ["tshark", "-r", pcap, "-Y", "websocket", "-T", "json", "--no-duplicate-keys"]  # several frames per packet
    for d in decode_as:
        cmd += ["-d", d]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    theirs = {}
    tx = {}
    for pkt in json.loads(out or "[]"):
        L = pkt["_source"]["layers"]
        no = int(L["frame"]["frame.number"])
        src = f'{L["ip"]["ip.src"]}:{L["tcp"]["tcp.srcport"]}'
        dst = f'{L["ip"]["ip.dst"]}:{L["tcp"]["tcp.dstport"]}'
        wss = L["websocket"] if isinstance(L["websocket"], list) else [L["websocket"]]
        for w in wss:
            n = int(w.get("websocket.payload_length_ext_64") or w.get("websocket.payload_length_ext_16")
                    or w["websocket.payload_length"])
            theirs.setdefault((src, dst), []).append((no, int(w["websocket.opcode"]), n))
            pl = w.get("websocket.payload")
            if w["websocket.opcode"] == "1" and isinstance(pl, dict) and "websocket.payload.text" in pl:
                tx.setdefault((src, dst), []).append(pl["websocket.payload.text"])
    res = {"frames_tshark": sum(len(v) for v in theirs.values()), "frames_ours": 0,
           "connections": [], "disagreements": []}
    for c in t["connections"]:
        fr = c.get("_frames")
        if not fr:
            continue
        row = {"client": c["client"]}
        for d, (a, b) in (("c2s", (c["client"], c["server"])), ("s2c", (c["server"], c["client"]))):
            ours = [(f["last_packet"], f["opcode"], f["wire_len"]) for f in fr[d]]
            th = theirs.get((a, b), [])
            res["frames_ours"] += len(ours)
            row[d] = {"frames_ours": len(ours), "frames_tshark": len(th),
                      "frame_mismatches": sum(1 for x, y in zip(ours, th) if x != y) + abs(len(ours) - len(th))}
            if ours != th:
                res["disagreements"].append({"client": c["client"], "dir": d,
                                             "first": next(([x, y] for x, y in zip(ours, th) if x != y), None)})
        res["connections"].append(row)
    res["frames_agree"] = not res["disagreements"]
    # The text of every text message as tshark decoded it (unmasked, inflated),
    # against ours: the application decode reads exactly these texts.
    cmp = {"compared": 0, "equal": 0, "equal_up_to_first_nul": 0, "different": []}
    for c in t["connections"]:
        for d, key in (("c2s", (c["client"], c["server"])), ("s2c", (c["server"], c["client"]))):
            ours = [m["_payload"].decode() for m in c.get("messages", []) if m["dir"] == d and m["opcode"] == "text"]
            th = tx.get(key, [])
            if len(ours) != len(th):
                cmp["different"].append({"client": c["client"], "dir": d, "ours": len(ours), "tshark": len(th)})
                continue
            for a, b in zip(ours, th):
                cmp["compared"] += 1
                if a == b:
                    cmp["equal"] += 1
                elif "\x00" in a and a[:a.index("\x00")] == b:
                    cmp["equal_up_to_first_nul"] += 1  # tshark's text field stops at a NUL (STOMP)
                else:
                    cmp["different"].append({"client": c["client"], "dir": d, "ours": a[:80], "tshark": b[:80]})
    res["message_texts"] = cmp
    return res


def main():
    proto, pcap, peerlog = sys.argv[1], sys.argv[2], sys.argv[3]
    t, times = truth.build(pcap)
    peers = [json.loads(line) for line in open(peerlog) if line.strip().startswith("{")]
    spec = protocols.SPECS[proto]
    peer_check = spec["decode"](t, times, peers)
    unanswered = {}
    for c in t["connections"]:
        if c.get("messages"):
            u = pair(c, times)
            if u:
                unanswered[c["client"]] = u
    ts = tshark_check(pcap, t, spec.get("decode_as", []))
    extra = spec.get("tshark_app")
    if extra:
        ts["app"] = extra(pcap, t)
    if spec.get("broker_check") and len(sys.argv) > 4:
        peer_check = {"clients": peer_check, "server": spec["broker_check"](sys.argv[4], t)}
    notes = spec["notes"]
    if isinstance(notes, dict):
        stem = os.path.basename(pcap).rsplit(".", 1)[0]
        notes = " ".join(x for x in (notes.get(stem), notes.get("common")) if x)
    t["notes"] = notes
    t["generator"] = spec["generator"]
    t["verification"] = {"generator_logs": peer_check, "tshark": ts,
                         "unanswered_requests": unanswered}
    print(json.dumps(truth.strip_private(t), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
