// Deploys MedLedgerForwarder (the ERC-2771 forwarder through which a relayer sends the core's
// transactions for accounts without ether), then the MedLedger core trusting it, gives the first
// admin and the escrow account their roles, deploys MedLedgerInsurance and MedLedgerLicensing
// beside the core with its address, names the licensing contract in the core (setLicensing, once),
// and writes deployments/<network>.json (chain id; the core's address, deployment block and
// transaction, ABI hash, admin and escrow; the same for the insurance contract under "insurance",
// the licensing contract under "licensing", the forwarder under "forwarder" and the recovery
// contract the core created under "recovery"), which the escrow
// and the app read.
//
// Safe to run again. Each contract is kept when the file names one that is still on the same chain
// with the same code:
// - the forwarder, when its code is the artifact's (the bytes of its immutables, the EIP-712
//   domain's cache, masked); otherwise it is deployed anew, and the core with it (a core trusts
//   its forwarder for good);
// - the core, when its code is the artifact's and its trustedForwarder() is the forwarder kept;
//   otherwise both are deployed anew (an insurance contract is bound to its core for good);
// - the insurance contract, when the core was kept, its code is the artifact's (the bytes of the
//   immutable core address masked) and its core() is the recorded core; otherwise it alone is
//   deployed;
// - the licensing contract, when the core names one (a core kept names none, or one with the
//   artifact's code bound to it: otherwise the core itself is deployed anew, since it names its
//   licensing contract once); otherwise it is deployed and named.
// Missing roles are granted when the deployer may.
const fs = require("fs");
const path = require("path");
const { abiHash } = require("../scripts/abi");

const MedLedger = artifacts.require("MedLedger");
const MedLedgerInsurance = artifacts.require("MedLedgerInsurance");
const MedLedgerLicensing = artifacts.require("MedLedgerLicensing");
const MedLedgerForwarder = artifacts.require("MedLedgerForwarder");

// MEDLEDGER_DEPLOYMENTS_DIR lets tests deploy to a throwaway chain without touching ./deployments.
const DEPLOYMENTS = process.env.MEDLEDGER_DEPLOYMENTS_DIR || path.join(__dirname, "..", "deployments");

function roleAccounts(accounts) {
  // Ganache's deterministic accounts 0 and 1 by default; any other chain names them.
  const admin = process.env.MEDLEDGER_ADMIN || accounts[0];
  const escrow = process.env.MEDLEDGER_ESCROW || accounts[1];
  if (!web3.utils.isAddress(admin)) throw new Error(`MEDLEDGER_ADMIN is not an address: ${admin}`);
  if (!web3.utils.isAddress(escrow)) throw new Error(`MEDLEDGER_ESCROW is not an address: ${escrow}`);
  return { admin: web3.utils.toChecksumAddress(admin), escrow: web3.utils.toChecksumAddress(escrow) };
}

function readRecord(file) {
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${err.message}); move it away to deploy anew`);
  }
}

/**
 * `hex` (deployed code, "0x…") with the bytes of every immutable zeroed: solc leaves them zero in
 * the artifact's deployedBytecode and the constructor writes their values into the code on chain.
 * `immutableReferences` is solc's map from each immutable's AST id to its byte ranges.
 */
function maskImmutables(hex, immutableReferences) {
  const digits = hex.toLowerCase().replace(/^0x/, "").split("");
  for (const ranges of Object.values(immutableReferences || {})) {
    for (const { start, length } of ranges) {
      for (let i = 2 * start; i < 2 * (start + length) && i < digits.length; i += 1) digits[i] = "0";
    }
  }
  return "0x" + digits.join("");
}

/** Whether `address` holds the code `artifact` compiles to, immutables aside. */
async function holdsCodeOf(address, artifact) {
  if (!address || !web3.utils.isAddress(address)) return false;
  const code = await web3.eth.getCode(address);
  // A chain reset (a new Ganache database) leaves the file behind but not the code.
  if (!code || code === "0x") return false;
  const refs = artifact.immutableReferences;
  if (refs === undefined) {
    throw new Error(`the ${artifact.contractName} artifact has no immutableReferences: recompile with 'npx truffle compile'`);
  }
  const expected = artifact.deployedBytecode;
  return code.length === expected.length && maskImmutables(code, refs) === maskImmutables(expected, refs);
}

async function receiptOf(artifact) {
  const deployTx = artifact.transactionHash;
  const receipt = deployTx && (await web3.eth.getTransactionReceipt(deployTx));
  if (!receipt) throw new Error(`the ${artifact.contractName} deployment transaction's receipt could not be read`);
  return { deployTx, deployBlock: Number(receipt.blockNumber) };
}

