#!/usr/bin/env python3
"""HTTP/1.1 keep-alive server (stdlib http.server) that accepts any method
the corpus uses, reads request bodies (Content-Length or chunked), answers
with Content-Length or chunked bodies, and logs every exchange it answered
as a JSON line: client port, method, raw target, final status.
Also serves the Docker-style `Upgrade: tcp` attach: 101, then echoes the
raw stream framed the way Docker's raw-stream multiplexing does.
Usage: http_server.py HOST PORT LOGFILE"""
import json, random, socket, struct, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST, PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def adversarial_bytes(n, seed):
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        ln = rnd.randint(0, 125)
        out += bytes([rnd.choice([0x81, 0x82, 0x88, 0x89, 0x8A]), ln]) + rnd.randbytes(ln)
    return bytes(out[:n])


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self, status):
        with open(LOG, "a") as f:
            f.write(json.dumps({"client_port": self.client_address[1], "method": self.command,
                                "target": self.path, "status": status}) + "\n")

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def reply(self, status, body, ctype="application/octet-stream", chunked=False, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                for i in range(0, len(body), 700):
                    part = body[i:i + 700]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        self.wfile.flush()
        self.record(status)

    def do_GET(self):
        if self.path == "/missing":
            return self.reply(404, b"<h1>404 not here</h1>\n", "text/html")
        if self.path == "/early":
            # An interim response before the final one (RFC 8297, RFC 9110 §15.2).
            self.send_response_only(103, "Early Hints")
            self.send_header("Link", "</style.css>; rel=preload; as=style")
            self.end_headers()
            self.wfile.flush()
            return self.reply(200, b"<html>after early hints</html>\n", "text/html")
        if self.path.startswith("/chunked"):
            return self.reply(200, adversarial_bytes(2500, 3), chunked=True)
        if self.path.endswith("/json"):
            return self.reply(200, json.dumps({"Id": "abc", "State": {"Running": True}}).encode(), "application/json")
        return self.reply(200, b"<html>" + b"x" * 1500 + b"</html>\n", "text/html")

    do_HEAD = do_GET

    def do_POST(self):
        if self.headers.get("Upgrade", "").lower() == "tcp":
            return self.attach()
        data = self.body()
        self.reply(201 if self.path == "/upload" else 200, data[::-1])

    def do_PUT(self):
        self.body()
        self.send_response(204)
        self.end_headers()
        self.record(204)

    def do_OPTIONS(self):
        self.reply(200, b"", extra=[("Allow", "GET, HEAD, POST, PUT, OPTIONS, PROPFIND, RPC_IN_DATA")])

    def do_PROPFIND(self):
        self.body()
        xml = (b'<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">'
               + b"".join(b"<D:response><D:href>/dav/f%d</D:href></D:response>" % i for i in range(20))
               + b"</D:multistatus>\n")
        self.reply(207, xml, 'application/xml; charset="utf-8"')

    def do_RPC_IN_DATA(self):
        data = self.body()
        self.reply(200, data[:64], "application/rpc")

    def attach(self):
        """Docker Engine API attach: 101 UPGRADED, then the raw stream."""
        self.send_response(101, "UPGRADED")
        self.send_header("Content-Type", "application/vnd.docker.raw-stream")
        self.send_header("Connection", "Upgrade")
        self.send_header("Upgrade", "tcp")
        self.end_headers()
        self.wfile.flush()
        self.record(101)
        sock = self.connection
        while True:
            # read1: bytes already buffered behind the headers first, then
            # one recv at a time.
            data = self.rfile.read1(65536)
            if not data:
                break
            sock.sendall(b"\x01\x00\x00\x00" + struct.pack("!I", len(data)) + data)
        sock.shutdown(socket.SHUT_WR)
        self.close_connection = True


class S(ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in HOST else socket.AF_INET


S((HOST, PORT), H).serve_forever()
