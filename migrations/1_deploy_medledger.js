// Deploys MedLedger, gives the first admin and the escrow account their roles, and writes
// deployments/<network>.json (chain id, address, deployment block, ABI hash), which the escrow and
// the app read. Safe to run again: when that file names a contract that is still on the same chain
// with the same code, nothing is deployed and only missing roles are granted.
const fs = require("fs");
const path = require("path");
const { abiHash, compiledAbi } = require("../scripts/abi");

const MedLedger = artifacts.require("MedLedger");

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

async function existingDeployment(file, chainId) {
  if (!fs.existsSync(file)) return null;
  let recorded;
  try {
    recorded = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${err.message}); move it away to deploy anew`);
  }
  if (Number(recorded.chainId) !== chainId) return null;
  const code = await web3.eth.getCode(recorded.address);
  // A chain reset (a new Ganache database) leaves the file behind but not the code.
  if (!code || code === "0x" || code !== MedLedger.deployedBytecode) return null;
  return recorded;
}

function writeAtomically(file, value) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  fs.renameSync(tmp, file);
}

module.exports = async function (deployer, network, accounts) {
  const chainId = Number(await web3.eth.getChainId());
  const file = path.join(DEPLOYMENTS, `${network}.json`);
  const { admin, escrow } = roleAccounts(accounts);

  let ledger;
  let record = await existingDeployment(file, chainId);
  if (record) {
    ledger = await MedLedger.at(record.address);
    console.log(`   MedLedger already deployed at ${record.address} (block ${record.deployBlock}); not redeploying`);
  } else {
    await deployer.deploy(MedLedger, admin, escrow);
    ledger = await MedLedger.deployed();
    const deployTx = MedLedger.transactionHash;
    const receipt = deployTx && (await web3.eth.getTransactionReceipt(deployTx));
    if (!receipt) throw new Error("the deployment transaction's receipt could not be read");
    record = {
      network,
      chainId,
      address: ledger.address,
      deployBlock: Number(receipt.blockNumber),
      deployTx,
      abiHash: abiHash(compiledAbi()),
      admin,
      escrow,
    };
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

  record.abiHash = abiHash(compiledAbi());
  writeAtomically(file, record);
  console.log(`   wrote ${path.relative(process.cwd(), file)}: chain ${chainId}, MedLedger at ${record.address}`);
};
