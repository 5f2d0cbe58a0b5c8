#!/usr/bin/env python3
"""Writes fuzz/seeds/h2/ from captures/h2/layer/*.pcap: each direction's
TCP payload (loopback, in order) as the `h2` fuzz target's records
(`[op][len][bytes]`), whole, from mid-stream, and with a gap.

  python3 tools/gen-captures/h2layer/fuzz_seeds.py
"""
import glob, hashlib, os, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
OUT = os.path.join(ROOT, "fuzz", "seeds", "h2")
CAP = 60000


def payloads(path):
    """(dir, bytes) per TCP segment with data; dir 0 = from the SYN sender."""
    raw = open(path, "rb").read()
    assert raw[:4] == b"\xd4\xc3\xb2\xa1"
    o, client, seen, out = 24, None, set(), []
    while o + 16 <= len(raw):
        incl = struct.unpack("<I", raw[o + 8:o + 12])[0]
        pkt = raw[o + 16:o + 16 + incl]
        o += 16 + incl
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        tcp = ip[ihl:]
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        doff = (tcp[12] >> 4) * 4
        flags = tcp[13]
        if flags & 0x02 and not flags & 0x10:
            client = sport
        data = tcp[doff:struct.unpack(">H", ip[2:4])[0] - ihl]
        if data and (sport, seq) not in seen:
            seen.add((sport, seq))
            out.append((0 if sport == client else 1, data))
    return out


def records(segs, chunk=200):
    b = bytearray()
    for d, data in segs:
        for i in range(0, len(data), chunk):
            piece = data[i:i + chunk][:255]
            b += bytes([d, len(piece)]) + piece
    return bytes(b)


def put(blob):
    blob = blob[:CAP]
    name = hashlib.sha256(blob).hexdigest()[:16]
    open(os.path.join(OUT, name), "wb").write(blob)


os.makedirs(OUT, exist_ok=True)
for pcap in glob.glob(os.path.join(ROOT, "captures", "h2", "layer", "*.pcap")):
    segs = payloads(pcap)
    for ctl, chunk in ((0, 200), (0, 37), (2, 255)):
        put(bytes([ctl]) + records(segs, chunk))
    # Mid-stream: drop the first segments of each direction.
    put(bytes([1]) + records(segs[6:], 150))
    # A gap in the middle of the client's bytes.
    r = records(segs[:12], 120)
    put(bytes([0]) + r[:len(r) // 2] + bytes([2, 9]) + r[len(r) // 2:])
    # Short prefixes: the preface, SETTINGS, first header blocks.
    for n in (40, 120, 400):
        put(bytes([0]) + records(segs[:4], 64)[:n])
print(len(os.listdir(OUT)), "seeds")
