#!/usr/bin/env bash
# Memory-limit run (issue 7): large hostile captures analysed under a hard
# virtual-memory limit (ulimit -v). Each run must exit 0, still report the
# two good WebSocket exchanges that frame the hostile part, and report the
# cap that held. Not part of `cargo test` (it writes ~400 MB of captures
# and takes a few minutes); run it by hand:
#
#   tests/memlimit.sh            # default limits under 3 GiB, tight under 512 MiB
#   KEEP=1 tests/memlimit.sh     # keep the generated captures and reports
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release --quiet --bin wsinspect --example hostile_gen
work="$(mktemp -d)"
bin="$work/wsinspect"; gen="$work/hostile_gen"
# Private copies: a shared target dir may be rebuilt under us.
cp "$target/release/wsinspect" "$bin"
cp "$target/release/examples/hostile_gen" "$gen"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

"$gen" syn-flood 1000000 "$work/syn.pcap"   # 1 M half-open connections
"$gen" ooo 64 "$work/ooo.pcap"              # 64 x 4 MiB held behind holes (256 MiB)
"$gen" bomb 8 "$work/bomb.pcap"             # 8 messages of a 1 GiB deflate bomb
"$gen" tiny 3000000 "$work/tiny.pcap"       # 3 M empty messages on one connection

timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%e s, peak RSS %M KiB")
fail=0
run() { # NAME LIMIT_KIB EXPECT [flags...]
  local name="$1" limit="$2" expect="$3"; shift 3
  local out="$work/$name.$limit.txt"
  if ( ulimit -v "$limit"; "${timer[@]}" "$bin" report "$@" "$work/$name.pcap" >"$out" 2>"$out.err" ); then
    local good; good=$(grep -c -E '"hello"|"world"' "$out" || true)
    if [ "$good" -ge 4 ] && grep -q -- "$expect" "$out"; then
      printf 'ok    %-5s ulimit -v %8s KiB  %-40s %s\n' "$name" "$limit" "$*" "$(tail -1 "$out.err")"
    else
      printf 'FAIL  %-5s good exchanges=%s, expected anomaly %s missing\n' "$name" "$good" "$expect"; fail=1
    fi
  else
    printf 'FAIL  %-5s exited non-zero under ulimit -v %s KiB: %s\n' "$name" "$limit" "$(tail -3 "$out.err")"; fail=1
  fi
}

# Default limits under 3 GiB of address space.
run syn  3145728 "--max-flows"
run ooo  3145728 "--max-model-bytes"
run bomb 3145728 "--max-inflate-ratio"
run tiny 3145728 "--max-model-bytes"
# Tight limits under 512 MiB.
tight=(--max-flows 20000 --max-ooo-bytes 8388608 --max-buffered-total 67108864 --max-model-bytes 134217728)
run syn  524288 "--max-flows" "${tight[@]}"
run ooo  524288 "--max-buffered-total" "${tight[@]}"
run bomb 524288 "--max-inflate-ratio" "${tight[@]}"
run tiny 524288 "--max-model-bytes" "${tight[@]}"
exit $fail
