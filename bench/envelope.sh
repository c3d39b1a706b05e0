#!/usr/bin/env bash
# Native envelope v1 / tier-2 throughput beside `openssl speed` on the same machine, in one run
# (bench/README.md). Usage: bench/envelope.sh [MiB per run, default 200] [runs, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-200}
RUNS=${2:-3}
cargo build --quiet --release -p medledger-protocol --example envelope_bench
echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 'model name' /proc/cpuinfo || true
for i in $(seq "$RUNS"); do
  echo "-- run $i"
  cargo run --quiet --release -p medledger-protocol --example envelope_bench -- "$MIB" 64
  openssl speed -evp aes-256-gcm -bytes 65536 -seconds 2 2>/dev/null | tail -1 | sed 's/^/openssl /'
  openssl speed -evp sha256 -bytes 65536 -seconds 2 2>/dev/null | tail -1 | sed 's/^/openssl /'
done
