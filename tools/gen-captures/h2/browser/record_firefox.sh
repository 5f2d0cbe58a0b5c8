#!/usr/bin/env bash
# Records firefox_hypercorn_tls: headless Firefox ESR loads the same page from
# the same hypercorn server as record_chromium.sh. Everything runs in a
# network namespace that has only a loopback interface; the namespace's
# /etc/hosts (ip netns exec mounts /etc/netns/NS/hosts) maps h2.corpus.test.
#
# Needs (installed beforehand): root, iproute2, tcpdump, openssl, Debian's
# `firefox-esr` and `libnss3-tools` (certutil), python3 with hypercorn, h2,
# wsproto. Usage: record_firefox.sh WORKDIR  (writes capture.pcap, keylog,
# server.jsonl, firefox.version in WORKDIR)
set -euo pipefail
HERE=$(dirname "$(realpath "$0")")
mkdir -p "$1"; W=$(realpath "$1"); cd "$W"
NS=h2cap_firefox
PORT=8443
HOST=h2.corpus.test

ip netns del $NS 2>/dev/null || true
ip netns add $NS
ip netns exec $NS ip link set lo up
mkdir -p /etc/netns/$NS
printf '127.0.0.1 localhost\n127.0.0.1 %s\n' $HOST > /etc/netns/$NS/hosts
cleanup() {
  for p in ${FF_PID:-} ${SERVER_PID:-} ${DUMP_PID:-}; do kill "$p" 2>/dev/null || true; done
  sleep 0.5; ip netns del $NS 2>/dev/null || true; rm -rf /etc/netns/$NS
}
trap cleanup EXIT

rm -rf capture.pcap keylog server.jsonl done profile
# a test CA (trusted in the profile) and a leaf certificate it signs
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=h2cap test CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$HOST" \
  -keyout key.pem -out leaf.csr 2>/dev/null
printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' $HOST > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile leaf.ext \
  -out cert.pem 2>/dev/null
mkdir profile
certutil -N -d sql:profile --empty-password
certutil -A -n "h2cap test CA" -t "C,," -i ca.pem -d sql:profile
# no DNS over HTTPS, no HTTP/3 (nothing but loopback exists in the namespace anyway).
# (network.dns.disableIPv6 must NOT be set: with it this Firefox loads nothing.)
cat > profile/user.js <<EOF
user_pref("network.trr.mode", 5);
user_pref("network.http.http3.enable", false);
EOF
firefox-esr --version 2>/dev/null > firefox.version

ip netns exec $NS tcpdump -i lo -s 0 -B 16384 -U --immediate-mode -w capture.pcap "tcp port $PORT" 2>tcpdump.err &
DUMP_PID=$!
sleep 1
ip netns exec $NS python3 "$HERE/server.py" cert.pem key.pem $PORT server.jsonl done > server.out 2>&1 &
SERVER_PID=$!
sleep 1.5
ip netns exec $NS env SSLKEYLOGFILE="$W/keylog" MOZ_HEADLESS=1 HOME="$W" MOZ_DISABLE_CONTENT_SANDBOX=1 \
  firefox-esr --headless --no-remote --profile "$W/profile" "https://$HOST:$PORT/" > firefox.out 2>&1 &
FF_PID=$!
for i in $(seq 1 120); do [ -f done ] && break; sleep 0.5; done
[ -f done ] || { echo "page did not finish" >&2; exit 1; }
sleep 1
kill -TERM $FF_PID; wait $FF_PID 2>/dev/null || true; FF_PID=
sleep 0.5
kill -INT $SERVER_PID; wait $SERVER_PID 2>/dev/null || true; SERVER_PID=
sleep 0.5
kill -INT $DUMP_PID; wait $DUMP_PID 2>/dev/null || true; DUMP_PID=
rm -rf profile key.pem ca.key leaf.csr leaf.ext ca.srl .mozilla .cache
echo "recorded $(stat -c %s capture.pcap) bytes"
