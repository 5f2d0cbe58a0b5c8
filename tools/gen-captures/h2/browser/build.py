#!/usr/bin/env python3
"""Writes <browser>_<server>_tls.truth.json from a recording made by
record_<browser>.sh or record_apache.sh: the independent parse, checked against tshark, against
the server's log (hypercorn + wsproto, server.jsonl), against the page's own
log (what the script sent/received, POSTed to /log) and, for Chromium,
against its net-log (every WebSocket frame header Chromium sent and received).
Usage: build.py chromium_hypercorn_tls|firefox_hypercorn_tls|chromium_apache_tls WORKDIR OUTDIR"""
import collections
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import h2parse as P  # noqa: E402
import peercheck  # noqa: E402
import truth as T  # noqa: E402

NAME, W, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
BROWSER, SERVER = NAME.split("_")[:2]
APACHE = SERVER == "apache"
FALLBACK = SERVER == "fallback"   # hypercorn without ENABLE_CONNECT_PROTOCOL
SNAME = "Apache httpd" if APACHE else "hypercorn"
BNAME = {"chromium": "Chromium", "firefox": "Firefox"}[BROWSER]
cap, key = os.path.join(OUT, NAME + ".pcap"), os.path.join(OUT, NAME + ".keylog")
shutil.copyfile(os.path.join(W, "capture.pcap"), cap)
shutil.copyfile(os.path.join(W, "keylog"), key)

truth, internals = T.build(cap, key)
problems = ["TCP bytes missing from the capture (tcpdump lost packets): %s %s" % (c_["client"], c_["tcp_gaps"])
            for c_ in truth["connections"] if c_.get("tcp_gaps")]
ver = {"tshark": T.tshark_check(cap, key, internals, truth)}
if not (ver["tshark"]["frames_agree"] and ver["tshark"]["data_agree"] and not ver["tshark"]["header_blocks_disagree"]
        and ver["tshark"]["tcp_segments_agree"] and ver["tshark"].get("tls_records_agree", True) is not False
        and ver["tshark"].get("http1_websocket_frames_agree", True)):
    problems.append("tshark disagrees")

log = peercheck.load(os.path.join(W, "server.jsonl"))
h2conn = next(i for i, c in enumerate(truth["connections"]) if c.get("other_streams") or
              any(s["connection"] == i for s in truth["sessions"]))
key_map = None
if APACHE:
    # the backend speaks HTTP/1.1 (hypercorn's h11 numbers every stream 1):
    # its WebSocket streams are matched to the HTTP/2 sessions by :path
    by_path_ = {s_["handshake"]["path"]: s_ for s_ in truth["sessions"]}
    key_map = {(e["conn"], e["stream_id"]): (by_path_[e["path"]]["connection"], by_path_[e["path"]]["stream_id"])
               for e in log if e.get("layer") == "ws" and e.get("event") == "Request" and e["path"] in by_path_}
if FALLBACK:
    # WebSockets over HTTP/1.1 (own TLS connections): matched by request target
    by_target = {c_["handshake"]["request_target"]: i_ for i_, c_ in enumerate(truth["connections"])
                 if c_.get("handshake")}
    key_map = {(e["conn"], e["stream_id"]): (by_target[e["path"]], None)
               for e in log if e.get("layer") == "ws" and e.get("event") == "Request" and e["path"] in by_target}
counts, p = peercheck.check_side(log, "server", truth, internals, key_map=key_map)
counts2, p2 = peercheck.check_h2_events(log, "server", truth, internals, lambda e: h2conn)
ver["server_log"] = {**counts, **counts2}
problems += p + p2

# the page's log: messages per WebSocket object, close events, protocol/extensions
page = next(e["entries"] for e in log if e.get("layer") == "page")
by_path = {s["handshake"]["path"]: s for s in truth["sessions"]}
# HTTP/1.1 WebSocket connections (fallback) answer to the same names
by_path.update({c["handshake"]["request_target"]: c for c in truth["connections"] if c.get("is_websocket")})
names = {"A": by_path["/ws/echo"], "B": by_path["/ws/plain"]}


