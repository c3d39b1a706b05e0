#!/usr/bin/env bash
# Opt-in: the escrow's blobs on an S3-compatible server (escrow-api/tests/s3.rs). Starts moto
# (PyPI `moto[server]`, installed with pip when missing; it runs offline) on a free loopback
# port, creates a bucket, and runs the ignored S3 test against it with the standard AWS_*
# variables. Usage: escrow-api/scripts/test-s3.sh
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

if ! command -v moto_server >/dev/null 2>&1; then
  echo "python3 -m pip install 'moto[server]'"
  python3 -m pip install --quiet 'moto[server]'
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp -t medledger-moto.XXXXXX)
moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null || true; wait "$moto" 2>/dev/null || true; rm -f "$log"' EXIT
# Wait until moto answers (its Python start-up takes seconds on a loaded machine), or it exits,
# or three minutes pass.
deadline=$((SECONDS + 180))
until curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1; do
  kill -0 "$moto" 2>/dev/null || { cat "$log"; echo "moto exited while starting" >&2; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { cat "$log"; echo "moto did not answer within 180 s" >&2; exit 1; }
  sleep 0.1
done
curl -fsS -X PUT "http://127.0.0.1:$port/medledger-test" >/dev/null ||
  { cat "$log"; echo "moto did not create the bucket" >&2; exit 1; }
echo "== escrow-api blobs on S3 (moto $(python3 -c 'import moto; print(moto.__version__)'), 127.0.0.1:$port)"
AWS_ENDPOINT="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
MEDLEDGER_TEST_S3_URL=s3://medledger-test \
  run_escrow_tests s3 --ignored
