#!/usr/bin/env python3
"""Writes captures/h2/<SCENARIO>.truth.json from a record.sh recording: the
independent parse (h2parse.py), checked against tshark 4.0 and against both
peers' logs (server.jsonl, client.jsonl). Usage: build.py SCENARIO WORKDIR OUTDIR"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import peercheck  # noqa: E402
import truth as T  # noqa: E402

SC, W, OUT = sys.argv[1:4]
cap = os.path.join(OUT, SC + ".pcap")
shutil.copyfile(os.path.join(W, "capture.pcap"), cap)
truth, internals = T.build(cap)
problems = ["TCP bytes missing from the capture (tcpdump lost packets): %s %s" % (c_["client"], c_["tcp_gaps"])
            for c_ in truth["connections"] if c_.get("tcp_gaps")]
ver = {"tshark": T.tshark_check(cap, None, internals, truth)}
ts = ver["tshark"]
if not (ts["frames_agree"] and ts["data_agree"] and not ts["header_blocks_disagree"]
        and ts["tcp_segments_agree"] and ts.get("tls_records_agree", True) is not False
        and ts.get("http1_websocket_frames_agree", True)):
    problems.append("tshark disagrees")
for side in ("server", "client"):
    log = peercheck.load(os.path.join(W, side + ".jsonl"))
    c1, p1 = peercheck.check_side(log, side, truth, internals)
    c2, p2 = peercheck.check_h2_events(log, side, truth, internals)
    ver[side + "_log"] = {**c1, **c2}
    problems += p1 + p2
ver["problems"] = problems

conn = truth["connections"][0]
sess = truth["sessions"]


def closes(s):
    return ", ".join("%s %s %r (packet %d)" % (c["dir"], c["close_code"], c["close_reason"], c["packet"])
                     for c in s["control"] if c["opcode"] == "close") or "none"


def ended(s):
    e = s["end"]
    parts = []
    if e["end_stream"]["c2s"] or e["end_stream"]["s2c"]:
        parts.append("END_STREAM c2s at %s, s2c at %s" % (e["end_stream"]["c2s"], e["end_stream"]["s2c"]))
    if e["rst_stream"]:
        parts.append("RST_STREAM %s from the %s at packet %d" % (
            e["rst_stream"]["error"], "client" if e["rst_stream"]["dir"] == "c2s" else "server", e["rst_stream"]["packet"]))
    return "; ".join(parts) or "never ended on its own (GOAWAY/TCP)"


desc = []
for s in sess:
    h = s["handshake"]
    d = ("stream %d: CONNECT :protocol %s :path %s, status %s, subprotocol %s (offered %s), extensions %s; "
         "%d messages, %d control frames; closes: %s; %s" % (
             s["stream_id"], h["protocol"], h["path"], h["status"], h["subprotocol"], h["offered_subprotocols"],
             h["extensions"], len(s["messages"]), len(s["control"]), closes(s), ended(s)))
    if s["incomplete_messages"]:
        d += "; unfinished message(s) cut by the reset: " + ", ".join(
            "%s %s, %d frame(s), %d wire bytes, first packet %d" % (m["dir"], m["opcode"], m["frames"],
                                                                    m["wire_payload_len"], m["first_packet"])
            for m in s["incomplete_messages"])
    desc.append(d)
multi = [m for s in sess for m in s["messages"] if m["frames"] > 1]
ga = conn["goaway"]
common = (
    "Cleartext HTTP/2 between two python processes (h2 4.4.1 + wsproto 1.3.2, tools/gen-captures/h2/h2c/peers.py) "
    "in a network namespace, port 8080; %s and shows HTTP/2 but no "
    "WebSocket (tshark_websocket_packets = %d). Server SETTINGS_ENABLE_CONNECT_PROTOCOL: %s (packet %s). "
    "Sessions: %s. Other streams: %s. GOAWAY: %s. TCP: %s, first FIN from the %s. "
    "HPACK: %d of %d client and %d of %d server literal strings are Huffman-coded; %d client and %d server "
    "header fields come from the dynamic table. WINDOW_UPDATE frames: %d from the client, %d from the server "
    "(both peers start with 65535-byte windows). Padding: %d; CONTINUATION: %d. "
    % ("tshark follows the Upgrade itself (8080 is one of its HTTP ports)" if conn["h2_mode"] == "upgrade"
       else "tshark needs `-d tcp.port==8080,http2` (prior knowledge)", ts["tshark_websocket_packets"], conn["enable_connect_protocol"],
       conn["settings"]["s2c"][0]["packet"] if conn["settings"]["s2c"] else None, " | ".join(desc),
       ", ".join("%d %s %s -> %s" % (o["stream_id"], o["method"], o["path"], o["status"]) for o in conn["other_streams"]) or "none",
       ", ".join("%s last_stream_id %d %s debug %r at packet %d" % (g["dir"], g["last_stream_id"], g["error"], g["debug"], g["packet"]) for g in ga) or "none",
       conn["tcp_end"], conn["tcp_detail"]["first_fin_from"],
       conn["hpack"]["c2s"]["huffman_strings"], conn["hpack"]["c2s"]["huffman_strings"] + conn["hpack"]["c2s"]["raw_strings"],
       conn["hpack"]["s2c"]["huffman_strings"], conn["hpack"]["s2c"]["huffman_strings"] + conn["hpack"]["s2c"]["raw_strings"],
       conn["hpack"]["c2s"]["indexed_dynamic"] + conn["hpack"]["c2s"]["name_from_dynamic"],
       conn["hpack"]["s2c"]["indexed_dynamic"] + conn["hpack"]["s2c"]["name_from_dynamic"],
       conn["frame_counts"]["c2s"].get("WINDOW_UPDATE", 0), conn["frame_counts"]["s2c"].get("WINDOW_UPDATE", 0),
       conn["padded_frames"], conn["continuation_frames"]))
def switches(d):
    r = internals[0][1]
    ids = [s["stream_id"] for s in sess]
    seq = [f["stream_id"] for f in r["frames"][d] if f["type"] == "DATA" and f["stream_id"] in ids]
    return sum(1 for x, y in zip(seq, seq[1:]) if x != y)


if SC == "h2c_wsproto":
    specific = (
        "Prior knowledge: the client starts with the connection preface, no HTTP/1.1. Three extended CONNECT "
        "sessions multiplexed: /chat negotiates permessage-deflate (context takeover) and subprotocol chat.v2; "
        "it carries an empty text message, a text message in %d fragments (RSV1 only on the first frame), "
        "pings with payload both ways, and a 30000-byte incompressible binary message while /plain carries a "
        "30000-byte binary message in 5000-byte DATA frames at the same time (client-to-server DATA frames "
        "switch between the streams %d times, server-to-client %d times). /chat is closed by the client (3001, END_STREAM with the close frame), /plain by the "
        "server (4002 after the client's 'please close'; the server ends the stream with an empty DATA frame "
        "with END_STREAM). /doomed: after one echoed message the client sends the FIRST fragment of a binary "
        "message (FIN clear) and then RST_STREAM CANCEL: that message never completes and is not in `messages` "
        "(see `incomplete_messages`); no close frame on that stream. The server ends the connection with GOAWAY "
        "after answering GET /bye. %d message(s) have more than one frame. HTTP/2 traps: the /doomed CONNECT "
        "carries a 40000-character x-large-header, so its header block is split into HEADERS + %d CONTINUATION "
        "frame(s) (END_HEADERS on the last); the server pads every DATA frame of /plain (PADDED flag, pad "
        "lengths %s; %d padded DATA frames: the pad bytes are not WebSocket bytes); the client sends an HTTP/2 "
        "PING (%s) and, on stream 0, a frame of unknown type 0xfa (%d; RFC 9113 s5.5: to be ignored), which the "
        "server's h2 ignores."
        % (max([m["frames"] for m in multi] or [0]), switches("c2s"), switches("s2c"), len(multi),
           conn["continuation_frames"], "%d-%d" % tuple(conn["pad_length_range"]) if conn["pad_length_range"] else "none",
           conn["padded_frames"], ", ".join("%s%s at packet %d" % (p["dir"], " ACK" if p["ack"] else "", p["packet"])
                                            for p in conn["pings"]) or "none",
           conn["frame_counts"]["c2s"].get("0xfa", 0)))
elif SC == "h2c_upgrade_ws":
    up = conn.get("http1_upgrade", {})
    specific = (
        "HTTP/1.1 Upgrade (RFC 7540 s3.2): the connection starts as HTTP/1.1 `%s` with `Upgrade: h2c` and an "
        "HTTP2-Settings header (packet %s); the server answers `%s` (packet %s), sends its SETTINGS, and answers "
        "the upgraded GET as HTTP/2 stream 1 (no HEADERS frame from the client for stream 1: its request is the "
        "HTTP/1.1 one). Only then does the client send the preface; the extended CONNECT is stream 3. A decoder "
        "must parse the HTTP/1.1 head first and find the preface after it; the server's HTTP/2 frames start "
        "right after the 101 response head. Stream 1 has no END_STREAM from the client: the HTTP/1.1 "
        "request ends its side (RFC 7540 s3.2, stream 1 starts half-closed)." % (up.get("request_line"), up.get("request_packet"),
                                                  up.get("response_line"), up.get("response_packet")))
else:
    specific = (
        "Negative case (RFC 8441 s3): the server's SETTINGS do NOT enable the extended CONNECT (h2 sends "
        "ENABLE_CONNECT_PROTOCOL explicitly with value %s), yet the client sends CONNECT with :protocol websocket; the server treats the request as "
        "malformed and answers RST_STREAM PROTOCOL_ERROR, no response HEADERS, no WebSocket frames "
        "(is_websocket false, status null). A checker should flag ':protocol without the server's "
        "SETTINGS_ENABLE_CONNECT_PROTOCOL'. The connection goes on: two ordinary GETs, then GOAWAY."
        % conn["enable_connect_protocol"])
    for s in sess:
        s["violations"] = ["RFC 8441 s3: :protocol sent although the server's SETTINGS_ENABLE_CONNECT_PROTOCOL "
                           "is %s" % conn["enable_connect_protocol"]]
    conn["violations"] = ["RFC 8441 s3: stream %d sends :protocol but the server never sent "
                          "SETTINGS_ENABLE_CONNECT_PROTOCOL=1" % s["stream_id"] for s in sess]
truth["notes"] = specific + " " + common
truth["generator"] = ("tools/gen-captures/h2/h2c (record.sh, peers.py, build.py): python %s, h2 4.4.1, hpack 4.2.0, "
                      "wsproto 1.3.2; tcpdump on lo in netns h2cap_%s" % (sys.version.split()[0], SC))
truth["verification"] = ver
T.dump(truth, os.path.join(OUT, SC + ".truth.json"))
print(json.dumps({k: v for k, v in ver.items() if k != "tshark"}, indent=1))
print("tshark frames/data agree:", ts["frames_agree"], ts["data_agree"])
sys.exit(1 if problems else 0)
