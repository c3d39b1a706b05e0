// The insurance contract as a contract of its own beside the core: its constructor, core(), what
// the core no longer has (insurance functions, ether), and that the insurance contract judges
// every claim by the core it was deployed with, through the core's views, from the same block.
const assert = require("assert");
const { expectRevert, expectEvent, snapshotFixture, latestTimestamp, balance } = require("./helpers/chain");
const { MedLedger, MedLedgerInsurance, deploy, deployInsurance, cast, b32, mask, CAT, DAY, ETHER, registerAll } = require("./helpers/world");
const { fileClaimDocument } = require("./helpers/insurance");

const ZERO_ADDRESS = "0x" + "00".repeat(20);
const s = (x) => x.toString();

/** The insurance functions, events and errors as they were in the core's ABI before the split. */
const INSURANCE_FUNCTIONS = [
  "publishPolicy",
  "fundPolicy",
  "withdrawPolicyFunds",
  "policyOf",
  "annualUsageOf",
  "currentPolicyYear",
  "submitClaim",
  "approveClaim",
  "denyClaim",
  "payClaim",
  "withdrawPayout",
  "claimOf",
  "payoutOf",
  "POLICY_YEAR",
  "CLAIMS_CATEGORY",
];
const INSURANCE_EVENTS = [
  "PolicyPublished",
  "PolicyFunded",
  "PolicyFundsWithdrawn",
  "ClaimSubmitted",
  "ClaimPendingReview",
  "ClaimApproved",
  "ClaimDenied",
  "ClaimPaid",
  "PayoutWithdrawn",
];

const names = (abi, type) => abi.filter((e) => e.type === type).map((e) => e.name);
const signature = (e) => `${e.name}(${e.inputs.map((i) => i.type).join(",")})`;

