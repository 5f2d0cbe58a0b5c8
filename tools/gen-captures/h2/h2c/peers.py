#!/usr/bin/env python3
"""Cleartext HTTP/2 peers (python `h2` + `wsproto`) that speak RFC 8441
WebSockets, for the h2c_* captures. Server and client run as separate
processes; each writes its own log (JSON lines): every h2 event it received,
every header block it sent, the exact bytes it put on / took from each
WebSocket stream, and every wsproto event it sent or received.

Usage: peers.py server SCENARIO PORT LOG | peers.py client SCENARIO PORT LOG

Scenarios:
  h2c_wsproto              prior knowledge; sessions /chat (permessage-deflate,
                           subprotocol) and /plain; one stream reset with CANCEL
                           in the middle of a fragmented message; a GET; GOAWAY
  h2c_upgrade_ws           HTTP/1.1 `Upgrade: h2c` (the GET / becomes stream 1),
                           then an extended CONNECT on stream 3; GOAWAY
  h2c_protocol_not_enabled the server does not send SETTINGS_ENABLE_CONNECT_PROTOCOL;
                           the client sends :protocol anyway and gets RST_STREAM
                           PROTOCOL_ERROR (RFC 8441 s3), then a GET; GOAWAY
"""
import asyncio
import base64
import hashlib
import json
import os
import random
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings
from h2.errors import ErrorCodes
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.handshake import server_extensions_handshake

ROLE, SCENARIO, PORT, LOGFILE = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
_log = open(LOGFILE, "w", buffering=1)
HOST = "h2c.corpus.test:%d" % PORT


def log(**kw):
    kw["side"] = ROLE
    _log.write(json.dumps(kw) + "\n")


def describe(ev):
    d = {"type": type(ev).__name__}
    if isinstance(ev, (TextMessage, BytesMessage)):
        raw = ev.data.encode() if isinstance(ev.data, str) else bytes(ev.data)
        d.update(len=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
                 frame_finished=ev.frame_finished, message_finished=ev.message_finished)
        if isinstance(ev, TextMessage):
            d["text"] = ev.data[:80]
    elif isinstance(ev, (Ping, Pong)):
        d.update(payload_hex=bytes(ev.payload).hex())
    elif isinstance(ev, CloseConnection):
        d.update(code=ev.code, reason=ev.reason)
    return d


def hl(headers):
    return [[k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v]
            for k, v in headers]


class Peer:
    """One HTTP/2 connection: a reader task feeding h2, per-stream queues."""

    def __init__(self, reader, writer, client_side, enable_connect):
        self.r, self.w = reader, writer
        cfg = h2.config.H2Configuration(client_side=client_side, header_encoding=None)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.enable_connect = enable_connect
        self.queues = {}
        self.window = asyncio.Event()
        self.settings_seen = asyncio.Event()
        self.terminated = asyncio.Event()
        self.new_requests = asyncio.Queue()
        self.remote_settings = {}
        self.padded = set()
        self.pad_rng = random.Random(8441)

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.w.write(data)

    def q(self, sid):
        return self.queues.setdefault(sid, asyncio.Queue())

    async def read_loop(self):
        while True:
            data = await self.r.read(65536)
            if not data:
                self.terminated.set()
                for q in self.queues.values():
                    q.put_nowait(None)
                return
            events = self.conn.receive_data(data)
            for e in events:
                rec = {"layer": "h2", "dir": "recv", "event": type(e).__name__,
                       "stream_id": getattr(e, "stream_id", None)}
                if getattr(e, "headers", None):
                    rec["headers"] = hl(e.headers)
                if getattr(e, "error_code", None) is not None:
                    rec["error_code"] = int(e.error_code)
                if isinstance(e, h2.events.ConnectionTerminated):
                    rec["last_stream_id"] = e.last_stream_id
                if isinstance(e, h2.events.RemoteSettingsChanged):
                    rec["settings"] = {int(k): v.new_value for k, v in e.changed_settings.items()}
                    self.remote_settings.update(rec["settings"])
                    self.settings_seen.set()
                if isinstance(e, h2.events.DataReceived):
                    rec["len"] = len(e.data)
                    self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                log(**rec)
                if isinstance(e, h2.events.RequestReceived):
                    self.new_requests.put_nowait(e)
                elif isinstance(e, (h2.events.ResponseReceived, h2.events.DataReceived, h2.events.StreamEnded,
                                    h2.events.StreamReset)):
                    self.q(e.stream_id).put_nowait(e)
                elif isinstance(e, h2.events.WindowUpdated):
                    self.window.set()
                elif isinstance(e, h2.events.ConnectionTerminated):
                    self.terminated.set()
            self.flush()
            await self.w.drain()

    async def send_headers(self, sid, headers, end_stream=False):
        log(layer="h2", dir="send", event="SendHeaders", stream_id=sid, headers=hl(headers))
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        self.flush()
        await self.w.drain()

    async def send_data(self, sid, data, end_stream=False, chunk=None):
        """Respects both flow-control windows; `chunk` caps DATA frame size.
        Streams in self.padded get DATA frames with PADDED set and 0-20
        pad bytes (RFC 9113 s6.1; padding counts against flow control)."""
        while True:
            pad = self.pad_rng.randint(0, 20) if sid in self.padded else None
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if pad is not None:
                room -= pad + 1
            n = max(0, min(room, len(data)))
            if chunk:
                n = min(n, chunk)
            if n == 0 and data:
                self.window.clear()
                await self.window.wait()
                continue
            last = n == len(data)
            self.conn.send_data(sid, data[:n], end_stream=end_stream and last, pad_length=pad)
            data = data[n:]
            self.flush()
            await self.w.drain()
            if not data:
                return


