// Insurance helpers: claim/pending enums, filing a claim document, and the fund-conservation check.
const assert = require("assert");
const { b32, mask, CAT, ETHER } = require("./world");

const ClaimStatus = { None: 0, Submitted: 1, Approved: 2, Denied: 3, Paid: 4 };
const PendingReason = { None: 0, CategoryNotCovered: 1, OverPerClaimLimit: 2, OverAnnualLimit: 3, InsufficientFunds: 4 };

const ZERO32 = "0x" + "00".repeat(32);

/**
 * File a claim document: `from` adds a record of `patient` in `category` (Claims, 7, unless a test
 * wants a wrong one) to the core `ml` and the record id is returned. submitClaim takes that id as the document:
 * it must be the patient's, written by the practitioner claiming, in Claims and not erased, so
 * `from` needs a write grant covering the category (or is the patient, for a document no
 * practitioner may claim on).
 */
async function fileClaimDocument(ml, { patient, from, category = CAT.CLAIMS, id = b32("doc") }) {
  await ml.addRecord(id, patient, b32("ct"), category, ZERO32, { from });
  return id;
}

/**
 * Fund conservation: the insurance contract's ether equals the policy funds (reserved included)
 * plus the practitioners' withdrawable payouts, summed over every account the test may have used;
 * no policy has reserved more than it holds; and its core holds no ether at all.
 */
async function assertConserved(ins, addresses) {
  const held = BigInt(await web3.eth.getBalance(ins.address));
  assert.strictEqual(BigInt(await web3.eth.getBalance(await ins.core())), 0n, "the core holds no ether");
  let funds = 0n;
  let payouts = 0n;
  const rows = await Promise.all(
    [...new Set(addresses)].map(async (a) => [a, await ins.policyOf(a), await ins.payoutOf(a)])
  );
  for (const [a, p, owed] of rows) {
    const f = BigInt(p.funds.toString());
    const r = BigInt(p.reserved.toString());
    assert.ok(r <= f, `policy of ${a}: reserved ${r} > funds ${f}`);
    funds += f;
    payouts += BigInt(owed.toString());
  }
  assert.strictEqual(held, funds + payouts, `contract holds ${held} wei, policies ${funds} + payouts ${payouts}`);
}

/** E(0.5) = 0.5 ether in wei. */
const E = (x) => BigInt(Math.round(x * 1000)) * (ETHER / 1000n);
const s = (x) => x.toString();

/**
 * The claim steps both claims suites take, with their defaults: `ml()` is the suite's deployed
 * core (claim documents are its records), `insurance()` its insurance contract (policies, claims),
 * `insurer()` and `doctor()` its default parties, `patient` its default patient.
 *   publish({ covered, perClaim, annual, deductible, fund, from }) publishes a funded policy;
 *   fileDoc({ patient, from, category }) files a claim document and gives its record id;
 *   unfiled() is a document id no record has (for refusals reached before the document);
 *   submitTx({ ..., doc, gas }) sends submitClaim on a document filed beforehand (not awaited);
 *   submit({ amount, ..., doc }) files a fresh document unless `doc` is given, then submits:
 *   { r, id, doc }.
 */
function claimSteps({ ml, insurance, insurer, doctor, patient }) {
  async function publish({ covered = mask(CAT.CLAIMS), perClaim = E(1), annual = E(3), deductible = 0n, fund = E(10), from = insurer() } = {}) {
    return insurance().publishPolicy(covered, s(perClaim), s(annual), s(deductible), { from, value: s(fund) });
  }
  const fileDoc = ({ patient: p = patient, from = doctor(), category = CAT.CLAIMS } = {}) => fileClaimDocument(ml(), { patient: p, from, category });
  const unfiled = () => b32("unfiled");
  // `gas` given: sent without estimation (an estimate made in an earlier block could fall short
  // of the settlement the mined block does).
  function submitTx({ amount, patient: p = patient, ins: insurerOf = insurer(), cat = CAT.CLAIMS, from = doctor(), id, doc, gas }) {
    return insurance().submitClaim(id, p, insurerOf, doc, s(amount), cat, gas ? { from, gas } : { from });
  }
  async function submit({ amount, patient: p = patient, ins: insurerOf = insurer(), cat = CAT.CLAIMS, from = doctor(), id = b32("claim"), doc } = {}) {
    if (doc === undefined) doc = await fileDoc({ patient: p, from });
    const r = await submitTx({ amount, patient: p, ins: insurerOf, cat, from, id, doc });
    return { r, id, doc };
  }
  return { publish, fileDoc, unfiled, submitTx, submit };
}

module.exports = { ClaimStatus, PendingReason, E, fileClaimDocument, claimSteps, assertConserved };
