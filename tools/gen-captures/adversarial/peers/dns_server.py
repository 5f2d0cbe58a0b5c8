#!/usr/bin/env python3
"""DNS server over TCP (dnslib records, socketserver loop). Names tN.test. get a TXT answer of about
N bytes (binary strings shaped like WebSocket frame headers); others an A.
Usage: dns_server.py HOST PORT"""
import random, socket, socketserver, struct, sys
from dnslib import A, QTYPE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver


class R(BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        label = str(q.qname).split(".")[0]
        if q.qtype == QTYPE.TXT and label.startswith("t") and label[1:].isdigit():
            n, rnd = int(label[1:]), random.Random(label)
            strings = []
            while n > 0:
                ln = min(n, rnd.randint(2, 125))
                strings.append(bytes([rnd.choice([0x81, 0x82, 0x88, 0x89])]) + rnd.randbytes(ln - 1))
                n -= ln
            reply.add_answer(RR(q.qname, QTYPE.TXT, rdata=TXT(strings), ttl=60))
        else:
            reply.add_answer(RR(q.qname, QTYPE.A, rdata=A("10.129.0.5"), ttl=60))
        return reply


class KeepOpen(socketserver.BaseRequestHandler):
    """DNS over TCP as RFC 7766 §6.2.1 wants it: many queries per
    connection, each a 2-byte length then the message (dnslib's own TCP
    handler answers one and closes, which would make dig +keepopen fail)."""

    def handle(self):
        f = self.request.makefile("rb")
        while True:
            hdr = f.read(2)
            if len(hdr) < 2:
                return
            q = DNSRecord.parse(f.read(struct.unpack("!H", hdr)[0]))
            a = R().resolve(q, None).pack()
            self.request.sendall(struct.pack("!H", len(a)) + a)


class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET


S((sys.argv[1], int(sys.argv[2])), KeepOpen).serve_forever()
