#!/usr/bin/env bash
# Re-records every HTTP/2 WebSocket capture of captures/h2/ and rewrites its
# truth file. Run as root from anywhere; installs nothing (see README.md for
# what must be installed). Usage: tools/gen-captures/h2/run.sh [OUTDIR] [NAME...]
set -euo pipefail
HERE=$(dirname "$(realpath "$0")")
OUT=$(realpath "${1:-$HERE/../../../captures/h2}")
shift || true
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(chromium_hypercorn_tls firefox_hypercorn_tls chromium_apache_tls chromium_fallback_tls h2c_wsproto h2c_upgrade_ws h2c_protocol_not_enabled)
WORK=$(mktemp -d /tmp/h2cap.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
# one recording of capture $1 into $OUT (fails when the truth disagrees with
# tshark or a peer, or when tcpdump lost packets)
record() {
  local n=$1
  case $n in
    chromium_hypercorn_tls)
      "$HERE/browser/record_chromium.sh" "$WORK/$n" && python3 "$HERE/browser/build.py" "$n" "$WORK/$n" "$OUT" ;;
    firefox_hypercorn_tls)
      "$HERE/browser/record_firefox.sh" "$WORK/$n" && python3 "$HERE/browser/build.py" "$n" "$WORK/$n" "$OUT" ;;
    chromium_fallback_tls)
      FALLBACK=1 "$HERE/browser/record_chromium.sh" "$WORK/$n" && python3 "$HERE/browser/build.py" "$n" "$WORK/$n" "$OUT" ;;
    chromium_apache_tls)
      "$HERE/browser/record_apache.sh" "$WORK/$n" && python3 "$HERE/browser/build.py" "$n" "$WORK/$n" "$OUT" ;;
    h2c_*)
      "$HERE/h2c/record.sh" "$n" "$WORK/$n" && python3 "$HERE/h2c/build.py" "$n" "$WORK/$n" "$OUT" ;;
    *) echo "unknown capture $n" >&2; return 2 ;;
  esac
}
for n in "${NAMES[@]}"; do
  echo "== $n"
  ok=
  for attempt in 1 2 3; do
    if record "$n"; then ok=1; break; fi
    echo "!! $n: attempt $attempt failed" >&2
  done
  [ -n "$ok" ] || { echo "$n could not be recorded" >&2; exit 1; }
done
