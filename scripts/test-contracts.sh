#!/usr/bin/env bash
# Contract tests: the Truffle (mocha) suite against a throwaway Ganache on a free loopback port,
# then the Foundry fuzz and invariant suite over the same sources.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
need_node_modules

port=$(free_port)
log=$(mktemp -t ganache-test.XXXXXX.log)
trap 'stop_pid "${GANACHE_PID:-}"; rm -f "$log"' EXIT
MEDLEDGER_GANACHE_TIME_STEP=1 start_ganache "$port" "$log"
echo "== truffle test (ganache on 127.0.0.1:$port)"
# The suite deploys with the migration too: keep its deployments file out of ./deployments.
deployments=$(mktemp -d -t medledger-test-deployments.XXXXXX)
trap 'stop_pid "${GANACHE_PID:-}"; rm -f "$log"; rm -rf "$deployments"' EXIT
MEDLEDGER_GANACHE_PORT="$port" MEDLEDGER_DEPLOYMENTS_DIR="$deployments" "$TRUFFLE_BIN" test --network development --compile-none

echo "== forge test (fuzz/)"
bash "$ROOT/scripts/forge.sh" test