contract("MedLedgerInsurance: a contract beside the core", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml;
  let insurance;

  before(async () => {
    ml = await deploy(c);
    insurance = await deployInsurance(c, ml);
    await registerAll(ml, c);
    const t = await latestTimestamp();
    await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL, CAT.CLAIMS), true, t + 30 * DAY, { from: c.patient });
    await ml.grant(c.verifiedInsurer, mask(CAT.CLAIMS), false, t + 30 * DAY, { from: c.patient });
    await insurance.publishPolicy(mask(CAT.CLAIMS), s(ETHER), s(10n * ETHER), "0", { from: c.verifiedInsurer, value: s(5n * ETHER) });
    await fx.take();
  });
  beforeEach(async () => {
    await fx.restore();
  });

  describe("constructor and core()", () => {
    it("core() is the core it was deployed with", async () => {
      assert.strictEqual(await insurance.core(), ml.address);
    });

    it("refuses the zero address as its core with InvalidCore", async () => {
      await expectRevert(MedLedgerInsurance.new(ZERO_ADDRESS, { from: c.admin }), "InvalidCore", [ZERO_ADDRESS]);
    });

    it("refuses an account without code (an EOA) as its core with InvalidCore", async () => {
      await expectRevert(MedLedgerInsurance.new(c.stranger, { from: c.admin }), "InvalidCore", [c.stranger]);
    });

    it("a second insurance contract on the same core is independent: its own policies, the core's accounts", async () => {
      const other = await deployInsurance(c, ml);
      assert.strictEqual(await other.core(), ml.address);
      assert.strictEqual((await other.policyOf(c.verifiedInsurer)).published, false);
      await expectRevert(other.publishPolicy(mask(CAT.CLAIMS), "1", "1", "0", { from: c.pendingInsurer }), "NotAVerifiedInsurer", [c.pendingInsurer]);
      const r = await other.publishPolicy(mask(CAT.CLAIMS), "1", "1", "0", { from: c.verifiedInsurer });
      expectEvent(r, "PolicyPublished", { insurer: c.verifiedInsurer });
    });
  });

  describe("the core without insurance", () => {
    it("the core's ABI has none of the insurance functions, events or errors it had", async () => {
      const coreFns = names(MedLedger.abi, "function");
      for (const fn of INSURANCE_FUNCTIONS) {
        assert.ok(!coreFns.includes(fn), `the core still has ${fn}`);
        assert.ok(names(MedLedgerInsurance.abi, "function").includes(fn), `the insurance contract lacks ${fn}`);
      }
      for (const ev of INSURANCE_EVENTS) {
        assert.ok(!names(MedLedger.abi, "event").includes(ev), `the core still has event ${ev}`);
        assert.ok(names(MedLedgerInsurance.abi, "event").includes(ev), `the insurance contract lacks event ${ev}`);
      }
      for (const err of ["ClaimExists", "NoPolicy", "TransferFailed", "NotAVerifiedInsurer", "ReentrancyGuardReentrantCall"]) {
        assert.ok(!names(MedLedger.abi, "error").includes(err), `the core still has error ${err}`);
      }
    });

    it("an error both contracts declare has the same signature, so the same selector", async () => {
      const coreErrors = new Map(MedLedger.abi.filter((e) => e.type === "error").map((e) => [e.name, signature(e)]));
      const shared = MedLedgerInsurance.abi.filter((e) => e.type === "error" && coreErrors.has(e.name));
      assert.deepStrictEqual(shared.map((e) => e.name).sort(), ["InvalidCategories", "InvalidReasonHash", "NotAPatient", "NotAVerifiedPractitioner"]);
      for (const e of shared) assert.strictEqual(signature(e), coreErrors.get(e.name));
    });

    it("a call of an insurance function at the core's address reverts: the core has no such function and no fallback", async () => {
      const data = insurance.contract.methods.fundPolicy().encodeABI();
      let failed = false;
      try {
        await web3.eth.sendTransaction({ from: c.verifiedInsurer, to: ml.address, data, value: s(ETHER) });
      } catch (e) {
        failed = true;
      }
      assert.ok(failed, "fundPolicy at the core must revert");
      assert.strictEqual(await balance(ml.address), 0n);
    });

    it("the core has no payable function, and refuses ether sent with a call", async () => {
      const payable = MedLedger.abi.filter((e) => e.stateMutability === "payable").map((e) => e.name || e.type);
      assert.deepStrictEqual(payable, []);
      assert.ok(!MedLedger.abi.some((e) => e.type === "receive" || e.type === "fallback"));
      let failed = false;
      try {
        await ml.registerPatient(b32("key"), { from: c.stranger, value: "1" });
      } catch (e) {
        failed = true;
      }
      assert.ok(failed, "registerPatient with ether must revert");
      assert.strictEqual(await balance(ml.address), 0n);
    });

    it("the insurance contract's payable functions are the two that take policy funds", async () => {
      const payable = MedLedgerInsurance.abi.filter((e) => e.stateMutability === "payable").map((e) => e.name || e.type);
      assert.deepStrictEqual(payable.sort(), ["fundPolicy", "publishPolicy"]);
    });
  });

  describe("what the insurance contract asks the core, it asks live", () => {
    it("a claim's events come from the insurance contract, and the core logs nothing for it", async () => {
      const doc = await fileClaimDocument(ml, { patient: c.patient, from: c.verifiedPractitioner });
      const r = await insurance.submitClaim(b32("claim"), c.patient, c.verifiedInsurer, doc, s(ETHER / 10n), CAT.CLAIMS, { from: c.verifiedPractitioner });
      expectEvent(r, "ClaimPaid", { automatic: true });
      const emitters = [...new Set(r.receipt.rawLogs.map((l) => l.address.toLowerCase()))];
      assert.deepStrictEqual(emitters, [insurance.address.toLowerCase()]);
    });

    it("a suspension in the core refuses the practitioner's next claim; a reinstatement lets it claim again", async () => {
      const doc = await fileClaimDocument(ml, { patient: c.patient, from: c.verifiedPractitioner });
      await ml.suspendAccount(c.verifiedPractitioner, b32("reason"), { from: c.admin });
      const claim = () => insurance.submitClaim(b32("claim"), c.patient, c.verifiedInsurer, doc, "1", CAT.CLAIMS, { from: c.verifiedPractitioner });
      await expectRevert(claim(), "NotAVerifiedPractitioner", [c.verifiedPractitioner]);
      await ml.reinstateAccount(c.verifiedPractitioner, { from: c.admin });
      expectEvent(await claim(), "ClaimSubmitted", { documentRecordId: doc });
    });

    it("a revocation and an erasure in the core count for the next claim", async () => {
      const doc = await fileClaimDocument(ml, { patient: c.patient, from: c.verifiedPractitioner });
      const claim = (d) => insurance.submitClaim(b32("claim"), c.patient, c.verifiedInsurer, d, "1", CAT.CLAIMS, { from: c.verifiedPractitioner });
      await ml.revoke(c.verifiedInsurer, { from: c.patient });
      await expectRevert(claim(doc), "InsurerNotPermitted", [c.patient, c.verifiedInsurer, CAT.CLAIMS]);
      await ml.eraseRecord(doc, { from: c.patient });
      await expectRevert(claim(doc), "InvalidClaimDocument", [doc]);
    });

    it("an insurance contract on another core knows none of this core's accounts or records", async () => {
      const otherCore = await deploy(c);
      const other = await deployInsurance(c, otherCore);
      const doc = await fileClaimDocument(ml, { patient: c.patient, from: c.verifiedPractitioner });
      await expectRevert(
        other.submitClaim(b32("claim"), c.patient, c.verifiedInsurer, doc, "1", CAT.CLAIMS, { from: c.verifiedPractitioner }),
        "NotAVerifiedPractitioner",
        [c.verifiedPractitioner]
      );
      await expectRevert(other.publishPolicy(mask(CAT.CLAIMS), "1", "1", "0", { from: c.verifiedInsurer }), "NotAVerifiedInsurer", [c.verifiedInsurer]);
    });
  });
});
