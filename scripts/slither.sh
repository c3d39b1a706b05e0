#!/usr/bin/env bash
# Slither (PyPI slither-analyzer, installed with pip when missing) over the Truffle build in
# build/contracts (run `npx truffle compile` first; the test command does). slither.config.json
# leaves out OpenZeppelin and the test-only attacker contract, and two detectors whose findings
# are the contract's design (docs/contract.md, "Static analysis"); every other finding was
# reviewed and is marked in the source with a `slither-disable-next-line` and its reason. Any
# finding left fails the run: a new one must be fixed or triaged the same way.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
SLITHER_VERSION=0.11.6
# pip's script directory, not PATH: a version manager's shims (pyenv) only learn of a newly
# installed command after a rehash.
slither="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/slither"
if [ ! -x "$slither" ] || [ "$("$slither" --version 2>/dev/null)" != "$SLITHER_VERSION" ]; then
  echo "python3 -m pip install slither-analyzer==$SLITHER_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check "slither-analyzer==$SLITHER_VERSION"
fi
for c in MedLedger MedLedgerInsurance MedLedgerLicensing MedLedgerForwarder; do
  [ -f "build/contracts/$c.json" ] || die "build/contracts/$c.json is missing: run 'npx truffle compile' first"
done
"$slither" . --config-file slither.config.json
