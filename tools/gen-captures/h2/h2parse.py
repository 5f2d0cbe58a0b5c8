#!/usr/bin/env python3
"""Independent parse of an HTTP/2 capture down to the WebSocket frames inside
RFC 8441 extended-CONNECT streams, with the packet numbers the truth files use.

Layers, each written here from the RFCs (no Wireshark code):
  pcap (LINKTYPE_ETHERNET / LINKTYPE_NULL / LINUX_SLL) -> IPv4/IPv6 -> TCP
  reassembly per direction (first copy of a byte wins; a byte "completes" at the
  packet after which it and every earlier byte of its direction were seen)
  -> optional TLS 1.3 record decryption with an NSS key log (RFC 8446 s7)
  -> optional HTTP/1.1 `Upgrade: h2c` prefix (RFC 7540 s3.2)
  -> HTTP/2 frames (RFC 9113) and HPACK (RFC 7541, via the `hpack` package,
     plus a small walker that counts Huffman strings and table references)
  -> RFC 6455 frames in the DATA bytes of each stream whose request is an
     extended CONNECT (RFC 8441 s4), permessage-deflate (RFC 7692).

Packet numbers (README "Packet numbers"): every byte of a decrypted stream is
mapped to the packet that carried the first byte of its TLS record (`first`)
and the packet that completed its TLS record (`last`); in cleartext to the
packet that first carried the byte and the packet that completed its in-order
delivery. Used as a library by the capture generators (build_truth.py).
"""
import hashlib
import hmac
import struct
import zlib

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
import hpack

# ------------------------------------------------------------------ pcap / IP / TCP


