#!/bin/bash
# Records the application-protocol captures of captures/app/ with real peers
# on loopback and writes their truth files.
#
# Needs (as root): tcpdump, tshark (4.x), node 18+ and npm, python3 with venv,
# Debian mosquitto, Debian rabbitmq-server (with the rabbitmq_web_stomp plugin).
# npm packages: package.json here (installed into $WORK/node);
# PyPI packages: requirements.txt here (installed into $WORK/venv) and
# requirements-eio3.txt (into $WORK/venv3), requirements-polling.txt (into
# $WORK/venvp: python-socketio 5, for socketio_polling).
#
# Usage: tools/gen-captures/app/run.sh [OUTDIR] [capture ...]
#   OUTDIR defaults to captures/app; with no capture names all are made.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath "${1:-$HERE/../../../captures/app}"); shift || true
WORK=${WORK:-/tmp/appcap-gen}
mkdir -p "$WORK" "$OUT"
# On any failure, stop what this script started in the background (tcpdump,
# mosquitto); RabbitMQ is stopped with rabbitmqctl below.
trap 'jobs -p | xargs -r kill 2>/dev/null' EXIT

if [ ! -d "$WORK/node/node_modules" ]; then
  mkdir -p "$WORK/node" && cp "$HERE/package.json" "$WORK/node/" && (cd "$WORK/node" && npm install --no-audit --no-fund >/dev/null)
fi
if [ ! -x "$WORK/venv/bin/python" ]; then
  python3 -m venv "$WORK/venv" && "$WORK/venv/bin/pip" install -q -r "$HERE/requirements.txt"
fi
# python-socketio 4 (Engine.IO v3) conflicts with nothing but wants its own venv.
if [ ! -x "$WORK/venv3/bin/python" ]; then
  python3 -m venv "$WORK/venv3" && "$WORK/venv3/bin/pip" install -q -r "$HERE/requirements-eio3.txt"
fi
export NODE_PATH="$WORK/node/node_modules"
PY="$WORK/venv/bin/python"

# capture NAME PORT CMD...: tcpdump on lo for one port, full snaplen,
# nanosecond timestamps, while CMD runs; CMD's stdout is the peer log.
# tcpdump gets the kernel's packets in blocks flushed every second: it is
# stopped 2 s after CMD ends, or the last block is lost (--immediate-mode
# instead made the kernel drop packets here). Drops are checked below.
capture() {
  local name=$1 port=$2; shift 2
  rm -f "$WORK/$name.pcap"
  tcpdump -i lo -s 0 --time-stamp-precision=nano -B 32768 -U -w "$WORK/$name.pcap" "tcp port $port" 2>"$WORK/$name.tcpdump.txt" &
  local tpid=$!
  sleep 1
  if ! "$@" > "$WORK/$name.log"; then
    kill "$tpid"; echo "$name: the peers failed" >&2; exit 1
  fi
  sleep 2
  kill "$tpid"; wait "$tpid" 2>/dev/null || true
  if ! grep -q "^0 packets dropped by kernel" "$WORK/$name.tcpdump.txt"; then
    echo "$name: tcpdump dropped packets:" >&2; cat "$WORK/$name.tcpdump.txt" >&2; exit 1
  fi
  cp "$WORK/$name.pcap" "$OUT/$name.pcap"
  cp "$WORK/$name.log" "$OUT/$name.peers.ndjson"
}

