// One signature at sign-in (issue 18; formats.md 6.1 "One signature at sign-in"), in every
// selected browser, against the real stack. The first sign-in on a device asks the wallet for two
// signatures (SIWE, and the key's derivation); the device then remembers the key, locked by a
// non-extractable WebCrypto key in IndexedDB. Every later sign-in is exactly one fresh SIWE
// signature, also when an escrow session is still live, and the records open with the remembered
// key. Unticking "remember" on a shared computer asks for the key's signature again and leaves
// nothing behind; a rotation forgets the old key.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { devKeys } from "./lib/wallet.mjs";
import { startStack, withStackLogs } from "./lib/stack.mjs";
import { APP, T, done, goTo, importHistory, openApp, signIn, until } from "./lib/app.mjs";

const KEYS = devKeys(10);
let stack;
before(async () => {
  if (!existsSync(join(APP, "medledger_app_bg.wasm"))) throw new Error("app/dist is not built: run scripts/build-app.sh");
  stack = await startStack({ appDir: APP, anchorIntervalSecs: 0 });
});
after(async () => {
  if (stack) await stack.stop();
});

/** The wallet's signature requests since `from`: SIWE ones and key derivations. */
function signaturesSince(wallet, from) {
  const asked = wallet.requests.slice(from);
  const typed = (r) => r.method === "eth_signTypedData_v4" && /DeriveEncryptionKey/.test(JSON.stringify(r.params));
  return { siwe: asked.filter((r) => r.method === "personal_sign").length, keys: asked.filter(typed).length };
}

/** What this page's IndexedDB remembers: [{ account, version, extractable, usages, sealed }]. */
async function remembered(page) {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open("medledger-keys", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const all = open.result.transaction("keys", "readonly").objectStore("keys").getAll();
      all.onerror = () => reject(all.error);
      all.onsuccess = () => resolve(all.result.map((e) => ({
        account: e.account, version: e.version, extractable: e.key.extractable, usages: [...e.key.usages].sort(), sealed: new Uint8Array(e.sealed).length,
      })));
    };
  }));
}

/** Reloads, signs in (with "remember" as given) and waits for the patient's page. */
async function signInAgain(page, { remember = true } = {}) {
  await page.reload();
  await page.getByTestId("sign-in").waitFor({ timeout: T });
  if (!remember) await page.getByTestId("remember-key").uncheck();
  await signIn(page);
  await page.waitForSelector("[data-testid=patient-page]", { timeout: T });
}

/** Opens the first record and checks it against its anchor. */
async function openFirst(page) {
  await goTo(page, "Records");
  const rows = page.locator("[data-testid=records] tbody tr");
  await until("the records listed", async () => (await rows.count()) > 0);
  await rows.first().getByRole("button", { name: "Open" }).click();
  await page.getByTestId("opened").waitFor({ timeout: T });
  assert.match(await page.getByTestId("integrity").textContent(), /matches the chain's anchor/);
}

for (const [b, name] of selectedBrowsers().entries()) {
  const patientKey = KEYS[2 + b];

  test(`${name}: a device that remembers the key signs in with one signature, and one that must not remembers nothing`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const { page, wallet } = await openApp(stack, browser, patientKey);
        let mark = wallet.requests.length;
        await signIn(page);
        assert.deepEqual(signaturesSince(wallet, mark), { siwe: 1, keys: 1 }, "a new device: two signatures");
        await page.getByTestId("register").click();
        await page.waitForSelector("[data-testid=patient-page]", { timeout: T });
        const [entry] = await remembered(page);
        assert.deepEqual(entry, { account: await page.getByTestId("who").getAttribute("title"), version: 1, extractable: false, usages: ["decrypt", "encrypt"], sealed: 48 });
        await importHistory(page, { resources: 20, seed: 5 + b });

        // The escrow session is still live: the wallet signs the sign-in afresh all the same, and
        // the key comes from the device.
        mark = wallet.requests.length;
        await signInAgain(page);
        assert.deepEqual(signaturesSince(wallet, mark), { siwe: 1, keys: 0 }, "a remembered device: one signature");
        await openFirst(page);

        // A shared computer: the key is asked of the wallet again, and nothing stays behind.
        mark = wallet.requests.length;
        await signInAgain(page, { remember: false });
        assert.equal(signaturesSince(wallet, mark).keys, 1, "the key's signature asked again");
        assert.deepEqual(await remembered(page), [], "forgotten");
        await openFirst(page);

        // Remembered again, then rotated: the old key is forgotten, and the next sign-in derives
        // the new one once (and remembers it).
        await signInAgain(page);
        assert.equal((await remembered(page)).length, 1);
        await goTo(page, "Account");
        await page.getByTestId("rotate-key").click();
        assert.match(await done(page, "[data-testid=rotation-outcome]"), /20 records' keys now open only with the new one/);
        await until("the old key forgotten", async () => (await remembered(page)).length === 0);
        mark = wallet.requests.length;
        await signInAgain(page);
        assert.equal(signaturesSince(wallet, mark).keys, 1, "the rotated key derived once");
        assert.equal((await remembered(page))[0]?.version, 2);
        await openFirst(page);
      } finally {
        await browser.close();
      }
    });
  });
}
