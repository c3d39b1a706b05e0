// The authorisation matrix: every state-changing function of the core and of the insurance
// contract × each of the ten parties, and every state-changing function of the licensing contract
// × {platform admin, this organisation's admin, another organisation's admin, this organisation's
// practitioner, patient, stranger}. One `it` per cell; allowed parties must succeed (and emit the
// function's event), every other party must be refused with the function's custom error naming
// them. The insurance contract learns who is who from the core's views, so its rows show that
// those calls refuse the same parties as before the split. The core's licensing hooks
// (setLicenceTerms, assignPractitioner, releasePractitioner) refuse every party: only the
// licensing contract calls them, as the core events in its rows show.
const assert = require("assert");
const { expectRevert, expectEvent, expectEventFrom, expectNoEvent, snapshotFixture, latestTimestamp } = require("./helpers/chain");
const { MedLedgerLicensing, deploy, deployInsurance, deployLicensing, seats, cast, b32, mask, CAT, DAY, ETHER, MATRIX_PARTIES } = require("./helpers/world");
const { fileClaimDocument } = require("./helpers/insurance");

const ALL_CATEGORIES = ((1n << 256n) - 1n).toString();

// The licensing rows' parties. "practitioner" is this organisation's (practitioner2, verified by
// its admin); the organisation admins are the cast's spares orgAdmin and otherOrgAdmin.
const LICENSING_PARTIES = ["admin", "orgAdmin", "otherOrgAdmin", "practitioner", "patient", "stranger"];
// The ten parties and the two organisation admins: for the core's rows an organisation admin
// might be thought to reach (verification, suspension, the licensing hooks).
const WITH_ORG_ADMINS = [...MATRIX_PARTIES, "orgAdmin", "otherOrgAdmin"];
const ORG = 1; // this organisation (orgAdmin's)
const OTHER = 2; // another organisation (otherOrgAdmin's), under notice
const FEE = ETHER / 10n;
const PERIOD = 365 * DAY;