def ws_streams(target):
    """The (c2s, s2c) WebSocket byte Streams of a session or HTTP/1.1 connection."""
    if "stream_id" in target:
        c, r, _, _ = internals[target["connection"]]
        st = r["streams"][target["stream_id"]]
        return st["data"]["c2s"], st["data"]["s2c"]
    ci = truth["connections"].index(target)
    return internals[ci][0].ws_streams
pc = collections.Counter()
for name, sess in names.items():
    for d, pd in (("c2s", "send"), ("s2c", "recv")):
        mine = [(m["opcode"], m["payload_len"], m["sha256"], m["text"]) for m in sess["messages"] if m["dir"] == d]
        theirs = [(e["opcode"], e["payload_len"], e["sha256"], e["text"]) for e in page
                  if e.get("ws") == name and e.get("dir") == pd]
        # the page's text prefix is 80 UTF-16 code units, the truth's 80 code points
        same = len(mine) == len(theirs) and all(
            a[:3] == b[:3] and (a[3] == b[3] or (a[3] is not None and b[3] is not None and
                                                 (a[3].startswith(b[3]) or b[3].startswith(a[3]))))
            for a, b in zip(mine, theirs))
        if not same:
            problems.append("page log %s %s differs" % (name, pd))
        else:
            pc["messages_verified"] += len(mine)
    op = next(e for e in page if e.get("ws") == name and e.get("event") == "open")
    if (op["protocol"] or None) != sess["handshake"]["subprotocol"] or (op["extensions"] or None) != sess["handshake"]["extensions"]:
        problems.append("page log %s: protocol/extensions differ" % name)
    cl = next(e for e in page if e.get("ws") == name and e.get("event") == "close")
    # the close event reports the close frame the page received (RFC 6455 7.1.5)
    rc = [c for c in sess["control"] if c["opcode"] == "close" and c["dir"] == "s2c"]
    if not rc or (rc[0]["close_code"], rc[0]["close_reason"]) != (cl["code"], cl["reason"]):
        problems.append("page log %s: close event differs" % name)
    else:
        pc["close_events_verified"] += 1
    pc["close_was_clean"] += bool(cl["wasClean"])
ver["page_log"] = dict(pc)

if os.path.exists(os.path.join(W, "netlog.json")):
    # Chromium's net-log: frame headers per WebSocket (source id)
    txt = open(os.path.join(W, "netlog.json")).read()
    try:
        nl = json.loads(txt)
    except ValueError:  # cut short: close the event list
        nl = json.loads(txt.rstrip().rstrip(",") + "]}")
    ev_names = {v: k for k, v in nl["constants"]["logEventTypes"].items()}
    per_src = collections.defaultdict(list)
    netlog_rst, netlog_close_timeouts, sent_protocol = [], 0, []
    for e in nl["events"]:
        n = ev_names[e["type"]]
        if n in ("WEBSOCKET_SENT_FRAME_HEADER", "WEBSOCKET_RECV_FRAME_HEADER"):
            pr = e["params"]
            per_src[e["source"]["id"]].append(("c2s" if "SENT" in n else "s2c", pr["opcode"], pr["final"],
                                               pr["reserved1"], pr["masked"], pr["payload_length"]))
        elif n == "HTTP2_SESSION_SEND_RST_STREAM":
            netlog_rst.append(e["params"])
        elif n == "WEBSOCKET_CLOSE_TIMEOUT":
            netlog_close_timeouts += 1
        elif n == "HTTP2_SESSION_SEND_HEADERS":
            hs = e["params"]["headers"]
            if ":method: CONNECT" in hs:
                sent_protocol.append([h for h in hs if h.startswith(":protocol")])
    matched, unsent = 0, []
    for sess in names.values():
        ours = {}
        for d, st in zip(("c2s", "s2c"), ws_streams(sess)):
            fr, _ = P.ws_frames(st)
            ours[d] = [(d, f["opcode"], f["fin"], f["rsv1"], f["masked"], f["len"]) for f in fr]
        for src, lst in per_src.items():
            nc = [x for x in lst if x[0] == "c2s"]
            ns = [x for x in lst if x[0] == "s2c"]
            if ns != ours["s2c"]:
                continue
            if nc == ours["c2s"]:
                matched += 1
                break
            rst = sess.get("end", {}).get("rst_stream")
            if nc[:len(ours["c2s"])] == ours["c2s"] and rst and rst["dir"] == "c2s":
                # Chromium logged frames that never reached the wire: it reset
                # the stream before writing them (the capture is the truth)
                matched += 1
                unsent.append({"stream_id": sess["stream_id"], "frames": [
                    {"opcode": x[1], "fin": x[2], "payload_length": x[5]} for x in nc[len(ours["c2s"]):]]})
                break
        else:
            problems.append("net-log: no WebSocket with the frames of %s" % sess.get("stream_id", sess.get("client")))
    ver["chromium_netlog"] = {"websockets": len(per_src), "websockets_whose_frames_match_a_stream": matched,
                              "logged_as_sent_but_not_on_the_wire": unsent,
                              "frame_headers": sum(len(v) for v in per_src.values()),
                              "rst_stream_sent": netlog_rst, "websocket_close_timeouts": netlog_close_timeouts,
                              "connect_requests_with_protocol": sent_protocol}
