// The real stack for a browser journey: Ganache on a copy of the chain the Truffle migration made
// (scripts/chain-template.js: migrated once per build of the contracts) and the escrow API (which
// also serves the app's files), on free loopback ports, in a fresh temporary directory. Every
// journey test starts its own with startStack() and stops it with stack.stop().
//
// Ganache mines every 100 ms (--miner.blockTime 0.1), not instantly: under instamine Ganache 7's
// transaction pool races when two senders (the escrow and a wallet) meet in one block, handing out
// stale nonces or stopping mining (ganache issue #3794) — the same choice as
// escrow-api/tests/support/mod.rs.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, openSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { devKeys } from "./wallet.mjs";
import { PATIENCE_MS } from "./patience.mjs";
import { ganacheArgs } from "../../scripts/ganache-args.js";

export { PATIENCE_MS };

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const GANACHE = join(ROOT, "node_modules", ".bin", "ganache");
const TRUFFLE = join(ROOT, "node_modules", ".bin", "truffle");
const CHAIN_TEMPLATE = join(ROOT, "scripts", "chain-template.js");
const CHAIN_ID = 1337;

/** A TCP port on 127.0.0.1 that nothing listens on now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every child of every stack in this process, killed when the process exits however it exits.
const live = new Set();
const liveDirs = new Set();
function killAll() {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {}
  }
  live.clear();
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {}
  }
  liveDirs.clear();
}
let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.once(sig, () => {
      killAll();
      process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[sig] || 0));
    });
  }
}

function track(child) {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Ends a child: `signal` (SIGTERM by default), then SIGKILL after `graceMs`; resolves when it is gone. */
export async function stopChild(child, { signal = "SIGTERM", graceMs = 5000 } = {}) {
  if (!child || exited(child)) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  const timer = setTimeout(() => {
    if (!exited(child)) child.kill("SIGKILL");
  }, graceMs);
  await gone;
  clearTimeout(timer);
}

/** One JSON-RPC call; resolves to the result or throws an Error carrying the node's `code` and `data`. */
export async function rpc(url, method, params = [], timeoutMs = PATIENCE_MS) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = await res.json();
  if (body.error) {
    const e = new Error(`${method}: ${body.error.message}`);
    e.code = body.error.code;
    e.data = body.error.data;
    throw e;
  }
  return body.result;
}

/** The last `lines` lines of a text file ("" when it does not exist). */
export function tail(file, lines = 60) {
  if (!existsSync(file)) return "";
  const all = readFileSync(file, "utf8").split("\n");
  return all.slice(-lines - 1).join("\n");
}

// ---- the escrow binary ------------------------------------------------------------------------

function newestMtime(path, skip = new Set(["target", "target-wasm", "node_modules", "tests", "benches", "examples", "fuzz"])) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) {
    if (skip.has(entry) || entry.startsWith(".")) continue;
    newest = Math.max(newest, newestMtime(join(path, entry), skip));
  }
  return newest;
}

let built = null;
/**
 * The escrow binary: MEDLEDGER_ESCROW_BIN when set (used as it is), else target/debug/escrow-api,
 * built first with cargo when it is missing or older than its sources (escrow-api/, protocol/,
 * Cargo.toml, Cargo.lock). Built once per test process.
 */
export function escrowBinary() {
  if (process.env.MEDLEDGER_ESCROW_BIN) return process.env.MEDLEDGER_ESCROW_BIN;
  if (built) return built;
  const bin = join(ROOT, "target", "debug", "escrow-api");
  const sources = Math.max(
    ...["escrow-api", "protocol", "Cargo.toml", "Cargo.lock"].map((p) => newestMtime(join(ROOT, p))),
  );
  if (!existsSync(bin) || statSync(bin).mtimeMs < sources) {
    const started = Date.now();
    process.stderr.write(`# building the escrow (target/debug/escrow-api is ${existsSync(bin) ? "older than its sources" : "missing"})\n`);
    const r = spawnSync("cargo", ["build", "-p", "medledger-escrow-api", "--bin", "escrow-api", "--locked"], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
    });
    if (r.status !== 0) throw new Error(`cargo build -p medledger-escrow-api --bin escrow-api failed (exit ${r.status})`);
    process.stderr.write(`# built the escrow in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
  built = bin;
  return bin;
}

/** build/contracts/MedLedger.json, compiled by truffle (solc-js, offline) when missing or older than contracts/. */
function ensureArtifact() {
  const artifact = join(ROOT, "build", "contracts", "MedLedger.json");
  if (existsSync(artifact) && statSync(artifact).mtimeMs >= newestMtime(join(ROOT, "contracts"))) return;
  const r = spawnSync(TRUFFLE, ["compile"], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`truffle compile failed:\n${r.stdout}\n${r.stderr}`);
}

// ---- the stack ---------------------------------------------------------------------------------

// Starts Ganache on a free port. Only this Ganache counts as started: the port is free when
// freePort() looks, but another suite's node (the same chain id and accounts) can take it before
// this one listens; this one then exits (EADDRINUSE) and the other would answer in its place, so
// the journey would run on a chain shared with another suite. It is ready once its own log says it
// listens on the port and the port answers; after EADDRINUSE it starts again on another port,
// on a fresh copy of the migrated chain (the node that exited may have mined into its copy).
async function startGanache(dir) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGanacheOnce(dir, copyMigratedDb(dir));
    } catch (e) {
      if (!e.portTaken || attempt >= 3) throw e;
      process.stderr.write(`# ganache's port was taken before it could listen; starting it on another\n`);
    }
  }
}