SELECTED=("$@")
want() { [ ${#SELECTED[@]} -eq 0 ] || [[ " ${SELECTED[*]} " == *" $1 "* ]]; }

if want socketio_v4; then
  capture socketio_v4 9101 node "$HERE/socketio_v4.js" 9101
  "$PY" "$HERE/annotate.py" socketio "$OUT/socketio_v4.pcap" "$OUT/socketio_v4.peers.ndjson" > "$OUT/socketio_v4.truth.json"
fi
if want socketio_polling; then
  if [ ! -x "$WORK/venvp/bin/python" ]; then
    python3 -m venv "$WORK/venvp" && "$WORK/venvp/bin/pip" install -q -r "$HERE/requirements-polling.txt"
  fi
  capture socketio_polling 9103 "$WORK/venvp/bin/python" "$HERE/socketio_polling.py" 9103
  "$PY" "$HERE/annotate.py" socketio_polling "$OUT/socketio_polling.pcap" "$OUT/socketio_polling.peers.ndjson" > "$OUT/socketio_polling.truth.json"
fi
if want socketio_h2; then
  if [ ! -x "$WORK/venvp/bin/hypercorn" ]; then
    python3 -m venv "$WORK/venvp" && "$WORK/venvp/bin/pip" install -q -r "$HERE/requirements-polling.txt"
  fi
  capture socketio_h2 9104 "$WORK/venvp/bin/python" "$HERE/socketio_h2.py" 9104
  "$PY" "$HERE/h2_truth.py" "$OUT/socketio_h2.pcap" "$OUT/socketio_h2.peers.ndjson" > "$OUT/socketio_h2.truth.json"
fi
if want socketio_v3; then
  capture socketio_v3 9102 "$WORK/venv3/bin/python" "$HERE/socketio_v3.py" 9102
  "$PY" "$HERE/annotate.py" socketio_v3 "$OUT/socketio_v3.pcap" "$OUT/socketio_v3.peers.ndjson" > "$OUT/socketio_v3.truth.json"
fi

# mqtt_v311, mqtt_v5: mosquitto with a websockets listener; its own log is
# kept beside the capture (the broker's side of the ground truth).
mqtt_capture() {
  local name=$1 version=$2 dir="$WORK/mosquitto"
  mkdir -p "$dir" && chmod 777 "$dir"   # mosquitto drops root for its own user
  sed "s|@PORT@|9001|;s|@PLAINPORT@|18830|;s|@DIR@|$dir|g" "$HERE/mosquitto.conf.in" > "$dir/mosquitto.conf"
  cp "$HERE/acl.in" "$dir/acl"
  rm -f "$dir/passwd" "$dir/mosquitto.log"
  mosquitto_passwd -c -b "$dir/passwd" alice secret
  chmod 644 "$dir/passwd" "$dir/acl"
  mosquitto -c "$dir/mosquitto.conf" &
  local mpid=$!
  sleep 1
  capture "$name" 9001 node "$HERE/mqtt_client.js" 9001 "$version"
  kill "$mpid"; wait "$mpid" 2>/dev/null || true
  cp "$dir/mosquitto.log" "$OUT/$name.broker.log"
  "$PY" "$HERE/annotate.py" mqtt "$OUT/$name.pcap" "$OUT/$name.peers.ndjson" "$OUT/$name.broker.log" > "$OUT/$name.truth.json"
}
if want mqtt_v311; then mqtt_capture mqtt_v311 4; fi
if want mqtt_v5; then mqtt_capture mqtt_v5 5; fi

if want graphql_ws; then
  capture graphql_ws 9201 node "$HERE/graphql.js" modern 9201
  "$PY" "$HERE/annotate.py" graphql_ws "$OUT/graphql_ws.pcap" "$OUT/graphql_ws.peers.ndjson" > "$OUT/graphql_ws.truth.json"
fi
if want graphql_legacy; then
  capture graphql_legacy 9202 node "$HERE/graphql.js" legacy 9202
  "$PY" "$HERE/annotate.py" graphql_legacy "$OUT/graphql_legacy.pcap" "$OUT/graphql_legacy.peers.ndjson" > "$OUT/graphql_legacy.truth.json"
fi

if want ocpp16; then
  capture ocpp16 9301 "$PY" "$HERE/ocpp_pair.py" 1.6 9301
  "$PY" "$HERE/annotate.py" ocpp16 "$OUT/ocpp16.pcap" "$OUT/ocpp16.peers.ndjson" > "$OUT/ocpp16.truth.json"
fi
if want ocpp201; then
  capture ocpp201 9302 "$PY" "$HERE/ocpp_pair.py" 2.0.1 9302
  "$PY" "$HERE/annotate.py" ocpp201 "$OUT/ocpp201.pcap" "$OUT/ocpp201.peers.ndjson" > "$OUT/ocpp201.truth.json"
fi
if want jsonrpc; then
  capture jsonrpc 9401 node "$HERE/jsonrpc.js" 9401
  "$PY" "$HERE/annotate.py" jsonrpc "$OUT/jsonrpc.pcap" "$OUT/jsonrpc.peers.ndjson" > "$OUT/jsonrpc.truth.json"
fi

# stomp_rabbitmq: RabbitMQ with rabbitmq_web_stomp, a node of its own
# (name, ports, data and logs under $WORK/rabbitmq), stopped afterwards.
if want stomp_rabbitmq; then
  rdir="$WORK/rabbitmq"; mkdir -p "$rdir"; chmod 777 "$rdir"
  cat > "$rdir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:5673
web_stomp.tcp.port = 15674
web_stomp.tcp.ip = 127.0.0.1
loopback_users = none
log.file.level = debug
CONF
  echo '[rabbitmq_web_stomp].' > "$rdir/enabled_plugins"
  export RABBITMQ_NODENAME=appcap@localhost RABBITMQ_CONFIG_FILE="$rdir/rabbitmq" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$rdir/enabled_plugins" RABBITMQ_MNESIA_BASE="$rdir/mnesia" \
    RABBITMQ_LOG_BASE="$rdir/log" RABBITMQ_PID_FILE="$rdir/pid" RABBITMQ_DIST_PORT=25673 \
    ERL_EPMD_PORT=4370 ERL_EPMD_ADDRESS=127.0.0.1
  started=false
  if ! ss -ltn | grep -q "127.0.0.1:15674 "; then
    rabbitmq-server > "$rdir/stdout.txt" 2>&1 &
    started=true
    for _ in $(seq 1 60); do sleep 1; ss -ltn | grep -q "127.0.0.1:15674 " && break; done
  fi
  capture stomp_rabbitmq 15674 node "$HERE/stomp.js" 15674
  grep -h "STOMP error frame sent" -A3 "$rdir"/log/*.log > "$OUT/stomp_rabbitmq.broker.log" || true
  if $started; then rabbitmqctl stop >/dev/null; epmd -port 4370 -kill >/dev/null || true; fi
  "$PY" "$HERE/annotate.py" stomp "$OUT/stomp_rabbitmq.pcap" "$OUT/stomp_rabbitmq.peers.ndjson" > "$OUT/stomp_rabbitmq.truth.json"
fi
