#!/usr/bin/env python3
"""HTTP/1.1 pipelining (RFC 9112 §9.3.2): three requests written in one
send before any response is read, then the responses read in order.
Usage: pipeline_client.py HOST PORT"""
import socket, sys

host, port = sys.argv[1], int(sys.argv[2])
body = bytes([0x81, 0x7d]) + bytes(range(125))
reqs = (b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        + b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        + b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
s = socket.create_connection((host, port))
s.sendall(reqs)
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
assert data.count(b"HTTP/1.1 ") == 3, data[:200]
s.close()
