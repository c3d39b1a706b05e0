#!/usr/bin/env bash
# Runs every protocol fuzz target for a bounded time on its kept corpus (protocol/fuzz/corpus/<target>,
# new interesting inputs are added there; commit them). Needs rustup's nightly toolchain and cargo-fuzz,
# which it installs when missing. Usage: protocol/fuzz/run.sh [seconds per target, default 60] [targets...]
set -euo pipefail
cd "$(dirname "$0")"
SECS=${1:-60}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(envelope_open hpke_unwrap tier2_open siwe_parse)
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  echo "== fuzz $t for ${SECS}s"
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$SECS" -max_len=8192 -print_final_stats=1
done
