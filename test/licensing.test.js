// Licensing (MedLedgerLicensing, deployed beside the core and named in it by setLicensing): seats
// per role at their limit and one past it, the subscription's end to the second (block.timestamp <
// paidUntil) for reading, writing, verification and emergency access, paid renewals (the exact
// fee, from the current end or from now) and recorded ones, the fees and their withdrawal with
// exact balances, notice / termination / reinstatement, an organisation admin's delegated
// administration of its own practitioners and of nothing else, the core's licensing hooks, what no
// licence bears on (a patient's own records, practitioners verified by the platform admin,
// insurers), and patients' enrolment. The authorisation matrix has every call × party.
const assert = require("assert");
const { expectRevert, expectEvent, expectEventFrom, snapshotFixture, latestTimestamp, mineAt, gasCost, balance } = require("./helpers/chain");
const {
  MedLedger,
  MedLedgerInsurance,
  MedLedgerLicensing,
  deploy,
  deployLicensing,
  cast,
  b32,
  mask,
  CAT,
  DAY,
  ETHER,
  seats,
  LicenceStatus,
  Enrolment,
  AccountStatus,
} = require("./helpers/world");

const ZERO = "0x" + "00".repeat(32);
const ZERO_ADDRESS = "0x" + "00".repeat(20);
const FEE = ETHER / 10n; // the hospital's annual fee
const PERIOD = 365 * DAY; // SUBSCRIPTION_PERIOD
const ORG = 1; // St Mary's: fee FEE, seats 2 / 2 / 2, paid for 30 days
const OTHER = 2; // Northside: fee 0 (renewals recorded), seats 2 / 2 / 2, paid for 60 days
const SEAT = { admins: 0, practitioners: 1, patients: 2 }; // NoSeatLeft's role
const s = (x) => x.toString();
const n = (x) => Number(x.toString());

/** What a practitioner may do with the patient's General record now (views at the latest block). */
const ALL = { read: true, write: true, verified: true };
const NONE = { read: false, write: false, verified: false };