ver["problems"] = problems
ver["browser_version"] = open(os.path.join(W, BROWSER + ".version")).read().strip()
if APACHE:
    ver["server_version"] = open(os.path.join(W, "apache.version")).read().strip().replace("Server version: ", "")

# ------------------------------------------------------------------ notes
if FALLBACK:
    h2c = truth["connections"][h2conn]

    def conn_line(i, c):
        d = c["tcp_detail"]
        hs = c.get("handshake") or {}
        if c.get("is_websocket"):
            what = ("WebSocket over HTTP/1.1 (ALPN offered %s, selected %s): GET %s, 101, Sec-WebSocket-Key %s, subprotocol %s, "
                    "extensions %s; %d messages, %d control frames, closes %s" % (
                        "/".join(c["tls_detail"]["alpn_offered"] or []), c["alpn"], hs["request_target"], hs["sec_websocket_key"], hs["subprotocol"], hs["extensions"],
                        len(c["messages"]), len(c["control"]),
                        ", ".join("%s %s %r" % (x["dir"], x["close_code"], x["close_reason"])
                                  for x in c["control"] if x["opcode"] == "close") or "none"))
        elif c.get("h2") and c.get("other_streams"):
            what = "HTTP/2 (ALPN h2): %s" % ", ".join("%d %s %s -> %s" % (o["stream_id"], o["method"], o["path"], o["status"])
                                                     for o in c["other_streams"])
        elif c.get("h2"):
            what = "HTTP/2 (ALPN %s) without any request: frames %s" % (c["alpn"], c.get("frame_counts"))
        else:
            what = "TLS %s" % ("not decrypted: %s" % c["tls"]["reason"] if not c["tls"]["decrypted"] else "without application data")
        return "%s (packets %d-%d): %s; first FIN from the %s%s" % (
            c["client"], c["first_packet"], c["last_packet"], what, d["first_fin_from"],
            ", RST" if d["rst_from_client"] or d["rst_from_server"] else "")
    truth["notes"] = (
        "The fallback case, recorded like chromium_hypercorn_tls (same page, same hypercorn app, %s headless) but "
        "the server's HTTP/2 SETTINGS carry no SETTINGS_ENABLE_CONNECT_PROTOCOL at all (as from a server without "
        "RFC 8441, e.g. nginx), so %s keeps the page's requests on HTTP/2 and opens each WebSocket as an ordinary "
        "RFC 6455 upgrade on a NEW TLS connection (see the ALPN it offers below). There are no `sessions`; the "
        "WebSocket connections carry the fields of the main README (handshake, messages, control, "
        "close_initiator) after decryption with %s.keylog. TCP connections: %s. A decoder must not expect "
        "extended CONNECT just because the page itself came over h2, and must follow the ALPN of each "
        "connection. %d message(s) span more than one packet."
        % (BNAME, BNAME, NAME, "; ".join(conn_line(i, c) for i, c in enumerate(truth["connections"])),
           sum(1 for c in truth["connections"] for m in c.get("messages", []) if m["first_packet"] != m["last_packet"])))
    truth["generator"] = ("tools/gen-captures/h2/browser (FALLBACK=1 record_chromium.sh, server.py with "
                          "H2CAP_NO_CONNECT_PROTOCOL=1, page.html, build.py): %s headless, hypercorn 0.18.0, h2 4.4.1, "
                          "wsproto 1.3.2, python 3.11; tcpdump on lo in a netns" % ver["browser_version"])
    truth["verification"] = ver
    T.dump(truth, os.path.join(OUT, NAME + ".truth.json"))
    print(json.dumps({k: v for k, v in ver.items() if k != "tshark"}, indent=1))
    sys.exit(1 if problems else 0)