async function startGanacheOnce(dir, db) {
  if (!existsSync(GANACHE)) throw new Error(`${GANACHE} is missing: run 'npm ci' first`);
  const port = await freePort();
  const log = join(dir, "ganache.log");
  // Each attempt appends to the log: only what this one wrote says why it exited.
  const logStart = existsSync(log) ? statSync(log).size : 0;
  const fd = openSync(log, "a");
  const child = track(
    spawn(
      GANACHE,
      [
        // The project's flags (scripts/ganache.args): the template's accounts, its fork, loopback.
        ...ganacheArgs(),
        "--chain.chainId", String(CHAIN_ID), "--chain.networkId", String(CHAIN_ID),
        "--server.port", String(port),
        "--miner.blockTime", "0.1",
        "--logging.quiet",
        "--database.dbPath", db,
      ],
      { cwd: dir, stdio: ["ignore", fd, fd] },
    ),
  );
  closeSync(fd);
  const url = `http://127.0.0.1:${port}`;
  const listening = `RPC Listening on 127.0.0.1:${port}`;
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    if (exited(child)) {
      const e = new Error(`ganache exited while starting:\n${tail(log)}`);
      e.portTaken = /EADDRINUSE/.test(readFileSync(log).subarray(logStart).toString("utf8"));
      throw e;
    }
    try {
      if (readFileSync(log, "utf8").includes(listening) && (await rpc(url, "eth_chainId", [], 2000)) === `0x${CHAIN_ID.toString(16)}`) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`ganache did not answer on ${url} within ${PATIENCE_MS / 1000} s:\n${tail(log)}`);
    await sleep(150);
  }
  return { child, url, port, log };
}

// The migrated chain's template directory (scripts/chain-template.js), asked once per process.
let template = null;
function chainTemplate() {
  if (template) return template;
  ensureArtifact();
  const r = spawnSync("node", [CHAIN_TEMPLATE], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`node scripts/chain-template.js failed:\n${r.stdout}\n${r.stderr}`);
  template = r.stdout.trim();
  return template;
}

// A fresh copy of the migrated chain's database in `dir`, for this stack's Ganache to write to.
function copyMigratedDb(dir) {
  const db = join(dir, "chain-db");
  rmSync(db, { recursive: true, force: true });
  cpSync(join(chainTemplate(), "db"), db, { recursive: true });
  return db;
}

// The migration's deployment file, copied into `dir`.
function copyDeployment(dir) {
  const file = join(dir, "development.json");
  copyFileSync(join(chainTemplate(), "development.json"), file);
  return { file, deployment: JSON.parse(readFileSync(file, "utf8")) };
}

/**
 * Starts Ganache on a copy of the chain the Truffle migration made and starts the escrow serving
 * `appDir` at `/`. Options:
 *   appDir             the built app's directory (required)
 *   anchorIntervalSecs access-log anchoring interval (default 2)
 *   escrowConfig       more escrow TOML keys ({ key: value }, see escrow-api/src/config.rs)
 * Resolves to { url, rpcUrl, chainId, contract, deployment, keys, dir, dataDir, escrowLogFile,
 * walletLogFile, escrowLog({ tail }), restartEscrow({ signal }), stopEscrow({ signal }),
 * startEscrow(), stop() }. walletLogFile (wallet.log, beside escrow.log) is where the test wallets
 * of this stack log their transactions: give it to installWallet as `log` (openApp does).
 * The escrow keeps its URL (port), data directory and key across restarts.
 *
 * keys are Ganache's deterministic accounts 0..9: 0 is the contract's first admin, 1 the escrow's
 * own account (the escrow sends from it: give it to no wallet); 2..9 are free for journeys. Give
 * each account to one wallet only (each wallet tracks its own nonces).
 */
