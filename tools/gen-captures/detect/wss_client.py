"""Real python websockets client reaching the wss server through an HTTP
proxy: the socket is tunnelled with CONNECT first (as proxy-aware clients
do; websockets' own proxy support rejects tinyproxy's HTTP/1.0 answer),
then websockets runs TLS and the WebSocket handshake over it. The TLS keys
go to the key log named by SSLKEYLOGFILE."""
import os, socket, ssl, sys
from websockets.sync.client import connect

port, proxy_port = int(sys.argv[1]), int(sys.argv[2])
sock = socket.create_connection(("127.0.0.1", proxy_port))
sock.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
answer = b""
while b"\r\n\r\n" not in answer:
    answer += sock.recv(1)
assert answer.split()[1] == b"200", answer
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.keylog_filename = os.environ["SSLKEYLOGFILE"]
with connect(f"wss://127.0.0.1:{port}/tunnel", sock=sock, ssl=ctx, compression=None) as ws:
    for m in ["through the proxy", "second", b"\x81\x82binary"]:
        ws.send(m)
        ws.recv()
