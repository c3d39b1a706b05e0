// Social recovery (MedLedgerRecovery, created by the core) and the core's wallets
// (WalletsModule): guardians, requests, approvals below and at the threshold, the delay, the old
// wallet's cancellation, replays, and an identity moved to a new wallet: its records, grants and
// roles answer to the new wallet, and the old one can do nothing more.
const assert = require("assert");
const { Wallet } = require("ethers");
const { track } = require("./helpers/gas");
const { expectRevert, expectEvent, expectEventFrom, snapshotFixture, latestTimestamp, increaseTime } = require("./helpers/chain");
const { MedLedgerRecovery, MedLedgerForwarder, deploy, deployLicensing, seats, cast, b32, mask, CAT, DAY, registerAll } = require("./helpers/world");
const { signForwardRequest } = require("./helpers/forwarder");

const ZERO = "0x" + "00".repeat(20);
const DELAY = DAY;

contract("MedLedgerRecovery: guardians and moving an identity", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  // The patient's guardians: a relative (another patient) and their doctor.
  const guardians = () => [c.otherPatient, c.verifiedPractitioner];
  const [newWallet, thirdWallet, attacker] = c.spare;
  let ml;
  let rec;
  let record; // a record of the patient's, read by the doctor under a grant

  before(async () => {
    ml = await deploy(c);
    // Tracked: its calls' gas goes to the report (bench/gas.md "Recovery").
    rec = track(await MedLedgerRecovery.at(await ml.recovery()));
    await registerAll(ml, c);
    record = b32("record");
    await ml.addRecord(record, c.patient, b32("ciphertext"), CAT.LAB, "0x" + "00".repeat(32), { from: c.patient });
    await ml.grant(c.verifiedPractitioner, mask(CAT.LAB), false, (await latestTimestamp()) + 365 * DAY, { from: c.patient });
    await rec.setGuardians(guardians(), 2, DELAY, { from: c.patient });
    await fx.take();
  });
  beforeEach(async () => {
    await fx.restore();
  });

  /** `guardian`'s approval of `wallet`'s open request for `identity`, by the request's number. */
  async function approve(identity, wallet, guardian) {
    const { requestId } = await rec.recoveryOf(identity, wallet);
    return rec.approveRecovery(identity, wallet, requestId, { from: guardian });
  }

  /** The patient's recovery to `wallet`, requested and approved by both guardians. */
  async function approvedRequest(wallet = newWallet) {
    await rec.requestRecovery(c.patient, b32("transport"), { from: wallet });
    for (const g of guardians()) await approve(c.patient, wallet, g);
  }

  /** The whole recovery to `wallet`, the delay passed: the result of completeRecovery. */
  async function recover(wallet = newWallet) {
    await approvedRequest(wallet);
    await increaseTime(DELAY);
    return rec.completeRecovery(c.patient, { from: wallet });
  }

  describe("the contracts", () => {
    it("the core created the recovery contract, which trusts the core's forwarder and knows the core", async () => {
      assert.strictEqual(await rec.core(), ml.address);
      assert.strictEqual(await rec.isTrustedForwarder(await ml.trustedForwarder()), true);
      assert.strictEqual(Number(await rec.MAX_GUARDIANS()), 10);
      assert.strictEqual(Number(await rec.MAX_RECOVERY_DELAY()), 30 * DAY);
    });

    it("every wallet is its own identity until a recovery moves one", async () => {
      for (const who of [c.patient, c.stranger, newWallet, ZERO]) {
        assert.strictEqual(await ml.identityOf(who), who);
        assert.strictEqual(await ml.walletOf(who), who);
      }
    });

    it("refuses moveIdentity from every caller but the recovery contract (NotRecovery)", async () => {
      for (const who of [c.admin, c.escrow, c.patient, newWallet, c.verifiedPractitioner]) {
        await expectRevert(ml.moveIdentity(c.patient, newWallet, { from: who }), "NotRecovery", [who]);
      }
      assert.strictEqual(await ml.walletOf(c.patient), c.patient);
    });
  });

  describe("guardian sets", () => {
    it("a patient names guardians, a threshold and a delay; a change voids open requests", async () => {
      const [g, threshold, delay, epoch] = Object.values(await rec.guardiansOf(c.patient));
      assert.deepStrictEqual(g, guardians());
      assert.strictEqual(Number(threshold), 2);
      assert.strictEqual(Number(delay), DELAY);
      assert.strictEqual(Number(epoch), 1);

      await approvedRequest();
      const change = await rec.setGuardians([c.otherPatient, c.patient3, c.verifiedInsurer], 2, 0, { from: c.patient });
      expectEvent(change, "GuardiansChanged", { identity: c.patient, guardians: [c.otherPatient, c.patient3, c.verifiedInsurer], threshold: 2, delay: 0, epoch: 2 });
      const { approvals, open } = await rec.recoveryOf(c.patient, newWallet);
      assert.strictEqual(Number(approvals), 2);
      assert.strictEqual(open, false, "the change voided the request");
      await expectRevert(rec.completeRecovery(c.patient, { from: newWallet }), "NoRecoveryRequest", [c.patient, newWallet]);
      await expectRevert(approve(c.patient, newWallet, c.otherPatient), "NoRecoveryRequest", [c.patient, newWallet]);
    });

    it("only a patient names guardians (NotAPatient)", async () => {
      for (const who of [c.verifiedPractitioner, c.verifiedInsurer, c.admin, c.stranger]) {
        await expectRevert(rec.setGuardians([c.patient], 1, 0, { from: who }), "NotAPatient", [who]);
      }
    });

    it("refuses a bad threshold, too many guardians or too long a delay (InvalidGuardianSet)", async () => {
      const many = [c.otherPatient, c.patient3, c.verifiedPractitioner, c.pendingPractitioner, c.suspendedPractitioner, c.practitioner2, c.practitioner3, c.pendingInsurer, c.verifiedInsurer, c.insurer2];
      assert.strictEqual(many.length, 10);
      const cases = [
        [[c.otherPatient], 0, 0],
        [[c.otherPatient], 2, 0],
        [[], 1, 0],
        [[c.otherPatient], 1, 30 * DAY + 1],
      ];
      for (const [g, t, d] of cases) {
        await expectRevert(rec.setGuardians(g, t, d, { from: c.patient }), "InvalidGuardianSet", [g.length, t, d]);
      }
      // Ten is the most; an eleventh is refused, even before its own checks.
      await rec.setGuardians(many, 10, 30 * DAY, { from: c.patient });
      await expectRevert(rec.setGuardians([...many, c.stranger], 1, 0, { from: c.patient }), "InvalidGuardianSet", [11, 1, 0]);
    });

    it("refuses an unregistered guardian, the patient as their own guardian, or one named twice (InvalidGuardian)", async () => {
      await expectRevert(rec.setGuardians([c.otherPatient, c.stranger], 1, 0, { from: c.patient }), "InvalidGuardian", [c.stranger]);
      await expectRevert(rec.setGuardians([c.patient], 1, 0, { from: c.patient }), "InvalidGuardian", [c.patient]);
      await expectRevert(rec.setGuardians([c.otherPatient, c.otherPatient], 1, 0, { from: c.patient }), "InvalidGuardian", [c.otherPatient]);
    });

    it("an empty set turns recovery off: no request is taken", async () => {
      await rec.setGuardians([], 0, 0, { from: c.patient });
      await expectRevert(rec.requestRecovery(c.patient, b32("t"), { from: newWallet }), "NoGuardians", [c.patient]);
      await expectRevert(rec.requestRecovery(c.otherPatient, b32("t"), { from: newWallet }), "NoGuardians", [c.otherPatient]);
    });
  });

  describe("requests and approvals", () => {
    it("only a wallet that is nobody asks, with a transport key (WalletInUse, InvalidTransportKey)", async () => {
      for (const who of [c.otherPatient, c.verifiedPractitioner, c.patient]) {
        await expectRevert(rec.requestRecovery(c.patient, b32("t"), { from: who }), "WalletInUse", [who]);
      }
      await expectRevert(rec.requestRecovery(c.patient, "0x" + "00".repeat(32), { from: newWallet }), "InvalidTransportKey", []);
      const transportKey = b32("transport");
      const r = await rec.requestRecovery(c.patient, transportKey, { from: newWallet });
      expectEvent(r, "RecoveryRequested", { identity: c.patient, newWallet, transportKey, epoch: 1, requestId: 1 });
    });

    it("counts each guardian once and nobody else (NotAGuardian, AlreadyApproved, NoRecoveryRequest)", async () => {
      await expectRevert(approve(c.patient, newWallet, c.otherPatient), "NoRecoveryRequest", [c.patient, newWallet]);
      await rec.requestRecovery(c.patient, b32("t"), { from: newWallet });
      for (const who of [c.stranger, c.patient3, c.verifiedInsurer, c.admin, c.patient, newWallet]) {
        await expectRevert(approve(c.patient, newWallet, who), "NotAGuardian", [c.patient, who]);
      }
      const first = await approve(c.patient, newWallet, c.otherPatient);
      expectEvent(first, "RecoveryApproved", { identity: c.patient, newWallet, guardian: c.otherPatient, approvals: 1 });
      await expectRevert(approve(c.patient, newWallet, c.otherPatient), "AlreadyApproved", [c.patient, newWallet, c.otherPatient]);
      const second = await approve(c.patient, newWallet, c.verifiedPractitioner);
      expectEvent(second, "RecoveryApproved", { approvals: 2 });
    });

    it("below the threshold nothing moves, however long one waits (RecoveryNotReady)", async () => {
      await rec.requestRecovery(c.patient, b32("t"), { from: newWallet });
      await approve(c.patient, newWallet, c.otherPatient);
      await increaseTime(30 * DAY);
      await expectRevert(rec.completeRecovery(c.patient, { from: newWallet }), "RecoveryNotReady", [c.patient, newWallet, 1, 0]);
      assert.strictEqual(await ml.walletOf(c.patient), c.patient);
    });

    it("at the threshold, nothing moves before the delay has passed since the approval that reached it (RecoveryNotReady)", async () => {
      // Asked long ago: the delay still runs from the last approval, so the patient always has
      // all of it to cancel.
      await rec.requestRecovery(c.patient, b32("t"), { from: newWallet });
      await increaseTime(3 * DELAY);
      for (const g of guardians()) await approve(c.patient, newWallet, g);
      const thresholdAt = await latestTimestamp();
      await expectRevert(rec.completeRecovery(c.patient, { from: newWallet }), "RecoveryNotReady", [c.patient, newWallet, 2, thresholdAt + DELAY]);
      assert.strictEqual(Number((await rec.recoveryOf(c.patient, newWallet)).readyAt), thresholdAt + DELAY);
    });

    it("an approval names its request: one meant for the wallet's earlier request does not count for a later one", async () => {
      await rec.requestRecovery(c.patient, b32("t"), { from: newWallet });
      const first = (await rec.recoveryOf(c.patient, newWallet)).requestId;
      await rec.requestRecovery(c.patient, b32("t"), { from: newWallet });
      const second = (await rec.recoveryOf(c.patient, newWallet)).requestId;
      assert.strictEqual(Number(second), Number(first) + 1);
      await expectRevert(rec.approveRecovery(c.patient, newWallet, first, { from: c.otherPatient }), "NoRecoveryRequest", [c.patient, newWallet]);
      const r = await rec.approveRecovery(c.patient, newWallet, second, { from: c.otherPatient });
      expectEvent(r, "RecoveryApproved", { approvals: 1 });
    });

    it("guardians alone cannot complete another wallet's request, nor one nobody made", async () => {
      await approvedRequest();
      await increaseTime(DELAY);
      for (const who of [c.otherPatient, c.verifiedPractitioner]) {
        await expectRevert(rec.completeRecovery(c.patient, { from: who }), "WalletInUse", [who]);
      }
      await expectRevert(rec.completeRecovery(c.patient, { from: attacker }), "NoRecoveryRequest", [c.patient, attacker]);
    });

    it("a stranger's request does not displace the patient's", async () => {
      await rec.requestRecovery(c.patient, b32("t"), { from: newWallet });
      await approve(c.patient, newWallet, c.otherPatient);
      await rec.requestRecovery(c.patient, b32("t"), { from: attacker });
      const { approvals, open } = await rec.recoveryOf(c.patient, newWallet);
      assert.strictEqual(Number(approvals), 1);
      assert.strictEqual(open, true);
    });

    it("the patient's wallet cancels a recovery it did not ask for; its approvals cannot be replayed", async () => {
      await approvedRequest();
      const cancel = await rec.cancelRecovery({ from: c.patient });
      expectEvent(cancel, "RecoveryCancelled", { identity: c.patient, epoch: 2 });
      await increaseTime(DELAY);
      await expectRevert(rec.completeRecovery(c.patient, { from: newWallet }), "NoRecoveryRequest", [c.patient, newWallet]);
      await expectRevert(approve(c.patient, newWallet, c.otherPatient), "NoRecoveryRequest", [c.patient, newWallet]);
      // Asked again, it starts from no approvals.
      await rec.requestRecovery(c.patient, b32("t"), { from: newWallet });
      const { approvals, open } = await rec.recoveryOf(c.patient, newWallet);
      assert.strictEqual(Number(approvals), 0);
      assert.strictEqual(open, true);
      await expectRevert(rec.cancelRecovery({ from: c.stranger }), "NoGuardians", [c.stranger]);
    });
  });

  describe("the identity moved", () => {
    it("completes at the threshold after the delay: the core moves the identity and voids other requests", async () => {
      await rec.requestRecovery(c.patient, b32("t"), { from: attacker });
      const done = await recover();
      expectEventFrom(done, ml, "IdentityMoved", { identity: c.patient, oldWallet: c.patient, newWallet });
      expectEvent(done, "RecoveryCompleted", { identity: c.patient, newWallet, epoch: 2 });
      assert.strictEqual(await ml.walletOf(c.patient), newWallet);
      assert.strictEqual(await ml.identityOf(newWallet), c.patient);
      assert.strictEqual(await ml.identityOf(c.patient), ZERO);
      assert.strictEqual((await rec.recoveryOf(c.patient, attacker)).open, false);
      // A replay of the completion: the new wallet controls an identity now.
      await expectRevert(rec.completeRecovery(c.patient, { from: newWallet }), "WalletInUse", [newWallet]);
    });

    it("the old wallet can do nothing more, on the core or on the recovery contract (WalletRetired)", async () => {
      await recover();
      const old = c.patient;
      const expiry = (await latestTimestamp()) + 365 * DAY;
      // Thunks: each transaction is sent only when its refusal is awaited.
      const refused = [
        () => ml.grant(c.practitioner2, mask(CAT.LAB), false, expiry, { from: old }),
        () => ml.revoke(c.verifiedPractitioner, { from: old }),
        () => ml.eraseRecord(record, { from: old }),
        () => ml.eraseAll({ from: old }),
        () => ml.rotateEncryptionKey(b32("key"), { from: old }),
        () => ml.registerPatient(b32("key"), { from: old }),
        () => ml.setEmergencyOptIn(true, { from: old }),
        () => rec.setGuardians([c.otherPatient], 1, 0, { from: old }),
        () => rec.cancelRecovery({ from: old }),
        () => rec.requestRecovery(c.otherPatient, b32("t"), { from: old }),
      ];
      for (const send of refused) await expectRevert(send(), "WalletRetired", [old]);
    });

    it("the new wallet acts as the identity: its records, grants and guardians are still the patient's", async () => {
      await recover();
      assert.strictEqual(await ml.canRead(c.patient, c.verifiedPractitioner, record), true, "the doctor's grant survives");
      assert.strictEqual(await ml.canRead(c.patient, c.patient, record), true);
      const grant = await ml.grant(c.practitioner2, mask(CAT.LAB), false, (await latestTimestamp()) + 365 * DAY, { from: newWallet });
      expectEvent(grant, "ConsentGranted", { patient: c.patient, grantee: c.practitioner2 });
      const revoke = await ml.revoke(c.verifiedPractitioner, { from: newWallet });
      expectEvent(revoke, "ConsentRevoked", { patient: c.patient, grantee: c.verifiedPractitioner });
      const rotate = await ml.rotateEncryptionKey(b32("new key"), { from: newWallet });
      expectEvent(rotate, "EncryptionKeyRotated", { account: c.patient });
      const erase = await ml.eraseRecord(record, { from: newWallet });
      expectEvent(erase, "RecordErased", { recordId: record, patient: c.patient });
      assert.strictEqual(Number((await ml.accountOf(newWallet)).kind), 0, "the new wallet has no account of its own");
      const [g] = Object.values(await rec.guardiansOf(c.patient));
      assert.deepStrictEqual(g, guardians());
      const cancel = await rec.cancelRecovery({ from: newWallet });
      expectEvent(cancel, "RecoveryCancelled", { identity: c.patient });
    });

    it("moves again: the second wallet is retired too, and the first stays retired", async () => {
      await recover();
      await rec.requestRecovery(c.patient, b32("t"), { from: thirdWallet });
      for (const g of guardians()) await approve(c.patient, thirdWallet, g);
      await increaseTime(DELAY);
      const done = await rec.completeRecovery(c.patient, { from: thirdWallet });
      expectEventFrom(done, ml, "IdentityMoved", { identity: c.patient, oldWallet: newWallet, newWallet: thirdWallet });
      for (const old of [c.patient, newWallet]) {
        assert.strictEqual(await ml.identityOf(old), ZERO);
        await expectRevert(ml.revoke(c.verifiedPractitioner, { from: old }), "WalletRetired", [old]);
      }
      assert.strictEqual(await ml.walletOf(c.patient), thirdWallet);
    });

    it("the licensing contract knows the identity too: the old wallet is refused there, the new one acts as the patient", async () => {
      const lic = await deployLicensing(c, ml);
      const t = await latestTimestamp();
      await lic.createOrganisation("St Mary's Hospital", c.orgAdmin, seats(2, 1, 2), t + 30 * DAY, "0", { from: c.admin });
      await lic.enrolPatient(1, c.patient, { from: c.orgAdmin });
      await recover();
      await expectRevert(lic.acceptEnrolment(1, { from: c.patient }), "WalletRetired", [c.patient]);
      await expectRevert(lic.endEnrolment(1, c.patient, { from: c.patient }), "WalletRetired", [c.patient]);
      const accepted = await lic.acceptEnrolment(1, { from: newWallet });
      expectEvent(accepted, "PatientEnrolled", { organisation: 1, patient: c.patient });
      const ended = await lic.endEnrolment(1, c.patient, { from: newWallet });
      expectEvent(ended, "EnrolmentEnded", { organisation: 1, patient: c.patient, by: c.patient });
      // Named by its new wallet, the patient becomes an admin as the identity, and acts as one
      // from that wallet.
      const added = await lic.addOrganisationAdmin(1, newWallet, { from: c.orgAdmin });
      expectEvent(added, "OrganisationAdminAdded", { organisation: 1, account: c.patient, by: c.orgAdmin });
      const offered = await lic.enrolPatient(1, c.otherPatient, { from: newWallet });
      expectEvent(offered, "EnrolmentOffered", { organisation: 1, patient: c.otherPatient, by: c.patient });
    });

    it("a retired wallet cannot take an identity over (WalletRetired)", async () => {
      await recover();
      await rec.setGuardians([c.verifiedPractitioner], 1, 0, { from: c.otherPatient });
      await expectRevert(rec.requestRecovery(c.otherPatient, b32("t"), { from: c.patient }), "WalletRetired", [c.patient]);
    });

    it("a guardian whose own identity moved approves from its new wallet, as its identity", async () => {
      await rec.setGuardians([c.verifiedPractitioner], 1, 0, { from: c.otherPatient });
      await rec.requestRecovery(c.otherPatient, b32("t"), { from: thirdWallet });
      await approve(c.otherPatient, thirdWallet, c.verifiedPractitioner);
      await rec.completeRecovery(c.otherPatient, { from: thirdWallet });
      // otherPatient (a guardian of the patient) now acts from thirdWallet.
      await rec.requestRecovery(c.patient, b32("t"), { from: newWallet });
      const r = await approve(c.patient, newWallet, thirdWallet);
      expectEvent(r, "RecoveryApproved", { guardian: c.otherPatient, approvals: 1 });
      await expectRevert(approve(c.patient, newWallet, c.otherPatient), "WalletRetired", [c.otherPatient]);
    });

    it("a new wallet without ether asks and completes through the forwarder (ERC-2771)", async () => {
      const forwarder = await MedLedgerForwarder.at(await ml.trustedForwarder());
      const fresh = new Wallet(web3.eth.accounts.create().privateKey);
      const relay = async (data) => {
        const request = await signForwardRequest(forwarder, fresh, { to: rec.address, gas: 400000, data });
        return forwarder.execute(request, { from: c.spare[3] });
      };
      const transportKey = b32("transport");
      const asked = await relay(rec.contract.methods.requestRecovery(c.patient, transportKey).encodeABI());
      expectEventFrom(asked, rec, "RecoveryRequested", { identity: c.patient, newWallet: fresh.address, transportKey });
      for (const g of guardians()) await approve(c.patient, fresh.address, g);
      await increaseTime(DELAY);
      const done = await relay(rec.contract.methods.completeRecovery(c.patient).encodeABI());
      expectEventFrom(done, ml, "IdentityMoved", { identity: c.patient, newWallet: fresh.address });
      assert.strictEqual(await ml.walletOf(c.patient), fresh.address);
      assert.strictEqual(BigInt(await web3.eth.getBalance(fresh.address)), 0n);
    });
  });
});
