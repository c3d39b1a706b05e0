#!/usr/bin/env bash
# Native envelope v1 / tier-2 throughput beside `openssl speed` on the same machine, in one run
# (bench/README.md). Each run is paired: the envelope's encrypt and decrypt (AES-256-GCM and the
# SHA-256 of h1 over every sealed chunk) divided by OpenSSL doing the same work in that run,
# 1 / (1/aes-256-gcm + 1/sha256). The median and spread of the ratios close the report.
# Usage: bench/envelope.sh [MiB per run, default 200] [runs, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-200}
RUNS=${2:-3}
cargo build --quiet --release -p medledger-protocol --example envelope_bench
echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 'model name' /proc/cpuinfo || true
openssl version
RATIOS=$(mktemp)
trap 'rm -f "$RATIOS"' EXIT
# `openssl speed` prints its last column in thousands of bytes per second.
openssl_mbs() {
  openssl speed -evp "$1" -bytes 65536 -seconds 2 2>/dev/null | tail -1 | awk '{sub(/k$/, "", $NF); print $NF / 1000}'
}
for i in $(seq "$RUNS"); do
  echo "-- run $i"
  OUT=$(cargo run --quiet --release -p medledger-protocol --example envelope_bench -- "$MIB" 64)
  echo "$OUT"
  AES=$(openssl_mbs aes-256-gcm)
  SHA=$(openssl_mbs sha256)
  ENC=$(echo "$OUT" | awk -F: '/^envelope encrypt/ {print $2+0}')
  DEC=$(echo "$OUT" | awk -F: '/^envelope decrypt/ {print $2+0}')
  awk -v a="$AES" -v s="$SHA" -v e="$ENC" -v d="$DEC" -v run="$i" -v ratios="$RATIOS" 'BEGIN {
    both = 1 / (1 / a + 1 / s)
    printf "openssl aes-256-gcm %.1f MB/s, sha256 %.1f MB/s, both over the same bytes %.1f MB/s\n", a, s, both
    printf "ratio to openssl doing the same work: encrypt %.2f, decrypt %.2f\n", e / both, d / both
    printf "%f %f\n", e / both, d / both >> ratios
  }'
done
# Median (and min–max) of each column over the runs.
for col in 1 2; do
  name=$([ "$col" = 1 ] && echo encrypt || echo decrypt)
  cut -d' ' -f"$col" "$RATIOS" | sort -n | awk -v name="$name" '{v[NR] = $1}
    END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
         printf "envelope %s / openssl same work: median %.2f (%.2f–%.2f) over %d runs\n", name, m, v[1], v[NR], NR}'
done
