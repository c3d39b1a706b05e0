#!/usr/bin/env bash
# The migration as operators use it, against a throwaway Ganache with a persistent database:
# a first run deploys the ERC-2771 forwarder, the core trusting it and the insurance and licensing
# contracts beside it, names the licensing contract in the core and writes the deployments file; a second run, and a run after the
# chain restarts from its database, deploy nothing and keep every address; a file without its
# insurance contract, or naming one whose code is not the artifact's or whose core() is another
# core, deploys the insurance contract alone; a file without its licensing contract finds the one
# the core names; a core that must be deployed again takes new insurance and licensing contracts
# with it, and so does a chain reset (new database); a file without its forwarder, or naming an
# address without the forwarder's code, deploys a forwarder and everything after it anew; the
# `external` network path deploys with a key from the environment.
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
# field FILE KEY: a value of the JSON file; KEY may be a path (insurance.address).
field() { node -e 'console.log(process.argv[2].split(".").reduce((o, k) => (o == null ? o : o[k]), JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))))' "$1" "$2"; }
# edit FILE JS: rewrite the JSON file with the expression JS applied to it as `d`.
edit() { node -e 'const fs = require("fs"); const d = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); eval(process.argv[2]); fs.writeFileSync(process.argv[1], JSON.stringify(d, null, 2))' "$1" "$2"; }
rpc_url() { echo "http://127.0.0.1:$port"; }
# core_of ADDRESS [CONTRACT]: what the insurance (or CONTRACT) contract at ADDRESS answers to core().
core_of() {
  node -e '
    const { JsonRpcProvider, Contract } = require("ethers");
    const c = new Contract(process.argv[2], require(`./build/contracts/${process.argv[3]}.json`).abi, new JsonRpcProvider(process.argv[1]));
    c.core().then((a) => console.log(a)).catch((e) => { console.error(e.message); process.exit(1); });
  ' "$(rpc_url)" "$1" "${2:-MedLedgerInsurance}"
}
# forwarder_of CORE: the forwarder the core at CORE trusts (trustedForwarder()).
forwarder_of() {
  node -e '
    const { JsonRpcProvider, Contract } = require("ethers");
    const c = new Contract(process.argv[2], require("./build/contracts/MedLedger.json").abi, new JsonRpcProvider(process.argv[1]));
    c.trustedForwarder().then((a) => console.log(a)).catch((e) => { console.error(e.message); process.exit(1); });
  ' "$(rpc_url)" "$1"
}
# recovery_of CORE: the recovery contract the core at CORE created (recovery()).
recovery_of() {
  node -e '
    const { JsonRpcProvider, Contract } = require("ethers");
    const c = new Contract(process.argv[2], require("./build/contracts/MedLedger.json").abi, new JsonRpcProvider(process.argv[1]));
    c.recovery().then((a) => console.log(a)).catch((e) => { console.error(e.message); process.exit(1); });
  ' "$(rpc_url)" "$1"
}
# licensing_of CORE: the licensing contract the core at CORE names.
licensing_of() {
  node -e '
    const { JsonRpcProvider, Contract } = require("ethers");
    const c = new Contract(process.argv[2], require("./build/contracts/MedLedger.json").abi, new JsonRpcProvider(process.argv[1]));
    c.licensing().then((a) => console.log(a)).catch((e) => { console.error(e.message); process.exit(1); });
  ' "$(rpc_url)" "$1"
}
# deploy_insurance_on CORE: a MedLedgerInsurance whose core is CORE (any contract), deployed
# outside the migration; prints its address.
deploy_insurance_on() {
  node -e '
    const { JsonRpcProvider, ContractFactory } = require("ethers");
    const a = require("./build/contracts/MedLedgerInsurance.json");
    (async () => {
      const signer = await new JsonRpcProvider(process.argv[1]).getSigner(0);
      const c = await new ContractFactory(a.abi, a.bytecode, signer).deploy(process.argv[2]);
      await c.waitForDeployment();
      console.log(await c.getAddress());
    })().catch((e) => { console.error(e.message); process.exit(1); });
  ' "$(rpc_url)" "$1"
}
lower() { tr '[:upper:]' '[:lower:]'; }
same_address() { [ "$(echo "$1" | lower)" = "$(echo "$2" | lower)" ]; }
migrate() { "$TRUFFLE_BIN" migrate --network "${1:-development}" --compile-none >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; die "truffle migrate failed"; }; }
deployments_in_log() { grep -Eo 'Total deployments: +[0-9]+' "$work/migrate.log" | grep -Eo '[0-9]+$'; }

