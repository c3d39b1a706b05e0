// Sponsored transactions (ERC-2771): the core's calls signed by an account without ether and
// submitted through MedLedgerForwarder by a relayer who pays the gas; the core takes the signer as
// the caller (_msgSender), and only for calls from the forwarder it trusts.
const assert = require("assert");
const fs = require("fs");
const path = require("path");
const { Wallet } = require("ethers");
const {
  expectRevert,
  expectEvent,
  expectEventFrom,
  snapshotFixture,
  latestTimestamp,
  increaseTime,
  revertData,
  decodeRevert,
  normalise,
  balance,
} = require("./helpers/chain");
const { MedLedgerForwarder, deploy, deployForwarder, deployInsurance, cast, b32, mask, CAT, registerAll } = require("./helpers/world");

const { signForwardRequest } = require("./helpers/forwarder");

const Kind = { None: 0, Patient: 1 };

contract("MedLedgerForwarder: sponsored transactions (ERC-2771)", (accounts) => {
  const c = cast(accounts);
  const relayer = c.spare[0];
  const fx = snapshotFixture();
  // Keys made here: accounts Ganache never funded.
  const patient = new Wallet(web3.eth.accounts.create().privateKey);
  const intruder = new Wallet(web3.eth.accounts.create().privateKey);
  let ml;
  let forwarder;
  let chainId;

  /** A ForwardRequest signed by `wallet`, to the core unless `to` says otherwise. */
  const signed = (wallet, request) => signForwardRequest(forwarder, wallet, { ...request, to: request.to ?? ml.address });

  // Gas estimated by Truffle, which also reads a refused request's revert data that way.
  const relay = (request) => forwarder.execute(request, { from: relayer });
  const call = (method, ...args) => ml.contract.methods[method](...args).encodeABI();

  /** The core's answer to a call from `from` with `who`'s address appended: its revert, decoded. */
  async function revertOfAppended(from, data, who) {
    let err = null;
    try {
      await web3.eth.call({ from, to: ml.address, data: data + who.slice(2).toLowerCase() });
    } catch (e) {
      err = e;
    }
    assert.ok(err, "the call reverts");
    return normalise(Object.values(decodeRevert(revertData(err))));
  }

  before(async () => {
    ml = await deploy(c);
    forwarder = await MedLedgerForwarder.at(await ml.trustedForwarder());
    chainId = Number(await web3.eth.getChainId());
    await registerAll(ml, c);
    await fx.take();
  });
  beforeEach(async () => {
    await fx.restore();
  });

  it("uses the EIP-712 domain MedLedgerForwarder, version 1, this chain and its own address", async () => {
    const d = await forwarder.eip712Domain();
    assert.strictEqual(d.name, "MedLedgerForwarder");
    assert.strictEqual(d.version, "1");
    assert.strictEqual(Number(d.chainId), chainId);
    assert.strictEqual(d.verifyingContract, forwarder.address);
  });

  it("the core trusts its forwarder and nothing else", async () => {
    assert.strictEqual(await ml.trustedForwarder(), forwarder.address);
    assert.strictEqual(await ml.isTrustedForwarder(forwarder.address), true);
    const other = await deployForwarder(c);
    for (const who of [other.address, relayer, c.admin, c.escrow, patient.address, ml.address, "0x" + "00".repeat(20)]) {
      assert.strictEqual(await ml.isTrustedForwarder(who), false, who);
    }
  });

  it("a patient without ether registers and grants through the relayer, and the core names the patient", async () => {
    assert.strictEqual(await balance(patient.address), 0n);
    const relayerBefore = await balance(relayer);
    const key = b32("key");
    const register = await relay(await signed(patient, { data: call("registerPatient", key) }));
    expectEvent(register, "ExecutedForwardRequest", { signer: patient.address, nonce: 0, success: true });
    expectEventFrom(register, ml, "AccountRegistered", { account: patient.address, kind: Kind.Patient, encryptionKey: key });
    const account = await ml.accountOf(patient.address);
    assert.strictEqual(Number(account.kind), Kind.Patient);
    assert.strictEqual(account.encryptionKey, key);
    for (const who of [forwarder.address, relayer]) assert.strictEqual(Number((await ml.accountOf(who)).kind), Kind.None);

    const expiry = (await latestTimestamp()) + 3600;
    const grant = await relay(
      await signed(patient, { data: call("grant", c.verifiedPractitioner, mask(CAT.LAB), false, expiry) })
    );
    expectEvent(grant, "ExecutedForwardRequest", { signer: patient.address, nonce: 1, success: true });
    expectEventFrom(grant, ml, "ConsentGranted", { patient: patient.address, grantee: c.verifiedPractitioner, categories: mask(CAT.LAB) });
    assert.strictEqual((await ml.grantOf(patient.address, c.verifiedPractitioner)).categories.toString(), mask(CAT.LAB));
    assert.strictEqual((await forwarder.nonces(patient.address)).toString(), "2");

    // The relayer paid both; the patient still has no ether and sent no transaction.
    assert.strictEqual(await balance(patient.address), 0n);
    assert.ok((await balance(relayer)) < relayerBefore);
    assert.strictEqual(Number(await web3.eth.getTransactionCount(patient.address)), 0);
  });

  it("refuses a request signed by another key (ERC2771ForwarderInvalidSigner) and changes nothing", async () => {
    const request = await signed(intruder, { from: patient.address, data: call("registerPatient", b32("key")) });
    assert.strictEqual(await forwarder.verify(request), false);
    await expectRevert(relay(request), "ERC2771ForwarderInvalidSigner", [intruder.address, patient.address]);
    assert.strictEqual(Number((await ml.accountOf(patient.address)).kind), Kind.None);
    assert.strictEqual(Number((await ml.accountOf(intruder.address)).kind), Kind.None);
    assert.strictEqual((await forwarder.nonces(patient.address)).toString(), "0");
  });

  it("refuses a spent request again (its nonce is used)", async () => {
    const request = await signed(patient, { data: call("registerPatient", b32("key")) });
    await relay(request);
    assert.strictEqual((await forwarder.nonces(patient.address)).toString(), "1");
    assert.strictEqual(await forwarder.verify(request), false);
    // The signature is over nonce 0: against nonce 1 it recovers another address.
    const got = await expectRevert(relay(request), "ERC2771ForwarderInvalidSigner");
    assert.strictEqual(normalise(got.args[1]), patient.address.toLowerCase());
    assert.notStrictEqual(normalise(got.args[0]), patient.address.toLowerCase());
    assert.strictEqual((await forwarder.nonces(patient.address)).toString(), "1");
  });

  it("refuses a request past its deadline (ERC2771ForwarderExpiredRequest), by the chain's clock", async () => {
    const deadline = (await latestTimestamp()) + 60;
    const request = await signed(patient, { deadline, data: call("registerPatient", b32("key")) });
    assert.strictEqual(await forwarder.verify(request), true);
    await increaseTime(120);
    await expectRevert(relay(request), "ERC2771ForwarderExpiredRequest", [deadline]);
    assert.strictEqual(Number((await ml.accountOf(patient.address)).kind), Kind.None);
    assert.strictEqual((await forwarder.nonces(patient.address)).toString(), "0");
  });

  it("reverts the whole request when the forwarded call reverts (FailedCall), nonce unspent", async () => {
    // Not registered yet: grant is refused (NotAPatient), and so the request.
    const expiry = (await latestTimestamp()) + 3600;
    const request = await signed(patient, { data: call("grant", c.verifiedPractitioner, mask(CAT.LAB), false, expiry) });
    await expectRevert(relay(request), "FailedCall", []);
    assert.strictEqual((await forwarder.nonces(patient.address)).toString(), "0");
    assert.strictEqual((await ml.grantOf(patient.address, c.verifiedPractitioner)).categories.toString(), "0");
    // The same request goes through once the patient registered (nonce 0 was not spent).
    await relay(await signed(patient, { nonce: 0, data: call("registerPatient", b32("key")) }));
    await expectRevert(relay(request), "ERC2771ForwarderInvalidSigner");
  });

  it("forwards a role-restricted call as its signer's: refused for a non-admin, done for an admin", async () => {
    const ADMIN = await ml.ADMIN_ROLE();
    const window = 12 * 3600;
    const data = call("setEmergencyWindow", window);
    const before = (await ml.emergencyWindow()).toString();
    await expectRevert(relay(await signed(patient, { data })), "FailedCall", []);
    assert.strictEqual((await ml.emergencyWindow()).toString(), before);
    // What the core said to the forwarder: the signer lacks the role (not the forwarder, not the relayer).
    assert.deepStrictEqual(
      await revertOfAppended(forwarder.address, data, patient.address),
      normalise(["AccessControlUnauthorizedAccount", [patient.address, ADMIN]])
    );

    await ml.grantRole(ADMIN, patient.address, { from: c.admin });
    const done = await relay(await signed(patient, { data }));
    expectEventFrom(done, ml, "EmergencyWindowChanged", { windowSeconds: window });
    assert.strictEqual((await ml.emergencyWindow()).toString(), String(window));
  });

  it("takes no appended address from anyone but the trusted forwarder", async () => {
    // The stranger appends the patient's address to registerPatient's calldata: it registers itself.
    const key = b32("key");
    const spoof = call("registerPatient", key) + patient.address.slice(2).toLowerCase();
    const tx = await web3.eth.sendTransaction({ from: c.stranger, to: ml.address, data: spoof, gas: 300000 });
    const events = await ml.getPastEvents("AccountRegistered", { fromBlock: tx.blockNumber, toBlock: tx.blockNumber });
    assert.strictEqual(events.length, 1);
    assert.strictEqual(events[0].returnValues.account, c.stranger);
    assert.strictEqual(Number((await ml.accountOf(patient.address)).kind), Kind.None);
    assert.strictEqual(Number((await ml.accountOf(c.stranger)).kind), Kind.Patient);

    // Appending the admin's address wins no role either.
    const ADMIN = await ml.ADMIN_ROLE();
    assert.deepStrictEqual(
      await revertOfAppended(c.stranger, call("setEmergencyWindow", 12 * 3600), c.admin),
      normalise(["AccessControlUnauthorizedAccount", [c.stranger, ADMIN]])
    );

    // Nor does another forwarder, whose requests the core does not trust: it appends its signer,
    // and the core sees the other forwarder.
    const other = await deployForwarder(c);
    assert.deepStrictEqual(
      await revertOfAppended(other.address, call("setEmergencyWindow", 12 * 3600), c.admin),
      normalise(["AccessControlUnauthorizedAccount", [other.address, ADMIN]])
    );
  });

  it("does not forward to the insurance contract, which trusts no forwarder (ERC2771UntrustfulTarget)", async () => {
    const insurance = await deployInsurance(c, ml);
    assert.strictEqual(await insurance.contract.methods.core().call(), ml.address);
    const request = await signed(patient, { to: insurance.address, data: insurance.contract.methods.core().encodeABI() });
    await expectRevert(relay(request), "ERC2771UntrustfulTarget", [insurance.address, forwarder.address]);
    assert.strictEqual((await forwarder.nonces(patient.address)).toString(), "0");
  });

  it("costs the relayer the call and the forwarder's checks: direct and relayed, written to build/gas-forwarded.md", async () => {
    // The same work both ways: a new patient registers, then grants a new grantee.
    const direct = c.spare[1];
    const key = b32("key");
    const expiry = (await latestTimestamp()) + 3600;
    const grantArgs = [c.verifiedPractitioner, mask(CAT.LAB), false, expiry];
    const gas = (r) => Number(r.receipt.gasUsed);
    const rows = [
      ["registerPatient", gas(await ml.registerPatient(key, { from: direct })), gas(await relay(await signed(patient, { data: call("registerPatient", key) })))],
      ["grant", gas(await ml.grant(...grantArgs, { from: direct })), gas(await relay(await signed(patient, { data: call("grant", ...grantArgs) })))],
    ];
    // A ratio within this run: relaying adds the forwarder's signature check and nonce, well under
    // the cost of the call itself for these two.
    for (const [name, d, r] of rows) assert.ok(r > d && r < 2 * d, `${name}: relayed ${r} vs direct ${d}`);
    const table = [
      "| call | direct | relayed (forwarder.execute) | added by relaying |",
      "|---|---:|---:|---:|",
      ...rows.map(([name, d, r]) => `| ${name} | ${d} | ${r} | ${r - d} |`),
    ].join("\n");
    fs.mkdirSync(path.join(__dirname, "..", "build"), { recursive: true });
    fs.writeFileSync(path.join(__dirname, "..", "build", "gas-forwarded.md"), table + "\n");
    console.log(table);
  });
});