class WsStream:
    """A WebSocket session on one stream, logging bytes and events."""

    def __init__(self, peer, sid, ws):
        self.peer, self.sid, self.ws = peer, sid, ws
        self.pending = []

    async def send(self, event, end_stream=False, chunk=None):
        log(layer="ws", dir="send", event="wsproto", stream_id=self.sid, ev=describe(event))
        data = self.ws.send(event)
        log(layer="ws", dir="send", event="StreamData", stream_id=self.sid, b64=base64.b64encode(data).decode())
        await self.peer.send_data(self.sid, data, end_stream=end_stream, chunk=chunk)

    async def next_event(self):
        """Next wsproto event (None when the stream ended or was reset)."""
        while not self.pending:
            e = await self.peer.q(self.sid).get()
            if e is None or isinstance(e, (h2.events.StreamReset,)):
                return None
            if isinstance(e, h2.events.StreamEnded):
                return "END_STREAM"
            if isinstance(e, h2.events.DataReceived):
                log(layer="ws", dir="recv", event="StreamData", stream_id=self.sid,
                    b64=base64.b64encode(e.data).decode())
                if not e.data:
                    continue  # an empty DATA frame (END_STREAM): nothing for wsproto
                self.ws.receive_data(e.data)
                for ev in self.ws.events():
                    log(layer="ws", dir="recv", event="wsproto", stream_id=self.sid, ev=describe(ev))
                    self.pending.append(ev)
        return self.pending.pop(0)

    async def next_message(self):
        """Whole data message (str/bytes); answers pings on the way."""
        parts = []
        while True:
            ev = await self.next_event()
            if ev is None or ev == "END_STREAM" or isinstance(ev, CloseConnection):
                return ev
            if isinstance(ev, Ping):
                await self.send(ev.response())
                continue
            if isinstance(ev, Pong):
                continue
            parts.append(ev.data)
            if ev.message_finished:
                return "".join(parts) if isinstance(ev, TextMessage) else b"".join(parts)


# ------------------------------------------------------------------ server

