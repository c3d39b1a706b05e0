#!/usr/bin/env bash
# The export medledger makes is valid FHIR R4 by an independent implementation: the pinned PyPI
# fhir.resources 6.4.0 (R4 4.0.1 models) in .venv-fhir (scripts/fhir-venv.sh makes it), run by
# scripts/fhir_validate.py over (1) the fixtures themselves, (2) the export Bundle of each valid
# fixture, made by protocol/examples/fhir_export.rs as the app's export makes it (with a Consent
# and AuditEvents), and (3) the export of all of them at once. The browser's own export is checked
# the same way by e2e/fhir.test.mjs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/fhir-venv.sh
fixtures=protocol/tests/fixtures/fhir
valid=("$fixtures/us-core-bundle.json" "$fixtures/restful-bundle.json" "$fixtures/single-condition.json" "$fixtures/bulk-observations.ndjson")
out=$(mktemp -d -t medledger-fhir-export.XXXXXX)
trap 'rm -rf "$out"' EXIT
cargo build -q -p medledger-protocol --example fhir_export --locked
exporter="$ROOT/target/debug/examples/fhir_export"
for f in "${valid[@]}"; do
  "$exporter" "$f" >"$out/$(basename "$f").export.json"
done
"$exporter" "${valid[@]}" >"$out/all.export.json"
.venv-fhir/bin/python scripts/fhir_validate.py "${valid[@]}" "$out"/*.export.json
