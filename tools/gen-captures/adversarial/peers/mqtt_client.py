#!/usr/bin/env python3
"""MQTT 3.1.1 client (paho-mqtt 2.x) over TCP or WebSocket: subscribes
(SUBSCRIBE's fixed header is 0x82), publishes payloads of 0..3000 bytes at
QoS 0/1/2 (some starting 0x81 0x05), waits for each to come back, pings,
unsubscribes, disconnects.
Usage: mqtt_client.py tcp|websockets HOST PORT"""
import random, sys, threading, time
import paho.mqtt.client as mqtt

transport, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
got = []
ev = threading.Event()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"adv-{transport}", transport=transport)
if transport == "websockets":
    c.ws_set_options(path="/mqtt")
c.on_message = lambda cl, ud, msg: (got.append(msg.payload), ev.set())
c.connect(host, port, keepalive=60)
c.loop_start()
time.sleep(0.3)
c.subscribe([("adv/#", 1)])
time.sleep(0.2)
rnd = random.Random(11)
payloads = [b"", b"\x81\x05hello", b"\x82\x7e\x01\x00" + rnd.randbytes(256), rnd.randbytes(100),
            b"temperature=21.5", rnd.randbytes(3000), b"\x88\x02\x03\xe8", "données ✓".encode()]
for i, p in enumerate(payloads):
    ev.clear()
    c.publish(f"adv/t{i}", p, qos=i % 3).wait_for_publish(5)
    assert ev.wait(5), i
    if i == 3:
        c.subscribe([("other/+", 0), ("adv/x", 2)])
    time.sleep(0.05)
assert got == payloads, [len(g) for g in got]
c.unsubscribe(["other/+", "adv/x"])
time.sleep(0.2)
c.disconnect()
c.loop_stop()
