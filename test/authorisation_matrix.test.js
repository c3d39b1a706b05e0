// The authorisation matrix: every state-changing function of the core and of the insurance
// contract × each of the ten parties. One `it` per cell; allowed parties must succeed (and emit the
// function's event), every other party must be refused with the function's custom error naming
// them. The insurance contract learns who is who from the core's views, so its rows show that
// those calls refuse the same parties as before the split.
const assert = require("assert");
const { expectRevert, expectEvent, expectNoEvent, snapshotFixture, latestTimestamp } = require("./helpers/chain");
const { deploy, deployInsurance, cast, b32, mask, CAT, DAY, ETHER, MATRIX_PARTIES } = require("./helpers/world");
const { fileClaimDocument } = require("./helpers/insurance");

const ALL_CATEGORIES = ((1n << 256n) - 1n).toString();

contract("MedLedger: authorisation matrix", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml; // the core
  let insurance; // MedLedgerInsurance on it
  let ADMIN_ROLE;
  let ESCROW_ROLE;
  const ids = {};

  before(async () => {
    ml = await deploy(c);
    insurance = await deployInsurance(c, ml);
    ADMIN_ROLE = await ml.ADMIN_ROLE();
    ESCROW_ROLE = await ml.ESCROW_ROLE();
    await ml.registerPatient(b32("key"), { from: c.patient });
    await ml.registerPatient(b32("key"), { from: c.otherPatient });
    for (const p of [c.pendingPractitioner, c.verifiedPractitioner, c.suspendedPractitioner]) {
      await ml.applyAsPractitioner(b32("key"), b32("profile"), { from: p });
    }
    for (const i of [c.pendingInsurer, c.verifiedInsurer]) await ml.applyAsInsurer(b32("key"), b32("profile"), { from: i });
    for (const a of [c.verifiedPractitioner, c.suspendedPractitioner, c.verifiedInsurer]) {
      await ml.verifyAccount(a, { from: c.admin });
    }
    const expiry = (await latestTimestamp()) + 30 * DAY;
    // Every professional holds the broadest grant it can, so that refusals come from the role
    // check and not from a missing grant.
    for (const p of [c.pendingPractitioner, c.verifiedPractitioner, c.suspendedPractitioner]) {
      await ml.grant(p, ALL_CATEGORIES, true, expiry, { from: c.patient });
    }
    for (const i of [c.pendingInsurer, c.verifiedInsurer]) await ml.grant(i, ALL_CATEGORIES, false, expiry, { from: c.patient });

    await insurance.publishPolicy(mask(CAT.CLAIMS), (1n * ETHER).toString(), (100n * ETHER).toString(), "0", {
      from: c.verifiedInsurer,
      value: (20n * ETHER).toString(),
    });
    const small = (ETHER / 10n).toString();
    // Every claim rests on a claim document its practitioner filed for the patient (Claims).
    const doc = (from) => fileClaimDocument(ml, { patient: c.patient, from });
    // Both the verified and the (soon) suspended practitioner earn a payout.
    for (const p of [c.suspendedPractitioner, c.verifiedPractitioner]) {
      const r = await insurance.submitClaim(b32("claim"), c.patient, c.verifiedInsurer, await doc(p), small, CAT.CLAIMS, { from: p });
      expectEvent(r, "ClaimPaid", { automatic: true });
    }
    ids.claimReview = b32("claim");
    await insurance.submitClaim(ids.claimReview, c.patient, c.verifiedInsurer, await doc(c.verifiedPractitioner), (2n * ETHER).toString(), CAT.CLAIMS, {
      from: c.verifiedPractitioner,
    });
    ids.claimApproved = b32("claim");
    await insurance.submitClaim(ids.claimApproved, c.patient, c.verifiedInsurer, await doc(c.verifiedPractitioner), (3n * ETHER).toString(), CAT.CLAIMS, {
      from: c.verifiedPractitioner,
    });
    // the unclaimed document the submitClaim row claims on (a refused party fails before it is read)
    ids.claimDocument = await doc(c.verifiedPractitioner);
    await insurance.approveClaim(ids.claimApproved, ETHER.toString(), { from: c.verifiedInsurer });

    ids.record = b32("record");
    await ml.addRecord(ids.record, c.patient, b32("ct"), CAT.GENERAL, "0x" + "00".repeat(32), { from: c.patient });
    ids.erased = b32("record");
    await ml.addRecord(ids.erased, c.patient, b32("ct"), CAT.GENERAL, "0x" + "00".repeat(32), { from: c.patient });
    await ml.eraseRecord(ids.erased, { from: c.patient });
    // Records under a root: one of the patient's (a record id in it, and one erased), and a root
    // of a third patient erased by eraseAll (not a matrix party, so the eraseAll row is unchanged).
    ids.root = b32("root");
    await ml.anchorRecordRoot(c.patient, ids.root, 4, mask(CAT.GENERAL), { from: c.patient });
    ids.rootedRecord = b32("record");
    ids.rootedErased = b32("record");
    await ml.eraseRootedRecord(ids.root, ids.rootedErased, { from: c.patient });
    await ml.registerPatient(b32("key"), { from: c.patient3 });
    ids.erasedRoot = b32("root");
    await ml.anchorRecordRoot(c.patient3, ids.erasedRoot, 4, mask(CAT.GENERAL), { from: c.patient3 });
    await ml.eraseAll({ from: c.patient3 });

    await ml.setEmergencyOptIn(true, { from: c.patient });
    await ml.emergencyAccess(c.patient, b32("reason"), { from: c.verifiedPractitioner });

    await ml.suspendAccount(c.suspendedPractitioner, b32("reason"), { from: c.admin });
    await fx.take();
  });

  // A refused call changes nothing, so the chain is put back only after a cell that succeeded
  // (or failed in an unexpected way).
  let dirty = false;
  beforeEach(async () => {
    if (dirty) await fx.restore();
    dirty = true;
  });

  const registered = ["patient", "otherPatient", "pendingPractitioner", "verifiedPractitioner", "suspendedPractitioner", "pendingInsurer", "verifiedInsurer"];
  const unregistered = ["admin", "escrow", "stranger"];
  const patients = ["patient", "otherPatient"];
  const onlyAdmin = (role) => (who, addr) => ["AccessControlUnauthorizedAccount", [addr, role()]];

  // fn: name; allowed: parties that succeed; refused(who, addr): [error, args];
  // send(from, who): the transaction; ok(result, from, who): what success must show.
  const table = [
    {
      fn: "registerPatient",
      allowed: unregistered,
      refused: (who, addr) => ["AlreadyRegistered", [addr]],
      send: (from) => ml.registerPatient(b32("key"), { from }),
      ok: (r, from) => expectEvent(r, "AccountRegistered", { account: from, kind: 1 }),
    },
    {
      fn: "applyAsPractitioner",
      allowed: unregistered,
      refused: (who, addr) => ["AlreadyRegistered", [addr]],
      send: (from) => ml.applyAsPractitioner(b32("key"), b32("profile"), { from }),
      ok: (r, from) => expectEvent(r, "AccountRegistered", { account: from, kind: 2 }),
    },
    {
      fn: "applyAsInsurer",
      allowed: unregistered,
      refused: (who, addr) => ["AlreadyRegistered", [addr]],
      send: (from) => ml.applyAsInsurer(b32("key"), b32("profile"), { from }),
      ok: (r, from) => expectEvent(r, "AccountRegistered", { account: from, kind: 3 }),
    },
    {
      fn: "rotateEncryptionKey",
      allowed: registered,
      refused: (who, addr) => ["NotRegistered", [addr]],
      send: (from) => ml.rotateEncryptionKey(b32("key"), { from }),
      ok: (r, from) => expectEvent(r, "EncryptionKeyRotated", { account: from }),
    },
    {
      fn: "verifyAccount",
      allowed: ["admin"],
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => ml.verifyAccount(c.pendingPractitioner, { from }),
      ok: (r, from) => expectEvent(r, "AccountVerified", { account: c.pendingPractitioner, admin: from }),
    },
    {
      fn: "suspendAccount",
      allowed: ["admin"],
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => ml.suspendAccount(c.verifiedPractitioner, b32("reason"), { from }),
      ok: (r, from) => expectEvent(r, "AccountSuspended", { account: c.verifiedPractitioner, admin: from }),
    },
    {
      fn: "reinstateAccount",
      allowed: ["admin"],
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => ml.reinstateAccount(c.suspendedPractitioner, { from }),
      ok: (r, from) => expectEvent(r, "AccountReinstated", { account: c.suspendedPractitioner, admin: from }),
    },
    {
      fn: "grant",
      allowed: patients,
      refused: (who, addr) => ["NotAPatient", [addr]],
      send: async (from) => ml.grant(c.verifiedPractitioner, mask(CAT.LAB), false, (await latestTimestamp()) + DAY, { from }),
      ok: (r, from) => expectEvent(r, "ConsentGranted", { patient: from, grantee: c.verifiedPractitioner, categories: mask(CAT.LAB) }),
    },
    {
      fn: "revoke",
      allowed: ["patient"], // only the patient has granted verifiedPractitioner
      refused: (who, addr) => ["NoActiveGrant", [addr, c.verifiedPractitioner]],
      send: (from) => ml.revoke(c.verifiedPractitioner, { from }),
      ok: (r, from) => expectEvent(r, "ConsentRevoked", { patient: from, grantee: c.verifiedPractitioner }),
    },
    {
      fn: "addRecord",
      // pending and suspended practitioners hold write grants too, yet are refused
      allowed: ["patient", "verifiedPractitioner"],
      refused: (who, addr) => ["WriteNotPermitted", [c.patient, addr, CAT.GENERAL]],
      send: (from) => ml.addRecord(b32("record"), c.patient, b32("ct"), CAT.GENERAL, "0x" + "00".repeat(32), { from }),
      ok: (r, from) => expectEvent(r, "RecordAdded", { patient: c.patient, author: from, category: CAT.GENERAL }),
    },
    {
      fn: "addRecords",
      // the same rule as addRecord, checked for every record of the batch
      allowed: ["patient", "verifiedPractitioner"],
      refused: (who, addr) => ["WriteNotPermitted", [c.patient, addr, CAT.GENERAL]],
      send: (from) =>
        ml.addRecords(
          [{ recordId: b32("record"), patient: c.patient, ciphertextHash: b32("ct"), category: CAT.GENERAL, supersedes: "0x" + "00".repeat(32) }],
          { from }
        ),
      ok: (r, from) => expectEvent(r, "RecordAdded", { patient: c.patient, author: from, category: CAT.GENERAL }),
    },
    {
      fn: "eraseRecord",
      allowed: ["patient"],
      refused: (who, addr) => ["NotRecordOwner", [ids.record, addr]],
      send: (from) => ml.eraseRecord(ids.record, { from }),
      ok: (r, from) => expectEvent(r, "RecordErased", { recordId: ids.record, patient: from }),
    },
    {
      fn: "eraseAll",
      allowed: patients,
      refused: (who, addr) => ["NotAPatient", [addr]],
      send: (from) => ml.eraseAll({ from }),
      ok: (r, from) => expectEvent(r, "AllRecordsErased", { patient: from, newEpoch: 1 }),
    },
    {
      fn: "confirmShredded",
      allowed: ["escrow"],
      refused: (who, addr) => ["AccessControlUnauthorizedAccount", [addr, ESCROW_ROLE]],
      send: (from) => ml.confirmShredded(ids.erased, b32("receipt"), { from }),
      ok: (r) => expectEvent(r, "ShredConfirmed", { recordId: ids.erased }),
    },
    {
      fn: "anchorRecordRoot",
      // the rule of addRecord, for every category the root names
      allowed: ["patient", "verifiedPractitioner"],
      refused: (who, addr) => ["WriteNotPermitted", [c.patient, addr, CAT.GENERAL]],
      send: (from) => ml.anchorRecordRoot(c.patient, b32("root"), 10, mask(CAT.GENERAL), { from }),
      ok: (r, from) => expectEvent(r, "RecordRootAnchored", { patient: c.patient, author: from, count: 10 }),
    },
    {
      fn: "eraseRootedRecord",
      allowed: ["patient"],
      refused: (who, addr) => ["NotRecordOwner", [ids.rootedRecord, addr]],
      send: (from) => ml.eraseRootedRecord(ids.root, ids.rootedRecord, { from }),
      ok: (r, from) => expectEvent(r, "RootedRecordErased", { root: ids.root, recordId: ids.rootedRecord, patient: from }),
    },
    {
      fn: "confirmRootedShredded",
      allowed: ["escrow"],
      refused: (who, addr) => ["AccessControlUnauthorizedAccount", [addr, ESCROW_ROLE]],
      send: (from) => ml.confirmRootedShredded(ids.root, ids.rootedErased, b32("receipt"), { from }),
      ok: (r) => expectEvent(r, "RootedShredConfirmed", { root: ids.root, recordId: ids.rootedErased }),
    },
    {
      fn: "confirmRootShredded",
      allowed: ["escrow"],
      refused: (who, addr) => ["AccessControlUnauthorizedAccount", [addr, ESCROW_ROLE]],
      send: (from) => ml.confirmRootShredded(ids.erasedRoot, b32("receipt"), { from }),
      ok: (r) => expectEvent(r, "RecordRootShredConfirmed", { root: ids.erasedRoot }),
    },
    {
      fn: "setEmergencyOptIn",
      allowed: patients,
      refused: (who, addr) => ["NotAPatient", [addr]],
      send: (from) => ml.setEmergencyOptIn(false, { from }),
      ok: (r, from) => expectEvent(r, "EmergencyOptInChanged", { patient: from, optedIn: false }),
    },
    {
      fn: "setEmergencyWindow",
      allowed: ["admin"],
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => ml.setEmergencyWindow(7200, { from }),
      ok: (r) => expectEvent(r, "EmergencyWindowChanged", { windowSeconds: 7200 }),
    },
    {
      fn: "emergencyAccess",
      allowed: ["verifiedPractitioner"],
      refused: (who, addr) => ["NotAVerifiedPractitioner", [addr]],
      send: (from) => ml.emergencyAccess(c.patient, b32("reason"), { from }),
      ok: (r, from) => expectEvent(r, "EmergencyAccessOpened", { patient: c.patient, practitioner: from }),
    },
    {
      fn: "endEmergencyAccess",
      allowed: ["patient"],
      refused: (who, addr) => ["NoEmergencyAccess", [addr, c.verifiedPractitioner]],
      send: (from) => ml.endEmergencyAccess(c.verifiedPractitioner, { from }),
      ok: (r, from) => expectEvent(r, "EmergencyAccessEnded", { patient: from, practitioner: c.verifiedPractitioner }),
    },
    {
      fn: "anchorAccessLog",
      allowed: ["escrow"],
      refused: (who, addr) => ["AccessControlUnauthorizedAccount", [addr, ESCROW_ROLE]],
      send: (from) => ml.anchorAccessLog(b32("root"), 0, 3, { from }),
      ok: (r) => expectEvent(r, "AccessLogAnchored", { anchorIndex: 0, firstSeq: 0, lastSeq: 3 }),
    },
    {
      fn: "publishPolicy",
      allowed: ["verifiedInsurer"],
      refused: (who, addr) => ["NotAVerifiedInsurer", [addr]],
      send: (from) => insurance.publishPolicy(mask(CAT.CLAIMS, CAT.LAB), "5", "50", "1", { from }),
      ok: (r, from) => expectEvent(r, "PolicyPublished", { insurer: from, coveredCategories: mask(CAT.CLAIMS, CAT.LAB) }),
    },
    {
      fn: "fundPolicy",
      allowed: ["verifiedInsurer"],
      refused: (who, addr) => ["NoPolicy", [addr]],
      send: (from) => insurance.fundPolicy({ from, value: ETHER.toString() }),
      ok: (r, from) => expectEvent(r, "PolicyFunded", { insurer: from, amount: ETHER }),
    },
    {
      fn: "withdrawPolicyFunds",
      allowed: ["verifiedInsurer"],
      refused: (who, addr) => ["NoPolicy", [addr]],
      send: (from) => insurance.withdrawPolicyFunds(ETHER.toString(), { from }),
      ok: (r, from) => expectEvent(r, "PolicyFundsWithdrawn", { insurer: from, amount: ETHER }),
    },
    {
      fn: "submitClaim",
      allowed: ["verifiedPractitioner"],
      refused: (who, addr) => ["NotAVerifiedPractitioner", [addr]],
      send: (from) => insurance.submitClaim(b32("claim"), c.patient, c.verifiedInsurer, ids.claimDocument, "1000", CAT.CLAIMS, { from }),
      ok: (r, from) => expectEvent(r, "ClaimSubmitted", { practitioner: from, patient: c.patient, insurer: c.verifiedInsurer, documentRecordId: ids.claimDocument }),
    },
    {
      fn: "approveClaim",
      allowed: ["verifiedInsurer"],
      refused: (who, addr) => ["NotClaimInsurer", [ids.claimReview, addr]],
      send: (from) => insurance.approveClaim(ids.claimReview, ETHER.toString(), { from }),
      ok: (r) => expectEvent(r, "ClaimApproved", { claimId: ids.claimReview, payout: ETHER }),
    },
    {
      fn: "denyClaim",
      allowed: ["verifiedInsurer"],
      refused: (who, addr) => ["NotClaimInsurer", [ids.claimReview, addr]],
      send: (from) => insurance.denyClaim(ids.claimReview, b32("why"), { from }),
      ok: (r) => expectEvent(r, "ClaimDenied", { claimId: ids.claimReview }),
    },
    {
      fn: "payClaim",
      allowed: ["verifiedInsurer"],
      refused: (who, addr) => ["NotClaimInsurer", [ids.claimApproved, addr]],
      send: (from) => insurance.payClaim(ids.claimApproved, { from }),
      ok: (r) => expectEvent(r, "ClaimPaid", { claimId: ids.claimApproved, practitioner: c.verifiedPractitioner, payout: ETHER, automatic: false }),
    },
    {
      fn: "withdrawPayout",
      // a suspended practitioner keeps what it earned before the suspension
      allowed: ["verifiedPractitioner", "suspendedPractitioner"],
      refused: () => ["NothingToWithdraw", []],
      send: (from) => insurance.withdrawPayout({ from }),
      ok: (r, from) => expectEvent(r, "PayoutWithdrawn", { practitioner: from, amount: ETHER / 10n }),
    },
    {
      fn: "grantRole",
      allowed: ["admin"],
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => ml.grantRole(ESCROW_ROLE, c.stranger, { from }),
      ok: (r, from) => expectEvent(r, "RoleGranted", { role: ESCROW_ROLE, account: c.stranger, sender: from }),
    },
    {
      fn: "revokeRole",
      allowed: ["admin"],
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => ml.revokeRole(ESCROW_ROLE, c.escrow, { from }),
      ok: (r, from) => expectEvent(r, "RoleRevoked", { role: ESCROW_ROLE, account: c.escrow, sender: from }),
    },
    {
      // renounceRole never reverts for the caller's own address; only the holder loses anything.
      fn: "renounceRole(ESCROW_ROLE)",
      allowed: MATRIX_PARTIES,
      refused: () => assert.fail("unreachable"),
      send: (from) => ml.renounceRole(ESCROW_ROLE, from, { from }),
      ok: async (r, from, who) => {
        if (who === "escrow") expectEvent(r, "RoleRevoked", { role: ESCROW_ROLE, account: from, sender: from });
        else expectNoEvent(r, "RoleRevoked");
        assert.strictEqual(await ml.hasRole(ESCROW_ROLE, c.escrow), who !== "escrow");
      },
    },
  ];

  it("has a row for every state-changing function of the core and of the insurance contract", () => {
    const stateChanging = (abi) =>
      abi.filter((e) => e.type === "function" && !["view", "pure"].includes(e.stateMutability)).map((e) => e.name);
    // A row may name its case after the function ("renounceRole(ESCROW_ROLE)").
    const rows = new Set(table.map((r) => r.fn.split("(")[0]));
    const missing = [...stateChanging(ml.abi), ...stateChanging(insurance.abi)].filter((fn) => !rows.has(fn));
    assert.deepStrictEqual(missing, [], "state-changing functions without a row in the matrix");
  });

  for (const row of table) {
    describe(row.fn, () => {
      for (const who of MATRIX_PARTIES) {
        const allowed = row.allowed.includes(who);
        const title = allowed ? `${who}: allowed` : `${who}: refused`;
        it(title, async () => {
          const from = c[who];
          if (allowed) {
            const r = await row.send(from, who);
            await row.ok(r, from, who);
          } else {
            const [name, args] = row.refused(who, from);
            await expectRevert(row.send(from, who), name, args);
            dirty = false;
          }
        });
      }
    });
  }
});
