#!/usr/bin/env bash
# The migration as operators use it, against a throwaway Ganache with a persistent database:
# a first run deploys and writes the deployments file; a second run, and a run after the chain
# restarts from its database, deploy nothing and keep the address; a chain reset (new database)
# deploys anew; the `external` network path deploys with a key from the environment.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
need_node_modules

work=$(mktemp -d -t medledger-migrate.XXXXXX)
trap 'stop_pid "${GANACHE_PID:-}"; rm -rf "$work"' EXIT
port=$(free_port)
export MEDLEDGER_GANACHE_PORT="$port" MEDLEDGER_DEPLOYMENTS_DIR="$work/deployments"
passed=0
failed=0
check() { # check NAME CONDITION...
  local name="$1"; shift
  if "$@"; then echo "  ok   $name"; passed=$((passed + 1)); else echo "  FAIL $name"; failed=$((failed + 1)); fi
}
field() { node -e 'console.log(require(process.argv[1])[process.argv[2]])' "$1" "$2"; }
migrate() { "$TRUFFLE_BIN" migrate --network "${1:-development}" --compile-none >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "truffle migrate failed"; }; }
deployments_in_log() { grep -Eo 'Total deployments: +[0-9]+' "$work/migrate.log" | grep -Eo '[0-9]+$'; }

echo "== migrations (ganache on 127.0.0.1:$port)"
start_ganache "$port" "$work/ganache.log" "$work/db"
migrate
file="$work/deployments/development.json"
check "first run deploys and writes development.json" test -f "$file"
first=$(field "$file" address)
check "deployment records chain id 1337" test "$(field "$file" chainId)" = 1337
check "deployment records the committed ABI's hash" test "$(field "$file" abiHash)" = \
  "$(node -e 'const {abiHash}=require("./scripts/abi");console.log(abiHash(require("./protocol/abi/MedLedger.json")))')"
migrate
check "second run deploys nothing" test "$(deployments_in_log)" = 0
check "second run keeps the address" test "$(field "$file" address)" = "$first"

stop_pid "$GANACHE_PID"
start_ganache "$port" "$work/ganache.log" "$work/db"
migrate
check "after a chain restart from its database, nothing is redeployed" test "$(deployments_in_log)" = 0
check "after a chain restart, the address is kept" test "$(field "$file" address)" = "$first"

stop_pid "$GANACHE_PID"
rm -rf "$work/db"
start_ganache "$port" "$work/ganache.log" "$work/db2"
migrate
check "after a chain reset, the contract is deployed anew" test "$(deployments_in_log)" = 1

MEDLEDGER_RPC_URL="http://127.0.0.1:$port" MEDLEDGER_CHAIN_ID=1337 \
  MEDLEDGER_DEPLOYER_KEY=0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d \
  MEDLEDGER_ESCROW=0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0 migrate external
check "the external network deploys with a key from the environment" test -f "$work/deployments/external.json"
check "the external deployment names the escrow from the environment" test \
  "$(field "$work/deployments/external.json" escrow)" = 0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0

echo "migrations: $passed passed, $failed failed"
[ "$failed" = 0 ]
