#!/usr/bin/env bash
# Records tests/data/detect/http_features.pcap with real peers on loopback:
# a Node.js server answered by a pipelining client (103, chunked, HEAD, POST
# body, extension method), then curl against an HTTP/1.0 python server whose
# response is read until close. Not run by tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../../tests/data/detect/http_features.pcap}
tcpdump -i lo -w "$out" -U 'tcp port 10190 or tcp port 10191' & dump=$!
sleep 1
node "$here/http_server.js" 10190 & srv=$!
sleep 1
node "$here/pipeline_client.js" 10190
sleep 0.5
python3 "$here/until_close_server.py" 10191 & py=$!
sleep 1
curl -s -o /dev/null http://127.0.0.1:10191/stream
wait $py || true
kill $srv
sleep 1
kill $dump
wait $dump 2>/dev/null || true
