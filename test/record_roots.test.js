// Records under a Merkle root (anchorRecordRoot): the tree built here (helpers/merkle.js, a second
// implementation of the leaf and of OpenZeppelin's sorted-pair tree) against the contract's
// rootedLeaf and isRootedRecord; every read decision of canReadRooted against canRead's rules for
// a record of the same category; each refusal with its error; erasure by record and by eraseAll,
// and the escrow's confirmations; and the gas per record against storing 4 KiB on chain in the same
// run (written to build/gas-roots.md).
const assert = require("assert");
const fs = require("fs");
const path = require("path");
const { expectRevert, expectEvent, snapshotFixture, latestTimestamp, increaseTime } = require("./helpers/chain");
const { deploy, cast, b32, mask, CAT, DAY, registerAll } = require("./helpers/world");
const { rootedLeaf, buildTree, verify } = require("./helpers/merkle");

const BlobStore = artifacts.require("BlobStore");
const ZERO = "0x" + "00".repeat(32);

/** `n` records of the given categories (cycled), as leaves 0..n-1, with their tree. */
function rootedBatch(n, categories) {
  const records = Array.from({ length: n }, (_, index) => ({
    index,
    recordId: b32("rec"),
    ciphertextHash: b32("ct"),
    category: categories[index % categories.length],
  }));
  const tree = buildTree(records.map(rootedLeaf));
  return { records, root: tree.root, proof: (i) => tree.proof(i) };
}

