// Registration, encryption keys, verification, suspension and reinstatement; roles.
const assert = require("assert");
const { expectRevert, expectEvent, snapshotFixture } = require("./helpers/chain");
const { deploy, deployInsurance, cast, b32 } = require("./helpers/world");

const ZERO = "0x" + "00".repeat(32);
const Kind = { None: 0, Patient: 1, Practitioner: 2, Insurer: 3 };
const Status = { None: 0, Pending: 1, Active: 2, Suspended: 3 };

contract("MedLedger: accounts and roles", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml;
  let insurance; // MedLedgerInsurance on ml, for the constants it exposes

  before(async () => {
    ml = await deploy(c);
    insurance = await deployInsurance(c, ml);
    await fx.take();
  });
  beforeEach(async () => {
    await fx.restore();
  });

  describe("deployment", () => {
    it("gives the admin ADMIN_ROLE and the escrow ESCROW_ROLE, nobody else, ADMIN administering both", async () => {
      const ADMIN = await ml.ADMIN_ROLE();
      const ESCROW = await ml.ESCROW_ROLE();
      assert.strictEqual(ADMIN, web3.utils.keccak256("MEDLEDGER_ADMIN"));
      assert.strictEqual(ESCROW, web3.utils.keccak256("MEDLEDGER_ESCROW"));
      assert.ok(await ml.hasRole(ADMIN, c.admin));
      assert.ok(await ml.hasRole(ESCROW, c.escrow));
      assert.ok(!(await ml.hasRole(ADMIN, c.escrow)));
      assert.ok(!(await ml.hasRole(ESCROW, c.admin)));
      assert.ok(!(await ml.hasRole(ADMIN, c.stranger)));
      assert.strictEqual(await ml.getRoleAdmin(ADMIN), ADMIN);
      assert.strictEqual(await ml.getRoleAdmin(ESCROW), ADMIN);
    });

    it("the constructor emits RoleAdminChanged (ADMIN administers both roles) and RoleGranted to admin and escrow", async () => {
      const ADMIN = await ml.ADMIN_ROLE();
      const ESCROW = await ml.ESCROW_ROLE();
      const DEFAULT_ADMIN = await ml.DEFAULT_ADMIN_ROLE();
      assert.strictEqual(DEFAULT_ADMIN, ZERO);
      const receipt = await web3.eth.getTransactionReceipt(ml.transactionHash);
      const events = await ml.getPastEvents("allEvents", { fromBlock: receipt.blockNumber, toBlock: receipt.blockNumber });
      const summary = events.map((e) =>
        e.event === "RoleAdminChanged"
          ? [e.event, e.args.role, e.args.previousAdminRole, e.args.newAdminRole]
          : [e.event, e.args.role, e.args.account.toLowerCase(), e.args.sender.toLowerCase()]
      );
      assert.deepStrictEqual(summary, [
        ["RoleAdminChanged", ADMIN, DEFAULT_ADMIN, ADMIN],
        ["RoleAdminChanged", ESCROW, DEFAULT_ADMIN, ADMIN],
        ["RoleGranted", ADMIN, c.admin.toLowerCase(), c.admin.toLowerCase()],
        ["RoleGranted", ESCROW, c.escrow.toLowerCase(), c.admin.toLowerCase()],
      ]);
      // Nobody holds OpenZeppelin's DEFAULT_ADMIN_ROLE: ADMIN_ROLE administers itself.
      assert.ok(!(await ml.hasRole(DEFAULT_ADMIN, c.admin)));
    });

    it("exposes its constants and defaults", async () => {
      assert.strictEqual((await ml.MAX_CATEGORY()).toString(), "255");
      assert.strictEqual((await ml.MIN_EMERGENCY_WINDOW()).toString(), "3600");
      assert.strictEqual((await ml.MAX_EMERGENCY_WINDOW()).toString(), String(7 * 86400));
      assert.strictEqual((await insurance.POLICY_YEAR()).toString(), String(365 * 86400));
      assert.strictEqual((await ml.emergencyWindow()).toString(), "86400");
      assert.strictEqual((await ml.nextLogSeq()).toString(), "0");
      assert.strictEqual((await ml.anchorCount()).toString(), "0");
    });

    it("supports the AccessControl and ERC165 interfaces only", async () => {
      assert.ok(await ml.supportsInterface("0x7965db0b")); // IAccessControl
      assert.ok(await ml.supportsInterface("0x01ffc9a7")); // IERC165
      assert.ok(!(await ml.supportsInterface("0xffffffff")));
    });
  });

  describe("registration", () => {
    it("registerPatient stores an active patient and emits AccountRegistered", async () => {
      const key = b32("key");
      const r = await ml.registerPatient(key, { from: c.patient });
      expectEvent(r, "AccountRegistered", { account: c.patient, kind: Kind.Patient, encryptionKey: key, profileHash: ZERO });
      const a = await ml.accountOf(c.patient);
      assert.strictEqual(Number(a.kind), Kind.Patient);
      assert.strictEqual(Number(a.status), Status.Active);
      assert.strictEqual(a.encryptionKey, key);
      assert.strictEqual(a.profileHash, ZERO);
      assert.strictEqual(a.emergencyOptIn, false);
      const block = await web3.eth.getBlock(r.receipt.blockNumber);
      assert.strictEqual(Number(a.registeredAt), Number(block.timestamp));
    });

    it("applyAsPractitioner and applyAsInsurer store pending applications with their profile hash", async () => {
      const k1 = b32("key");
      const p1 = b32("profile");
      const r1 = await ml.applyAsPractitioner(k1, p1, { from: c.practitioner2 });
      expectEvent(r1, "AccountRegistered", { account: c.practitioner2, kind: Kind.Practitioner, encryptionKey: k1, profileHash: p1 });
      const k2 = b32("key");
      const p2 = b32("profile");
      const r2 = await ml.applyAsInsurer(k2, p2, { from: c.insurer2 });
      expectEvent(r2, "AccountRegistered", { account: c.insurer2, kind: Kind.Insurer, encryptionKey: k2, profileHash: p2 });
      const a = await ml.accountOf(c.practitioner2);
      assert.strictEqual(Number(a.kind), Kind.Practitioner);
      assert.strictEqual(Number(a.status), Status.Pending);
      assert.strictEqual(a.profileHash, p1);
      const b = await ml.accountOf(c.insurer2);
      assert.strictEqual(Number(b.kind), Kind.Insurer);
      assert.strictEqual(Number(b.status), Status.Pending);
      assert.ok(!(await ml.isVerifiedPractitioner(c.practitioner2)));
      assert.ok(!(await ml.isVerifiedInsurer(c.insurer2)));
    });

    it("an unregistered account reads as all zero", async () => {
      const a = await ml.accountOf(c.stranger);
      assert.strictEqual(Number(a.kind), Kind.None);
      assert.strictEqual(Number(a.status), Status.None);
      assert.strictEqual(a.encryptionKey, ZERO);
    });

    it("refuses a zero encryption key for every kind", async () => {
      await expectRevert(ml.registerPatient(ZERO, { from: c.patient }), "InvalidEncryptionKey", []);
      await expectRevert(ml.applyAsPractitioner(ZERO, b32(), { from: c.patient }), "InvalidEncryptionKey", []);
      await expectRevert(ml.applyAsInsurer(ZERO, b32(), { from: c.patient }), "InvalidEncryptionKey", []);
    });

    it("refuses a zero profile hash for professionals", async () => {
      await expectRevert(ml.applyAsPractitioner(b32(), ZERO, { from: c.patient }), "InvalidProfileHash", []);
      await expectRevert(ml.applyAsInsurer(b32(), ZERO, { from: c.patient }), "InvalidProfileHash", []);
    });

    it("an account registers once, as one kind", async () => {
      await ml.registerPatient(b32(), { from: c.patient });
      await expectRevert(ml.registerPatient(b32(), { from: c.patient }), "AlreadyRegistered", [c.patient]);
      await expectRevert(ml.applyAsPractitioner(b32(), b32(), { from: c.patient }), "AlreadyRegistered", [c.patient]);
      await expectRevert(ml.applyAsInsurer(b32(), b32(), { from: c.patient }), "AlreadyRegistered", [c.patient]);
    });

    it("rotateEncryptionKey replaces the key, keeps the rest, refuses zero, the same key and the unregistered", async () => {
      await ml.applyAsPractitioner(b32(), b32("profile"), { from: c.practitioner2 });
      const before = await ml.accountOf(c.practitioner2);
      const key = b32("new");
      const r = await ml.rotateEncryptionKey(key, { from: c.practitioner2 });
      expectEvent(r, "EncryptionKeyRotated", { account: c.practitioner2, encryptionKey: key });
      const after = await ml.accountOf(c.practitioner2);
      assert.strictEqual(after.encryptionKey, key);
      assert.strictEqual(after.profileHash, before.profileHash);
      assert.strictEqual(after.status, before.status);
      await expectRevert(ml.rotateEncryptionKey(ZERO, { from: c.practitioner2 }), "InvalidEncryptionKey", []);
      // The key it already has is no rotation (every EncryptionKeyRotated names a new key).
      await expectRevert(ml.rotateEncryptionKey(key, { from: c.practitioner2 }), "InvalidEncryptionKey", []);
      assert.strictEqual((await ml.accountOf(c.practitioner2)).encryptionKey, key);
      await expectRevert(ml.rotateEncryptionKey(key, { from: c.stranger }), "NotRegistered", [c.stranger]);
    });
  });

  describe("verification, suspension, reinstatement", () => {
    beforeEach(async () => {
      await ml.registerPatient(b32(), { from: c.patient });
      await ml.applyAsPractitioner(b32(), b32("profile"), { from: c.practitioner2 });
      await ml.applyAsInsurer(b32(), b32("profile"), { from: c.insurer2 });
    });

    for (const [label, who, isVerified] of [
      ["practitioner", "practitioner2", "isVerifiedPractitioner"],
      ["insurer", "insurer2", "isVerifiedInsurer"],
    ]) {
      it(`a ${label} goes Pending → Active → Suspended → Active with events`, async () => {
        const acct = c[who];
        let r = await ml.verifyAccount(acct, { from: c.admin });
        expectEvent(r, "AccountVerified", { account: acct, admin: c.admin });
        assert.strictEqual(Number((await ml.accountOf(acct)).status), Status.Active);
        assert.ok(await ml[isVerified](acct));
        const reason = b32("reason");
        r = await ml.suspendAccount(acct, reason, { from: c.admin });
        expectEvent(r, "AccountSuspended", { account: acct, admin: c.admin, reasonHash: reason });
        assert.strictEqual(Number((await ml.accountOf(acct)).status), Status.Suspended);
        assert.ok(!(await ml[isVerified](acct)));
        r = await ml.reinstateAccount(acct, { from: c.admin });
        expectEvent(r, "AccountReinstated", { account: acct, admin: c.admin });
        assert.strictEqual(Number((await ml.accountOf(acct)).status), Status.Active);
        assert.ok(await ml[isVerified](acct));
      });
    }

    it("isVerifiedPractitioner and isVerifiedInsurer do not confuse the kinds", async () => {
      await ml.verifyAccount(c.practitioner2, { from: c.admin });
      await ml.verifyAccount(c.insurer2, { from: c.admin });
      assert.ok(!(await ml.isVerifiedInsurer(c.practitioner2)));
      assert.ok(!(await ml.isVerifiedPractitioner(c.insurer2)));
      assert.ok(!(await ml.isVerifiedPractitioner(c.patient)));
    });

    it("verifyAccount refuses an account that is not Pending", async () => {
      await ml.verifyAccount(c.practitioner2, { from: c.admin });
      await expectRevert(ml.verifyAccount(c.practitioner2, { from: c.admin }), "InvalidStatusChange", [c.practitioner2, Status.Active]);
      await ml.suspendAccount(c.practitioner2, b32(), { from: c.admin });
      await expectRevert(ml.verifyAccount(c.practitioner2, { from: c.admin }), "InvalidStatusChange", [c.practitioner2, Status.Suspended]);
    });

    it("suspendAccount refuses an already suspended account and a pending applicant", async () => {
      await ml.verifyAccount(c.insurer2, { from: c.admin });
      await ml.suspendAccount(c.insurer2, b32(), { from: c.admin });
      await expectRevert(ml.suspendAccount(c.insurer2, b32(), { from: c.admin }), "InvalidStatusChange", [c.insurer2, Status.Suspended]);
      await expectRevert(ml.suspendAccount(c.practitioner2, b32(), { from: c.admin }), "InvalidStatusChange", [c.practitioner2, Status.Pending]);
    });

    it("reinstateAccount refuses an account that is not suspended", async () => {
      await expectRevert(ml.reinstateAccount(c.practitioner2, { from: c.admin }), "InvalidStatusChange", [c.practitioner2, Status.Pending]);
      await ml.verifyAccount(c.practitioner2, { from: c.admin });
      await expectRevert(ml.reinstateAccount(c.practitioner2, { from: c.admin }), "InvalidStatusChange", [c.practitioner2, Status.Active]);
    });

    it("a pending applicant cannot be suspended, so reinstatement can never verify it without review", async () => {
      // Regression: suspend (Pending → Suspended) then reinstate (→ Active) used to verify it.
      await expectRevert(ml.suspendAccount(c.practitioner2, b32(), { from: c.admin }), "InvalidStatusChange", [c.practitioner2, Status.Pending]);
      await expectRevert(ml.reinstateAccount(c.practitioner2, { from: c.admin }), "InvalidStatusChange", [c.practitioner2, Status.Pending]);
      assert.strictEqual(Number((await ml.accountOf(c.practitioner2)).status), Status.Pending);
      assert.ok(!(await ml.isVerifiedPractitioner(c.practitioner2)));
    });

    it("verify, suspend and reinstate refuse patients and unregistered accounts", async () => {
      for (const acct of [c.patient, c.stranger]) {
        await expectRevert(ml.verifyAccount(acct, { from: c.admin }), "NotAProfessional", [acct]);
        await expectRevert(ml.suspendAccount(acct, b32(), { from: c.admin }), "NotAProfessional", [acct]);
        await expectRevert(ml.reinstateAccount(acct, { from: c.admin }), "NotAProfessional", [acct]);
      }
    });
  });

  describe("roles (AccessControl)", () => {
    it("an admin can add a second escrow account, which can then anchor; revoking removes it", async () => {
      const ESCROW = await ml.ESCROW_ROLE();
      await expectRevert(ml.anchorAccessLog(b32(), 0, 0, { from: c.stranger }), "AccessControlUnauthorizedAccount", [c.stranger, ESCROW]);
      await ml.grantRole(ESCROW, c.stranger, { from: c.admin });
      await ml.anchorAccessLog(b32(), 0, 0, { from: c.stranger });
      await ml.revokeRole(ESCROW, c.stranger, { from: c.admin });
      await expectRevert(ml.anchorAccessLog(b32(), 1, 1, { from: c.stranger }), "AccessControlUnauthorizedAccount", [c.stranger, ESCROW]);
    });

    it("a second admin can verify; an admin who renounces cannot", async () => {
      const ADMIN = await ml.ADMIN_ROLE();
      await ml.applyAsPractitioner(b32(), b32(), { from: c.practitioner2 });
      await ml.grantRole(ADMIN, c.spare[0], { from: c.admin });
      const r = await ml.renounceRole(ADMIN, c.admin, { from: c.admin });
      expectEvent(r, "RoleRevoked", { role: ADMIN, account: c.admin, sender: c.admin });
      await expectRevert(ml.verifyAccount(c.practitioner2, { from: c.admin }), "AccessControlUnauthorizedAccount", [c.admin, ADMIN]);
      await ml.verifyAccount(c.practitioner2, { from: c.spare[0] });
      assert.ok(await ml.isVerifiedPractitioner(c.practitioner2));
    });

    it("renounceRole for another account is refused with AccessControlBadConfirmation", async () => {
      const ESCROW = await ml.ESCROW_ROLE();
      await expectRevert(ml.renounceRole(ESCROW, c.escrow, { from: c.admin }), "AccessControlBadConfirmation", []);
      assert.ok(await ml.hasRole(ESCROW, c.escrow));
    });

    it("the escrow role alone grants no admin power, and the admin role no escrow power", async () => {
      await ml.applyAsPractitioner(b32(), b32(), { from: c.practitioner2 });
      const ADMIN = await ml.ADMIN_ROLE();
      const ESCROW = await ml.ESCROW_ROLE();
      await expectRevert(ml.verifyAccount(c.practitioner2, { from: c.escrow }), "AccessControlUnauthorizedAccount", [c.escrow, ADMIN]);
      await expectRevert(ml.anchorAccessLog(b32(), 0, 0, { from: c.admin }), "AccessControlUnauthorizedAccount", [c.admin, ESCROW]);
    });
  });
});
