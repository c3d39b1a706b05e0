#!/usr/bin/env bash
# Builds the app for the browser into app/dist/ (what the escrow serves at /): the WASM module and
# its JavaScript glue (scripts/build-wasm.sh: rustup's wasm32 target or Debian's rustc-web), plus
# index.html, start.js and style.css. No trunk: the page loads the wasm-bindgen output directly, which saves
# a 10-minute tool install on a fresh machine and CI run.
#
#   scripts/build-app.sh [out dir]    (default app/dist)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$ROOT/app/dist}"
stage="$(mktemp -d "${TMPDIR:-/tmp}/medledger-app.XXXXXX")"
trap 'rm -rf "$stage" "$stage.log"' EXIT
# clippy cannot run on the wasm32 half of the app here (Debian's rustc-web has no clippy), so
# the compiler's own warnings stand in for it: any warning fails the build, as -D warnings would.
# The tools are installed first, outside the log: on a new machine `cargo install
# wasm-bindgen-cli` prints a future-incompatibility warning of its own, which is not the app's.
"$ROOT/scripts/build-wasm.sh" --tools
log="$stage.log"
"$ROOT/scripts/build-wasm.sh" medledger-app "$stage" 2>&1 | tee "$log"
if grep -q '^warning' "$log"; then
  echo "error: the app's WASM build has warnings (treated as errors)" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
cp "$ROOT/app/index.html" "$ROOT/app/style.css" "$ROOT/app/start.js" "$ROOT/app/favicon.svg" "$stage/"
rm -f "$stage"/*.d.ts
# Swap the finished build in whole, so a server never serves half of one.
mkdir -p "$(dirname "$out")"
rm -rf "$out.old"
[ -d "$out" ] && mv "$out" "$out.old"
mv "$stage" "$out"
trap - EXIT
rm -rf "$out.old"
chmod 755 "$out"
echo "app built into $out"
