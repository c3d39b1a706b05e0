// Batch anchoring (addRecords): each record of a batch is checked exactly as addRecord checks it
// and emits its own RecordAdded; one refused record refuses the whole batch; the gas per record
// falls as batches grow (bench/gas.md has the figures).
const assert = require("assert");
const fs = require("fs");
const path = require("path");
const { expectRevert, snapshotFixture, latestTimestamp } = require("./helpers/chain");
const { deploy, cast, b32, mask, CAT, DAY, registerAll } = require("./helpers/world");

const ZERO = "0x" + "00".repeat(32);

contract("MedLedger: batch anchoring", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml;
  let max;

  const item = (patient, category = CAT.LAB, over = {}) => ({
    recordId: b32("rec"),
    patient,
    ciphertextHash: b32("ct"),
    category,
    supersedes: ZERO,
    ...over,
  });
  const stored = async (id) => (await ml.recordOf(id)).patient !== "0x0000000000000000000000000000000000000000";

  before(async () => {
    ml = await deploy(c);
    await registerAll(ml, c);
    max = Number(await ml.MAX_RECORD_BATCH());
    const expiry = (await latestTimestamp()) + 30 * DAY;
    await ml.grant(c.verifiedPractitioner, mask(CAT.LAB, CAT.GENERAL), true, expiry, { from: c.patient });
    await ml.grant(c.verifiedPractitioner, mask(CAT.LAB), true, expiry, { from: c.otherPatient });
    await fx.take();
  });
  beforeEach(() => fx.restore());

  it("anchors each record as addRecord would, for several patients, each with its own RecordAdded", async () => {
    const batch = [item(c.patient), item(c.otherPatient), item(c.patient, CAT.GENERAL)];
    const r = await ml.addRecords(batch, { from: c.verifiedPractitioner });
    const added = r.logs.filter((l) => l.event === "RecordAdded");
    assert.strictEqual(added.length, batch.length);
    for (const [i, want] of batch.entries()) {
      const e = added[i].args;
      assert.strictEqual(e.recordId, want.recordId);
      assert.strictEqual(e.patient, want.patient);
      assert.strictEqual(e.author, c.verifiedPractitioner);
      assert.strictEqual(e.ciphertextHash, want.ciphertextHash);
      assert.strictEqual(Number(e.category), want.category);
      const rec = await ml.recordOf(want.recordId);
      assert.strictEqual(rec.patient, want.patient);
      assert.strictEqual(rec.author, c.verifiedPractitioner);
      assert.strictEqual(rec.ciphertextHash, want.ciphertextHash);
      assert.ok(await ml.canRead(want.patient, want.patient, want.recordId));
    }
  });

  it("is all or nothing: one record outside the caller's write grant refuses the batch with its error", async () => {
    const good = [item(c.patient), item(c.otherPatient)];
    // The other patient granted Laboratory only.
    const bad = item(c.otherPatient, CAT.GENERAL);
    await expectRevert(
      ml.addRecords([...good, bad], { from: c.verifiedPractitioner }),
      "WriteNotPermitted",
      [c.otherPatient, c.verifiedPractitioner, CAT.GENERAL]
    );
    for (const g of good) assert.strictEqual(await stored(g.recordId), false, "nothing of a refused batch is stored");
    // A patient may batch their own records only.
    await expectRevert(
      ml.addRecords([item(c.patient), item(c.otherPatient)], { from: c.patient }),
      "WriteNotPermitted",
      [c.otherPatient, c.patient, CAT.LAB]
    );
    await expectRevert(ml.addRecords([item(c.patient)], { from: c.stranger }), "WriteNotPermitted", [c.patient, c.stranger, CAT.LAB]);
  });

  it("checks every record's id, hash and supersedes, also against the batch's own earlier records", async () => {
    const first = item(c.patient);
    await expectRevert(ml.addRecords([first, { ...item(c.patient), recordId: first.recordId }], { from: c.patient }), "RecordExists", [first.recordId]);
    await expectRevert(ml.addRecords([item(c.patient), item(c.patient, CAT.LAB, { recordId: ZERO })], { from: c.patient }), "InvalidRecordId", []);
    await expectRevert(ml.addRecords([item(c.patient, CAT.LAB, { ciphertextHash: ZERO })], { from: c.patient }), "InvalidCiphertextHash", []);
    const foreign = item(c.otherPatient);
    await ml.addRecords([foreign], { from: c.otherPatient });
    const amend = item(c.patient, CAT.LAB, { supersedes: foreign.recordId });
    await expectRevert(ml.addRecords([amend], { from: c.patient }), "InvalidSupersedes", [foreign.recordId]);
    // An amendment of a record earlier in the same batch is fine.
    const orig = item(c.patient);
    const fix = item(c.patient, CAT.LAB, { supersedes: orig.recordId });
    await ml.addRecords([orig, fix], { from: c.patient });
    assert.strictEqual((await ml.recordOf(fix.recordId)).supersedes, orig.recordId);
  });

  it("refuses an empty batch and one longer than MAX_RECORD_BATCH", async () => {
    assert.strictEqual(max, 100);
    await expectRevert(ml.addRecords([], { from: c.patient }), "InvalidBatchSize", ["0"]);
    const tooMany = Array.from({ length: max + 1 }, () => item(c.patient));
    await expectRevert(ml.addRecords(tooMany, { from: c.patient }), "InvalidBatchSize", [String(max + 1)]);
  });

  it("costs less gas per record as the batch grows (1, 10, 100 records), written to build/gas-batches.md", async () => {
    const single = await ml.addRecord(b32("rec"), c.patient, b32("ct"), CAT.LAB, ZERO, { from: c.patient });
    const rows = [["addRecord", 1, Number(single.receipt.gasUsed)]];
    for (const n of [1, 10, 100]) {
      const batch = Array.from({ length: n }, () => item(c.patient));
      const r = await ml.addRecords(batch, { from: c.patient, gas: 29_000_000 });
      assert.strictEqual(r.logs.filter((l) => l.event === "RecordAdded").length, n);
      rows.push(["addRecords", n, Number(r.receipt.gasUsed)]);
    }
    const perRecord = (row) => row[2] / row[1];
    const [one, b1, b10, b100] = rows;
    // Ratios within this run, not absolute figures: a batch of one costs about what addRecord
    // does, and each larger batch costs less per record than the one before.
    assert.ok(perRecord(b1) < perRecord(one) * 1.1, `batch of 1: ${perRecord(b1)} vs addRecord ${perRecord(one)}`);
    assert.ok(perRecord(b10) < perRecord(b1), `10: ${perRecord(b10)} vs 1: ${perRecord(b1)}`);
    assert.ok(perRecord(b100) < perRecord(b10), `100: ${perRecord(b100)} vs 10: ${perRecord(b10)}`);
    const table = [
      "| call | records | gas | gas per record |",
      "|---|---:|---:|---:|",
      ...rows.map((r) => `| ${r[0]} | ${r[1]} | ${r[2]} | ${Math.round(perRecord(r))} |`),
    ].join("\n");
    fs.mkdirSync(path.join(__dirname, "..", "build"), { recursive: true });
    fs.writeFileSync(path.join(__dirname, "..", "build", "gas-batches.md"), table + "\n");
    console.log(table);
  });
});