h2c = truth["connections"][h2conn]
A, B = names["A"], names["B"]
big = [m for s in (A, B) for m in s["messages"] if m["first_packet"] != m["last_packet"]]
multi_data = []
for sess in (A, B):
    c, r, _, _ = internals[sess["connection"]]
    s = r["streams"][sess["stream_id"]]
    for d in ("c2s", "s2c"):
        fr, _ = P.ws_frames(s["data"][d])
        # WebSocket frames whose bytes came in more than one DATA frame
        bounds, acc = [], 0
        for f in r["frames"][d]:
            if f["type"] == "DATA" and f["stream_id"] == sess["stream_id"]:
                acc += f["data_len"]
                bounds.append(acc)
        for f in fr:
            end = f["off"] + f["hl"] + f["len"]
            if sum(1 for b in bounds if f["off"] < b < end) > 0:
                multi_data.append("stream %d %s %s %d bytes" % (sess["stream_id"], d,
                                  {1: "text", 2: "binary"}.get(f["opcode"], f["opcode"]), f["len"]))
def describe_conn(i, c):
    d = c["tcp_detail"]
    ends = []
    if d["first_fin_from"]:
        ends.append("first FIN from the %s" % d["first_fin_from"])
    if d["rst_from_client"]:
        ends.append("RST from the client")
    if d["rst_from_server"]:
        ends.append("RST from the server")
    tls = c.get("tls") or {}
    if i == h2conn:
        what = "the HTTP/2 connection (ALPN h2, all streams)"
    elif not tls.get("decrypted"):
        what = "TLS not decrypted (%s); client records %s, server records %s" % (
            tls.get("reason"), c["tls_detail"]["records"].get("c2s"), c["tls_detail"]["records"].get("s2c"))
    elif not c.get("frame_counts", {}).get("c2s"):
        what = ("TLS handshake completed (ALPN %s) but the client sent no HTTP/2 preface nor any application "
                "data; server HTTP/2 frames: %s" % (tls.get("alpn"), c.get("frame_counts", {}).get("s2c") or "none"))
    else:
        what = "frames %s" % c.get("frame_counts")
    return "%s (packets %d-%d, %d packets): %s; %s" % (c["client"], c["first_packet"], c["last_packet"],
                                                       c["packets"], what, ", ".join(ends) or "still open")


c_, r_, _, _ = internals[h2conn]
max_data = {d: max([f["data_len"] for f in r_["frames"][d] if f["type"] == "DATA"] or [0]) for d in ("c2s", "s2c")}
prio = sum(1 for f in r_["frames"]["c2s"] if f["type"] == "HEADERS" and f["flags"] & 0x20)
hp = h2c["hpack"]
page_close = {e["ws"]: e for e in page if e.get("event") == "close"}
interleaved = []
for d in ("c2s", "s2c"):
    seq = [f["stream_id"] for f in r_["frames"][d] if f["type"] == "DATA" and f["stream_id"] in (A["stream_id"], B["stream_id"])]
    interleaved.append(sum(1 for x, y in zip(seq, seq[1:]) if x != y))


