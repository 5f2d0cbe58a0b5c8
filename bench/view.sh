#!/usr/bin/env bash
# Headless measurement of `wsinspect view` (issue 22, docs/performance.md):
# the TUI runs in a detached tmux session, keys are sent to it, and its
# memory is read from /proc/<pid>/status (VmRSS sampled every 0.1 s; VmHWM,
# the kernel's peak, at the end of each step).
#
#   bench/view.sh [CAPTURE ...]      # default: $BENCH_DATA/small.pcap
#   TRIPLE=1 bench/view.sh           # also a capture 3x larger (mergecap of
#                                    # copies shifted in time with editcap),
#                                    # made under $TRIPLE_DIR (default
#                                    # $BENCH_DATA/viewindex) and deleted
#                                    # (KEEP=1 keeps it, REGEN=1 remakes it)
#
# Environment: BIN (default target/release/wsinspect under CARGO_TARGET_DIR),
# BENCH_DATA (default /work/bench-data), SEARCH (a word searched with /,
# default "hello"), FILTER (a display filter, default "websocket.opcode == 2").
# Needs tmux (apt-get install tmux). Not part of `cargo test`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DATA=${BENCH_DATA:-/work/bench-data}
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/wsinspect}
SEARCH=${SEARCH:-hello}
FILTER=${FILTER:-websocket.opcode == 2}
TRIPLE_DIR=${TRIPLE_DIR:-$BENCH_DATA/viewindex}
command -v tmux >/dev/null || { echo "needs tmux" >&2; exit 1; }
[[ -x $BIN ]] || { echo "no binary at $BIN (cargo build --release)" >&2; exit 1; }

caps=("$@")
[[ ${#caps[@]} -gt 0 ]] || caps=("$BENCH_DATA/small.pcap")
if [[ "${TRIPLE:-0}" == 1 ]]; then
  mkdir -p "$TRIPLE_DIR"
  base=${caps[0]}
  if [[ ! -f "$TRIPLE_DIR/triple.pcap" || "${REGEN:-0}" == 1 ]]; then
  span=$(capinfos -a -e -S "$base" | awk '/First packet/ {f=$NF} /Last packet/ {l=$NF} END {printf "%d", l - f + 60}')
  editcap -t "$span" "$base" "$TRIPLE_DIR/copy2.pcap"
  editcap -t "$((span * 2))" "$base" "$TRIPLE_DIR/copy3.pcap"
  mergecap -F pcap -w "$TRIPLE_DIR/triple.pcap" "$base" \
    "$TRIPLE_DIR/copy2.pcap" "$TRIPLE_DIR/copy3.pcap"
  rm -f "$TRIPLE_DIR/copy2.pcap" "$TRIPLE_DIR/copy3.pcap"
  fi
  caps+=("$TRIPLE_DIR/triple.pcap")
fi

S=wsinspect-view-bench
screen() { tmux capture-pane -t "$S" -p; }
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
# Waits until the screen matches (grep -E) $1, at most $2 seconds; prints the wait.
wait_for() {
  local t0 t; t0=$(now)
  while ! screen | grep -qE -- "$1"; do
    t=$(echo "$(now) - $t0" | bc)
    if (( $(echo "$t > $2" | bc) )); then echo "timeout"; return; fi
    sleep 0.05
  done
  echo "$(now) - $t0" | bc | xargs printf "%.2f s"
}
# Waits until the screen no longer matches $1 (after it did, or not).
wait_gone() {
  local t0 t; t0=$(now)
  sleep 0.3
  while screen | grep -qE -- "$1"; do
    t=$(echo "$(now) - $t0" | bc)
    if (( $(echo "$t > $2" | bc) )); then echo "timeout"; return; fi
    sleep 0.05
  done
  echo "$(now) - $t0" | bc | xargs printf "%.2f s"
}
mib() { echo "$(( $1 / 1024 )) MiB"; }
status() { screen | tail -1 | sed 's/  */ /g'; }

for cap in "${caps[@]}"; do
  tmux kill-session -t "$S" 2>/dev/null || true
  t0=$(now)
  tmux new-session -d -s "$S" -x 200 -y 50 "exec $BIN view '$cap'"
  pid=$(tmux display-message -p -t "$S" '#{pane_pid}')
  peak=0
  ( while kill -0 "$pid" 2>/dev/null; do
      r=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      echo "$r"; sleep 0.1
    done ) > "/tmp/$S.rss" &
  sampler=$!
  first=$(wait_for "Connections \\(" 30)
  echo "## $(basename "$cap") ($(du -h "$cap" | cut -f1))"
  echo "- first screen: $first after start (RSS $(mib "$(kb VmRSS)"))"
  done_in=$(wait_for "messages · " 900)
  echo "- indexed (status shows the totals): $done_in; VmHWM $(mib "$(kb VmHWM)"), RSS $(mib "$(kb VmRSS)")"
  # The timeline of every connection, then its end.
  tmux send-keys -t "$S" a Tab
  sleep 0.5
  t1=$(now); tmux send-keys -t "$S" End; sleep 1
  echo "- End in the whole timeline: VmHWM $(mib "$(kb VmHWM)"), RSS $(mib "$(kb VmRSS)")"
  tmux send-keys -t "$S" / "$SEARCH" Enter
  s=$(wait_for "match|no match" 900)
  echo "- search \"$SEARCH\": $s ($(status)); VmHWM $(mib "$(kb VmHWM)"), RSS $(mib "$(kb VmRSS)")"
  tmux send-keys -t "$S" f
  for _ in $(seq 1 40); do tmux send-keys -t "$S" BSpace; done
  tmux send-keys -t "$S" "$FILTER" Enter
  f=$(wait_gone "filtering|searching" 900)
  events=$(screen | grep -oE "Timeline[^─]*" | head -1)
  echo "- filter \"$FILTER\" (then the search again): $f ($events); VmHWM $(mib "$(kb VmHWM)"), RSS $(mib "$(kb VmRSS)")"
  tmux send-keys -t "$S" End; sleep 1
  hwm=$(kb VmHWM)
  tmux send-keys -t "$S" q
  sleep 0.5
  kill "$sampler" 2>/dev/null || true
  peak=$(sort -n "/tmp/$S.rss" | tail -1)
  echo "- peak: VmHWM $(mib "$hwm"), largest sampled RSS $(mib "${peak:-0}")"
  rm -f "/tmp/$S.rss"
  echo
done
tmux kill-session -t "$S" 2>/dev/null || true
if [[ "${TRIPLE:-0}" == 1 && "${KEEP:-0}" != 1 ]]; then rm -rf "$TRIPLE_DIR"; fi
