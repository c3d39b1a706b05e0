// Emergency access windows and access-log anchors with Merkle proofs.
const assert = require("assert");
const { expectRevert, expectEvent, snapshotFixture, latestTimestamp, mineAt, increaseTime } = require("./helpers/chain");
const { deploy, cast, b32, mask, CAT, DAY, registerAll } = require("./helpers/world");
const merkle = require("./helpers/merkle");

const ZERO = "0x" + "00".repeat(32);
const HOUR = 3600;

contract("MedLedger: emergency access", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml;
  let rec;

  before(async () => {
    ml = await deploy(c);
    await registerAll(ml, c);
    rec = b32("record");
    await ml.addRecord(rec, c.patient, b32("ct"), CAT.MENTAL, ZERO, { from: c.patient });
    await fx.take();
  });
  beforeEach(async () => {
    await fx.restore();
  });

  const open = async (pract = c.verifiedPractitioner, patient = c.patient) => {
    const reason = b32("reason");
    const r = await ml.emergencyAccess(patient, reason, { from: pract });
    const ts = Number((await web3.eth.getBlock(r.receipt.blockNumber)).timestamp);
    return { r, reason, ts };
  };

  it("setEmergencyOptIn sets the flag and emits EmergencyOptInChanged; non-patients are refused", async () => {
    let r = await ml.setEmergencyOptIn(true, { from: c.patient });
    expectEvent(r, "EmergencyOptInChanged", { patient: c.patient, optedIn: true });
    assert.strictEqual((await ml.accountOf(c.patient)).emergencyOptIn, true);
    r = await ml.setEmergencyOptIn(false, { from: c.patient });
    expectEvent(r, "EmergencyOptInChanged", { patient: c.patient, optedIn: false });
    assert.strictEqual((await ml.accountOf(c.patient)).emergencyOptIn, false);
    await expectRevert(ml.setEmergencyOptIn(true, { from: c.verifiedPractitioner }), "NotAPatient", [c.verifiedPractitioner]);
  });

  it("without opt-in there is no emergency access", async () => {
    await expectRevert(ml.emergencyAccess(c.patient, b32(), { from: c.verifiedPractitioner }), "EmergencyNotOptedIn", [c.patient]);
    // nor for an account that is no patient at all
    await expectRevert(ml.emergencyAccess(c.stranger, b32(), { from: c.verifiedPractitioner }), "EmergencyNotOptedIn", [c.stranger]);
    await expectRevert(
      ml.emergencyAccess(c.verifiedInsurer, b32(), { from: c.verifiedPractitioner }),
      "EmergencyNotOptedIn",
      [c.verifiedInsurer]
    );
  });

  it("emergencyAccess refuses a zero reason and any caller but a verified practitioner", async () => {
    await ml.setEmergencyOptIn(true, { from: c.patient });
    await expectRevert(ml.emergencyAccess(c.patient, ZERO, { from: c.verifiedPractitioner }), "InvalidReasonHash", []);
    for (const who of [c.pendingPractitioner, c.suspendedPractitioner, c.verifiedInsurer, c.patient, c.admin]) {
      await expectRevert(ml.emergencyAccess(c.patient, b32(), { from: who }), "NotAVerifiedPractitioner", [who]);
    }
  });

  it("opens read (not write) for exactly the default 24 h window", async () => {
    await ml.setEmergencyOptIn(true, { from: c.patient });
    assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)));
    const { r, reason, ts } = await open();
    expectEvent(r, "EmergencyAccessOpened", { patient: c.patient, practitioner: c.verifiedPractitioner, reasonHash: reason, expiresAt: ts + DAY });
    assert.strictEqual(Number(await ml.emergencyAccessUntil(c.patient, c.verifiedPractitioner)), ts + DAY);
    assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, rec));
    assert.ok(!(await ml.canWrite(c.patient, c.verifiedPractitioner, CAT.MENTAL)), "emergency access is read only");
    assert.ok(!(await ml.canRead(c.patient, c.practitioner2, rec)), "only the practitioner who opened it");
    assert.ok(!(await ml.canRead(c.otherPatient, c.verifiedPractitioner, rec)));
    await mineAt(ts + DAY - 1);
    assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, rec));
    await mineAt(ts + DAY);
    assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)));
  });

  it("emergency access does not reach erased records", async () => {
    await ml.setEmergencyOptIn(true, { from: c.patient });
    await open();
    await ml.eraseRecord(rec, { from: c.patient });
    assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)));
  });

  it("a suspended practitioner's open window stops reading at once", async () => {
    await ml.setEmergencyOptIn(true, { from: c.patient });
    await open();
    await ml.suspendAccount(c.verifiedPractitioner, b32(), { from: c.admin });
    assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)));
  });

  it("setEmergencyWindow accepts exactly its bounds, refuses one second outside, and applies to new windows", async () => {
    await expectRevert(ml.setEmergencyWindow(HOUR - 1, { from: c.admin }), "EmergencyWindowOutOfRange", [HOUR - 1]);
    await expectRevert(ml.setEmergencyWindow(7 * DAY + 1, { from: c.admin }), "EmergencyWindowOutOfRange", [7 * DAY + 1]);
    await expectRevert(ml.setEmergencyWindow(0, { from: c.admin }), "EmergencyWindowOutOfRange", [0]);
    let r = await ml.setEmergencyWindow(7 * DAY, { from: c.admin });
    expectEvent(r, "EmergencyWindowChanged", { windowSeconds: 7 * DAY });
    r = await ml.setEmergencyWindow(HOUR, { from: c.admin });
    expectEvent(r, "EmergencyWindowChanged", { windowSeconds: HOUR });
    assert.strictEqual(Number(await ml.emergencyWindow()), HOUR);

    await ml.setEmergencyOptIn(true, { from: c.patient });
    const { r: opened, ts } = await open();
    expectEvent(opened, "EmergencyAccessOpened", { expiresAt: ts + HOUR });
    // a later change does not stretch an open window
    await ml.setEmergencyWindow(7 * DAY, { from: c.admin });
    assert.strictEqual(Number(await ml.emergencyAccessUntil(c.patient, c.verifiedPractitioner)), ts + HOUR);
    await mineAt(ts + HOUR - 1);
    assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, rec));
    await mineAt(ts + HOUR);
    assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)));
    // a new opening gets the new window
    const again = await open();
    expectEvent(again.r, "EmergencyAccessOpened", { expiresAt: again.ts + 7 * DAY });
  });

  it("the patient ends a window early; ending it again, or a window never opened, is refused", async () => {
    await ml.setEmergencyOptIn(true, { from: c.patient });
    await open();
    await open(c.practitioner2);
    const r = await ml.endEmergencyAccess(c.verifiedPractitioner, { from: c.patient });
    expectEvent(r, "EmergencyAccessEnded", { patient: c.patient, practitioner: c.verifiedPractitioner });
    assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)));
    assert.strictEqual(Number(await ml.emergencyAccessUntil(c.patient, c.verifiedPractitioner)), 0);
    assert.ok(await ml.canRead(c.patient, c.practitioner2, rec), "another practitioner's window stays open");
    await expectRevert(ml.endEmergencyAccess(c.verifiedPractitioner, { from: c.patient }), "NoEmergencyAccess", [c.patient, c.verifiedPractitioner]);
    await expectRevert(ml.endEmergencyAccess(c.practitioner3, { from: c.patient }), "NoEmergencyAccess", [c.patient, c.practitioner3]);
    // the practitioner may open again (it is an event the patient sees)
    await open();
    assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, rec));
  });

  it("an expired window cannot be ended", async () => {
    await ml.setEmergencyOptIn(true, { from: c.patient });
    await open();
    await increaseTime(DAY + 1);
    await expectRevert(ml.endEmergencyAccess(c.verifiedPractitioner, { from: c.patient }), "NoEmergencyAccess", [c.patient, c.verifiedPractitioner]);
  });

  it("opting out closes every open window, and opting in again does not reopen them", async () => {
    await ml.setEmergencyOptIn(true, { from: c.patient });
    await open();
    await open(c.practitioner2);
    await ml.setEmergencyOptIn(false, { from: c.patient });
    assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)));
    assert.ok(!(await ml.canRead(c.patient, c.practitioner2, rec)));
    await expectRevert(ml.emergencyAccess(c.patient, b32(), { from: c.verifiedPractitioner }), "EmergencyNotOptedIn", [c.patient]);
    assert.strictEqual(Number(await ml.emergencyAccessUntil(c.patient, c.verifiedPractitioner)), 0);
    await expectRevert(ml.endEmergencyAccess(c.verifiedPractitioner, { from: c.patient }), "NoEmergencyAccess", [c.patient, c.verifiedPractitioner]);
    await ml.setEmergencyOptIn(true, { from: c.patient });
    // Regression: the windows opened before the opt-out used to come back with the opt-in.
    assert.strictEqual(Number(await ml.emergencyAccessUntil(c.patient, c.verifiedPractitioner)), 0);
    assert.ok(!(await ml.canRead(c.patient, c.verifiedPractitioner, rec)), "the old window must stay closed");
    assert.ok(!(await ml.canRead(c.patient, c.practitioner2, rec)), "the old window must stay closed");
    await open();
    assert.ok(await ml.canRead(c.patient, c.verifiedPractitioner, rec), "a new opening works");
  });
});

