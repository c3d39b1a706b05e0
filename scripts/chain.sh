#!/usr/bin/env bash
# The local chain: Ganache on 127.0.0.1 with a persistent database under the data directory,
# the fixed chain id and the deterministic dev accounts.
#
#   scripts/chain.sh run      in the foreground (Ctrl-C stops it)         — make chain
#   scripts/chain.sh start    in the background; pid and log in the data dir — make up
#   scripts/chain.sh stop     stop the background one                      — make down
#   scripts/chain.sh status
#
# MEDLEDGER_DATA_DIR (default ./data) and MEDLEDGER_GANACHE_PORT (default 8545) choose where.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
need_node_modules

data_dir="${MEDLEDGER_DATA_DIR:-$ROOT/data}"
port="${MEDLEDGER_GANACHE_PORT:-8545}"
db="$data_dir/ganache"
pidfile="$data_dir/ganache.pid"
log="$data_dir/ganache.log"
mkdir -p "$data_dir"

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

case "${1:-run}" in
  run)
    echo "Ganache on http://127.0.0.1:$port (chain id $MEDLEDGER_CHAIN_ID), database $db — Ctrl-C to stop"
    ganache_args common
    # In the foreground Ganache logs each call, as a developer watching it wants.
    exec "$GANACHE_BIN" "${common[@]}" \
      --chain.chainId "$MEDLEDGER_CHAIN_ID" --chain.networkId "$MEDLEDGER_CHAIN_ID" \
      --server.port "$port" --database.dbPath "$db" \
      --miner.blockTime "${MEDLEDGER_GANACHE_BLOCK_TIME:-1}"
    ;;
  start)
    if pid=$(running_pid); then
      echo "Ganache already running (pid $pid) on http://127.0.0.1:$port"
      exit 0
    fi
    if rpc_ready "$port"; then die "something else already answers JSON-RPC on 127.0.0.1:$port"; fi
    # The chain people use with the app and the escrow: a block a second (see start_ganache).
    MEDLEDGER_GANACHE_DETACH=1 MEDLEDGER_GANACHE_BLOCK_TIME="${MEDLEDGER_GANACHE_BLOCK_TIME:-1}" \
      start_ganache "$port" "$log" "$db"
    echo "$GANACHE_PID" >"$pidfile"
    disown "$GANACHE_PID" 2>/dev/null || true
    echo "Ganache running (pid $GANACHE_PID) on http://127.0.0.1:$port, chain id $MEDLEDGER_CHAIN_ID, database $db"
    ;;
  stop)
    if pid=$(running_pid); then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$pidfile"
      echo "Ganache stopped"
    else
      rm -f "$pidfile"
      echo "Ganache is not running"
    fi
    ;;
  status)
    if pid=$(running_pid); then echo "running (pid $pid) on http://127.0.0.1:$port"; else echo "not running"; exit 1; fi
    ;;
  *)
    die "usage: scripts/chain.sh run|start|stop|status"
    ;;
esac
