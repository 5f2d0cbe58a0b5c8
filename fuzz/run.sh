#!/usr/bin/env bash
# Runs one fuzz target with libFuzzer on the STABLE toolchain.
#
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer args...]
#   fuzz/run.sh list            # the targets
#   fuzz/run.sh build           # build every target
#
# How: libfuzzer-sys compiles libFuzzer (C++, needs g++/clang++) and links it;
# rustc's stable `-Cpasses=sancov-module` plus `-Cllvm-args=-sanitizer-coverage-*`
# insert the coverage counters that cargo-fuzz would insert on nightly. No
# sanitizer (ASan needs nightly's -Zsanitizer); Rust's own bounds and overflow
# checks (overflow-checks = true in fuzz/Cargo.toml) catch the bugs we look for.
#
# Seeds: fuzz/seeds/TARGET (committed). New inputs go to fuzz/corpus/TARGET
# (not committed); crashes to fuzz/artifacts/TARGET.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
targets=(capture_reader packet_decode tcp_reassembly http_parser frame_decoder deflate pipeline tls display_filter h2 app)
# Its own target dir: the sancov RUSTFLAGS would otherwise invalidate the
# normal build's cache.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$here/target}"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cdebug-assertions -Coverflow-checks -Cforce-frame-pointers=yes"

# An explicit --target keeps RUSTFLAGS off build scripts and proc macros
# (they would need the sancov runtime to link), as cargo-fuzz does.
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin="$CARGO_TARGET_DIR/$triple/release"

case "${1:-}" in
  list) printf '%s\n' "${targets[@]}"; exit 0 ;;
  build) cargo build --release --bins --target "$triple"; exit 0 ;;
  ""|-h|--help) sed -n 2,16p "$0"; exit 2 ;;
esac
target="$1"; secs="${2:-60}"; shift 2 || true
printf '%s\n' "${targets[@]}" | grep -qx "$target" || { echo "unknown target $target; try: $0 list" >&2; exit 2; }
cargo build --release --bin "$target" --target "$triple"
mkdir -p "corpus/$target" "artifacts/$target"
exec "$bin/$target" \
  -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
  -artifact_prefix="artifacts/$target/" -print_final_stats=1 "$@" \
  "corpus/$target" "seeds/$target"