contract("MedLedger: records under a root", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml;
  let expiry;

  before(async () => {
    ml = await deploy(c);
    await registerAll(ml, c);
    expiry = (await latestTimestamp()) + 30 * DAY;
    await ml.grant(c.verifiedPractitioner, mask(CAT.LAB, CAT.IMAGING), true, expiry, { from: c.patient });
    await ml.grant(c.verifiedInsurer, mask(CAT.CLAIMS), false, expiry, { from: c.patient });
    await ml.grant(c.practitioner2, mask(CAT.LAB), false, expiry, { from: c.patient });
    await fx.take();
  });
  beforeEach(() => fx.restore());

  it("anchors a root in one transaction; every leaf is proved and read by its patient", async () => {
    const b = rootedBatch(37, [CAT.LAB, CAT.IMAGING]);
    const r = await ml.anchorRecordRoot(c.patient, b.root, 37, mask(CAT.LAB, CAT.IMAGING), { from: c.verifiedPractitioner });
    expectEvent(r, "RecordRootAnchored", { root: b.root, patient: c.patient, author: c.verifiedPractitioner, count: 37 });
    const stored = await ml.recordRootOf(b.root);
    assert.strictEqual(stored.patient, c.patient);
    assert.strictEqual(stored.author, c.verifiedPractitioner);
    assert.strictEqual(Number(stored.count), 37);
    assert.strictEqual(stored.categories, mask(CAT.LAB, CAT.IMAGING));
    assert.strictEqual(Number(stored.epoch), 0);
    assert.strictEqual(Number(stored.createdAt), await latestTimestamp());
    for (const rec of b.records) {
      assert.strictEqual(await ml.rootedLeaf(rec), rootedLeaf(rec), "the contract's leaf is the helper's");
      const proof = b.proof(rec.index);
      assert.ok(verify(proof, b.root, rootedLeaf(rec)));
      assert.ok(await ml.isRootedRecord(b.root, rec, proof), `leaf ${rec.index}`);
      assert.ok(await ml.canReadRooted(c.patient, c.patient, b.root, rec, proof), `patient reads leaf ${rec.index}`);
      assert.strictEqual(await ml.isRootedErased(b.root, rec.recordId), false);
    }
  });

  it("proves only the leaves as they are: a changed field, index, proof or root is refused", async () => {
    const b = rootedBatch(8, [CAT.LAB]);
    await ml.anchorRecordRoot(c.patient, b.root, 8, mask(CAT.LAB), { from: c.patient });
    const rec = b.records[5];
    const proof = b.proof(5);
    const no = async (what, root, r, p) => {
      assert.strictEqual(await ml.isRootedRecord(root, r, p), false, what);
      assert.strictEqual(await ml.canReadRooted(c.patient, c.patient, root, r, p), false, what);
    };
    await no("another leaf's proof", b.root, rec, b.proof(4));
    await no("a shortened proof", b.root, rec, proof.slice(1));
    await no("another id", b.root, { ...rec, recordId: b32("rec") }, proof);
    await no("another h1", b.root, { ...rec, ciphertextHash: b32("ct") }, proof);
    await no("another category", b.root, { ...rec, category: CAT.IMAGING }, proof);
    await no("another index", b.root, { ...rec, index: 4 }, proof);
    await no("a root never anchored", b32("root"), rec, proof);
  });

  it("refuses a leaf past the root's count, of a category the root does not name, or with a zero id or h1", async () => {
    // A tree of 4 leaves anchored as if it had 3: leaf 3 is past the count.
    const b = rootedBatch(4, [CAT.LAB]);
    await ml.anchorRecordRoot(c.patient, b.root, 3, mask(CAT.LAB), { from: c.patient });
    assert.ok(await ml.isRootedRecord(b.root, b.records[2], b.proof(2)));
    assert.strictEqual(await ml.isRootedRecord(b.root, b.records[3], b.proof(3)), false);
    // A tree holding an Imaging leaf, anchored as Laboratory only: the author could not write it.
    const mixed = rootedBatch(4, [CAT.LAB, CAT.IMAGING]);
    await ml.anchorRecordRoot(c.patient, mixed.root, 4, mask(CAT.LAB), { from: c.patient });
    assert.ok(await ml.isRootedRecord(mixed.root, mixed.records[0], mixed.proof(0)));
    assert.strictEqual(await ml.isRootedRecord(mixed.root, mixed.records[1], mixed.proof(1)), false);
    assert.strictEqual(await ml.canReadRooted(c.patient, c.patient, mixed.root, mixed.records[1], mixed.proof(1)), false);
    // Zero id and zero h1 are never records, even in a tree.
    const zeros = [
      { index: 0, recordId: ZERO, ciphertextHash: b32("ct"), category: CAT.LAB },
      { index: 1, recordId: b32("rec"), ciphertextHash: ZERO, category: CAT.LAB },
    ];
    const t = buildTree(zeros.map(rootedLeaf));
    await ml.anchorRecordRoot(c.patient, t.root, 2, mask(CAT.LAB), { from: c.patient });
    for (const [i, z] of zeros.entries()) assert.strictEqual(await ml.isRootedRecord(t.root, z, t.proof(i)), false);
  });

  it("refuses a zero root, a root anchored twice, no records or more than MAX_ROOT_RECORDS, and no categories", async () => {
    const max = Number(await ml.MAX_ROOT_RECORDS());
    assert.strictEqual(max, 2 ** 20);
    const root = b32("root");
    await expectRevert(ml.anchorRecordRoot(c.patient, ZERO, 1, mask(CAT.LAB), { from: c.patient }), "InvalidRecordRoot", []);
    await expectRevert(ml.anchorRecordRoot(c.patient, root, 0, mask(CAT.LAB), { from: c.patient }), "InvalidRootCount", ["0"]);
    await expectRevert(ml.anchorRecordRoot(c.patient, root, max + 1, mask(CAT.LAB), { from: c.patient }), "InvalidRootCount", [String(max + 1)]);
    await expectRevert(ml.anchorRecordRoot(c.patient, root, 1, "0", { from: c.patient }), "InvalidCategories", []);
    await ml.anchorRecordRoot(c.patient, root, max, mask(CAT.LAB), { from: c.patient });
    await expectRevert(ml.anchorRecordRoot(c.patient, root, 1, mask(CAT.LAB), { from: c.patient }), "RecordRootExists", [root]);
    // Another patient cannot take a root that is anchored either.
    await expectRevert(ml.anchorRecordRoot(c.otherPatient, root, 1, mask(CAT.LAB), { from: c.otherPatient }), "RecordRootExists", [root]);
  });

  it("asks canWrite for every category the root names, and names the first refused", async () => {
    const anchor = (from, categories, patient = c.patient) => ml.anchorRecordRoot(patient, b32("root"), 5, categories, { from });
    // The practitioner may write Laboratory and Imaging only.
    await anchor(c.verifiedPractitioner, mask(CAT.LAB, CAT.IMAGING));
    await expectRevert(anchor(c.verifiedPractitioner, mask(CAT.LAB, CAT.MENTAL)), "WriteNotPermitted", [c.patient, c.verifiedPractitioner, CAT.MENTAL]);
    await expectRevert(anchor(c.verifiedPractitioner, mask(CAT.GENERAL, CAT.LAB)), "WriteNotPermitted", [c.patient, c.verifiedPractitioner, CAT.GENERAL]);
    // The highest category, 255, is checked like any other.
    await expectRevert(anchor(c.verifiedPractitioner, mask(CAT.LAB, 255)), "WriteNotPermitted", [c.patient, c.verifiedPractitioner, 255]);
    // A read-only grantee, a suspended or pending practitioner, an insurer, a stranger, another patient.
    for (const who of [c.practitioner2, c.suspendedPractitioner, c.pendingPractitioner, c.verifiedInsurer, c.stranger, c.otherPatient]) {
      await expectRevert(anchor(who, mask(CAT.LAB)), "WriteNotPermitted", [c.patient, who, CAT.LAB]);
    }
    // Records of someone who is not a patient.
    await expectRevert(anchor(c.stranger, mask(CAT.LAB), c.stranger), "WriteNotPermitted", [c.stranger, c.stranger, CAT.LAB]);
    // The write grant expires.
    await increaseTime(31 * DAY);
    await expectRevert(anchor(c.verifiedPractitioner, mask(CAT.LAB)), "WriteNotPermitted", [c.patient, c.verifiedPractitioner, CAT.LAB]);
    await anchor(c.patient, mask(CAT.LAB, CAT.MENTAL, 255));
  });

  it("decides reads as canRead does for a record of the same category: grant, category, expiry, revocation, suspension, emergency", async () => {
    const b = rootedBatch(4, [CAT.LAB, CAT.IMAGING, CAT.CLAIMS, CAT.MENTAL]);
    await ml.anchorRecordRoot(c.patient, b.root, 4, mask(CAT.LAB, CAT.IMAGING, CAT.CLAIMS, CAT.MENTAL), { from: c.patient });
    // The same four categories anchored one by one, for canRead to answer beside canReadRooted.
    const single = [];
    for (const rec of b.records) {
      const id = b32("single");
      await ml.addRecord(id, c.patient, b32("ct"), rec.category, ZERO, { from: c.patient });
      single.push(id);
    }
    const readers = [c.patient, c.otherPatient, c.verifiedPractitioner, c.practitioner2, c.suspendedPractitioner, c.pendingPractitioner, c.verifiedInsurer, c.pendingInsurer, c.stranger, c.admin];
    const same = async (when) => {
      for (const reader of readers) {
        for (const rec of b.records) {
          const rooted = await ml.canReadRooted(c.patient, reader, b.root, rec, b.proof(rec.index));
          const one = await ml.canRead(c.patient, reader, single[rec.index]);
          assert.strictEqual(rooted, one, `${when}: reader ${reader}, category ${rec.category}`);
        }
      }
    };
    await same("granted");
    assert.ok(await ml.canReadRooted(c.patient, c.verifiedPractitioner, b.root, b.records[0], b.proof(0)), "a grant covering Laboratory reads it");
    assert.strictEqual(await ml.canReadRooted(c.patient, c.verifiedPractitioner, b.root, b.records[3], b.proof(3)), false, "not the uncovered category");
    // The root is the patient's: asked for another patient, the answer is no.
    assert.strictEqual(await ml.canReadRooted(c.otherPatient, c.otherPatient, b.root, b.records[0], b.proof(0)), false);
    await ml.revoke(c.practitioner2, { from: c.patient });
    await ml.suspendAccount(c.verifiedInsurer, b32("reason"), { from: c.admin });
    await same("after a revocation and a suspension");
    await ml.setEmergencyOptIn(true, { from: c.patient });
    await ml.emergencyAccess(c.patient, b32("reason"), { from: c.practitioner3 });
    await same("in an emergency window");
    await increaseTime(31 * DAY);
    await same("after the grants expired");
  });

  it("erases one record by id, and every root before an eraseAll; roots anchored after stay live", async () => {
    const b = rootedBatch(3, [CAT.LAB]);
    await ml.anchorRecordRoot(c.patient, b.root, 3, mask(CAT.LAB), { from: c.patient });
    const read = (rec, reader = c.patient) => ml.canReadRooted(c.patient, reader, b.root, rec, b.proof(rec.index));
    const r = await ml.eraseRootedRecord(b.root, b.records[1].recordId, { from: c.patient });
    expectEvent(r, "RootedRecordErased", { root: b.root, recordId: b.records[1].recordId, patient: c.patient });
    assert.strictEqual(await read(b.records[1]), false);
    assert.strictEqual(await read(b.records[1], c.verifiedPractitioner), false);
    assert.ok(await ml.isRootedErased(b.root, b.records[1].recordId));
    assert.ok(await read(b.records[0]), "the other records stay");
    assert.ok(await read(b.records[2], c.verifiedPractitioner));
    await expectRevert(ml.eraseRootedRecord(b.root, b.records[1].recordId, { from: c.patient }), "RecordAlreadyErased", [b.records[1].recordId]);
    await expectRevert(ml.eraseRootedRecord(b.root, ZERO, { from: c.patient }), "InvalidRecordId", []);
    const unknown = b32("root");
    await expectRevert(ml.eraseRootedRecord(unknown, b.records[0].recordId, { from: c.patient }), "UnknownRecordRoot", [unknown]);
    await expectRevert(ml.isRootedErased(unknown, b.records[0].recordId), "UnknownRecordRoot", [unknown]);
    // The author, another patient: not theirs to erase.
    for (const who of [c.verifiedPractitioner, c.otherPatient]) {
      await expectRevert(ml.eraseRootedRecord(b.root, b.records[0].recordId, { from: who }), "NotRecordOwner", [b.records[0].recordId, who]);
    }
    await ml.eraseAll({ from: c.patient });
    for (const rec of b.records) {
      assert.strictEqual(await read(rec), false, `leaf ${rec.index} after eraseAll`);
      assert.ok(await ml.isRootedErased(b.root, rec.recordId));
    }
    await expectRevert(ml.eraseRootedRecord(b.root, b.records[0].recordId, { from: c.patient }), "RecordAlreadyErased", [b.records[0].recordId]);
    const after = rootedBatch(2, [CAT.LAB]);
    await ml.anchorRecordRoot(c.patient, after.root, 2, mask(CAT.LAB), { from: c.patient });
    assert.strictEqual(Number((await ml.recordRootOf(after.root)).epoch), 1);
    assert.ok(await ml.canReadRooted(c.patient, c.verifiedPractitioner, after.root, after.records[0], after.proof(0)));
  });

  it("takes the escrow's shred confirmations once each: a record's, and a whole root's after eraseAll", async () => {
    const b = rootedBatch(3, [CAT.LAB]);
    await ml.anchorRecordRoot(c.patient, b.root, 3, mask(CAT.LAB), { from: c.patient });
    const [r0, r1, r2] = b.records.map((r) => r.recordId);
    const receipt = b32("receipt");
    await expectRevert(ml.confirmRootedShredded(b.root, r0, receipt, { from: c.escrow }), "RecordNotErased", [r0]);
    await expectRevert(ml.confirmRootShredded(b.root, receipt, { from: c.escrow }), "RecordRootNotErased", [b.root]);
    await ml.eraseRootedRecord(b.root, r0, { from: c.patient });
    await expectRevert(ml.confirmRootedShredded(b.root, r0, ZERO, { from: c.escrow }), "InvalidReceiptHash", []);
    const ok = await ml.confirmRootedShredded(b.root, r0, receipt, { from: c.escrow });
    expectEvent(ok, "RootedShredConfirmed", { root: b.root, recordId: r0, receiptHash: receipt });
    await expectRevert(ml.confirmRootedShredded(b.root, r0, receipt, { from: c.escrow }), "ShredAlreadyConfirmed", [r0]);
    const unknown = b32("root");
    await expectRevert(ml.confirmRootedShredded(unknown, r0, receipt, { from: c.escrow }), "UnknownRecordRoot", [unknown]);
    await expectRevert(ml.confirmRootShredded(unknown, receipt, { from: c.escrow }), "UnknownRecordRoot", [unknown]);
    await ml.eraseAll({ from: c.patient });
    // One record's confirmation after eraseAll is still taken; then the whole root's, once.
    await ml.confirmRootedShredded(b.root, r1, receipt, { from: c.escrow });
    await expectRevert(ml.confirmRootShredded(b.root, ZERO, { from: c.escrow }), "InvalidReceiptHash", []);
    const all = await ml.confirmRootShredded(b.root, receipt, { from: c.escrow });
    expectEvent(all, "RecordRootShredConfirmed", { root: b.root, receiptHash: receipt });
    assert.ok((await ml.recordRootOf(b.root)).shredConfirmed);
    await expectRevert(ml.confirmRootShredded(b.root, receipt, { from: c.escrow }), "ShredAlreadyConfirmed", [b.root]);
    await expectRevert(ml.confirmRootedShredded(b.root, r2, receipt, { from: c.escrow }), "ShredAlreadyConfirmed", [r2]);
  });

  it("costs at most 1/30 of storing 4 KiB per record from 100 records a root, written to build/gas-roots.md", async () => {
    // The anchor, in the same run: 4 KiB kept in contract storage (what a record would cost if the
    // chain held it), the same bytes as calldata.
    const store = await BlobStore.new({ from: c.admin });
    const blob = "0x" + "a5".repeat(4096);
    const stored = Number((await store.store(blob, { from: c.admin, gas: 29_000_000 })).receipt.gasUsed);
    const single = Number((await ml.addRecord(b32("rec"), c.patient, b32("ct"), CAT.LAB, ZERO, { from: c.patient })).receipt.gasUsed);
    const rows = [["addRecord", 1, single]];
    for (const n of [1, 10, 100, 1000, 10000]) {
      const r = await ml.anchorRecordRoot(c.patient, b32("root"), n, mask(CAT.LAB, CAT.IMAGING), { from: c.verifiedPractitioner });
      rows.push(["anchorRecordRoot", n, Number(r.receipt.gasUsed)]);
    }
    const perRecord = (row) => row[2] / row[1];
    for (const row of rows.slice(1)) {
      // The root's gas does not grow with its records: only the count in its calldata changes.
      assert.ok(Math.abs(row[2] - rows[1][2]) < 200, `a root of ${row[1]} costs ${row[2]}, a root of 1 ${rows[1][2]}`);
    }
    const at100 = perRecord(rows.find((r) => r[1] === 100 && r[0] === "anchorRecordRoot"));
    assert.ok(at100 * 30 <= stored, `${at100} gas a record at 100 a root vs ${stored} to store 4 KiB`);
    const table = [
      `Storing 4 KiB in contract storage (test/BlobStore.sol, same run): ${stored} gas; 1/30 of it: ${Math.floor(stored / 30)}.`,
      "",
      "| call | records | gas | gas per record | storing 4 KiB / gas per record |",
      "|---|---:|---:|---:|---:|",
      ...rows.map((r) => `| ${r[0]} | ${r[1]} | ${r[2]} | ${Math.round(perRecord(r))} | ${(stored / perRecord(r)).toFixed(1)} |`),
    ].join("\n");
    fs.mkdirSync(path.join(__dirname, "..", "build"), { recursive: true });
    fs.writeFileSync(path.join(__dirname, "..", "build", "gas-roots.md"), table + "\n");
    console.log(table);
  });
});
