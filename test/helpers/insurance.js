// Insurance helpers: claim/pending enums and the fund-conservation check.
const assert = require("assert");

const ClaimStatus = { None: 0, Submitted: 1, Approved: 2, Denied: 3, Paid: 4 };
const PendingReason = { None: 0, CategoryNotCovered: 1, OverPerClaimLimit: 2, OverAnnualLimit: 3, InsufficientFunds: 4 };

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

module.exports = { ClaimStatus, PendingReason, assertConserved };
