// Claims at the boundaries insurance.test.js leaves open (issue 6): the per-claim limit against the
// amount before the deductible, the deductible one wei short and crossed with no funds, the annual
// limit against the insurer's own approvals, a lowered limit and a second insurer, the policy-year
// boundary to the second, the claim document (it must exist, be the patient's, be written by the
// practitioner claiming, be in Claims and not be erased, and is claimed once whatever the first
// claim's state; erasing it later does not undo the claim; an amendment is a new document), the
// refusals in the contract's order and that a refused claim records nothing,
// the practitioner's grant on the category of care claimed and the insurer's on Claims (bits 0
// and 255, expiry to the second, revocation after submission), the funds rule together with the
// deductible, and exact ether movements with fund conservation checked over every account after
// every test.
const assert = require("assert");
const { rpc, expectRevert, expectEvent, expectNoEvent, snapshotFixture, latestTimestamp, increaseTime, gasCost, balance } = require("./helpers/chain");
const { deploy, deployInsurance, cast, b32, mask, CAT, DAY, ETHER, registerAll } = require("./helpers/world");
const { ClaimStatus, PendingReason, E, claimSteps, fileClaimDocument, assertConserved } = require("./helpers/insurance");

const ZERO = "0x" + "00".repeat(32);
const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";
const ALL_BUT_CLAIMS = ((1n << 256n) - 1n - (1n << 7n)).toString(); // every category but Claims (7)
const s = (x) => x.toString();
const POLICY_YEAR = 365 * DAY;

/**
 * Send a transaction so that it is mined in a block whose timestamp is exactly `ts`: automatic
 * mining is stopped, the transaction is sent and waits in the pool, and evm_mine mines that block
 * with the timestamp. `send` returns the Truffle promise (not awaited); its result or revert is
 * returned as { result } or { error }.
 */
async function sendAt(ts, send) {
  await rpc("miner_stop");
  try {
    const pending = send().then((result) => ({ result }), (error) => ({ error }));
    // Wait until the transaction is in the pool (Truffle first estimates gas, then sends).
    for (let i = 0; ; i++) {
      const content = await rpc("txpool_content");
      if (Object.keys(content.pending || {}).length > 0) break;
      if (i > 200) throw new Error("the transaction never reached the pool");
      await new Promise((r) => setTimeout(r, 25));
    }
    await rpc("evm_mine", [{ timestamp: Number(ts) }]);
    const out = await pending;
    if (out.result) {
      const block = await web3.eth.getBlock(out.result.receipt.blockNumber);
      assert.strictEqual(Number(block.timestamp), Number(ts), "mined at the requested second");
    }
    return out;
  } finally {
    await rpc("miner_start");
  }
}

