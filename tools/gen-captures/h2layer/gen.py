#!/usr/bin/env python3
"""Records captures/h2/layer/*.pcap: real HTTP/2 peers (python h2, both
sides) on loopback, for the h2 layer's tests (tests/h2_layer.rs).

Not run by the tests. Needs root (tcpdump) and `pip install h2`.

  python3 tools/gen-captures/h2layer/gen.py

h2layer_prior_knowledge.pcap: h2c with prior knowledge; the client opens a GET,
a 40 000-byte POST (one DATA frame padded), a request whose 20 000-byte
header needs CONTINUATION, an RFC 8441 extended CONNECT (the server sent
SETTINGS_ENABLE_CONNECT_PROTOCOL=1) carrying WebSocket frames as DATA, a
GET the server resets, a PRIORITY, a PING and a GOAWAY. What each side
sent is logged to h2layer_prior_knowledge.log.json (one line per action).

h2layer_h2c_upgrade.pcap: HTTP/1.1 `Upgrade: h2c` (RFC 7540 §3.2) with an
`HTTP2-Settings` header; the 101, then the server's SETTINGS and its
answer to the upgrade request on stream 1, then a second request on
stream 3. Logged to h2layer_h2c_upgrade.log.json.
"""
import base64
import json, os, socket, subprocess, sys, threading, time
import h2.config, h2.connection, h2.events, h2.settings
from h2.settings import SettingCodes

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "..", "captures", "h2", "layer")
PORT = 18080
log = []


def note(who, what, **kw):
    log.append(dict(who=who, what=what, **kw))


def pump(sock, conn):
    data = conn.data_to_send()
    if data:
        sock.sendall(data)