echo "== migrations (ganache on 127.0.0.1:$port)"
start_ganache "$port" "$work/ganache.log" "$work/db"
migrate
file="$work/deployments/development.json"
check "first run deploys and writes development.json" test -f "$file"
first=$(field "$file" address)
check "deployment records chain id 1337" test "$(field "$file" chainId)" = 1337
check "first run deploys the forwarder, the core, the insurance and the licensing contract" test "$(deployments_in_log)" = 4
check "deployment records the committed ABI's hash" test "$(field "$file" abiHash)" = \
  "$(node -e 'const {abiHash}=require("./scripts/abi");console.log(abiHash(require("./protocol/abi/MedLedger.json")))')"
check "deployment records the committed insurance ABI's hash" test "$(field "$file" insurance.abiHash)" = \
  "$(node -e 'const {abiHash}=require("./scripts/abi");console.log(abiHash(require("./protocol/abi/MedLedgerInsurance.json")))')"
insurance=$(field "$file" insurance.address)
check "the insurance contract's core() is the recorded core" same_address "$(core_of "$insurance")" "$first"
check "the insurance contract is deployed after the core" test "$(field "$file" insurance.deployBlock)" -gt "$(field "$file" deployBlock)"
check "deployment records the committed licensing ABI's hash" test "$(field "$file" licensing.abiHash)" = \
  "$(node -e 'const {abiHash}=require("./scripts/abi");console.log(abiHash(require("./protocol/abi/MedLedgerLicensing.json")))')"
licensing=$(field "$file" licensing.address)
check "the licensing contract's core() is the recorded core" same_address "$(core_of "$licensing" MedLedgerLicensing)" "$first"
check "the core names the licensing contract" same_address "$(licensing_of "$first")" "$licensing"
check "deployment records the committed forwarder ABI's hash" test "$(field "$file" forwarder.abiHash)" = \
  "$(node -e 'const {abiHash}=require("./scripts/abi");console.log(abiHash(require("./protocol/abi/MedLedgerForwarder.json")))')"
forwarder=$(field "$file" forwarder.address)
check "the core trusts the recorded forwarder" same_address "$(forwarder_of "$first")" "$forwarder"
check "the forwarder is deployed before the core" test "$(field "$file" forwarder.deployBlock)" -lt "$(field "$file" deployBlock)"
check "deployment records the committed recovery ABI's hash" test "$(field "$file" recovery.abiHash)" = \
  "$(node -e 'const {abiHash}=require("./scripts/abi");console.log(abiHash(require("./protocol/abi/MedLedgerRecovery.json")))')"
check "deployment records the recovery contract the core created, in the core's block" \
  same_address "$(recovery_of "$first")" "$(field "$file" recovery.address)"
check "the recovery contract's block is the core's" test "$(field "$file" recovery.deployBlock)" = "$(field "$file" deployBlock)"
check "the recovery contract's core() is the recorded core" same_address "$(core_of "$(field "$file" recovery.address)" MedLedgerRecovery)" "$first"
check "the file has exactly the documented keys" test "$(node -e '
  const d = require(process.argv[1]);
  console.log([d, d.insurance, d.licensing, d.forwarder, d.recovery].map((o) => Object.keys(o).join(",")).join(";"))' "$file")" = \
  "network,chainId,address,deployBlock,deployTx,abiHash,admin,escrow,insurance,licensing,forwarder,recovery;address,deployBlock,deployTx,abiHash;address,deployBlock,deployTx,abiHash;address,deployBlock,deployTx,abiHash;address,deployBlock,deployTx,abiHash"
migrate
check "second run deploys nothing" test "$(deployments_in_log)" = 0
check "second run keeps the address" test "$(field "$file" address)" = "$first"
check "second run keeps the insurance address" test "$(field "$file" insurance.address)" = "$insurance"
check "second run keeps the licensing address" test "$(field "$file" licensing.address)" = "$licensing"
check "second run keeps the forwarder address" test "$(field "$file" forwarder.address)" = "$forwarder"

stop_pid "$GANACHE_PID"
start_ganache "$port" "$work/ganache.log" "$work/db"
migrate
check "after a chain restart from its database, nothing is redeployed" test "$(deployments_in_log)" = 0
check "after a chain restart, the address is kept" test "$(field "$file" address)" = "$first"
check "after a chain restart, the insurance address is kept" test "$(field "$file" insurance.address)" = "$insurance"

