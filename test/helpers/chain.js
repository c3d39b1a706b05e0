// Small helpers over the test chain (Ganache): JSON-RPC calls, snapshots, time, revert decoding.
const assert = require("assert");
const { Interface } = require("ethers");
// Loaded by every test file through this module: no test's requests outlive it.
require("./isolation");

// Every ABI whose custom errors a revert may carry: the MedLedger core (with its OpenZeppelin
// bases), MedLedgerInsurance (ReentrancyGuard's error included), MedLedgerLicensing (whose calls
// into the core also bubble up the core's errors: NotAProfessional, InvalidStatusChange,
// NotInAnOrganisation), MedLedgerForwarder (ERC2771Forwarder's errors, FailedCall),
// MedLedgerRecovery (whose calls into the core bubble up its errors too) and the
// test-only attacker contracts. An error two contracts declare
// (NotAPatient, NotAVerifiedPractitioner, InvalidCategories, InvalidReasonHash, InvalidCore,
// ReentrancyGuardReentrantCall) has one signature, so one selector, and is listed once.
// Read through artifacts.require, i.e. from what this run compiled.
const ERROR_ABIS = [];
function addErrorAbi(abi) {
  ERROR_ABIS.push(abi);
  cachedErrorInterface = null;
}

// Built once (and again after addErrorAbi): artifacts.require reads and parses each artifact
// (MedLedger.json alone is ~2 MB) on every call, which made every expected revert cost ~1 s.
let cachedErrorInterface = null;
function errorInterface() {
  if (cachedErrorInterface === null) cachedErrorInterface = buildErrorInterface();
  return cachedErrorInterface;
}

function buildErrorInterface() {
  const seen = new Set();
  const fragments = [];
  const contracts = ["MedLedger", "MedLedgerInsurance", "MedLedgerLicensing", "MedLedgerForwarder", "MedLedgerRecovery"].map((n) => artifacts.require(n).abi);
  for (const abi of [...contracts, ...ERROR_ABIS]) {
    for (const f of abi) {
      if (f.type !== "error") continue;
      const key = `${f.name}(${f.inputs.map((i) => i.type).join(",")})`;
      if (seen.has(key)) continue;
      seen.add(key);
      fragments.push(f);
    }
  }
  return new Interface(fragments);
}

function rpc(method, params = []) {
  return new Promise((resolve, reject) => {
    web3.currentProvider.send({ jsonrpc: "2.0", id: Date.now(), method, params }, (err, res) => {
      if (err) return reject(err);
      if (res.error) return reject(new Error(`${method}: ${JSON.stringify(res.error)}`));
      resolve(res.result);
    });
  });
}

async function snapshot() {
  return rpc("evm_snapshot");
}

async function revertTo(id) {
  const ok = await rpc("evm_revert", [id]);
  assert.strictEqual(ok, true, `evm_revert(${id}) failed`);
}

/** A mocha beforeEach that puts the chain back to where it was when `take` ran. */
function snapshotFixture() {
  let id = null;
  return {
    async take() {
      id = await snapshot();
    },
    async restore() {
      await revertTo(id);
      id = await snapshot();
    },
  };
}

async function latestTimestamp() {
  const b = await web3.eth.getBlock("latest");
  return Number(b.timestamp);
}

/**
 * The suite's chain must take its clock from its blocks, not from the wall clock: Ganache started
 * with `--miner.timestampIncrement 1` (scripts/lib.sh's MEDLEDGER_GANACHE_TIME_STEP=1), so each
 * mined block is one second after the last and a test's expiries and windows depend only on the
 * blocks it mines and the time it sets, never on how fast the machine runs the test. Resolves to
 * the step seen across three blocks mined back to back; a wall-clock chain shows 0 for most.
 */
async function blockTimeSteps() {
  const first = await latestTimestamp();
  const steps = [];
  let last = first;
  for (let i = 0; i < 3; i += 1) {
    await rpc("evm_mine");
    const t = await latestTimestamp();
    steps.push(t - last);
    last = t;
  }
  return steps;
}

if (typeof before === "function") {
  before("the chain's clock steps one second per block", async function () {
    const steps = await blockTimeSteps();
    assert.deepStrictEqual(
      steps,
      [1, 1, 1],
      "the contract tests need a chain whose clock follows its blocks, not the wall clock: start Ganache with " +
        "--miner.timestampIncrement 1 (MEDLEDGER_GANACHE_TIME_STEP=1 start_ganache, as scripts/test-contracts.sh does)"
    );
  });
}

async function increaseTime(seconds) {
  await rpc("evm_increaseTime", [Number(seconds)]);
  await rpc("evm_mine");
}

/** Mine one block whose timestamp is exactly `ts` (later transactions continue from there). */
async function mineAt(ts) {
  await rpc("evm_mine", [{ timestamp: Number(ts) }]);
  const now = await latestTimestamp();
  assert.strictEqual(now, Number(ts), "evm_mine did not set the timestamp");
}

async function mine() {
  await rpc("evm_mine");
}

/** The revert data ("0x…") a Truffle/web3 error carries, wherever this version put it. */
function revertData(err) {
  const candidates = [];
  const d = err && err.data;
  if (typeof d === "string") candidates.push(d);
  else if (d && typeof d === "object") {
    if (typeof d.result === "string") candidates.push(d.result);
    if (typeof d.data === "string") candidates.push(d.data);
    for (const v of Object.values(d)) {
      if (v && typeof v === "object" && typeof v.return === "string") candidates.push(v.return);
    }
  }
  if (err && err.innerError) candidates.push(revertData(err.innerError));
  const hit = candidates.find((c) => typeof c === "string" && /^0x([0-9a-fA-F]{2})*$/.test(c));
  return hit === undefined ? null : hit;
}

