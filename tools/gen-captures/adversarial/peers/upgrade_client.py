#!/usr/bin/env python3
"""Docker-attach-like client (stdlib http.client): inspects a container,
then POSTs .../attach with `Upgrade: tcp`, checks the 101 and exchanges raw
bytes (some of which look like WebSocket frame headers) on the socket.
Usage: upgrade_client.py HOST PORT"""
import http.client, random, socket, sys, time

host, port = sys.argv[1], int(sys.argv[2])
c = http.client.HTTPConnection(host, port)
c.request("GET", "/v1.43/containers/abc/json")
r = c.getresponse()
r.read()
assert r.status == 200, r.status
c.request("POST", "/v1.43/containers/abc/attach?stream=1&stdin=1&stdout=1",
          headers={"Upgrade": "tcp", "Connection": "Upgrade", "Content-Type": "text/plain"})
r = c.getresponse()
assert r.status == 101, r.status
sock = c.sock
rnd = random.Random(5)
chunks = [b"\x81\x05hello", b"ls -l /\n", b"\x82\x7d" + rnd.randbytes(125),
          b"\x88\x02\x03\xe8", bytes(rnd.randint(0, 255) for _ in range(3000)), b"exit\n"]
for ch in chunks:
    sock.sendall(ch)
    want, got = len(ch) + 8, b""
    while len(got) < want:
        got += sock.recv(65536)
    time.sleep(0.05)
sock.shutdown(socket.SHUT_WR)
while sock.recv(65536):
    pass
sock.close()
