#!/usr/bin/env bash
# Creates .venv-fhir/ at the repo root: a Python environment with the pinned packages of
# scripts/fhir-requirements.txt (fhir.resources 6.4.0 = FHIR R4 4.0.1 models; see the comment
# there), used by scripts/fhir_validate.py as an independent check of FHIR R4 JSON.
#
# Idempotent and cheap when done: a marker file records the hash of the requirements and of the
# Python that built the environment; when it matches and .venv-fhir/bin/python runs, nothing is
# done. Otherwise the folder is built anew, and the marker is written last (so an interrupted run
# is redone next time).
#
# Always run the result as .venv-fhir/bin/python, whichever way it was built:
#   1. venv:        `python3 -m venv` with its own pip (needs Debian's python3-venv for ensurepip)
#   2. venv-nopip:  `python3 -m venv --without-pip` (works without python3-venv), filled by the
#                   system pip through `pip --python` (pip >= 22.3; Debian 12 has 23.0.1)
#   3. target:      `python3 -m pip install --target .venv-fhir/site`, with .venv-fhir/bin/python a
#                   small wrapper that puts that folder first on PYTHONPATH. pip skips Debian's
#                   PEP 668 "externally managed" refusal for --target installs.
# A method can be forced with FHIR_VENV_METHOD=venv|venv-nopip|target; the interpreter is $PYTHON
# (default python3, 3.8+; the pins are tested on 3.11).
# Usage: scripts/fhir-venv.sh [--force]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-fhir"
REQ="$ROOT/scripts/fhir-requirements.txt"
MARKER="$VENV/.fhir-requirements.sha256"
PY="${PYTHON:-python3}"

die() { echo "error: $*" >&2; exit 1; }
say() { echo "fhir-venv: $*"; }

[ -f "$REQ" ] || die "$REQ is missing"
command -v "$PY" >/dev/null || die "$PY not found (install python3 3.8+)"

# What the environment must match: the requirements and the interpreter (its real path and version).
py_id="$("$PY" -c 'import sys, os; print(os.path.realpath(sys.executable), sys.version.split()[0])')" \
  || die "$PY does not run"
want="$( { cat "$REQ"; echo "$py_id"; } | sha256sum | cut -d' ' -f1)"

if [ "${1:-}" != --force ] && [ -f "$MARKER" ] && [ "$(head -n1 "$MARKER")" = "$want" ] \
   && "$VENV/bin/python" -c '' 2>/dev/null; then
  say "up to date: $VENV ($(sed -n 2p "$MARKER"))"
  exit 0
fi

# As root (CI, a fresh machine), pip warns about running as root: not a concern in a venv or --target.
export PIP_ROOT_USER_ACTION=ignore
pip_flags=(--disable-pip-version-check --no-input --only-binary=:all: -r "$REQ")

build_venv() {
  "$PY" -m venv "$VENV" >/dev/null 2>&1 || return 1
  "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || return 1
  "$VENV/bin/python" -m pip install -q "${pip_flags[@]}"
}

build_venv_nopip() {
  "$PY" -m venv --without-pip "$VENV" >/dev/null 2>&1 || return 1
  "$PY" -m pip --version >/dev/null 2>&1 || return 1
  "$PY" -m pip --python "$VENV/bin/python" install -q "${pip_flags[@]}"
}

build_target() {
  "$PY" -m pip --version >/dev/null 2>&1 || return 1
  mkdir -p "$VENV/bin" "$VENV/site"
  "$PY" -m pip install -q --target "$VENV/site" "${pip_flags[@]}" || return 1
  local real_py
  real_py="$("$PY" -c 'import sys, os; print(os.path.realpath(sys.executable))')"
  # -s: no user site-packages, so nothing of ~/.local shadows the pins.
  cat >"$VENV/bin/python" <<EOF
#!/bin/sh
# Made by scripts/fhir-venv.sh (method: target): the pinned packages in $VENV/site come first.
PYTHONPATH="$VENV/site\${PYTHONPATH:+:\$PYTHONPATH}" exec "$real_py" -s "\$@"
EOF
  chmod +x "$VENV/bin/python"
}

methods=(venv venv-nopip target)
[ -n "${FHIR_VENV_METHOD:-}" ] && methods=("$FHIR_VENV_METHOD")
used=""
for m in "${methods[@]}"; do
  rm -rf "$VENV"
  say "building $VENV with method '$m' ($py_id)"
  case "$m" in
    venv) build_venv && used=$m ;;
    venv-nopip) build_venv_nopip && used=$m ;;
    target) build_target && used=$m ;;
    *) die "unknown FHIR_VENV_METHOD '$m' (venv, venv-nopip or target)" ;;
  esac
  [ -n "$used" ] && break
  say "method '$m' did not work here"
done
if [ -z "$used" ]; then
  rm -rf "$VENV"
  die "could not build $VENV: install Debian's python3-venv (or python3-pip) and run again"
fi

# Check that what was installed is the R4 model set, then record it.
version="$("$VENV/bin/python" -c '
import sys, fhir.resources as fr, pydantic
if fr.__fhir_version__ != "4.0.1":
    sys.exit("fhir.resources %s has FHIR %s models, not R4 4.0.1" % (fr.__version__, fr.__fhir_version__))
print("fhir.resources %s, FHIR %s, pydantic %s" % (fr.__version__, fr.__fhir_version__, pydantic.VERSION))
')" || { rm -rf "$VENV"; die "the installed packages failed the R4 check"; }
printf '%s\n%s; method %s\n' "$want" "$version" "$used" >"$MARKER"
say "ready: $VENV ($version; method $used)"
