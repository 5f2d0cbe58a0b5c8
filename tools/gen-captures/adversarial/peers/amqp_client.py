#!/usr/bin/env python3
"""AMQP 0-9-1 client (pika): declares a queue, publishes 7 messages of
0..20000 bytes (some starting 0x81 0x05 / 0x82 0x7e), consumes them back
with acks, deletes the queue, closes. Usage: amqp_client.py HOST PORT"""
import random, sys
import pika

host, port = sys.argv[1], int(sys.argv[2])
rnd = random.Random(19)
conn = pika.BlockingConnection(pika.ConnectionParameters(host, port, credentials=pika.PlainCredentials("guest", "guest"),
                                                         heartbeat=0))
ch = conn.channel()
ch.queue_declare("adv", auto_delete=True)
msgs = [b"", b"\x81\x05hello", b"\x82\x7e\x01\x00" + rnd.randbytes(256), rnd.randbytes(125),
        b'{"event":"order","id":42}', rnd.randbytes(20000), b"\x88\x02\x03\xe8"]
for m in msgs:
    ch.basic_publish("", "adv", m, pika.BasicProperties(content_type="application/octet-stream"))
got = []
for method, props, body in ch.consume("adv", inactivity_timeout=5):
    if method is None:
        break
    got.append(body)
    ch.basic_ack(method.delivery_tag)
    if len(got) == len(msgs):
        break
ch.cancel()
assert got == msgs, [len(g) for g in got]
ch.queue_delete("adv")
conn.close()
