#!/usr/bin/env python3
"""hypercorn (HTTP/2 over TLS, RFC 8441 WebSockets) serving the test page, with
a peer log of everything the server sent and received.

The log (JSON lines, one event per line) is the server's ground truth:
  * every h2 event hypercorn's h2.H2Connection reported (headers as received,
    stream resets, settings), via a wrapper around H2Connection.receive_data;
  * per WebSocket stream: the raw stream bytes received and sent (base64), and
    every wsproto event sent or received (type, payload length, sha256,
    frame_finished/message_finished, close code/reason).

Usage: server.py CERT KEY PORT LOGFILE DONEFILE   (CERT KEY = - -: cleartext)
The server writes DONEFILE once the page POSTed its own log to /log.
"""
import asyncio
import base64
import hashlib
import json
import os
import sys

import h2.connection
import h2.settings
import hypercorn.asyncio
import hypercorn.protocol.ws_stream as ws_stream
from hypercorn.config import Config
from hypercorn.protocol.events import Body, Data, Request, StreamClosed
from wsproto.events import (BytesMessage, CloseConnection, Ping, Pong,
                            TextMessage)

CERT, KEY, PORT, LOGFILE, DONEFILE = sys.argv[1:6]
PAGE = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "page.html"), "rb").read()
_log = open(LOGFILE, "w", buffering=1)


def log(**kw):
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


# --- h2 layer: what the server's h2 state machine saw ------------------------
_orig_receive = h2.connection.H2Connection.receive_data


def _receive(self, data):
    events = _orig_receive(self, data)
    for e in events:
        rec = {"side": "server", "layer": "h2", "dir": "recv", "event": type(e).__name__,
               "stream_id": getattr(e, "stream_id", None)}
        if getattr(e, "headers", None):
            rec["headers"] = [[k.decode() if isinstance(k, bytes) else k,
                               v.decode() if isinstance(v, bytes) else v] for k, v in e.headers]
        if hasattr(e, "error_code") and e.error_code is not None:
            rec["error_code"] = int(e.error_code)
        if hasattr(e, "flow_controlled_length"):
            rec["len"] = e.flow_controlled_length
        if type(e).__name__ == "RemoteSettingsChanged":
            rec["settings"] = {int(k): v.new_value for k, v in e.changed_settings.items()}
        log(**rec)
    return events


h2.connection.H2Connection.receive_data = _receive

_orig_send_headers = h2.connection.H2Connection.send_headers


def _send_headers(self, stream_id, headers, *a, **kw):
    log(side="server", layer="h2", dir="send", event="SendHeaders", stream_id=stream_id,
        headers=[[k.decode() if isinstance(k, bytes) else k,
                  v.decode() if isinstance(v, bytes) else v] for k, v in headers])
    return _orig_send_headers(self, stream_id, headers, *a, **kw)


h2.connection.H2Connection.send_headers = _send_headers

# H2CAP_NO_CONNECT_PROTOCOL=1: a server that does not implement RFC 8441 (its
# SETTINGS carry no ENABLE_CONNECT_PROTOCOL at all), so browsers fall back to
# WebSockets over HTTP/1.1 on separate connections.
if os.environ.get("H2CAP_NO_CONNECT_PROTOCOL") == "1":
    import hypercorn.protocol.h2 as hc_h2
    _orig_h2_init = hc_h2.H2Protocol.__init__

    def _h2_init(self, *a, **kw):
        _orig_h2_init(self, *a, **kw)
        del self.connection.local_settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL]

    hc_h2.H2Protocol.__init__ = _h2_init

# --- WebSocket layer: every wsproto event and the raw stream bytes -----------
_orig_handle = ws_stream.WSStream.handle
_orig_send_event = ws_stream.WSStream._send_wsproto_event
_orig_handle_events = ws_stream.WSStream._handle_events