async def serve_ws(peer, req, headers):
    sid = req.stream_id
    path = headers[":path"]
    offered_ext = headers.get("sec-websocket-extensions")
    offered_sub = headers.get("sec-websocket-protocol")
    exts = [PerMessageDeflate()] if path == "/chat" else []
    resp = [(":status", "200")]
    if offered_sub:
        subs = [s.strip() for s in offered_sub.split(",")]
        if "chat.v2" in subs:
            resp.append(("sec-websocket-protocol", "chat.v2"))
    if offered_ext and exts:
        acc = server_extensions_handshake([x.strip() for x in offered_ext.split(",")], exts)
        if acc:
            resp.append(("sec-websocket-extensions", acc.decode() if isinstance(acc, bytes) else acc))
    if path == "/plain":
        peer.padded.add(sid)
    await peer.send_headers(sid, resp)
    ws = WsStream(peer, sid, Connection(ConnectionType.SERVER, exts))
    await ws.send(TextMessage(data="welcome to %s" % path))
    while True:
        m = await ws.next_message()
        if m is None:
            log(layer="app", event="stream gone", stream_id=sid)
            return
        if m == "END_STREAM":
            continue
        if isinstance(m, CloseConnection):
            # echo the close, then end our half of the stream (RFC 8441 s5)
            await ws.send(m.response(), end_stream=True)
            return
        if m == "please close":
            await ws.send(CloseConnection(code=4002, reason="server says bye"))
            while True:
                ev = await ws.next_event()
                if ev is None or isinstance(ev, CloseConnection):
                    break
            # the client's close came with END_STREAM; end ours
            await peer.send_data(sid, b"", end_stream=True)
            return
        if m == "ping me":
            await ws.send(Ping(payload=b"server-ping"))
        await ws.send(TextMessage(data=m) if isinstance(m, str) else BytesMessage(data=m))


async def handle_server(reader, writer):
    upgrade = SCENARIO == "h2c_upgrade_ws"
    enable = SCENARIO != "h2c_protocol_not_enabled"
    peer = Peer(reader, writer, client_side=False, enable_connect=enable)
    if enable:
        peer.conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100})
    if upgrade:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        hdrs = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        log(layer="http1", dir="recv", event="Request", line=lines[0], headers=hdrs)
        resp = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
        writer.write(resp)
        log(layer="http1", dir="send", event="Response", line="HTTP/1.1 101 Switching Protocols")
        peer.conn.initiate_upgrade_connection(hdrs["http2-settings"].encode())
    else:
        peer.conn.initiate_connection()
    peer.flush()
    await writer.drain()
    reader_task = asyncio.create_task(peer.read_loop())
    tasks = []
    if upgrade:  # stream 1 is the upgraded GET: answer it
        body = b"hello over h2c after the upgrade\n"
        await peer.send_headers(1, [(":status", "200"), ("content-type", "text/plain"),
                                    ("content-length", str(len(body)))])
        await peer.send_data(1, body, end_stream=True)
    while True:
        get = asyncio.ensure_future(peer.new_requests.get())
        term = asyncio.ensure_future(peer.terminated.wait())
        done, _ = await asyncio.wait([get, term], return_when=asyncio.FIRST_COMPLETED)
        if get not in done:
            get.cancel()
            break
        term.cancel()
        req = get.result()
        headers = {k.decode(): v.decode() for k, v in req.headers}
        if headers.get(":protocol") and not enable:
            # RFC 8441 s3: :protocol without our setting is a malformed request
            log(layer="app", event="reject :protocol", stream_id=req.stream_id)
            peer.conn.reset_stream(req.stream_id, ErrorCodes.PROTOCOL_ERROR)
            peer.flush()
            await writer.drain()
        elif headers.get(":method") == "CONNECT" and headers.get(":protocol") == "websocket":
            tasks.append(asyncio.create_task(serve_ws(peer, req, headers)))
        else:
            body = json.dumps({"path": headers.get(":path"), "bye": headers.get(":path") == "/bye"}).encode()
            await peer.send_headers(req.stream_id, [(":status", "200"), ("content-type", "application/json"),
                                                    ("content-length", str(len(body)))])
            await peer.send_data(req.stream_id, body, end_stream=True)
            if headers.get(":path") == "/bye":
                await asyncio.gather(*tasks, return_exceptions=True)
                last = peer.conn.highest_inbound_stream_id
                log(layer="h2", dir="send", event="GoAway", last_stream_id=last, error_code=0)
                peer.conn.close_connection(error_code=ErrorCodes.NO_ERROR, last_stream_id=last,
                                           additional_data=b"done")
                peer.flush()
                await writer.drain()
                await asyncio.sleep(0.2)
                break
    writer.close()
    try:
        await writer.wait_closed()
    except ConnectionError:
        pass
    reader_task.cancel()
    log(layer="tcp", event="closed")
    DONE.set()


