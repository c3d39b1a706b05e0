#!/usr/bin/env bash
# The cost of scoring an access with the kNN model (docs/risk.md, "Speed"; bench/README.md).
# Usage: bench/risk.sh [reference size, default 100000] [k, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 'model name' /proc/cpuinfo || true
cargo run --quiet --release --locked -p medledger-risk --example score_speed -- "${1:-100000}" "${2:-10}"