export async function startStack({ appDir, anchorIntervalSecs = 2, escrowConfig = {} } = {}) {
  if (!appDir || !existsSync(appDir)) throw new Error(`startStack: appDir ${appDir} does not exist`);
  hookExit();
  const bin = escrowBinary();
  const dir = mkdtempSync(join(tmpdir(), "medledger-e2e-"));
  if (process.env.MEDLEDGER_E2E_KEEP !== "1") liveDirs.add(dir);
  let ganache, escrow;
  const dataDir = join(dir, "escrow");
  const escrowLogFile = join(dir, "escrow.log");
  const walletLogFile = join(dir, "wallet.log");
  writeFileSync(walletLogFile, `---- test wallets of this stack (${new Date().toISOString()})\n`);
  const configFile = join(dir, "escrow.toml");
  const toml = (v) => (typeof v === "string" ? JSON.stringify(v) : String(v));
  writeFileSync(
    configFile,
    Object.entries({ anchor_interval_secs: anchorIntervalSecs, poll_interval_ms: 200, ...escrowConfig })
      .map(([k, v]) => `${k} = ${toml(v)}\n`)
      .join(""),
  );

  // MEDLEDGER_E2E_KEEP=1 leaves the directory (logs, escrow data, deployment) for a post-mortem.
  const keep = process.env.MEDLEDGER_E2E_KEEP === "1";
  if (keep) process.stderr.write(`# stack directory (kept): ${dir}\n`);
  const stop = async () => {
    await stopChild(escrow?.child);
    await stopChild(ganache?.child);
    liveDirs.delete(dir);
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };

  try {
    const { file: deploymentFile, deployment } = copyDeployment(dir);
    ganache = await startGanache(dir);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      MEDLEDGER_CONFIG: configFile,
      MEDLEDGER_DATA_DIR: dataDir,
      MEDLEDGER_BIND: `127.0.0.1:${port}`,
      MEDLEDGER_RPC_URL: ganache.url,
      MEDLEDGER_DEPLOYMENT: deploymentFile,
      MEDLEDGER_APP_DIR: appDir,
      MEDLEDGER_LOG: process.env.MEDLEDGER_LOG || "info",
      NO_COLOR: "1", // the log is a file: no ANSI colours from tracing
    };
    const init = spawnSync(bin, ["init-dev-key"], { cwd: dir, env, encoding: "utf8" });
    if (init.status !== 0) throw new Error(`escrow-api init-dev-key failed:\n${init.stdout}\n${init.stderr}`);

    const startEscrow = async () => {
      if (escrow && !exited(escrow.child)) throw new Error("the escrow is already running");
      const fd = openSync(escrowLogFile, "a");
      writeFileSync(escrowLogFile, `---- escrow-api serve (${new Date().toISOString()})\n`, { flag: "a" });
      const child = track(spawn(bin, ["serve"], { cwd: dir, env, stdio: ["ignore", fd, fd] }));
      closeSync(fd);
      escrow = { child };
      const deadline = Date.now() + PATIENCE_MS;
      // As for Ganache: only this escrow counts, once it said it listens on the port (its stdout,
      // whatever MEDLEDGER_LOG lets through).
      const listening = `escrow API listening on ${url}`;
      const started = readFileSync(escrowLogFile, "utf8").length;
      for (;;) {
        if (exited(child)) throw new Error(`the escrow exited while starting (${child.exitCode ?? child.signalCode}):\n${tail(escrowLogFile)}`);
        try {
          const ours = readFileSync(escrowLogFile, "utf8").slice(started).includes(listening);
          const res = ours ? await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) }) : null;
          if (res?.ok && (await res.json()).status === "ok") return;
        } catch {}
        if (Date.now() > deadline) throw new Error(`the escrow did not report healthy on ${url} within ${PATIENCE_MS / 1000} s:\n${tail(escrowLogFile)}`);
        await sleep(100);
      }
    };
    /** Stops the escrow; { signal: "SIGKILL" } for a crash (kill -9). */
    const stopEscrow = async ({ signal = "SIGTERM" } = {}) => stopChild(escrow?.child, { signal });

    await startEscrow();
    return {
      url,
      rpcUrl: ganache.url,
      chainId: CHAIN_ID,
      contract: deployment.address,
      deployment,
      deploymentFile,
      keys: devKeys(10),
      dir,
      dataDir,
      escrowLogFile,
      walletLogFile,
      ganacheLogFile: ganache.log,
      escrowLog: ({ tail: n } = {}) => (n ? tail(escrowLogFile, n) : existsSync(escrowLogFile) ? readFileSync(escrowLogFile, "utf8") : ""),
      startEscrow,
      stopEscrow,
      restartEscrow: async (opts) => {
        await stopEscrow(opts);
        await startEscrow();
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Runs `fn`; when it throws, prints the tail of the escrow's log, the test wallets' log (each
 * transaction sent, and when it was mined or why not) and Ganache's to stderr before rethrowing, so
 * a failed journey shows what the server and the wallet saw.
 */
export async function withStackLogs(stack, fn, lines = 60) {
  try {
    return await fn();
  } catch (e) {
    process.stderr.write(`\n---- escrow log (last ${lines} lines) ----\n${tail(stack.escrowLogFile, lines)}\n`);
    if (stack.walletLogFile) process.stderr.write(`---- wallet log (last ${lines} lines) ----\n${tail(stack.walletLogFile, lines)}\n`);
    // Ganache's start-up banner says nothing; what it printed after it might.
    const g = existsSync(stack.ganacheLogFile) ? readFileSync(stack.ganacheLogFile, "utf8").split(/RPC Listening on [^\n]*\n/)[1] || "" : "";
    if (g.trim()) process.stderr.write(`---- ganache log after start (last 20 lines) ----\n${g.trim().split("\n").slice(-20).join("\n")}\n`);
    throw e;
  }
}
