#!/usr/bin/env bash
# The escrow API's integration suite again, on PostgreSQL instead of SQLite: a throwaway server
# from Debian's postgresql package (installed with apt-get when missing) on a free loopback port,
# trust authentication on 127.0.0.1 only, data in a temporary directory removed afterwards. The
# suite creates one fresh database per escrow it starts (MEDLEDGER_TEST_DATABASE_URL).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || die "PostgreSQL is missing: sudo apt-get install postgresql"
  echo "apt-get install postgresql"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

work=$(mktemp -d -t medledger-pg.XXXXXX)
# PostgreSQL refuses to run as root: as root, run it as the package's postgres user.
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work"
  as_pg=(runuser -u postgres --)
fi
port=$(free_port)
stop_pg() {
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap stop_pg EXIT

"${as_pg[@]}" "$pgbin/initdb" -D "$work/data" -A trust -U medledger --no-sync >"$work/initdb.log" 2>&1 ||
  { cat "$work/initdb.log"; die "initdb failed"; }
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/server.log" -w -t "$PATIENCE_SECS" \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null ||
  { cat "$work/server.log"; die "PostgreSQL did not start"; }
echo "== escrow-api suite on PostgreSQL ($("$pgbin/postgres" --version), 127.0.0.1:$port)"
# The consent index's differential test touches no database (Ganache and memory only): it runs
# once, in the SQLite stage, not a second time here.
MEDLEDGER_TEST_DATABASE_URL="postgres://medledger@127.0.0.1:$port/postgres" \
  run_escrow_tests all --skip "$CONSENT_DIFFERENTIAL_TEST"
