#!/usr/bin/env bash
# Reproducible end-to-end benchmark of wsinspect (issue 10, docs/performance.md).
#
#   bench/run.sh                 # large + small capture, every tool, a markdown table
#   SCALE=1 bench/run.sh         # also: report --format json on 100 MB and 1 GB captures
#
# Environment:
#   BENCH_DATA   where captures and binaries go (default /work/bench-data if /work exists,
#                else $TMPDIR/wsinspect-bench); never inside the repository
#   REPS         runs per measurement, the best wall time is kept (default 3)
#   TSHARK_REPS  runs of tshark (default 1: it is slow)
#   SKIP_TSHARK  set to 1 to skip tshark
#   SCALE        set to 1 to add the 100 MB / 1 GB scaling runs
#   SKIP_CONNMEM set to 1 to skip the open-connection runs (1 200 concurrent connections,
#                and the memory per open connection from 600 and 1 200, plain and compressed)
#   REGEN        set to 1 to regenerate captures that already exist
#
# Needs: cargo, /usr/bin/time (package `time`) and tshark; missing ones are
# installed with apt-get (as root). Nothing here is part of `cargo test`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "${BENCH_DATA:-}" ]]; then
  if [[ -d /work ]]; then BENCH_DATA=/work/bench-data; else BENCH_DATA=${TMPDIR:-/tmp}/wsinspect-bench; fi
fi
REPS=${REPS:-3}
TSHARK_REPS=${TSHARK_REPS:-1}
mkdir -p "$BENCH_DATA/bin"

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then echo "need $* (run as root or install it)" >&2; exit 1; fi
  # tshark asks whether non-root users may capture: answer no, without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
[[ -x /usr/bin/time ]] || apt_install time
if [[ "${SKIP_TSHARK:-0}" != 1 ]] && ! command -v tshark >/dev/null; then apt_install tshark; fi

echo "== building (release)" >&2
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build --release --quiet --bin wsinspect --example gen_capture --example parse_floor)
# Private copies: a shared target dir may be rebuilt by someone else meanwhile.
for b in wsinspect examples/gen_capture examples/parse_floor; do
  cp "$TARGET/release/$b" "$BENCH_DATA/bin/"
done
WS=$BENCH_DATA/bin/wsinspect
GEN=$BENCH_DATA/bin/gen_capture
FLOOR=$BENCH_DATA/bin/parse_floor