contract("MedLedgerLicensing: organisations, seats, subscription, notice", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml; // the core
  let lic; // MedLedgerLicensing on it, named by setLicensing
  let ADMIN_ROLE;
  let paidUntil; // ORG's subscription end
  const rec = {};
  const doctor = () => c.practitioner2; // verified for ORG by its admin
  const otherDoctor = () => c.practitioner3; // verified for OTHER by its admin

  before(async () => {
    ml = await deploy(c);
    lic = await deployLicensing(c, ml);
    ADMIN_ROLE = await ml.ADMIN_ROLE();
    for (const p of [c.patient, c.otherPatient, c.patient3]) await ml.registerPatient(b32("key"), { from: p });
    // pendingPractitioner and suspendedPractitioner only apply here: two applicants to verify.
    for (const p of [c.pendingPractitioner, c.suspendedPractitioner, c.verifiedPractitioner, c.practitioner2, c.practitioner3]) {
      await ml.applyAsPractitioner(b32("key"), b32("profile"), { from: p });
    }
    for (const i of [c.pendingInsurer, c.verifiedInsurer]) await ml.applyAsInsurer(b32("key"), b32("profile"), { from: i });
    await ml.verifyAccount(c.verifiedPractitioner, { from: c.admin }); // organisation 0
    await ml.verifyAccount(c.verifiedInsurer, { from: c.admin });
    const t = await latestTimestamp();
    await lic.createOrganisation("St Mary's Hospital", c.orgAdmin, seats(2, 2, 2), t + 30 * DAY, s(FEE), { from: c.admin });
    await lic.createOrganisation("Northside Clinic", c.otherOrgAdmin, seats(2, 2, 2), t + 60 * DAY, "0", { from: c.admin });
    paidUntil = n((await ml.licenceTermsOf(ORG)).paidUntil);
    await lic.verifyPractitioner(ORG, doctor(), { from: c.orgAdmin });
    await lic.verifyPractitioner(OTHER, otherDoctor(), { from: c.otherOrgAdmin });
    // The patient's grants outlast every date the tests reach: only the licence decides.
    const far = t + 3 * PERIOD;
    for (const p of [doctor(), otherDoctor(), c.verifiedPractitioner]) await ml.grant(p, mask(CAT.GENERAL), true, far, { from: c.patient });
    await ml.grant(c.verifiedInsurer, mask(CAT.GENERAL), false, far, { from: c.patient });
    rec.patient = b32("record");
    await ml.addRecord(rec.patient, c.patient, b32("ct"), CAT.GENERAL, ZERO, { from: c.patient });
    // patient3 grants nothing and opts in to emergency access.
    await ml.setEmergencyOptIn(true, { from: c.patient3 });
    rec.patient3 = b32("record");
    await ml.addRecord(rec.patient3, c.patient3, b32("ct"), CAT.GENERAL, ZERO, { from: c.patient3 });
    await fx.take();
  });
  beforeEach(async () => {
    await fx.restore();
  });

  const status = async (org = ORG) => n(await ml.licenceStatus(org));
  const terms = async (org = ORG) => {
    const t = await ml.licenceTermsOf(org);
    return { paidUntil: n(t.paidUntil), terminatesAt: n(t.terminatesAt) };
  };
  const used = async (org = ORG) => {
    const u = (await lic.organisationOf(org)).used;
    return { admins: n(u.admins), practitioners: n(u.practitioners), patients: n(u.patients) };
  };
  const feesHeld = async () => BigInt(s(await lic.feesHeld()));
  const blockTime = async (r) => n((await web3.eth.getBlock(r.receipt.blockNumber)).timestamp);
  const accountStatus = async (who) => n((await ml.accountOf(who)).status);

  /** The practitioner's reading, writing (the patient's General records) and verification now. */
  async function access(who, patient = c.patient, record = rec.patient) {
    return {
      read: await ml.canRead(patient, who, record),
      write: await ml.canWrite(patient, who, CAT.GENERAL),
      verified: await ml.isVerifiedPractitioner(who),
    };
  }

  /**
   * Send a transaction so that it is mined at exactly `ts`: the block before is mined at ts - 1
   * (unless the chain is there already) and the chain steps one second per block. `send(options)`
   * is given an explicit gas limit, so that no estimate (which runs on the block before) decides
   * the outcome. Resolves to { result } or, for a transaction that failed in that block, { error }.
   */
  async function sendAt(ts, send) {
    if ((await latestTimestamp()) !== ts - 1) await mineAt(ts - 1);
    let result = null;
    let error = null;
    try {
      result = await send({ gas: 1000000 });
    } catch (e) {
      error = e;
    }
    const receipt = result ? result.receipt : error.receipt;
    if (!receipt) throw error;
    assert.strictEqual(await blockTime({ receipt }), ts, "mined at the requested second");
    return { result, error };
  }

  describe("licensing beside the core", () => {
    it("core() is its core, the core names it, and its constants", async () => {
      assert.strictEqual(await lic.core(), ml.address);
      assert.strictEqual(await ml.licensing(), lic.address);
      assert.strictEqual(n(await lic.SUBSCRIPTION_PERIOD()), PERIOD);
      assert.strictEqual(n(await lic.MAX_ORGANISATION_NAME()), 64);
      assert.strictEqual(n(await lic.organisationCount()), 2);
    });

    it("refuses a core without code (the zero address, an EOA) with InvalidCore", async () => {
      await expectRevert(MedLedgerLicensing.new(ZERO_ADDRESS, { from: c.admin }), "InvalidCore", [ZERO_ADDRESS]);
      await expectRevert(MedLedgerLicensing.new(c.stranger, { from: c.admin }), "InvalidCore", [c.stranger]);
    });

    it("an error it shares with the core or the insurance contract has the same signature; renewSubscription is its one payable function and it takes no plain ether", async () => {
      const sig = (e) => `${e.name}(${e.inputs.map((i) => i.type).join(",")})`;
      const others = new Map([...MedLedger.abi, ...MedLedgerInsurance.abi].filter((e) => e.type === "error").map((e) => [e.name, sig(e)]));
      const shared = MedLedgerLicensing.abi.filter((e) => e.type === "error" && others.has(e.name));
      assert.deepStrictEqual(shared.map((e) => e.name).sort(), ["InvalidCore", "NotAPatient", "ReentrancyGuardReentrantCall", "WalletRetired"]);
      for (const e of shared) assert.strictEqual(sig(e), others.get(e.name));
      const payable = MedLedgerLicensing.abi.filter((e) => e.stateMutability === "payable").map((e) => e.name || e.type);
      assert.deepStrictEqual(payable, ["renewSubscription"]);
      let failed = false;
      try {
        await web3.eth.sendTransaction({ from: c.stranger, to: lic.address, value: s(FEE) });
      } catch (e) {
        failed = true;
      }
      assert.ok(failed, "plain ether must be refused");
      assert.strictEqual(await balance(lic.address), 0n);
    });
  });

  describe("organisations and their admins", () => {
    it("createOrganisation: the events, its first admin's seat, its terms in the core; every refusal", async () => {
      const t = await latestTimestamp();
      const name = "x".repeat(64);
      const r = await lic.createOrganisation(name, c.spare[0], seats(1, 3, 4), t + DAY, "7", { from: c.admin });
      expectEvent(r, "OrganisationCreated", { organisation: 3, name, admin: c.spare[0], paidUntil: t + DAY, annualFee: 7 });
      expectEvent(r, "OrganisationAdminAdded", { organisation: 3, account: c.spare[0], by: c.admin });
      expectEventFrom(r, ml, "LicenceTermsChanged", { organisation: 3, paidUntil: t + DAY, terminatesAt: 0 });
      assert.strictEqual(n(await lic.organisationCount()), 3);
      assert.strictEqual(n(await lic.adminOrganisation(c.spare[0])), 3);
      assert.strictEqual(await status(3), LicenceStatus.Active);
      const o = await lic.organisationOf(3);
      assert.deepStrictEqual([s(o.annualFee), s(o.limits.admins), s(o.limits.practitioners), s(o.limits.patients)], ["7", "1", "3", "4"]);
      assert.deepStrictEqual(await used(3), { admins: 1, practitioners: 0, patients: 0 });

      const now = await latestTimestamp();
      const create = (nm, admin, limits, until) => lic.createOrganisation(nm, admin, limits, until, "0", { from: c.admin });
      await expectRevert(create("", c.spare[1], seats(1, 1, 1), now + DAY), "InvalidOrganisationName", []);
      await expectRevert(create("x".repeat(65), c.spare[1], seats(1, 1, 1), now + DAY), "InvalidOrganisationName", []);
      await expectRevert(create("Clinic", c.spare[1], seats(0, 1, 1), now + DAY), "InvalidSeats", []);
      await expectRevert(create("Clinic", ZERO_ADDRESS, seats(1, 1, 1), now + DAY), "InvalidOrganisationAdmin", [ZERO_ADDRESS]);
      // an account administers one organisation at most
      await expectRevert(create("Clinic", c.orgAdmin, seats(1, 1, 1), now + DAY), "InvalidOrganisationAdmin", [c.orgAdmin]);
      await expectRevert(create("Clinic", c.spare[1], seats(1, 1, 1), now), "InvalidPaidUntil", [now]);
      assert.strictEqual(n(await lic.organisationCount()), 3);
      for (const org of [0, 4]) {
        await expectRevert(lic.setSeats(org, seats(1, 1, 1), { from: c.admin }), "UnknownOrganisation", [org]);
        await expectRevert(lic.verifyPractitioner(org, c.pendingPractitioner, { from: c.admin }), "UnknownOrganisation", [org]);
        await expectRevert(lic.renewSubscription(org, { from: c.stranger, value: "1" }), "UnknownOrganisation", [org]);
      }
    });

    it("admins: the second of two seats taken, the third refused with NoSeatLeft; a removed admin frees its seat and can do nothing more", async () => {
      let r = await lic.addOrganisationAdmin(ORG, c.spare[0], { from: c.orgAdmin });
      expectEvent(r, "OrganisationAdminAdded", { organisation: ORG, account: c.spare[0], by: c.orgAdmin });
      assert.strictEqual(n(await lic.adminOrganisation(c.spare[0])), ORG);
      assert.deepStrictEqual(await used(), { admins: 2, practitioners: 1, patients: 0 });
      r = await lic.enrolPatient(ORG, c.otherPatient, { from: c.spare[0] }); // an admin like the first
      expectEvent(r, "EnrolmentOffered", { organisation: ORG, patient: c.otherPatient, by: c.spare[0] });

      // the limit binds the platform admin too
      for (const from of [c.orgAdmin, c.admin]) {
        await expectRevert(lic.addOrganisationAdmin(ORG, c.spare[1], { from }), "NoSeatLeft", [ORG, SEAT.admins, 2]);
      }
      assert.strictEqual(n(await lic.adminOrganisation(c.spare[1])), 0);
      // one organisation per admin, never the zero address (checked before the seat)
      await expectRevert(lic.addOrganisationAdmin(ORG, c.otherOrgAdmin, { from: c.orgAdmin }), "InvalidOrganisationAdmin", [c.otherOrgAdmin]);
      await expectRevert(lic.addOrganisationAdmin(ORG, ZERO_ADDRESS, { from: c.orgAdmin }), "InvalidOrganisationAdmin", [ZERO_ADDRESS]);

      r = await lic.removeOrganisationAdmin(ORG, c.spare[0], { from: c.orgAdmin });
      expectEvent(r, "OrganisationAdminRemoved", { organisation: ORG, account: c.spare[0], by: c.orgAdmin });
      assert.strictEqual(n(await lic.adminOrganisation(c.spare[0])), 0);
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 1, patients: 0 });
      await expectRevert(lic.enrolPatient(ORG, c.patient, { from: c.spare[0] }), "NotOrganisationAdmin", [ORG, c.spare[0]]);
      await expectRevert(lic.removeOrganisationAdmin(ORG, c.spare[0], { from: c.orgAdmin }), "NotAnAdminOf", [ORG, c.spare[0]]);
      await expectRevert(lic.removeOrganisationAdmin(ORG, c.otherOrgAdmin, { from: c.orgAdmin }), "NotAnAdminOf", [ORG, c.otherOrgAdmin]);
      r = await lic.addOrganisationAdmin(ORG, c.spare[1], { from: c.orgAdmin });
      expectEvent(r, "OrganisationAdminAdded", { organisation: ORG, account: c.spare[1] });
    });
  });

  describe("seats", () => {
    it("practitioners: the second of two seats taken by verifyPractitioner, the third refused with NoSeatLeft and left Pending", async () => {
      const r = await lic.verifyPractitioner(ORG, c.pendingPractitioner, { from: c.orgAdmin });
      expectEvent(r, "PractitionerJoined", { organisation: ORG, practitioner: c.pendingPractitioner, by: c.orgAdmin });
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 2, patients: 0 });
      for (const from of [c.orgAdmin, c.admin]) {
        await expectRevert(lic.verifyPractitioner(ORG, c.suspendedPractitioner, { from }), "NoSeatLeft", [ORG, SEAT.practitioners, 2]);
      }
      assert.strictEqual(await accountStatus(c.suspendedPractitioner), AccountStatus.Pending);
      assert.strictEqual(n(await ml.practitionerOrganisation(c.suspendedPractitioner)), 0);
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 2, patients: 0 });
    });

    it("patients: offers take no seat; the second acceptance takes the last seat, the third is refused with NoSeatLeft and stays an offer", async () => {
      for (const p of [c.patient, c.otherPatient, c.patient3]) await lic.enrolPatient(ORG, p, { from: c.orgAdmin });
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 1, patients: 0 });
      for (const p of [c.patient, c.otherPatient]) {
        expectEvent(await lic.acceptEnrolment(ORG, { from: p }), "PatientEnrolled", { organisation: ORG, patient: p });
      }
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 1, patients: 2 });
      await expectRevert(lic.acceptEnrolment(ORG, { from: c.patient3 }), "NoSeatLeft", [ORG, SEAT.patients, 2]);
      assert.strictEqual(n(await lic.enrolmentOf(ORG, c.patient3)), Enrolment.Offered);
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 1, patients: 2 });
    });

    it("setSeats: down to the seats in use accepted, below them in any role (or no admin seat) refused with InvalidSeats", async () => {
      await lic.addOrganisationAdmin(ORG, c.spare[0], { from: c.orgAdmin });
      await lic.verifyPractitioner(ORG, c.pendingPractitioner, { from: c.orgAdmin });
      await lic.enrolPatient(ORG, c.patient, { from: c.orgAdmin });
      await lic.acceptEnrolment(ORG, { from: c.patient });
      assert.deepStrictEqual(await used(), { admins: 2, practitioners: 2, patients: 1 });
      for (const limits of [seats(1, 2, 1), seats(2, 1, 1), seats(2, 2, 0), seats(0, 2, 1)]) {
        await expectRevert(lic.setSeats(ORG, limits, { from: c.admin }), "InvalidSeats", []);
      }
      const r = await lic.setSeats(ORG, seats(2, 2, 1), { from: c.admin });
      const ev = expectEvent(r, "SeatsChanged", { organisation: ORG });
      assert.deepStrictEqual([ev.limits.admins, ev.limits.practitioners, ev.limits.patients].map(s), ["2", "2", "1"]);
      const limits = (await lic.organisationOf(ORG)).limits;
      assert.deepStrictEqual([limits.admins, limits.practitioners, limits.patients].map(s), ["2", "2", "1"]);
      await lic.enrolPatient(ORG, c.otherPatient, { from: c.orgAdmin });
      await expectRevert(lic.acceptEnrolment(ORG, { from: c.otherPatient }), "NoSeatLeft", [ORG, SEAT.patients, 1]);
    });
  });

  describe("the subscription's end, to the second", () => {
    it("the organisation's practitioner reads, writes and is verified at paidUntil - 1, and none of it from paidUntil (Lapsed)", async () => {
      assert.strictEqual(await status(), LicenceStatus.Active);
      await mineAt(paidUntil - 1);
      assert.deepStrictEqual(await access(doctor()), ALL);
      assert.strictEqual(await status(), LicenceStatus.Active);
      await mineAt(paidUntil);
      assert.deepStrictEqual(await access(doctor()), NONE);
      assert.strictEqual(await status(), LicenceStatus.Lapsed);
      // its account is untouched: Active, still the organisation's
      assert.strictEqual(await accountStatus(doctor()), AccountStatus.Active);
      assert.strictEqual(n(await ml.practitionerOrganisation(doctor())), ORG);
      // another organisation's practitioner is not concerned
      assert.deepStrictEqual(await access(otherDoctor()), ALL);
      // and a lapsed organisation verifies no one
      await expectRevert(lic.verifyPractitioner(ORG, c.pendingPractitioner, { from: c.orgAdmin }), "InvalidLicenceStatus", [ORG, LicenceStatus.Lapsed]);
    });

    it("emergencyAccess mined at paidUntil - 1 opens a window; mined at paidUntil it fails, and the open window reads nothing", async () => {
      const ok = await sendAt(paidUntil - 1, (o) => ml.emergencyAccess(c.patient3, b32("reason"), { from: doctor(), ...o }));
      assert.ok(ok.result, ok.error && ok.error.message);
      expectEvent(ok.result, "EmergencyAccessOpened", { patient: c.patient3, practitioner: doctor() });
      assert.ok(await ml.canRead(c.patient3, doctor(), rec.patient3));
      const refused = await sendAt(paidUntil, (o) => ml.emergencyAccess(c.patient3, b32("reason"), { from: doctor(), ...o }));
      assert.ok(refused.error, "emergencyAccess at paidUntil must fail");
      assert.strictEqual(refused.error.receipt.status, false);
      // the same call at that block (paidUntil) says why
      await expectRevert(ml.emergencyAccess.call(c.patient3, b32("reason"), { from: doctor() }), "NotAVerifiedPractitioner", [doctor()]);
      assert.ok(n(await ml.emergencyAccessUntil(c.patient3, doctor())) > paidUntil, "the window opened at paidUntil - 1 runs on");
      assert.ok(!(await ml.canRead(c.patient3, doctor(), rec.patient3)));
      await expectRevert(
        ml.addRecord(b32("record"), c.patient, b32("ct"), CAT.GENERAL, ZERO, { from: doctor() }),
        "WriteNotPermitted",
        [c.patient, doctor(), CAT.GENERAL]
      );
    });
  });

  describe("renewals and fees", () => {
    it("renewSubscription before the end (mined at paidUntil - 1): exactly SUBSCRIPTION_PERIOD past the current end, by anyone; the fee held", async () => {
      const payer = c.stranger;
      const before = await balance(payer);
      const { result: r, error } = await sendAt(paidUntil - 1, (o) => lic.renewSubscription(ORG, { from: payer, value: s(FEE), ...o }));
      assert.ok(r, error && error.message);
      expectEvent(r, "SubscriptionRenewed", { organisation: ORG, paidUntil: paidUntil + PERIOD, by: payer, amount: FEE });
      expectEventFrom(r, ml, "LicenceTermsChanged", { organisation: ORG, paidUntil: paidUntil + PERIOD, terminatesAt: 0 });
      assert.deepStrictEqual(await terms(), { paidUntil: paidUntil + PERIOD, terminatesAt: 0 });
      assert.strictEqual(await balance(payer), before - FEE - gasCost(r));
      assert.strictEqual(await feesHeld(), FEE);
      assert.strictEqual(await balance(lic.address), FEE);
      await mineAt(paidUntil);
      assert.deepStrictEqual(await access(doctor()), ALL);
      // a second year runs from the new end
      const r2 = await lic.renewSubscription(ORG, { from: c.orgAdmin, value: s(FEE) });
      expectEvent(r2, "SubscriptionRenewed", { paidUntil: paidUntil + 2 * PERIOD, by: c.orgAdmin, amount: FEE });
      assert.strictEqual(await feesHeld(), 2n * FEE);
      assert.strictEqual(await balance(lic.address), 2n * FEE);
    });

    it("renewSubscription after the end: SUBSCRIPTION_PERIOD from the block that pays, and the practitioners read again", async () => {
      await mineAt(paidUntil + 100);
      assert.deepStrictEqual(await access(doctor()), NONE);
      const r = await lic.renewSubscription(ORG, { from: c.orgAdmin, value: s(FEE) });
      const paidAt = await blockTime(r);
      assert.ok(paidAt > paidUntil);
      expectEvent(r, "SubscriptionRenewed", { organisation: ORG, paidUntil: paidAt + PERIOD, by: c.orgAdmin, amount: FEE });
      assert.deepStrictEqual(await terms(), { paidUntil: paidAt + PERIOD, terminatesAt: 0 });
      assert.strictEqual(await status(), LicenceStatus.Active);
      assert.deepStrictEqual(await access(doctor()), ALL);
      assert.strictEqual(await feesHeld(), FEE);
    });

    it("only the exact fee (WrongPayment); a fee of 0 is not payable (RenewalNotPayable); setAnnualFee switches; nothing moves when refused", async () => {
      for (const sent of [FEE - 1n, FEE + 1n, 0n]) {
        await expectRevert(lic.renewSubscription(ORG, { from: c.orgAdmin, value: s(sent) }), "WrongPayment", [FEE, sent]);
      }
      for (const sent of [0n, 1n]) {
        await expectRevert(lic.renewSubscription(OTHER, { from: c.otherOrgAdmin, value: s(sent) }), "RenewalNotPayable", [OTHER]);
      }
      assert.strictEqual(await feesHeld(), 0n);
      assert.strictEqual(await balance(lic.address), 0n);
      assert.deepStrictEqual(await terms(), { paidUntil, terminatesAt: 0 });

      let r = await lic.setAnnualFee(OTHER, s(2n * FEE), { from: c.admin });
      expectEvent(r, "AnnualFeeChanged", { organisation: OTHER, annualFee: 2n * FEE });
      const end = (await terms(OTHER)).paidUntil;
      r = await lic.renewSubscription(OTHER, { from: c.otherOrgAdmin, value: s(2n * FEE) });
      expectEvent(r, "SubscriptionRenewed", { organisation: OTHER, paidUntil: end + PERIOD, amount: 2n * FEE });
      r = await lic.setAnnualFee(ORG, "0", { from: c.admin });
      expectEvent(r, "AnnualFeeChanged", { organisation: ORG, annualFee: 0 });
      await expectRevert(lic.renewSubscription(ORG, { from: c.orgAdmin, value: s(FEE) }), "RenewalNotPayable", [ORG]);
      assert.strictEqual(s((await lic.organisationOf(ORG)).annualFee), "0");
      assert.strictEqual(await feesHeld(), 2n * FEE);
    });

    it("withdrawFees pays exactly the calling platform admin (gas accounted); zero and more than held refused with InvalidFeeWithdrawal", async () => {
      await lic.renewSubscription(ORG, { from: c.stranger, value: s(FEE) });
      await lic.renewSubscription(ORG, { from: c.stranger, value: s(FEE) });
      assert.strictEqual(await feesHeld(), 2n * FEE);
      await expectRevert(lic.withdrawFees("0", { from: c.admin }), "InvalidFeeWithdrawal", [2n * FEE, 0]);
      await expectRevert(lic.withdrawFees(s(2n * FEE + 1n), { from: c.admin }), "InvalidFeeWithdrawal", [2n * FEE, 2n * FEE + 1n]);
      await expectRevert(lic.withdrawFees(s(FEE), { from: c.orgAdmin }), "NotPlatformAdmin", [c.orgAdmin]);

      const adminBefore = await balance(c.admin);
      const r = await lic.withdrawFees(s(FEE - 1n), { from: c.admin });
      expectEvent(r, "FeesWithdrawn", { to: c.admin, amount: FEE - 1n });
      assert.strictEqual(await balance(c.admin), adminBefore + FEE - 1n - gasCost(r));
      assert.strictEqual(await feesHeld(), FEE + 1n);
      assert.strictEqual(await balance(lic.address), FEE + 1n);

      // a second platform admin (the core's ADMIN_ROLE) withdraws the rest, to itself
      await ml.grantRole(ADMIN_ROLE, c.spare[0], { from: c.admin });
      const adminAfter = await balance(c.admin);
      const spareBefore = await balance(c.spare[0]);
      const r2 = await lic.withdrawFees(s(FEE + 1n), { from: c.spare[0] });
      expectEvent(r2, "FeesWithdrawn", { to: c.spare[0], amount: FEE + 1n });
      assert.strictEqual(await balance(c.spare[0]), spareBefore + FEE + 1n - gasCost(r2));
      assert.strictEqual(await balance(c.admin), adminAfter);
      assert.strictEqual(await feesHeld(), 0n);
      assert.strictEqual(await balance(lic.address), 0n);
      await expectRevert(lic.withdrawFees("1", { from: c.admin }), "InvalidFeeWithdrawal", [0, 1]);
    });

    it("recordRenewal by the platform admin: later than the current end only (InvalidPaidUntil), no ether, and the practitioners read again", async () => {
      await mineAt(paidUntil);
      assert.deepStrictEqual(await access(doctor()), NONE);
      for (const until of [paidUntil, paidUntil - 1]) {
        await expectRevert(lic.recordRenewal(ORG, until, { from: c.admin }), "InvalidPaidUntil", [until]);
      }
      // later than the current end but not than now: it would leave the licence Lapsed
      await mineAt(paidUntil + 100);
      for (const until of [paidUntil + 50, await latestTimestamp()]) {
        await expectRevert(lic.recordRenewal(ORG, until, { from: c.admin }), "InvalidPaidUntil", [until]);
      }
      await expectRevert(lic.recordRenewal(ORG, paidUntil + DAY, { from: c.orgAdmin }), "NotPlatformAdmin", [c.orgAdmin]);
      const until = paidUntil + 10 * DAY;
      const r = await lic.recordRenewal(ORG, until, { from: c.admin });
      expectEvent(r, "SubscriptionRenewed", { organisation: ORG, paidUntil: until, by: c.admin, amount: 0 });
      expectEventFrom(r, ml, "LicenceTermsChanged", { organisation: ORG, paidUntil: until, terminatesAt: 0 });
      assert.strictEqual(await status(), LicenceStatus.Active);
      assert.deepStrictEqual(await access(doctor()), ALL);
      assert.strictEqual(await feesHeld(), 0n);
      assert.strictEqual(await balance(lic.address), 0n);
    });

    it("no subscription end so far ahead that a paid renewal could not add its year (InvalidPaidUntil, not an overflow)", async () => {
      const latest = 2n ** 64n - 1n - BigInt(PERIOD);
      await expectRevert(lic.recordRenewal(ORG, s(latest + 1n), { from: c.admin }), "InvalidPaidUntil", [s(latest + 1n)]);
      const name = "Far ahead";
      await expectRevert(lic.createOrganisation(name, c.spare[1], seats(1, 1, 1), s(latest + 1n), "0", { from: c.admin }), "InvalidPaidUntil", [s(latest + 1n)]);
      await lic.recordRenewal(ORG, s(latest), { from: c.admin });
      await lic.renewSubscription(ORG, { from: c.orgAdmin, value: s(FEE) });
      assert.strictEqual(BigInt(s((await ml.licenceTermsOf(ORG)).paidUntil)), 2n ** 64n - 1n);
    });
  });

  describe("notice, termination, reinstatement", () => {
    it("giveNotice: UnderNotice, everything allowed until terminatesAt - 1 (verifying too), nothing from terminatesAt (Terminated)", async () => {
      const now = await latestTimestamp();
      await expectRevert(lic.giveNotice(ORG, now, { from: c.admin }), "InvalidNoticeDate", [now]);
      const T = now + 1000;
      const r = await lic.giveNotice(ORG, T, { from: c.admin });
      expectEvent(r, "LicenceNoticeGiven", { organisation: ORG, terminatesAt: T });
      expectEventFrom(r, ml, "LicenceTermsChanged", { organisation: ORG, paidUntil, terminatesAt: T });
      assert.strictEqual(await status(), LicenceStatus.UnderNotice);
      assert.deepStrictEqual(await access(doctor()), ALL);
      await lic.verifyPractitioner(ORG, c.pendingPractitioner, { from: c.orgAdmin });
      assert.deepStrictEqual(await access(c.pendingPractitioner), { read: false, write: false, verified: true }); // no grant
      await mineAt(T - 1);
      assert.strictEqual(await status(), LicenceStatus.UnderNotice);
      assert.deepStrictEqual(await access(doctor()), ALL);
      await mineAt(T);
      assert.strictEqual(await status(), LicenceStatus.Terminated);
      assert.deepStrictEqual(await access(doctor()), NONE);
      assert.ok(!(await ml.isVerifiedPractitioner(c.pendingPractitioner)));
    });

    it("a notice past the subscription's end: UnderNotice, then Lapsed from paidUntil, then Terminated (Terminated wins over Lapsed, Lapsed over UnderNotice)", async () => {
      await lic.giveNotice(ORG, paidUntil + 100, { from: c.admin });
      await mineAt(paidUntil - 1);
      assert.strictEqual(await status(), LicenceStatus.UnderNotice);
      await mineAt(paidUntil);
      assert.strictEqual(await status(), LicenceStatus.Lapsed);
      assert.deepStrictEqual(await access(doctor()), NONE);
      await mineAt(paidUntil + 100);
      assert.strictEqual(await status(), LicenceStatus.Terminated);
      await expectRevert(lic.renewSubscription(ORG, { from: c.orgAdmin, value: s(FEE) }), "InvalidLicenceStatus", [ORG, LicenceStatus.Terminated]);
    });

    it("terminateLicence: nothing read, written or opened from its own block on; every licence step refused after it, but releasing a practitioner", async () => {
      await lic.enrolPatient(ORG, c.otherPatient, { from: c.orgAdmin });
      const r = await lic.terminateLicence(ORG, { from: c.admin });
      const at = await blockTime(r);
      expectEvent(r, "LicenceTerminated", { organisation: ORG, terminatesAt: at });
      expectEventFrom(r, ml, "LicenceTermsChanged", { organisation: ORG, paidUntil, terminatesAt: at });
      assert.strictEqual(await latestTimestamp(), at, "the views below are at the termination's block");
      assert.strictEqual(await status(), LicenceStatus.Terminated);
      assert.deepStrictEqual(await access(doctor()), NONE);
      await expectRevert(
        ml.addRecord(b32("record"), c.patient, b32("ct"), CAT.GENERAL, ZERO, { from: doctor() }),
        "WriteNotPermitted",
        [c.patient, doctor(), CAT.GENERAL]
      );
      await expectRevert(ml.emergencyAccess(c.patient3, b32("reason"), { from: doctor() }), "NotAVerifiedPractitioner", [doctor()]);
      assert.deepStrictEqual(await access(otherDoctor()), ALL, "another organisation's practitioner is not concerned");

      const refused = ["InvalidLicenceStatus", [ORG, LicenceStatus.Terminated]];
      const now = await latestTimestamp();
      await expectRevert(lic.recordRenewal(ORG, paidUntil + DAY, { from: c.admin }), ...refused);
      await expectRevert(lic.renewSubscription(ORG, { from: c.orgAdmin, value: s(FEE) }), ...refused);
      await expectRevert(lic.giveNotice(ORG, now + DAY, { from: c.admin }), ...refused);
      await expectRevert(lic.terminateLicence(ORG, { from: c.admin }), ...refused);
      for (const from of [c.orgAdmin, c.admin]) await expectRevert(lic.verifyPractitioner(ORG, c.pendingPractitioner, { from }), ...refused);
      await expectRevert(lic.acceptEnrolment(ORG, { from: c.otherPatient }), ...refused);
      assert.strictEqual(await accountStatus(c.pendingPractitioner), AccountStatus.Pending);
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 1, patients: 0 });

      // its admin may still release its practitioner, whom the platform admin can then verify
      await lic.releasePractitioner(doctor(), { from: c.orgAdmin });
      await ml.verifyAccount(doctor(), { from: c.admin });
      assert.deepStrictEqual(await access(doctor()), ALL);
    });

    it("reinstateLicence withdraws a notice or undoes a termination; reinstated after its subscription ended, the licence is Lapsed", async () => {
      await expectRevert(lic.reinstateLicence(ORG, { from: c.admin }), "InvalidLicenceStatus", [ORG, LicenceStatus.Active]);
      await lic.giveNotice(ORG, paidUntil - DAY, { from: c.admin });
      let r = await lic.reinstateLicence(ORG, { from: c.admin });
      expectEvent(r, "LicenceReinstated", { organisation: ORG });
      expectEventFrom(r, ml, "LicenceTermsChanged", { organisation: ORG, paidUntil, terminatesAt: 0 });
      assert.strictEqual(await status(), LicenceStatus.Active);

      await lic.terminateLicence(ORG, { from: c.admin });
      assert.deepStrictEqual(await access(doctor()), NONE);
      r = await lic.reinstateLicence(ORG, { from: c.admin });
      expectEvent(r, "LicenceReinstated", { organisation: ORG });
      assert.deepStrictEqual(await terms(), { paidUntil, terminatesAt: 0 });
      assert.strictEqual(await status(), LicenceStatus.Active);
      assert.deepStrictEqual(await access(doctor()), ALL);

      await lic.terminateLicence(ORG, { from: c.admin });
      await mineAt(paidUntil + 10);
      assert.strictEqual(await status(), LicenceStatus.Terminated);
      await lic.reinstateLicence(ORG, { from: c.admin });
      assert.strictEqual(await status(), LicenceStatus.Lapsed);
      assert.deepStrictEqual(await access(doctor()), NONE);
      await expectRevert(lic.reinstateLicence(ORG, { from: c.admin }), "InvalidLicenceStatus", [ORG, LicenceStatus.Lapsed]);
      await lic.renewSubscription(ORG, { from: c.orgAdmin, value: s(FEE) });
      assert.strictEqual(await status(), LicenceStatus.Active);
      assert.deepStrictEqual(await access(doctor()), ALL);
    });
  });

  describe("delegated administration", () => {
    it("an organisation admin verifies, suspends, reinstates and releases its own practitioner", async () => {
      const p = c.pendingPractitioner;
      let r = await lic.verifyPractitioner(ORG, p, { from: c.orgAdmin });
      expectEvent(r, "PractitionerJoined", { organisation: ORG, practitioner: p, by: c.orgAdmin });
      expectEventFrom(r, ml, "PractitionerOrganisationChanged", { practitioner: p, organisation: ORG });
      expectEventFrom(r, ml, "AccountVerified", { account: p, admin: c.orgAdmin });
      assert.strictEqual(n(await ml.practitionerOrganisation(p)), ORG);
      assert.strictEqual(await accountStatus(p), AccountStatus.Active);
      assert.ok(await ml.isVerifiedPractitioner(p));

      const reason = b32("reason");
      r = await ml.suspendAccount(p, reason, { from: c.orgAdmin });
      expectEvent(r, "AccountSuspended", { account: p, admin: c.orgAdmin, reasonHash: reason });
      assert.ok(!(await ml.isVerifiedPractitioner(p)));
      r = await ml.reinstateAccount(p, { from: c.orgAdmin });
      expectEvent(r, "AccountReinstated", { account: p, admin: c.orgAdmin });
      assert.ok(await ml.isVerifiedPractitioner(p));

      r = await lic.releasePractitioner(p, { from: c.orgAdmin });
      expectEvent(r, "PractitionerReleased", { organisation: ORG, practitioner: p, by: c.orgAdmin });
      expectEventFrom(r, ml, "PractitionerOrganisationChanged", { practitioner: p, organisation: 0 });
      assert.strictEqual(await accountStatus(p), AccountStatus.Pending);
      assert.strictEqual(n(await ml.practitionerOrganisation(p)), 0);
      assert.ok(!(await ml.isVerifiedPractitioner(p)));
      // released, it is no longer the organisation's to suspend
      await lic.releasePractitioner(doctor(), { from: c.orgAdmin });
      await ml.verifyAccount(doctor(), { from: c.admin });
      await expectRevert(ml.suspendAccount(doctor(), reason, { from: c.orgAdmin }), "AccessControlUnauthorizedAccount", [c.orgAdmin, ADMIN_ROLE]);
    });

    it("a platform admin's suspension is the platform's to lift; releasing a suspended practitioner keeps the suspension (no laundering through another organisation)", async () => {
      const reason = b32("reason");
      await ml.suspendAccount(doctor(), reason, { from: c.admin });
      await expectRevert(ml.reinstateAccount(doctor(), { from: c.orgAdmin }), "AccessControlUnauthorizedAccount", [c.orgAdmin, ADMIN_ROLE]);
      // released while suspended: no organisation's, still Suspended, so no one can verify it again
      const r = await lic.releasePractitioner(doctor(), { from: c.orgAdmin });
      expectEventFrom(r, ml, "PractitionerOrganisationChanged", { practitioner: doctor(), organisation: 0 });
      assert.strictEqual(await accountStatus(doctor()), AccountStatus.Suspended);
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 0, patients: 0 });
      await expectRevert(lic.verifyPractitioner(OTHER, doctor(), { from: c.otherOrgAdmin }), "InvalidStatusChange", [doctor(), AccountStatus.Suspended]);
      await expectRevert(ml.reinstateAccount(doctor(), { from: c.orgAdmin }), "AccessControlUnauthorizedAccount", [c.orgAdmin, ADMIN_ROLE]);
      await ml.reinstateAccount(doctor(), { from: c.admin });
      assert.strictEqual(await accountStatus(doctor()), AccountStatus.Active);
      // its own suspension an organisation's admin lifts; once lifted by the platform, the mark is gone
      await lic.verifyPractitioner(ORG, c.pendingPractitioner, { from: c.orgAdmin });
      await ml.suspendAccount(c.pendingPractitioner, reason, { from: c.admin });
      await ml.reinstateAccount(c.pendingPractitioner, { from: c.admin });
      await ml.suspendAccount(c.pendingPractitioner, reason, { from: c.orgAdmin });
      await ml.reinstateAccount(c.pendingPractitioner, { from: c.orgAdmin });
      assert.ok(await ml.isVerifiedPractitioner(c.pendingPractitioner));
    });

    it("releasePractitioner frees the seat: the next applicant takes it, and the released one may join another organisation", async () => {
      await lic.verifyPractitioner(ORG, c.pendingPractitioner, { from: c.orgAdmin });
      await expectRevert(lic.verifyPractitioner(ORG, c.suspendedPractitioner, { from: c.orgAdmin }), "NoSeatLeft", [ORG, SEAT.practitioners, 2]);
      await lic.releasePractitioner(c.pendingPractitioner, { from: c.orgAdmin });
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 1, patients: 0 });
      await lic.verifyPractitioner(ORG, c.suspendedPractitioner, { from: c.orgAdmin });
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 2, patients: 0 });
      await lic.verifyPractitioner(OTHER, c.pendingPractitioner, { from: c.otherOrgAdmin });
      assert.strictEqual(n(await ml.practitionerOrganisation(c.pendingPractitioner)), OTHER);
      assert.deepStrictEqual(await used(OTHER), { admins: 1, practitioners: 2, patients: 0 });
      // the platform admin releases any organisation's practitioner
      const r = await lic.releasePractitioner(c.pendingPractitioner, { from: c.admin });
      expectEvent(r, "PractitionerReleased", { organisation: OTHER, practitioner: c.pendingPractitioner, by: c.admin });
      assert.deepStrictEqual(await used(OTHER), { admins: 1, practitioners: 1, patients: 0 });
    });

    it("nothing to another organisation's practitioners, admins or patients, nor to the platform's practitioners and insurers", async () => {
      const reason = b32("reason");
      const other = c.otherOrgAdmin; // OTHER's admin, acting on ORG
      await expectRevert(lic.verifyPractitioner(ORG, c.pendingPractitioner, { from: other }), "NotOrganisationAdmin", [ORG, other]);
      await expectRevert(lic.releasePractitioner(doctor(), { from: other }), "NotOrganisationAdmin", [ORG, other]);
      await expectRevert(ml.suspendAccount(doctor(), reason, { from: other }), "AccessControlUnauthorizedAccount", [other, ADMIN_ROLE]);
      await ml.suspendAccount(doctor(), reason, { from: c.orgAdmin });
      await expectRevert(ml.reinstateAccount(doctor(), { from: other }), "AccessControlUnauthorizedAccount", [other, ADMIN_ROLE]);
      await expectRevert(lic.addOrganisationAdmin(ORG, c.spare[0], { from: other }), "NotOrganisationAdmin", [ORG, other]);
      await expectRevert(lic.removeOrganisationAdmin(ORG, c.orgAdmin, { from: other }), "NotOrganisationAdmin", [ORG, other]);
      await lic.enrolPatient(ORG, c.patient, { from: c.orgAdmin });
      await expectRevert(lic.enrolPatient(ORG, c.otherPatient, { from: other }), "NotOrganisationAdmin", [ORG, other]);
      await expectRevert(lic.endEnrolment(ORG, c.patient, { from: other }), "NotOrganisationAdmin", [ORG, other]);
      // the platform's own practitioner (organisation 0) and an insurer are no organisation's
      for (const who of [c.verifiedPractitioner, c.verifiedInsurer]) {
        await expectRevert(ml.suspendAccount(who, reason, { from: c.orgAdmin }), "AccessControlUnauthorizedAccount", [c.orgAdmin, ADMIN_ROLE]);
      }
      await expectRevert(lic.releasePractitioner(c.verifiedPractitioner, { from: c.orgAdmin }), "NotOrganisationAdmin", [0, c.orgAdmin]);
      await expectRevert(lic.releasePractitioner(c.verifiedPractitioner, { from: c.admin }), "NotInAnOrganisation", [c.verifiedPractitioner]);
      // nor is a practitioner an admin of its organisation
      await expectRevert(lic.verifyPractitioner(ORG, c.pendingPractitioner, { from: otherDoctor() }), "NotOrganisationAdmin", [ORG, otherDoctor()]);
      assert.strictEqual(await accountStatus(doctor()), AccountStatus.Suspended);
      assert.strictEqual(await accountStatus(c.pendingPractitioner), AccountStatus.Pending);
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 1, patients: 0 });
    });

    it("verifyPractitioner refuses an insurer, a patient or a stranger (NotAProfessional) and a practitioner not Pending (InvalidStatusChange), taking no seat", async () => {
      for (const who of [c.pendingInsurer, c.verifiedInsurer, c.patient, c.stranger]) {
        await expectRevert(lic.verifyPractitioner(ORG, who, { from: c.orgAdmin }), "NotAProfessional", [who]);
      }
      await expectRevert(lic.verifyPractitioner(ORG, c.verifiedPractitioner, { from: c.orgAdmin }), "InvalidStatusChange", [c.verifiedPractitioner, AccountStatus.Active]);
      await expectRevert(lic.verifyPractitioner(ORG, otherDoctor(), { from: c.orgAdmin }), "InvalidStatusChange", [otherDoctor(), AccountStatus.Active]);
      await ml.suspendAccount(doctor(), b32("reason"), { from: c.orgAdmin });
      await expectRevert(lic.verifyPractitioner(ORG, doctor(), { from: c.orgAdmin }), "InvalidStatusChange", [doctor(), AccountStatus.Suspended]);
      assert.deepStrictEqual(await used(), { admins: 1, practitioners: 1, patients: 0 });
      assert.strictEqual(n(await ml.practitionerOrganisation(c.verifiedPractitioner)), 0);
      assert.strictEqual(n(await ml.practitionerOrganisation(otherDoctor())), OTHER);
    });
  });

  describe("the core's licensing hooks", () => {
    it("setLicensing: by an admin only, to an address with code, once; a licensing contract not named writes nothing", async () => {
      const bare = await deploy(c);
      const lic2 = await MedLedgerLicensing.new(bare.address, { from: c.admin });
      assert.strictEqual(await bare.licensing(), ZERO_ADDRESS);
      // not yet named: the core refuses what it asks
      const now = await latestTimestamp();
      await expectRevert(lic2.createOrganisation("Clinic", c.orgAdmin, seats(1, 1, 1), now + DAY, "0", { from: c.admin }), "NotLicensing", [lic2.address]);
      await expectRevert(bare.setLicensing(lic2.address, { from: c.stranger }), "AccessControlUnauthorizedAccount", [c.stranger, ADMIN_ROLE]);
      for (const addr of [c.stranger, ZERO_ADDRESS]) {
        await expectRevert(bare.setLicensing(addr, { from: c.admin }), "InvalidLicensing", [addr]);
      }
      const r = await bare.setLicensing(lic2.address, { from: c.admin });
      expectEvent(r, "LicensingSet", { licensing: lic2.address });
      assert.strictEqual(await bare.licensing(), lic2.address);
      for (const addr of [lic.address, lic2.address]) {
        await expectRevert(bare.setLicensing(addr, { from: c.admin }), "LicensingAlreadySet", [lic2.address]);
      }
      await expectRevert(bare.setLicensing(lic2.address, { from: c.orgAdmin }), "AccessControlUnauthorizedAccount", [c.orgAdmin, ADMIN_ROLE]);
      await expectRevert(ml.setLicensing(lic2.address, { from: c.admin }), "LicensingAlreadySet", [lic.address]);
      const r2 = await lic2.createOrganisation("Clinic", c.orgAdmin, seats(1, 1, 1), now + DAY, "0", { from: c.admin });
      expectEventFrom(r2, bare, "LicenceTermsChanged", { organisation: 1, paidUntil: now + DAY, terminatesAt: 0 });
    });

    it("setLicenceTerms, assignPractitioner and releasePractitioner refuse every caller but the licensing contract (NotLicensing)", async () => {
      for (const from of [c.admin, c.orgAdmin, doctor(), c.stranger]) {
        await expectRevert(ml.setLicenceTerms(ORG, paidUntil + PERIOD, 0, { from }), "NotLicensing", [from]);
        await expectRevert(ml.assignPractitioner(c.pendingPractitioner, ORG, from, { from }), "NotLicensing", [from]);
        await expectRevert(ml.releasePractitioner(doctor(), { from }), "NotLicensing", [from]);
      }
      assert.deepStrictEqual(await terms(), { paidUntil, terminatesAt: 0 });
    });
  });

  describe("what no licence bears on", () => {
    it("a patient's own records, a practitioner the platform admin verified and an insurer, whatever the licence: Active, UnderNotice, Lapsed, Terminated", async () => {
      await lic.enrolPatient(ORG, c.patient, { from: c.orgAdmin });
      await lic.acceptEnrolment(ORG, { from: c.patient });
      const check = async (expected) => {
        assert.strictEqual(await status(), expected);
        assert.ok(await ml.canRead(c.patient, c.patient, rec.patient), "the patient reads its own record");
        assert.ok(await ml.canWrite(c.patient, c.patient, CAT.GENERAL), "the patient writes its own records");
        assert.deepStrictEqual(await access(c.verifiedPractitioner), ALL);
        assert.ok(await ml.canRead(c.patient, c.verifiedInsurer, rec.patient), "the insurer reads under its grant");
        assert.ok(await ml.isVerifiedInsurer(c.verifiedInsurer));
        assert.deepStrictEqual(await access(otherDoctor()), ALL);
      };
      await check(LicenceStatus.Active);
      await lic.giveNotice(ORG, paidUntil + 100, { from: c.admin });
      await check(LicenceStatus.UnderNotice);
      await mineAt(paidUntil);
      await check(LicenceStatus.Lapsed);
      await mineAt(paidUntil + 100);
      await check(LicenceStatus.Terminated);
      assert.deepStrictEqual(await access(doctor()), NONE);
      // and they still act: a record, an emergency window
      const r = await ml.addRecord(b32("record"), c.patient, b32("ct"), CAT.GENERAL, ZERO, { from: c.patient });
      expectEvent(r, "RecordAdded", { patient: c.patient, author: c.patient });
      const w = await ml.addRecord(b32("record"), c.patient, b32("ct"), CAT.GENERAL, ZERO, { from: c.verifiedPractitioner });
      expectEvent(w, "RecordAdded", { patient: c.patient, author: c.verifiedPractitioner });
      const e = await ml.emergencyAccess(c.patient3, b32("reason"), { from: c.verifiedPractitioner });
      expectEvent(e, "EmergencyAccessOpened", { patient: c.patient3, practitioner: c.verifiedPractitioner });
    });
  });

  describe("enrolment", () => {
    it("offered by the admin, accepted by the patient (a seat), ended by the patient (the seat freed)", async () => {
      let r = await lic.enrolPatient(ORG, c.patient, { from: c.orgAdmin });
      expectEvent(r, "EnrolmentOffered", { organisation: ORG, patient: c.patient, by: c.orgAdmin });
      assert.strictEqual(n(await lic.enrolmentOf(ORG, c.patient)), Enrolment.Offered);
      assert.strictEqual((await used()).patients, 0);
      r = await lic.acceptEnrolment(ORG, { from: c.patient });
      expectEvent(r, "PatientEnrolled", { organisation: ORG, patient: c.patient });
      assert.strictEqual(n(await lic.enrolmentOf(ORG, c.patient)), Enrolment.Enrolled);
      assert.strictEqual((await used()).patients, 1);
      r = await lic.endEnrolment(ORG, c.patient, { from: c.patient });
      expectEvent(r, "EnrolmentEnded", { organisation: ORG, patient: c.patient, by: c.patient });
      assert.strictEqual(n(await lic.enrolmentOf(ORG, c.patient)), Enrolment.None);
      assert.strictEqual((await used()).patients, 0);
    });

    it("the organisation's admin or the platform admin ends an enrolment (freeing the seat) or an offer", async () => {
      await lic.enrolPatient(ORG, c.otherPatient, { from: c.orgAdmin });
      await lic.acceptEnrolment(ORG, { from: c.otherPatient });
      let r = await lic.endEnrolment(ORG, c.otherPatient, { from: c.orgAdmin });
      expectEvent(r, "EnrolmentEnded", { organisation: ORG, patient: c.otherPatient, by: c.orgAdmin });
      assert.strictEqual((await used()).patients, 0);
      await lic.enrolPatient(ORG, c.patient3, { from: c.admin });
      r = await lic.endEnrolment(ORG, c.patient3, { from: c.admin });
      expectEvent(r, "EnrolmentEnded", { organisation: ORG, patient: c.patient3, by: c.admin });
      assert.strictEqual(n(await lic.enrolmentOf(ORG, c.patient3)), Enrolment.None);
      assert.strictEqual((await used()).patients, 0);
    });

    it("steps from the wrong state refused with InvalidEnrolment; only patients are offered; a lapsed organisation enrols no one", async () => {
      const P = c.patient;
      await expectRevert(lic.acceptEnrolment(ORG, { from: P }), "InvalidEnrolment", [ORG, P, Enrolment.None]);
      await expectRevert(lic.endEnrolment(ORG, P, { from: P }), "InvalidEnrolment", [ORG, P, Enrolment.None]);
      await expectRevert(lic.endEnrolment(ORG, P, { from: c.orgAdmin }), "InvalidEnrolment", [ORG, P, Enrolment.None]);
      await lic.enrolPatient(ORG, P, { from: c.orgAdmin });
      await expectRevert(lic.enrolPatient(ORG, P, { from: c.orgAdmin }), "InvalidEnrolment", [ORG, P, Enrolment.Offered]);
      await expectRevert(lic.acceptEnrolment(OTHER, { from: P }), "InvalidEnrolment", [OTHER, P, Enrolment.None]);
      await lic.acceptEnrolment(ORG, { from: P });
      await expectRevert(lic.enrolPatient(ORG, P, { from: c.orgAdmin }), "InvalidEnrolment", [ORG, P, Enrolment.Enrolled]);
      await expectRevert(lic.acceptEnrolment(ORG, { from: P }), "InvalidEnrolment", [ORG, P, Enrolment.Enrolled]);
      for (const who of [doctor(), c.verifiedInsurer, c.stranger]) {
        await expectRevert(lic.enrolPatient(ORG, who, { from: c.orgAdmin }), "NotAPatient", [who]);
      }
      await lic.enrolPatient(ORG, c.otherPatient, { from: c.orgAdmin });
      await mineAt(paidUntil);
      await expectRevert(lic.acceptEnrolment(ORG, { from: c.otherPatient }), "InvalidLicenceStatus", [ORG, LicenceStatus.Lapsed]);
      await expectRevert(lic.enrolPatient(ORG, c.patient3, { from: c.orgAdmin }), "InvalidLicenceStatus", [ORG, LicenceStatus.Lapsed]);
      assert.strictEqual((await used()).patients, 1);
    });

    it("an enrolment gives the organisation no access: without a grant its practitioner reads and writes nothing", async () => {
      await lic.enrolPatient(ORG, c.patient3, { from: c.orgAdmin });
      await lic.acceptEnrolment(ORG, { from: c.patient3 });
      assert.deepStrictEqual(await access(doctor(), c.patient3, rec.patient3), { read: false, write: false, verified: true });
      assert.ok(!(await ml.canRead(c.patient3, c.orgAdmin, rec.patient3)), "nor its admin");
      await ml.grant(doctor(), mask(CAT.GENERAL), false, (await latestTimestamp()) + DAY, { from: c.patient3 });
      assert.ok(await ml.canRead(c.patient3, doctor(), rec.patient3), "a grant does");
    });
  });
});
