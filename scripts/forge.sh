#!/usr/bin/env bash
# Run forge (npm @foundry-rs/forge-linux-amd64) from the repository root with foundry.toml:
# offline, compiling with the project's solc-js through scripts/solc-shim.js.
#   bash scripts/forge.sh test            # the fuzz and invariant suite in fuzz/
#   bash scripts/forge.sh test -vvv --match-contract MedLedgerInvariants
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FORGE_BIN="$ROOT/node_modules/@foundry-rs/forge-linux-amd64/bin/forge"
FORGE_STD="$ROOT/node_modules/@layerzerolabs/toolbox-foundry/lib/forge-std/Test.sol"
SOLC_JS="$ROOT/node_modules/solc/soljson.js"

missing=()
[ -x "$FORGE_BIN" ] || missing+=("forge ($FORGE_BIN)")
[ -f "$FORGE_STD" ] || missing+=("forge-std ($FORGE_STD)")
[ -f "$SOLC_JS" ] || missing+=("solc-js ($SOLC_JS)")
[ -d "$ROOT/node_modules/@openzeppelin/contracts" ] || missing+=("@openzeppelin/contracts")
if [ "${#missing[@]}" -gt 0 ]; then
  echo "error: node_modules is missing or incomplete: run 'npm ci' first (make deps)" >&2
  printf '  not found: %s\n' "${missing[@]}" >&2
  exit 1
fi
command -v node >/dev/null || { echo "error: node is not on PATH (the solc shim needs it)" >&2; exit 1; }

cd "$ROOT"
exec "$FORGE_BIN" "$@"