contract("MedLedger: claim boundaries", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml; // the core: accounts, grants, claim documents
  let insurance; // MedLedgerInsurance on that core: policies, claims, payouts
  let now;
  let year0; // the policy year the fixture starts in
  const insurer = () => c.verifiedInsurer;
  const doctor = () => c.verifiedPractitioner;

  // submitTx sends synchronously, for sendAt; submit files a fresh document unless given one.
  const { publish, fileDoc, unfiled, submitTx, submit } = claimSteps({ ml: () => ml, insurance: () => insurance, insurer, doctor, patient: c.patient });

  async function usage(patient = c.patient, ins = insurer(), year = null) {
    const y = year === null ? await insurance.currentPolicyYear() : year;
    const u = await insurance.annualUsageOf(ins, patient, s(y));
    return { deductibleUsed: BigInt(s(u.deductibleUsed)), paid: BigInt(s(u.paid)) };
  }

  async function policy(ins = insurer()) {
    const p = await insurance.policyOf(ins);
    return { funds: BigInt(s(p.funds)), reserved: BigInt(s(p.reserved)) };
  }

  const payout = async (who = doctor()) => BigInt(s(await insurance.payoutOf(who)));
  const status = async (id) => Number((await insurance.claimOf(id)).status);

  function expectSettled(r, id, expected, practitioner = doctor()) {
    expectEvent(r, "ClaimPaid", { claimId: id, practitioner, payout: expected, automatic: true });
    expectNoEvent(r, "ClaimPendingReview");
  }

  function expectPending(r, id, reason) {
    expectEvent(r, "ClaimPendingReview", { claimId: id, reason });
    expectNoEvent(r, "ClaimPaid");
  }

  /** Policy funds, the practitioner's payout and the insurance contract's balance, all exactly. */
  async function expectMoney({ funds, reserved = 0n, owed, held, ins = insurer(), who = doctor() }) {
    const p = await policy(ins);
    assert.strictEqual(p.funds, funds, "policy funds");
    assert.strictEqual(p.reserved, reserved, "policy reserve");
    assert.strictEqual(await payout(who), owed, "practitioner payout");
    assert.strictEqual(await balance(insurance.address), held, "contract balance");
  }

  before(async () => {
    // Start one day into a fresh policy year (as insurance.test.js does), so that no test
    // straddles a year boundary by the accident of the date it runs on.
    const t0 = await latestTimestamp();
    await increaseTime(POLICY_YEAR - (t0 % POLICY_YEAR) + DAY);
    ml = await deploy(c);
    insurance = await deployInsurance(c, ml);
    await registerAll(ml, c);
    const t = await latestTimestamp();
    year0 = Math.floor(t / POLICY_YEAR);
    assert.strictEqual(year0, Math.floor(t0 / POLICY_YEAR) + 1, "moved into the next policy year");
    // The practitioners hold write grants on GENERAL, LAB and CLAIMS (they file claim documents in
    // Claims and claim for care in those three); the insurer views CLAIMS and LAB, insurer2 CLAIMS
    // only. patient3 has granted nobody.
    for (const p of [c.patient, c.otherPatient]) {
      await ml.grant(doctor(), mask(CAT.GENERAL, CAT.LAB, CAT.CLAIMS), true, t + 800 * DAY, { from: p });
      await ml.grant(c.practitioner2, mask(CAT.GENERAL, CAT.LAB, CAT.CLAIMS), true, t + 800 * DAY, { from: p });
      await ml.grant(insurer(), mask(CAT.CLAIMS, CAT.LAB), false, t + 800 * DAY, { from: p });
      await ml.grant(c.insurer2, mask(CAT.CLAIMS), false, t + 800 * DAY, { from: p });
    }
    await fx.take();
  });
  beforeEach(async () => {
    await fx.restore();
    now = await latestTimestamp();
  });
  afterEach(async () => {
    // Every account the suite has: the insurance contract holds exactly the policy funds plus the
    // payouts, and the core nothing.
    await assertConserved(insurance, accounts);
  });

  describe("per-claim limit", () => {
    it("is compared with the amount claimed, before the deductible: limit + 1 wei waits even though its payout would fit", async () => {
      await publish({ perClaim: E(1), annual: E(10), deductible: E(0.5), fund: E(2) });
      const over = await submit({ amount: E(1) + 1n }); // payout would be 0.5 + 1 wei, under the limit
      expectPending(over.r, over.id, PendingReason.OverPerClaimLimit);
      assert.deepStrictEqual(await usage(), { deductibleUsed: 0n, paid: 0n }, "a waiting claim uses no deductible");
      await expectMoney({ funds: E(2), owed: 0n, held: E(2) });

      const exact = await submit({ amount: E(1) }); // 0.5 deductible, 0.5 paid
      expectSettled(exact.r, exact.id, E(0.5));
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.5), paid: E(0.5) });
      await expectMoney({ funds: E(1.5), owed: E(0.5), held: E(2) });
    });

    it("a limit of 1 wei: a 1 wei claim settles, 2 wei waits; the settled wei is withdrawn exactly", async () => {
      await publish({ perClaim: 1n, annual: E(1), fund: 10n });
      const one = await submit({ amount: 1n });
      expectSettled(one.r, one.id, 1n);
      const two = await submit({ amount: 2n });
      expectPending(two.r, two.id, PendingReason.OverPerClaimLimit);
      await expectMoney({ funds: 9n, owed: 1n, held: 10n });
      const before = await balance(doctor());
      const w = await insurance.withdrawPayout({ from: doctor() });
      expectEvent(w, "PayoutWithdrawn", { practitioner: doctor(), amount: 1n });
      assert.strictEqual(await balance(doctor()), before - gasCost(w) + 1n);
      await expectMoney({ funds: 9n, owed: 0n, held: 9n });
    });
  });

  describe("deductible", () => {
    it("one wei short of the deductible settles as Paid with payout 0 even with no funds; crossing it by 1 wei then needs 1 wei of funds", async () => {
      await publish({ perClaim: E(1), annual: E(10), deductible: E(0.5), fund: 0n });
      const inside = await submit({ amount: E(0.5) - 1n });
      expectSettled(inside.r, inside.id, 0n);
      const cl = await insurance.claimOf(inside.id);
      assert.strictEqual(Number(cl.status), ClaimStatus.Paid);
      assert.strictEqual(Number(cl.pendingReason), PendingReason.None);
      assert.strictEqual(s(cl.payout), "0");
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.5) - 1n, paid: 0n });

      // 2 wei: the last wei of the deductible and 1 wei of payout, which the empty policy lacks
      const cross = await submit({ amount: 2n });
      expectPending(cross.r, cross.id, PendingReason.InsufficientFunds);
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.5) - 1n, paid: 0n }, "no deductible consumed by a waiting claim");

      await insurance.fundPolicy({ from: insurer(), value: "1" });
      const again = await submit({ amount: 2n });
      expectSettled(again.r, again.id, 1n);
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.5), paid: 1n });
      await expectMoney({ funds: 0n, owed: 1n, held: 1n });
      assert.strictEqual(await status(cross.id), ClaimStatus.Submitted, "the earlier claim still waits");
    });

    it("approving a waiting claim consumes no deductible: the next automatic claim still bears it in full", async () => {
      await publish({ perClaim: E(1), annual: E(10), deductible: E(0.5), fund: E(5) });
      const big = await submit({ amount: E(2) });
      expectPending(big.r, big.id, PendingReason.OverPerClaimLimit);
      await insurance.approveClaim(big.id, s(E(2)), { from: insurer() });
      assert.deepStrictEqual(await usage(), { deductibleUsed: 0n, paid: E(2) });
      const next = await submit({ amount: E(0.5) });
      expectSettled(next.r, next.id, 0n);
      const after = await submit({ amount: E(0.5) });
      expectSettled(after.r, after.id, E(0.5));
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.5), paid: E(2.5) });
      await expectMoney({ funds: E(4.5), reserved: E(2), owed: E(0.5), held: E(5) });
    });

    it("deductible and annual usage are per insurer: the same patient starts afresh with another insurer", async () => {
      await publish({ perClaim: E(1), annual: E(1), deductible: E(0.2), fund: E(5) });
      await publish({ from: c.insurer2, perClaim: E(1), annual: E(1), deductible: E(0.2), fund: E(5) });
      await submit({ amount: E(1) }); // 0.2 + 0.8
      await submit({ amount: E(0.2) }); // limit reached exactly
      const blocked = await submit({ amount: 1n });
      expectPending(blocked.r, blocked.id, PendingReason.OverAnnualLimit);
      const other = await submit({ amount: E(1), ins: c.insurer2 });
      expectSettled(other.r, other.id, E(0.8));
      assert.deepStrictEqual(await usage(c.patient, insurer()), { deductibleUsed: E(0.2), paid: E(1) });
      assert.deepStrictEqual(await usage(c.patient, c.insurer2), { deductibleUsed: E(0.2), paid: E(0.8) });
      await expectMoney({ funds: E(4), owed: E(1.8), held: E(10) });
      await expectMoney({ ins: c.insurer2, funds: E(4.2), owed: E(1.8), held: E(10) });
    });
  });

  describe("annual limit", () => {
    it("the insurer's approvals count but are not held to it: at the limit a claim inside the deductible settles; above it even that claim waits", async () => {
      await publish({ perClaim: E(1), annual: E(1), deductible: E(0.5), fund: E(5) });
      const a = await submit({ amount: E(3) });
      expectPending(a.r, a.id, PendingReason.OverPerClaimLimit);
      await insurance.approveClaim(a.id, s(E(1)), { from: insurer() }); // paid = the limit exactly
      assert.deepStrictEqual(await usage(), { deductibleUsed: 0n, paid: E(1) });

      const inDeductible = await submit({ amount: E(0.25) }); // payout 0: 1 + 0 ≤ 1
      expectSettled(inDeductible.r, inDeductible.id, 0n);
      const oneWei = await submit({ amount: E(0.25) + 1n }); // 0.25 deductible + 1 wei payout
      expectPending(oneWei.r, oneWei.id, PendingReason.OverAnnualLimit);
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.25), paid: E(1) });

      const b = await submit({ amount: E(2) });
      await insurance.approveClaim(b.id, s(E(0.5)), { from: insurer() }); // allowed: paid = 1.5 > 1
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.25), paid: E(1.5) });
      const zeroPayout = await submit({ amount: 1n }); // inside the deductible, payout 0, still 1.5 > 1
      expectPending(zeroPayout.r, zeroPayout.id, PendingReason.OverAnnualLimit);
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.25), paid: E(1.5) });
      await expectMoney({ funds: E(5), reserved: E(1.5), owed: 0n, held: E(5) });
    });

    it("a republished lower limit applies to usage already counted this year: below it every claim waits, raised to it exactly one settles", async () => {
      await publish({ perClaim: E(1), annual: E(3), fund: E(5) });
      await submit({ amount: E(0.8) });
      await publish({ perClaim: E(1), annual: E(0.5), fund: 0n });
      const x = await submit({ amount: 1n });
      expectPending(x.r, x.id, PendingReason.OverAnnualLimit);
      assert.deepStrictEqual(await usage(), { deductibleUsed: 0n, paid: E(0.8) }, "usage is kept across republishing");
      await publish({ perClaim: E(1), annual: E(0.8) + 1n, fund: 0n });
      const y = await submit({ amount: 1n });
      expectSettled(y.r, y.id, 1n);
      const z = await submit({ amount: 1n });
      expectPending(z.r, z.id, PendingReason.OverAnnualLimit);
      await expectMoney({ funds: E(4.2) - 1n, owed: E(0.8) + 1n, held: E(5) });
    });

    it("the policy year turns at a multiple of 365 days to the second: the last second counts to the old year, the first to the new one", async () => {
      await publish({ perClaim: E(1), annual: E(1), deductible: E(0.1), fund: E(5) });
      await submit({ amount: E(1) }); // 0.1 + 0.9
      await submit({ amount: E(0.1) }); // limit reached
      const boundary = (year0 + 1) * POLICY_YEAR;
      const last = { id: b32("claim"), doc: await fileDoc() };
      const lastOut = await sendAt(boundary - 1, () => submitTx({ amount: 1n, gas: 1e6, ...last }));
      assert.ok(lastOut.result, lastOut.error && lastOut.error.message);
      expectPending(lastOut.result, last.id, PendingReason.OverAnnualLimit);
      assert.strictEqual(s((await insurance.claimOf(last.id)).policyYear), String(year0));

      const first = { id: b32("claim"), doc: await fileDoc() };
      const firstOut = await sendAt(boundary, () => submitTx({ amount: E(0.5), gas: 1e6, ...first }));
      assert.ok(firstOut.result, firstOut.error && firstOut.error.message);
      expectSettled(firstOut.result, first.id, E(0.4)); // a fresh deductible and limit
      assert.strictEqual(s((await insurance.claimOf(first.id)).policyYear), String(year0 + 1));
      assert.deepStrictEqual(await usage(c.patient, insurer(), year0), { deductibleUsed: E(0.1), paid: E(1) });
      assert.deepStrictEqual(await usage(c.patient, insurer(), year0 + 1), { deductibleUsed: E(0.1), paid: E(0.4) });

      // a claim left waiting in the old year stays in it: approving it counts there
      await insurance.approveClaim(last.id, "1", { from: insurer() });
      assert.deepStrictEqual(await usage(c.patient, insurer(), year0), { deductibleUsed: E(0.1), paid: E(1) + 1n });
      assert.deepStrictEqual(await usage(c.patient, insurer(), year0 + 1), { deductibleUsed: E(0.1), paid: E(0.4) });
    });
  });

  describe("the claim document", () => {
    beforeEach(async () => {
      await publish({ covered: mask(CAT.CLAIMS, CAT.LAB) });
    });

    it("CLAIMS_CATEGORY is 7, the category the suite files claim documents under", async () => {
      assert.strictEqual(Number(await insurance.CLAIMS_CATEGORY()), CAT.CLAIMS);
    });

    it("a record that does not exist is no document: an unknown id, the zero id and a claim's id are refused with InvalidClaimDocument", async () => {
      const missing = b32("doc");
      await expectRevert(submit({ amount: E(0.1), doc: missing }), "InvalidClaimDocument", [missing]);
      await expectRevert(submit({ amount: E(0.1), doc: ZERO }), "InvalidClaimDocument", [ZERO]);
      const settled = await submit({ amount: E(0.1) });
      await expectRevert(submit({ amount: E(0.1), doc: settled.id }), "InvalidClaimDocument", [settled.id]);
      // filed afterwards under the id that was refused, it is accepted
      await fileClaimDocument(ml, { patient: c.patient, from: doctor(), id: missing });
      const x = await submit({ amount: E(0.1), doc: missing });
      expectSettled(x.r, x.id, E(0.1));
    });

    it("another patient's document is refused, even written by the same practitioner; claimed for its own patient it is accepted", async () => {
      const theirs = await fileDoc({ patient: c.otherPatient });
      await expectRevert(submit({ amount: E(0.1), doc: theirs }), "InvalidClaimDocument", [theirs]);
      const x = await submit({ amount: E(0.1), patient: c.otherPatient, doc: theirs });
      expectEvent(x.r, "ClaimSubmitted", { claimId: x.id, patient: c.otherPatient, documentRecordId: theirs });
      expectSettled(x.r, x.id, E(0.1));
    });

    it("a document written by another practitioner, or by the patient themself, is refused; its author may claim on it", async () => {
      const byColleague = await fileDoc({ from: c.practitioner2 });
      await expectRevert(submit({ amount: E(0.1), doc: byColleague }), "InvalidClaimDocument", [byColleague]);
      const byPatient = await fileDoc({ from: c.patient });
      assert.strictEqual((await ml.recordOf(byPatient)).author, c.patient);
      for (const from of [doctor(), c.practitioner2]) {
        await expectRevert(submit({ amount: E(0.1), doc: byPatient, from }), "InvalidClaimDocument", [byPatient]);
      }
      const x = await submit({ amount: E(0.1), doc: byColleague, from: c.practitioner2 });
      expectSettled(x.r, x.id, E(0.1), c.practitioner2);
    });

    it("a record outside Claims (7) is no document, whatever its category and whatever is claimed: 6, 8, GENERAL, LAB", async () => {
      await ml.grant(doctor(), mask(CAT.GENERAL, CAT.LAB, 6, CAT.CLAIMS, 8), true, now + DAY, { from: c.patient });
      for (const category of [6, 8, CAT.GENERAL, CAT.LAB]) {
        const doc = await fileDoc({ category });
        assert.strictEqual(Number((await ml.recordOf(doc)).category), category);
        for (const cat of [CAT.CLAIMS, category]) {
          await expectRevert(submit({ amount: E(0.1), doc, cat }), "InvalidClaimDocument", [doc]);
        }
      }
      const x = await submit({ amount: E(0.1), cat: CAT.LAB });
      expectSettled(x.r, x.id, E(0.1));
    });

    it("a document erased by eraseRecord is refused, before and after the escrow confirms the shred", async () => {
      const doc = await fileDoc();
      await ml.eraseRecord(doc, { from: c.patient });
      await expectRevert(submit({ amount: E(0.1), doc }), "InvalidClaimDocument", [doc]);
      await ml.confirmShredded(doc, b32("receipt"), { from: c.escrow });
      await expectRevert(submit({ amount: E(0.1), doc }), "InvalidClaimDocument", [doc]);
      assert.strictEqual((await ml.recordOf(doc)).shredConfirmed, true);
    });

    it("documents erased by eraseAll are refused, the other patient's are not, and one filed after the erasure is accepted", async () => {
      const a = await fileDoc();
      const b = await fileDoc();
      const theirs = await fileDoc({ patient: c.otherPatient });
      await ml.eraseAll({ from: c.patient });
      for (const doc of [a, b]) {
        assert.strictEqual(await ml.isErased(doc), true);
        await expectRevert(submit({ amount: E(0.1), doc }), "InvalidClaimDocument", [doc]);
      }
      const other = await submit({ amount: E(0.1), patient: c.otherPatient, doc: theirs });
      expectSettled(other.r, other.id, E(0.1));
      const fresh = await submit({ amount: E(0.1) });
      expectSettled(fresh.r, fresh.id, E(0.1));
    });

    it("erasing the document after submission does not undo the claim: a waiting claim is still approved and paid, and the erased document is refused as no document, not as a duplicate", async () => {
      await publish({ perClaim: E(1), fund: E(10) });
      const waiting = await submit({ amount: E(2), id: b32("claim") });
      expectPending(waiting.r, waiting.id, PendingReason.OverPerClaimLimit);
      const before = await policy();
      const held = await balance(insurance.address);
      await ml.eraseRecord(waiting.doc, { from: c.patient });
      await expectRevert(submit({ amount: E(0.1), doc: waiting.doc }), "InvalidClaimDocument", [waiting.doc]);
      await insurance.approveClaim(waiting.id, s(E(1.5)), { from: insurer() });
      const paid = await insurance.payClaim(waiting.id, { from: insurer() });
      expectEvent(paid, "ClaimPaid", { claimId: waiting.id, practitioner: doctor(), payout: E(1.5), automatic: false });
      assert.strictEqual(await status(waiting.id), ClaimStatus.Paid);
      const cl = await insurance.claimOf(waiting.id);
      assert.strictEqual(cl.documentRecordId, waiting.doc, "the claim still names its (erased) document");
      await expectMoney({ funds: before.funds - E(1.5), owed: E(1.5), held });
    });

    it("an amendment superseding a claimed document is a new document record: duplicates are refused per record, so it can be claimed", async () => {
      await publish({ perClaim: E(1), fund: E(10) });
      const first = await submit({ amount: E(0.2), id: b32("claim") });
      expectSettled(first.r, first.id, E(0.2));
      const amended = b32("amendment");
      await ml.addRecord(amended, c.patient, b32("ct"), CAT.CLAIMS, first.doc, { from: doctor() });
      await expectRevert(submit({ amount: E(0.2), doc: first.doc }), "DuplicateClaimDocument", [first.doc, first.id]);
      const second = await submit({ amount: E(0.2), id: b32("claim"), doc: amended });
      expectSettled(second.r, second.id, E(0.2));
      assert.strictEqual((await usage()).paid, E(0.4), "both count towards the annual limit");
    });
  });

  describe("duplicate documents", () => {
    it("a document is claimed once whatever the first claim's state (waiting, approved, paid, settled, denied) and whichever insurer it is sent to next", async () => {
      await publish({ perClaim: E(1), fund: E(5) });
      await publish({ from: c.insurer2, perClaim: E(1), fund: E(5) });
      const waiting = await submit({ amount: E(2) });
      const approved = await submit({ amount: E(2) });
      await insurance.approveClaim(approved.id, s(E(1)), { from: insurer() });
      const paidByInsurer = await submit({ amount: E(2) });
      await insurance.approveClaim(paidByInsurer.id, s(E(1)), { from: insurer() });
      await insurance.payClaim(paidByInsurer.id, { from: insurer() });
      const settled = await submit({ amount: E(0.5) });
      const denied = await submit({ amount: E(2) });
      await insurance.denyClaim(denied.id, b32("reason"), { from: insurer() });
      const held = await balance(insurance.address);
      const before = [await policy(), await policy(c.insurer2), await payout()];
      for (const first of [waiting, approved, paidByInsurer, settled, denied]) {
        for (const ins of [insurer(), c.insurer2]) {
          await expectRevert(submit({ amount: E(0.1), doc: first.doc, ins }), "DuplicateClaimDocument", [first.doc, first.id]);
        }
        // another practitioner, or a claim for another patient, cannot name it at all
        await expectRevert(submit({ amount: E(0.1), doc: first.doc, from: c.practitioner2 }), "InvalidClaimDocument", [first.doc]);
        await expectRevert(submit({ amount: E(0.1), doc: first.doc, patient: c.otherPatient, ins: c.insurer2 }), "InvalidClaimDocument", [first.doc]);
      }
      assert.strictEqual(await balance(insurance.address), held);
      assert.deepStrictEqual([await policy(), await policy(c.insurer2), await payout()], before);
    });

    it("the duplicate is refused after the amount, patient and insurer are checked and before either consent is looked at", async () => {
      await publish();
      const first = await submit({ amount: E(0.1) });
      await expectRevert(submit({ amount: 0n, doc: first.doc }), "InvalidAmount", []);
      await expectRevert(submit({ amount: 1n, doc: first.doc, patient: c.stranger }), "NotAPatient", [c.stranger]);
      await expectRevert(submit({ amount: 1n, doc: first.doc, ins: c.pendingInsurer }), "NotAVerifiedInsurer", [c.pendingInsurer]);
      await expectRevert(submit({ amount: 1n, doc: first.doc, ins: c.insurer2 }), "NoPolicy", [c.insurer2]);
      // a category the practitioner's grant does not cover, then both grants revoked: still the duplicate
      await expectRevert(submit({ amount: 1n, doc: first.doc, cat: CAT.IMAGING }), "DuplicateClaimDocument", [first.doc, first.id]);
      await ml.revoke(doctor(), { from: c.patient });
      await ml.revoke(insurer(), { from: c.patient });
      await expectRevert(submit({ amount: 1n, doc: first.doc }), "DuplicateClaimDocument", [first.doc, first.id]);
    });
  });

  describe("refusals in order, and what a refusal leaves", () => {
    it("the contract's order: each refusal fixed in turn reveals the next, down to a settled claim", async () => {
      await publish();
      // patient3 lets the practitioner file two documents and claim on one, then revokes both grants
      await ml.grant(doctor(), mask(CAT.CLAIMS), true, now + DAY, { from: c.patient3 });
      await ml.grant(insurer(), mask(CAT.CLAIMS), false, now + DAY, { from: c.patient3 });
      const claimed = await submit({ amount: E(0.1), patient: c.patient3 });
      const doc = await fileDoc({ patient: c.patient3 });
      await ml.revoke(doctor(), { from: c.patient3 });
      await ml.revoke(insurer(), { from: c.patient3 });
      const fresh = b32("claim");
      const missing = unfiled();
      // every argument wrong at first
      const tx = { from: c.pendingPractitioner, id: ZERO, amount: 0n, patient: c.stranger, ins: c.pendingInsurer, doc: missing };
      const steps = [
        [{}, "NotAVerifiedPractitioner", [c.pendingPractitioner]],
        [{ from: doctor() }, "InvalidClaimId", []],
        [{ id: claimed.id }, "ClaimExists", [claimed.id]],
        [{ id: fresh }, "InvalidAmount", []],
        [{ amount: E(0.1) }, "NotAPatient", [c.stranger]],
        [{ patient: c.patient3 }, "NotAVerifiedInsurer", [c.pendingInsurer]],
        [{ ins: c.insurer2 }, "NoPolicy", [c.insurer2]],
        [{ ins: insurer() }, "InvalidClaimDocument", [missing]],
        [{ doc: claimed.doc }, "DuplicateClaimDocument", [claimed.doc, claimed.id]],
        [{ doc }, "PractitionerNotPermitted", [c.patient3, doctor(), CAT.CLAIMS]],
      ];
      for (const [fix, name, args] of steps) {
        Object.assign(tx, fix);
        await expectRevert(submit(tx), name, args);
      }
      // a read-only grant will do for the claim itself
      await ml.grant(doctor(), mask(CAT.CLAIMS), false, now + DAY, { from: c.patient3 });
      await expectRevert(submit(tx), "InsurerNotPermitted", [c.patient3, insurer(), CAT.CLAIMS]);
      await ml.grant(insurer(), mask(CAT.CLAIMS), false, now + DAY, { from: c.patient3 });
      const { r } = await submit(tx);
      expectSettled(r, fresh, E(0.1));
    });

    it("a claim refused for its document or a consent records nothing (no claim, no usage, no ether moved, the document still free); the same id and document are then accepted", async () => {
      await publish({ perClaim: E(1), annual: E(3), deductible: E(0.1), fund: E(2) });
      const first = await submit({ amount: E(0.3) });
      const id = b32("claim");
      const doc = await fileDoc();
      const erased = await fileDoc();
      await ml.eraseRecord(erased, { from: c.patient });
      const byColleague = await fileDoc({ from: c.practitioner2 });
      const outsideClaims = await fileDoc({ category: CAT.LAB });
      const state = async () => ({ usage: await usage(), policy: await policy(), owed: await payout(), held: await balance(insurance.address) });
      const before = await state();
      const expectNothing = async (why) => {
        const cl = await insurance.claimOf(id);
        assert.strictEqual(Number(cl.status), ClaimStatus.None, why);
        assert.strictEqual(cl.practitioner, ZERO_ADDRESS, why);
        assert.strictEqual(cl.documentRecordId, ZERO, why);
        assert.strictEqual(s(cl.amount), "0", why);
        assert.deepStrictEqual(await state(), before, why);
      };
      for (const [bad, name, args] of [
        [ZERO, "InvalidClaimDocument", [ZERO]],
        [erased, "InvalidClaimDocument", [erased]],
        [byColleague, "InvalidClaimDocument", [byColleague]],
        [outsideClaims, "InvalidClaimDocument", [outsideClaims]],
        [first.doc, "DuplicateClaimDocument", [first.doc, first.id]],
      ]) {
        await expectRevert(submit({ amount: E(0.5), id, doc: bad }), name, args);
        await expectNothing(name);
      }
      await expectRevert(submit({ amount: E(0.5), id, doc, cat: CAT.IMAGING }), "PractitionerNotPermitted", [c.patient, doctor(), CAT.IMAGING]);
      await expectNothing("PractitionerNotPermitted");
      await ml.revoke(insurer(), { from: c.patient });
      await expectRevert(submit({ amount: E(0.5), id, doc }), "InsurerNotPermitted", [c.patient, insurer(), CAT.CLAIMS]);
      await expectNothing("InsurerNotPermitted");

      await ml.grant(insurer(), mask(CAT.CLAIMS), false, now + DAY, { from: c.patient });
      const ok = await submit({ amount: E(0.5), id, doc });
      expectEvent(ok.r, "ClaimSubmitted", { claimId: id, documentRecordId: doc });
      expectSettled(ok.r, id, E(0.5));
      assert.strictEqual((await insurance.claimOf(id)).documentRecordId, doc);
      await expectRevert(submit({ amount: E(0.1), doc }), "DuplicateClaimDocument", [doc, id]);
    });
  });

  describe("category and consent", () => {
    it("the insurer's consent is checked on Claims, not on the claim's category: a LAB-only view refuses a LAB claim, a Claims-only view accepts it", async () => {
      await publish({ covered: mask(CAT.CLAIMS, CAT.LAB) });
      await ml.grant(doctor(), mask(CAT.LAB, CAT.CLAIMS), true, now + DAY, { from: c.patient3 });
      await ml.grant(insurer(), mask(CAT.LAB), false, now + DAY, { from: c.patient3 });
      await expectRevert(submit({ amount: E(0.1), patient: c.patient3, cat: CAT.LAB }), "InsurerNotPermitted", [c.patient3, insurer(), CAT.CLAIMS]);
      await ml.grant(insurer(), mask(CAT.CLAIMS), false, now + DAY, { from: c.patient3 });
      const lab = await submit({ amount: E(0.1), patient: c.patient3, cat: CAT.LAB });
      expectSettled(lab.r, lab.id, E(0.1));
    });

    it("an insurer's grant on every category but Claims is refused, whatever category is claimed", async () => {
      await publish({ covered: mask(CAT.CLAIMS, CAT.LAB) });
      await ml.grant(doctor(), mask(CAT.LAB, CAT.CLAIMS), true, now + DAY, { from: c.patient3 });
      await ml.grant(insurer(), ALL_BUT_CLAIMS, false, now + DAY, { from: c.patient3 });
      for (const cat of [CAT.LAB, CAT.CLAIMS]) {
        await expectRevert(submit({ amount: E(0.1), patient: c.patient3, cat }), "InsurerNotPermitted", [c.patient3, insurer(), CAT.CLAIMS]);
      }
    });

    it("categories 0 and 255: a practitioner's grant and a policy on that one bit settle it; the neighbouring category is refused or not covered", async () => {
      await publish({ covered: mask(0, 255) });
      await ml.grant(doctor(), mask(0, CAT.CLAIMS, 254, 255), true, now + DAY, { from: c.patient3 });
      await ml.grant(insurer(), mask(CAT.CLAIMS), false, now + DAY, { from: c.patient3 });
      for (const cat of [0, 255]) {
        const x = await submit({ amount: E(0.1), patient: c.patient3, cat });
        expectSettled(x.r, x.id, E(0.1));
        assert.strictEqual(Number((await insurance.claimOf(x.id)).category), cat);
      }
      const notCovered = await submit({ amount: E(0.1), patient: c.patient3, cat: 254 });
      expectPending(notCovered.r, notCovered.id, PendingReason.CategoryNotCovered);
      for (const cat of [1, 253]) {
        await expectRevert(submit({ amount: E(0.1), patient: c.patient3, cat }), "PractitionerNotPermitted", [c.patient3, doctor(), cat]);
      }
    });

    it("the insurer's grant lapses at its expiry to the second: accepted one second before, refused at it", async () => {
      await publish();
      await ml.grant(doctor(), mask(CAT.CLAIMS), true, now + 10 * DAY, { from: c.patient3 });
      const expiry = now + 1000;
      await ml.grant(insurer(), mask(CAT.CLAIMS), false, expiry, { from: c.patient3 });
      const before = { id: b32("claim"), doc: await fileDoc({ patient: c.patient3 }) };
      const at = { id: b32("claim"), doc: await fileDoc({ patient: c.patient3 }) };
      const ok = await sendAt(expiry - 1, () => submitTx({ amount: E(0.1), patient: c.patient3, gas: 1e6, ...before }));
      assert.ok(ok.result, ok.error && ok.error.message);
      expectSettled(ok.result, before.id, E(0.1));
      // Estimated in the pending block, after the expiry: it reverts there and is never sent.
      await rpc("evm_mine", [{ timestamp: expiry }]);
      await expectRevert(submitTx({ amount: E(0.1), patient: c.patient3, ...at }), "InsurerNotPermitted", [c.patient3, insurer(), CAT.CLAIMS]);
      assert.strictEqual(await status(at.id), ClaimStatus.None);
    });

    it("revoking the insurer refuses later claims but not the review of one already waiting: it is still approved and paid", async () => {
      await publish({ perClaim: E(1), fund: E(3) });
      const waiting = await submit({ amount: E(2) });
      expectPending(waiting.r, waiting.id, PendingReason.OverPerClaimLimit);
      await ml.revoke(insurer(), { from: c.patient });
      await expectRevert(submit({ amount: E(0.1) }), "InsurerNotPermitted", [c.patient, insurer(), CAT.CLAIMS]);
      await insurance.approveClaim(waiting.id, s(E(1.5)), { from: insurer() });
      const r = await insurance.payClaim(waiting.id, { from: insurer() });
      expectEvent(r, "ClaimPaid", { claimId: waiting.id, practitioner: doctor(), payout: E(1.5), automatic: false });
      await expectMoney({ funds: E(1.5), owed: E(1.5), held: E(3) });
    });
  });

  describe("insufficient funds", () => {
    it("is judged on the payout after the deductible: exactly the available funds settles, 1 wei more waits and consumes no deductible", async () => {
      await publish({ perClaim: E(1), annual: E(10), deductible: E(0.5), fund: E(0.3) });
      const over = await submit({ amount: E(0.8) + 1n });
      expectPending(over.r, over.id, PendingReason.InsufficientFunds);
      assert.deepStrictEqual(await usage(), { deductibleUsed: 0n, paid: 0n });
      const exact = await submit({ amount: E(0.8) });
      expectSettled(exact.r, exact.id, E(0.3));
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.5), paid: E(0.3) });
      await expectMoney({ funds: 0n, owed: E(0.3), held: E(0.3) });
    });

    it("after a withdrawal down to the reserve: a payout of exactly what is left settles, 1 wei more waits", async () => {
      await publish({ perClaim: E(1), annual: E(10), fund: E(3) });
      const big = await submit({ amount: E(2) });
      await insurance.approveClaim(big.id, s(E(2)), { from: insurer() });
      await insurance.withdrawPolicyFunds(s(E(0.6)), { from: insurer() }); // available 0.4
      const over = await submit({ amount: E(0.4) + 1n });
      expectPending(over.r, over.id, PendingReason.InsufficientFunds);
      const exact = await submit({ amount: E(0.4) });
      expectSettled(exact.r, exact.id, E(0.4));
      await expectMoney({ funds: E(2), reserved: E(2), owed: E(0.4), held: E(2.4) });
      await expectRevert(insurance.withdrawPolicyFunds("1", { from: insurer() }), "InsufficientAvailableFunds", [0, 1]);
      await insurance.payClaim(big.id, { from: insurer() });
      await expectMoney({ funds: 0n, reserved: 0n, owed: E(2.4), held: E(2.4) });
    });
  });

  describe("the practitioner's grant", () => {
    it("the grant must cover the category of care claimed, not Claims, and need not allow writing: a read-only LAB grant given after the document was filed claims LAB care only", async () => {
      await publish({ covered: mask(CAT.CLAIMS, CAT.LAB) });
      const doc = await fileDoc();
      // the patient replaces the write grant with a read-only one on LAB alone
      await ml.grant(doctor(), mask(CAT.LAB), false, now + DAY, { from: c.patient });
      const g = await ml.grantOf(c.patient, doctor());
      assert.strictEqual(s(g.categories), mask(CAT.LAB));
      assert.strictEqual(g.canWrite, false);
      for (const cat of [CAT.CLAIMS, CAT.GENERAL, CAT.IMAGING]) {
        await expectRevert(submit({ amount: E(0.1), doc, cat }), "PractitionerNotPermitted", [c.patient, doctor(), cat]);
      }
      const x = await submit({ amount: E(0.1), doc, cat: CAT.LAB });
      expectSettled(x.r, x.id, E(0.1));
      // no further document can be filed under that grant
      await expectRevert(fileDoc(), "WriteNotPermitted", [c.patient, doctor(), CAT.CLAIMS]);
    });

    it("a grant covering Claims and the document but not the category claimed is refused; widened to that category, the same document is accepted", async () => {
      await publish({ covered: mask(CAT.CLAIMS, CAT.IMAGING) });
      const doc = await fileDoc();
      for (const cat of [CAT.IMAGING, CAT.MENTAL]) {
        await expectRevert(submit({ amount: E(0.1), doc, cat }), "PractitionerNotPermitted", [c.patient, doctor(), cat]);
      }
      await ml.grant(doctor(), mask(CAT.GENERAL, CAT.LAB, CAT.IMAGING, CAT.CLAIMS), true, now + DAY, { from: c.patient });
      const x = await submit({ amount: E(0.1), doc, cat: CAT.IMAGING });
      expectSettled(x.r, x.id, E(0.1));
      await expectRevert(submit({ amount: E(0.1), cat: CAT.MENTAL }), "PractitionerNotPermitted", [c.patient, doctor(), CAT.MENTAL]);
    });

    it("without one, PractitionerNotPermitted comes before the insurer's consent is checked", async () => {
      await publish();
      // patient3 let the practitioner file a document, then revoked it; the insurer has no consent either
      await ml.grant(doctor(), mask(CAT.CLAIMS), true, now + DAY, { from: c.patient3 });
      const doc = await fileDoc({ patient: c.patient3 });
      await ml.revoke(doctor(), { from: c.patient3 });
      await expectRevert(submit({ amount: 1n, patient: c.patient3, doc }), "PractitionerNotPermitted", [c.patient3, doctor(), CAT.CLAIMS]);
      await ml.grant(doctor(), mask(CAT.CLAIMS), false, now + DAY, { from: c.patient3 });
      await expectRevert(submit({ amount: 1n, patient: c.patient3, doc }), "InsurerNotPermitted", [c.patient3, insurer(), CAT.CLAIMS]);
    });

    it("the practitioner's grant lapses at its expiry to the second: accepted one second before, refused at it on a document filed in time", async () => {
      await publish();
      const expiry = now + 1000;
      await ml.grant(c.practitioner3, mask(CAT.CLAIMS), true, expiry, { from: c.patient });
      const before = { id: b32("claim"), doc: await fileDoc({ from: c.practitioner3 }) };
      const at = { id: b32("claim"), doc: await fileDoc({ from: c.practitioner3 }) };
      const ok = await sendAt(expiry - 1, () => submitTx({ amount: E(0.1), from: c.practitioner3, gas: 1e6, ...before }));
      assert.ok(ok.result, ok.error && ok.error.message);
      expectSettled(ok.result, before.id, E(0.1), c.practitioner3);
      await rpc("evm_mine", [{ timestamp: expiry }]);
      await expectRevert(submitTx({ amount: E(0.1), from: c.practitioner3, ...at }), "PractitionerNotPermitted", [c.patient, c.practitioner3, CAT.CLAIMS]);
      assert.strictEqual(await status(at.id), ClaimStatus.None);
    });

    it("a practitioner suspended, or whose grant was revoked, after the claim was paid still withdraws the payout exactly", async () => {
      await publish({ fund: E(2) });
      await submit({ amount: E(0.7) });
      await ml.revoke(doctor(), { from: c.patient });
      await ml.suspendAccount(doctor(), b32("reason"), { from: c.admin });
      await expectRevert(submit({ amount: 1n, doc: unfiled() }), "NotAVerifiedPractitioner", [doctor()]);
      const before = await balance(doctor());
      const w = await insurance.withdrawPayout({ from: doctor() });
      expectEvent(w, "PayoutWithdrawn", { practitioner: doctor(), amount: E(0.7) });
      assert.strictEqual(await balance(doctor()), before - gasCost(w) + E(0.7));
      await expectMoney({ funds: E(1.3), owed: 0n, held: E(1.3) });
    });
  });

  describe("fund conservation", () => {
    it("every money path in sequence, the balance equal to funds + payouts after each step and each movement exact", async () => {
      const check = () => assertConserved(insurance, accounts);
      let held = 0n;
      const step = async (delta) => {
        held += delta;
        assert.strictEqual(await balance(insurance.address), held);
        await check();
      };
      await publish({ perClaim: E(1), annual: E(2), deductible: E(0.3), fund: E(3) });
      await step(E(3));
      await publish({ from: c.insurer2, perClaim: E(0.5), annual: E(1), fund: 0n });
      await step(0n);
      await insurance.fundPolicy({ from: c.insurer2, value: s(E(1)) });
      await step(E(1));
      const a = await submit({ amount: E(1) }); // 0.3 deductible, 0.7 paid: moves inside the contract
      expectSettled(a.r, a.id, E(0.7));
      await step(0n);
      const b = await submit({ amount: E(1.5), from: c.practitioner2 });
      await insurance.approveClaim(b.id, s(E(1.3)), { from: insurer() }); // reserve
      await step(0n);
      const d = await submit({ amount: E(0.6), ins: c.insurer2, patient: c.otherPatient });
      await insurance.denyClaim(d.id, b32("reason"), { from: c.insurer2 });
      await step(0n);
      const avail = (await policy()).funds - (await policy()).reserved; // 3 - 0.7 - 1.3 reserved = 1.0
      assert.strictEqual(avail, E(1));
      const iBefore = await balance(insurer());
      const wf = await insurance.withdrawPolicyFunds(s(avail), { from: insurer() });
      assert.strictEqual(await balance(insurer()), iBefore - gasCost(wf) + avail);
      await step(-avail);
      await ml.suspendAccount(insurer(), b32("reason"), { from: c.admin });
      await insurance.payClaim(b.id, { from: insurer() }); // a suspended insurer pays what it approved
      await step(0n);
      await ml.suspendAccount(c.practitioner2, b32("reason"), { from: c.admin });
      const pBefore = await balance(c.practitioner2);
      const wp = await insurance.withdrawPayout({ from: c.practitioner2 });
      assert.strictEqual(await balance(c.practitioner2), pBefore - gasCost(wp) + E(1.3));
      await step(-E(1.3));
      const e = await submit({ amount: E(0.5), ins: c.insurer2 });
      expectSettled(e.r, e.id, E(0.5));
      await step(0n);
      const dBefore = await balance(doctor());
      const wd = await insurance.withdrawPayout({ from: doctor() });
      assert.strictEqual(await balance(doctor()), dBefore - gasCost(wd) + E(1.2));
      await step(-E(1.2));
      await expectMoney({ funds: 0n, owed: 0n, held: E(0.5) });
      await expectMoney({ ins: c.insurer2, funds: E(0.5), owed: 0n, held: E(0.5) });
    });
  });
});
