# Shared shell helpers for the project's scripts: starting and stopping Ganache on loopback.
# Source it; it defines functions only.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GANACHE_BIN="$ROOT/node_modules/.bin/ganache"
TRUFFLE_BIN="$ROOT/node_modules/.bin/truffle"
# The consent index's differential test (escrow-api/tests/consent_index.rs): the test command runs
# it once, beside the Rust suite, and the other runs of the escrow's suite skip it.
CONSENT_DIFFERENTIAL_TEST=the_consent_index_answers_as_the_contract_at_every_block
MEDLEDGER_CHAIN_ID="${MEDLEDGER_CHAIN_ID:-1337}"
# How long a script waits for a service it started to answer: bounded, so a broken install fails
# instead of hanging, and wide, so that a loaded or single-core machine never meets it.
PATIENCE_SECS=180

die() { echo "error: $*" >&2; exit 1; }

need_node_modules() {
  [ -x "$GANACHE_BIN" ] && [ -x "$TRUFFLE_BIN" ] || die "node_modules is missing: run 'npm ci' first (make deps)"
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# rpc_ready PORT: true once a JSON-RPC node answers eth_chainId on 127.0.0.1:PORT.
rpc_ready() {
  node -e '
    const port = process.argv[1];
    fetch(`http://127.0.0.1:${port}`, {method: "POST", headers: {"content-type": "application/json"},
      body: JSON.stringify({jsonrpc: "2.0", id: 1, method: "eth_chainId", params: []})})
      .then(r => r.json()).then(j => process.exit(j.result ? 0 : 1)).catch(() => process.exit(1));
  ' "$1"
}

# ganache_args ARRAY: set the array named ARRAY to the flags every Ganache of this project starts
# with (scripts/ganache.args, comments dropped).
ganache_args() {
  local -n into="$1"
  # shellcheck disable=SC2207 # the file's words are flags and values without spaces
  into=($(sed -e 's/#.*//' "$ROOT/scripts/ganache.args"))
  [ "${#into[@]}" -gt 0 ] || die "scripts/ganache.args gave no flags"
}

# start_ganache PORT LOGFILE [DBPATH]: Ganache with the deterministic dev accounts and the fixed
# chain id (instamine, or a block every MEDLEDGER_GANACHE_BLOCK_TIME seconds), in the background;
# sets GANACHE_PID and waits until it answers (PATIENCE_SECS at most).
start_ganache() {
  local port="$1" log="$2" db="${3:-}"
  local args
  ganache_args args
  args+=(--chain.chainId "$MEDLEDGER_CHAIN_ID" --chain.networkId "$MEDLEDGER_CHAIN_ID"
    --server.port "$port" --logging.quiet)
  if [ -n "$db" ]; then mkdir -p "$db"; args+=(--database.dbPath "$db"); fi
  # Interval mining when asked (MEDLEDGER_GANACHE_BLOCK_TIME seconds): with two senders at once —
  # the escrow's own transactions and a user's — Ganache 7's instamine pool can hand out stale
  # nonces or drop a transaction (ganache issue #3794).
  if [ -n "${MEDLEDGER_GANACHE_BLOCK_TIME:-}" ]; then args+=(--miner.blockTime "$MEDLEDGER_GANACHE_BLOCK_TIME"); fi
  # A chain clock that does not follow the wall clock when asked (MEDLEDGER_GANACHE_TIME_STEP
  # seconds from one block to the next): the contract tests' expiries and windows then depend
  # only on the blocks they mine and the time they set, never on how fast the machine is.
  if [ -n "${MEDLEDGER_GANACHE_TIME_STEP:-}" ]; then args+=(--miner.timestampIncrement "$MEDLEDGER_GANACHE_TIME_STEP"); fi
  # MEDLEDGER_GANACHE_DETACH=1 (scripts/chain.sh start, i.e. `make up`): a Ganache that outlives
  # the command that started it runs in a session of its own, so it does not die with that
  # command's terminal (SIGHUP). Only from a script: there the background job is no process group
  # leader, so setsid execs in place and $! stays Ganache's own pid.
  local launch=()
  if [ -n "${MEDLEDGER_GANACHE_DETACH:-}" ]; then launch=(setsid); fi
  "${launch[@]}" "$GANACHE_BIN" "${args[@]}" </dev/null >"$log" 2>&1 &
  GANACHE_PID=$!
  local deadline=$((SECONDS + PATIENCE_SECS))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if rpc_ready "$port"; then return 0; fi
    kill -0 "$GANACHE_PID" 2>/dev/null || { cat "$log" >&2; die "ganache exited while starting (log above)"; }
    sleep 0.2
  done
  die "ganache did not answer on 127.0.0.1:$port within $PATIENCE_SECS s (log: $log)"
}

stop_pid() {
  local pid="${1:-}"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# escrow_test_executables: builds every test executable of the workspace, as `cargo test
# --workspace` does (and target/debug/escrow-api with them, the binary the browser tests start),
# and prints those of medledger-escrow-api, one "<target> <path>" a line (`lib` for its unit
# tests). Built with the whole workspace's feature resolution, not `-p medledger-escrow-api`'s:
# the workspace's dev-dependencies (proptest among them) turn on features of shared crates
# (regex-syntax's unicode tables, getrandom's system RNG) that recompile medledger-protocol and
# everything above it, so a `-p` build and the workspace's would build the escrow twice.
escrow_test_executables() {
  cargo test --workspace --no-run --locked --message-format=json | node -e '
    let out = "";
    process.stdin.on("data", (d) => (out += d)).on("end", () => {
      const built = out.split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((m) =>
        m.reason === "compiler-artifact" && m.executable && m.profile.test &&
        m.package_id.includes("medledger-escrow-api"));
      if (built.length === 0) { console.error("cargo built no medledger-escrow-api test executable"); process.exit(1); }
      for (const m of built) console.log(`${m.target.kind.includes("lib") ? "lib" : m.target.name} ${m.executable}`);
    });'
}

# run_escrow_tests TARGET|all [ARGS...]: runs the escrow's test executables (one target, or all),
# each from escrow-api/ as cargo runs it, with ARGS (libtest's: --skip NAME, --ignored...); runs
# every one even after a failure, and fails when any did.
run_escrow_tests() {
  local only="$1" name path failed=0 ran=0 listing
  shift
  listing=$(escrow_test_executables) || return 1
  while read -r name path; do
    [ "$only" = all ] || [ "$only" = "$name" ] || continue
    echo "     Running $name ($path)"
    ran=$((ran + 1))
    in_escrow_dir "$path" "$@" || failed=1
  done <<<"$listing"
  [ "$ran" -gt 0 ] || { echo "error: medledger-escrow-api has no test target $only" >&2; return 1; }
  return "$failed"
}

# in_escrow_dir EXECUTABLE [ARGS...]: runs a test executable from escrow-api/, as cargo runs it.
in_escrow_dir() {
  (cd "$ROOT/escrow-api" && exec "$@" </dev/null)
}

# start_beside COMMAND...: starts COMMAND in the background, its output in a temporary log, while
# the caller runs something else; finish_beside HEADER waits for it, prints HEADER and the log,
# and returns its exit status. One at a time (BESIDE_PID, BESIDE_LOG); stop_beside (for a trap)
# stops it if it still runs.
start_beside() {
  BESIDE_LOG=$(mktemp -t medledger-beside.XXXXXX.log)
  "$@" >"$BESIDE_LOG" 2>&1 &
  BESIDE_PID=$!
}

finish_beside() {
  local status=0
  wait "$BESIDE_PID" || status=$?
  BESIDE_PID=
  echo
  echo "== $1"
  cat "$BESIDE_LOG"
  rm -f "$BESIDE_LOG"
  return "$status"
}

stop_beside() {
  stop_pid "${BESIDE_PID:-}"
  rm -f "${BESIDE_LOG:-}"
}