# gen_named NAME KIND [N] [M]: makes $BENCH_DATA/NAME.pcap and NAME.meta (the generator's totals).
gen_named() {
  local name=$1 kind=$2; shift 2
  local f=$BENCH_DATA/$name.pcap
  if [[ ! -s $f || ! -s $BENCH_DATA/$name.meta || "${REGEN:-0}" == 1 ]]; then
    echo "== generating $f" >&2
    "$GEN" "$kind" "$f" "$@" 2> "$BENCH_DATA/$name.meta.tmp" >/dev/null
    mv "$BENCH_DATA/$name.meta.tmp" "$BENCH_DATA/$name.meta"
  fi
}
meta() { sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" "$BENCH_DATA/$1.meta"; }

# measure REPS CMD...: best wall seconds, the largest max RSS (KiB) and the best CPU
# seconds (user + system, all threads) over REPS runs; stdout of CMD goes to /dev/null.
# CPU time is shown because wall time on a shared machine depends on the load.
measure() {
  local reps=$1; shift
  local best="" rss=0 cpu="" t r u s c
  for ((i = 0; i < reps; i++)); do
    /usr/bin/time -f "%e %M %U %S" -o "$BENCH_DATA/.time" "$@" > /dev/null 2> "$BENCH_DATA/.stderr" || {
      echo "FAILED: $*" >&2; cat "$BENCH_DATA/.stderr" >&2; return 1; }
    read -r t r u s < <(tail -1 "$BENCH_DATA/.time")
    c=$(awk -v u="$u" -v s="$s" 'BEGIN{print u + s}')
    if [[ -z $best ]] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    if [[ -z $cpu ]] || awk "BEGIN{exit !($c < $cpu)}"; then cpu=$c; fi
    (( r > rss )) && rss=$r
  done
  echo "$best $rss $cpu"
}

# check NAME: the analyzer's counts equal what the generator wrote.
check() {
  local name=$1 f=$BENCH_DATA/$1.pcap
  "$WS" report --format json "$f" > "$BENCH_DATA/$name.report.json"
  python3 - "$BENCH_DATA/$name.report.json" "$(meta "$name" messages)" "$(meta "$name" packets)" "$(meta "$name" connections)" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["stats"]
want = dict(messages=int(sys.argv[2]), packets=int(sys.argv[3]), conns=int(sys.argv[4]))
got = dict(messages=s["messages"], packets=r["packet_count"], conns=s["websocket_connections"])
bad = s["violations"] or r["capture_anomalies"] or got != want
print(("MISMATCH " if bad else "ok ") + f"{sys.argv[1]}: {got}, violations {s['violations']}", file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
  rm -f "$BENCH_DATA/$name.report.json"
}

# bench NAME: one table for one capture.
bench() {
  local name=$1 f=$BENCH_DATA/$1.pcap
  local bytes packets
  bytes=$(stat -c %s "$f")
  packets=$(meta "$name" packets)
  check "$name"
  echo
  echo "### $name.pcap: $((bytes / 1000000)) MB, $packets packets, $(meta "$name" connections) connections, $(meta "$name" messages) messages ($(meta "$name" compressed) compressed)"
  echo
  echo "| what | best wall s | MB/s | packets/s | peak RSS MiB | × tshark (wall) | CPU s | × tshark (CPU) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  local -a names cmds
  names=("cat > /dev/null (I/O floor)" "dd bs=1M (read floor)" "pcap-parser + etherparse (parser floor)" "wsinspect report --format json" "wsinspect report --format ndjson")
  cmds=("cat $f" "dd if=$f of=/dev/null bs=1M status=none" "$FLOOR $f" "$WS report --format json $f" "$WS report --format ndjson $f")
  local ts="" tscpu=""
  if [[ "${SKIP_TSHARK:-0}" != 1 ]]; then
    read -r ts tsrss tscpu < <(measure "$TSHARK_REPS" tshark -r "$f" -Y websocket -T fields -e frame.number -e websocket.opcode -e websocket.payload_length)
  fi
  local jt="" jrss=0 nt="" nrss=0
  for i in "${!names[@]}"; do
    # shellcheck disable=SC2086
    read -r t rss cpu < <(measure "$REPS" ${cmds[$i]})
    row "${names[$i]}" "$t" "$rss" "$bytes" "$packets" "$ts" "$cpu" "$tscpu"
    case $i in 3) jt=$t jrss=$rss ;; 4) nt=$t nrss=$rss ;; esac
  done
  [[ -n $ts ]] && row "tshark -Y websocket -T fields" "$ts" "$tsrss" "$bytes" "$packets" "$ts" "$tscpu" "$tscpu"
  targets "$name" "$ts" "$jt" "$jrss" "$nt" "$nrss"
  return 0
}

# targets NAME TSHARK_S JSON_S JSON_RSS_KIB NDJSON_S NDJSON_RSS_KIB: issue 10's
# targets for this capture (wall-time ratios in this run), met or not.
targets() {
  local want=25
  [[ $1 == small ]] && want=100
  echo
  awk -v ts="$2" -v j="$3" -v jr="$4" -v n="$5" -v nr="$6" -v want="$want" 'BEGIN {
    verdict = "met"; if (ts == "") verdict = "not measured (SKIP_TSHARK)"
    else if (ts / j < want) verdict = "NOT MET"
    printf "- json %s× tshark (target ≥ %d×): %s\n", (ts == "") ? "?" : sprintf("%.1f", ts / j), want, verdict
    if (ts != "") printf "- ndjson %.1f× tshark (target ≥ %d×): %s\n", ts / n, want, (ts / n >= want) ? "met" : "NOT MET"
    printf "- ndjson at least as fast as json (%.2f s vs %.2f s): %s\n", n, j, (n <= j * 1.05) ? "met" : "NOT MET"
    m = (jr > nr) ? jr : nr
    printf "- peak RSS %.1f MiB (target ≤ 64 MiB): %s\n", m / 1024, (m <= 64 * 1024) ? "met" : "NOT MET" }'
}