function writeAtomically(file, value) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  fs.renameSync(tmp, file);
}

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

/**
 * Whether the core at `coreAddress` can be kept as far as licensing goes: it names no licensing
 * contract yet, or one with the artifact's code bound to it. A core bound for good to a licensing
 * contract of other code must be deployed anew, with everything beside it.
 */
async function licensingUsable(coreAddress) {
  const bound = await (await MedLedger.at(coreAddress)).licensing();
  if (bound === ZERO_ADDRESS) return true;
  if (!(await holdsCodeOf(bound, MedLedgerLicensing))) return false;
  return same(await (await MedLedgerLicensing.at(bound)).core(), coreAddress);
}

/** The deployment record of a licensing contract found bound to the core but not in the file. */
async function licensingRecordAt(ledger, address) {
  // Its creation transaction is not known from the chain alone without a trace; the block of the
  // core's LicensingSet event is where it was bound, and readers start from there.
  const events = await ledger.getPastEvents("LicensingSet", { fromBlock: 0 });
  const bound = events.find((e) => same(e.returnValues.licensing, address));
  if (!bound) throw new Error(`the core names MedLedgerLicensing ${address}, but no LicensingSet event does`);
  return { address, deployBlock: Number(bound.blockNumber), deployTx: bound.transactionHash };
}

const same = (a, b) => typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();

