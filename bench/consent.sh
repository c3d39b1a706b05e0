#!/usr/bin/env bash
# Authorised 4 KiB reads against the node's raw canRead rate (bench/README.md, "Consent at the
# head"): an escrow with the consent index and one without it, on the same Ganache, measured in
# rounds, interleaved with the eth_call anchor at 1, 8 and 64 concurrent clients; then what
# scoring costs a read ("What scoring costs a read"), in blocks against an unscored escrow.
# Usage: bench/consent.sh [rounds, default 5] [clients, default 1,8,64] [reads per measurement of
# the two escrows with the consent index; default, or 0: the anchor's, 400 or 8 per client if more]
# [sets of blocks of reads, one from each escrow with the index, measuring scoring's cost, default
# 20]
# Needs node_modules (npm ci) and build/contracts (npx truffle compile), like the escrow tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
CLIENTS=${2:-1,8,64}
cargo build --quiet --release --locked -p medledger-escrow-api --bin escrow-api --example consent_reads
echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 'model name' /proc/cpuinfo || true
cargo run --quiet --release --locked -p medledger-escrow-api --example consent_reads -- "$ROUNDS" "$CLIENTS" "${3:-0}" "${4:-20}"