async def _handle(self, event):
    if isinstance(event, Request):
        log(side="server", layer="ws", dir="recv", event="Request", stream_id=self.stream_id, conn=id(self),
            path=event.raw_path.decode(), http_version=event.http_version, method=event.method)
        await _orig_handle(self, event)
        # /ws/plain refuses every extension, so one session runs without
        # permessage-deflate (Handshake.accept negotiates from this list).
        if event.raw_path.startswith(b"/ws/plain") and getattr(self, "handshake", None):
            self.handshake.extensions = None
        return
    if isinstance(event, (Body, Data)):
        log(side="server", layer="ws", dir="recv", event="StreamData", stream_id=self.stream_id, conn=id(self),
            b64=base64.b64encode(bytes(event.data)).decode())
        # wrap the connection's events() so every parsed wsproto event is logged
        conn = getattr(self, "connection", None)
        if conn is not None and not getattr(conn, "_logged", False):
            orig_events = conn.events
            sid, key = self.stream_id, id(self)

            def events():
                for ev in orig_events():
                    log(side="server", layer="ws", dir="recv", event="wsproto", stream_id=sid, conn=key,
                        ev=describe(ev))
                    yield ev
            conn.events = events
            conn._logged = True
    if isinstance(event, StreamClosed):
        log(side="server", layer="ws", dir="recv", event="StreamClosed", stream_id=self.stream_id, conn=id(self))
    await _orig_handle(self, event)


async def _send_event(self, event):
    log(side="server", layer="ws", dir="send", event="wsproto", stream_id=self.stream_id, conn=id(self),
        ev=describe(event))
    try:
        data = self.connection.send(event)
    except Exception as exc:  # wsproto refuses (e.g. after close): log and drop
        log(side="server", layer="ws", dir="send", event="refused", stream_id=self.stream_id, conn=id(self),
            error=repr(exc))
        return
    log(side="server", layer="ws", dir="send", event="StreamData", stream_id=self.stream_id, conn=id(self),
        b64=base64.b64encode(data).decode())
    await self.send(Data(stream_id=self.stream_id, data=data))


ws_stream.WSStream.handle = _handle
ws_stream.WSStream._send_wsproto_event = _send_event


# --- the ASGI application ------------------------------------------------------
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        path = scope["path"]
        if path == "/":
            ctype, out, status = b"text/html; charset=utf-8", PAGE, 200
        elif path == "/data.json":
            ctype, status = b"application/json", 200
            out = json.dumps({"stage": scope["query_string"].decode() or "start",
                              "streams": "multiplexed"}).encode()
        elif path == "/log" and scope["method"] == "POST":
            log(side="client", layer="page", entries=json.loads(body))
            ctype, out, status = b"text/plain", b"ok", 200
        else:
            ctype, out, status = b"text/plain", b"not found", 404
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype), (b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})
        if path == "/log":
            open(DONEFILE, "w").write("done\n")
        return
    if scope["type"] == "websocket":
        m = await receive()
        assert m["type"] == "websocket.connect"
        offered = scope.get("subprotocols") or []
        sub = "chat.v1" if "chat.v1" in offered else None
        await send({"type": "websocket.accept", "subprotocol": sub})
        await send({"type": "websocket.send", "text": f"welcome to {scope['path']} over HTTP/2"})
        while True:
            m = await receive()
            if m["type"] == "websocket.disconnect":
                log(side="server", layer="asgi", event="disconnect", path=scope["path"], code=m.get("code"))
                return
            if m.get("text") == "please close":
                await send({"type": "websocket.close", "code": 1000, "reason": "bye from server"})
                continue
            if m.get("text") is not None:
                await send({"type": "websocket.send", "text": m["text"]})
            else:
                await send({"type": "websocket.send", "bytes": m["bytes"]})


async def main():
    cfg = Config()
    cfg.bind = [f"127.0.0.1:{PORT}"]
    if CERT != "-":  # "-": plain HTTP/1.1 (a backend behind a proxy)
        cfg.certfile, cfg.keyfile = CERT, KEY
    cfg.websocket_ping_interval = 0.4
    cfg.accesslog = "-"
    await hypercorn.asyncio.serve(app, cfg)


asyncio.run(main())
