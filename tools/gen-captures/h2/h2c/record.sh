#!/usr/bin/env bash
# Records one h2c_* capture: the peers.py server and client talk cleartext
# HTTP/2 inside a fresh network namespace (loopback only) while tcpdump
# records. Needs root, iproute2, tcpdump, python3 with h2 (4.x) and wsproto.
# Usage: record.sh SCENARIO WORKDIR  (writes capture.pcap, server.jsonl, client.jsonl)
set -euo pipefail
SC=$1
HERE=$(dirname "$(realpath "$0")")
mkdir -p "$2"; W=$(realpath "$2"); cd "$W"
NS=h2cap_$SC
PORT=8080
ip netns del $NS 2>/dev/null || true
ip netns add $NS
ip netns exec $NS ip link set lo up
cleanup() {
  for p in ${SERVER_PID:-} ${DUMP_PID:-}; do kill "$p" 2>/dev/null || true; done
  sleep 0.3; ip netns del $NS 2>/dev/null || true
}
trap cleanup EXIT
rm -f capture.pcap server.jsonl client.jsonl server.jsonl.ready
ip netns exec $NS tcpdump -i lo -s 0 -B 16384 -U --immediate-mode -w capture.pcap "tcp port $PORT" 2>tcpdump.err &
DUMP_PID=$!
sleep 1
ip netns exec $NS python3 "$HERE/peers.py" server "$SC" $PORT server.jsonl > server.out 2>&1 &
SERVER_PID=$!
for i in $(seq 1 50); do [ -f server.jsonl.ready ] && break; sleep 0.1; done
ip netns exec $NS timeout 60 python3 "$HERE/peers.py" client "$SC" $PORT client.jsonl > client.out 2>&1 \
  || { cat client.out server.out >&2; exit 1; }
sleep 0.5
wait $SERVER_PID 2>/dev/null || true; SERVER_PID=
kill -INT $DUMP_PID; wait $DUMP_PID 2>/dev/null || true; DUMP_PID=
rm -f server.jsonl.ready
# a capture without packets (tcpdump stopped before delivering them) is a failure
[ "$(stat -c %s capture.pcap)" -gt 24 ] || { echo "empty capture" >&2; exit 1; }
echo "recorded $(stat -c %s capture.pcap) bytes"