contract("MedLedger: access-log anchors", (accounts) => {
  const c = cast(accounts);
  const fx = snapshotFixture();
  let ml;

  before(async () => {
    ml = await deploy(c);
    await fx.take();
  });
  beforeEach(async () => {
    await fx.restore();
  });

  /** A batch of `n` log entries starting at `first`: their hashes, leaves and tree. */
  function batch(first, n) {
    const entries = [];
    for (let i = 0; i < n; i++) entries.push({ seq: first + i, hash: b32(`entry${first + i}`) });
    const leaves = entries.map((e) => merkle.logLeaf(e.seq, e.hash));
    return { entries, leaves, tree: merkle.buildTree(leaves), first, last: first + n - 1 };
  }

  it("anchors contiguous batches with events, counts and stored ranges", async () => {
    const sizes = [1, 2, 5, 8];
    let first = 0;
    for (let i = 0; i < sizes.length; i++) {
      const b = batch(first, sizes[i]);
      const r = await ml.anchorAccessLog(b.tree.root, b.first, b.last, { from: c.escrow });
      expectEvent(r, "AccessLogAnchored", { anchorIndex: i, root: b.tree.root, firstSeq: b.first, lastSeq: b.last });
      const a = await ml.anchorAt(i);
      assert.strictEqual(a.root, b.tree.root);
      assert.strictEqual(Number(a.firstSeq), b.first);
      assert.strictEqual(Number(a.lastSeq), b.last);
      assert.strictEqual(Number(a.anchoredAt), Number((await web3.eth.getBlock(r.receipt.blockNumber)).timestamp));
      first = b.last + 1;
      assert.strictEqual(Number(await ml.nextLogSeq()), first);
    }
    assert.strictEqual(Number(await ml.anchorCount()), sizes.length);
  });

  it("refuses gaps, overlaps, reversed ranges and a zero root", async () => {
    await expectRevert(ml.anchorAccessLog(b32(), 1, 3, { from: c.escrow }), "InvalidLogRange", [0, 1, 3]);
    await expectRevert(ml.anchorAccessLog(ZERO, 0, 3, { from: c.escrow }), "InvalidLogRoot", []);
    await ml.anchorAccessLog(b32(), 0, 3, { from: c.escrow });
    await expectRevert(ml.anchorAccessLog(b32(), 3, 5, { from: c.escrow }), "InvalidLogRange", [4, 3, 5]); // overlap
    await expectRevert(ml.anchorAccessLog(b32(), 5, 6, { from: c.escrow }), "InvalidLogRange", [4, 5, 6]); // gap
    await expectRevert(ml.anchorAccessLog(b32(), 4, 3, { from: c.escrow }), "InvalidLogRange", [4, 4, 3]); // reversed
    await ml.anchorAccessLog(b32(), 4, 4, { from: c.escrow }); // a one-entry batch
    assert.strictEqual(Number(await ml.nextLogSeq()), 5);
  });

  it("the last possible sequence number cannot be anchored (nextLogSeq would overflow)", async () => {
    const max = (2n ** 64n - 1n).toString();
    await ml.anchorAccessLog(b32(), 0, (2n ** 64n - 2n).toString(), { from: c.escrow });
    assert.strictEqual((await ml.nextLogSeq()).toString(), max);
    await expectRevert(ml.anchorAccessLog(b32(), max, max, { from: c.escrow }), "Panic", [0x11]);
  });

  it("anchorAt and verifyLogEntry refuse an unknown anchor index", async () => {
    await expectRevert(ml.anchorAt(0), "UnknownAnchor", [0]);
    await ml.anchorAccessLog(b32(), 0, 0, { from: c.escrow });
    await expectRevert(ml.anchorAt(1), "UnknownAnchor", [1]);
    await expectRevert(ml.verifyLogEntry(1, 0, b32(), []), "UnknownAnchor", [1]);
  });

  it("logLeaf matches the off-chain leaf", async () => {
    for (const seq of [0, 1, 12345, (2n ** 64n - 1n).toString()]) {
      const h = b32();
      assert.strictEqual(await ml.logLeaf(seq, h), merkle.logLeaf(seq, h));
    }
  });

  for (const n of [1, 2, 5, 8]) {
    it(`verifyLogEntry accepts every entry of a ${n}-leaf batch with its real proof and rejects forgeries`, async () => {
      // an earlier batch so the ranges do not start at zero
      await ml.anchorAccessLog(b32(), 0, 2, { from: c.escrow });
      const b = batch(3, n);
      await ml.anchorAccessLog(b.tree.root, b.first, b.last, { from: c.escrow });
      const other = batch(b.last + 1, 3);
      await ml.anchorAccessLog(other.tree.root, other.first, other.last, { from: c.escrow });
      for (let i = 0; i < n; i++) {
        const { seq, hash } = b.entries[i];
        const proof = b.tree.proof(i);
        assert.ok(merkle.verify(proof, b.tree.root, b.leaves[i]), "the helper's own proof verifies");
        assert.strictEqual(await ml.verifyLogEntry(1, seq, hash, proof), true, `entry ${i}`);
        // wrong entry hash
        assert.strictEqual(await ml.verifyLogEntry(1, seq, b32("forged"), proof), false);
        // wrong anchor (the entry is not in batch 2, nor in range of batch 0)
        assert.strictEqual(await ml.verifyLogEntry(2, seq, hash, proof), false);
        assert.strictEqual(await ml.verifyLogEntry(0, seq, hash, proof), false);
        if (n > 1) {
          // a neighbour's sequence number with this entry's hash and proof
          const j = (i + 1) % n;
          assert.strictEqual(await ml.verifyLogEntry(1, b.entries[j].seq, hash, proof), false);
          // a neighbour's proof
          assert.strictEqual(await ml.verifyLogEntry(1, seq, hash, b.tree.proof(j)), false);
          // a truncated proof and a tampered proof
          assert.strictEqual(await ml.verifyLogEntry(1, seq, hash, proof.slice(0, -1)), false);
          const tampered = proof.slice();
          tampered[0] = b32("tampered");
          assert.strictEqual(await ml.verifyLogEntry(1, seq, hash, tampered), false);
        } else {
          assert.strictEqual(await ml.verifyLogEntry(1, seq, hash, [b32("extra")]), false);
        }
      }
      // An inner node cannot pass for an entry: node 1 with its sibling as proof reaches the
      // root as a raw leaf, but verifyLogEntry hashes (seq, entryHash) into a leaf first.
      if (n >= 2) {
        const inner = b.tree.tree[1];
        const innerProof = [b.tree.tree[2]];
        assert.strictEqual(merkle.verify(innerProof, b.tree.root, inner), true);
        for (const seq of [b.first, b.last]) {
          assert.strictEqual(await ml.verifyLogEntry(1, seq, inner, innerProof), false);
        }
      }
      // a sequence number outside the batch's range is false, not an error
      assert.strictEqual(await ml.verifyLogEntry(1, b.first - 1, b.entries[0].hash, b.tree.proof(0)), false);
      assert.strictEqual(await ml.verifyLogEntry(1, b.last + 1, b.entries[0].hash, b.tree.proof(0)), false);
    });
  }
});
