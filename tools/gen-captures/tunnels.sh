#!/usr/bin/env bash
# Records the tunnelled captures of captures/tunnels/ (tests/tunnels.rs).
#
#   tools/gen-captures/tunnels.sh OUTDIR     (as root; tcpdump, iproute2,
#                                             pip install websockets scapy)
#
# Every WebSocket exchange is real: tools/gen-captures/tunnels_ws.py (python
# `websockets`) in network namespaces, each peer logging what it sent to
# <name>.sent.jsonl.
#
# - vxlan.pcap: kernel VXLAN. Two client/server pairs with the SAME inner
#   addresses and ports (192.168.7.1:40001 → 192.168.7.2:8765), one in VNI 42
#   on port 4789, one in VNI 43 on Linux's port 8472, bridged in an underlay
#   namespace where tcpdump records; plus one UDP datagram to port 4789 that
#   is not VXLAN.
# - The kernel this was made on has no gre, ipip, sit, ip6tnl, geneve,
#   erspan, 8021q, mpls, gtp or pppoe support (`ip link add ... type gre`:
#   "Unknown device type"; no modules to load). For those, a real exchange
#   over a plain veth (plain4.pcap, plain6.pcap) is recorded, and
#   tunnels_wrap.py wraps each recorded frame, on its own timestamp, in the
#   tunnel headers built by scapy (an implementation independent of
#   wsinspect's decoder). Their inner traffic is real; their tunnel headers
#   are scapy's.
set -euo pipefail
out=${1:?usage: tunnels.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
ws="$here/tunnels_ws.py"
nss="tnA tnB tnU tnC1 tnS1 tnC2 tnS2"

cleanup() {
  for n in $nss; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT
cleanup

# Records FILE on NS's interface IF while the server (in SNS) and client (in
# CNS) run one exchange.
exchange() { # file ns if filter sns shost cns label [local_port]
  local file=$1 ns=$2 ifc=$3 filter=$4 sns=$5 shost=$6 cns=$7 label=$8 lport=${9:-}
  local log="$out/${file%.pcap}.sent.jsonl"
  ip netns exec "$ns" tcpdump -i "$ifc" -U -s 0 -w "$out/$file.part" "$filter" 2>/dev/null &
  local dump=$!
  sleep 1.5
  ip netns exec "$sns" python3 "$ws" server "$shost" 8765 "$log" &
  local srv=$!
  sleep 1.5
  ip netns exec "$cns" python3 "$ws" client "$shost" 8765 "$log" "$label" $lport
  wait "$srv"
  sleep 1.5
  kill "$dump"; wait "$dump" || true
}

# --- plain IPv4 / IPv6 over a veth pair -----------------------------------
ip netns add tnA; ip netns add tnB
ip link add tA netns tnA type veth peer name tB netns tnB
ip -n tnA addr add 10.1.0.1/24 dev tA; ip -n tnB addr add 10.1.0.2/24 dev tB
ip -n tnA addr add fd01::1/64 dev tA nodad; ip -n tnB addr add fd01::2/64 dev tB nodad
for n in tnA tnB; do ip -n $n link set lo up; done
ip -n tnA link set tA up; ip -n tnB link set tB up
rm -f "$out"/plain4.sent.jsonl "$out"/plain6.sent.jsonl
exchange plain4.pcap tnA tA "tcp port 8765" tnB 10.1.0.2 tnA plain4
mv "$out/plain4.pcap.part" "$out/plain4.pcap"
exchange plain6.pcap tnA tA "tcp port 8765" tnB fd01::2 tnA plain6
mv "$out/plain6.pcap.part" "$out/plain6.pcap"

# --- kernel VXLAN, two VNIs with the same inner 5-tuple -------------------
ip netns add tnU
ip -n tnU link add br0 type bridge
ip -n tnU link set br0 up
i=11
for n in tnC1 tnS1 tnC2 tnS2; do
  ip netns add $n
  ip link add u$i netns tnU type veth peer name eth0 netns $n
  ip -n tnU link set u$i master br0 up
  ip -n $n addr add 10.0.0.$i/24 dev eth0
  ip -n $n link set eth0 up; ip -n $n link set lo up
  i=$((i + 1))
done
vx() { # ns vni port local remote inner
  ip -n "$1" link add vx type vxlan id "$2" dstport "$3" local "$4" remote "$5" dev eth0
  ip -n "$1" link set vx mtu 1450 up
  ip -n "$1" addr add "$6"/24 dev vx
}
vx tnC1 42 4789 10.0.0.11 10.0.0.12 192.168.7.1
vx tnS1 42 4789 10.0.0.12 10.0.0.11 192.168.7.2
vx tnC2 43 8472 10.0.0.13 10.0.0.14 192.168.7.1
vx tnS2 43 8472 10.0.0.14 10.0.0.13 192.168.7.2
rm -f "$out"/vxlan.sent.jsonl
ip netns exec tnU tcpdump -i br0 -U -s 0 -w "$out/vxlan.pcap" udp 2>/dev/null &
dump=$!
sleep 1.5
# Not VXLAN (no I flag): must stay a UDP datagram.
ip netns exec tnC1 python3 -c '
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"\x00" * 8 + b"not a vxlan frame, just udp on 4789", ("10.0.0.12", 4789))'
for pair in "tnC1 tnS1 vni42" "tnC2 tnS2 vni43"; do
  set -- $pair
  ip netns exec "$2" python3 "$ws" server 192.168.7.2 8765 "$out/vxlan.sent.jsonl" &
  srv=$!
  sleep 1.5
  ip netns exec "$1" python3 "$ws" client 192.168.7.2 8765 "$out/vxlan.sent.jsonl" "$3" 40001
  wait "$srv"
done
sleep 1.5
kill "$dump"; wait "$dump" || true

# --- the tunnels this kernel lacks: scapy wraps the recorded frames -------
python3 "$here/tunnels_wrap.py" "$out"
rm -f "$out/plain4.pcap.part" "$out/plain6.pcap.part"
ls -l "$out"
