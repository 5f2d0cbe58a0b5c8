#!/usr/bin/env bash
# Records chromium_hypercorn_tls: headless Chromium loads a page from hypercorn
# (HTTP/2 over TLS 1.3) whose script opens two WebSockets (RFC 8441 extended
# CONNECT) on the page's connection. Everything runs in a network namespace
# that has only a loopback interface, so nothing Chromium does can leave it.
#
# Needs (installed beforehand, nothing is fetched here): root, iproute2,
# tcpdump, openssl, Debian's `chromium`, python3 with hypercorn (0.18), h2,
# wsproto.  Usage: [FALLBACK=1] record_chromium.sh WORKDIR   (writes capture.pcap, keylog,
# server.jsonl, netlog.json, chromium.version in WORKDIR)
set -euo pipefail
HERE=$(dirname "$(realpath "$0")")
mkdir -p "$1"; W=$(realpath "$1"); cd "$W"
NS=h2cap_chromium${FALLBACK:+_fallback}
PORT=8443
HOST=h2.corpus.test

ip netns del $NS 2>/dev/null || true
ip netns add $NS
ip netns exec $NS ip link set lo up
cleanup() {
  for p in ${CHROME_PID:-} ${SERVER_PID:-} ${DUMP_PID:-}; do kill "$p" 2>/dev/null || true; done
  sleep 0.5; ip netns del $NS 2>/dev/null || true
}
trap cleanup EXIT

rm -f capture.pcap keylog server.jsonl netlog.json done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" -keyout key.pem -out cert.pem 2>/dev/null
SPKI=$(openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
chromium --version 2>/dev/null > chromium.version

ip netns exec $NS tcpdump -i lo -s 0 -B 16384 -U --immediate-mode -w capture.pcap "tcp port $PORT" 2>tcpdump.err &
DUMP_PID=$!
sleep 1
# FALLBACK=1: the server does not announce RFC 8441 (see server.py)
ip netns exec $NS env H2CAP_NO_CONNECT_PROTOCOL=${FALLBACK:-0} python3 "$HERE/server.py" cert.pem key.pem $PORT server.jsonl done > server.out 2>&1 &
SERVER_PID=$!
sleep 1.5
# --ignore-certificate-errors-spki-list makes the self-signed certificate
# trusted (not "ignored"), so the connection is an ordinary valid one.
ip netns exec $NS env SSLKEYLOGFILE="$W/keylog" chromium --headless=new --no-sandbox \
  --user-data-dir="$W/profile" --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --disable-default-apps --no-pings \
  --disable-domain-reliability --disable-quic \
  --host-resolver-rules="MAP $HOST 127.0.0.1" \
  --ignore-certificate-errors-spki-list="$SPKI" \
  --log-net-log="$W/netlog.json" --net-log-capture-mode=Everything \
  "https://$HOST:$PORT/" > chromium.out 2>&1 &
CHROME_PID=$!
for i in $(seq 1 120); do [ -f done ] && break; sleep 0.5; done
[ -f done ] || { echo "page did not finish" >&2; exit 1; }
sleep 1
kill -TERM $CHROME_PID; wait $CHROME_PID 2>/dev/null || true; CHROME_PID=
sleep 0.5
kill -INT $SERVER_PID; wait $SERVER_PID 2>/dev/null || true; SERVER_PID=
sleep 0.5
kill -INT $DUMP_PID; wait $DUMP_PID 2>/dev/null || true; DUMP_PID=
rm -rf profile key.pem
echo "recorded $(ls -l capture.pcap | awk '{print $5}') bytes"
