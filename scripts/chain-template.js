#!/usr/bin/env node
// A migrated chain to start test nodes from: Ganache's database right after the project's Truffle
// migration, with the deployment file it wrote. The Rust suites (test-support's `Chain::start`)
// and the browser journeys (e2e/lib/stack.mjs) start each of their nodes from a copy of it
// instead of migrating a fresh node: `truffle migrate` costs ~8 s of CPU per node, and the test
// command starts more than a hundred of them. The chain is the same either way (same accounts,
// same transactions, same addresses, blocks and deployment file); only its first blocks' times
// are when the template was made.
//
// Usage: node scripts/chain-template.js  → prints the template's directory, holding
//   db/                Ganache's database (copy it: a node writes into its database)
//   development.json   the migration's deployment file
// The directory is target/chain-template/<key>, the key a hash of everything the migration reads
// (each artifact's name, ABI and bytecode, migrations/, truffle-config.js), of this script and of
// the Ganache flags it starts nodes with (scripts/ganache.args):
// compiling changed contracts makes a new template. The migration runs against a copy of
// build/contracts (MEDLEDGER_BUILD_DIR), since Truffle writes the addresses it deployed into the
// artifacts it reads, and nothing else may change under the suites reading them. Two processes
// making a template at once each build their own and the first rename wins, so a reader never
// sees half a template; templates of other keys are removed once unused for an hour (a test
// process keeps the path it was given for its whole run).
"use strict";
const { spawn, spawnSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const net = require("net");
const path = require("path");

const { canonicalAbi } = require("./abi");
const { ganacheArgs } = require("./ganache-args");

const ROOT = path.resolve(__dirname, "..");
const GANACHE = path.join(ROOT, "node_modules", ".bin", "ganache");
const TRUFFLE = path.join(ROOT, "node_modules", ".bin", "truffle");
// The test chain's id (test-support's CHAIN_ID, e2e's): never MEDLEDGER_CHAIN_ID, which names an
// external chain to deploy to.
const CHAIN_ID = "1337";
const PATIENCE_MS = 180_000; // scripts/lib.sh's PATIENCE_SECS
const TEMPLATES = path.join(ROOT, "target", "chain-template");
const BUILD = path.join(ROOT, "build", "contracts");
const STALE_MS = 3600_000;

function fail(message) {
  process.stderr.write(`chain-template: ${message}\n`);
  process.exit(1);
}

const sorted = (dir) => fs.readdirSync(dir).sort();

// What the migration's outcome depends on: each artifact's name, ABI and bytecode (not the rest:
// a migration against build/contracts, as `make up` or scripts/test-migrations.sh runs, rewrites
// its `networks` and `updatedAt` and decorates its ABI, which canonicalAbi undoes), the
// migrations, the Truffle configuration and this script.
function key() {
  if (!fs.existsSync(path.join(BUILD, "MedLedger.json"))) fail("build/contracts is missing: run `npx truffle compile` first");
  const h = crypto.createHash("sha256");
  h.update(`chain ${CHAIN_ID}\n`);
  for (const f of sorted(BUILD).filter((f) => f.endsWith(".json"))) {
    const a = JSON.parse(fs.readFileSync(path.join(BUILD, f), "utf8"));
    h.update(JSON.stringify([f, a.contractName, canonicalAbi(a.abi), a.bytecode, a.deployedBytecode]));
  }
  const files = [
    ...sorted(path.join(ROOT, "migrations")).map((f) => path.join("migrations", f)),
    "truffle-config.js",
    path.relative(ROOT, __filename),
    path.join("scripts", "ganache.args"),
  ];
  for (const f of files) {
    h.update(`${f}\n`);
    h.update(fs.readFileSync(path.join(ROOT, f)));
  }
  return h.digest("hex").slice(0, 16);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function answers(url) {
  try {
    const r = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    });
    return Boolean((await r.json()).result);
  } catch {
    return false;
  }
}