def story(sess, name):
    """How a session ended, from the truth (and the page's close event)."""
    cl = [c for c in sess["control"] if c["opcode"] == "close"]
    e = sess["end"]
    parts = []
    if cl:
        first = cl[0]
        parts.append("the %s closes with %s %r (packet %d)" % (
            "page" if first["dir"] == "c2s" else "server", first["close_code"], first["close_reason"], first["packet"]))
        if len(cl) > 1:
            parts.append("the %s answers with %s %r (packet %d)" % (
                "page" if cl[1]["dir"] == "c2s" else "server", cl[1]["close_code"], cl[1]["close_reason"], cl[1]["packet"]))
        else:
            parts.append("%s never sends a close frame back" % ("the server" if first["dir"] == "c2s" else BNAME))
    parts.append("END_STREAM from the client: %s, from the server: %s" % (
        "packet %d" % e["end_stream"]["c2s"] if e["end_stream"]["c2s"] else "none",
        "packet %d" % e["end_stream"]["s2c"] if e["end_stream"]["s2c"] else "none"))
    if e["rst_stream"]:
        parts.append("RST_STREAM %s from the %s at packet %d" % (
            e["rst_stream"]["error"], "client" if e["rst_stream"]["dir"] == "c2s" else "server", e["rst_stream"]["packet"]))
    pcl = page_close.get(name)
    if pcl:
        parts.append("the page's close event: code %s, reason %r, wasClean %s" % (pcl["code"], pcl["reason"], pcl["wasClean"]))
    return "; ".join(parts)


extra = ""
if "chromium_netlog" in ver:
    extra = (" Chromium's net-log shows %d closing-handshake timeout(s) (WEBSOCKET_CLOSE_TIMEOUT) and the "
             "RST_STREAM(s) it sent: %s." % (ver["chromium_netlog"]["websocket_close_timeouts"],
                                              ver["chromium_netlog"]["rst_stream_sent"]))
    for u in ver["chromium_netlog"]["logged_as_sent_but_not_on_the_wire"]:
        extra += (" Stream %d: Chromium's net-log records sending %s, but it reset the stream before writing "
                  "them: they are not in the capture and not in the truth." % (u["stream_id"], ", ".join(
                      "a frame with opcode %d (%d bytes)" % (f["opcode"], f["payload_length"]) for f in u["frames"])))
