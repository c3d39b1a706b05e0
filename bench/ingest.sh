#!/usr/bin/env bash
# Durable ingest of 4 KiB records against the machine's 4 KiB write + fsync rate, paired in
# alternating rounds (bench/README.md, "Durable ingest").
# Usage: bench/ingest.sh [rounds, default 5] [clients, default 1,8,64]
# Needs node_modules (npm ci) and build/contracts (npx truffle compile), like the escrow tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
CLIENTS=${2:-1,8,64}
cargo build --quiet --release --locked -p medledger-escrow-api --bin escrow-api --example ingest
echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 'model name' /proc/cpuinfo || true
cargo run --quiet --release --locked -p medledger-escrow-api --example ingest -- "$ROUNDS" "$CLIENTS"