contract("MedLedger: authorisation matrix", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml; // the core
  let insurance; // MedLedgerInsurance on it
  let lic; // MedLedgerLicensing on it, named by setLicensing
  let bare; // a second core that names no licensing contract (the setLicensing row)
  let bareLicensing; // a licensing contract for it
  let ADMIN_ROLE;
  let ESCROW_ROLE;
  const ids = {};
  const party = (who) => (who === "practitioner" ? c.practitioner2 : c[who]);

  before(async () => {
    ml = await deploy(c);
    insurance = await deployInsurance(c, ml);
    lic = await deployLicensing(c, ml);
    bare = await deploy(c);
    bareLicensing = await MedLedgerLicensing.new(bare.address, { from: c.admin });
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

    // Licensing, with accounts outside the ten parties (their rows are unchanged): ORG with
    // practitioner2 (the licensing rows' "practitioner") and spare[3] (suspended by ORG's admin)
    // verified by its admin, a second admin spare[0], an offer of enrolment to the patient and one
    // paid renewal (fees held); OTHER under notice; practitioner3 an applicant.
    const t = await latestTimestamp();
    await lic.createOrganisation("St Mary's Hospital", c.orgAdmin, seats(3, 5, 5), t + PERIOD, FEE.toString(), { from: c.admin });
    await lic.createOrganisation("Northside Clinic", c.otherOrgAdmin, seats(3, 5, 5), t + PERIOD, FEE.toString(), { from: c.admin });
    for (const p of [c.practitioner2, c.practitioner3, c.spare[3]]) await ml.applyAsPractitioner(b32("key"), b32("profile"), { from: p });
    await lic.verifyPractitioner(ORG, c.practitioner2, { from: c.orgAdmin });
    await lic.verifyPractitioner(ORG, c.spare[3], { from: c.orgAdmin });
    await ml.suspendAccount(c.spare[3], b32("reason"), { from: c.orgAdmin });
    await lic.addOrganisationAdmin(ORG, c.spare[0], { from: c.orgAdmin });
    await lic.enrolPatient(ORG, c.patient, { from: c.orgAdmin });
    await lic.renewSubscription(ORG, { from: c.stranger, value: FEE.toString() });
    ids.paidUntil = Number((await ml.licenceTermsOf(ORG)).paidUntil);
    await lic.giveNotice(OTHER, t + 300 * DAY, { from: c.admin });
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
  const onlyPlatformAdmin = (who, addr) => ["NotPlatformAdmin", [addr]];
  const orgAdmins = ["admin", "orgAdmin"]; // the platform admin and this organisation's
  const notOrgAdmin = (who, addr) => ["NotOrganisationAdmin", [ORG, addr]];
  const onlyLicensing = (who, addr) => ["NotLicensing", [addr]];

  // fn: name; allowed: parties that succeed; refused(who, addr): [error, args];
  // send(from, who): the transaction; ok(result, from, who): what success must show;
  // parties: the parties asked (MATRIX_PARTIES unless given); on: "licensing" for the licensing
  // contract's functions (the others are the core's or the insurance contract's).
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
      parties: WITH_ORG_ADMINS, // the account is the platform's (organisation 0): no organisation admin's
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => ml.verifyAccount(c.pendingPractitioner, { from }),
      ok: (r, from) => expectEvent(r, "AccountVerified", { account: c.pendingPractitioner, admin: from }),
    },
    {
      fn: "suspendAccount",
      allowed: ["admin"],
      parties: WITH_ORG_ADMINS, // the account is the platform's (organisation 0): no organisation admin's
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => ml.suspendAccount(c.verifiedPractitioner, b32("reason"), { from }),
      ok: (r, from) => expectEvent(r, "AccountSuspended", { account: c.verifiedPractitioner, admin: from }),
    },
    {
      fn: "reinstateAccount",
      allowed: ["admin"],
      parties: WITH_ORG_ADMINS, // the account is the platform's (organisation 0): no organisation admin's
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => ml.reinstateAccount(c.suspendedPractitioner, { from }),
      ok: (r, from) => expectEvent(r, "AccountReinstated", { account: c.suspendedPractitioner, admin: from }),
    },
    {
      fn: "suspendAccount(organisation's practitioner)",
      allowed: orgAdmins,
      parties: LICENSING_PARTIES,
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => ml.suspendAccount(c.practitioner2, b32("reason"), { from }),
      ok: (r, from) => expectEvent(r, "AccountSuspended", { account: c.practitioner2, admin: from }),
    },
    {
      fn: "reinstateAccount(organisation's practitioner)",
      allowed: orgAdmins,
      parties: LICENSING_PARTIES,
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => ml.reinstateAccount(c.spare[3], { from }),
      ok: (r, from) => expectEvent(r, "AccountReinstated", { account: c.spare[3], admin: from }),
    },
    {
      fn: "setLicensing",
      // on the second core: this one named its licensing contract in before(), and only once
      allowed: ["admin"],
      parties: WITH_ORG_ADMINS,
      refused: onlyAdmin(() => ADMIN_ROLE),
      send: (from) => bare.setLicensing(bareLicensing.address, { from }),
      ok: (r) => expectEvent(r, "LicensingSet", { licensing: bareLicensing.address }),
    },
    {
      fn: "setLicenceTerms",
      allowed: [], // the licensing contract only
      parties: WITH_ORG_ADMINS,
      refused: onlyLicensing,
      send: (from) => ml.setLicenceTerms(ORG, ids.paidUntil + PERIOD, 0, { from }),
      ok: () => assert.fail("unreachable"),
    },
    {
      fn: "assignPractitioner",
      allowed: [], // the licensing contract only
      parties: WITH_ORG_ADMINS,
      refused: onlyLicensing,
      send: (from) => ml.assignPractitioner(c.practitioner3, ORG, from, { from }),
      ok: () => assert.fail("unreachable"),
    },
    {
      fn: "releasePractitioner",
      allowed: [], // the licensing contract only
      parties: WITH_ORG_ADMINS,
      refused: onlyLicensing,
      send: (from) => ml.releasePractitioner(c.practitioner2, { from }),
      ok: () => assert.fail("unreachable"),
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

    // ---------------------------------------------------------------- MedLedgerLicensing
    {
      fn: "createOrganisation",
      on: "licensing",
      allowed: ["admin"],
      parties: LICENSING_PARTIES,
      refused: onlyPlatformAdmin,
      send: async (from) => lic.createOrganisation("Riverside Practice", c.spare[1], seats(1, 1, 1), (await latestTimestamp()) + DAY, "0", { from }),
      ok: (r, from) => {
        expectEvent(r, "OrganisationCreated", { organisation: 3, name: "Riverside Practice", admin: c.spare[1] });
        expectEvent(r, "OrganisationAdminAdded", { organisation: 3, account: c.spare[1], by: from });
        expectEventFrom(r, ml, "LicenceTermsChanged", { organisation: 3, terminatesAt: 0 });
      },
    },
    {
      fn: "setSeats",
      on: "licensing",
      allowed: ["admin"],
      parties: LICENSING_PARTIES,
      refused: onlyPlatformAdmin,
      send: (from) => lic.setSeats(ORG, seats(4, 6, 6), { from }),
      ok: (r) => expectEvent(r, "SeatsChanged", { organisation: ORG }),
    },
    {
      fn: "setAnnualFee",
      on: "licensing",
      allowed: ["admin"],
      parties: LICENSING_PARTIES,
      refused: onlyPlatformAdmin,
      send: (from) => lic.setAnnualFee(ORG, (2n * FEE).toString(), { from }),
      ok: (r) => expectEvent(r, "AnnualFeeChanged", { organisation: ORG, annualFee: 2n * FEE }),
    },
    {
      fn: "recordRenewal",
      on: "licensing",
      allowed: ["admin"],
      parties: LICENSING_PARTIES,
      refused: onlyPlatformAdmin,
      send: (from) => lic.recordRenewal(ORG, ids.paidUntil + DAY, { from }),
      ok: (r, from) => {
        expectEvent(r, "SubscriptionRenewed", { organisation: ORG, paidUntil: ids.paidUntil + DAY, by: from, amount: 0 });
        expectEventFrom(r, ml, "LicenceTermsChanged", { organisation: ORG, paidUntil: ids.paidUntil + DAY, terminatesAt: 0 });
      },
    },
    {
      fn: "giveNotice",
      on: "licensing",
      allowed: ["admin"],
      parties: LICENSING_PARTIES,
      refused: onlyPlatformAdmin,
      send: async (from) => lic.giveNotice(ORG, (await latestTimestamp()) + DAY, { from }),
      ok: (r) => {
        expectEvent(r, "LicenceNoticeGiven", { organisation: ORG });
        expectEventFrom(r, ml, "LicenceTermsChanged", { organisation: ORG, paidUntil: ids.paidUntil });
      },
    },
    {
      fn: "terminateLicence",
      on: "licensing",
      allowed: ["admin"],
      parties: LICENSING_PARTIES,
      refused: onlyPlatformAdmin,
      send: (from) => lic.terminateLicence(ORG, { from }),
      ok: async (r) => {
        expectEvent(r, "LicenceTerminated", { organisation: ORG });
        assert.ok(!(await ml.isVerifiedPractitioner(c.practitioner2)));
      },
    },
    {
      fn: "reinstateLicence",
      on: "licensing",
      allowed: ["admin"],
      parties: LICENSING_PARTIES,
      refused: onlyPlatformAdmin,
      send: (from) => lic.reinstateLicence(OTHER, { from }),
      ok: (r) => {
        expectEvent(r, "LicenceReinstated", { organisation: OTHER });
        expectEventFrom(r, ml, "LicenceTermsChanged", { organisation: OTHER, terminatesAt: 0 });
      },
    },
    {
      fn: "withdrawFees",
      on: "licensing",
      allowed: ["admin"],
      parties: LICENSING_PARTIES,
      refused: onlyPlatformAdmin,
      send: (from) => lic.withdrawFees(FEE.toString(), { from }),
      ok: (r, from) => expectEvent(r, "FeesWithdrawn", { to: from, amount: FEE }),
    },
    {
      fn: "renewSubscription",
      on: "licensing",
      allowed: LICENSING_PARTIES, // anyone pays
      parties: LICENSING_PARTIES,
      refused: () => assert.fail("unreachable"),
      send: (from) => lic.renewSubscription(ORG, { from, value: FEE.toString() }),
      ok: (r, from) => expectEvent(r, "SubscriptionRenewed", { organisation: ORG, paidUntil: ids.paidUntil + PERIOD, by: from, amount: FEE }),
    },
    {
      fn: "addOrganisationAdmin",
      on: "licensing",
      allowed: orgAdmins,
      parties: LICENSING_PARTIES,
      refused: notOrgAdmin,
      send: (from) => lic.addOrganisationAdmin(ORG, c.spare[1], { from }),
      ok: (r, from) => expectEvent(r, "OrganisationAdminAdded", { organisation: ORG, account: c.spare[1], by: from }),
    },
    {
      fn: "removeOrganisationAdmin",
      on: "licensing",
      allowed: orgAdmins,
      parties: LICENSING_PARTIES,
      refused: notOrgAdmin,
      send: (from) => lic.removeOrganisationAdmin(ORG, c.spare[0], { from }),
      ok: (r, from) => expectEvent(r, "OrganisationAdminRemoved", { organisation: ORG, account: c.spare[0], by: from }),
    },
    {
      fn: "verifyPractitioner",
      on: "licensing",
      allowed: orgAdmins,
      parties: LICENSING_PARTIES,
      refused: notOrgAdmin,
      send: (from) => lic.verifyPractitioner(ORG, c.practitioner3, { from }),
      ok: (r, from) => {
        expectEvent(r, "PractitionerJoined", { organisation: ORG, practitioner: c.practitioner3, by: from });
        expectEventFrom(r, ml, "PractitionerOrganisationChanged", { practitioner: c.practitioner3, organisation: ORG });
        expectEventFrom(r, ml, "AccountVerified", { account: c.practitioner3, admin: from });
      },
    },
    {
      fn: "releasePractitioner",
      on: "licensing",
      allowed: orgAdmins,
      parties: LICENSING_PARTIES,
      refused: notOrgAdmin,
      send: (from) => lic.releasePractitioner(c.practitioner2, { from }),
      ok: (r, from) => {
        expectEvent(r, "PractitionerReleased", { organisation: ORG, practitioner: c.practitioner2, by: from });
        expectEventFrom(r, ml, "PractitionerOrganisationChanged", { practitioner: c.practitioner2, organisation: 0 });
      },
    },
    {
      fn: "enrolPatient",
      on: "licensing",
      allowed: orgAdmins,
      parties: LICENSING_PARTIES,
      refused: notOrgAdmin,
      send: (from) => lic.enrolPatient(ORG, c.otherPatient, { from }),
      ok: (r, from) => expectEvent(r, "EnrolmentOffered", { organisation: ORG, patient: c.otherPatient, by: from }),
    },
    {
      fn: "acceptEnrolment",
      on: "licensing",
      allowed: ["patient"], // the one offered
      parties: LICENSING_PARTIES,
      refused: (who, addr) => ["InvalidEnrolment", [ORG, addr, 0]],
      send: (from) => lic.acceptEnrolment(ORG, { from }),
      ok: (r, from) => expectEvent(r, "PatientEnrolled", { organisation: ORG, patient: from }),
    },
    {
      fn: "endEnrolment",
      on: "licensing",
      allowed: [...orgAdmins, "patient"],
      parties: LICENSING_PARTIES,
      refused: notOrgAdmin,
      send: (from) => lic.endEnrolment(ORG, c.patient, { from }),
      ok: (r, from) => expectEvent(r, "EnrolmentEnded", { organisation: ORG, patient: c.patient, by: from }),
    },
    {
      // Only the recovery contract moves identities (test/recovery.test.js: after its guardians'
      // approvals); every party is refused.
      fn: "moveIdentity",
      allowed: [],
      refused: (who, addr) => ["NotRecovery", [addr]],
      send: (from) => ml.moveIdentity(c.patient, c.spare[0], { from }),
    },
  ];

  it("has a row for every state-changing function of the core, of the insurance contract and of the licensing contract", () => {
    const stateChanging = (abi) =>
      abi.filter((e) => e.type === "function" && !["view", "pure"].includes(e.stateMutability)).map((e) => e.name);
    // A row may name its case after the function ("renounceRole(ESCROW_ROLE)"). The core and the
    // licensing contract both have a releasePractitioner: each needs its own row.
    const rows = (licensing) => new Set(table.filter((r) => (r.on === "licensing") === licensing).map((r) => r.fn.split("(")[0]));
    const missing = {
      coreAndInsurance: [...stateChanging(ml.abi), ...stateChanging(insurance.abi)].filter((fn) => !rows(false).has(fn)),
      licensing: stateChanging(lic.abi).filter((fn) => !rows(true).has(fn)),
    };
    assert.deepStrictEqual(missing, { coreAndInsurance: [], licensing: [] }, "state-changing functions without a row in the matrix");
    assert.ok(stateChanging(lic.abi).length >= 16, "the licensing contract's ABI was read");
  });

  for (const row of table) {
    describe(row.on === "licensing" ? `MedLedgerLicensing.${row.fn}` : row.fn, () => {
      for (const who of row.parties || MATRIX_PARTIES) {
        const allowed = row.allowed.includes(who);
        const title = allowed ? `${who}: allowed` : `${who}: refused`;
        it(title, async () => {
          const from = party(who);
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