# ------------------------------------------------------------------ client

def rnd(n, seed):
    return random.Random(seed).randbytes(n)


def words(n, seed):
    r = random.Random(seed)
    v = ["frame", "stream", "CONNECT", "deflate", "window", "données", "消息", "😀", "h2c", "wsproto"]
    s = ""
    while len(s) < n:
        s += r.choice(v) + " "
    return s[:n]


async def open_ws(peer, path, sub=None, ext=None, extra=()):
    sid = peer.conn.get_next_available_stream_id()
    headers = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", path),
               (":authority", HOST), ("sec-websocket-version", "13"), ("user-agent", "h2c-wsproto-peers")]
    if sub:
        headers.append(("sec-websocket-protocol", sub))
    if ext:
        headers.append(("sec-websocket-extensions", ext))
    headers += list(extra)
    await peer.send_headers(sid, headers)
    e = await peer.q(sid).get()
    if not isinstance(e, h2.events.ResponseReceived):
        log(layer="app", event="no websocket", stream_id=sid, got=type(e).__name__ if e else None)
        return None
    resp = {k.decode(): v.decode() for k, v in e.headers}
    exts = []
    if resp.get("sec-websocket-extensions", "").startswith("permessage-deflate"):
        pmd = PerMessageDeflate(client_max_window_bits=15)
        pmd.finalize(resp["sec-websocket-extensions"])
        exts = [pmd]
    return WsStream(peer, sid, Connection(ConnectionType.CLIENT, exts))


async def echo(ws, msg, **kw):
    await ws.send(TextMessage(data=msg) if isinstance(msg, str) else BytesMessage(data=msg), **kw)
    back = await ws.next_message()
    assert back == msg, (type(back), len(back) if hasattr(back, "__len__") else back)


async def get(peer, path):
    sid = peer.conn.get_next_available_stream_id()
    await peer.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", HOST),
                                  ("user-agent", "h2c-wsproto-peers")], end_stream=True)
    while True:
        e = await peer.q(sid).get()
        if e is None or isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)):
            return


async def client_wsproto(peer):
    chat = await open_ws(peer, "/chat", sub="chat.v1, chat.v2", ext="permessage-deflate; client_max_window_bits")
    plain = await open_ws(peer, "/plain")
    # a 40000-byte header value: the header block exceeds MAX_FRAME_SIZE and
    # h2 sends HEADERS + CONTINUATION
    doomed = await open_ws(peer, "/doomed", sub="chat.v2",
                           extra=[("x-large-header", rnd(20000, 10).hex())])
    # an HTTP/2 PING (answered by the server's h2 with PING ACK) and a frame of
    # an unknown type (0xfa, RFC 9113 s5.5: must be ignored) on stream 0
    log(layer="h2", dir="send", event="Ping", opaque="h2cping!")
    peer.conn.ping(b"h2cping!")
    peer.flush()
    unknown = (5).to_bytes(3, "big") + bytes([0xFA, 0]) + (0).to_bytes(4, "big") + b"grease"[:5]
    log(layer="h2", dir="send", event="UnknownFrame", type=0xFA, length=5)
    peer.w.write(unknown)
    await peer.w.drain()
    for ws in (chat, plain, doomed):
        await ws.next_message()  # welcome
    await asyncio.gather(echo(chat, "hello h2c over stream %d" % chat.sid),
                         echo(plain, "hello h2c over stream %d" % plain.sid))
    await echo(chat, words(3000, 1))
    await echo(chat, "")
    await echo(chat, rnd(300, 2))
    # a fragmented text message: 3 frames (wsproto takes str per fragment)
    text = "fragmented: caf\u00e9 au lait, " + words(200, 3)
    tparts = [text[:16], text[16:120], text[120:]]
    for i, p in enumerate(tparts):
        await chat.send(TextMessage(data=p, message_finished=i == len(tparts) - 1))
    back = await chat.next_message()
    assert back == text
    await chat.send(Ping(payload=b"client-ping-1"))
    await echo(chat, "ping me")  # the server pings back before echoing
    # big incompressible message on /chat and a big one on /plain, concurrently
    await asyncio.gather(echo(chat, rnd(30000, 4)), echo(plain, rnd(30000, 5), chunk=5000))
    await echo(plain, words(17000, 6))
    # the doomed stream: one message, then the first fragment of a binary
    # message, then RST_STREAM CANCEL in the middle of that message
    await echo(doomed, "this stream will be reset")
    await doomed.send(BytesMessage(data=rnd(1000, 7), message_finished=False))
    await asyncio.sleep(0.05)
    log(layer="h2", dir="send", event="ResetStream", stream_id=doomed.sid, error_code=8)
    peer.conn.reset_stream(doomed.sid, ErrorCodes.CANCEL)
    peer.flush()
    await peer.w.drain()
    # /chat: client-initiated close 3001; /plain: server-initiated 4002
    await chat.send(CloseConnection(code=3001, reason="chat finished"), end_stream=True)
    while True:
        ev = await chat.next_event()
        if ev is None or ev == "END_STREAM":
            break
    await plain.send(TextMessage(data="please close"))
    while True:
        ev = await plain.next_event()
        if ev is None:
            break
        if isinstance(ev, CloseConnection):
            await plain.send(ev.response(), end_stream=True)
        if ev == "END_STREAM":
            break
    await get(peer, "/bye")


