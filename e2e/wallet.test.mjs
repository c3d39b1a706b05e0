// The test wallet (e2e/lib/wallet.mjs) and the journey stack (e2e/lib/stack.mjs), checked in every
// selected browser against a real Ganache, the Truffle deployment and the escrow, through a tiny
// static page (e2e/fixtures/wallet-page/) served by the escrow as its app: EIP-6963 discovery,
// connect, SIWE sign-in, EIP-712 signing (the protocol's committed vector reproduced), transactions
// with receipts, back-to-back sends, a revert decoded to the contract's named error, rejection on
// command, chain switching and adding, account switching reaching every page, locking, and the
// escrow's own /console page signing an admin in and verifying a practitioner through the wallet.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Interface, Wallet, getAddress, hexlify, randomBytes, verifyMessage, verifyTypedData } from "ethers";
import { BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { installWallet, devKeys, signTypedDataV4, WALLET_INFO } from "./lib/wallet.mjs";
import { ROOT, startStack, withStackLogs, rpc, PATIENCE_MS } from "./lib/stack.mjs";
import { consoleSignIn } from "./lib/console.mjs";

const FIXTURE = join(ROOT, "e2e", "fixtures", "wallet-page");
const abiFile = JSON.parse(readFileSync(join(ROOT, "protocol", "abi", "MedLedger.json"), "utf8"));
const iface = new Interface(abiFile.abi || abiFile);
const identity = JSON.parse(readFileSync(join(ROOT, "protocol", "tests", "vectors", "identity.json"), "utf8"));
const VECTOR_KEY = "0x" + identity.signer_private_key;
const VECTOR_SIG = "0x" + identity.key_derivation.signature;

const browsers = selectedBrowsers();
let stack;
const vectorSignatures = {};

before(async () => {
  stack = await startStack({ appDir: FIXTURE, anchorIntervalSecs: 0 });
});
after(async () => {
  if (stack) await stack.stop();
});

test("the wallet signs the protocol's key-derivation vector in Node", async () => {
  // eth_signTypedData_v4 as the wallet does it (EIP712Domain dropped, JSON text accepted).
  const sig = await signTypedDataV4(new Wallet(VECTOR_KEY), JSON.stringify(identity.key_derivation.typed_data));
  assert.equal(sig, VECTOR_SIG);
  assert.equal(devKeys(1)[0], "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d");
});

browsers.forEach((name, b) => {
  test(`test wallet against the real stack in ${name}`, { timeout: 5 * PATIENCE_MS }, async () => {
    const started = Date.now();
    // Each browser uses its own accounts on the shared chain: a patient P and a second account Q.
    const keys = [...stack.keys, VECTOR_KEY];
    const P = 2 + 2 * b;
    const Q = P + 1;
    const VECTOR = keys.length - 1;
    const addrP = new Wallet(keys[P]).address;
    const addrQ = new Wallet(keys[Q]).address;

    const browser = await BROWSERS[name].launch();
    try {
      await withStackLogs(stack, async () => {
        const context = await browser.newContext();
        const wallet = await installWallet(context, { rpcUrl: stack.rpcUrl, chainId: stack.chainId, keys, connected: false, log: stack.walletLogFile });
        await wallet.useAccount(P);
        const page = await context.newPage();
        const pageErrors = [];
        page.on("pageerror", (e) => pageErrors.push(String(e)));
        await page.goto(`${stack.url}/`);
        const fx = (fn, arg) => page.evaluate(fn, arg);
        const call = (method, params) => fx(([m, p]) => window.fixture.request(m, p), [method, params]);
        const eventsOf = async (event) => (await fx(() => window.fixture.events())).filter((e) => e.event === event).map((e) => e.payload);

        // EIP-6963: one provider, with the info MetaMask-like wallets give, found by asking.
        const disc = await fx((rdns) => window.fixture.discover(rdns), WALLET_INFO.rdns);
        assert.equal(disc.infos.length, 1, "exactly one wallet announced itself");
        assert.ok(disc.newAnnouncements >= 1, "the wallet answers eip6963:requestProvider");
        const [info] = disc.infos;
        assert.equal(info.name, "medledger test wallet");
        assert.equal(info.rdns, "org.medledger.testwallet");
        assert.match(info.icon, /^data:image\/svg\+xml;base64,/);
        assert.match(info.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.ok(disc.sameAsWindowEthereum, "the announced provider is window.ethereum");
        assert.equal(await fx(() => window.ethereum.isMetaMask), true);

        // Connect: nothing exposed before eth_requestAccounts; then the account, lower case as MetaMask.
        assert.deepEqual(await call("eth_accounts"), { result: [] });
        assert.deepEqual(await call("eth_requestAccounts"), { result: [addrP.toLowerCase()] });
        assert.deepEqual(await eventsOf("accountsChanged"), [[addrP.toLowerCase()]]);
        assert.deepEqual(await call("eth_chainId"), { result: "0x539" });
        assert.deepEqual(await call("net_version"), { result: "1337" });
        wallet.setDelay("eth_chainId", 400);
        const t0 = Date.now();
        assert.deepEqual(await call("eth_chainId"), { result: "0x539" });
        assert.ok(Date.now() - t0 >= 400, "setDelay holds the answer back");
        wallet.setDelay("eth_chainId", 0);
        const cfg = await fx(() => window.fixture.config());
        assert.equal(cfg.contract.toLowerCase(), stack.contract.toLowerCase());

        // SIWE against the escrow: the session names the account.
        const signIn = await fx((a) => window.fixture.signIn(a), addrP);
        assert.equal(signIn.error, undefined, `sign-in failed: ${JSON.stringify(signIn.error)}`);
        assert.equal(verifyMessage(signIn.result.message, signIn.result.signature), addrP);
        assert.equal(signIn.result.sessionStatus, 200);
        assert.equal(getAddress(signIn.result.session.address), addrP);

        // EIP-712: the key-derivation message of docs/formats.md 6.1 for this deployment.
        const typed = {
          types: identity.key_derivation.typed_data.types,
          primaryType: "DeriveEncryptionKey",
          domain: { name: "medledger", version: "1", chainId: stack.chainId, verifyingContract: stack.contract },
          message: { account: addrP, purpose: "medledger encryption key", keyVersion: 1 },
        };
        const typedSig = await call("eth_signTypedData_v4", [addrP.toLowerCase(), JSON.stringify(typed)]);
        assert.equal(typedSig.error, undefined, JSON.stringify(typedSig.error));
        const { EIP712Domain, ...types } = typed.types;
        assert.equal(verifyTypedData(typed.domain, types, typed.message, typedSig.result), addrP);
        // A typed message for another chain is refused, as MetaMask does.
        const otherChain = await call("eth_signTypedData_v4", [addrP, JSON.stringify({ ...typed, domain: { ...typed.domain, chainId: 1 } })]);
        assert.equal(otherChain.error?.code, -32603);

        // A transaction: registerPatient, mined with status 1 and its event.
        const encKey = hexlify(randomBytes(32));
        const data = iface.encodeFunctionData("registerPatient", [encKey]);
        const sent = await fx((tx) => window.fixture.sendAndWait(tx), { from: addrP.toLowerCase(), to: cfg.contract, data });
        assert.equal(sent.error, undefined, JSON.stringify(sent.error));
        assert.equal(sent.result.receipt.status, "0x1");
        const registered = sent.result.receipt.logs.map((l) => iface.parseLog(l)).find((l) => l?.name === "AccountRegistered");
        assert.equal(registered?.args.account, addrP);
        assert.equal(registered?.args.encryptionKey, encKey);

        // Again: the revert reaches the page with its data, decoded to the contract's named error.
        const again = await fx((tx) => window.fixture.sendAndWait(tx), { from: addrP, to: cfg.contract, data });
        assert.equal(again.error?.code, 3, JSON.stringify(again));
        const decoded = iface.parseError(again.error.data);
        assert.equal(decoded?.name, "AlreadyRegistered");
        assert.equal(decoded.args.account, addrP);
        // The same through a forwarded eth_call.
        const viaCall = await call("eth_call", [{ from: addrP, to: cfg.contract, data }, "latest"]);
        assert.equal(iface.parseError(viaCall.error?.data)?.name, "AlreadyRegistered");

        // Back-to-back sends: distinct, consecutive nonces, both mined.
        const nonceBefore = await rpc(stack.rpcUrl, "eth_getTransactionCount", [addrP, "latest"]);
        const pair = await fx(
          ([from, to]) => Promise.all([0, 1].map((i) => window.fixture.request("eth_sendTransaction", [{ from, to, value: "0x" + (i + 1).toString(16) }]))),
          [addrP, addrQ],
        );
        for (const r of pair) assert.equal(r.error, undefined, JSON.stringify(r.error));
        assert.notEqual(pair[0].result, pair[1].result);
        const deadline = Date.now() + PATIENCE_MS;
        const txs = [];
        for (const { result: hash } of pair) {
          let receipt;
          while (!(receipt = await rpc(stack.rpcUrl, "eth_getTransactionReceipt", [hash]))) {
            assert.ok(Date.now() < deadline, `${hash} was not mined`);
            await new Promise((r) => setTimeout(r, 100));
          }
          assert.equal(receipt.status, "0x1");
          txs.push(await rpc(stack.rpcUrl, "eth_getTransactionByHash", [hash]));
        }
        assert.deepEqual(txs.map((t) => Number(t.nonce)).sort(), [Number(nonceBefore), Number(nonceBefore) + 1]);

        // Rejection on command: exactly the next signature is refused with 4001.
        wallet.rejectNext("personal_sign");
        const rejected = await call("personal_sign", ["0x68656c6c6f", addrP]);
        assert.equal(rejected.error?.code, 4001);
        assert.match((await call("personal_sign", ["0x68656c6c6f", addrP])).result, /^0x[0-9a-f]{130}$/);
        wallet.rejectNext("*");
        assert.equal((await fx((tx) => window.fixture.sendAndWait(tx), { from: addrP, to: addrQ, value: "0x1" })).error?.code, 4001);
        // Signing for an account the wallet did not expose is unauthorized.
        assert.equal((await call("personal_sign", ["0x68656c6c6f", addrQ])).error?.code, 4100);

        // Chain switched away in the wallet: the page hears it, reads and sends are refused.
        await wallet.switchChain(1);
        assert.deepEqual((await eventsOf("chainChanged")).at(-1), "0x1");
        assert.deepEqual(await call("eth_chainId"), { result: "0x1" });
        assert.equal((await call("eth_blockNumber")).error?.code, 4901);
        assert.equal((await call("eth_sendTransaction", [{ from: addrP, to: addrQ, value: "0x1" }])).error?.code, 4901);
        // The page switches back; an unknown chain is 4902; a forgotten chain is added again.
        assert.equal((await call("wallet_switchEthereumChain", [{ chainId: "0x2a" }])).error?.code, 4902);
        assert.equal((await call("wallet_switchEthereumChain", [{ chainId: "0x0539" }])).error?.code, -32602, "MetaMask refuses leading zeros");
        assert.deepEqual(await call("wallet_switchEthereumChain", [{ chainId: "0x539" }]), { result: null });
        assert.deepEqual((await eventsOf("chainChanged")).at(-1), "0x539");
        await wallet.switchChain(1);
        wallet.forgetChain(1337);
        assert.equal((await call("wallet_switchEthereumChain", [{ chainId: "0x539" }])).error?.code, 4902);
        const add = { chainId: "0x539", chainName: "medledger local", rpcUrls: [stack.rpcUrl], nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 } };
        assert.deepEqual(await call("wallet_addEthereumChain", [add]), { result: null });
        assert.deepEqual(await eventsOf("chainChanged"), ["0x1", "0x539", "0x1", "0x539"]);
        assert.match((await call("eth_blockNumber")).result, /^0x[0-9a-f]+$/);

        // Account switched in the wallet: every page of the context hears it (a second page too).
        const page2 = await context.newPage();
        await page2.goto(`${stack.url}/`);
        await page2.evaluate((rdns) => window.fixture.discover(rdns), WALLET_INFO.rdns);
        await wallet.useAccount(VECTOR);
        const vectorAddr = identity.signer.toLowerCase();
        assert.deepEqual((await eventsOf("accountsChanged")).at(-1), [vectorAddr]);
        assert.deepEqual((await page2.evaluate(() => window.fixture.events())).map((e) => e.payload), [[vectorAddr]]);
        assert.deepEqual(await call("eth_accounts"), { result: [vectorAddr] });
        // That account reproduces the protocol's committed key-derivation signature in the browser.
        const vectorSig = await call("eth_signTypedData_v4", [vectorAddr, JSON.stringify(identity.key_derivation.typed_data)]);
        assert.equal(vectorSig.result, VECTOR_SIG);
        vectorSignatures[name] = vectorSig.result;

        // Locked: no accounts, signing unauthorized; connecting again can be refused or unlocks.
        await wallet.lock();
        assert.deepEqual((await eventsOf("accountsChanged")).at(-1), []);
        assert.deepEqual(await call("eth_accounts"), { result: [] });
        assert.equal((await call("personal_sign", ["0x68656c6c6f", vectorAddr])).error?.code, 4100);
        wallet.rejectNext("eth_requestAccounts");
        assert.equal((await call("eth_requestAccounts")).error?.code, 4001);
        assert.equal(wallet.locked(), true);
        assert.deepEqual(await call("eth_requestAccounts"), { result: [vectorAddr] });
        assert.equal(wallet.locked(), false);

        // The escrow's own /console page through the wallet: Q applies as a practitioner, the
        // admin (account 0, in its own context) signs in there and verifies the application.
        await wallet.useAccount(Q);
        const applied = await fx((tx) => window.fixture.sendAndWait(tx), {
          from: addrQ,
          to: cfg.contract,
          data: iface.encodeFunctionData("applyAsPractitioner", [hexlify(randomBytes(32)), hexlify(randomBytes(32))]),
        });
        assert.equal(applied.result?.receipt.status, "0x1", JSON.stringify(applied.error));
        const adminContext = await browser.newContext();
        const adminWallet = await installWallet(adminContext, { rpcUrl: stack.rpcUrl, chainId: stack.chainId, keys: [stack.keys[0]] });
        const consolePage = await adminContext.newPage();
        consolePage.on("pageerror", (e) => pageErrors.push(`console: ${e}`));
        await consolePage.goto(`${stack.url}/console`);
        // The admin (account 0, shared by the browsers) accepts the licence agreement the first
        // time only: the first browser's run is asked, a later one not.
        const askedAgreement = await consoleSignIn(consolePage);
        assert.equal(askedAgreement, b === 0, "the console asks the admin to accept the licence agreement once");
        const verifyButton = consolePage.locator(`button[data-action=verify][data-account="${addrQ}" i]`);
        for (let i = 0; (await verifyButton.count()) === 0; i++) {
          assert.ok(i < 40, `the application is not on the console: ${await consolePage.locator("#status").textContent()}`);
          await consolePage.waitForTimeout(250);
          if (i % 8 === 7) await consolePage.evaluate(() => load());
        }
        await verifyButton.click();
        await consolePage.locator("#status", { hasText: /verify done/ }).waitFor({ timeout: PATIENCE_MS });
        const acct = iface.decodeFunctionResult("accountOf", await rpc(stack.rpcUrl, "eth_call", [{ to: stack.contract, data: iface.encodeFunctionData("accountOf", [addrQ]) }, "latest"]))[0];
        assert.equal(Number(acct.kind), 2, "a practitioner");
        assert.equal(Number(acct.status), 2, "verified by the admin on the console");
        // The admin signs in (personal_sign) and accepts the licence agreement (EIP-712); the
        // console asks the chain what the call would do (eth_call) before the wallet signs it, so
        // that a refusal is said in words and nothing is sent.
        const agreementSignature = askedAgreement ? ["eth_signTypedData_v4"] : [];
        assert.deepEqual(adminWallet.requests.map((r) => r.method).filter((m) => m !== "eth_getTransactionReceipt"), ["eth_requestAccounts", "personal_sign", ...agreementSignature, "eth_call", "eth_sendTransaction"]);
        await adminContext.close();

        // The request log saw the page's calls; the page threw nothing.
        const methods = new Set(wallet.requests.map((r) => r.method));
        for (const m of ["eth_requestAccounts", "personal_sign", "eth_signTypedData_v4", "eth_sendTransaction", "eth_getTransactionReceipt", "wallet_addEthereumChain"]) {
          assert.ok(methods.has(m), `${m} is in the request log`);
        }
        assert.deepEqual(pageErrors, []);
        await context.close();
      });
    } finally {
      await browser.close();
    }
    process.stderr.write(`# ${name}: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  });
});

test("the stack restarts the escrow on the same URL, also after kill -9, keeping its sessions", async () => {
  await withStackLogs(stack, async () => {
    const signer = new Wallet(stack.keys[9]);
    const { message } = await (await fetch(`${stack.url}/api/auth/message?address=${signer.address}`)).json();
    const verify = await fetch(`${stack.url}/api/auth/verify`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message, signature: await signer.signMessage(message) }),
    });
    assert.equal(verify.status, 200);
    const cookie = verify.headers.get("set-cookie").split(";")[0];
    const session = async () => (await fetch(`${stack.url}/api/auth/session`, { headers: { cookie } })).status;
    assert.equal(await session(), 200);
    await stack.restartEscrow();
    assert.equal(await session(), 200, "a session survives a restart");
    await stack.stopEscrow({ signal: "SIGKILL" });
    await assert.rejects(fetch(`${stack.url}/health`), "nothing answers while the escrow is down");
    await stack.startEscrow();
    assert.equal(await session(), 200, "and a kill -9");
    assert.match(stack.escrowLog(), /escrow API listening[\s\S]*escrow API listening[\s\S]*escrow API listening/);
  });
});

test("the key-derivation signature is the same in every browser", { skip: browsers.length < 2 && "one browser selected" }, () => {
  const sigs = Object.values(vectorSignatures);
  assert.equal(sigs.length, browsers.length, "every browser signed");
  assert.ok(sigs.every((s) => s === sigs[0]));
});
