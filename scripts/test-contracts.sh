#!/usr/bin/env bash
# Contract tests: the Truffle (mocha) suite against a throwaway Ganache on a free loopback port,
# and beside it the Foundry fuzz and invariant suite over the same sources.
#
# Side by side because they use different cores: Truffle keeps about one of two busy (its mocha
# process and Ganache take turns), while forge's invariant suite is one thread of about 100 s. In
# turn they took 455 s (2026-12-02: Truffle 350 s at 55 % of the two cores, forge 107 s at 100 %).
# Forge's output is kept apart and printed whole when Truffle has finished; either failing fails
# the script.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
need_node_modules

log=$(mktemp -t ganache-test.XXXXXX.log)
# The suite deploys with the migration too: keep its deployments file out of ./deployments.
deployments=$(mktemp -d -t medledger-test-deployments.XXXXXX)
cleanup() {
  stop_pid "${GANACHE_PID:-}"
  stop_beside
  rm -f "$log"
  rm -rf "$deployments"
}
trap cleanup EXIT

start_beside bash "$ROOT/scripts/forge.sh" test

port=$(free_port)
MEDLEDGER_GANACHE_TIME_STEP=1 start_ganache "$port" "$log"
echo "== truffle test (ganache on 127.0.0.1:$port)"
truffle=0
MEDLEDGER_GANACHE_PORT="$port" MEDLEDGER_DEPLOYMENTS_DIR="$deployments" "$TRUFFLE_BIN" test --network development --compile-none || truffle=$?

forge=0
finish_beside "forge test (fuzz/), run beside the Truffle suite" || forge=$?
[ "$truffle" = 0 ] || echo "error: the Truffle suite failed (exit $truffle)" >&2
[ "$forge" = 0 ] || echo "error: the forge suite failed (exit $forge)" >&2
[ "$truffle" = 0 ] && [ "$forge" = 0 ]
