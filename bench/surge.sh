#!/usr/bin/env bash
# A surge of uploads at several times the escrow's bound of concurrent uploads (bench/README.md,
# "Upload surge"): capacity at the bound, the surge (shed with 503 and Retry-After, retried),
# recovery to normal latency, no acknowledged upload lost, memory over time, then a ramp looking
# for the breaking point. Writes surge-<mode>.csv and .svg into the output directory.
# Usage: bench/surge.sh [surge clients, default 128] [records, default 1200] [output dir, default bench/out] [jitter|none, default jitter]
# Needs node_modules (npm ci) and build/contracts (npx truffle compile), like the escrow tests.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-128}
RECORDS=${2:-1200}
OUT=${3:-bench/out}
MODE=${4:-jitter}
cargo build --quiet --release --locked -p medledger-escrow-api --bin escrow-api --example surge
echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 'model name' /proc/cpuinfo || true
cargo run --quiet --release --locked -p medledger-escrow-api --example surge -- "$CLIENTS" "$RECORDS" "$OUT" "$MODE"
