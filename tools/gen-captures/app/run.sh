#!/bin/bash
# Records the application-protocol captures of captures/app/ with real peers
# on loopback and writes their truth files.
#
# Needs (as root): tcpdump, tshark (4.x), node 18+ and npm, python3 with venv,
# Debian mosquitto, Debian rabbitmq-server (with the rabbitmq_web_stomp plugin).
# npm packages: package.json here (installed into $WORK/node);
# PyPI packages: requirements.txt here (installed into $WORK/venv).
#
# Usage: tools/gen-captures/app/run.sh [OUTDIR] [capture ...]
#   OUTDIR defaults to captures/app; with no capture names all are made.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath "${1:-$HERE/../../../captures/app}"); shift || true
WORK=${WORK:-/tmp/appcap-gen}
mkdir -p "$WORK" "$OUT"

if [ ! -d "$WORK/node/node_modules" ]; then
  mkdir -p "$WORK/node" && cp "$HERE/package.json" "$WORK/node/" && (cd "$WORK/node" && npm install --no-audit --no-fund >/dev/null)
fi
if [ ! -x "$WORK/venv/bin/python" ]; then
  python3 -m venv "$WORK/venv" && "$WORK/venv/bin/pip" install -q -r "$HERE/requirements.txt"
fi
export NODE_PATH="$WORK/node/node_modules"
PY="$WORK/venv/bin/python"

# capture NAME PORT CMD...: tcpdump on lo for one port, full snaplen,
# nanosecond timestamps, while CMD runs; CMD's stdout is the peer log.
capture() {
  local name=$1 port=$2; shift 2
  rm -f "$WORK/$name.pcap"
  tcpdump -i lo -s 0 --time-stamp-precision=nano -U -w "$WORK/$name.pcap" "tcp port $port" 2>/dev/null &
  local tpid=$!
  sleep 1
  "$@" > "$WORK/$name.log"
  sleep 0.5
  kill "$tpid"; wait "$tpid" 2>/dev/null || true
  cp "$WORK/$name.pcap" "$OUT/$name.pcap"
  cp "$WORK/$name.log" "$OUT/$name.peers.ndjson"
}

want() { [ $# -eq 0 ] || [[ " ${SELECTED[*]} " == *" $1 "* ]]; }
SELECTED=("$@")
want() { [ ${#SELECTED[@]} -eq 0 ] || [[ " ${SELECTED[*]} " == *" $1 "* ]]; }

if want socketio_v4; then
  capture socketio_v4 9101 node "$HERE/socketio_v4.js" 9101
  "$PY" "$HERE/annotate.py" socketio "$OUT/socketio_v4.pcap" "$OUT/socketio_v4.peers.ndjson" > "$OUT/socketio_v4.truth.json"
fi
