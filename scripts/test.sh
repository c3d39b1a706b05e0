#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it. Each stage prints a header; the first
# failure stops the run with a non-zero exit. The last line sums every runner's counts:
# "total: N passed, M failed".
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# A fresh clone builds everything once: the incremental cache (about half of target/debug) would
# only fill the disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

# Each header says how long the run has taken so far, so a slow stage shows in any log.
stage() { printf '\n==== %s  [%dm%02ds]\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

run_all() {
  set -euo pipefail
  stage "machine: free disk where the build goes"
  # A fresh clone needs about 6 GB for target/, target-wasm/ and node_modules/. Say so up front
  # rather than fail with "No space left on device" in the last stage.
  df -h "$ROOT" | tail -n 1
  local free_kb
  free_kb=$(df -Pk "$ROOT" | awk 'NR==2 {print $4}')
  if [ "${free_kb:-0}" -lt 4000000 ]; then
    echo "warning: under 4 GB free on the disk of $ROOT; the Rust builds may run out of space" >&2
  fi

  stage "install: node packages, rust components, browsers"
  bash scripts/deps.sh --browsers

  stage "lint: cargo fmt --check"
  cargo fmt --all -- --check
  # The load test is a workspace of its own (bench/load/Cargo.toml says why).
  cargo fmt --manifest-path bench/load/Cargo.toml -- --check

  stage "lint: cargo clippy -D warnings"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  CARGO_TARGET_DIR="$ROOT/target" cargo clippy --manifest-path bench/load/Cargo.toml --locked -- -D warnings

  stage "rust: the test executables and the escrow binary start building in the background, at nice 19"
  # The contract, migration and FHIR stages below leave about a third of the two cores idle
  # (solc-js, Slither, the migrations and much of Truffle run one thread): the build takes what
  # they leave, and at nice 19 little more. Its output is printed when the browser stage needs
  # the escrow binary. Stopped if the run ends before then.
  trap stop_beside EXIT
  start_beside nice -n 19 cargo test --workspace --no-run --locked

  stage "contracts: compile (solc-js, offline) and ABI drift check"
  "$TRUFFLE_BIN" compile
  node scripts/abi.js check

  stage "contracts: Slither static analysis (no finding beyond those triaged in the source; docs/contract.md)"
  bash scripts/slither.sh

  stage "contracts: Truffle suite and Foundry fuzz/invariants"
  bash scripts/test-contracts.sh

  stage "contracts: migrations"
  bash scripts/test-migrations.sh

  stage "protocol: an independent WebCrypto implementation of docs/formats.md against the vectors"
  node protocol/tests/webcrypto_vectors.mjs

  stage "protocol: FHIR fixtures and export valid by an independent R4 implementation (PyPI fhir.resources 6.4.0 in .venv-fhir)"
  bash scripts/fhir-validate-export.sh

  stage "protocol: WASM build of the browser harness"
  bash scripts/build-wasm.sh medledger-wasm-harness target-wasm/harness

  stage "app: WASM build into app/dist (what the escrow serves)"
  bash scripts/build-app.sh

  stage "rust: every test executable, and the escrow binary the browser tests start (cargo test --workspace --no-run)"
  # Built once, as `cargo test --workspace` builds them: the S3, PostgreSQL and Rust stages below
  # run these executables and build nothing more (escrow_test_executables in lib.sh says why).
  finish_beside "the build begun in the background after clippy"
  escrow_test_executables >/dev/null
  [ -x target/debug/escrow-api ] || die "the build left no target/debug/escrow-api"

  stage "browsers: protocol vectors, the test wallet and the app's journeys in headless Chromium and Firefox ESR (against Ganache and the escrow)"
  # Two journey files at a time: each has its own Ganache, escrow and browsers, and one at a time
  # they kept the two cores 62 % busy (waiting on blocks and pages); two at a time, 93 %, and the
  # stage took 771 s instead of 1,114 (2026-12-02, all 41 passing both ways). Sharing the cores
  # slows each journey (the longest, FHIR in Firefox, 128 s alone and 181 s beside another), and
  # every wait polls its own condition for up to PATIENCE_MS (e2e/lib/patience.mjs, 180 s).
  node --test --test-concurrency=2 e2e/

  stage "escrow-api: blobs on S3 (moto on loopback, installed from PyPI when missing)"
  bash escrow-api/scripts/test-s3.sh

  stage "escrow-api: its integration suite on PostgreSQL"
  bash scripts/test-escrow-postgres.sh

  stage "rust: cargo test --workspace (protocol and escrow-api on SQLite, each with a real Ganache), the consent differential beside it"
  rust_tests_beside_consent_differential
}

# The consent index's differential test keeps one core busy for about 5 minutes (Ganache answering
# eth_call) and the rest of the Rust suite uses a little over one of the two: run side by side they
# take about the time of the longer. Cargo holds the build directory's lock while its tests run, so
# the differential's executable (already built, and looked up before cargo takes the lock) is
# started directly, from escrow-api/ as cargo would; its output is printed whole when it ends, and
# either failing fails the stage.
rust_tests_beside_consent_differential() {
  local bin rust=0 consent=0
  bin=$(escrow_test_executables | awk '$1 == "consent_index" {print $2}')
  [ -n "$bin" ] || die "cargo built no consent_index test executable"
  start_beside in_escrow_dir "$bin" --exact "$CONSENT_DIFFERENTIAL_TEST" --nocapture
  cargo test --workspace --locked -- --skip "$CONSENT_DIFFERENTIAL_TEST" || rust=$?
  finish_beside "the consent differential (escrow-api/tests/consent_index.rs), run beside the suite above" || consent=$?
  [ "$rust" = 0 ] && [ "$consent" = 0 ]
}

# Everything also goes to a log, from which one closing line sums what every runner reported.
log=$(mktemp -t medledger-test.XXXXXX.log)
trap 'rm -f "$log"' EXIT
set +e
run_all 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo
if [ "$status" != 0 ]; then
  echo "The run stopped at a failed stage (exit $status): the stage's own failure is counted below."
fi
echo "the test command took $((SECONDS / 60))m$((SECONDS % 60))s"
MEDLEDGER_STAGE_FAILED=$([ "$status" = 0 ] && echo 0 || echo 1) bash scripts/count-tests.sh "$log"
exit "$status"
