// The contracts' ABIs as the rest of the project sees them: one canonical serialisation, so that
// the committed copies in protocol/abi/ (bound into Rust by alloy's sol!), their hashes in
// deployments/<network>.json and a fresh compile can be compared byte for byte. Five contracts are
// deployed: the core, MedLedger, MedLedgerInsurance and MedLedgerLicensing beside it,
// MedLedgerForwarder, the ERC-2771 forwarder the core trusts, and MedLedgerRecovery, which the
// core's constructor creates.
//
//   node scripts/abi.js export [NAME...]   write protocol/abi/NAME.json from build/contracts/
//   node scripts/abi.js check [NAME...]    exit 1 if a committed ABI differs from the compiled one
//
// NAME is MedLedger, MedLedgerInsurance, MedLedgerLicensing, MedLedgerForwarder or MedLedgerRecovery;
// without one, all five.
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

const ROOT = path.join(__dirname, "..");
/** The deployed contracts whose ABIs are committed, core first. */
const CONTRACTS = ["MedLedger", "MedLedgerInsurance", "MedLedgerLicensing", "MedLedgerForwarder", "MedLedgerRecovery"];

const artifactPath = (name) => path.join(ROOT, "build", "contracts", `${name}.json`);
const committedPath = (name) => path.join(ROOT, "protocol", "abi", `${name}.json`);

function known(name) {
  if (!CONTRACTS.includes(name)) throw new Error(`unknown contract ${JSON.stringify(name)} (one of ${CONTRACTS.join(", ")})`);
  return name;
}

// Truffle decorates artifacts it has migrated with legacy keys that solc 0.8 never emits
// (`constant`, `payable`) and truffle-contract adds `signature`: leave them out, so the same
// sources always give the same bytes.
const TRUFFLE_KEYS = new Set(["constant", "payable", "signature"]);

function canonicalAbi(abi) {
  const plain = abi.map((entry) => Object.fromEntries(Object.entries(entry).filter(([k]) => !TRUFFLE_KEYS.has(k))));
  return JSON.stringify(plain, null, 2) + "\n";
}

/** The compiled ABI of contract `name` (MedLedger or MedLedgerInsurance), from build/contracts/. */
function compiledAbi(name) {
  const artifact = artifactPath(known(name));
  if (!fs.existsSync(artifact)) {
    throw new Error(`${path.relative(ROOT, artifact)} is missing: run 'npx truffle compile' first`);
  }
  return JSON.parse(fs.readFileSync(artifact, "utf8")).abi;
}

/**
 * "0x" + SHA-256 of the canonical ABI: of the compiled contract when given its name
 * (abiHash("MedLedgerInsurance")), or of the ABI given (abiHash(require("protocol/abi/MedLedger.json"))).
 */
function abiHash(nameOrAbi) {
  const abi = typeof nameOrAbi === "string" ? compiledAbi(nameOrAbi) : nameOrAbi;
  return "0x" + crypto.createHash("sha256").update(canonicalAbi(abi)).digest("hex");
}

function exportAbi(name) {
  const fresh = canonicalAbi(compiledAbi(name));
  const committed = committedPath(name);
  fs.mkdirSync(path.dirname(committed), { recursive: true });
  fs.writeFileSync(committed + ".tmp", fresh);
  fs.renameSync(committed + ".tmp", committed);
  console.log(`wrote ${path.relative(ROOT, committed)} (${abiHash(JSON.parse(fresh))})`);
}

/** True when the committed ABI of `name` is the compiled one; says which differs otherwise. */
function checkAbi(name) {
  const fresh = canonicalAbi(compiledAbi(name));
  const file = committedPath(name);
  const committed = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  if (committed !== fresh) {
    console.error(
      `ABI drift: ${path.relative(ROOT, file)} ${committed ? "differs from" : "is missing for"} the compiled ${name}.\n` +
        "Run 'make abi' and commit the result (the Rust bindings are generated from it)."
    );
    return false;
  }
  console.log(`ABI in ${path.relative(ROOT, file)} matches the compiled ${name}`);
  return true;
}

function main(command, names) {
  const which = names.length ? names.map(known) : CONTRACTS;
  if (command === "export") {
    which.forEach(exportAbi);
  } else if (command === "check") {
    // Check every contract before failing, so one run names every drift.
    const ok = which.map(checkAbi).every(Boolean);
    if (!ok) process.exit(1);
  } else {
    console.error(`usage: node scripts/abi.js export|check [${CONTRACTS.join("|")}...]`);
    process.exit(2);
  }
}

module.exports = { CONTRACTS, canonicalAbi, abiHash, compiledAbi, committedPath };

if (require.main === module) {
  try {
    main(process.argv[2], process.argv.slice(3));
  } catch (err) {
    console.error(`abi: ${err.message}`);
    process.exit(1);
  }
}
