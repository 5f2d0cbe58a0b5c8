#!/usr/bin/env python3
"""Wraps the real exchanges recorded by tunnels.sh (plain4.pcap, plain6.pcap,
vxlan.pcap in OUTDIR) in tunnel headers built by scapy, one output frame per
recorded frame, on the recorded frame's timestamp. See tunnels.sh for why
(this kernel has none of these tunnel drivers).

    tunnels_wrap.py OUTDIR

Client → server frames are those whose inner TCP destination port is 8765.
Writes: gre, gretap, gre_frag (outer IPv4 fragmented), erspan2, erspan3,
ipip, sit (6in4), ip6tnl4 (4in6), ip6tnl6 (6in6), geneve, gtpu, mpls,
mpls_pw, pppoe, qinq, nested (802.1Q / GRE / the real VXLAN underlay) and
unsupported (kinds wsinspect counts but does not decode, and a stack deeper
than its cap). Each copies the exchange's .sent.jsonl log beside it.
"""
import os, shutil, struct, sys

from scapy.all import (Ether, IP, IPv6, UDP, Raw, Dot1Q, Dot1AD, rdpcap, wrpcap,
                       fragment, conf)
from scapy.layers.l2 import GRE
from scapy.layers.ppp import PPPoE, PPP
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.contrib.mpls import MPLS, EoMCW

out = sys.argv[1]
MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
V4 = ("10.0.0.1", "10.0.0.2")
V6 = ("fd00::1", "fd00::2")


def frames(name):
    return list(rdpcap(os.path.join(out, name)))


def c2s(f):
    tcp = f.getlayer("TCP")
    return tcp is not None and tcp.dport == 8765


def write(name, source, pkts):
    wrpcap(os.path.join(out, name + ".pcap"), pkts, linktype=1)
    shutil.copy(os.path.join(out, source + ".sent.jsonl"), os.path.join(out, name + ".sent.jsonl"))


def stamp(new, old):
    new.time = old.time
    return new


def outer_eth(f, ether_type=None):
    """Underlay Ethernet between two routers, direction kept."""
    src, dst = (MAC_A, MAC_B) if c2s(f) else (MAC_B, MAC_A)
    return Ether(src=src, dst=dst) if ether_type is None else Ether(src=src, dst=dst, type=ether_type)


def outer_ip(f, v6=False):
    a, b = V6 if v6 else V4
    src, dst = (a, b) if c2s(f) else (b, a)
    return IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)


def inner_ip(f):
    return bytes(f.payload)  # the recorded frame minus its Ethernet header


p4, p6 = frames("plain4.pcap"), frames("plain6.pcap")

# GRE (RFC 2784/2890) with checksum, key and sequence number, IPv4 inside.
write("gre", "plain4", [stamp(outer_eth(f) / outer_ip(f) / GRE(chksum_present=1, key_present=1, seqnum_present=1,
                                                                 key=1001, sequence_number=i, proto=0x0800) / Raw(inner_ip(f)), f)
                        for i, f in enumerate(p4)])
# gretap: Ethernet inside GRE (0x6558), key only.
write("gretap", "plain4", [stamp(outer_eth(f) / outer_ip(f) / GRE(key_present=1, key=7, proto=0x6558) / Raw(bytes(f)), f)
                           for f in p4])
# GRE whose outer IPv4 datagrams are fragmented (32-byte fragments).
frag = []
for i, f in enumerate(p4):
    whole = outer_ip(f) / GRE(proto=0x0800) / Raw(inner_ip(f))
    whole.id = 1000 + i
    whole.flags = 0
    for piece in fragment(whole, fragsize=32) if len(whole) > 60 else [whole]:
        frag.append(stamp(outer_eth(f) / piece, f))
write("gre_frag", "plain4", frag)
# ERSPAN type II: a switch mirrors both directions to a collector.
write("erspan2", "plain4", [stamp(Ether(src=MAC_A, dst=MAC_B) / IP(src="10.0.0.9", dst="10.0.0.10") /
                                  GRE(seqnum_present=1, sequence_number=i, proto=0x88BE) /
                                  ERSPAN_II(session_id=123, index=5) / Raw(bytes(f)), f)
                            for i, f in enumerate(p4)])
# ERSPAN type III, every other frame with the optional platform subheader.
e3 = []
for i, f in enumerate(p4):
    h = ERSPAN_III(session_id=321, timestamp=i * 1000, hw=7, o=i % 2)
    if i % 2:
        h = h / ERSPAN_PlatformSpecific(platf_id=3, info1=1, info2=2)
    e3.append(stamp(Ether(src=MAC_A, dst=MAC_B) / IP(src="10.0.0.9", dst="10.0.0.10") /
                    GRE(seqnum_present=1, sequence_number=i, proto=0x22EB) / h / Raw(bytes(f)), f))
write("erspan3", "plain4", e3)
# IP in IP, all four ways.
ipip = [stamp(outer_eth(f) / IP(src=outer_ip(f).src, dst=outer_ip(f).dst, proto=4) / Raw(inner_ip(f)), f) for f in p4]
write("ipip", "plain4", ipip)
write("sit", "plain6", [stamp(outer_eth(f) / IP(src=outer_ip(f).src, dst=outer_ip(f).dst, proto=41) / Raw(inner_ip(f)), f)
                        for f in p6])
