// The contract ABI as the rest of the project sees it: one canonical serialisation, so that the
// committed copy in protocol/abi/ (bound into Rust by alloy's sol!), its hash in
// deployments/<network>.json and a fresh compile can be compared byte for byte.
//
//   node scripts/abi.js export   write protocol/abi/MedLedger.json from build/contracts/
//   node scripts/abi.js check    exit 1 if the committed ABI differs from the compiled one
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

const ROOT = path.join(__dirname, "..");
const ARTIFACT = path.join(ROOT, "build", "contracts", "MedLedger.json");
const COMMITTED = path.join(ROOT, "protocol", "abi", "MedLedger.json");

// Truffle decorates artifacts it has migrated with legacy keys that solc 0.8 never emits
// (`constant`, `payable`) and truffle-contract adds `signature`: leave them out, so the same
// sources always give the same bytes.
const TRUFFLE_KEYS = new Set(["constant", "payable", "signature"]);

function canonicalAbi(abi) {
  const plain = abi.map((entry) => Object.fromEntries(Object.entries(entry).filter(([k]) => !TRUFFLE_KEYS.has(k))));
  return JSON.stringify(plain, null, 2) + "\n";
}

function abiHash(abi) {
  return "0x" + crypto.createHash("sha256").update(canonicalAbi(abi)).digest("hex");
}

function compiledAbi() {
  if (!fs.existsSync(ARTIFACT)) {
    throw new Error(`${path.relative(ROOT, ARTIFACT)} is missing: run 'npx truffle compile' first`);
  }
  return JSON.parse(fs.readFileSync(ARTIFACT, "utf8")).abi;
}

function main(command) {
  const fresh = canonicalAbi(compiledAbi());
  if (command === "export") {
    fs.mkdirSync(path.dirname(COMMITTED), { recursive: true });
    fs.writeFileSync(COMMITTED + ".tmp", fresh);
    fs.renameSync(COMMITTED + ".tmp", COMMITTED);
    console.log(`wrote ${path.relative(ROOT, COMMITTED)} (${abiHash(JSON.parse(fresh))})`);
  } else if (command === "check") {
    const committed = fs.existsSync(COMMITTED) ? fs.readFileSync(COMMITTED, "utf8") : "";
    if (committed !== fresh) {
      console.error(
        `ABI drift: ${path.relative(ROOT, COMMITTED)} differs from the compiled contracts/.\n` +
          "Run 'make abi' and commit the result (the Rust bindings are generated from it)."
      );
      process.exit(1);
    }
    console.log(`ABI in ${path.relative(ROOT, COMMITTED)} matches the compiled contract`);
  } else {
    console.error("usage: node scripts/abi.js export|check");
    process.exit(2);
  }
}

module.exports = { canonicalAbi, abiHash, compiledAbi };

if (require.main === module) {
  try {
    main(process.argv[2]);
  } catch (err) {
    console.error(`abi: ${err.message}`);
    process.exit(1);
  }
}