row() {
  awk -v n="$1" -v t="$2" -v rss="$3" -v b="$4" -v p="$5" -v ts="$6" -v c="$7" -v tc="$8" 'BEGIN {
    if (t < 0.005) t = 0.005
    if (c < 0.005) c = 0.005
    ratio = (ts == "") ? "–" : sprintf("%.1f", ts / t)
    cratio = (tc == "") ? "–" : sprintf("%.1f", tc / c)
    printf "| %s | %.2f | %.0f | %.0f | %.1f | %s | %.2f | %s |\n", n, t, b / 1e6 / t, p / t, rss / 1024, ratio, c, cratio }'
}

echo "# wsinspect benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB RAM; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wsinspect $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'); $(tshark --version 2>/dev/null | head -1 || true)"
echo "best of $REPS runs (tshark: $TSHARK_REPS); RSS = max resident set size from /usr/bin/time -v"

gen_named large large 125000
gen_named small small 1000 1000
bench large
bench small

# conc_row NAME: the two reports of one concurrent capture (throughput and peak RSS).
conc_rows() {
  local name=$1 f=$BENCH_DATA/$1.pcap bytes packets
  bytes=$(stat -c %s "$f")
  packets=$(meta "$name" packets)
  for fmt in json ndjson; do
    read -r t rss cpu < <(measure "$REPS" "$WS" report --format $fmt "$f")
    awk -v n="$name" -v fmt="$fmt" -v t="$t" -v rss="$rss" -v b="$bytes" -v p="$packets" -v c="$cpu" 'BEGIN {
      printf "| %s | %s | %.0f | %.2f | %.0f | %.0f | %.2f | %.1f |\n", n, fmt, b / 1e6, t, b / 1e6 / t, p / t, c, rss / 1024 }'
    echo "$rss" > "$BENCH_DATA/.rss.$name.$fmt"
  done
}

if [[ "${SKIP_CONNMEM:-0}" != 1 ]]; then
  # Issue 22: memory follows the open connections. conc1200: 1 200 connections open for
  # the whole capture, a fifth compressed (most with context takeover); then the same
  # shape all plain and all compressed at 600 and 1 200 connections: the difference of
  # the peak RSS divided by the 600 extra connections is what one open connection costs.
  gen_named conc1200 concurrent 1200 300 20
  for k in plain:0 deflate:100; do
    for n in 600 1200; do gen_named "conc-${k%%:*}$n" concurrent "$n" 300 "${k##*:}"; done
  done
  check conc1200
  echo
  echo "### open connections: 300 messages of 10–600 bytes per connection, all open to the end"
  echo
  echo "| capture | report | MB | best wall s | MB/s | packets/s | CPU s | peak RSS MiB |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  for n in conc1200 conc-plain600 conc-plain1200 conc-deflate600 conc-deflate1200; do conc_rows "$n"; done
  echo
  for fmt in json ndjson; do
    for k in plain deflate; do
      awk -v a="$(cat "$BENCH_DATA/.rss.conc-${k}600.$fmt")" -v b="$(cat "$BENCH_DATA/.rss.conc-${k}1200.$fmt")" -v k="$k" -v fmt="$fmt" 'BEGIN {
        printf "- %s connections, report --format %s: %.1f KiB per open connection (peak RSS %.1f → %.1f MiB from 600 to 1 200)\n", k, fmt, (b - a) / 600, a / 1024, b / 1024 }'
    done
  done
  awk -v r="$(cat "$BENCH_DATA/.rss.conc1200.json")" 'BEGIN {
    printf "- conc1200 peak RSS %.1f MiB (report --format json, target ≤ 64 MiB): %s\n", r / 1024, (r <= 64 * 1024) ? "met" : "NOT MET" }'
fi

if [[ "${SCALE:-0}" == 1 ]]; then
  gen_named scale100m large 40000
  gen_named scale1g large 400000
  echo
  echo "### scaling: report --format json"
  echo
  echo "| capture | MB | best wall s | MB/s | CPU s | CPU s per 100 MB | peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for n in scale100m large scale1g; do
    f=$BENCH_DATA/$n.pcap
    b=$(stat -c %s "$f")
    read -r t rss cpu < <(measure "$REPS" "$WS" report --format json "$f")
    awk -v n="$n" -v t="$t" -v rss="$rss" -v b="$b" -v c="$cpu" 'BEGIN { printf "| %s | %.0f | %.2f | %.0f | %.2f | %.3f | %.1f |\n", n, b/1e6, t, b/1e6/t, c, c/(b/1e8), rss/1024 }'
  done
fi
