#!/usr/bin/env bash
# Anchoring throughput on Ganache (bench/README.md, "Anchoring"): records under Merkle roots
# (anchorRecordRoot) beside addRecords of 100, in one run on one node.
# Usage: bench/anchoring.sh [records per root, default 10000] [roots, default 10] [addRecords batches, default 3] [runs, default 3]
# Needs node_modules (npm ci) and build/contracts (npx truffle compile).
set -euo pipefail
cd "$(dirname "$0")/.."
PER_ROOT=${1:-10000}
ROOTS=${2:-10}
BATCHES=${3:-3}
RUNS=${4:-3}
cargo build --quiet --release --locked -p medledger-protocol --example anchor_bench
echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
  echo "-- run $i"
  target/release/examples/anchor_bench "$PER_ROOT" "$ROOTS" "$BATCHES"
done
