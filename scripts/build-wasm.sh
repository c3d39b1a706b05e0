#!/usr/bin/env bash
# Builds one workspace crate for the browser: wasm32-unknown-unknown, release, then wasm-bindgen
# (--target web) into an output directory.
#
#   scripts/build-wasm.sh <cargo package> <out dir>
#   scripts/build-wasm.sh --tools       only install what the build needs, build nothing
#
# Toolchain: a rustup toolchain with the wasm32-unknown-unknown target when one is installed
# (`rustup target add wasm32-unknown-unknown` on a normal machine). Otherwise Debian's rustc-web
# (Rust 1.96, which knows the target) builds std from source with -Zbuild-std; lld-22 provides the
# linker Debian's rust-lld points to. Missing Debian packages are installed with apt-get (as root),
# and wasm-bindgen-cli is installed with cargo at exactly the version in Cargo.lock.
#
# The WASM target dir is target-wasm/, apart from target/, so the native build and this one never
# invalidate each other. Never run Debian's wasm-opt on the output: it breaks it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

target_dir="$ROOT/target-wasm"
die() { echo "error: $*" >&2; exit 1; }

rustup_has_wasm() {
  command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown
}

ensure_debian_toolchain() {
  local missing=()
  for pkg in rustc-web cargo-web rust-web-src lld-22; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" = 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "no rustup wasm32 target, and Debian packages ${missing[*]} are missing: install them as root (apt-get install ${missing[*]}) or run 'rustup target add wasm32-unknown-unknown'"
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

ensure_wasm_bindgen() {
  local want
  want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
  [ -n "$want" ] || die "Cargo.lock has no wasm-bindgen: is $package a browser crate?"
  if command -v wasm-bindgen >/dev/null && [ "$(wasm-bindgen --version | awk '{print $2}')" = "$want" ]; then
    return 0
  fi
  echo "installing wasm-bindgen-cli $want (a few minutes, once)"
  # --locked fails: its lock pins a crate version the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$want"
}

# Installs the toolchain and wasm-bindgen-cli when missing. Their installs print warnings of their
# own (cargo install's future-incompatibility notes), which are not the project's.
ensure_tools() {
  rustup_has_wasm || ensure_debian_toolchain
  ensure_wasm_bindgen
}

if [ "${1:-}" = --tools ]; then
  ensure_tools
  exit 0
fi
package="${1:?usage: scripts/build-wasm.sh <cargo package> <out dir> | --tools}"
out="${2:?usage: scripts/build-wasm.sh <cargo package> <out dir> | --tools}"
ensure_tools

wasm_name="${package//-/_}"
if rustup_has_wasm; then
  echo "building $package for wasm32 with rustup's toolchain"
  CARGO_TARGET_DIR="$target_dir" cargo build --release --locked --target wasm32-unknown-unknown -p "$package"
else
  echo "building $package for wasm32 with Debian's rustc-web and -Zbuild-std"
  # rustup's proxies come first on PATH: call Debian's cargo and rustc explicitly.
  CARGO_TARGET_DIR="$target_dir" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    /usr/bin/cargo build --release --locked --target wasm32-unknown-unknown \
    -Zbuild-std=std,panic_abort -p "$package"
fi

wasm="$target_dir/wasm32-unknown-unknown/release/$wasm_name.wasm"
[ -f "$wasm" ] || die "the build produced no $wasm"
mkdir -p "$out"
wasm-bindgen --target web --remove-name-section --out-dir "$out" "$wasm"
echo "wrote $out/${wasm_name}.js and ${wasm_name}_bg.wasm ($(du -k "$out/${wasm_name}_bg.wasm" | cut -f1) KiB)"
