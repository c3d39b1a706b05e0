#!/usr/bin/env bash
# The multi-user load test (bench/README.md, "Load"): goose drives ten patients per practitioner,
# each a signed-in session of its own wallet, against the release escrow and Ganache.
# Usage: bench/load.sh [practitioners, default 100] [steady seconds, default 180] [out dir, default bench/out]
# Needs node_modules (npm ci) and build/contracts (npx truffle compile), like the escrow tests.
# bench/load is a workspace of its own (goose is built only here); it shares ./target.
set -euo pipefail
cd "$(dirname "$0")/.."
PRACTITIONERS=${1:-100}
STEADY=${2:-180}
OUT=${3:-bench/out}
mkdir -p "$OUT"
export CARGO_TARGET_DIR="$PWD/target"
cargo build --quiet --release --locked -p medledger-escrow-api --bin escrow-api
cargo build --quiet --release --locked --manifest-path bench/load/Cargo.toml
# Each user is a connection of its own: a thousand sessions need more than the default 1024 files.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
{
  echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
  grep -m1 'model name' /proc/cpuinfo || true
  "$CARGO_TARGET_DIR/release/medledger-load" "$PRACTITIONERS" "$STEADY" "$OUT"
} 2>&1 | tee "$OUT/load.txt"
exit "${PIPESTATUS[0]}"
