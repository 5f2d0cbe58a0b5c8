#!/usr/bin/env bash
# Re-records every HTTP/2 WebSocket capture of captures/h2/ and rewrites its
# truth file. Run as root from anywhere; installs nothing (see README.md for
# what must be installed). Usage: tools/gen-captures/h2/run.sh [OUTDIR] [NAME...]
set -euo pipefail
HERE=$(dirname "$(realpath "$0")")
OUT=$(realpath "${1:-$HERE/../../../captures/h2}")
shift || true
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(chromium_hypercorn_tls firefox_hypercorn_tls chromium_apache_tls chromium_fallback_tls h2c_wsproto h2c_upgrade h2c_protocol_not_enabled)
WORK=$(mktemp -d /tmp/h2cap.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
for n in "${NAMES[@]}"; do
  echo "== $n"
  case $n in
    chromium_hypercorn_tls)
      "$HERE/browser/record_chromium.sh" "$WORK/$n"
      python3 "$HERE/browser/build.py" "$n" "$WORK/$n" "$OUT" ;;
    firefox_hypercorn_tls)
      "$HERE/browser/record_firefox.sh" "$WORK/$n"
      python3 "$HERE/browser/build.py" "$n" "$WORK/$n" "$OUT" ;;
    chromium_fallback_tls)
      FALLBACK=1 "$HERE/browser/record_chromium.sh" "$WORK/$n"
      python3 "$HERE/browser/build.py" "$n" "$WORK/$n" "$OUT" ;;
    chromium_apache_tls)
      "$HERE/browser/record_apache.sh" "$WORK/$n"
      python3 "$HERE/browser/build.py" "$n" "$WORK/$n" "$OUT" ;;
    h2c_*)
      "$HERE/h2c/record.sh" "$n" "$WORK/$n"
      python3 "$HERE/h2c/build.py" "$n" "$WORK/$n" "$OUT" ;;
    *) echo "unknown capture $n" >&2; exit 2 ;;
  esac
done
