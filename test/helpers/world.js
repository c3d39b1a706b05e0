// The cast of the suite and the contracts they act on: the MedLedger core, trusting the
// MedLedgerForwarder (ERC-2771) deployed before it, and, deployed beside it with the core's
// address, MedLedgerInsurance and MedLedgerLicensing.
const { track, record } = require("./gas");
const { latestTimestamp } = require("./chain");

const MedLedger = artifacts.require("MedLedger");
const MedLedgerInsurance = artifacts.require("MedLedgerInsurance");
const MedLedgerLicensing = artifacts.require("MedLedgerLicensing");
const MedLedgerForwarder = artifacts.require("MedLedgerForwarder");
const MedLedgerRecovery = artifacts.require("MedLedgerRecovery");

const DAY = 24 * 3600;
const ETHER = 10n ** 18n;

let counter = 0;
/** A fresh, unique, non-zero bytes32 (ids, hashes) labelled for readability in failures. */
function b32(label = "x") {
  counter += 1;
  return web3.utils.soliditySha3({ t: "string", v: `${label}:${counter}:${Math.random()}` });
}

/** The bit mask of the given categories. */
function mask(...cats) {
  return cats.reduce((m, c) => m | (1n << BigInt(c)), 0n).toString();
}

/**
 * Category numbers as protocol::contract::Category (Rust) and the app number them, so that a test
 * reads the same as the product: 0 General … 7 Claims. MENTAL (9) is a category no view names, to
 * show that any of the 256 bits works.
 */
const CAT = { GENERAL: 0, VITALS: 1, HISTORY: 2, LAB: 3, IMAGING: 4, MEDICATION: 5, ENCOUNTERS: 6, CLAIMS: 7, MENTAL: 9 };

/**
 * The ten parties of the authorisation matrix, plus spare accounts for other tests: among them two
 * organisation admins for the licensing tests (admins of no organisation until a test creates
 * one; the matrix's licensing rows name them "this organisation's admin" and "another
 * organisation's admin").
 */
function cast(accounts) {
  return {
    admin: accounts[0],
    escrow: accounts[1],
    patient: accounts[2],
    otherPatient: accounts[3],
    pendingPractitioner: accounts[4],
    verifiedPractitioner: accounts[5],
    suspendedPractitioner: accounts[6],
    pendingInsurer: accounts[7],
    verifiedInsurer: accounts[8],
    stranger: accounts[9],
    // spares, not in the matrix
    practitioner2: accounts[10],
    insurer2: accounts[11],
    patient3: accounts[12],
    practitioner3: accounts[13],
    orgAdmin: accounts[14],
    otherOrgAdmin: accounts[15],
    spare: accounts.slice(16),
  };
}

const MATRIX_PARTIES = [
  "admin",
  "escrow",
  "patient",
  "otherPatient",
  "pendingPractitioner",
  "verifiedPractitioner",
  "suspendedPractitioner",
  "pendingInsurer",
  "verifiedInsurer",
  "stranger",
];

/** A fresh MedLedgerForwarder (ERC-2771), as the migration deploys it before the core. */
async function deployForwarder(c) {
  const raw = await MedLedgerForwarder.new({ from: c.admin });
  const receipt = await web3.eth.getTransactionReceipt(raw.transactionHash);
  record("(deployment) MedLedgerForwarder", receipt.gasUsed);
  return raw;
}

/**
 * A fresh MedLedger core (tracked: its calls' gas goes to the report) trusting `trustedForwarder`
 * (an address), or else a fresh MedLedgerForwarder of its own, as the migration deploys it
 * (`MedLedgerForwarder.at(await ml.trustedForwarder())` finds it).
 */
async function deploy(c, trustedForwarder) {
  if (!trustedForwarder) trustedForwarder = (await deployForwarder(c)).address;
  const raw = await MedLedger.new(c.admin, c.escrow, trustedForwarder, { from: c.admin });
  const receipt = await web3.eth.getTransactionReceipt(raw.transactionHash);
  record("(deployment) MedLedger", receipt.gasUsed);
  return track(raw);
}

/** A fresh MedLedgerInsurance on the core `ml` (tracked), as the migration deploys it. */
async function deployInsurance(c, ml) {
  const raw = await MedLedgerInsurance.new(ml.address, { from: c.admin });
  const receipt = await web3.eth.getTransactionReceipt(raw.transactionHash);
  record("(deployment) MedLedgerInsurance", receipt.gasUsed);
  return track(raw);
}

/**
 * A fresh MedLedgerLicensing on the core `ml` (tracked), named in the core by the admin
 * (setLicensing, through `ml`: pass the tracked core and its gas is recorded too), as the
 * migration deploys it.
 */
async function deployLicensing(c, ml) {
  const raw = await MedLedgerLicensing.new(ml.address, { from: c.admin });
  const receipt = await web3.eth.getTransactionReceipt(raw.transactionHash);
  record("(deployment) MedLedgerLicensing", receipt.gasUsed);
  await ml.setLicensing(raw.address, { from: c.admin });
  return track(raw);
}

/** A Seats struct (limits or seats used) as the licensing contract takes it. */
function seats(admins, practitioners, patients) {
  return { admins: String(admins), practitioners: String(practitioners), patients: String(patients) };
}

/** MedLedger.LicenceStatus, IMedLedgerLicensing.Enrolment, MedLedger.AccountStatus. */
const LicenceStatus = { None: 0, Active: 1, UnderNotice: 2, Lapsed: 3, Terminated: 4 };
const Enrolment = { None: 0, Offered: 1, Enrolled: 2 };
const AccountStatus = { None: 0, Pending: 1, Active: 2, Suspended: 3 };

/**
 * Registrations only: patients registered, every professional applied, the verified ones
 * verified, the suspended practitioner suspended. No grants, records, policies.
 */
async function registerAll(ml, c) {
  await ml.registerPatient(b32("key"), { from: c.patient });
  await ml.registerPatient(b32("key"), { from: c.otherPatient });
  await ml.registerPatient(b32("key"), { from: c.patient3 });
  for (const p of [c.pendingPractitioner, c.verifiedPractitioner, c.suspendedPractitioner, c.practitioner2, c.practitioner3]) {
    await ml.applyAsPractitioner(b32("key"), b32("profile"), { from: p });
  }
  for (const i of [c.pendingInsurer, c.verifiedInsurer, c.insurer2]) {
    await ml.applyAsInsurer(b32("key"), b32("profile"), { from: i });
  }
  for (const a of [c.verifiedPractitioner, c.suspendedPractitioner, c.practitioner2, c.practitioner3, c.verifiedInsurer, c.insurer2]) {
    await ml.verifyAccount(a, { from: c.admin });
  }
  await ml.suspendAccount(c.suspendedPractitioner, b32("reason"), { from: c.admin });
}

module.exports = {
  MedLedger,
  MedLedgerInsurance,
  MedLedgerLicensing,
  MedLedgerForwarder,
  MedLedgerRecovery,
  DAY,
  ETHER,
  b32,
  mask,
  CAT,
  cast,
  MATRIX_PARTIES,
  deployForwarder,
  deploy,
  deployInsurance,
  deployLicensing,
  seats,
  LicenceStatus,
  Enrolment,
  AccountStatus,
  registerAll,
  latestTimestamp,
};