def server(lsock):
    s, _ = lsock.accept()
    cfg = h2.config.H2Configuration(client_side=False, header_encoding=None,
                                    validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=cfg)
    conn.local_settings = h2.settings.Settings(
        client=False, initial_values={SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,
                                      SettingCodes.MAX_CONCURRENT_STREAMS: 100})
    conn.initiate_connection()
    pump(s, conn)
    bodies = {}
    done = False
    while not done:
        data = s.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                h = dict(ev.headers)
                sid = ev.stream_id
                if h.get(b":method") == b"CONNECT":
                    conn.send_headers(sid, [(b":status", b"200"),
                                            (b"sec-websocket-protocol", b"chat")])
                    note("server", "headers", stream=sid, status=200)
                elif h.get(b":path") == b"/reset-me":
                    conn.reset_stream(sid, error_code=8)
                    note("server", "rst_stream", stream=sid, code=8)
                elif h.get(b":method") == b"GET" and not ev.stream_ended is None:
                    pass
                bodies[sid] = 0
            elif isinstance(ev, h2.events.DataReceived):
                bodies[ev.stream_id] = bodies.get(ev.stream_id, 0) + len(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if ev.stream_id == 7 and ev.data:
                    # An unmasked WebSocket text frame "hello back" (RFC 6455).
                    payload = b"\x81\x0ahello back"
                    conn.send_data(7, payload)
                    note("server", "data", stream=7, len=len(payload))
            elif isinstance(ev, h2.events.StreamEnded):
                sid = ev.stream_id
                if sid == 7:
                    conn.send_data(7, b"\x88\x02\x03\xe8", end_stream=True)
                    note("server", "data", stream=7, len=4, end_stream=True)
                elif sid in (1, 3, 5):
                    body = (b"hello %d\n" % sid) * (1 if sid != 1 else 3000)
                    conn.send_headers(sid, [(b":status", b"200"), (b"content-type", b"text/plain"),
                                            (b"x-received", str(bodies.get(sid, 0)).encode())])
                    while body:
                        n = min(len(body), conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                        if n == 0:
                            break
                        conn.send_data(sid, body[:n], end_stream=(n == len(body)))
                        body = body[n:]
                    note("server", "response", stream=sid, status=200)
            elif isinstance(ev, h2.events.PingReceived):
                note("server", "ping_ack")
            elif isinstance(ev, h2.events.ConnectionTerminated):
                done = True
        pump(s, conn)
    time.sleep(0.2)
    s.close()


def client():
    s = socket.create_connection(("127.0.0.1", PORT))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cfg = h2.config.H2Configuration(client_side=True, header_encoding=None,
                                    validate_outbound_headers=False)
    conn = h2.connection.H2Connection(config=cfg)
    conn.initiate_connection()
    pump(s, conn)
    note("client", "preface")

    def read_some(until=None, timeout=1.0):
        s.settimeout(timeout)
        evs = []
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                for ev in conn.receive_data(data):
                    evs.append(ev)
                    if isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                pump(s, conn)
                if until and any(until(e) for e in evs):
                    break
        except socket.timeout:
            pass
        return evs

    read_some(lambda e: isinstance(e, h2.events.RemoteSettingsChanged))
    base = [(b":scheme", b"http"), (b":authority", b"127.0.0.1:%d" % PORT)]
    conn.send_headers(1, [(b":method", b"GET"), (b":path", b"/")] + base +
                      [(b"user-agent", b"h2layer/1")], end_stream=True)
    note("client", "headers", stream=1, method="GET", path="/")
    pump(s, conn)
    read_some(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == 1)

    conn.send_headers(3, [(b":method", b"POST"), (b":path", b"/upload")] + base +
                      [(b"user-agent", b"h2layer/1"), (b"content-type", b"application/octet-stream")])
    body = bytes(i % 251 for i in range(40000))
    conn.send_data(3, body[:1000], pad_length=10)
    sent = 1000
    while sent < len(body):
        n = min(len(body) - sent, conn.local_flow_control_window(3), conn.max_outbound_frame_size)
        if n == 0:
            pump(s, conn)
            read_some(lambda e: isinstance(e, h2.events.WindowUpdated))
            continue
        conn.send_data(3, body[sent:sent + n], end_stream=(sent + n == len(body)))
        sent += n
        pump(s, conn)
    note("client", "post", stream=3, len=len(body), padded_first=10)
    read_some(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == 3)

    conn.send_headers(5, [(b":method", b"GET"), (b":path", b"/big")] + base +
                      [(b"x-big", b"b" * 30000)], end_stream=True)
    note("client", "headers", stream=5, method="GET", path="/big", continuation=True)
    pump(s, conn)
    read_some(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == 5)

    conn.send_headers(7, [(b":method", b"CONNECT"), (b":protocol", b"websocket"),
                          (b":scheme", b"http"), (b":path", b"/chat"),
                          (b":authority", b"127.0.0.1:%d" % PORT),
                          (b"sec-websocket-version", b"13"),
                          (b"sec-websocket-protocol", b"chat, superchat")])
    note("client", "extended_connect", stream=7)
    pump(s, conn)
    read_some(lambda e: isinstance(e, h2.events.ResponseReceived))
    # A masked WebSocket text frame "hi there" (mask 01 02 03 04).
    mask = b"\x01\x02\x03\x04"
    text = b"hi there"
    frame = b"\x81\x88" + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(text))
    conn.send_data(7, frame)
    note("client", "data", stream=7, len=len(frame))
    pump(s, conn)
    read_some(lambda e: isinstance(e, h2.events.DataReceived))
    close = b"\x88\x82" + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(b"\x03\xe8"))
    conn.send_data(7, close, end_stream=True)
    note("client", "data", stream=7, len=len(close), end_stream=True)
    pump(s, conn)
    read_some(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == 7)

    conn.send_headers(9, [(b":method", b"GET"), (b":path", b"/reset-me")] + base, end_stream=True)
    note("client", "headers", stream=9, method="GET", path="/reset-me")
    pump(s, conn)
    read_some(lambda e: isinstance(e, h2.events.StreamReset))

    conn.prioritize(11, weight=32, depends_on=0, exclusive=False)
    note("client", "priority", stream=11)
    conn.ping(b"pingpong")
    note("client", "ping")
    pump(s, conn)
    read_some(lambda e: isinstance(e, h2.events.PingAckReceived))
    conn.close_connection(error_code=0, additional_data=b"bye")
    note("client", "goaway", code=0)
    pump(s, conn)
    time.sleep(0.3)
    s.close()


