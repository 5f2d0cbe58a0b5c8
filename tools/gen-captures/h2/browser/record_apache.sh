#!/usr/bin/env bash
# Records chromium_apache_tls: headless Chromium loads the test page through
# Apache httpd 2.4 (mod_http2 with `H2WebSockets on` and `H2Padding`, TLS 1.3),
# which proxies everything, WebSockets included (mod_proxy_http
# upgrade=websocket), to the hypercorn server of server.py speaking plain
# HTTP/1.1 on 127.0.0.1:8081. Only the browser <-> Apache leg (port 8443) is
# recorded; the backend's log still holds the exact WebSocket bytes, which
# Apache tunnels unchanged. Network namespace with only a loopback interface.
#
# Needs (installed beforehand): root, iproute2, tcpdump, openssl, Debian's
# `chromium` and `apache2` (2.4.58 or later for H2WebSockets), python3 with
# hypercorn, h2, wsproto. Usage: record_apache.sh WORKDIR
set -euo pipefail
HERE=$(dirname "$(realpath "$0")")
mkdir -p "$1"; W=$(realpath "$1"); cd "$W"
NS=h2cap_apache
PORT=8443
BACK=8081
HOST=h2.corpus.test

ip netns del $NS 2>/dev/null || true
ip netns add $NS
ip netns exec $NS ip link set lo up
cleanup() {
  for p in ${CHROME_PID:-} ${SERVER_PID:-} ${DUMP_PID:-}; do kill "$p" 2>/dev/null || true; done
  [ -f "$W/httpd.pid" ] && kill "$(cat "$W/httpd.pid")" 2>/dev/null || true
  sleep 0.5; ip netns del $NS 2>/dev/null || true
}
trap cleanup EXIT

rm -rf capture.pcap keylog server.jsonl done profile httpd.pid error.log
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" -keyout key.pem -out cert.pem 2>/dev/null
chmod 644 key.pem
SPKI=$(openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
chromium --version 2>/dev/null > chromium.version
apache2 -v | head -1 > apache.version
M=/usr/lib/apache2/modules
cat > httpd.conf <<EOF
ServerRoot $W
ServerName $HOST
PidFile $W/httpd.pid
ErrorLog $W/error.log
LogLevel warn http2:info
Listen 127.0.0.1:$PORT
User www-data
Group www-data
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule socache_shmcb_module $M/mod_socache_shmcb.so
LoadModule ssl_module $M/mod_ssl.so
LoadModule http2_module $M/mod_http2.so
LoadModule proxy_module $M/mod_proxy.so
LoadModule proxy_http_module $M/mod_proxy_http.so
Mutex file:$W default
SSLSessionCache none
<VirtualHost 127.0.0.1:$PORT>
  Protocols h2 http/1.1
  H2WebSockets on
  # random padding (0..15 bytes) on every HEADERS and DATA frame Apache sends
  H2Padding 4
  SSLEngine on
  SSLCertificateFile $W/cert.pem
  SSLCertificateKeyFile $W/key.pem
  ProxyPass / http://127.0.0.1:$BACK/ upgrade=websocket
</VirtualHost>
EOF
ip netns exec $NS tcpdump -i lo -s 0 -B 16384 -U --immediate-mode -w capture.pcap "tcp port $PORT" 2>tcpdump.err &
DUMP_PID=$!
sleep 1
ip netns exec $NS python3 "$HERE/server.py" - - $BACK server.jsonl done > server.out 2>&1 &
SERVER_PID=$!
ip netns exec $NS apache2 -f "$W/httpd.conf" -k start
sleep 1.5
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
[ -f done ] || { echo "page did not finish" >&2; cat error.log >&2; exit 1; }
sleep 1
kill -TERM $CHROME_PID; wait $CHROME_PID 2>/dev/null || true; CHROME_PID=
sleep 0.5
ip netns exec $NS apache2 -f "$W/httpd.conf" -k stop || true
sleep 1
kill -INT $SERVER_PID; wait $SERVER_PID 2>/dev/null || true; SERVER_PID=
sleep 0.5
kill -INT $DUMP_PID; wait $DUMP_PID 2>/dev/null || true; DUMP_PID=
rm -rf profile key.pem
echo "recorded $(stat -c %s capture.pcap) bytes"
