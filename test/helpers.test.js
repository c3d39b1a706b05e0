// The suite's own helpers must be able to fail: expectRevert and expectEvent reject wrong
// outcomes, and revert decoding covers custom errors, Error(string) and Panic.
const assert = require("assert");
const { expectRevert, expectEvent, decodeRevert, snapshotFixture, blockTimeSteps, latestTimestamp } = require("./helpers/chain");
const isolation = require("./helpers/isolation");
const { deploy, cast, b32 } = require("./helpers/world");
const { AbiCoder } = require("ethers");

const ZERO = "0x" + "00".repeat(32);

contract("test helpers", (accounts) => {
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

  async function fails(promise, pattern) {
    let err = null;
    try {
      await promise;
    } catch (e) {
      err = e;
    }
    assert.ok(err, "the helper should have failed");
    assert.match(err.message, pattern);
  }

  it("expectRevert fails when the call succeeds", async () => {
    await fails(expectRevert(ml.registerPatient(b32(), { from: c.patient }), "AlreadyRegistered"), /succeeded/);
  });

  it("expectRevert fails on another error name, and on other arguments", async () => {
    await fails(expectRevert(ml.registerPatient(ZERO, { from: c.patient }), "InvalidProfileHash", []), /InvalidEncryptionKey/);
    await fails(expectRevert(ml.rotateEncryptionKey(b32(), { from: c.stranger }), "NotRegistered", [c.patient]), /arguments/);
    await expectRevert(ml.rotateEncryptionKey(b32(), { from: c.stranger }), "NotRegistered", [c.stranger]);
  });

  it("expectEvent fails on a missing event and on a wrong argument", async () => {
    const key = b32();
    const r = await ml.registerPatient(key, { from: c.patient });
    assert.throws(() => expectEvent(r, "AccountVerified"), /exactly one AccountVerified/);
    assert.throws(() => expectEvent(r, "AccountRegistered", { kind: 2 }), /AccountRegistered.kind/);
    assert.throws(() => expectEvent(r, "AccountRegistered", { nonsense: 1 }), /no argument nonsense/);
    expectEvent(r, "AccountRegistered", { account: c.patient, kind: 1, encryptionKey: key });
  });

  it("decodeRevert decodes Error(string), Panic(uint256) and says so for unknown selectors", () => {
    const coder = AbiCoder.defaultAbiCoder();
    const err = "0x08c379a0" + coder.encode(["string"], ["boom"]).slice(2);
    assert.deepStrictEqual(decodeRevert(err), { name: "Error", args: ["boom"] });
    const panic = "0x4e487b71" + coder.encode(["uint256"], [0x11]).slice(2);
    assert.strictEqual(decodeRevert(panic).name, "Panic");
    assert.strictEqual(decodeRevert(panic).args[0], 0x11n);
    assert.match(decodeRevert("0xdeadbeef").name, /unknown selector 0xdeadbeef/);
    assert.strictEqual(decodeRevert("0x").name, "(empty revert)");
  });

  it("the chain's clock follows its blocks: one second a block, whatever the wall clock does", async () => {
    assert.deepStrictEqual(await blockTimeSteps(), [1, 1, 1]);
    const t = await latestTimestamp();
    await new Promise((resolve) => setImmediate(resolve));
    await ml.registerPatient(b32(), { from: c.patient });
    assert.strictEqual(await latestTimestamp(), t + 1);
  });

  it("a test or hook that has ended sends nothing more to the chain; one still running is counted until answered", async () => {
    // web3 reports a failed transport as a connection error, whatever the cause: the tag counts.
    const gone = { title: "an ended test", ended: true, inFlight: 0, sent: 0, refused: 0, wake: null };
    await fails(isolation.current.run(gone, () => web3.eth.getBlockNumber()), /./);
    await fails(isolation.current.run(gone, () => ml.registerPatient(b32(), { from: c.patient })), /./);
    assert.strictEqual(Number((await ml.accountOf(c.patient)).kind), 0, "the refused registration never reached the chain");
    assert.strictEqual(gone.sent, 0);
    assert.ok(gone.refused >= 2, `refused ${gone.refused}`);

    const live = { title: "a running test", ended: false, inFlight: 0, sent: 0, refused: 0, wake: null };
    await isolation.current.run(live, () => ml.registerPatient(b32(), { from: c.patient }));
    assert.ok(live.sent > 0, "its requests went through the guard");
    assert.strictEqual(live.inFlight, 0, "every request answered");
    assert.strictEqual(Number((await ml.accountOf(c.patient)).kind), 1);
  });
});
