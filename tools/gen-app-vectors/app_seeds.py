#!/usr/bin/env python3
"""Writes the seed corpus of the `app` fuzz target (fuzz/seeds/app/).

    python3 tools/gen-app-vectors/app_seeds.py   # from the repository root

Each seed is the target's layout (fuzz/fuzz_targets/app.rs): a control
byte (protocol = ctl % 13, handshake hint = ctl >> 4) and messages, each a
header byte (bit 0 s2c, bit 1 binary, bits 3-7 = 31 then a u16 LE length)
and the payload. The messages are the specifications' examples also used
by tests/app_decoders.rs, and the mqtt-packet vectors.
"""
import hashlib, json, os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "fuzz", "seeds", "app")
PROTOS = ["socket.io", "mqtt", "stomp", "gtw", "gws", "jsonrpc", "ocpp", "signalr", "phoenix", "wamp", "cable"]
AUTO = 11


def msg(s2c, binary, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return bytes([(31 << 3) | (2 if binary else 0) | (1 if s2c else 0)]) + len(payload).to_bytes(2, "little") + payload


def seed(ctl, msgs):
    data = bytes([ctl]) + b"".join(msg(*m) for m in msgs)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


C, S = False, True
sets = {
    "socket.io": [(S, 0, '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000}'),
                  (C, 0, '40/admin,{"token":"123"}'), (S, 0, '40/admin,{"sid":"x"}'), (C, 0, '42/admin,456["project:delete",123]'),
                  (S, 0, '43/admin,456[]'), (C, 0, '451-["hello",{"_placeholder":true,"num":0}]'), (C, 1, b"\x01\x02"),
                  (S, 0, "2"), (C, 0, "3"), (S, 0, '44{"message":"Not authorized"}'), (C, 0, "2probe"), (C, 0, "5")],
    "stomp": [(C, 0, "CONNECT\naccept-version:1.2\nhost:h\n\n\0"), (S, 0, "CONNECTED\nversion:1.2\n\n\0"),
              (C, 0, "SEND\ndestination:/queue/a\\cb\nreceipt:r1\ncontent-length:3\n\na\0b\0"), (S, 0, "RECEIPT\nreceipt-id:r1\n\n\0"),
              (C, 0, "\n"), (S, 0, "ERROR\nmessage:bad\n\nbody\0")],
    "gtw": [(C, 0, '{"type":"connection_init","payload":{}}'), (S, 0, '{"type":"connection_ack"}'),
            (C, 0, '{"id":"1","type":"subscribe","payload":{"query":"subscription S { s }"}}'),
            (S, 0, '{"id":"1","type":"next","payload":{"data":{"s":1}}}'), (S, 0, '{"id":"1","type":"complete"}')],
    "gws": [(C, 0, '{"type":"connection_init","payload":{}}'), (S, 0, '{"type":"ka"}'),
            (C, 0, '{"id":"1","type":"start","payload":{"query":"query Q { q }"}}'), (S, 0, '{"id":"1","type":"data","payload":{"errors":[{"message":"x"}]}}')],
    "jsonrpc": [(C, 0, '[{"jsonrpc":"2.0","method":"sum","params":[1,2],"id":"1"},{"jsonrpc":"2.0","method":"n"}]'),
                (S, 0, '[{"jsonrpc":"2.0","result":3,"id":"1"},{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid"},"id":null}]')],
    "ocpp": [(C, 0, '[2,"19223201","BootNotification",{"chargePointVendor":"V"}]'), (S, 0, '[3,"19223201",{"status":"Accepted"}]'),
             (S, 0, '[2,"7","Reset",{}]'), (C, 0, '[4,"7","NotSupported","no",{}]')],
    "signalr": [(C, 0, '{"protocol":"json","version":1}\x1e'), (S, 0, '{}\x1e'),
                (C, 0, '{"type":1,"invocationId":"1","target":"Send","arguments":[1]}\x1e{"type":6}\x1e'),
                (S, 0, '{"type":3,"invocationId":"1","error":"no"}\x1e')],
    "phoenix": [(C, 0, '["1","1","room:lobby","phx_join",{}]'), (S, 0, '["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]'),
                (C, 1, b"\x00\x01\x01\x0a\x07" + b"12room:lobbynew_msg" + b"{}")],
    "wamp": [(C, 0, '[1,"realm1",{"roles":{"caller":{}}}]'), (S, 0, '[2,1,{}]'), (C, 0, '[48,7,{},"com.x"]'),
             (S, 0, '[8,48,7,{},"com.err",["a"]]')],
    "cable": [(S, 0, '{"type":"welcome"}'), (C, 0, '{"command":"subscribe","identifier":"{\\"channel\\":\\"C\\"}"}'),
              (S, 0, '{"identifier":"{\\"channel\\":\\"C\\"}","type":"confirm_subscription"}')],
}
mqtt = json.load(open(os.path.join(ROOT, "tests", "data", "app", "mqtt-packet.json")))
for level in (4, 5):
    vs = [(v["dir"] == "s2c", 1, bytes.fromhex(v["hex"])) for v in mqtt if v["level"] == level]
    sets["mqtt%d" % level] = vs
    # Several packets in one message, and one packet across two.
    c2s = b"".join(p for s2c, _, p in vs if not s2c)
    sets["mqtt%d-stream" % level] = [(C, 1, c2s[: len(c2s) // 2]), (C, 1, c2s[len(c2s) // 2:])]

for name, msgs in sets.items():
    proto = "mqtt" if name.startswith("mqtt") else name
    seed(PROTOS.index(proto), msgs)
    seed(AUTO, msgs)

# Engine.IO long-polling bodies (the target's second half): control bytes
# with ctl % 13 == 12 (no WebSocket protocol); bit 0 clear is v4 (38), set
# v3 (25, 51); the bits above pick where the two bodies split.
def poll_seed(ctl, body):
    data = bytes([ctl]) + body
    with open(os.path.join(OUT, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


poll_seed(38, b'0{"sid":"a","upgrades":["websocket"]}\x1e40\x1e421["x",1]\x1e'
          b'451-["u",{"_placeholder":true,"num":0}]\x1ebAQID\x1e431[true]\x1e2\x1e6')
poll_seed(25, "6:4hello4:4€€€6:b4AQID2:40".encode())
poll_seed(25 + 26, b"\x00\x06\xff4hello\x01\x04\xff\x04\x01\x02\x03\x00\x02\xff40")
