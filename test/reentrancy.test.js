// Reentrancy: a contract practitioner / insurer (contracts/test/ReentrantActor.sol) calls back into
// MedLedgerInsurance from the receive() that withdrawPayout or withdrawPolicyFunds triggers.
const assert = require("assert");
const { expectRevert, expectEvent, snapshotFixture, latestTimestamp, decodeRevert, gasCost, balance, normalise } = require("./helpers/chain");
const { deploy, deployInsurance, cast, b32, mask, CAT, DAY, ETHER, registerAll } = require("./helpers/world");
const { assertConserved } = require("./helpers/insurance");

const ReentrantActor = artifacts.require("ReentrantActor");
const Mode = { Accept: 0, Reenter: 1, ReenterAndCatch: 2, Refuse: 3 };
const s = (x) => x.toString();

contract("MedLedger: reentrancy", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml; // the core
  let insurance; // MedLedgerInsurance on it: the contract that sends ether
  let doctorBot; // a practitioner contract with a 1 ether payout
  let insurerBot; // an insurer contract with a 5 ether policy
  // [target, calldata] of a call for the bots' exec and setMode: insurance functions go to the
  // insurance contract, the rest (registration, claim documents) to the core.
  const INSURANCE_FNS = new Set(["publishPolicy", "withdrawPolicyFunds", "submitClaim", "withdrawPayout"]);
  const enc = (fn, ...args) => {
    const target = INSURANCE_FNS.has(fn) ? insurance : ml;
    return [target.address, target.contract.methods[fn](...args).encodeABI()];
  };
  const NOBODY = "0x" + "00".repeat(20);
  const ZERO = "0x" + "00".repeat(32);
  /** The bot files a claim document for the patient itself (a claim document's author must be the claimant). */
  async function botDocument(bot) {
    const id = b32("doc");
    await bot.exec(...enc("addRecord", id, c.patient, b32("ct"), CAT.CLAIMS, ZERO));
    assert.strictEqual((await ml.recordOf(id)).author, bot.address);
    return id;
  }
  const everyone = () => [c.verifiedPractitioner, c.verifiedInsurer, doctorBot.address, insurerBot.address];

  before(async () => {
    ml = await deploy(c);
    insurance = await deployInsurance(c, ml);
    await registerAll(ml, c);
    doctorBot = await ReentrantActor.new();
    insurerBot = await ReentrantActor.new();
    await doctorBot.exec(...enc("applyAsPractitioner", b32("key"), b32("profile")));
    await insurerBot.exec(...enc("applyAsInsurer", b32("key"), b32("profile")));
    await ml.verifyAccount(doctorBot.address, { from: c.admin });
    await ml.verifyAccount(insurerBot.address, { from: c.admin });
    const t = await latestTimestamp();
    await ml.grant(doctorBot.address, mask(CAT.GENERAL, CAT.CLAIMS), true, t + 30 * DAY, { from: c.patient });
    await ml.grant(c.verifiedInsurer, mask(CAT.CLAIMS), false, t + 30 * DAY, { from: c.patient });
    await ml.grant(insurerBot.address, mask(CAT.CLAIMS), false, t + 30 * DAY, { from: c.patient });
    await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL), false, t + 30 * DAY, { from: c.patient });
    await insurance.publishPolicy(mask(CAT.CLAIMS), s(2n * ETHER), s(100n * ETHER), "0", { from: c.verifiedInsurer, value: s(10n * ETHER) });
    await insurerBot.exec(...enc("publishPolicy", mask(CAT.CLAIMS), s(2n * ETHER), s(100n * ETHER), "0"), { value: s(5n * ETHER) });
    const r = await doctorBot.exec(...enc("submitClaim", b32("claim"), c.patient, c.verifiedInsurer, await botDocument(doctorBot), s(ETHER), CAT.CLAIMS));
    assert.ok(r.receipt.status);
    assert.strictEqual(s(await insurance.payoutOf(doctorBot.address)), s(ETHER));
    await fx.take();
  });
  beforeEach(async () => {
    await fx.restore();
  });
  afterEach(async () => {
    await assertConserved(insurance, everyone());
  });

  it("a contract practitioner that simply accepts ether withdraws its payout once", async () => {
    const held = await balance(insurance.address);
    await doctorBot.exec(...enc("withdrawPayout"));
    assert.strictEqual(await balance(doctorBot.address), ETHER);
    assert.strictEqual(s(await doctorBot.received()), s(ETHER));
    assert.strictEqual(await balance(insurance.address), held - ETHER);
    await expectRevert(doctorBot.exec(...enc("withdrawPayout")), "NothingToWithdraw", []);
  });

  it("withdrawPayout re-entered from receive(): the re-entry is refused, so the whole withdrawal fails with TransferFailed", async () => {
    await doctorBot.setMode(Mode.Reenter, ...enc("withdrawPayout"));
    const held = await balance(insurance.address);
    await expectRevert(doctorBot.exec(...enc("withdrawPayout")), "TransferFailed", []);
    assert.strictEqual(await balance(doctorBot.address), 0n);
    assert.strictEqual(await balance(insurance.address), held);
    assert.strictEqual(s(await insurance.payoutOf(doctorBot.address)), s(ETHER), "the payout is still owed");
  });

  it("withdrawPayout re-entered and the failure swallowed: the inner call hits ReentrancyGuardReentrantCall, ether moves once", async () => {
    await doctorBot.setMode(Mode.ReenterAndCatch, ...enc("withdrawPayout"));
    const held = await balance(insurance.address);
    await doctorBot.exec(...enc("withdrawPayout"));
    assert.strictEqual(s(await doctorBot.reentryAttempts()), "1");
    assert.strictEqual(await doctorBot.lastReentryOk(), false);
    assert.strictEqual(decodeRevert(await doctorBot.lastReentryError()).name, "ReentrancyGuardReentrantCall");
    assert.strictEqual(await balance(doctorBot.address), ETHER);
    assert.strictEqual(await balance(insurance.address), held - ETHER);
    assert.strictEqual(s(await insurance.payoutOf(doctorBot.address)), "0");
  });

  it("withdrawPayout re-entering withdrawPolicyFunds (cross-function) is refused by the same guard", async () => {
    await doctorBot.setMode(Mode.ReenterAndCatch, ...enc("withdrawPolicyFunds", "1"));
    await doctorBot.exec(...enc("withdrawPayout"));
    assert.strictEqual(decodeRevert(await doctorBot.lastReentryError()).name, "ReentrancyGuardReentrantCall");
    assert.strictEqual(await balance(doctorBot.address), ETHER);
  });

  it("withdrawPolicyFunds re-entered from receive(): refused; with the failure swallowed the funds move once", async () => {
    await insurerBot.setMode(Mode.Reenter, ...enc("withdrawPolicyFunds", s(ETHER)));
    await expectRevert(insurerBot.exec(...enc("withdrawPolicyFunds", s(ETHER))), "TransferFailed", []);
    assert.strictEqual(s((await insurance.policyOf(insurerBot.address)).funds), s(5n * ETHER));
    assert.strictEqual(await balance(insurerBot.address), 0n);

    await insurerBot.setMode(Mode.ReenterAndCatch, ...enc("withdrawPolicyFunds", s(ETHER)));
    const r = await insurerBot.exec(...enc("withdrawPolicyFunds", s(ETHER)));
    assert.ok(r.receipt.status);
    assert.strictEqual(decodeRevert(await insurerBot.lastReentryError()).name, "ReentrancyGuardReentrantCall");
    assert.strictEqual(s((await insurance.policyOf(insurerBot.address)).funds), s(4n * ETHER));
    assert.strictEqual(await balance(insurerBot.address), ETHER);
  });

  it("withdrawPolicyFunds re-entering withdrawPayout (cross-function) is refused", async () => {
    await insurerBot.setMode(Mode.ReenterAndCatch, ...enc("withdrawPayout"));
    await insurerBot.exec(...enc("withdrawPolicyFunds", s(2n * ETHER)));
    assert.strictEqual(decodeRevert(await insurerBot.lastReentryError()).name, "ReentrancyGuardReentrantCall");
    assert.strictEqual(await balance(insurerBot.address), 2n * ETHER);
  });

  it("re-entering an unguarded function (submitClaim) during withdrawPayout cannot double-count: the new credit survives", async () => {
    // The payout is zeroed before the ether is sent, so a claim settled inside receive() adds to
    // a zero balance and is not overwritten when the outer call finishes.
    const doc = await botDocument(doctorBot);
    const id = b32("claim");
    await doctorBot.setMode(Mode.ReenterAndCatch, ...enc("submitClaim", id, c.patient, c.verifiedInsurer, doc, s(ETHER / 2n), CAT.CLAIMS));
    await doctorBot.exec(...enc("withdrawPayout"));
    assert.strictEqual(await doctorBot.lastReentryOk(), true);
    assert.strictEqual(Number((await insurance.claimOf(id)).status), 4);
    assert.strictEqual((await insurance.claimOf(id)).documentRecordId, doc);
    assert.strictEqual(await balance(doctorBot.address), ETHER);
    assert.strictEqual(s(await insurance.payoutOf(doctorBot.address)), s(ETHER / 2n));
  });

  it("a recipient that refuses ether makes the withdrawal revert with TransferFailed and keeps what it is owed", async () => {
    await doctorBot.setMode(Mode.Refuse, NOBODY, "0x");
    await expectRevert(doctorBot.exec(...enc("withdrawPayout")), "TransferFailed", []);
    await insurerBot.setMode(Mode.Refuse, NOBODY, "0x");
    await expectRevert(insurerBot.exec(...enc("withdrawPolicyFunds", "1")), "TransferFailed", []);
    assert.strictEqual(s(await insurance.payoutOf(doctorBot.address)), s(ETHER));
    await doctorBot.setMode(Mode.Accept, NOBODY, "0x");
    await doctorBot.exec(...enc("withdrawPayout"));
    assert.strictEqual(await balance(doctorBot.address), ETHER);
  });

  it("neither the core nor the insurance contract accepts a plain ether transfer (only policy funding)", async () => {
    for (const to of [ml.address, insurance.address]) {
      let failed = false;
      try {
        await web3.eth.sendTransaction({ from: c.stranger, to, value: "1" });
      } catch (e) {
        failed = true;
      }
      assert.ok(failed, `a plain transfer to ${to} must revert`);
    }
  });
});
