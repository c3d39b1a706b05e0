// The claims journey (issue 6), in every selected browser, against the real stack: an insurer
// applies, is verified on the console, publishes and funds a policy; a patient grants the insurer
// the Claims category and a doctor write on it; the doctor submits one claim inside the policy
// (settled and paid by the contract at once) and one outside it (left for review); the insurer
// opens the claim's document through the normal escrow path and denies it with a reason; the
// patient sees both; the insurer's CSV export lists both.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { devKeys } from "./lib/wallet.mjs";
import { startStack, withStackLogs } from "./lib/stack.mjs";
import { APP, goTo, address, adminVerify, apply, assertAccessible, assertOnScreen, done, openApp, openPatient, shot, signIn, until, T } from "./lib/app.mjs";

const KEYS = devKeys(10);
const ADMIN = KEYS[0];
const browsers = selectedBrowsers();
let stack;
before(async () => {
  if (!existsSync(join(APP, "medledger_app_bg.wasm"))) throw new Error("app/dist is not built: run scripts/build-app.sh");
  stack = await startStack({ appDir: APP, anchorIntervalSecs: 0 });
});
after(async () => {
  if (stack) await stack.stop();
});

for (const [b, name] of browsers.entries()) {
  const [patientKey, doctorKey, insurerKey] = [KEYS[2 + 3 * b], KEYS[3 + 3 * b], KEYS[4 + 3 * b]];
  const [patient, doctor, insurer] = [patientKey, doctorKey, insurerKey].map(address);

  test(`${name}: claims — one settled by the contract at once, one reviewed and denied, both seen by the patient`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        // Insurer and doctor apply; the admin verifies both on the console.
        const ins = await openApp(stack, browser, insurerKey);
        await apply(ins.page, "insurer", { name: "Mutual Health", licence: "INS-42", organisation: "Mutual Health plc" });
        const doc = await openApp(stack, browser, doctorKey);
        await apply(doc.page, "practitioner", { name: "Dr Ada Yonath", licence: "GMC-7654321", organisation: "General Hospital" });
        assert.match(await adminVerify(stack, browser, ADMIN, insurer), /Mutual Health/);
        await adminVerify(stack, browser, ADMIN, doctor);
        await ins.page.waitForSelector("[data-testid=insurer-page]", { timeout: T });
        await doc.page.waitForSelector("[data-testid=doctor-page]", { timeout: T });

        // The insurer publishes a policy covering general care: 1 ETH per claim, 5 ETH a year,
        // 0.1 ETH deductible, funded with 3 ETH, then adds 1 ETH.
        await goTo(ins.page, "Coverage policy");
        const form = ins.page.getByTestId("policy-form");
        await form.getByLabel("General", { exact: true }).setChecked(true);
        await form.getByLabel("Claims", { exact: true }).setChecked(false);
        await ins.page.getByTestId("per-claim").fill("1");
        await ins.page.getByTestId("annual").fill("5");
        await ins.page.getByTestId("deductible").fill("0.1");
        await ins.page.getByTestId("initial-funds").fill("3");
        await form.getByTestId("publish").click();
        assert.match(await done(ins.page, "section"), /Policy published/);
        await ins.page.getByTestId("fund-amount").fill("1");
        await ins.page.getByTestId("fund").click();
        await until("the funds shown", async () => (await ins.page.getByTestId("funds").textContent()) === "4 ETH");
        await shot(ins.page, name, "insurer-policy");
        await assertAccessible(ins.page, "the insurer's page with a policy");

        // The patient registers and grants: the insurer reads Claims; the doctor reads and writes
        // General and Claims.
        const pat = await openApp(stack, browser, patientKey);
        await signIn(pat.page);
        await pat.page.getByTestId("register").click();
        await pat.page.waitForSelector("[data-testid=patient-page]", { timeout: T });
        await goTo(pat.page, "Sharing");
        const grant = async (who, categories, write) => {
          await pat.page.getByTestId("grantee").fill(who);
          const g = pat.page.getByTestId("grant-form");
          for (const c of ["General", "Vitals", "History", "Laboratory", "Imaging", "Medication", "Encounters", "Claims"]) {
            await g.getByLabel(c, { exact: true }).setChecked(categories.includes(c));
          }
          await pat.page.getByTestId("allow-write").setChecked(write);
          await pat.page.getByTestId("grant").click();
          assert.match(await done(pat.page, "#sharing"), /Access granted/);
        };
        await grant(insurer, ["Claims"], false);
        await grant(doctor, ["General", "Claims"], true);

        // The doctor finds the patient and submits a claim inside the policy.
        await openPatient(doc.page, patient);
        const claimForm = doc.page.getByTestId("claim-form");
        await until("the insurer offered", async () => (await claimForm.getByTestId("claim-insurer").locator("option").count()) === 1);
        // The care claimed is among the categories the patient's grant covers, General first.
        const care = claimForm.getByTestId("claim-care");
        await until("the categories of care offered", async () => (await care.locator("option").count()) === 2);
        assert.deepEqual(await care.locator("option").allTextContents(), ["General", "Claims"]);
        assert.equal(await care.inputValue(), "0", "General (category 0) chosen by default");
        await doc.page.getByTestId("claim-diagnosis").fill("J45 asthma, acute");
        await doc.page.getByTestId("line-0-code").fill("99213");
        await doc.page.getByTestId("line-0-description").fill("Office visit");
        await doc.page.getByTestId("line-0-amount-eth").fill("0.3");
        await doc.page.getByTestId("add-line").click();
        await doc.page.getByTestId("line-1-code").fill("94010");
        await doc.page.getByTestId("line-1-description").fill("Spirometry");
        await doc.page.getByTestId("line-1-amount-eth").fill("0.2");
        await doc.page.getByTestId("submit-claim").click();
        // 0.5 ETH claimed, 0.1 ETH deductible: the contract pays 0.4 ETH at once.
        assert.match(await done(doc.page, "[data-testid=claim-form]"), /settled automatically: the contract paid 0\.4 ETH/);

        // A second claim over the per-claim limit waits for the insurer.
        await doc.page.getByTestId("line-0-code").fill("27447");
        await doc.page.getByTestId("line-0-description").fill("Knee replacement");
        await doc.page.getByTestId("line-0-amount-eth").fill("1.5");
        await doc.page.getByTestId("claim-diagnosis").fill("M17.11 osteoarthritis");
        await doc.page.getByTestId("submit-claim").click();
        assert.match(await done(doc.page, "[data-testid=claim-form]"), /not settled automatically: the amount is above the policy's per-claim limit/);
        await shot(doc.page, name, "doctor-claims");

        // The insurer reviews the pending claim: opens its document, denies it with a reason.
        await goTo(ins.page, "Claims");
        const claimRows = ins.page.getByTestId("claims").locator("tbody tr");
        await until("both claims at the insurer", async () => {
          await ins.page.getByRole("button", { name: "Refresh" }).click();
          await ins.page.waitForTimeout(400);
          return (await claimRows.count()) === 2;
        });
        const pending = claimRows.filter({ has: ins.page.locator("td.claim-state", { hasText: "per-claim limit" }) });
        await pending.getByTestId("review").click();
        await ins.page.getByTestId("open-claim-doc").click();
        await until("the claim document", async () => /27447/.test((await ins.page.getByTestId("opened").textContent().catch(() => "")) || ""));
        assert.match(await ins.page.getByTestId("entry-fields").textContent(), /Knee replacement/);
        assert.match(await done(ins.page, "[data-testid=review-panel]"), /its total is the amount claimed/);
        await ins.page.getByTestId("deny-reason").fill("Prior authorisation missing for elective surgery");
        await ins.page.getByTestId("deny").click();
        assert.match(await done(ins.page, "[data-testid=review-panel]"), /Denied/);
        await until("the denial shown", async () => (await claimRows.filter({ hasText: "denied by the insurer" }).count()) === 1);
        assert.equal(await claimRows.filter({ hasText: "General" }).count(), 2, "both claims for general care");
        const csv = decodeURIComponent((await ins.page.getByTestId("csv").getAttribute("href")).split(",").slice(1).join(","));
        const lines = csv.trim().split("\r\n");
        assert.equal(lines.length, 3, "a header and two claims");
        assert.ok(lines.some((l) => l.includes('"paid"') && l.includes('"400000000000000000"')));
        assert.ok(lines.some((l) => l.includes('"denied"') && l.includes('"1500000000000000000"')));
        await shot(ins.page, name, "insurer-claims");
        // Every claim's Review button is on screen at desktop and phone width.
        await assertOnScreen(ins.page, "[data-testid=claims] [data-testid=review]");
        await goTo(ins.page, "Coverage policy");
        await until("the funds after the payment", async () => (await ins.page.getByTestId("funds").textContent()) === "3.6 ETH");

        // The patient sees both, with state, amount and payer.
        await goTo(pat.page, "Claims");
        const patRows = pat.page.locator("#claims [data-testid=claims] tbody tr");
        await until("both claims at the patient", async () => {
          await pat.page.locator("#claims").getByRole("button", { name: "Refresh" }).click();
          await pat.page.waitForTimeout(400);
          return (await patRows.count()) === 2;
        });
        const text = await pat.page.locator("#claims").textContent();
        assert.match(text, /paid automatically by the contract: 0\.4 ETH/);
        assert.match(text, /denied by the insurer/);
        // By name, not address: the insurer and the doctor as their verified profiles say (each
        // selected browser's insurer and doctor share a name; a short address tells them apart).
        assert.match(text, /Mutual Health \(Mutual Health plc[^)]*\)/);
        assert.match(text, /Dr Ada Yonath \(General Hospital[^)]*\)/);
        assert.ok(!text.includes(insurer), text);
        await shot(pat.page, name, "patient-claims");

        // The doctor withdraws the payout.
        await goTo(doc.page, "Claims");
        await doc.page.getByRole("button", { name: "Refresh" }).click();
        await until("the payout shown", async () => /0\.4 ETH/.test(await doc.page.getByTestId("payout").textContent()));
        await doc.page.getByRole("button", { name: "Withdraw payouts" }).click();
        await until("the payout withdrawn", async () => /: 0 ETH/.test(await doc.page.getByTestId("payout").textContent()));
      } finally {
        await browser.close();
      }
    });
  });
}
