#!/usr/bin/env python3
"""gRPC over cleartext HTTP/2 with grpcio, no generated code: the methods
take and return raw bytes. `server HOST PORT` serves /adv.Echo/Unary
(reverses) and /adv.Echo/Stream (echoes each message); `client HOST PORT`
makes unary calls of 0..20000 bytes (frame-like binary) and one
bidirectional stream of 6 messages, all on one channel."""
import random, sys, time
from concurrent import futures
import grpc

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "server":
    h = grpc.method_handlers_generic_handler("adv.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(lambda req, ctx: req[::-1]),
        "Stream": grpc.stream_stream_rpc_method_handler(lambda it, ctx: (m for m in it)),
    })
    s = grpc.server(futures.ThreadPoolExecutor(4), handlers=[h])
    s.add_insecure_port(f"{host}:{port}")
    s.start()
    s.wait_for_termination()
else:
    rnd = random.Random(13)
    ch = grpc.insecure_channel(f"{host}:{port}", options=[("grpc.enable_retries", 0)])
    unary = ch.unary_unary("/adv.Echo/Unary")
    for n in (0, 5, 125, 126, 3000, 20000):
        msg = (b"\x81\x05hello" + rnd.randbytes(n))[:n]
        assert unary(msg, timeout=5) == msg[::-1]
    stream = ch.stream_stream("/adv.Echo/Stream")
    msgs = [b"\x82\x03abc", rnd.randbytes(100), b"\x88\x02\x03\xe8", rnd.randbytes(700), b"", b"bye"]
    assert list(stream(iter(msgs), timeout=5)) == msgs
    ch.close()