module.exports = async function (deployer, network, accounts) {
  const chainId = Number(await web3.eth.getChainId());
  const file = path.join(DEPLOYMENTS, `${network}.json`);
  const { admin, escrow } = roleAccounts(accounts);

  let recorded = readRecord(file);
  if (recorded && Number(recorded.chainId) !== chainId) recorded = null;

  // ---------------------------------------------------------------- the forwarder
  // Deployed first: the core takes its address in its constructor, for good.
  let forwarder;
  if (recorded && recorded.forwarder && (await holdsCodeOf(recorded.forwarder.address, MedLedgerForwarder))) {
    forwarder = recorded.forwarder;
    console.log(`   MedLedgerForwarder already deployed at ${forwarder.address} (block ${forwarder.deployBlock}); not redeploying`);
  } else {
    await deployer.deploy(MedLedgerForwarder);
    const deployed = await MedLedgerForwarder.deployed();
    const { deployTx, deployBlock } = await receiptOf(MedLedgerForwarder);
    forwarder = { address: deployed.address, deployBlock, deployTx, abiHash: abiHash("MedLedgerForwarder") };
  }

  // ---------------------------------------------------------------- the core
  let ledger;
  let record;
  if (
    recorded &&
    (await holdsCodeOf(recorded.address, MedLedger)) &&
    same(await (await MedLedger.at(recorded.address)).trustedForwarder(), forwarder.address) &&
    (await licensingUsable(recorded.address))
  ) {
    record = recorded;
    ledger = await MedLedger.at(record.address);
    console.log(`   MedLedger already deployed at ${record.address} (block ${record.deployBlock}); not redeploying`);
  } else {
    await deployer.deploy(MedLedger, admin, escrow, forwarder.address);
    ledger = await MedLedger.deployed();
    const { deployTx, deployBlock } = await receiptOf(MedLedger);
    // A new core: whatever insurance contract the file named is bound to the old one.
    record = { network, chainId, address: ledger.address, deployBlock, deployTx, abiHash: abiHash("MedLedger"), admin, escrow, forwarder };
    // Written now, so that a failure below does not cost the core on the next run. Without
    // "insurance" the file is incomplete, and its readers refuse it until this migration ends.
    writeAtomically(file, record);
  }

  // Roles granted at construction; re-granted here only if someone removed them and we may.
  const ADMIN_ROLE = await ledger.ADMIN_ROLE();
  const ESCROW_ROLE = await ledger.ESCROW_ROLE();
  if (!(await ledger.hasRole(ESCROW_ROLE, escrow)) && (await ledger.hasRole(ADMIN_ROLE, accounts[0]))) {
    await ledger.grantRole(ESCROW_ROLE, escrow, { from: accounts[0] });
    console.log(`   granted ESCROW_ROLE to ${escrow}`);
  }
  if (!(await ledger.hasRole(ADMIN_ROLE, admin))) {
    throw new Error(`${admin} lacks ADMIN_ROLE on ${ledger.address} and this migration cannot grant it`);
  }

  // ---------------------------------------------------------------- the insurance contract
  const kept = record.insurance;
  let keep = false;
  if (kept && (await holdsCodeOf(kept.address, MedLedgerInsurance))) {
    // The same code with another core in its immutable would pass the masked comparison.
    const insurance = await MedLedgerInsurance.at(kept.address);
    keep = same(await insurance.core(), ledger.address);
  }
  if (keep) {
    console.log(`   MedLedgerInsurance already deployed at ${kept.address} (block ${kept.deployBlock}); not redeploying`);
  } else {
    await deployer.deploy(MedLedgerInsurance, ledger.address);
    const insurance = await MedLedgerInsurance.deployed();
    const { deployTx, deployBlock } = await receiptOf(MedLedgerInsurance);
    record.insurance = { address: insurance.address, deployBlock, deployTx, abiHash: abiHash("MedLedgerInsurance") };
  }

  // ---------------------------------------------------------------- the licensing contract
  // The core names its licensing contract once (setLicensing): a core kept above either names none
  // yet or names one with the artifact's code (licensingUsable), which is kept.
  const bound = await ledger.licensing();
  if (bound !== ZERO_ADDRESS) {
    const keptLicensing = record.licensing && same(record.licensing.address, bound) ? record.licensing : null;
    if (!(await holdsCodeOf(bound, MedLedgerLicensing))) throw new Error(`the core names ${bound}, which is not MedLedgerLicensing`);
    record.licensing = keptLicensing || (await licensingRecordAt(ledger, bound));
    console.log(`   MedLedgerLicensing already deployed at ${bound}; not redeploying`);
  } else {
    await deployer.deploy(MedLedgerLicensing, ledger.address);
    const licensing = await MedLedgerLicensing.deployed();
    const { deployTx, deployBlock } = await receiptOf(MedLedgerLicensing);
    record.licensing = { address: licensing.address, deployBlock, deployTx, abiHash: abiHash("MedLedgerLicensing") };
    if (!(await ledger.hasRole(ADMIN_ROLE, accounts[0]))) {
      // The file without "licensing" is refused by its readers until an admin binds it and this
      // migration runs again (it then finds the binding).
      throw new Error(`${accounts[0]} lacks ADMIN_ROLE on ${ledger.address}: an admin must call setLicensing(${licensing.address})`);
    }
    await ledger.setLicensing(licensing.address, { from: accounts[0] });
    console.log(`   named MedLedgerLicensing ${licensing.address} in the core`);
  }

  // The file's shape, in this order (protocol::deployment::Deployment reads it).
  const out = {
    network: record.network,
    chainId: record.chainId,
    address: record.address,
    deployBlock: record.deployBlock,
    deployTx: record.deployTx,
    abiHash: abiHash("MedLedger"),
    admin: record.admin,
    escrow: record.escrow,
    insurance: {
      address: record.insurance.address,
      deployBlock: record.insurance.deployBlock,
      deployTx: record.insurance.deployTx,
      abiHash: abiHash("MedLedgerInsurance"),
    },
    licensing: {
      address: record.licensing.address,
      deployBlock: record.licensing.deployBlock,
      deployTx: record.licensing.deployTx,
      abiHash: abiHash("MedLedgerLicensing"),
    },
    forwarder: {
      address: forwarder.address,
      deployBlock: forwarder.deployBlock,
      deployTx: forwarder.deployTx,
      abiHash: abiHash("MedLedgerForwarder"),
    },
    // Created by the core's constructor: the core's block and transaction.
    recovery: {
      address: await ledger.recovery(),
      deployBlock: record.deployBlock,
      deployTx: record.deployTx,
      abiHash: abiHash("MedLedgerRecovery"),
    },
  };
  writeAtomically(file, out);
  console.log(
    `   wrote ${path.relative(process.cwd(), file)}: chain ${chainId}, MedLedger at ${out.address}, ` +
      `MedLedgerInsurance at ${out.insurance.address}, MedLedgerLicensing at ${out.licensing.address}, ` +
      `MedLedgerForwarder at ${out.forwarder.address}, MedLedgerRecovery at ${out.recovery.address}`
  );
};
