#!/usr/bin/env bash
# Installs what the project needs that the machine may not have. Skips what is already there, so
# it is cheap to run before every test run.
#   - node packages (truffle, ganache, solc-js, OpenZeppelin, forge, playwright-core) via npm ci,
#     when node_modules is missing or older than package-lock.json
#   - rustfmt and clippy, when rustup lacks them
#   - with --browsers: Debian's chromium and firefox-esr for the browser tests (apt-get, as root),
#     when missing. Only the tests need them: `make run` does not ask for them.
# The WASM toolchain (a rustup wasm32 target, else Debian's rustc-web) and wasm-bindgen-cli are
# installed by scripts/build-wasm.sh when it first needs them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

command -v node >/dev/null || { echo "error: Node.js 20+ is needed (apt-get install nodejs npm)" >&2; exit 1; }
command -v cargo >/dev/null || { echo "error: a Rust toolchain is needed (rustup)" >&2; exit 1; }

stamp=node_modules/.medledger-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "npm ci (node_modules missing or older than package-lock.json)"
  npm ci --no-audit --no-fund
  touch "$stamp"
else
  echo "node_modules up to date"
fi

if command -v rustup >/dev/null; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
  done
fi

[ "${1:-}" = --browsers ] || exit 0

apt_missing=()
for pkg in chromium firefox-esr; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || apt_missing+=("$pkg")
done
if [ "${#apt_missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: the browser tests need Debian packages ${apt_missing[*]}: sudo apt-get install ${apt_missing[*]}" >&2
    exit 1
  fi
  echo "apt-get install ${apt_missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}"
fi