write("ip6tnl4", "plain4", [stamp(outer_eth(f, 0x86DD) / IPv6(src=outer_ip(f, True).src, dst=outer_ip(f, True).dst, nh=4) /
                                  Raw(inner_ip(f)), f) for f in p4])
write("ip6tnl6", "plain6", [stamp(outer_eth(f, 0x86DD) / IPv6(src=outer_ip(f, True).src, dst=outer_ip(f, True).dst, nh=41) /
                                  Raw(inner_ip(f)), f) for f in p6])
# Geneve with one option TLV, Ethernet inside.
write("geneve", "plain4", [stamp(outer_eth(f) / outer_ip(f) / UDP(sport=50000 + (i % 7), dport=6081) /
                                 GENEVE(vni=7, proto=0x6558, options=[GeneveOptions(classid=0x0102, type=0x80, data=b"\x00\x00\x00\x2a")]) /
                                 Raw(bytes(f)), f)
                           for i, f in enumerate(p4)])
# GTP-U between an eNodeB (10.0.0.1) and an S-GW (10.0.0.2): uplink TEID
# 0x100 with a PDU session container extension header, downlink TEID 0x200,
# and an echo request/response pair (not user traffic).
gtp = []
for i, f in enumerate(p4):
    if c2s(f):
        h = GTP_U_Header(teid=0x100, gtp_type=255, E=1, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=9)
    else:
        h = GTP_U_Header(teid=0x200, gtp_type=255)
    gtp.append(stamp(outer_eth(f) / outer_ip(f) / UDP(sport=2152, dport=2152) / h / Raw(inner_ip(f)), f))
    if i == 1:
        echo = outer_eth(f) / IP(src=V4[0], dst=V4[1]) / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0, gtp_type=1, S=1, seq=1)
        gtp.append(stamp(echo, f))
write("gtpu", "plain4", gtp)
# MPLS: a two-label stack with IPv4 below (label 16 is no explicit null, so
# the payload is told by its header).
write("mpls", "plain4", [stamp(outer_eth(f, 0x8847) / MPLS(label=1000, s=0, ttl=64) / MPLS(label=2000 + c2s(f), s=1, ttl=64) /
                               Raw(inner_ip(f)), f) for f in p4])
# MPLS Ethernet pseudowire with a control word (RFC 4385, RFC 4448).
write("mpls_pw", "plain4", [stamp(outer_eth(f, 0x8847) / MPLS(label=3000, s=1, ttl=64) / EoMCW(seq=i % 65536) / Raw(bytes(f)), f)
                            for i, f in enumerate(p4)])
# PPPoE session, PPP carrying IPv4, and one LCP echo request.
pp = []
for i, f in enumerate(p4):
    pp.append(stamp(outer_eth(f) / PPPoE(code=0, sessionid=0x1234) / PPP(proto=0x0021) / Raw(inner_ip(f)), f))
    if i == 2:
        pp.append(stamp(outer_eth(f) / PPPoE(code=0, sessionid=0x1234) / PPP(proto=0xC021) / Raw(b"\x09\x01\x00\x08\x00\x00\x00\x00"), f))
write("pppoe", "plain4", pp)
# QinQ: 802.1ad S-tag 100, then 802.1Q C-tag 200.
write("qinq", "plain4", [stamp(outer_eth(f, 0x88A8) / Dot1AD(vlan=100, type=0x8100) / Dot1Q(vlan=200, type=0x0800) / Raw(inner_ip(f)), f)
                         for f in p4])
# Nested: 802.1Q / IPv4 / GRE carrying the kernel's VXLAN underlay packets.
vx = frames("vxlan.pcap")
write("nested", "vxlan", [stamp(Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=10) / IP(src="172.16.0.1", dst="172.16.0.2") /
                                GRE(proto=0x0800) / Raw(bytes(f.payload)), f) for f in vx])
# Unsupported: PPP over GRE, L2TPv2 data, GTP-U carrying a non-IP PDU, and
# 17 stacked VLAN tags (deeper than the decoder's cap of 16); between them,
# the plain IPv4 exchange itself, which must still be found.
un = []
base = p4[0]
for i in range(3):
    un.append(stamp(Ether(src=MAC_A, dst=MAC_B) / IP(src="10.0.0.1", dst="10.0.0.2") / GRE(proto=0x880B) / Raw(b"\xff\x03\x00\x21" + bytes(20)), base))
for i in range(2):
    un.append(stamp(Ether(src=MAC_A, dst=MAC_B) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1701, dport=1701) /
                    Raw(b"\x02\x02\x00\x01\x00\x02" + b"\xff\x03\x00\x21" + bytes(20)), base))
un.append(stamp(Ether(src=MAC_A, dst=MAC_B) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=2152, dport=2152) /
                GTP_U_Header(teid=5, gtp_type=255) / Raw(b"\x02\x00\x00\x00\x00\x01" + bytes(30)), base))
deep = Ether(src=MAC_A, dst=MAC_B, type=0x8100)
for _ in range(16):
    deep = deep / Dot1Q(vlan=5, type=0x8100)
deep = deep / Dot1Q(vlan=5, type=0x0800) / Raw(inner_ip(base))
un.append(stamp(deep, base))
un.extend(p4)
write("unsupported", "plain4", un)
