#!/usr/bin/env bash
# The newcomer's first `make run`, replayed on a machine state as new as this machine allows, and
# timed step by step: the README's timings come from this script.
#
#   scripts/newcomer.sh [work dir]     (default: a new temporary directory, removed afterwards)
#
# What is new: a clone of this repository's HEAD (no node_modules, no target/, no app/dist, no
# data/), an empty CARGO_HOME (no crates.io index, no downloaded crates, no wasm-bindgen-cli), and
# a PATH without ~/.cargo/bin's installed tools (only rustup's cargo/rustc/rustup proxies are kept).
# What is not new: the Rust toolchain itself (rustup's, or Debian's rustc-web with lld-22, which
# build-wasm.sh installs with apt-get as root; uninstalling system packages is not this script's
# business) and npm's download cache (npm ci re-links every package into a new node_modules).
#
# It runs exactly the steps `make run` runs, each timed, on free ports so that a developer's own
# chain and escrow are left alone, and stops when the escrow prints "listening" and answers
# /health and /; then it stops what it started. It fails if any step fails or needs a rerun.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/lib.sh"

keep=0
work="${1:-}"
if [ -z "$work" ]; then work="$(mktemp -d "${TMPDIR:-/tmp}/medledger-newcomer.XXXXXX")"; else keep=1; mkdir -p "$work"; fi
clone="$work/medledger"
[ -e "$clone" ] && die "$clone exists: give an empty work dir"

escrow_pid=""
cleanup() {
  [ -n "$escrow_pid" ] && kill "$escrow_pid" 2>/dev/null || true
  [ -d "$clone" ] && (cd "$clone" && bash scripts/chain.sh stop >/dev/null 2>&1 || true)
  if [ "$keep" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# A PATH with the system's tools and rustup's proxies, but none of the tools a previous build
# installed into ~/.cargo/bin (wasm-bindgen above all).
tools="$work/bin"
mkdir -p "$tools"
for proxy in cargo rustc rustup rustfmt cargo-fmt cargo-clippy clippy-driver; do
  found="$(command -v "$proxy" || true)"
  [ -n "$found" ] && ln -sf "$found" "$tools/$proxy"
done
export CARGO_HOME="$work/cargo-home"
mkdir -p "$CARGO_HOME/bin"
clean_path="$CARGO_HOME/bin:$tools"
IFS=: read -ra parts <<<"$PATH"
for dir in "${parts[@]}"; do
  case "$dir" in *"/.cargo/bin") ;; *) clean_path="$clean_path:$dir" ;; esac
done
export PATH="$clean_path"
command -v wasm-bindgen >/dev/null && die "wasm-bindgen is still on PATH ($(command -v wasm-bindgen)): not a new machine"

chain_port=$(free_port)
escrow_port=$(free_port)
export MEDLEDGER_GANACHE_PORT="$chain_port"
export MEDLEDGER_RPC_URL="http://127.0.0.1:$chain_port"
export MEDLEDGER_BIND="127.0.0.1:$escrow_port"

report="$work/timings.txt"
: >"$report"
step() {
  local name="$1"
  shift
  local start end
  start=$(date +%s)
  echo "== $name: $*"
  "$@" >"$work/$name.log" 2>&1 || { tail -40 "$work/$name.log" >&2; die "step '$name' failed (log: $work/$name.log)"; }
  end=$(date +%s)
  printf '%-28s %4d s\n' "$name" "$((end - start))" | tee -a "$report"
}

total_start=$(date +%s)
step clone git clone --quiet --no-hardlinks "$ROOT" "$clone"
cd "$clone"
# `make run` = `make up` (deps, chain start, migrate) + `make app` + the escrow's two cargo runs.
step "deps (npm ci)" make deps
step "chain + migrate" make up
step "app (wasm-bindgen-cli)" bash scripts/build-wasm.sh --tools
step "app (WASM build)" make app
step "escrow (release build)" cargo build --release --locked -p medledger-escrow-api
step "escrow init-dev-key" cargo run --release --locked -p medledger-escrow-api -- init-dev-key

serve_start=$(date +%s)
serve_log="$work/serve.log"
cargo run --release --locked -p medledger-escrow-api -- serve >"$serve_log" 2>&1 &
escrow_pid=$!
until grep -q "escrow API listening" "$serve_log"; do
  kill -0 "$escrow_pid" 2>/dev/null || { tail -40 "$serve_log" >&2; die "the escrow exited before listening"; }
  sleep 1
done
curl -fsS "http://127.0.0.1:$escrow_port/health" | grep -q '"status":"ok"' || die "/health did not answer ok"
curl -fsS "http://127.0.0.1:$escrow_port/" | grep -qi "<html" || die "/ did not serve the app"
printf '%-28s %4d s\n' "escrow serve → listening" "$(($(date +%s) - serve_start))" | tee -a "$report"
printf '%-28s %4d s\n' "total" "$(($(date +%s) - total_start))" | tee -a "$report"
echo "newcomer path OK: listening on http://127.0.0.1:$escrow_port, /health ok, app served ($(nproc) cores)"
[ "$keep" = 1 ] && echo "timings in $report, logs in $work"
exit 0
