// Insurance helpers: claim/pending enums, filing a claim document, and the fund-conservation check.
const assert = require("assert");
const { b32, CAT } = require("./world");

const ClaimStatus = { None: 0, Submitted: 1, Approved: 2, Denied: 3, Paid: 4 };
const PendingReason = { None: 0, CategoryNotCovered: 1, OverPerClaimLimit: 2, OverAnnualLimit: 3, InsufficientFunds: 4 };

const ZERO32 = "0x" + "00".repeat(32);

/**
 * File a claim document: `from` adds a record of `patient` in `category` (Claims, 7, unless a test
 * wants a wrong one) and the record id is returned. submitClaim takes that id as the document:
 * it must be the patient's, written by the practitioner claiming, in Claims and not erased, so
 * `from` needs a write grant covering the category (or is the patient, for a document no
 * practitioner may claim on).
 */
async function fileClaimDocument(ml, { patient, from, category = CAT.CLAIMS, id = b32("doc") }) {
  await ml.addRecord(id, patient, b32("ct"), category, ZERO32, { from });
  return id;
}

/**
 * Fund conservation: the contract's ether equals the policy funds (reserved included) plus the
 * practitioners' withdrawable payouts, summed over every account the test may have used; and no
 * policy has reserved more than it holds.
 */
async function assertConserved(ml, addresses) {
  const held = BigInt(await web3.eth.getBalance(ml.address));
  let funds = 0n;
  let payouts = 0n;
  const rows = await Promise.all(
    [...new Set(addresses)].map(async (a) => [a, await ml.policyOf(a), await ml.payoutOf(a)])
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

module.exports = { ClaimStatus, PendingReason, fileClaimDocument, assertConserved };
