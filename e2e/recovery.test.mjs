// Recovery with guardians (issue 18), in every selected browser, against the real stack: a patient
// with records names two guardians (threshold 2) on the Account page, and the app splits the key's
// seed into a kit the escrow keeps. The wallet is "lost": a new wallet holding no ether asks for the
// account (the relayer pays), each guardian finds the request in their own app, approves it and
// re-seals their share for the new wallet; the new wallet takes the account over, signs in as it,
// gets the old key back from the shares, opens every old record, rotates to a key of its own,
// opens them again after another sign-in and stores a kit of the new key for the same guardians.
// The recovery sheet printed with the first kit is typed in at the recovered sign-in (a mistyped
// one is refused in words). The lost wallet, found again, cannot sign in.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Wallet } from "ethers";
import { BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { devKeys } from "./lib/wallet.mjs";
import { rpc, startStack, withStackLogs } from "./lib/stack.mjs";
import { APP, T, address, done, goTo, importHistory, openApp, signIn, until } from "./lib/app.mjs";

const KEYS = devKeys(10);
const RECORDS = 20; // the smallest history importHistory makes
let stack;
before(async () => {
  if (!existsSync(join(APP, "medledger_app_bg.wasm"))) throw new Error("app/dist is not built: run scripts/build-app.sh");
  stack = await startStack({ appDir: APP, anchorIntervalSecs: 0 });
});
after(async () => {
  if (stack) await stack.stop();
});

/** Signs `key` in on a new context of `browser` and registers it as a patient. */
async function registeredPatient(browser, key) {
  const opened = await openApp(stack, browser, key);
  await signIn(opened.page);
  await opened.page.getByTestId("register").click();
  await opened.page.waitForSelector("[data-testid=patient-page]", { timeout: T });
  return opened;
}

/** Waits until the records list shows `n` rows, and opens each, checking it against its anchor. */
async function openEvery(page, n) {
  await goTo(page, "Records");
  const rows = page.locator("[data-testid=records] tbody tr");
  await until(`${n} records listed`, async () => (await rows.count()) === n);
  for (let i = 0; i < n; i++) {
    await rows.nth(i).getByRole("button", { name: "Open" }).click();
    await page.getByTestId("opened").waitFor({ timeout: T });
    assert.match(await page.getByTestId("integrity").textContent(), /matches the chain's anchor/);
  }
}

/** A guardian's app: finds the open request of `patient` from `newWallet`, and approves it. */
async function approveAsGuardian(page, patient, newWallet) {
  await goTo(page, "Account");
  const help = page.getByTestId("help-recover");
  await help.getByTestId("help-patient").fill(patient);
  await help.getByTestId("find-requests").click();
  const request = help.getByTestId("recovery-request").filter({ hasText: newWallet });
  await request.waitFor({ timeout: T });
  await request.getByTestId("approve-recovery").click();
  assert.match(await done(page, "[data-testid=help-outcome]"), /Approved, and your share is with the escrow/);
}

for (const [b, name] of selectedBrowsers().entries()) {
  const patientKey = KEYS[2 + 3 * b];
  const guardianKeys = [KEYS[3 + 3 * b], KEYS[4 + 3 * b]];
  const patient = address(patientKey);
  const guardians = guardianKeys.map(address);

  test(`${name}: two guardians help a patient who lost their wallet take the account over on a new one, which opens every old record`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const helpers = [];
        for (const key of guardianKeys) helpers.push(await registeredPatient(browser, key));

        // The patient stores records and names the two guardians, both needed, with no waiting.
        const old = await registeredPatient(browser, patientKey);
        await importHistory(old.page, { resources: RECORDS, seed: 77 + b });
        await goTo(old.page, "Account");
        const section = old.page.getByTestId("guardians");
        await section.getByTestId("no-guardians").waitFor({ timeout: T });
        // A set the contract would take but recovery cannot use is refused before anything is sent.
        await section.getByTestId("guardian-addresses").fill(guardians[0]);
        await section.getByTestId("guardian-threshold").fill("1");
        await section.getByTestId("save-guardians").click();
        assert.match(await done(old.page, "[data-testid=guardians-outcome]").catch((e) => e.message), /Name at least two guardians/);
        // Back to a fresh form (the refusal's note would otherwise be the outcome the next wait finds).
        await goTo(old.page, "Records");
        await goTo(old.page, "Account");
        await section.getByTestId("guardian-addresses").fill(guardians.join(", "));
        await section.getByTestId("guardian-threshold").fill("2");
        await section.getByTestId("guardian-delay").fill("0");
        await section.getByTestId("save-guardians").click();
        assert.match(await done(old.page, "[data-testid=guardians-outcome]"), /any 2 of your 2 guardians can help you recover/);
        await until("the guardians shown", async () => /2 of these 2 guardians/.test(await section.textContent()));
        assert.equal(await section.getByTestId("kit-missing").count(), 0, "the kit is stored for them");
        // The recovery sheet: the first guardian's share as a code to keep offline.
        const sheetCode = (await section.getByTestId("sheet-code").textContent()).trim();
        assert.match(sheetCode, /^MLS1(-[0-9A-F]{8}){10}-[0-9A-F]{2}$/);
        await old.context.close();

        // A new wallet, with no ether at all, asks for the account.
        const freshKey = Wallet.createRandom().privateKey;
        const newWallet = address(freshKey);
        const fresh = await openApp(stack, browser, freshKey);
        await signIn(fresh.page);
        const recover = fresh.page.getByTestId("recover-account");
        await recover.getByTestId("lost-account").fill(patient);
        await recover.getByTestId("ask-recovery").click();
        const asked = await done(fresh.page, "[data-testid=recover-account]");
        const requestId = asked.match(/Asked \(request (\d+)\)/)?.[1];
        assert.ok(requestId, asked);
        await until("the request shown", async () => /0 of 2 approvals/.test(await recover.getByTestId("recovery-status").textContent()));

        // Each guardian approves in their own app, after checking the new wallet with the patient.
        // Between the two, the new wallet's page is closed and opened again: asking once more
        // shows the open request, with its approval, and replaces nothing.
        await approveAsGuardian(helpers[0].page, patient, newWallet);
        await fresh.page.reload();
        await signIn(fresh.page);
        await recover.getByTestId("lost-account").fill(patient);
        await recover.getByTestId("ask-recovery").click();
        assert.match(await done(fresh.page, "[data-testid=recover-account]"), new RegExp(`Asked \\(request ${requestId}\\)`));
        await until("the approval kept", async () => new RegExp(`Request ${requestId}: 1 of 2 approvals`).test(await recover.getByTestId("recovery-status").textContent()));
        await approveAsGuardian(helpers[1].page, patient, newWallet);

        // The new wallet takes the account over and signs in as it: the page gets the old key back
        // from the guardians' shares and opens every old record.
        await recover.getByTestId("check-recovery").click();
        await recover.getByTestId("complete-recovery").waitFor({ timeout: T });
        await recover.getByTestId("complete-recovery").click();
        await fresh.page.getByTestId("sign-in").waitFor({ timeout: T });
        // The sheet's code, typed with a mistake, is refused in words; typed right (in lower case,
        // with spaces), it joins the guardians' shares.
        const digits = [...sheetCode];
        digits[23] = digits[23] === "0" ? "1" : "0";
        await fresh.page.locator("[data-testid=sign-in] summary").click();
        await fresh.page.getByTestId("sheet-input").fill(digits.join(""));
        await fresh.page.getByTestId("sign-in-button").click();
        const refusedSheet = fresh.page.locator("[data-testid=sign-in] [data-testid=note-failed]");
        await refusedSheet.waitFor({ timeout: T });
        assert.match(await refusedSheet.textContent(), /recovery sheet's code has a typing mistake/);
        await fresh.page.getByTestId("sheet-input").fill(sheetCode.toLowerCase().replaceAll("-", " "));
        await signIn(fresh.page);
        await fresh.page.waitForSelector("[data-testid=patient-page]", { timeout: T });
        assert.equal(await fresh.page.getByTestId("who").getAttribute("title"), patient, "the app acts for the recovered account");
        await openEvery(fresh.page, RECORDS);

        // Rotating to the new wallet's own key; every record opens with it after another sign-in.
        await goTo(fresh.page, "Account");
        await fresh.page.getByTestId("recovered-rotate").waitFor({ timeout: T });
        await fresh.page.getByTestId("rotate-key").click();
        assert.match(await done(fresh.page, "[data-testid=rotation-outcome]"), new RegExp(`${RECORDS} records' keys now open only with the new one`));
        await fresh.page.reload();
        await signIn(fresh.page);
        await fresh.page.waitForSelector("[data-testid=patient-page]", { timeout: T });
        await openEvery(fresh.page, RECORDS);
        await goTo(fresh.page, "Account");
        await fresh.page.getByTestId("rotate-key").waitFor({ timeout: T });
        assert.equal(await fresh.page.getByTestId("recovered-rotate").count(), 0, "nothing left to rotate");
        // The kit split the key the lost wallet knew: the page asks for one of the new key, stored
        // for the same guardians with one more signature and no transaction.
        const kit = fresh.page.getByTestId("guardians");
        await kit.getByTestId("kit-missing").waitFor({ timeout: T });
        await kit.getByTestId("store-kit").click();
        assert.match(await done(fresh.page, "[data-testid=guardians]"), /recovery kit is stored for the guardians on chain/);
        await until("the new kit current", async () => (await kit.getByTestId("kit-missing").count()) === 0);
        assert.equal(BigInt(await rpc(stack.rpcUrl, "eth_getBalance", [newWallet, "latest"])), 0n, "the relayer paid for all of it");

        // The lost wallet, found again, cannot sign in.
        const found = await openApp(stack, browser, patientKey);
        await found.page.getByTestId("sign-in-button").click();
        const refused = found.page.locator("[data-testid=sign-in] [data-testid=note-failed]");
        await refused.waitFor({ timeout: T });
        assert.match(await refused.textContent(), /moved .* to another wallet|replaced by a recovery/);
      } finally {
        await browser.close();
      }
    });
  });
}
