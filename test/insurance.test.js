// Insurance: policies, claims settled by the contract at every policy-rule boundary, the
// insurer's review (approve, deny, pay), withdrawals moving real ether, and fund conservation
// checked after every test.
const assert = require("assert");
const { expectRevert, expectEvent, expectNoEvent, snapshotFixture, latestTimestamp, increaseTime, gasCost, balance } = require("./helpers/chain");
const { deploy, deployInsurance, cast, b32, mask, CAT, DAY, ETHER, registerAll } = require("./helpers/world");
const { ClaimStatus, PendingReason, E, claimSteps, assertConserved } = require("./helpers/insurance");

const ZERO = "0x" + "00".repeat(32);
const s = (x) => x.toString();

contract("MedLedger: insurance", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml; // the core: accounts, grants, claim documents
  let insurance; // MedLedgerInsurance on that core: policies, claims, payouts
  let now;
  const insurer = () => c.verifiedInsurer;
  const doctor = () => c.verifiedPractitioner;

  const { publish, fileDoc, unfiled, submit } = claimSteps({ ml: () => ml, insurance: () => insurance, insurer, doctor, patient: c.patient });

  async function usage(patient = c.patient, ins = insurer()) {
    const year = await insurance.currentPolicyYear();
    const u = await insurance.annualUsageOf(ins, patient, year);
    return { deductibleUsed: BigInt(s(u.deductibleUsed)), paid: BigInt(s(u.paid)) };
  }

  async function policy(ins = insurer()) {
    const p = await insurance.policyOf(ins);
    return { funds: BigInt(s(p.funds)), reserved: BigInt(s(p.reserved)), p };
  }

  const payout = async (who = doctor()) => BigInt(s(await insurance.payoutOf(who)));

  /** Assert a claim settled automatically for `expected` and return it. */
  function expectSettled(r, id, expected) {
    expectEvent(r, "ClaimPaid", { claimId: id, practitioner: doctor(), payout: expected, automatic: true });
    expectNoEvent(r, "ClaimPendingReview");
  }

  function expectPending(r, id, reason) {
    expectEvent(r, "ClaimPendingReview", { claimId: id, reason });
    expectNoEvent(r, "ClaimPaid");
  }

  before(async () => {
    // Start one day into a fresh policy year, so that no test straddles a year boundary by the
    // accident of the wall-clock date it runs on (annual limits and deductibles reset there).
    const POLICY_YEAR = 365 * DAY;
    const t0 = await latestTimestamp();
    await increaseTime(POLICY_YEAR - (t0 % POLICY_YEAR) + DAY);
    ml = await deploy(c);
    insurance = await deployInsurance(c, ml);
    await registerAll(ml, c);
    const t = await latestTimestamp();
    assert.strictEqual(Math.floor(t / POLICY_YEAR), Math.floor(t0 / POLICY_YEAR) + 1, "moved into the next policy year");
    // The practitioners write claim documents (Claims) and claim for GENERAL, LAB or CLAIMS care;
    // the insurer reads Claims and LAB, insurer2 Claims only.
    for (const p of [c.patient, c.otherPatient]) {
      await ml.grant(doctor(), mask(CAT.GENERAL, CAT.LAB, CAT.CLAIMS), true, t + 400 * DAY, { from: p });
      await ml.grant(c.practitioner2, mask(CAT.GENERAL, CAT.LAB, CAT.CLAIMS), true, t + 400 * DAY, { from: p });
      await ml.grant(insurer(), mask(CAT.CLAIMS, CAT.LAB), false, t + 400 * DAY, { from: p });
      await ml.grant(c.insurer2, mask(CAT.CLAIMS), false, t + 400 * DAY, { from: p });
    }
    await fx.take();
  });
  beforeEach(async () => {
    await fx.restore();
    now = await latestTimestamp();
  });
  // Only practitioners can be credited payouts and only insurers hold policy funds, so the sum
  // over every registered practitioner and insurer is the sum over all accounts.
  const holders = () => [c.pendingPractitioner, c.verifiedPractitioner, c.suspendedPractitioner, c.practitioner2, c.practitioner3, c.pendingInsurer, c.verifiedInsurer, c.insurer2];
  afterEach(async () => {
    await assertConserved(insurance, holders());
  });

  describe("policies and their funds", () => {
    it("publishPolicy stores the terms, funds them with the ether sent, and emits both events", async () => {
      const r = await publish({ covered: mask(CAT.CLAIMS, CAT.LAB), perClaim: E(1), annual: E(3), deductible: E(0.25), fund: E(5) });
      expectEvent(r, "PolicyPublished", { insurer: insurer(), coveredCategories: mask(CAT.CLAIMS, CAT.LAB), perClaimLimit: E(1), annualLimit: E(3), deductible: E(0.25) });
      expectEvent(r, "PolicyFunded", { insurer: insurer(), amount: E(5), funds: E(5) });
      const { p } = await policy();
      assert.strictEqual(s(p.coveredCategories), mask(CAT.CLAIMS, CAT.LAB));
      assert.strictEqual(s(p.perClaimLimit), s(E(1)));
      assert.strictEqual(s(p.annualLimit), s(E(3)));
      assert.strictEqual(s(p.deductible), s(E(0.25)));
      assert.strictEqual(s(p.funds), s(E(5)));
      assert.strictEqual(s(p.reserved), "0");
      assert.strictEqual(p.published, true);
      assert.strictEqual(await balance(insurance.address), E(5));
    });

    it("publishPolicy without ether emits no PolicyFunded; republishing replaces the terms and keeps the funds", async () => {
      const r = await publish({ fund: 0n });
      expectNoEvent(r, "PolicyFunded");
      await insurance.fundPolicy({ from: insurer(), value: s(E(2)) });
      const r2 = await publish({ covered: mask(CAT.LAB), perClaim: E(0.1), annual: E(0.2), deductible: 0n, fund: E(1) });
      expectEvent(r2, "PolicyFunded", { amount: E(1), funds: E(3) });
      const { p } = await policy();
      assert.strictEqual(s(p.coveredCategories), mask(CAT.LAB));
      assert.strictEqual(s(p.perClaimLimit), s(E(0.1)));
      assert.strictEqual(s(p.funds), s(E(3)));
    });

    it("publishPolicy refuses empty coverage, zero limits, and unverified or suspended insurers", async () => {
      await expectRevert(publish({ covered: "0" }), "InvalidCategories", []);
      await expectRevert(publish({ perClaim: 0n }), "InvalidAmount", []);
      await expectRevert(publish({ annual: 0n }), "InvalidAmount", []);
      await publish({ deductible: 0n }); // a zero deductible is fine
      await expectRevert(publish({ from: c.pendingInsurer }), "NotAVerifiedInsurer", [c.pendingInsurer]);
      await ml.suspendAccount(c.insurer2, b32(), { from: c.admin });
      await expectRevert(publish({ from: c.insurer2 }), "NotAVerifiedInsurer", [c.insurer2]);
      await expectRevert(publish({ from: doctor() }), "NotAVerifiedInsurer", [doctor()]);
    });

    it("fundPolicy adds to the funds; refuses zero and a caller without a policy", async () => {
      await publish({ fund: E(1) });
      const r = await insurance.fundPolicy({ from: insurer(), value: s(E(2)) });
      expectEvent(r, "PolicyFunded", { insurer: insurer(), amount: E(2), funds: E(3) });
      assert.strictEqual((await policy()).funds, E(3));
      await expectRevert(insurance.fundPolicy({ from: insurer(), value: "0" }), "NothingToFund", []);
      await expectRevert(insurance.fundPolicy({ from: c.insurer2, value: "1" }), "NoPolicy", [c.insurer2]);
    });

    it("withdrawPolicyFunds moves exactly the amount to the insurer (gas accounted)", async () => {
      await publish({ fund: E(5) });
      const before = await balance(insurer());
      const r = await insurance.withdrawPolicyFunds(s(E(2)), { from: insurer() });
      expectEvent(r, "PolicyFundsWithdrawn", { insurer: insurer(), amount: E(2), funds: E(3) });
      assert.strictEqual(await balance(insurer()), before - gasCost(r) + E(2));
      assert.strictEqual((await policy()).funds, E(3));
      assert.strictEqual(await balance(insurance.address), E(3));
    });

    it("withdrawPolicyFunds allows exactly the available funds, not one wei more; refuses zero and no policy", async () => {
      await publish({ fund: E(5) });
      await expectRevert(insurance.withdrawPolicyFunds(s(E(5) + 1n), { from: insurer() }), "InsufficientAvailableFunds", [E(5), E(5) + 1n]);
      await expectRevert(insurance.withdrawPolicyFunds("0", { from: insurer() }), "InvalidAmount", []);
      await expectRevert(insurance.withdrawPolicyFunds("1", { from: c.insurer2 }), "NoPolicy", [c.insurer2]);
      await insurance.withdrawPolicyFunds(s(E(5)), { from: insurer() });
      assert.strictEqual((await policy()).funds, 0n);
      await expectRevert(insurance.withdrawPolicyFunds("1", { from: insurer() }), "InsufficientAvailableFunds", [0, 1]);
    });

    it("reserved funds (approved, unpaid claims) cannot be withdrawn", async () => {
      await publish({ perClaim: E(1), fund: E(3) });
      const { id } = await submit({ amount: E(2) }); // over the per-claim limit: review
      await insurance.approveClaim(id, s(E(2)), { from: insurer() });
      assert.strictEqual((await policy()).reserved, E(2));
      await expectRevert(insurance.withdrawPolicyFunds(s(E(1) + 1n), { from: insurer() }), "InsufficientAvailableFunds", [E(1), E(1) + 1n]);
      await insurance.withdrawPolicyFunds(s(E(1)), { from: insurer() });
      await expectRevert(insurance.withdrawPolicyFunds("1", { from: insurer() }), "InsufficientAvailableFunds", [0, 1]);
      // paying releases the reservation into the practitioner's payout
      await insurance.payClaim(id, { from: insurer() });
      const after = await policy();
      assert.strictEqual(after.funds, 0n);
      assert.strictEqual(after.reserved, 0n);
      assert.strictEqual(await payout(), E(2));
    });

    it("a suspended insurer can still withdraw its available funds", async () => {
      await publish({ fund: E(2) });
      await ml.suspendAccount(insurer(), b32(), { from: c.admin });
      const before = await balance(insurer());
      const r = await insurance.withdrawPolicyFunds(s(E(2)), { from: insurer() });
      assert.strictEqual(await balance(insurer()), before - gasCost(r) + E(2));
    });
  });

  describe("submitClaim: preconditions", () => {
    beforeEach(async () => {
      await publish({ covered: mask(CAT.CLAIMS, CAT.LAB) });
    });

    it("refuses unverified practitioners", async () => {
      // the patient's own claim document does not make the patient a practitioner
      const own = await fileDoc({ from: c.patient });
      for (const who of [c.pendingPractitioner, c.suspendedPractitioner, insurer(), c.patient]) {
        await expectRevert(submit({ amount: 1n, from: who, doc: own }), "NotAVerifiedPractitioner", [who]);
      }
    });

    it("refuses a zero claim id and a zero amount; a zero document id is a document that does not exist", async () => {
      await expectRevert(submit({ amount: 1n, id: ZERO }), "InvalidClaimId", []);
      await expectRevert(submit({ amount: 0n }), "InvalidAmount", []);
      await expectRevert(submit({ amount: 1n, doc: ZERO }), "InvalidClaimDocument", [ZERO]);
    });

    it("refuses a duplicate claim id, whether settled or pending", async () => {
      const settled = await submit({ amount: E(0.1) });
      await expectRevert(submit({ amount: E(0.1), id: settled.id }), "ClaimExists", [settled.id]);
      const pending = await submit({ amount: E(2) });
      await expectRevert(submit({ amount: E(0.1), id: pending.id }), "ClaimExists", [pending.id]);
      await expectRevert(submit({ amount: E(0.1), id: pending.id, from: c.practitioner2 }), "ClaimExists", [pending.id]);
    });

    it("refuses a document already claimed, naming the claim that has it, whether settled, waiting or denied; another practitioner cannot name it at all", async () => {
      const first = await submit({ amount: E(0.1) });
      await expectRevert(submit({ amount: E(0.1), doc: first.doc }), "DuplicateClaimDocument", [first.doc, first.id]);
      // not the other practitioner's document: refused as such, before the duplicate is looked at
      await expectRevert(submit({ amount: E(0.2), doc: first.doc, from: c.practitioner2 }), "InvalidClaimDocument", [first.doc]);
      const denied = await submit({ amount: E(2) });
      await expectRevert(submit({ amount: E(0.1), doc: denied.doc }), "DuplicateClaimDocument", [denied.doc, denied.id]);
      await insurance.denyClaim(denied.id, b32(), { from: insurer() });
      await expectRevert(submit({ amount: E(0.1), doc: denied.doc }), "DuplicateClaimDocument", [denied.doc, denied.id]);
    });

    it("a refused submission does not use up its claim id or document", async () => {
      const id = b32("claim");
      const doc = await fileDoc();
      await ml.revoke(insurer(), { from: c.patient });
      await expectRevert(submit({ amount: E(0.1), id, doc }), "InsurerNotPermitted", [c.patient, insurer(), CAT.CLAIMS]);
      assert.strictEqual(Number((await insurance.claimOf(id)).status), ClaimStatus.None);
      await ml.grant(insurer(), mask(CAT.CLAIMS), false, now + DAY, { from: c.patient });
      const { r } = await submit({ amount: E(0.1), id, doc });
      expectSettled(r, id, E(0.1));
    });

    it("refuses a patient who is not one", async () => {
      await expectRevert(submit({ amount: 1n, patient: c.stranger, doc: unfiled() }), "NotAPatient", [c.stranger]);
      await expectRevert(submit({ amount: 1n, patient: c.practitioner2, doc: unfiled() }), "NotAPatient", [c.practitioner2]);
    });

    it("refuses an insurer that is not verified, and a verified insurer without a policy", async () => {
      await expectRevert(submit({ amount: 1n, ins: c.pendingInsurer }), "NotAVerifiedInsurer", [c.pendingInsurer]);
      await expectRevert(submit({ amount: 1n, ins: c.practitioner2 }), "NotAVerifiedInsurer", [c.practitioner2]);
      await expectRevert(submit({ amount: 1n, ins: c.insurer2 }), "NoPolicy", [c.insurer2]);
      await ml.suspendAccount(insurer(), b32(), { from: c.admin });
      await expectRevert(submit({ amount: 1n }), "NotAVerifiedInsurer", [insurer()]);
    });

    it("refuses a practitioner without a grant from the patient covering the claimed category: none, revoked, expired, other categories", async () => {
      // none: practitioner3 could file no document for the patient, and another's is not its own
      const others = await fileDoc();
      await expectRevert(submit({ amount: 1n, from: c.practitioner3, doc: others }), "InvalidClaimDocument", [others]);
      // revoked after practitioner2 filed its document
      const doc2 = await fileDoc({ from: c.practitioner2 });
      await ml.revoke(c.practitioner2, { from: c.patient });
      await expectRevert(submit({ amount: 1n, from: c.practitioner2, doc: doc2 }), "PractitionerNotPermitted", [c.patient, c.practitioner2, CAT.CLAIMS]);
      // expired
      await ml.grant(c.practitioner3, mask(CAT.CLAIMS), true, now + 100, { from: c.patient });
      const ok = await submit({ amount: 1n, from: c.practitioner3 });
      expectEvent(ok.r, "ClaimSubmitted", { claimId: ok.id, practitioner: c.practitioner3 });
      const doc3 = await fileDoc({ from: c.practitioner3 });
      await increaseTime(200);
      await expectRevert(submit({ amount: 1n, from: c.practitioner3, doc: doc3 }), "PractitionerNotPermitted", [c.patient, c.practitioner3, CAT.CLAIMS]);
      // unexpired, covering Claims, GENERAL and LAB but not the IMAGING care claimed
      await expectRevert(submit({ amount: 1n, cat: CAT.IMAGING }), "PractitionerNotPermitted", [c.patient, doctor(), CAT.IMAGING]);
    });

    it("refuses an insurer without the patient's consent on Claims, whatever category is claimed: none, other categories only, revoked, expired", async () => {
      // insurer2 reads Claims only: that is enough for a LAB claim
      await publish({ from: c.insurer2, covered: mask(CAT.CLAIMS, CAT.LAB) });
      const lab = await submit({ amount: 1n, ins: c.insurer2, cat: CAT.LAB });
      expectEvent(lab.r, "ClaimSubmitted", { claimId: lab.id, insurer: c.insurer2, category: CAT.LAB });
      await submit({ amount: 1n, ins: c.insurer2, cat: CAT.CLAIMS });
      // patient3 granted the practitioner but no insurer, then the insurer LAB only
      await ml.grant(doctor(), mask(CAT.GENERAL, CAT.LAB, CAT.CLAIMS), true, now + DAY, { from: c.patient3 });
      await expectRevert(submit({ amount: 1n, patient: c.patient3 }), "InsurerNotPermitted", [c.patient3, insurer(), CAT.CLAIMS]);
      await ml.grant(insurer(), mask(CAT.LAB), false, now + DAY, { from: c.patient3 });
      await expectRevert(submit({ amount: 1n, patient: c.patient3, cat: CAT.LAB }), "InsurerNotPermitted", [c.patient3, insurer(), CAT.CLAIMS]);
      await ml.revoke(c.insurer2, { from: c.patient });
      await expectRevert(submit({ amount: 1n, ins: c.insurer2 }), "InsurerNotPermitted", [c.patient, c.insurer2, CAT.CLAIMS]);
      await ml.grant(c.insurer2, mask(CAT.CLAIMS), false, now + 100, { from: c.patient });
      await submit({ amount: 1n, ins: c.insurer2 });
      await increaseTime(200);
      await expectRevert(submit({ amount: 1n, ins: c.insurer2, cat: CAT.LAB }), "InsurerNotPermitted", [c.patient, c.insurer2, CAT.CLAIMS]);
    });
  });

  describe("submitClaim: policy rules", () => {
    it("a claim inside the policy is paid at once: events, claim, usage, funds, payout", async () => {
      await publish({ perClaim: E(1), annual: E(3), deductible: 0n, fund: E(10) });
      const id = b32("claim");
      const doc = await fileDoc();
      const { r } = await submit({ amount: E(0.4), id, doc });
      expectEvent(r, "ClaimSubmitted", { claimId: id, practitioner: doctor(), patient: c.patient, insurer: insurer(), documentRecordId: doc, amount: E(0.4), category: CAT.CLAIMS });
      expectSettled(r, id, E(0.4));
      const cl = await insurance.claimOf(id);
      assert.strictEqual(cl.practitioner, doctor());
      assert.strictEqual(cl.patient, c.patient);
      assert.strictEqual(cl.insurer, insurer());
      assert.strictEqual(cl.documentRecordId, doc);
      assert.strictEqual(s(cl.amount), s(E(0.4)));
      assert.strictEqual(s(cl.payout), s(E(0.4)));
      assert.strictEqual(Number(cl.status), ClaimStatus.Paid);
      assert.strictEqual(Number(cl.pendingReason), PendingReason.None);
      assert.strictEqual(Number(cl.category), CAT.CLAIMS);
      assert.strictEqual(s(cl.policyYear), s(await insurance.currentPolicyYear()));
      const ts = Number((await web3.eth.getBlock(r.receipt.blockNumber)).timestamp);
      assert.strictEqual(Number(cl.submittedAt), ts);
      assert.strictEqual(s(cl.policyYear), String(Math.floor(ts / (365 * DAY))));
      assert.strictEqual(cl.denialReasonHash, ZERO);
      assert.deepStrictEqual(await usage(), { deductibleUsed: 0n, paid: E(0.4) });
      assert.strictEqual((await policy()).funds, E(9.6));
      assert.strictEqual(await payout(), E(0.4));
    });

    it("an unknown claim reads as all zero", async () => {
      const cl = await insurance.claimOf(b32());
      assert.strictEqual(Number(cl.status), ClaimStatus.None);
      assert.strictEqual(cl.practitioner, "0x0000000000000000000000000000000000000000");
    });

    it("per-claim limit: exactly the limit settles, one wei more goes to review (OverPerClaimLimit)", async () => {
      await publish({ perClaim: E(1), annual: E(10), fund: E(10) });
      const a = await submit({ amount: E(1) });
      expectSettled(a.r, a.id, E(1));
      const b = await submit({ amount: E(1) + 1n });
      expectPending(b.r, b.id, PendingReason.OverPerClaimLimit);
      const cl = await insurance.claimOf(b.id);
      assert.strictEqual(Number(cl.status), ClaimStatus.Submitted);
      assert.strictEqual(Number(cl.pendingReason), PendingReason.OverPerClaimLimit);
      assert.strictEqual(s(cl.payout), "0");
      assert.strictEqual((await usage()).paid, E(1), "a pending claim uses nothing");
      assert.strictEqual(await payout(), E(1));
    });

    it("category not covered by the policy goes to review (CategoryNotCovered), even with consent", async () => {
      await publish({ covered: mask(CAT.CLAIMS) });
      const { r, id } = await submit({ amount: E(0.1), cat: CAT.LAB }); // the practitioner's grant covers LAB
      expectPending(r, id, PendingReason.CategoryNotCovered);
      assert.strictEqual(Number((await insurance.claimOf(id)).pendingReason), PendingReason.CategoryNotCovered);
    });

    it("deductible: consumed first, partly across claims, then payouts in full", async () => {
      await publish({ perClaim: E(2), annual: E(10), deductible: E(0.5), fund: E(10) });
      // 0.2 inside the deductible: settled, nothing paid
      let x = await submit({ amount: E(0.2) });
      expectSettled(x.r, x.id, 0n);
      assert.strictEqual(Number((await insurance.claimOf(x.id)).status), ClaimStatus.Paid);
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.2), paid: 0n });
      // 0.5: 0.3 finishes the deductible, 0.2 paid
      x = await submit({ amount: E(0.5) });
      expectSettled(x.r, x.id, E(0.2));
      assert.strictEqual(s((await insurance.claimOf(x.id)).payout), s(E(0.2)));
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.5), paid: E(0.2) });
      // deductible used up: 0.4 paid in full
      x = await submit({ amount: E(0.4) });
      expectSettled(x.r, x.id, E(0.4));
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.5), paid: E(0.6) });
      assert.strictEqual(await payout(), E(0.6));
      assert.strictEqual((await policy()).funds, E(9.4));
      // the deductible is per patient: the other patient starts afresh
      x = await submit({ amount: E(0.5), patient: c.otherPatient });
      expectSettled(x.r, x.id, 0n);
      assert.deepStrictEqual(await usage(c.otherPatient), { deductibleUsed: E(0.5), paid: 0n });
    });

    it("a claim exactly equal to the deductible left settles with nothing paid", async () => {
      await publish({ perClaim: E(2), annual: E(10), deductible: E(0.5) });
      await submit({ amount: E(0.3) });
      const x = await submit({ amount: E(0.2) });
      expectSettled(x.r, x.id, 0n);
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.5), paid: 0n });
      const y = await submit({ amount: 1n });
      expectSettled(y.r, y.id, 1n);
    });

    it("annual limit across several claims: exactly reached settles, one wei more goes to review", async () => {
      await publish({ perClaim: E(1), annual: E(2), fund: E(10) });
      for (const amt of [E(0.5), E(0.7), E(0.8)]) {
        const x = await submit({ amount: amt });
        expectSettled(x.r, x.id, amt);
      }
      assert.strictEqual((await usage()).paid, E(2));
      const over = await submit({ amount: 1n });
      expectPending(over.r, over.id, PendingReason.OverAnnualLimit);
      assert.strictEqual((await usage()).paid, E(2));
    });

    it("annual limit exceeded by the claim that would cross it, even if smaller claims still fit", async () => {
      await publish({ perClaim: E(1), annual: E(1.5), fund: E(10) });
      await submit({ amount: E(1) });
      const over = await submit({ amount: E(0.6) });
      expectPending(over.r, over.id, PendingReason.OverAnnualLimit);
      const fits = await submit({ amount: E(0.5) });
      expectSettled(fits.r, fits.id, E(0.5));
    });

    it("the annual limit applies to the payout after the deductible", async () => {
      await publish({ perClaim: E(2), annual: E(1), deductible: E(0.5), fund: E(10) });
      const x = await submit({ amount: E(1.5) }); // 0.5 deductible + 1.0 payout = exactly the limit
      expectSettled(x.r, x.id, E(1));
      assert.deepStrictEqual(await usage(), { deductibleUsed: E(0.5), paid: E(1) });
    });

    it("a claim over the annual limit does not consume the deductible", async () => {
      await publish({ perClaim: E(2), annual: E(1), deductible: E(0.5), fund: E(10) });
      const x = await submit({ amount: E(1.5) + 1n });
      expectPending(x.r, x.id, PendingReason.OverAnnualLimit);
      assert.deepStrictEqual(await usage(), { deductibleUsed: 0n, paid: 0n });
    });

    it("the annual limit is per patient and per policy year", async () => {
      await publish({ perClaim: E(1), annual: E(1), deductible: E(0.1), fund: E(10) });
      await submit({ amount: E(1) }); // 0.1 deductible + 0.9 paid
      await submit({ amount: E(0.1) }); // reaches the limit exactly
      const blocked = await submit({ amount: 1n });
      expectPending(blocked.r, blocked.id, PendingReason.OverAnnualLimit);
      const other = await submit({ amount: E(1), patient: c.otherPatient });
      expectSettled(other.r, other.id, E(0.9));
      const year = BigInt(s(await insurance.currentPolicyYear()));
      await increaseTime(365 * DAY);
      assert.strictEqual(BigInt(s(await insurance.currentPolicyYear())), year + 1n);
      assert.deepStrictEqual(await usage(), { deductibleUsed: 0n, paid: 0n });
      const fresh = await submit({ amount: E(0.5) });
      expectSettled(fresh.r, fresh.id, E(0.4)); // a new deductible too
      // last year's usage is kept
      const last = await insurance.annualUsageOf(insurer(), c.patient, s(year));
      assert.strictEqual(s(last.paid), s(E(1)));
    });

    it("insufficient funds: a payout of exactly the available funds settles, one wei more goes to review", async () => {
      await publish({ perClaim: E(5), annual: E(10), fund: E(1) });
      const over = await submit({ amount: E(1) + 1n });
      expectPending(over.r, over.id, PendingReason.InsufficientFunds);
      const exact = await submit({ amount: E(1) });
      expectSettled(exact.r, exact.id, E(1));
      assert.strictEqual((await policy()).funds, 0n);
      const none = await submit({ amount: 1n });
      expectPending(none.r, none.id, PendingReason.InsufficientFunds);
    });

    it("insufficient funds counts reserved funds as unavailable", async () => {
      await publish({ perClaim: E(1), annual: E(10), fund: E(2) });
      const big = await submit({ amount: E(1.5) });
      await insurance.approveClaim(big.id, s(E(1.5)), { from: insurer() });
      const over = await submit({ amount: E(0.5) + 1n });
      expectPending(over.r, over.id, PendingReason.InsufficientFunds);
      const exact = await submit({ amount: E(0.5) });
      expectSettled(exact.r, exact.id, E(0.5));
    });

    it("rules are checked in order: category, per-claim limit, annual limit, funds", async () => {
      await publish({ covered: mask(CAT.CLAIMS), perClaim: E(1), annual: E(1), fund: E(0.1) });
      let x = await submit({ amount: E(5), cat: CAT.LAB }); // breaks all four
      expectPending(x.r, x.id, PendingReason.CategoryNotCovered);
      x = await submit({ amount: E(5) }); // per-claim, annual, funds
      expectPending(x.r, x.id, PendingReason.OverPerClaimLimit);
      await publish({ covered: mask(CAT.CLAIMS), perClaim: E(5), annual: E(1), fund: 0n });
      x = await submit({ amount: E(2) }); // annual and funds
      expectPending(x.r, x.id, PendingReason.OverAnnualLimit);
    });

    it("new terms apply to claims submitted afterwards", async () => {
      await publish({ perClaim: E(1) });
      const a = await submit({ amount: E(0.8) });
      expectSettled(a.r, a.id, E(0.8));
      await publish({ perClaim: E(0.5), fund: 0n });
      const b = await submit({ amount: E(0.8) });
      expectPending(b.r, b.id, PendingReason.OverPerClaimLimit);
      assert.strictEqual(Number((await insurance.claimOf(a.id)).status), ClaimStatus.Paid);
    });
  });

  describe("the insurer's review: approve, deny, pay", () => {
    let pending; // 2 ether claim over the 1 ether per-claim limit
    beforeEach(async () => {
      await publish({ perClaim: E(1), annual: E(3), deductible: E(0.5), fund: E(10) });
      pending = await submit({ amount: E(2) });
      expectPending(pending.r, pending.id, PendingReason.OverPerClaimLimit);
    });

    it("approveClaim for a lower amount reserves it, counts it against the annual limit, and emits ClaimApproved", async () => {
      const r = await insurance.approveClaim(pending.id, s(E(1.2)), { from: insurer() });
      expectEvent(r, "ClaimApproved", { claimId: pending.id, payout: E(1.2) });
      const cl = await insurance.claimOf(pending.id);
      assert.strictEqual(Number(cl.status), ClaimStatus.Approved);
      assert.strictEqual(s(cl.payout), s(E(1.2)));
      const p = await policy();
      assert.strictEqual(p.reserved, E(1.2));
      assert.strictEqual(p.funds, E(10), "approval moves no funds");
      assert.deepStrictEqual(await usage(), { deductibleUsed: 0n, paid: E(1.2) });
      assert.strictEqual(await payout(), 0n);
      // the approved payout counts against the annual limit of later claims
      const x = await submit({ amount: E(1) }); // 0.5 deductible + 0.5 payout: 1.7 ≤ 3
      expectSettled(x.r, x.id, E(0.5));
      const y = await submit({ amount: E(1) }); // 1.7 + 1 = 2.7 ≤ 3
      expectSettled(y.r, y.id, E(1));
      const z = await submit({ amount: E(0.3) + 1n }); // 2.7 + 0.3 + 1 wei > 3
      expectPending(z.r, z.id, PendingReason.OverAnnualLimit);
    });

    it("approveClaim for exactly the claimed amount is allowed; above it, zero, or above the available funds is refused", async () => {
      await expectRevert(insurance.approveClaim(pending.id, s(E(2) + 1n), { from: insurer() }), "PayoutExceedsClaim", [E(2) + 1n, E(2)]);
      await expectRevert(insurance.approveClaim(pending.id, "0", { from: insurer() }), "InvalidAmount", []);
      await insurance.withdrawPolicyFunds(s(E(8.5)), { from: insurer() });
      await expectRevert(insurance.approveClaim(pending.id, s(E(2)), { from: insurer() }), "InsufficientAvailableFunds", [E(1.5), E(2)]);
      await insurance.fundPolicy({ from: insurer(), value: s(E(0.5)) });
      const r = await insurance.approveClaim(pending.id, s(E(2)), { from: insurer() });
      expectEvent(r, "ClaimApproved", { payout: E(2) });
      assert.strictEqual((await policy()).reserved, E(2));
    });

    it("payClaim moves the reserved payout to the practitioner, who withdraws it (gas accounted)", async () => {
      await insurance.approveClaim(pending.id, s(E(1.2)), { from: insurer() });
      const r = await insurance.payClaim(pending.id, { from: insurer() });
      expectEvent(r, "ClaimPaid", { claimId: pending.id, practitioner: doctor(), payout: E(1.2), automatic: false });
      const p = await policy();
      assert.strictEqual(p.funds, E(8.8));
      assert.strictEqual(p.reserved, 0n);
      assert.strictEqual(Number((await insurance.claimOf(pending.id)).status), ClaimStatus.Paid);
      assert.strictEqual(await payout(), E(1.2));
      assert.deepStrictEqual(await usage(), { deductibleUsed: 0n, paid: E(1.2) }, "paying does not count twice");

      const before = await balance(doctor());
      const held = await balance(insurance.address);
      const w = await insurance.withdrawPayout({ from: doctor() });
      expectEvent(w, "PayoutWithdrawn", { practitioner: doctor(), amount: E(1.2) });
      assert.strictEqual(await balance(doctor()), before - gasCost(w) + E(1.2));
      assert.strictEqual(await balance(insurance.address), held - E(1.2));
      assert.strictEqual(await payout(), 0n);
      await expectRevert(insurance.withdrawPayout({ from: doctor() }), "NothingToWithdraw", []);
    });

    it("withdrawPayout pays the sum of every claim credited, automatic and reviewed", async () => {
      await insurance.approveClaim(pending.id, s(E(1)), { from: insurer() });
      await insurance.payClaim(pending.id, { from: insurer() });
      await submit({ amount: E(0.7) }); // 0.5 deductible, 0.2 paid
      await submit({ amount: E(0.3) });
      assert.strictEqual(await payout(), E(1.5));
      const before = await balance(doctor());
      const w = await insurance.withdrawPayout({ from: doctor() });
      assert.strictEqual(await balance(doctor()), before - gasCost(w) + E(1.5));
    });

    it("denyClaim stores the reason hash and emits ClaimDenied; nothing moves", async () => {
      const reason = b32("reason");
      const r = await insurance.denyClaim(pending.id, reason, { from: insurer() });
      expectEvent(r, "ClaimDenied", { claimId: pending.id, reasonHash: reason });
      const cl = await insurance.claimOf(pending.id);
      assert.strictEqual(Number(cl.status), ClaimStatus.Denied);
      assert.strictEqual(cl.denialReasonHash, reason);
      assert.strictEqual(s(cl.payout), "0");
      const p = await policy();
      assert.strictEqual(p.funds, E(10));
      assert.strictEqual(p.reserved, 0n);
      assert.deepStrictEqual(await usage(), { deductibleUsed: 0n, paid: 0n });
      await expectRevert(insurance.denyClaim(pending.id, ZERO, { from: insurer() }), "InvalidClaimTransition", [pending.id, ClaimStatus.Denied, ClaimStatus.Denied]);
    });

    it("denyClaim refuses a zero reason", async () => {
      await expectRevert(insurance.denyClaim(pending.id, ZERO, { from: insurer() }), "InvalidReasonHash", []);
    });

    it("review functions refuse unknown claims and other insurers", async () => {
      const unknown = b32();
      await expectRevert(insurance.approveClaim(unknown, "1", { from: insurer() }), "UnknownClaim", [unknown]);
      await expectRevert(insurance.denyClaim(unknown, b32(), { from: insurer() }), "UnknownClaim", [unknown]);
      await expectRevert(insurance.payClaim(unknown, { from: insurer() }), "UnknownClaim", [unknown]);
      await publish({ from: c.insurer2 });
      await expectRevert(insurance.approveClaim(pending.id, "1", { from: c.insurer2 }), "NotClaimInsurer", [pending.id, c.insurer2]);
      await expectRevert(insurance.denyClaim(pending.id, b32(), { from: c.insurer2 }), "NotClaimInsurer", [pending.id, c.insurer2]);
      await expectRevert(insurance.payClaim(pending.id, { from: c.insurer2 }), "NotClaimInsurer", [pending.id, c.insurer2]);
      await expectRevert(insurance.payClaim(pending.id, { from: doctor() }), "NotClaimInsurer", [pending.id, doctor()]);
    });

    it("a suspended insurer judges nothing new but still pays what it approved", async () => {
      const second = await submit({ amount: E(1.5) });
      await insurance.approveClaim(second.id, s(E(1.5)), { from: insurer() });
      await ml.suspendAccount(insurer(), b32(), { from: c.admin });
      await expectRevert(insurance.approveClaim(pending.id, "1", { from: insurer() }), "NotAVerifiedInsurer", [insurer()]);
      await expectRevert(insurance.denyClaim(pending.id, b32(), { from: insurer() }), "NotAVerifiedInsurer", [insurer()]);
      const r = await insurance.payClaim(second.id, { from: insurer() });
      expectEvent(r, "ClaimPaid", { claimId: second.id, payout: E(1.5), automatic: false });
      await insurance.fundPolicy({ from: insurer(), value: "1" }); // funding is not judging
    });

    it("only the allowed edges: Submitted→Approved|Denied, Approved→Paid; every other edge reverts", async () => {
      const T = ClaimStatus;
      const settled = await submit({ amount: E(0.6) }); // None → Paid
      expectSettled(settled.r, settled.id, E(0.1));
      const denied = await submit({ amount: E(3) });
      await insurance.denyClaim(denied.id, b32(), { from: insurer() });
      const approved = await submit({ amount: E(2.5) });
      await insurance.approveClaim(approved.id, s(E(1)), { from: insurer() });

      // from Submitted: pay is not allowed
      await expectRevert(insurance.payClaim(pending.id, { from: insurer() }), "InvalidClaimTransition", [pending.id, T.Submitted, T.Paid]);
      // from Approved: approve again, deny
      await expectRevert(insurance.approveClaim(approved.id, "1", { from: insurer() }), "InvalidClaimTransition", [approved.id, T.Approved, T.Approved]);
      await expectRevert(insurance.denyClaim(approved.id, b32(), { from: insurer() }), "InvalidClaimTransition", [approved.id, T.Approved, T.Denied]);
      // from Denied: everything
      await expectRevert(insurance.approveClaim(denied.id, "1", { from: insurer() }), "InvalidClaimTransition", [denied.id, T.Denied, T.Approved]);
      await expectRevert(insurance.denyClaim(denied.id, b32(), { from: insurer() }), "InvalidClaimTransition", [denied.id, T.Denied, T.Denied]);
      await expectRevert(insurance.payClaim(denied.id, { from: insurer() }), "InvalidClaimTransition", [denied.id, T.Denied, T.Paid]);
      // from Paid (automatically or by the insurer): everything
      await insurance.payClaim(approved.id, { from: insurer() });
      for (const id of [settled.id, approved.id]) {
        await expectRevert(insurance.approveClaim(id, "1", { from: insurer() }), "InvalidClaimTransition", [id, T.Paid, T.Approved]);
        await expectRevert(insurance.denyClaim(id, b32(), { from: insurer() }), "InvalidClaimTransition", [id, T.Paid, T.Denied]);
        await expectRevert(insurance.payClaim(id, { from: insurer() }), "InvalidClaimTransition", [id, T.Paid, T.Paid]);
      }
    });
  });

  describe("fund conservation over a longer mixed sequence", () => {
    it("two insurers, several practitioners and patients, every operation", async () => {
      await publish({ perClaim: E(1), annual: E(2), deductible: E(0.2), fund: E(4) });
      await publish({ from: c.insurer2, perClaim: E(0.5), annual: E(1), deductible: 0n, fund: E(1) });
      const check = () => assertConserved(insurance, accounts); // here over all twenty accounts
      const a = await submit({ amount: E(0.9) });
      await check();
      const b = await submit({ amount: E(1.5), from: c.practitioner2 });
      await insurance.approveClaim(b.id, s(E(1.1)), { from: insurer() });
      await check();
      const d = await submit({ amount: E(0.4), ins: c.insurer2, patient: c.otherPatient });
      await check();
      const e = await submit({ amount: E(0.6), ins: c.insurer2 });
      await insurance.denyClaim(e.id, b32(), { from: c.insurer2 });
      await insurance.withdrawPolicyFunds(s(E(0.3)), { from: c.insurer2 });
      await check();
      await insurance.payClaim(b.id, { from: insurer() });
      await insurance.withdrawPayout({ from: c.practitioner2 });
      await check();
      await insurance.fundPolicy({ from: c.insurer2, value: s(E(0.05)) });
      await insurance.withdrawPayout({ from: doctor() });
      await check();
      const p1 = await policy();
      const p2 = await policy(c.insurer2);
      assert.strictEqual(p1.funds, E(4) - E(0.7) - E(1.1)); // a paid 0.9-0.2, b paid 1.1
      assert.strictEqual(p2.funds, E(1) - E(0.4) - E(0.3) + E(0.05));
      assert.strictEqual(await balance(insurance.address), p1.funds + p2.funds);
      for (const x of [a, d]) assert.strictEqual(Number((await insurance.claimOf(x.id)).status), ClaimStatus.Paid);
    });
  });
});