def read_pcap(path):
    """Yields (packet_no, ts, link_type, frame bytes) from a classic pcap file."""
    data = open(path, "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError("not a classic pcap file (pcapng is not read here)")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link = struct.unpack(e + "I", data[20:24])[0]
    off, n = 24, 0
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        n += 1
        yield n, sec + frac / (1e9 if nano else 1e6), link, data[off:off + incl], orig
        off += incl


def parse_tcp(link, frame):
    """Returns (src, dst, sport, dport, seq, ack, flags, payload) or None."""
    if link == 1:  # Ethernet
        et = struct.unpack(">H", frame[12:14])[0]
        off = 14
        while et == 0x8100:
            et = struct.unpack(">H", frame[off + 2:off + 4])[0]
            off += 4
    elif link == 113:  # Linux SLL
        et, off = struct.unpack(">H", frame[14:16])[0], 16
    elif link == 276:  # Linux SLL2
        et, off = struct.unpack(">H", frame[0:2])[0], 20
    elif link == 0:  # BSD loopback
        fam = struct.unpack("<I", frame[:4])[0]
        et, off = (0x0800 if fam == 2 else 0x86DD), 4
    else:
        return None
    import ipaddress
    if et == 0x0800:
        ihl = (frame[off] & 15) * 4
        total = struct.unpack(">H", frame[off + 2:off + 4])[0]
        if frame[off + 9] != 6:
            return None
        src = str(ipaddress.IPv4Address(frame[off + 12:off + 16]))
        dst = str(ipaddress.IPv4Address(frame[off + 16:off + 20]))
        tcp = frame[off + ihl:off + total]
    elif et == 0x86DD:
        plen = struct.unpack(">H", frame[off + 4:off + 6])[0]
        if frame[off + 6] != 6:
            return None
        src = "[%s]" % ipaddress.IPv6Address(frame[off + 8:off + 24])
        dst = "[%s]" % ipaddress.IPv6Address(frame[off + 24:off + 40])
        tcp = frame[off + 40:off + 40 + plen]
    else:
        return None
    sport, dport, seq, ack, offflags = struct.unpack(">HHIIH", tcp[:14])
    doff = (offflags >> 12) * 4
    return src, dst, sport, dport, seq, ack, offflags & 0x1FF, tcp[doff:]


class Direction:
    """One direction of a TCP connection, reassembled. For every stream byte:
    carry[i] = packet that first carried it, done[i] = packet that completed
    in-order delivery of bytes 0..i."""

    def __init__(self):
        self.isn = None
        self.buf = bytearray()
        self.carry = []
        self.done = []
        self.pending = {}   # offset -> (bytes, pkt) beyond the contiguous end
        self.fin = None
        self.rst = None
        self.segs = []      # (packet, offset from the ISN, payload length) of every data segment

    def add(self, pkt, seq, payload, syn):
        if syn:
            self.isn = (seq + 1) & 0xFFFFFFFF
            return
        if self.isn is None:  # picked up mid-stream: start here
            self.isn = seq
        off = (seq - self.isn) & 0xFFFFFFFF
        if off >= 0x80000000:
            off -= 0x100000000
        if not payload:
            return
        self.segs.append((pkt, off, len(payload)))
        end = len(self.buf)
        if off + len(payload) <= end:
            return  # old retransmission: first copy wins
        if off > end:
            self.pending.setdefault(off, (bytes(payload), pkt))
            return
        new = payload[end - off:]
        self.buf += new
        self.carry += [pkt] * len(new)
        self.done += [pkt] * len(new)
        # fill from pending segments that are now contiguous
        progressed = True
        while progressed:
            progressed = False
            for o in sorted(self.pending):
                data, p = self.pending[o]
                end = len(self.buf)
                if o <= end:
                    del self.pending[o]
                    if o + len(data) > end:
                        new = data[end - o:]
                        self.buf += new
                        self.carry += [p] * len(new)
                        self.done += [pkt] * len(new)
                    progressed = True
                    break


class TcpConn:
    def __init__(self, client, server, first):
        self.client, self.server = client, server
        self.c2s, self.s2c = Direction(), Direction()
        self.packets = []
        self.first = first
        self.first_fin = None


def tcp_connections(path):
    """All TCP connections in capture order; returns (conns, packet_count, link)."""
    conns, by_key, count, link_type = [], {}, 0, None
    for n, ts, link, frame, orig in read_pcap(path):
        count, link_type = n, link
        t = parse_tcp(link, frame)
        if t is None:
            continue
        src, dst, sp, dp, seq, ack, flags, payload = t
        a, b = "%s:%d" % (src, sp), "%s:%d" % (dst, dp)
        key = frozenset((a, b))
        syn, fin, rst, ackf = flags & 2, flags & 1, flags & 4, flags & 16
        c = by_key.get(key)
        ended = c is not None and (c.c2s.rst or c.s2c.rst or (c.c2s.fin and c.s2c.fin))
        if c is None or (syn and not ackf and ended):
            client, server = (a, b) if (syn and not ackf) or not syn else (b, a)
            c = TcpConn(client, server, n)
            by_key[key] = c
            conns.append(c)
        c.packets.append(n)
        d = c.c2s if a == c.client else c.s2c
        d.add(n, seq, payload, syn)
        if fin and d.fin is None:
            d.fin = n
            if c.first_fin is None:
                c.first_fin = "client" if d is c.c2s else "server"
        if rst and d.rst is None:
            d.rst = n
    return conns, count, link_type


# ------------------------------------------------------------------ TLS 1.3

SUITES = {0x1301: ("TLS_AES_128_GCM_SHA256", AESGCM, 16, hashlib.sha256),
          0x1302: ("TLS_AES_256_GCM_SHA384", AESGCM, 32, hashlib.sha384),
          0x1303: ("TLS_CHACHA20_POLY1305_SHA256", ChaCha20Poly1305, 32, hashlib.sha256)}


def hkdf_expand_label(secret, label, length, h):
    full = b"tls13 " + label
    info = struct.pack(">HB", length, len(full)) + full + b"\x00"
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(secret, t + info + bytes([i]), h).digest()
        out += t
        i += 1
    return out[:length]


def read_keylog(path):
    keys = {}
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        label, cr, secret = line.split()
        keys.setdefault(bytes.fromhex(cr), {})[label] = bytes.fromhex(secret)
    return keys


class Stream:
    """A byte stream with per-byte first/last packet numbers."""

    def __init__(self):
        self.buf = bytearray()
        self.first = []
        self.last = []

    def extend(self, data, first, last):
        self.buf += data
        if isinstance(first, list):
            self.first += first
            self.last += last
        else:
            self.first += [first] * len(data)
            self.last += [last] * len(data)


def tcp_stream(d):
    s = Stream()
    s.extend(bytes(d.buf), list(d.carry), list(d.done))
    return s


def parse_hello_exts(body, off):
    exts = {}
    if off + 2 > len(body):
        return exts
    total = struct.unpack(">H", body[off:off + 2])[0]
    off += 2
    end = off + total
    while off + 4 <= end:
        t, l = struct.unpack(">HH", body[off:off + 4])
        exts[t] = body[off + 4:off + 4 + l]
        off += 4 + l
    return exts


def tls_decrypt(conn, keys):
    """Decrypts both directions of a TLS 1.3 connection. Returns a dict with
    version, cipher_suite, sni, alpn_offered, alpn, decrypted, reason, records
    per direction, alerts, and c2s/s2c application-data Streams."""
    info = {"version": None, "cipher_suite": None, "sni": None, "alpn_offered": None,
            "alpn": None, "decrypted": False, "reason": None, "records": {}, "alerts": [],
            "c2s": Stream(), "s2c": Stream(), "key_update": False}
    recs = {}
    for name, d in (("c2s", conn.c2s), ("s2c", conn.s2c)):
        out, off, buf = [], 0, d.buf
        while off + 5 <= len(buf):
            ctype, ver, ln = buf[off], struct.unpack(">H", buf[off + 1:off + 3])[0], struct.unpack(">H", buf[off + 3:off + 5])[0]
            if off + 5 + ln > len(buf):
                break
            out.append({"type": ctype, "hdr": bytes(buf[off:off + 5]), "body": bytes(buf[off + 5:off + 5 + ln]),
                        "first": d.carry[off], "last": d.done[off + 5 + ln - 1], "off": off})
            off += 5 + ln
        recs[name] = out
    info["record_list"] = {d: [(r["last"], len(r["body"])) for r in v] for d, v in recs.items()}
    # ClientHello / ServerHello (plaintext handshake records)
    ch = next((r for r in recs["c2s"] if r["type"] == 22), None)
    sh = next((r for r in recs["s2c"] if r["type"] == 22), None)
    if ch is None:
        info["reason"] = "no ClientHello"
        return info
    b = ch["body"]
    crandom = b[6:38]
    sid_len = b[38]
    o = 39 + sid_len
    cs_len = struct.unpack(">H", b[o:o + 2])[0]
    o += 2 + cs_len
    o += 1 + b[o]
    exts = parse_hello_exts(b, o)
    if 0 in exts:
        info["sni"] = exts[0][5:].decode()
    if 16 in exts:
        lst, i = [], 2
        while i < len(exts[16]):
            l = exts[16][i]
            lst.append(exts[16][i + 1:i + 1 + l].decode())
            i += 1 + l
        info["alpn_offered"] = lst
    if sh is None:
        info["reason"] = "no ServerHello"
        info["records"] = {k: len(v) for k, v in recs.items()}
        return info
    b = sh["body"]
    sid_len = b[38]
    o = 39 + sid_len
    suite = struct.unpack(">H", b[o:o + 2])[0]
    sexts = parse_hello_exts(b, o + 3)
    if 43 in sexts and struct.unpack(">H", sexts[43][:2])[0] == 0x0304:
        info["version"] = "1.3"
    else:
        info["version"] = "1.2"
        info["reason"] = "TLS 1.2 is not decrypted by this script"
        return info
    name, aead, klen, h = SUITES[suite]
    info["cipher_suite"] = name
    k = keys.get(crandom)
    if not k:
        info["reason"] = "no key log entry for this ClientHello random"
        info["records"] = {d: {"total": len(v)} for d, v in recs.items()}
        return info

    def keyset(secret):
        return (aead(hkdf_expand_label(secret, b"key", klen, h)),
                hkdf_expand_label(secret, b"iv", 12, h))

    for dname, hs_label, app_label in (("c2s", "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"),
                                       ("s2c", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0")):
        cipher, iv = keyset(k[hs_label])
        seq, phase = 0, "handshake"
        hsbuf = b""
        by_type = {}
        for r in recs[dname]:
            if r["type"] != 23:
                t = {20: "change_cipher_spec", 21: "alert", 22: "handshake"}.get(r["type"], str(r["type"]))
                by_type[t] = by_type.get(t, 0) + 1
                continue
            nonce = bytes(a ^ b for a, b in zip(iv, (b"\x00" * 4) + struct.pack(">Q", seq)))
            pt = cipher.decrypt(nonce, r["body"], r["hdr"])
            seq += 1
            pt = pt.rstrip(b"\x00")
            inner = pt[-1]
            pt = pt[:-1]
            t = {21: "alert", 22: "handshake", 23: "application_data"}.get(inner, str(inner))
            by_type[t] = by_type.get(t, 0) + 1
            if inner == 22:
                hsbuf += pt
                while len(hsbuf) >= 4:
                    mt, ml = hsbuf[0], int.from_bytes(hsbuf[1:4], "big")
                    if len(hsbuf) < 4 + ml:
                        break
                    msg = hsbuf[4:4 + ml]
                    hsbuf = hsbuf[4 + ml:]
                    if mt == 8 and dname == "s2c":  # EncryptedExtensions: ALPN
                        e = parse_hello_exts(msg, 0)
                        if 16 in e:
                            info["alpn"] = e[16][3:3 + e[16][2]].decode()
                    if mt == 24:
                        info["key_update"] = True
                    if mt == 20 and phase == "handshake":  # Finished: switch keys
                        cipher, iv = keyset(k[app_label])
                        seq, phase = 0, "application"
            elif inner == 21:
                info["alerts"].append({"dir": dname, "level": pt[0], "description": pt[1], "packet": r["last"]})
            elif inner == 23:
                info[dname].extend(pt, r["first"], r["last"])
        info["records"][dname] = {"records": len(recs[dname]), "by_type": by_type}
    info["decrypted"] = True
    return info


# ------------------------------------------------------------------ HPACK walker

def hpack_int(buf, i, prefix):
    mask = (1 << prefix) - 1
    v = buf[i] & mask
    i += 1
    if v < mask:
        return v, i
    m = 0
    while True:
        b = buf[i]
        i += 1
        v += (b & 127) << m
        m += 7
        if not b & 128:
            return v, i


def hpack_walk(block):
    """Counts the representations of one header block (RFC 7541 s6):
    indexed, literal with/without indexing, table size updates, Huffman
    strings. Returns a dict of counts."""
    c = {"indexed_static": 0, "indexed_dynamic": 0, "literal_incremental": 0, "literal_not_indexed": 0,
         "literal_never_indexed": 0, "size_update": 0, "huffman_strings": 0, "raw_strings": 0,
         "name_from_dynamic": 0}
    i = 0

    def string(i):
        h = block[i] & 128
        ln, i = hpack_int(block, i, 7)
        c["huffman_strings" if h else "raw_strings"] += 1
        return i + ln

    while i < len(block):
        b = block[i]
        if b & 128:
            idx, i = hpack_int(block, i, 7)
            c["indexed_static" if idx <= 61 else "indexed_dynamic"] += 1
        elif b & 64:
            idx, i = hpack_int(block, i, 6)
            c["literal_incremental"] += 1
            if idx == 0:
                i = string(i)
            elif idx > 61:
                c["name_from_dynamic"] += 1
            i = string(i)
        elif b & 32:
            _, i = hpack_int(block, i, 5)
            c["size_update"] += 1
        else:
            idx, i = hpack_int(block, i, 4)
            c["literal_never_indexed" if b & 16 else "literal_not_indexed"] += 1
            if idx == 0:
                i = string(i)
            elif idx > 61:
                c["name_from_dynamic"] += 1
            i = string(i)
    return c


# ------------------------------------------------------------------ HTTP/2

FRAME_TYPES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS", 5: "PUSH_PROMISE",
               6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION", 0x10: "PRIORITY_UPDATE"}
ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
          4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM",
          8: "CANCEL", 9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM",
          12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}
SETTINGS = {1: "HEADER_TABLE_SIZE", 2: "ENABLE_PUSH", 3: "MAX_CONCURRENT_STREAMS", 4: "INITIAL_WINDOW_SIZE",
            5: "MAX_FRAME_SIZE", 6: "MAX_HEADER_LIST_SIZE", 8: "ENABLE_CONNECT_PROTOCOL",
            9: "NO_RFC7540_PRIORITIES"}
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def http1_head(buf):
    """Splits an HTTP/1.1 head off buf: (start line, headers list, end offset)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    hdrs = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]
    body_len = 0
    for k, v in hdrs:
        if k.lower() == "content-length":
            body_len = int(v)
    return lines[0], hdrs, end + 4 + body_len


def h2_parse(c2s, s2c):
    """Parses both directions. Returns dict with frames (per dir, in order),
    streams (id -> info), settings per dir, goaways, pings, http1 prefix."""
    res = {"frames": {"c2s": [], "s2c": []}, "settings": {"c2s": [], "s2c": []}, "goaway": [],
           "rst": [], "pings": [], "http1": {}, "streams": {}, "mode": None, "problems": [],
           "hpack": {"c2s": {}, "s2c": {}}}
    streams = res["streams"]

    def st(sid):
        return streams.setdefault(sid, {"stream_id": sid, "req_headers": None, "resp_headers": [],
                                        "data": {"c2s": Stream(), "s2c": Stream()},
                                        "data_frames": {"c2s": 0, "s2c": 0}, "padded_data_frames": 0,
                                        "end_stream": {}, "rst": None, "headers_packets": {}})

    for dname, s in (("c2s", c2s), ("s2c", s2c)):
        dec = hpack.Decoder()
        dec.max_allowed_table_size = 1 << 16
        buf = s.buf
        off = 0
        if not buf:
            continue
        if dname == "c2s":
            if buf.startswith(PREFACE):
                res["mode"] = res["mode"] or "preface"
                off = len(PREFACE)
            else:
                h = http1_head(buf)
                if h is None:
                    res["problems"].append("c2s: neither preface nor HTTP/1.1 head")
                    continue
                res["http1"]["request"] = {"line": h[0], "headers": h[1], "packet": s.last[h[2] - 1]}
                res["mode"] = "upgrade"
                off = h[2]
                if not bytes(buf[off:]).startswith(PREFACE):
                    res["problems"].append("c2s: no preface after the HTTP/1.1 request")
                    continue
                off += len(PREFACE)
        else:
            if res["mode"] == "upgrade":
                h = http1_head(buf)
                if h is None:
                    continue
                res["http1"]["response"] = {"line": h[0], "headers": h[1], "packet": s.last[h[2] - 1]}
                off = h[2]
        hdr_block, hdr_sid, hdr_first, hdr_flags = None, None, None, 0
        hp = res["hpack"][dname]
        while off + 9 <= len(buf):
            ln = int.from_bytes(buf[off:off + 3], "big")
            ftype, flags = buf[off + 3], buf[off + 4]
            sid = int.from_bytes(buf[off + 5:off + 9], "big") & 0x7FFFFFFF
            if off + 9 + ln > len(buf):
                res["problems"].append("%s: truncated frame at end" % dname)
                break
            payload = bytes(buf[off + 9:off + 9 + ln])
            fr = {"type": FRAME_TYPES.get(ftype, "0x%x" % ftype), "flags": flags, "stream_id": sid,
                  "length": ln, "off": off, "first_packet": s.first[off], "last_packet": s.last[off + 8 + ln]}
            res["frames"][dname].append(fr)
            p0 = off + 9
            if ftype == 0:  # DATA
                pad = 0
                body_off = p0
                if flags & 0x8:
                    pad = payload[0]
                    body_off += 1
                    st(sid)["padded_data_frames"] += 1
                dlen = ln - pad - (body_off - p0)
                t = st(sid)
                t["data"][dname].extend(bytes(buf[body_off:body_off + dlen]), s.first[body_off:body_off + dlen],
                                        s.last[body_off:body_off + dlen])
                t["data_frames"][dname] += 1
                fr["data_len"] = dlen
                fr["pad"] = pad
                if flags & 1:
                    t["end_stream"][dname] = fr["last_packet"]
            elif ftype in (1, 9):  # HEADERS / CONTINUATION
                frag = payload
                if ftype == 1:
                    hdr_sid, hdr_first, hdr_flags = sid, fr["first_packet"], flags
                    i, pad = 0, 0
                    if flags & 0x8:
                        pad = frag[0]
                        fr["hpad"] = pad
                        i = 1
                    if flags & 0x20:
                        i += 5
                    frag = frag[i:len(frag) - pad]
                    hdr_block = frag
                else:
                    hdr_block += frag
                    fr["continuation"] = True
                if flags & 0x4:  # END_HEADERS
                    for k, v in hpack_walk(hdr_block).items():
                        hp[k] = hp.get(k, 0) + v
                    hl = [(k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
                          for k, v in dec.decode(hdr_block, raw=True)]
                    t = st(hdr_sid)
                    entry = {"headers": hl, "first_packet": hdr_first, "last_packet": fr["last_packet"],
                             "block_len": len(hdr_block)}
                    if dname == "c2s" and t["req_headers"] is None:
                        t["req_headers"] = entry
                    elif dname == "c2s":
                        t.setdefault("trailers", []).append(entry)
                    else:
                        t["resp_headers"].append(entry)
                    if hdr_flags & 1:
                        t["end_stream"][dname] = fr["last_packet"]
                    fr["headers"] = hl
            elif ftype == 3:
                code = int.from_bytes(payload[:4], "big")
                r = {"dir": dname, "stream_id": sid, "error_code": code, "error": ERRORS.get(code),
                     "packet": fr["last_packet"]}
                res["rst"].append(r)
                t = st(sid)
                if t["rst"] is None:
                    t["rst"] = r
            elif ftype == 4:
                if not flags & 1:
                    vals = {}
                    for i in range(0, ln - ln % 6, 6):
                        k, v = struct.unpack(">HI", payload[i:i + 6])
                        vals[SETTINGS.get(k, "0x%x" % k)] = v
                    res["settings"][dname].append({"values": vals, "packet": fr["last_packet"]})
                    if "HEADER_TABLE_SIZE" in vals and dname == "s2c":
                        pass
            elif ftype == 6:
                res["pings"].append({"dir": dname, "ack": bool(flags & 1), "opaque": payload.hex(),
                                     "packet": fr["last_packet"]})
            elif ftype == 7:
                last, code = struct.unpack(">II", payload[:8])
                res["goaway"].append({"dir": dname, "last_stream_id": last & 0x7FFFFFFF, "error_code": code,
                                      "error": ERRORS.get(code), "debug": payload[8:].decode("latin-1"),
                                      "packet": fr["last_packet"]})
            off += 9 + ln
    return res


# ------------------------------------------------------------------ WebSocket

def ws_frames(s):
    """RFC 6455 frames in a Stream: list of dicts (with raw unmasked payload)."""
    out, off, buf = [], 0, s.buf
    while off + 2 <= len(buf):
        b0, b1 = buf[off], buf[off + 1]
        ln, hl = b1 & 127, 2
        if ln == 126:
            if off + 4 > len(buf):
                break
            ln, hl = struct.unpack(">H", buf[off + 2:off + 4])[0], 4
        elif ln == 127:
            if off + 10 > len(buf):
                break
            ln, hl = struct.unpack(">Q", buf[off + 2:off + 10])[0], 10
        masked = b1 & 128
        mk = b""
        if masked:
            mk = bytes(buf[off + hl:off + hl + 4])
            hl += 4
        if off + hl + ln > len(buf):
            out.append({"incomplete": True, "off": off, "first_packet": s.first[off]})
            break
        p = bytes(buf[off + hl:off + hl + ln])
        if masked:
            p = bytes(c ^ mk[i % 4] for i, c in enumerate(p))
        out.append({"fin": bool(b0 & 128), "rsv1": bool(b0 & 64), "opcode": b0 & 15, "masked": bool(masked),
                    "len": ln, "hl": hl, "payload": p, "off": off, "first_packet": s.first[off],
                    "last_packet": s.last[off + hl + ln - 1] if hl + ln else s.last[off + 1]})
        off += hl + ln
    return out, off


def ws_messages(frames, deflate, no_takeover):
    """Messages and control frames (truth-file shape) from frames of one direction."""
    msgs, ctrl = [], []
    inflater = zlib.decompressobj(-15)
    cur = None
    for f in frames:
        if f.get("incomplete"):
            break
        op = f["opcode"]
        if op >= 8:
            c = {"opcode": {8: "close", 9: "ping", 10: "pong"}.get(op, "0x%x" % op), "payload_len": f["len"],
                 "close_code": None, "close_reason": None, "packet": f["last_packet"]}
            if op == 8 and f["len"] >= 2:
                c["close_code"] = struct.unpack(">H", f["payload"][:2])[0]
                try:
                    c["close_reason"] = f["payload"][2:].decode("utf-8")
                except UnicodeDecodeError:  # RFC 6455 s7.1.6: must be UTF-8; not knowable as text
                    c["close_reason"] = None
            c["payload_hex"] = f["payload"].hex()
            ctrl.append(c)
            continue
        if op in (1, 2):
            cur = {"opcode": "text" if op == 1 else "binary", "frames": 0, "compressed": f["rsv1"],
                   "wire": b"", "first_packet": f["first_packet"], "parts": []}
        cur["frames"] += 1
        cur["parts"].append(f["payload"])
        if f["fin"]:
            wire = b"".join(cur["parts"])
            if cur["compressed"]:
                if no_takeover:
                    inflater = zlib.decompressobj(-15)
                data = inflater.decompress(wire + b"\x00\x00\xff\xff")
            else:
                data = wire
            m = {"opcode": cur["opcode"], "frames": cur["frames"], "compressed": cur["compressed"],
                 "payload_len": len(data), "wire_payload_len": len(wire),
                 "sha256": hashlib.sha256(data).hexdigest(),
                 "text": None,
                 "first_packet": cur["first_packet"], "last_packet": f["last_packet"]}
            if cur["opcode"] == "text":
                try:
                    m["text"] = data.decode("utf-8")[:80]
                except UnicodeDecodeError:  # RFC 6455 s8.1: invalid UTF-8 fails the connection
                    m["utf8_valid"] = False
            msgs.append(m)
            cur = None
    partial = None
    if cur is not None:  # a message whose final frame never came (e.g. RST_STREAM)
        partial = {"opcode": cur["opcode"], "frames": cur["frames"], "compressed": cur["compressed"],
                   "wire_payload_len": sum(len(p) for p in cur["parts"]), "first_packet": cur["first_packet"],
                   "last_frame_packet": f["last_packet"]}
    return msgs, ctrl, partial
