#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it. Each stage prints a header; the first
# failure stops the run with a non-zero exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

stage() { printf '\n==== %s\n' "$*"; }

stage "install: node packages"
bash scripts/deps.sh

stage "lint: cargo fmt --check"
cargo fmt --all -- --check

stage "lint: cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

stage "contracts: compile (solc-js, offline) and ABI drift check"
"$TRUFFLE_BIN" compile
node scripts/abi.js check

stage "contracts: Truffle suite and Foundry fuzz/invariants"
bash scripts/test-contracts.sh

stage "contracts: migrations"
bash scripts/test-migrations.sh

stage "rust: cargo test (protocol, with a real Ganache)"
cargo test --workspace --locked
