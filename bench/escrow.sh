#!/usr/bin/env bash
# The escrow API against a real Ganache on loopback (bench/README.md, "Escrow API"): uploads/s and
# reads/s with p50/p99 for 4 KiB and 1 MiB records, record-release latency to a granted doctor, at
# 1, 8 and 64 concurrent clients, then one large record with the server's peak memory.
# Usage: bench/escrow.sh [large record MiB, default 200] [clients, default 1,8,64]
# Needs node_modules (npm ci) and build/contracts (npx truffle compile), like the escrow tests.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-200}
CLIENTS=${2:-1,8,64}
cargo build --quiet --release --locked -p medledger-escrow-api --bin escrow-api --example measure
echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 'model name' /proc/cpuinfo || true
cargo run --quiet --release --locked -p medledger-escrow-api --example measure -- "$MIB" "$CLIENTS"