truth["notes"] = (
    "RFC 8441 WebSockets over HTTP/2 over TLS 1.3, recorded with real peers inside a network namespace that has "
    "only a loopback interface: headless %s (%s, Debian package, no flags or prefs about WebSockets or HTTP/2) "
    "loads https://h2.corpus.test:8443/ from %s, which announces "
    "SETTINGS_ENABLE_CONNECT_PROTOCOL=1 in its first SETTINGS (packet %d). The page's script fetches /data.json "
    "and opens two WebSockets that %s sends as extended CONNECT streams (:method CONNECT, :protocol "
    "websocket, :scheme https, status 200, no Sec-WebSocket-Key/Accept) on the SAME TLS connection: stream %d "
    "(:path /ws/echo, subprotocols %r offered, %s selected, extensions offered %r, negotiated %r) and stream %d "
    "(:path /ws/plain, extensions offered %r; the server declines every extension, so no compression). Decrypt "
    "with %s.keylog (the browser's SSLKEYLOGFILE; cipher %s). TCP connections: %s. Other streams on the HTTP/2 "
    "connection: %s (stream ids used by the client: %s). "
    "Traps: (1) the two sessions are multiplexed: the DATA frames of streams %d and %d alternate %d times "
    "client-to-server and %d times server-to-client, often inside one TLS record or TCP segment. (2) Largest DATA "
    "payload: %d bytes from %s, %d from %s; WebSocket frames split over more than "
    "one DATA frame: %s. (3) hypercorn pings every 0.4 s (empty payload) on each session and the browser answers "
    "with empty masked pongs (%d pings, %d pongs). (4) Stream %d: %s. (5) Stream %d: %s.%s%s (6) HPACK: %d of %d "
    "client literal strings and %d of %d server strings are Huffman-coded; the client refers to its dynamic "
    "table %d times (the CONNECT requests take :authority, user-agent etc. from it), the browser announces "
    "HEADER_TABLE_SIZE %s; dynamic table size updates: %d from the client, %d from the server; a decoder that "
    "misses the first HEADERS frames cannot name the CONNECT headers. (7) %d of the browser's %d HEADERS frames "
    "carry the PRIORITY flag (5 bytes before the header block). (8) The page's own log is POSTed back on the "
    "/log stream, so the capture carries its client-side ground truth too. Padding: %d DATA frames and %d "
    "HEADERS frames carry the PADDED flag (pad lengths %s), on WebSocket streams too: the pad bytes are not "
    "stream data; "
    "CONTINUATION: %d; PUSH_PROMISE: %d; GOAWAY: %s (the browser is stopped with SIGTERM after the page "
    "finished). %d message(s) span more than one packet." % (
        BNAME, ver["browser_version"],
        ("%s (mod_http2 with H2WebSockets on and H2Padding 4, TLS 1.3) proxying everything, WebSockets "
         "included, to hypercorn 0.18 over plain HTTP/1.1 (only the browser-Apache leg is in the capture)"
         % ver["server_version"]) if APACHE else "hypercorn 0.18 (h2 4.x, wsproto 1.3)",
        h2c["settings"]["s2c"][0]["packet"], BNAME, A["stream_id"],
        A["handshake"]["offered_subprotocols"], A["handshake"]["subprotocol"], A["handshake"]["offered_extensions"],
        A["handshake"]["extensions"], B["stream_id"], B["handshake"]["offered_extensions"], NAME,
        h2c["tls"]["cipher_suite"],
        "; ".join(describe_conn(i, c) for i, c in enumerate(truth["connections"])),
        ", ".join("%d %s %s -> %s" % (o["stream_id"], o["method"], o["path"], o["status"]) for o in h2c["other_streams"]),
        ", ".join(str(x) for x in sorted(k for k in r_["streams"] if k)),
        A["stream_id"], B["stream_id"], interleaved[0], interleaved[1], max_data["c2s"], BNAME, max_data["s2c"], SNAME,
        "; ".join(multi_data) or "none",
        sum(1 for s_ in (A, B) for c in s_["control"] if c["opcode"] == "ping"),
        sum(1 for s_ in (A, B) for c in s_["control"] if c["opcode"] == "pong"),
        A["stream_id"], story(A, "A"), B["stream_id"], story(B, "B"),
        "" if APACHE else (" hypercorn never sends END_STREAM after echoing a client's close, and does send it "
                           "after its own close."),
        extra,
        hp["c2s"]["huffman_strings"], hp["c2s"]["huffman_strings"] + hp["c2s"]["raw_strings"],
        hp["s2c"]["huffman_strings"], hp["s2c"]["huffman_strings"] + hp["s2c"]["raw_strings"],
        hp["c2s"]["indexed_dynamic"] + hp["c2s"]["name_from_dynamic"],
        h2c["settings"]["c2s"][0]["values"].get("HEADER_TABLE_SIZE") if h2c["settings"]["c2s"] else None,
        hp["c2s"]["size_update"], hp["s2c"]["size_update"],
        prio, h2c["frame_counts"]["c2s"].get("HEADERS", 0), h2c["padded_frames"], h2c["padded_headers"],
        "%d-%d" % tuple(h2c["pad_length_range"]) if h2c["pad_length_range"] else "none", h2c["continuation_frames"],
        sum(h2c["frame_counts"][d].get("PUSH_PROMISE", 0) for d in ("c2s", "s2c")),
        ", ".join("from the %s, last_stream_id %d, %s, packet %d" % ("client" if g["dir"] == "c2s" else "server",
                  g["last_stream_id"], g["error"], g["packet"]) for g in h2c["goaway"]) or "none",
        len(big)))
truth["generator"] = ("tools/gen-captures/h2/browser (record_%s.sh, server.py, page.html, build.py): %s headless (%s), "
                      "%shypercorn 0.18.0, h2 4.4.1, wsproto 1.3.2, python 3.11; tcpdump on lo in netns h2cap_%s"
                      % ("apache" if APACHE else BROWSER, ver["browser_version"],
                         "--headless=new, --ignore-certificate-errors-spki-list for the self-signed EC certificate, "
                         "--log-net-log" if BROWSER == "chromium" else
                         "--headless, a test CA imported into the profile with certutil",
                         (ver.get("server_version", "") + " (H2WebSockets on, H2Padding 4) proxying to ") if APACHE else "",
                         "apache" if APACHE else BROWSER))
truth["verification"] = ver
T.dump(truth, os.path.join(OUT, NAME + ".truth.json"))
print(json.dumps({k: v for k, v in ver.items() if k != "tshark"}, indent=1))
print("tshark frames/data agree:", ver["tshark"]["frames_agree"], ver["tshark"]["data_agree"])
sys.exit(1 if problems else 0)