async def client_upgrade(peer):
    ws = await open_ws(peer, "/chat", sub="chat.v2", ext="permessage-deflate; client_max_window_bits")
    await ws.next_message()
    await echo(ws, "hello after Upgrade: h2c")
    await echo(ws, words(5000, 8))
    await echo(ws, rnd(2000, 9))
    await ws.send(CloseConnection(code=1001, reason="going away"), end_stream=True)
    while True:
        ev = await ws.next_event()
        if ev is None or ev == "END_STREAM":
            break
    await get(peer, "/bye")


async def client_not_enabled(peer):
    log(layer="app", event="server ENABLE_CONNECT_PROTOCOL", value=peer.remote_settings.get(8))
    ws = await open_ws(peer, "/chat", sub="chat.v2")
    assert ws is None
    await get(peer, "/after-reset")
    await get(peer, "/bye")


async def client():
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    peer = Peer(reader, writer, client_side=True, enable_connect=False)
    if SCENARIO == "h2c_upgrade_ws":
        settings = peer.conn.initiate_upgrade_connection()
        req = ("GET / HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               "HTTP2-Settings: %s\r\nUser-Agent: h2c-wsproto-peers\r\n\r\n" % (HOST, settings.decode()))
        log(layer="http1", dir="send", event="Request", line="GET / HTTP/1.1")
        writer.write(req.encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        log(layer="http1", dir="recv", event="Response", line=head.decode().split("\r\n")[0])
        assert b" 101 " in head.split(b"\r\n")[0]
    else:
        peer.conn.initiate_connection()
    peer.flush()
    await writer.drain()
    rt = asyncio.create_task(peer.read_loop())
    await peer.settings_seen.wait()
    if SCENARIO == "h2c_upgrade_ws":
        while True:  # the upgraded GET / is stream 1
            e = await peer.q(1).get()
            if e is None or isinstance(e, h2.events.StreamEnded):
                break
    await {"h2c_wsproto": client_wsproto, "h2c_upgrade_ws": client_upgrade,
           "h2c_protocol_not_enabled": client_not_enabled}[SCENARIO](peer)
    await asyncio.wait_for(peer.terminated.wait(), 5)
    writer.close()
    await asyncio.sleep(0.1)
    rt.cancel()


async def server_main():
    global DONE
    DONE = asyncio.Event()
    srv = await asyncio.start_server(handle_server, "127.0.0.1", PORT)
    open(LOGFILE + ".ready", "w").close()
    await DONE.wait()  # one connection per recording
    srv.close()


if ROLE == "server":
    asyncio.run(server_main())
else:
    asyncio.run(client())