function normalise(v) {
  if (typeof v === "bigint") return v.toString();
  if (v && typeof v === "object" && typeof v.toString === "function" && (v.constructor.name === "BN" || v._isBigNumber)) {
    return v.toString();
  }
  if (typeof v === "number") return String(v);
  if (typeof v === "string" && /^0x[0-9a-fA-F]{40}$/.test(v)) return v.toLowerCase();
  if (typeof v === "string" && /^0x[0-9a-fA-F]*$/.test(v)) return v.toLowerCase();
  if (Array.isArray(v)) return v.map(normalise);
  return v;
}

function decodeRevert(data) {
  if (data === null || data === "0x") return { name: "(empty revert)", args: [] };
  const iface = errorInterface();
  if (data.startsWith("0x08c379a0")) {
    const [msg] = new Interface(["error Error(string)"]).decodeErrorResult("Error", data);
    return { name: "Error", args: [msg] };
  }
  if (data.startsWith("0x4e487b71")) {
    const [code] = new Interface(["error Panic(uint256)"]).decodeErrorResult("Panic", data);
    return { name: "Panic", args: [code] };
  }
  const parsed = iface.parseError(data);
  if (!parsed) return { name: `(unknown selector ${data.slice(0, 10)})`, args: [] };
  return { name: parsed.name, args: Array.from(parsed.args) };
}

/**
 * Await `promise` (a transaction or a call) and assert that it reverted with custom error
 * `name` and, when given, exactly these arguments (addresses compared case-insensitively,
 * numbers as decimal strings).
 */
async function expectRevert(promise, name, args) {
  let err = null;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  if (err === null) assert.fail(`expected revert ${name}, but the call succeeded`);
  const data = revertData(err);
  if (data === null) assert.fail(`expected revert ${name}, got an error without revert data: ${err.message}`);
  const got = decodeRevert(data);
  assert.strictEqual(got.name, name, `expected ${name}, reverted with ${got.name}(${normalise(got.args).join(", ")})`);
  if (args !== undefined) {
    assert.deepStrictEqual(normalise(got.args), normalise(args), `${name} arguments`);
  }
  return got;
}

/** The one event called `name` in a Truffle result, with its arguments checked (named subset). */
function expectEvent(result, name, expected = {}) {
  const logs = result.logs.filter((l) => l.event === name);
  assert.strictEqual(logs.length, 1, `expected exactly one ${name} event, got ${logs.length} (events: ${result.logs.map((l) => l.event).join(", ")})`);
  const args = logs[0].args;
  for (const [k, v] of Object.entries(expected)) {
    assert.ok(k in args, `${name} has no argument ${k}`);
    assert.deepStrictEqual(normalise(args[k]), normalise(v), `${name}.${k}`);
  }
  return args;
}

/**
 * The one event called `name` that the contract `instance` logged during the transaction `result`
 * (decoded from the receipt's raw logs with that contract's ABI), with its arguments checked
 * (named subset). For the events another contract logs in a call: the core's LicenceTermsChanged
 * or AccountVerified in a call to the licensing contract, which Truffle's `result.logs` (decoded
 * with the called contract's ABI only) leaves out.
 */
function expectEventFrom(result, instance, name, expected = {}) {
  const iface = new Interface(instance.abi.filter((e) => e.type === "event"));
  const address = instance.address.toLowerCase();
  const found = [];
  for (const log of result.receipt.rawLogs) {
    if (log.address.toLowerCase() !== address) continue;
    const parsed = iface.parseLog({ topics: log.topics, data: log.data });
    if (parsed) found.push(parsed);
  }
  const logs = found.filter((l) => l.name === name);
  assert.strictEqual(logs.length, 1, `expected exactly one ${name} event from ${address}, got ${logs.length} (events: ${found.map((l) => l.name).join(", ")})`);
  const args = {};
  logs[0].fragment.inputs.forEach((input, i) => (args[input.name] = logs[0].args[i]));
  for (const [k, v] of Object.entries(expected)) {
    assert.ok(k in args, `${name} has no argument ${k}`);
    assert.deepStrictEqual(normalise(args[k]), normalise(v), `${name}.${k}`);
  }
  return args;
}

function expectNoEvent(result, name) {
  const n = result.logs.filter((l) => l.event === name).length;
  assert.strictEqual(n, 0, `expected no ${name} event, got ${n}`);
}

/** The ether a transaction cost its sender in gas (wei, BigInt). */
function gasCost(result) {
  return BigInt(result.receipt.gasUsed) * BigInt(result.receipt.effectiveGasPrice);
}

async function balance(addr) {
  return BigInt(await web3.eth.getBalance(addr));
}

module.exports = {
  rpc,
  snapshot,
  revertTo,
  snapshotFixture,
  latestTimestamp,
  blockTimeSteps,
  increaseTime,
  mineAt,
  mine,
  revertData,
  decodeRevert,
  expectRevert,
  expectEvent,
  expectEventFrom,
  expectNoEvent,
  normalise,
  gasCost,
  balance,
  addErrorAbi,
};
