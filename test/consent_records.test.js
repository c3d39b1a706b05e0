// Consent (grant, revoke, canRead, canWrite, activeGrants) and records (add, supersede, erase,
// eraseAll epochs, shred confirmation).
const assert = require("assert");
const { expectRevert, expectEvent, snapshotFixture, latestTimestamp, mineAt, increaseTime } = require("./helpers/chain");
const { deploy, cast, b32, mask, CAT, DAY, registerAll } = require("./helpers/world");

const ZERO = "0x" + "00".repeat(32);

contract("MedLedger: consent and records", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml;
  let now;

  const add = (patient, cat, from = patient, supersedes = ZERO, id = b32("record")) =>
    ml.addRecord(id, patient, b32("ct"), cat, supersedes, { from }).then(() => id);

  before(async () => {
    ml = await deploy(c);
    await registerAll(ml, c);
    await fx.take();
  });
  beforeEach(async () => {
    await fx.restore();
    now = await latestTimestamp();
  });

  describe("grant and revoke", () => {
    it("grant stores the grant, lists the grantee and emits ConsentGranted", async () => {
      const expiry = now + 10 * DAY;
      const cats = mask(CAT.GENERAL, CAT.LAB);
      const r = await ml.grant(c.verifiedPractitioner, cats, true, expiry, { from: c.patient });
      expectEvent(r, "ConsentGranted", { patient: c.patient, grantee: c.verifiedPractitioner, categories: cats, canWrite: true, expiry });
      const g = await ml.grantOf(c.patient, c.verifiedPractitioner);
      assert.strictEqual(g.categories.toString(), cats);
      assert.strictEqual(g.canWrite, true);
      assert.strictEqual(Number(g.expiry), expiry);
      assert.strictEqual(Number(g.grantedAt), Number((await web3.eth.getBlock(r.receipt.blockNumber)).timestamp));
      const { grantees } = await ml.activeGrants(c.patient);
      assert.deepStrictEqual(grantees, [c.verifiedPractitioner]);
    });

    it("a new grant replaces the old one without listing the grantee twice", async () => {
      await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL), true, now + DAY, { from: c.patient });
      await ml.grant(c.verifiedPractitioner, mask(CAT.LAB), false, now + 2 * DAY, { from: c.patient });
      const g = await ml.grantOf(c.patient, c.verifiedPractitioner);
      assert.strictEqual(g.categories.toString(), mask(CAT.LAB));
      assert.strictEqual(g.canWrite, false);
      const { grantees, grants } = await ml.activeGrants(c.patient);
      assert.deepStrictEqual(grantees, [c.verifiedPractitioner]);
      assert.strictEqual(grants[0].categories.toString(), mask(CAT.LAB));
    });

    it("grant may name a pending or suspended professional (it counts once they are verified)", async () => {
      await ml.grant(c.pendingPractitioner, mask(CAT.GENERAL), true, now + DAY, { from: c.patient });
      await ml.grant(c.suspendedPractitioner, mask(CAT.GENERAL), true, now + DAY, { from: c.patient });
      await ml.grant(c.pendingInsurer, mask(CAT.GENERAL), false, now + DAY, { from: c.patient });
      assert.strictEqual((await ml.activeGrants(c.patient)).grantees.length, 3);
    });

    it("grant refuses patients, unregistered accounts and insurers with write as grantees", async () => {
      await expectRevert(ml.grant(c.otherPatient, mask(1), false, now + DAY, { from: c.patient }), "InvalidGrantee", [c.otherPatient]);
      await expectRevert(ml.grant(c.patient, mask(1), false, now + DAY, { from: c.patient }), "InvalidGrantee", [c.patient]);
      await expectRevert(ml.grant(c.stranger, mask(1), false, now + DAY, { from: c.patient }), "InvalidGrantee", [c.stranger]);
      await expectRevert(ml.grant(c.verifiedInsurer, mask(1), true, now + DAY, { from: c.patient }), "InvalidGrantee", [c.verifiedInsurer]);
      await ml.grant(c.verifiedInsurer, mask(1), false, now + DAY, { from: c.patient });
    });

    it("grant refuses an empty category mask and an expiry not in the future", async () => {
      await expectRevert(ml.grant(c.verifiedPractitioner, "0", false, now + DAY, { from: c.patient }), "InvalidCategories", []);
      // The next block's timestamp is at least `now`, so expiry == now is already past.
      await expectRevert(ml.grant(c.verifiedPractitioner, mask(1), false, now, { from: c.patient }), "ExpiryInPast", [now]);
      await expectRevert(ml.grant(c.verifiedPractitioner, mask(1), false, 0, { from: c.patient }), "ExpiryInPast", [0]);
    });

    it("grant by a non-patient is refused", async () => {
      await expectRevert(ml.grant(c.verifiedPractitioner, mask(1), false, now + DAY, { from: c.practitioner2 }), "NotAPatient", [c.practitioner2]);
    });

    it("revoke deletes the grant, unlists the grantee and emits ConsentRevoked; a second revoke is refused", async () => {
      await ml.grant(c.verifiedPractitioner, mask(1), true, now + DAY, { from: c.patient });
      await ml.grant(c.practitioner2, mask(1), true, now + DAY, { from: c.patient });
      const r = await ml.revoke(c.verifiedPractitioner, { from: c.patient });
      expectEvent(r, "ConsentRevoked", { patient: c.patient, grantee: c.verifiedPractitioner });
      const g = await ml.grantOf(c.patient, c.verifiedPractitioner);
      assert.strictEqual(Number(g.expiry), 0);
      assert.strictEqual(g.categories.toString(), "0");
      assert.deepStrictEqual((await ml.activeGrants(c.patient)).grantees, [c.practitioner2]);
      await expectRevert(ml.revoke(c.verifiedPractitioner, { from: c.patient }), "NoActiveGrant", [c.patient, c.verifiedPractitioner]);
    });

    it("an expired grant can still be revoked, which removes it from the grantee set", async () => {
      await ml.grant(c.verifiedPractitioner, mask(1), false, now + 100, { from: c.patient });
      await increaseTime(200);
      const r = await ml.revoke(c.verifiedPractitioner, { from: c.patient });
      expectEvent(r, "ConsentRevoked", { patient: c.patient, grantee: c.verifiedPractitioner });
      await expectRevert(ml.revoke(c.verifiedPractitioner, { from: c.patient }), "NoActiveGrant", [c.patient, c.verifiedPractitioner]);
    });

    it("activeGrants lists only unexpired, unrevoked grants, with their terms", async () => {
      await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL), true, now + 100, { from: c.patient });
      await ml.grant(c.practitioner2, mask(CAT.LAB), false, now + 10 * DAY, { from: c.patient });
      await ml.grant(c.practitioner3, mask(CAT.IMAGING), true, now + 10 * DAY, { from: c.patient });
      await ml.grant(c.verifiedInsurer, mask(CAT.CLAIMS), false, now + 10 * DAY, { from: c.patient });
      await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL), false, now + 10 * DAY, { from: c.otherPatient });
      let { grantees, grants } = await ml.activeGrants(c.patient);
      assert.deepStrictEqual(grantees, [c.verifiedPractitioner, c.practitioner2, c.practitioner3, c.verifiedInsurer]);
      assert.deepStrictEqual(grants.map((g) => g.categories.toString()), [mask(CAT.GENERAL), mask(CAT.LAB), mask(CAT.IMAGING), mask(CAT.CLAIMS)]);
      await ml.revoke(c.practitioner3, { from: c.patient });
      await mineAt(now + 100); // verifiedPractitioner's grant lapses now
      ({ grantees, grants } = await ml.activeGrants(c.patient));
      assert.deepStrictEqual(grantees.slice().sort(), [c.practitioner2, c.verifiedInsurer].sort());
      for (let i = 0; i < grantees.length; i++) {
        const stored = await ml.grantOf(c.patient, grantees[i]);
        assert.strictEqual(grants[i].categories.toString(), stored.categories.toString());
        assert.strictEqual(grants[i].expiry.toString(), stored.expiry.toString());
      }
      // The other patient's list is their own.
      assert.deepStrictEqual((await ml.activeGrants(c.otherPatient)).grantees, [c.verifiedPractitioner]);
      assert.deepStrictEqual((await ml.activeGrants(c.stranger)).grantees, []);
    });
  });

  describe("canRead and canWrite", () => {
    let rec; // patient's GENERAL record
    let lab; // patient's LAB record
    beforeEach(async () => {
      rec = await add(c.patient, CAT.GENERAL);
      lab = await add(c.patient, CAT.LAB);
    });

    it("the patient reads and writes their own records; nobody reads a record as another patient's", async () => {
      assert.ok(await ml.canRead(c.patient, c.patient, rec));
      assert.ok(await ml.canWrite(c.patient, c.patient, 200));
      assert.ok(!(await ml.canRead(c.otherPatient, c.otherPatient, rec)));
      assert.ok(!(await ml.canRead(c.otherPatient, c.patient, rec)));
      assert.ok(!(await ml.canRead(c.patient, c.patient, b32("unknown"))));
      assert.ok(!(await ml.canWrite(c.stranger, c.stranger, 1)), "an unregistered 'patient' writes nothing");
    });

    it("nobody else reads or writes without a grant", async () => {
      for (const who of [c.otherPatient, c.verifiedPractitioner, c.verifiedInsurer, c.stranger, c.admin, c.escrow]) {
        assert.ok(!(await ml.canRead(c.patient, who, rec)));
        assert.ok(!(await ml.canWrite(c.patient, who, CAT.GENERAL)));
      }
    });

    it("a grant opens exactly its categories; write only with canWrite", async () => {
      await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL), false, now + DAY, { from: c.patient });
      assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, rec));
      assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, lab)), "category mismatch");
      assert.ok(!(await ml.canWrite(c.patient, c.verifiedPractitioner, CAT.GENERAL)), "read-only grant");
      await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL), true, now + DAY, { from: c.patient });
      assert.ok(await ml.canWrite(c.patient, c.verifiedPractitioner, CAT.GENERAL));
      assert.ok(!(await ml.canWrite(c.patient, c.verifiedPractitioner, CAT.LAB)));
    });

    it("category 0 and category 255 are the lowest and highest bits", async () => {
      const r0 = await add(c.patient, 0);
      const r255 = await add(c.patient, 255);
      await ml.grant(c.verifiedPractitioner, mask(255), true, now + DAY, { from: c.patient });
      assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, r255));
      assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, r0)));
      assert.ok(await ml.canWrite(c.patient, c.verifiedPractitioner, 255));
      assert.ok(!(await ml.canWrite(c.patient, c.verifiedPractitioner, 254)));
      await ml.grant(c.verifiedPractitioner, mask(0), true, now + DAY, { from: c.patient });
      assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, r0));
      assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, r255)));
    });

    it("canReadMany answers canRead for every id, index for index, whoever asks", async () => {
      const theirs = await add(c.otherPatient, CAT.GENERAL);
      const erased = await add(c.patient, CAT.GENERAL);
      await ml.eraseRecord(erased, { from: c.patient });
      await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL), false, now + DAY, { from: c.patient });
      await ml.grant(c.verifiedInsurer, mask(CAT.LAB), false, now + DAY, { from: c.patient });
      const ids = [rec, lab, theirs, erased, b32("unknown"), rec];
      const readers = [c.patient, c.otherPatient, c.verifiedPractitioner, c.verifiedInsurer, c.stranger, c.admin];
      const check = async (when) => {
        for (const reader of readers) {
          const many = await ml.canReadMany(c.patient, reader, ids);
          const one = await Promise.all(ids.map((id) => ml.canRead(c.patient, reader, id)));
          assert.deepStrictEqual(many, one, `${when}: reader ${reader}`);
        }
      };
      await check("granted");
      assert.deepStrictEqual(await ml.canReadMany(c.patient, c.verifiedPractitioner, ids), [true, false, false, false, false, true]);
      assert.deepStrictEqual(await ml.canReadMany(c.patient, c.verifiedInsurer, ids), [false, true, false, false, false, false]);
      assert.deepStrictEqual(await ml.canReadMany(c.patient, c.patient, []), []);
      await ml.suspendAccount(c.verifiedPractitioner, b32(), { from: c.admin });
      await check("after a suspension");
      assert.deepStrictEqual(await ml.canReadMany(c.patient, c.verifiedPractitioner, ids), ids.map(() => false));
      await ml.eraseAll({ from: c.patient });
      await check("after eraseAll");
      assert.deepStrictEqual(await ml.canReadMany(c.patient, c.patient, ids), ids.map(() => false));
    });

    it("an insurer with a view grant reads its categories but never writes", async () => {
      await ml.grant(c.verifiedInsurer, mask(CAT.GENERAL), false, now + DAY, { from: c.patient });
      assert.ok(await ml.canRead(c.patient, c.verifiedInsurer, rec));
      assert.ok(!(await ml.canRead(c.patient, c.verifiedInsurer, lab)));
      assert.ok(!(await ml.canWrite(c.patient, c.verifiedInsurer, CAT.GENERAL)));
    });

    it("a grant expires exactly at its expiry time", async () => {
      const expiry = now + 1000;
      await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL), true, expiry, { from: c.patient });
      await mineAt(expiry - 1);
      assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, rec));
      assert.ok(await ml.canWrite(c.patient, c.verifiedPractitioner, CAT.GENERAL));
      await mineAt(expiry);
      assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)));
      assert.ok(!(await ml.canWrite(c.patient, c.verifiedPractitioner, CAT.GENERAL)));
      await expectRevert(
        ml.addRecord(b32(), c.patient, b32(), CAT.GENERAL, ZERO, { from: c.verifiedPractitioner }),
        "WriteNotPermitted",
        [c.patient, c.verifiedPractitioner, CAT.GENERAL]
      );
      // the expired grant stays stored (grantOf) but is not active
      assert.strictEqual(Number((await ml.grantOf(c.patient, c.verifiedPractitioner)).expiry), expiry);
      assert.deepStrictEqual((await ml.activeGrants(c.patient)).grantees, []);
    });

    it("expiry via evm_increaseTime: readable before, not after", async () => {
      await ml.grant(c.verifiedInsurer, mask(CAT.GENERAL), false, now + 7 * DAY, { from: c.patient });
      await increaseTime(6 * DAY);
      assert.ok(await ml.canRead(c.patient, c.verifiedInsurer, rec));
      await increaseTime(2 * DAY);
      assert.ok(!(await ml.canRead(c.patient, c.verifiedInsurer, rec)));
    });

    it("revoke takes effect in the next block", async () => {
      await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL), true, now + DAY, { from: c.patient });
      assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, rec));
      await ml.revoke(c.verifiedPractitioner, { from: c.patient });
      assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)));
      assert.ok(!(await ml.canWrite(c.patient, c.verifiedPractitioner, CAT.GENERAL)));
      await expectRevert(
        ml.addRecord(b32(), c.patient, b32(), CAT.GENERAL, ZERO, { from: c.verifiedPractitioner }),
        "WriteNotPermitted",
        [c.patient, c.verifiedPractitioner, CAT.GENERAL]
      );
    });

    it("pending professionals hold grants they cannot use until verified", async () => {
      await ml.grant(c.pendingPractitioner, mask(CAT.GENERAL), true, now + DAY, { from: c.patient });
      await ml.grant(c.pendingInsurer, mask(CAT.GENERAL), false, now + DAY, { from: c.patient });
      assert.ok(!(await ml.canRead(c.patient, c.pendingPractitioner, rec)));
      assert.ok(!(await ml.canWrite(c.patient, c.pendingPractitioner, CAT.GENERAL)));
      assert.ok(!(await ml.canRead(c.patient, c.pendingInsurer, rec)));
      await ml.verifyAccount(c.pendingPractitioner, { from: c.admin });
      await ml.verifyAccount(c.pendingInsurer, { from: c.admin });
      assert.ok(await ml.canRead(c.patient, c.pendingPractitioner, rec));
      assert.ok(await ml.canWrite(c.patient, c.pendingPractitioner, CAT.GENERAL));
      assert.ok(await ml.canRead(c.patient, c.pendingInsurer, rec));
    });

    it("suspension closes read and write at once; reinstatement restores the unexpired grant", async () => {
      await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL), true, now + DAY, { from: c.patient });
      await ml.grant(c.verifiedInsurer, mask(CAT.GENERAL), false, now + DAY, { from: c.patient });
      await ml.suspendAccount(c.verifiedPractitioner, b32(), { from: c.admin });
      await ml.suspendAccount(c.verifiedInsurer, b32(), { from: c.admin });
      assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)));
      assert.ok(!(await ml.canWrite(c.patient, c.verifiedPractitioner, CAT.GENERAL)));
      assert.ok(!(await ml.canRead(c.patient, c.verifiedInsurer, rec)));
      await expectRevert(
        ml.addRecord(b32(), c.patient, b32(), CAT.GENERAL, ZERO, { from: c.verifiedPractitioner }),
        "WriteNotPermitted",
        [c.patient, c.verifiedPractitioner, CAT.GENERAL]
      );
      await ml.reinstateAccount(c.verifiedPractitioner, { from: c.admin });
      await ml.reinstateAccount(c.verifiedInsurer, { from: c.admin });
      assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, rec));
      assert.ok(await ml.canWrite(c.patient, c.verifiedPractitioner, CAT.GENERAL));
      assert.ok(await ml.canRead(c.patient, c.verifiedInsurer, rec));
    });

    it("erasure by eraseRecord closes the record to everyone, the patient included", async () => {
      await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL, CAT.LAB), true, now + DAY, { from: c.patient });
      await ml.eraseRecord(rec, { from: c.patient });
      assert.ok(!(await ml.canRead(c.patient, c.patient, rec)));
      assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)));
      assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, lab), "other records stay readable");
      assert.ok(await ml.isErased(rec));
      assert.ok(!(await ml.isErased(lab)));
    });

    it("eraseAll erases every earlier record; records added afterwards are readable again", async () => {
      await ml.grant(c.verifiedPractitioner, mask(CAT.GENERAL, CAT.LAB), true, now + DAY, { from: c.patient });
      const other = await add(c.otherPatient, CAT.GENERAL);
      const r = await ml.eraseAll({ from: c.patient });
      expectEvent(r, "AllRecordsErased", { patient: c.patient, newEpoch: 1 });
      assert.strictEqual((await ml.erasureEpochOf(c.patient)).toString(), "1");
      for (const id of [rec, lab]) {
        assert.ok(await ml.isErased(id));
        assert.ok(!(await ml.canRead(c.patient, c.patient, id)));
        assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, id)));
        assert.strictEqual((await ml.recordOf(id)).erased, false, "recordOf.erased is only the per-record flag");
      }
      assert.ok(await ml.canRead(c.otherPatient, c.otherPatient, other), "another patient's records are untouched");
      const fresh = await add(c.patient, CAT.GENERAL, c.verifiedPractitioner);
      assert.strictEqual((await ml.recordOf(fresh)).epoch.toString(), "1");
      assert.ok(!(await ml.isErased(fresh)));
      assert.ok(await ml.canRead(c.patient, c.patient, fresh));
      assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, fresh));
      // a second eraseAll takes the new one too
      const r2 = await ml.eraseAll({ from: c.patient });
      expectEvent(r2, "AllRecordsErased", { patient: c.patient, newEpoch: 2 });
      assert.ok(await ml.isErased(fresh));
      assert.ok(!(await ml.canRead(c.patient, c.patient, fresh)));
    });

    it("eraseAll does not touch grants: new records are readable by existing grantees", async () => {
      await ml.grant(c.verifiedInsurer, mask(CAT.GENERAL), false, now + DAY, { from: c.patient });
      await ml.eraseAll({ from: c.patient });
      const fresh = await add(c.patient, CAT.GENERAL);
      assert.ok(await ml.canRead(c.patient, c.verifiedInsurer, fresh));
    });
  });

  describe("addRecord", () => {
    it("stores the record and emits RecordAdded (patient and write-granted practitioner)", async () => {
      const id = b32("rec");
      const h = b32("ct");
      const r = await ml.addRecord(id, c.patient, h, CAT.LAB, ZERO, { from: c.patient });
      expectEvent(r, "RecordAdded", { recordId: id, patient: c.patient, author: c.patient, ciphertextHash: h, category: CAT.LAB, supersedes: ZERO });
      const rec = await ml.recordOf(id);
      assert.strictEqual(rec.patient, c.patient);
      assert.strictEqual(rec.author, c.patient);
      assert.strictEqual(rec.ciphertextHash, h);
      assert.strictEqual(rec.supersedes, ZERO);
      assert.strictEqual(Number(rec.category), CAT.LAB);
      assert.strictEqual(rec.epoch.toString(), "0");
      assert.strictEqual(rec.erased, false);
      assert.strictEqual(rec.shredConfirmed, false);
      assert.strictEqual(Number(rec.createdAt), Number((await web3.eth.getBlock(r.receipt.blockNumber)).timestamp));

      await ml.grant(c.verifiedPractitioner, mask(CAT.LAB), true, now + DAY, { from: c.patient });
      const id2 = b32("rec");
      const r2 = await ml.addRecord(id2, c.patient, h, CAT.LAB, ZERO, { from: c.verifiedPractitioner });
      expectEvent(r2, "RecordAdded", { recordId: id2, patient: c.patient, author: c.verifiedPractitioner });
      assert.strictEqual((await ml.recordOf(id2)).author, c.verifiedPractitioner);
    });

    it("refuses a zero id, a zero ciphertext hash and a taken id (even once erased)", async () => {
      await expectRevert(ml.addRecord(ZERO, c.patient, b32(), 1, ZERO, { from: c.patient }), "InvalidRecordId", []);
      await expectRevert(ml.addRecord(b32(), c.patient, ZERO, 1, ZERO, { from: c.patient }), "InvalidCiphertextHash", []);
      const id = await add(c.patient, 1);
      await expectRevert(ml.addRecord(id, c.patient, b32(), 1, ZERO, { from: c.patient }), "RecordExists", [id]);
      await expectRevert(ml.addRecord(id, c.otherPatient, b32(), 1, ZERO, { from: c.otherPatient }), "RecordExists", [id]);
      await ml.eraseRecord(id, { from: c.patient });
      await expectRevert(ml.addRecord(id, c.patient, b32(), 1, ZERO, { from: c.patient }), "RecordExists", [id]);
    });

    it("refuses a practitioner outside its granted categories, and anyone writing for a non-patient", async () => {
      await ml.grant(c.verifiedPractitioner, mask(CAT.LAB), true, now + DAY, { from: c.patient });
      await expectRevert(
        ml.addRecord(b32(), c.patient, b32(), CAT.MENTAL, ZERO, { from: c.verifiedPractitioner }),
        "WriteNotPermitted",
        [c.patient, c.verifiedPractitioner, CAT.MENTAL]
      );
      await expectRevert(
        ml.addRecord(b32(), c.stranger, b32(), 1, ZERO, { from: c.stranger }),
        "WriteNotPermitted",
        [c.stranger, c.stranger, 1]
      );
      await expectRevert(
        ml.addRecord(b32(), c.verifiedPractitioner, b32(), 1, ZERO, { from: c.verifiedPractitioner }),
        "WriteNotPermitted",
        [c.verifiedPractitioner, c.verifiedPractitioner, 1]
      );
    });

    it("supersedes: an amendment names a live record of the same patient", async () => {
      const orig = await add(c.patient, CAT.LAB);
      const id = b32("amend");
      const r = await ml.addRecord(id, c.patient, b32(), CAT.LAB, orig, { from: c.patient });
      expectEvent(r, "RecordAdded", { recordId: id, supersedes: orig });
      assert.strictEqual((await ml.recordOf(id)).supersedes, orig);
      // records are immutable: the original is unchanged and still readable
      assert.strictEqual((await ml.recordOf(orig)).supersedes, ZERO);
      assert.ok(await ml.canRead(c.patient, c.patient, orig));
      // an amendment of the amendment
      await ml.addRecord(b32(), c.patient, b32(), CAT.LAB, id, { from: c.patient });
    });

    it("supersedes refuses an unknown record, another patient's record, an erased record and itself", async () => {
      const unknown = b32("unknown");
      await expectRevert(ml.addRecord(b32(), c.patient, b32(), 1, unknown, { from: c.patient }), "InvalidSupersedes", [unknown]);
      const theirs = await add(c.otherPatient, 1);
      await expectRevert(ml.addRecord(b32(), c.patient, b32(), 1, theirs, { from: c.patient }), "InvalidSupersedes", [theirs]);
      const erased = await add(c.patient, 1);
      await ml.eraseRecord(erased, { from: c.patient });
      await expectRevert(ml.addRecord(b32(), c.patient, b32(), 1, erased, { from: c.patient }), "InvalidSupersedes", [erased]);
      const old = await add(c.patient, 1);
      await ml.eraseAll({ from: c.patient });
      await expectRevert(ml.addRecord(b32(), c.patient, b32(), 1, old, { from: c.patient }), "InvalidSupersedes", [old]);
      const self = b32("self");
      await expectRevert(ml.addRecord(self, c.patient, b32(), 1, self, { from: c.patient }), "InvalidSupersedes", [self]);
    });
  });

  describe("eraseRecord, eraseAll, confirmShredded", () => {
    it("eraseRecord sets the tombstone and emits RecordErased", async () => {
      const id = await add(c.patient, 1);
      const r = await ml.eraseRecord(id, { from: c.patient });
      expectEvent(r, "RecordErased", { recordId: id, patient: c.patient });
      const rec = await ml.recordOf(id);
      assert.strictEqual(rec.erased, true);
      assert.strictEqual(rec.patient, c.patient, "the tombstone keeps its owner");
    });

    it("eraseRecord refuses unknown records, other owners (even the author) and erased records", async () => {
      const unknown = b32();
      await expectRevert(ml.eraseRecord(unknown, { from: c.patient }), "UnknownRecord", [unknown]);
      await ml.grant(c.verifiedPractitioner, mask(1), true, now + DAY, { from: c.patient });
      const id = await add(c.patient, 1, c.verifiedPractitioner);
      await expectRevert(ml.eraseRecord(id, { from: c.verifiedPractitioner }), "NotRecordOwner", [id, c.verifiedPractitioner]);
      await expectRevert(ml.eraseRecord(id, { from: c.otherPatient }), "NotRecordOwner", [id, c.otherPatient]);
      await ml.eraseRecord(id, { from: c.patient });
      await expectRevert(ml.eraseRecord(id, { from: c.patient }), "RecordAlreadyErased", [id]);
      const id2 = await add(c.patient, 1);
      await ml.eraseAll({ from: c.patient });
      await expectRevert(ml.eraseRecord(id2, { from: c.patient }), "RecordAlreadyErased", [id2]);
    });

    it("eraseAll refuses non-patients", async () => {
      await expectRevert(ml.eraseAll({ from: c.verifiedPractitioner }), "NotAPatient", [c.verifiedPractitioner]);
      await expectRevert(ml.eraseAll({ from: c.stranger }), "NotAPatient", [c.stranger]);
    });

    it("isErased refuses unknown records", async () => {
      const unknown = b32();
      await expectRevert(ml.isErased(unknown), "UnknownRecord", [unknown]);
    });

    it("confirmShredded records the escrow's receipt for a record erased either way", async () => {
      const one = await add(c.patient, 1);
      const all = await add(c.patient, 2);
      await ml.eraseRecord(one, { from: c.patient });
      const receipt = b32("receipt");
      const r = await ml.confirmShredded(one, receipt, { from: c.escrow });
      expectEvent(r, "ShredConfirmed", { recordId: one, receiptHash: receipt });
      assert.strictEqual((await ml.recordOf(one)).shredConfirmed, true);
      await ml.eraseAll({ from: c.patient });
      await ml.confirmShredded(all, b32(), { from: c.escrow });
      assert.strictEqual((await ml.recordOf(all)).shredConfirmed, true);
    });

    it("confirmShredded refuses unknown, live and already-shredded records and a zero receipt", async () => {
      const unknown = b32();
      await expectRevert(ml.confirmShredded(unknown, b32(), { from: c.escrow }), "UnknownRecord", [unknown]);
      const id = await add(c.patient, 1);
      await expectRevert(ml.confirmShredded(id, b32(), { from: c.escrow }), "RecordNotErased", [id]);
      await ml.eraseRecord(id, { from: c.patient });
      await expectRevert(ml.confirmShredded(id, ZERO, { from: c.escrow }), "InvalidReceiptHash", []);
      await ml.confirmShredded(id, b32(), { from: c.escrow });
      await expectRevert(ml.confirmShredded(id, b32(), { from: c.escrow }), "ShredAlreadyConfirmed", [id]);
    });
  });
});
