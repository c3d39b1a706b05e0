// Gas report: every state-changing transaction the suite sends through a tracked instance (of the
// MedLedger core, of MedLedgerInsurance or of MedLedgerLicensing: helpers/world.js's deploy,
// deployInsurance and deployLicensing hand out tracked instances) is recorded (gasUsed from its
// receipt); a root `after` hook writes the table to build/gas-report.md and prints it at the end of
// the run. The three contracts' function names are distinct, but for releasePractitioner: the
// core's is called only by the licensing contract (never through a tracked instance), so its row
// is the licensing contract's.
const fs = require("fs");
const path = require("path");

const stats = new Map(); // name -> {min, max, count, total}

function record(name, gasUsed) {
  const g = Number(gasUsed);
  const s = stats.get(name) || { min: Infinity, max: 0, count: 0, total: 0 };
  s.min = Math.min(s.min, g);
  s.max = Math.max(s.max, g);
  s.count += 1;
  s.total += g;
  stats.set(name, s);
}

/** The report name of a transaction: submitClaim is split by its outcome. */
function entryName(fn, result) {
  if (fn !== "submitClaim") return fn;
  const paid = result.logs.some((l) => l.event === "ClaimPaid");
  return paid ? "submitClaim (settled automatically)" : "submitClaim (left for review)";
}

/**
 * Wrap a Truffle contract instance so that each successful state-changing call records its gas.
 * Reverted calls are not recorded (they throw before a receipt exists). The wrapper keeps the
 * method's `call`, `estimateGas` and `request` (Truffle's, not Function.prototype.call: without
 * them `ml.addRecord.call(...)` would send a transaction with its arguments shifted), and its
 * `sendTransaction` records the gas too.
 */
function track(instance) {
  const mutating = new Set(
    instance.abi
      .filter((f) => f.type === "function" && (f.stateMutability === "nonpayable" || f.stateMutability === "payable"))
      .map((f) => f.name)
  );
  return new Proxy(instance, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof prop !== "string" || !mutating.has(prop) || typeof v !== "function") return v;
      const sendAndRecord = (send) => async (...args) => {
        const result = await send(...args);
        record(entryName(prop, result), result.receipt.gasUsed);
        return result;
      };
      const wrapped = sendAndRecord((...args) => v.apply(target, args));
      wrapped.sendTransaction = sendAndRecord((...args) => v.sendTransaction(...args));
      for (const k of ["call", "estimateGas", "request"]) {
        if (typeof v[k] === "function") wrapped[k] = (...args) => v[k](...args);
      }
      return wrapped;
    },
  });
}

function report() {
  const names = [...stats.keys()].sort((a, b) => a.localeCompare(b));
  const lines = [
    "# MedLedger gas report",
    "",
    "gasUsed from the receipts of every successful state-changing call in the Truffle suite",
    "(solc 0.8.28, optimizer 200 runs, evm shanghai, Ganache 7.9.2).",
    "",
    "| function | calls | min | max | avg |",
    "|---|---:|---:|---:|---:|",
  ];
  for (const n of names) {
    const s = stats.get(n);
    lines.push(`| ${n} | ${s.count} | ${s.min} | ${s.max} | ${Math.round(s.total / s.count)} |`);
  }
  return lines.join("\n") + "\n";
}

if (typeof after === "function") {
  after("write the gas report", function () {
    if (stats.size === 0) return;
    const text = report();
    const out = path.join(__dirname, "..", "..", "build", "gas-report.md");
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, text);
    console.log("\n" + text + `(written to ${path.relative(process.cwd(), out)})`);
  });
}

module.exports = { track, record, report, stats };
