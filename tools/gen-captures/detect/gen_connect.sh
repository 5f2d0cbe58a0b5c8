#!/usr/bin/env bash
# Records tests/data/detect/connect_wss.pcap (+ .keylog): python websockets
# client -> tinyproxy (CONNECT) -> python websockets wss server, all on
# loopback; only the client<->proxy leg is captured. Not run by tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../../tests/data/detect/connect_wss}
tmp=$(mktemp -d)
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat > "$tmp/tinyproxy.conf" <<CONF
Port 10888
Listen 127.0.0.1
Timeout 30
MaxClients 10
Allow 127.0.0.1
ConnectPort 10443
LogLevel Error
CONF
tinyproxy -d -c "$tmp/tinyproxy.conf" & proxy=$!
python3 "$here/wss_server.py" 10443 "$tmp/cert.pem" "$tmp/key.pem" & srv=$!
tcpdump -i lo -w "$out.pcap" -U 'tcp port 10888' & dump=$!
sleep 1.5
rm -f "$out.keylog"
SSLKEYLOGFILE="$out.keylog" python3 "$here/wss_client.py" 10443 10888
sleep 1
kill $dump; wait $dump 2>/dev/null || true
kill $proxy $srv 2>/dev/null || true
rm -rf "$tmp"