def upgrade_server(lsock):
    s, _ = lsock.accept()
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    settings = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
                if l.lower().startswith(b"http2-settings:")][0]
    s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    note("server", "101")
    cfg = h2.config.H2Configuration(client_side=False, header_encoding=None)
    conn = h2.connection.H2Connection(config=cfg)
    conn.initiate_upgrade_connection(settings)
    conn.send_headers(1, [(b":status", b"200"), (b"content-type", b"text/plain")])
    conn.send_data(1, b"upgraded!\n", end_stream=True)
    note("server", "response", stream=1, status=200, body="upgraded!\n")
    pump(s, conn)
    done = False
    while not done:
        for ev in conn.receive_data(rest):
            if isinstance(ev, h2.events.RequestReceived):
                conn.send_headers(ev.stream_id, [(b":status", b"404")], end_stream=True)
                note("server", "response", stream=ev.stream_id, status=404)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                done = True
        pump(s, conn)
        if done:
            break
        rest = s.recv(65536)
        if not rest:
            break
    time.sleep(0.2)
    s.close()


def upgrade_client():
    s = socket.create_connection(("127.0.0.1", PORT))
    cfg = h2.config.H2Configuration(client_side=True, header_encoding=None)
    conn = h2.connection.H2Connection(config=cfg)
    settings = conn.initiate_upgrade_connection()
    s.sendall(b"GET /up HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
              b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n")
    note("client", "upgrade_request", path="/up", http2_settings=settings.decode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    _, rest = buf.split(b"\r\n\r\n", 1)
    pump(s, conn)
    note("client", "preface")
    s.settimeout(1.0)
    got = []
    try:
        while not any(isinstance(e, h2.events.StreamEnded) and e.stream_id == 1 for e in got):
            got += conn.receive_data(rest)
            pump(s, conn)
            rest = s.recv(65536)
    except socket.timeout:
        pass
    got += conn.receive_data(rest)
    conn.send_headers(3, [(b":method", b"GET"), (b":path", b"/second"), (b":scheme", b"http"),
                          (b":authority", b"127.0.0.1")], end_stream=True)
    note("client", "headers", stream=3, path="/second")
    pump(s, conn)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            evs = conn.receive_data(data)
            pump(s, conn)
            if any(isinstance(e, h2.events.StreamEnded) and e.stream_id == 3 for e in evs):
                break
    except socket.timeout:
        pass
    conn.close_connection()
    note("client", "goaway", code=0)
    pump(s, conn)
    time.sleep(0.3)
    s.close()


def record(name, server_fn, client_fn):
    log.clear()
    pcap = os.path.join(OUT, name + ".pcap")
    td = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-s", "0", "-w", pcap,
                           "tcp port %d" % PORT], stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", PORT))
    lsock.listen(1)
    t = threading.Thread(target=server_fn, args=(lsock,))
    t.start()
    client_fn()
    t.join(5)
    lsock.close()
    time.sleep(1.0)
    td.terminate()
    td.wait()
    with open(os.path.join(OUT, name + ".log.json"), "w") as f:
        for l in log:
            f.write(json.dumps(l) + "\n")
    print(pcap, os.path.getsize(pcap))


def main():
    os.makedirs(OUT, exist_ok=True)
    which = sys.argv[1:] or ["prior_knowledge", "h2c_upgrade"]
    if "prior_knowledge" in which:
        record("h2layer_prior_knowledge", server, client)
    if "h2c_upgrade" in which:
        record("h2layer_h2c_upgrade", upgrade_server, upgrade_client)


main()
