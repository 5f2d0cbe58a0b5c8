#!/usr/bin/env python3
"""Builds the committed seed corpora in fuzz/seeds/ from the sample captures.

    python3 fuzz/make_seeds.py            # from the repository root

Seeds for each target use that target's input layout (see the target's doc
comment): whole (cut) capture files, packets with their link type, TCP
payload streams as reassembly records, HTTP header blocks, WebSocket byte
streams and raw-deflate messages.
"""
import os, struct, zlib, hashlib, glob

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
CAP = 16 * 1024  # bytes per seed: small seeds fuzz faster


def put(target, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def packets(path):
    """(linktype, bytes) of every packet of a pcap or pcapng file."""
    raw = open(path, "rb").read()
    out = []
    magic = raw[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xD4, 0x4D) else ">"
        link = struct.unpack(e + "I", raw[20:24])[0]
        pos = 24
        while pos + 16 <= len(raw):
            incl = struct.unpack(e + "I", raw[pos + 8:pos + 12])[0]
            out.append((link, raw[pos + 16:pos + 16 + incl]))
            pos += 16 + incl
    elif magic == b"\x0a\x0d\x0d\x0a":
        e = "<" if raw[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        links = []
        pos = 0
        while pos + 12 <= len(raw):
            btype, blen = struct.unpack(e + "II", raw[pos:pos + 8])
            if blen < 12:
                break
            body = raw[pos + 8:pos + blen - 4]
            if btype == 0x0A0D0D0A:
                links = []
            elif btype == 1:
                links.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6:
                ifid, _, _, cap, _ = struct.unpack(e + "IIIII", body[:20])
                if ifid < len(links):
                    out.append((links[ifid], body[20:20 + cap]))
            pos += blen
    return out


def tcp_payload(link, pkt):
    """(src, dst, seq, flags, payload) of an Ethernet/SLL/raw IPv4/IPv6 TCP packet."""
    if link == 1:
        off, et = 14, struct.unpack(">H", pkt[12:14])[0]
        while et == 0x8100 and len(pkt) >= off + 4:
            et = struct.unpack(">H", pkt[off + 2:off + 4])[0]
            off += 4
    elif link == 113:
        off, et = 16, struct.unpack(">H", pkt[14:16])[0]
    elif link == 276:
        off, et = 20, struct.unpack(">H", pkt[0:2])[0]
    elif link in (101, 12, 14, 228, 229):
        off, et = 0, 0x0800 if pkt[:1] and pkt[0] >> 4 == 4 else 0x86DD
    elif link == 0:
        off, et = 4, 0x0800
    else:
        return None
    ip = pkt[off:]
    if et == 0x0800 and len(ip) >= 20 and ip[9] == 6:
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        src, dst, tcp = ip[12:16], ip[16:20], ip[ihl:total]
    elif et == 0x86DD and len(ip) >= 40 and ip[6] == 6:
        plen = struct.unpack(">H", ip[4:6])[0]
        src, dst, tcp = ip[8:24], ip[24:40], ip[40:40 + plen]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", tcp[:8])
    doff = (tcp[12] >> 4) * 4
    return (src, sport), (dst, dport), seq, tcp[13], tcp[doff:]


def streams(path):
    """Each direction's payload in capture order, with its segments."""
    by_dir = {}
    for link, pkt in packets(path):
        t = tcp_payload(link, pkt)
        if t is None:
            continue
        src, dst, seq, flags, pay = t
        by_dir.setdefault((src, dst), []).append((seq, flags, pay))
    return by_dir


def tls_seed(path):
    """tls: both directions in capture order as [ctl][len u16 BE][bytes]."""
    rec, client = b"", None
    for link, pkt in packets(path):
        t = tcp_payload(link, pkt)
        if t is None or not t[4]:
            continue
        src, _, _, _, pay = t
        client = client or src
        rec += bytes([0 if src == client else 1]) + struct.pack(">H", len(pay)) + pay
    return rec


def main():
    caps = sorted(glob.glob(os.path.join(ROOT, "captures", "*.pcap*")))
    for path in caps:
        if os.path.basename(path).startswith("wss_"):
            seed = tls_seed(path)
            put("tls", seed)
            put("tls", seed[:CAP])
        raw = open(path, "rb").read()
        put("capture_reader", raw[:CAP])
        put("pipeline", raw[:CAP * 4])
        pk = packets(path)
        # packet_decode: [link u8][len u16 LE][bytes] records.
        linkmap = {0: 0, 1: 1, 101: 2, 108: 3, 113: 4, 228: 5, 229: 6, 276: 7}
        rec = b""
        for link, p in pk[:24]:
            p = p[:2000]
            rec += bytes([linkmap.get(link, 8)]) + struct.pack("<H", len(p)) + p
        put("packet_decode", rec)
        for (src, dst), segs in list(streams(path).items())[:4]:
            data = b"".join(p for _, _, p in segs)
            if not data:
                continue
            # tcp_reassembly: [cap][op][seq u32][len u8][missing u8][payload]
            recs = b"\x40"
            for seq, flags, pay in segs[:40]:
                for i in range(0, max(len(pay), 1), 255):
                    chunk = pay[i:i + 255]
                    op = 1 if flags & 2 else 0
                    recs += bytes([op]) + struct.pack("<I", (seq + i) & 0xFFFFFFFF) + bytes([len(chunk), 0]) + chunk
            put("tcp_reassembly", recs[:CAP])
            if data.startswith((b"GET ", b"HTTP/1.")):
                end = data.find(b"\r\n\r\n")
                head = data[: end + 4] if end >= 0 else data[:2048]
                put("http_parser", bytes([0 if data.startswith(b"GET") else 1 | (13 << 1)]) + data[:4096])
                ws = data[len(head):]
                if ws:
                    ctl = (1 if data.startswith(b"HTTP") else 0) | 8 | (5 << 4)
                    if b"permessage-deflate" in head:
                        ctl |= 2
                    put("frame_decoder", bytes([ctl]) + ws[:CAP])
    # packet_decode: tunnelled packets (captures/tunnels), each capture's
    # first packets, and its WebSocket data packets one per seed.
    for path in sorted(glob.glob(os.path.join(ROOT, "captures", "tunnels", "*.pcap"))):
        pk = packets(path)
        rec = b""
        for link, p in pk[:12]:
            rec += bytes([1]) + struct.pack("<H", len(p)) + p
        put("packet_decode", rec)
        for link, p in pk[12:14]:
            put("packet_decode", bytes([1]) + struct.pack("<H", len(p)) + p)
    # deflate: raw deflate messages separated by 0xfe (sync flush, trailer cut).
    msgs = [b"hello hello hello websocket", b'{"a":1,"b":[1,2,3],"c":"xyz"}' * 20, bytes(range(256)) * 8]
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = b""
    for m in msgs:
        z = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
        out += z[:-4] + b"\xfe"
    put("deflate", b"\x01" + out)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    put("deflate", b"\x20" + c.compress(b"a" * 5000) + c.flush(zlib.Z_SYNC_FLUSH)[:-4])
    # Hand-made fixed-code blocks whose copies reach before the window's
    # first byte (the third message with context takeover, the second
    # without): a hostile sender's, which no compressor makes.
    hello = fixed_block([c for c in b"hello"])
    again = fixed_block([ord(" "), (5, 6)])
    past = fixed_block([ord(" "), (5, 13)])
    for ctl in (b"\x01", b"\x00"):
        put("deflate", ctl + hello + b"\xfe" + again + b"\xfe" + past)
    put("deflate", b"\x05" + fixed_block([ord("a"), (3, 2)]))


def fixed_block(syms):
    """One non-final block with fixed codes (RFC 1951 §3.2.6) of literals
    (ints) and copies ((length 3-10, distance 1-32768)), then the sync
    flush's stored-block header, its `00 00 ff ff` cut (RFC 7692 §7.2.1)."""
    bits = []

    def put_bits(v, n):
        bits.extend((v >> i) & 1 for i in range(n))

    def code(v, n):  # Huffman codes go most significant bit first
        bits.extend((v >> (n - 1 - i)) & 1 for i in range(n))

    def lit_len(sym):
        if sym < 144:
            code(0x30 + sym, 8)
        elif sym < 256:
            code(0x190 + sym - 144, 9)
        elif sym < 280:
            code(sym - 256, 7)
        else:
            code(0xC0 + sym - 280, 8)

    base = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
            1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    put_bits(0, 1)
    put_bits(1, 2)
    for s in syms:
        if isinstance(s, int):
            lit_len(s)
            continue
        length, dist = s
        lit_len(257 + length - 3)
        d = max(i for i, b in enumerate(base) if b <= dist)
        code(d, 5)
        put_bits(dist - base[d], max(d - 2, 0) // 2)
    lit_len(256)
    put_bits(0, 3)
    while len(bits) % 8:
        bits.append(0)
    return bytes(sum(b << i for i, b in enumerate(bits[k:k + 8])) for k in range(0, len(bits), 8))


if __name__ == "__main__":
    main()
