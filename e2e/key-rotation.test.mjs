// Key rotation (issue 18), in every selected browser, against the real stack: a patient with 50
// records rotates their encryption key from the Account page. The wallet first refuses the
// transaction (Retry goes on with the keys already re-wrapped), then refuses the signature that
// lets the escrow replace the wraps: the new key is on chain but the keys are not moved. After a
// reload the patient signs in with the rotated key (one signature, its version found from the
// chain's events), the page says the rotation is unfinished, and Finish moves every key with the
// previous key derived again. Every record then opens with the new key; erasing everything
// then says so once the escrow has destroyed the keys.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { id as keccakOfText } from "ethers";
import { BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { devKeys } from "./lib/wallet.mjs";
import { rpc, startStack, withStackLogs } from "./lib/stack.mjs";
import { APP, goTo, address, assertAccessible, done, openApp, signIn, until, T } from "./lib/app.mjs";
import { makeBundle } from "./lib/fhir-bundle.mjs";

const KEYS = devKeys(10);
const browsers = selectedBrowsers();
const RECORDS = 50;
let stack;
before(async () => {
  if (!existsSync(join(APP, "medledger_app_bg.wasm"))) throw new Error("app/dist is not built: run scripts/build-app.sh");
  stack = await startStack({ appDir: APP, anchorIntervalSecs: 0 });
});
after(async () => {
  if (stack) await stack.stop();
});

/** Starts keeping every label the key section's progress bar shows (window.__barLabels). */
async function watchBar(page) {
  await page.evaluate(() => {
    window.__barLabels = [];
    const section = document.querySelector("[data-testid=key-rotation]");
    const note = () => {
      const label = section.querySelector(".progress label");
      const text = label ? label.textContent.trim() : "";
      if (text && window.__barLabels.at(-1) !== text) window.__barLabels.push(text);
    };
    new MutationObserver(note).observe(section, { subtree: true, childList: true, characterData: true });
  });
}

/** How many times `account` rotated its key on chain (its EncryptionKeyRotated events). */
async function rotationsOf(account) {
  const logs = await rpc(stack.rpcUrl, "eth_getLogs", [{
    address: stack.contract, fromBlock: "0x0", toBlock: "latest",
    topics: [keccakOfText("EncryptionKeyRotated(address,bytes32)"), "0x" + account.slice(2).toLowerCase().padStart(64, "0")],
  }]);
  return logs.length;
}

/** Opens the first and the last record and checks each decrypted against its anchor. */
async function openFirstAndLast(page, rows) {
  for (const i of [0, RECORDS - 1]) {
    await rows.nth(i).getByRole("button", { name: "Open" }).click();
    await page.getByTestId("opened").waitFor({ timeout: T });
    assert.match(await page.getByTestId("integrity").textContent(), /matches the chain's anchor/);
  }
}

for (const [b, name] of browsers.entries()) {
  const patientKey = KEYS[2 + b];
  const patient = address(patientKey);

  test(`${name}: a patient rotates their key over ${RECORDS} records, through a refused transaction and a refused signature`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const { page, wallet } = await openApp(stack, browser, patientKey);
        await signIn(page);
        await page.getByTestId("register").click();
        await page.waitForSelector("[data-testid=patient-page]", { timeout: T });
        await goTo(page, "Add a record");
        const bundle = makeBundle({ resources: RECORDS, seed: 18 + b });
        await page.setInputFiles("[data-testid=fhir-input]", { name: "history.json", mimeType: "application/fhir+json", buffer: Buffer.from(JSON.stringify(bundle)) });
        await page.getByTestId("fhir-check").click();
        await page.locator("#fhir-import [data-testid=note-done]").waitFor({ timeout: T });
        await page.getByTestId("fhir-import").click();
        assert.match(await done(page, "[data-testid=fhir-upload]"), new RegExp(`Imported ${RECORDS} records`));

        // The wallet refuses the transaction: the keys are re-wrapped in the browser, nothing has
        // changed anywhere, and Retry goes on from there.
        await goTo(page, "Account");
        await watchBar(page);
        wallet.rejectNext("eth_sendTransaction");
        await page.getByTestId("rotate-key").click();
        const failed = page.locator("[data-testid=rotation-outcome] [data-testid=note-failed]");
        await failed.waitFor({ timeout: T });
        assert.match(await failed.textContent(), /You rejected the request.*press Retry/);
        assert.equal(await rotationsOf(patient), 0, "nothing on chain");
        const seen = await page.evaluate(() => window.__barLabels);
        assert.ok(seen.includes(`Re-wrapping your keys in this browser: ${RECORDS} of ${RECORDS}`), seen.join(" | "));
        assert.equal((await page.getByTestId("rotate-key").textContent()).trim(), "Retry");

        // Retry: the key goes on chain, then the wallet refuses the signature that lets the escrow
        // replace the wraps. The new key is registered; the records' keys are not moved.
        wallet.rejectNext("eth_signTypedData_v4");
        await page.getByTestId("rotate-key").click();
        await until("the new key on chain", async () => (await rotationsOf(patient)) === 1);
        await failed.waitFor({ timeout: T });
        assert.match(await failed.textContent(), /You rejected the request.*press Retry/);

        // The page holds the new key from the moment the chain did: coming back to the Account
        // page, it finds the keys still made for the previous one and offers to finish.
        await goTo(page, "Records");
        await goTo(page, "Account");
        await page.getByTestId("rotation-unfinished").waitFor({ timeout: T });

        // The page is closed. Signing in again derives the rotated key (version 2) with one
        // signature; the records' keys were made for the previous one, which the page says. The
        // wallet now refuses eth_getLogs over more than 16 blocks, as a public provider caps it:
        // the app finds the rotation asking in smaller ranges.
        wallet.capLogRange(16);
        const logQueries = () => wallet.requests.filter((r) => r.method === "eth_getLogs").length;
        const queriesBefore = logQueries();
        await page.reload();
        await signIn(page);
        await page.waitForSelector("[data-testid=patient-page]", { timeout: T });
        assert.ok(logQueries() - queriesBefore > 2, `the rotations were asked in pieces (${logQueries() - queriesBefore} eth_getLogs)`);
        wallet.capLogRange(0);
        await goTo(page, "Account");
        const unfinished = page.getByTestId("rotation-unfinished");
        await unfinished.waitFor({ timeout: T });
        assert.match(await unfinished.textContent(), new RegExp(`^${RECORDS} of your records' keys were made for your previous encryption key`));
        await assertAccessible(page, "an unfinished key rotation");
        await watchBar(page);
        await page.getByTestId("finish-rotation").click();
        assert.match(await done(page, "[data-testid=key-rotation]"), new RegExp(`${RECORDS} records' keys now open only with the new one`));
        const moving = await page.evaluate(() => window.__barLabels);
        assert.ok(moving.some((l) => /^Replacing your keys at the escrow: \d+ of 50$/.test(l)), moving.join(" | "));
        await until("the warning gone", async () => (await unfinished.count()) === 0);

        // Every record opens with the new key, also after another sign-in.
        await page.reload();
        await signIn(page);
        await page.waitForSelector("[data-testid=patient-page]", { timeout: T });
        await goTo(page, "Records");
        const rows = page.locator("[data-testid=records] tbody tr");
        await until(`${RECORDS} records listed`, async () => (await rows.count()) === RECORDS);
        await openFirstAndLast(page, rows);
        await goTo(page, "Account");
        await page.getByTestId("rotate-key").waitFor({ timeout: T });
        assert.equal(await page.getByTestId("rotation-unfinished").count(), 0, "nothing left to finish");
        assert.equal(await rotationsOf(patient), 1, "finishing rotated nothing more");

        // Erasing everything: the page says so once the escrow has destroyed the keys.
        await page.getByLabel("Type ERASE to confirm").fill("ERASE");
        await page.getByRole("button", { name: "Erase all my records" }).click();
        assert.match(await done(page, "#erase-all"), /the escrow has destroyed every key it held/);
        await goTo(page, "Records");
        // Erased records leave the list (the escrow holds nothing of them to list).
        await until("the list empty", async () => (await rows.count()) === 0);
        await page.getByText("No records yet.").waitFor({ timeout: T });
      } finally {
        await browser.close();
      }
    });
  });
}