edit "$file" 'delete d.licensing'
migrate
check "a file without the licensing contract: nothing is deployed" test "$(deployments_in_log)" = 0
check "  and the one the core names is recorded again" same_address "$(field "$file" licensing.address)" "$licensing"

edit "$file" 'delete d.insurance'
migrate
check "a file without the insurance contract: it alone is deployed" test "$(deployments_in_log)" = 1
check "  and the core is kept" test "$(field "$file" address)" = "$first"
check "  and the new insurance contract's core() is that core" same_address "$(core_of "$(field "$file" insurance.address)")" "$first"
insurance=$(field "$file" insurance.address)

edit "$file" "d.insurance.address = '$first'"
migrate
check "an insurance address holding other code: the insurance contract alone is deployed" test "$(deployments_in_log)" = 1
check "  and the core is kept" test "$(field "$file" address)" = "$first"
insurance=$(field "$file" insurance.address)

# The same code bound to another core differs from the artifact only in the immutable's bytes:
# the masked comparison accepts it, core() must not.
foreign=$(deploy_insurance_on "$insurance")
edit "$file" "d.insurance.address = '$foreign'"
migrate
check "an insurance contract bound to another core: the insurance contract alone is deployed" test "$(deployments_in_log)" = 1
check "  and it is a new one, on the recorded core" same_address "$(core_of "$(field "$file" insurance.address)")" "$first"
check "  and the core is kept" test "$(field "$file" address)" = "$first"
insurance=$(field "$file" insurance.address)

edit "$file" "d.address = '0x000000000000000000000000000000000000dEaD'"
migrate
check "a core to deploy again takes new insurance and licensing contracts with it" test "$(deployments_in_log)" = 3
second=$(field "$file" address)
check "  the core is a new one" test "$second" != "$first"
check "  the insurance contract is a new one, on the new core" same_address "$(core_of "$(field "$file" insurance.address)")" "$second"
check "  the licensing contract is a new one, named by the new core" same_address "$(licensing_of "$second")" "$(field "$file" licensing.address)"
check "  the forwarder is kept, and the new core trusts it" same_address "$(forwarder_of "$second")" "$forwarder"

edit "$file" 'delete d.forwarder'
migrate
check "a file without the forwarder: it and everything after it are deployed anew" test "$(deployments_in_log)" = 4
third=$(field "$file" address)
check "  the core is a new one, trusting the new forwarder" same_address "$(forwarder_of "$third")" "$(field "$file" forwarder.address)"
check "  the forwarder is a new one" test "$(field "$file" forwarder.address)" != "$forwarder"
forwarder=$(field "$file" forwarder.address)

edit "$file" "d.forwarder.address = d.address"
migrate
check "a forwarder address holding other code: it and everything after it are deployed anew" test "$(deployments_in_log)" = 4
check "  the core is a new one" test "$(field "$file" address)" != "$third"
check "  and it trusts the new forwarder" same_address "$(forwarder_of "$(field "$file" address)")" "$(field "$file" forwarder.address)"

stop_pid "$GANACHE_PID"
rm -rf "$work/db"
start_ganache "$port" "$work/ganache.log" "$work/db2"
migrate
check "after a chain reset, all four contracts are deployed anew" test "$(deployments_in_log)" = 4

MEDLEDGER_RPC_URL="http://127.0.0.1:$port" MEDLEDGER_CHAIN_ID=1337 \
  MEDLEDGER_DEPLOYER_KEY=0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d \
  MEDLEDGER_ESCROW=0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0 migrate external
check "the external network deploys with a key from the environment" test -f "$work/deployments/external.json"
check "the external deployment names the escrow from the environment" test \
  "$(field "$work/deployments/external.json" escrow)" = 0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0
check "the external deployment names its insurance contract, on its core" same_address \
  "$(core_of "$(field "$work/deployments/external.json" insurance.address)")" "$(field "$work/deployments/external.json" address)"
check "the external deployment's core names its licensing contract" same_address \
  "$(licensing_of "$(field "$work/deployments/external.json" address)")" "$(field "$work/deployments/external.json" licensing.address)"
check "the external deployment's core trusts its forwarder" same_address \
  "$(forwarder_of "$(field "$work/deployments/external.json" address)")" "$(field "$work/deployments/external.json" forwarder.address)"

echo "migrations: $passed passed, $failed failed"
[ "$failed" = 0 ]