// Ganache with the project's flags (scripts/ganache.args; instamine: the migration is one
// sender), its database in `db`; resolves once it answers.
async function startGanache(db, log) {
  const port = await freePort();
  const out = fs.openSync(log, "a");
  const child = spawn(
    GANACHE,
    [
      ...ganacheArgs(),
      "--chain.chainId", CHAIN_ID, "--chain.networkId", CHAIN_ID,
      "--server.port", String(port), "--logging.quiet",
      "--database.dbPath", db,
    ],
    { stdio: ["ignore", out, out] },
  );
  fs.closeSync(out);
  let exited = null;
  child.on("exit", (code, signal) => (exited = signal || code));
  const deadline = Date.now() + PATIENCE_MS;
  const url = `http://127.0.0.1:${port}`;
  while (!(await answers(url))) {
    if (exited !== null) fail(`ganache exited while starting (${exited}):\n${fs.readFileSync(log, "utf8")}`);
    if (Date.now() > deadline) fail(`ganache did not answer on ${url} within ${PATIENCE_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port, exitedYet: () => exited !== null };
}

// SIGTERM lets Ganache close its database: a copy of a killed node's database can miss blocks,
// so a node that does not stop within the patience is killed and its database not kept.
function stop(node) {
  return new Promise((resolve) => {
    if (node.exitedYet()) return resolve(true);
    const killer = setTimeout(() => {
      node.child.kill("SIGKILL");
      resolve(false);
    }, PATIENCE_MS);
    node.child.once("exit", () => {
      clearTimeout(killer);
      resolve(true);
    });
    node.child.kill("SIGTERM");
  });
}

// The tests' roles: admin account 0, escrow account 1, whatever the shell says.
function migrationEnv(port, deployments, build) {
  const env = { ...process.env, MEDLEDGER_GANACHE_PORT: String(port), MEDLEDGER_DEPLOYMENTS_DIR: deployments, MEDLEDGER_BUILD_DIR: build };
  delete env.MEDLEDGER_ADMIN;
  delete env.MEDLEDGER_ESCROW;
  return env;
}

async function build(dir) {
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const log = path.join(tmp, "ganache.log");
  const build = path.join(tmp, "build");
  fs.cpSync(BUILD, build, { recursive: true });
  const node = await startGanache(path.join(tmp, "db"), log);
  const migrate = () =>
    spawnSync(TRUFFLE, ["migrate", "--network", "development", "--compile-none"], {
      cwd: ROOT,
      encoding: "utf8",
      env: migrationEnv(node.port, tmp, build),
    });
  // Truffle occasionally gives up on a busy node on a loaded 2-core machine; the migration is
  // idempotent, so a second run finishes the job.
  let r = migrate();
  if (r.status !== 0) r = migrate();
  const stopped = await stop(node);
  if (r.status !== 0) fail(`truffle migrate failed:\n${r.stdout}\n${r.stderr}`);
  if (!stopped) fail(`ganache did not stop within ${PATIENCE_MS / 1000} s of SIGTERM; its database is not kept`);
  fs.rmSync(log, { force: true });
  fs.rmSync(build, { recursive: true, force: true });
  try {
    fs.renameSync(tmp, dir);
  } catch (e) {
    // Another process made it first: theirs is as good as ours.
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(dir)) throw e;
  }
}

// Templates of other keys (older builds) unused for an hour (each use touches its directory), and
// leftovers of interrupted builds.
function removeOthers(keep) {
  for (const name of fs.readdirSync(TEMPLATES)) {
    const p = path.join(TEMPLATES, name);
    if (name === keep || name.startsWith(`${keep}.tmp-`)) continue;
    if (name.includes(".tmp-")) {
      const pid = Number(name.split(".tmp-")[1]);
      if (pid && alive(pid)) continue;
    } else if (Date.now() - fs.statSync(p).mtimeMs < STALE_MS) {
      continue;
    }
    fs.rmSync(p, { recursive: true, force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main() {
  const k = key();
  const dir = path.join(TEMPLATES, k);
  fs.mkdirSync(TEMPLATES, { recursive: true });
  if (!fs.existsSync(path.join(dir, "development.json"))) {
    await build(dir);
    removeOthers(k);
  }
  const now = new Date();
  fs.utimesSync(dir, now, now);
  process.stdout.write(`${dir}\n`);
}

main().catch((e) => fail(e.stack || String(e)));
