// The app's journeys (issue 5), in every selected browser, against the real stack: Ganache with
// the Truffle deployment, the escrow API serving the built app (app/dist), and the test wallet
// standing in for MetaMask. Each browser uses its own accounts on one shared stack. Screenshots of
// the main views at desktop and phone width go to e2e/screenshots/<browser>/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { devKeys, installWallet } from "./lib/wallet.mjs";
import { rpc, startStack, withStackLogs } from "./lib/stack.mjs";
import { id as keccakOfText } from "ethers";
import { APP, DESKTOP, goTo, T, address, adminVerify, apply, assertAccessible, assertOnScreen, done, downloadDigest, openApp, openPatient, shot, signIn, until } from "./lib/app.mjs";

const KEYS = devKeys(10);
const ADMIN = KEYS[0];
const browsers = selectedBrowsers();

let stack;
before(async () => {
  if (!existsSync(join(APP, "medledger_app_bg.wasm"))) {
    throw new Error("app/dist is not built: run scripts/build-app.sh (the test command does)");
  }
  stack = await startStack({ appDir: APP, anchorIntervalSecs: 2 });
});
after(async () => {
  if (stack) await stack.stop();
});

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const open = (browser, key, viewport = DESKTOP, path = "/") => openApp(stack, browser, key, { viewport, path });

async function reloadRecords(page) {
  await goTo(page, "Records");
  await page.locator("#records").getByRole("button", { name: "Refresh" }).click();
  await page.waitForTimeout(300);
}

for (const [b, name] of browsers.entries()) {
  const patientKey = KEYS[2 + 3 * b];
  const doctorKey = KEYS[3 + 3 * b];
  const patient = address(patientKey);
  const doctor = address(doctorKey);
  const shared = {};

  test(`${name}: journey 1 — a patient registers, uploads a 5 MiB file and an entry, reloads, opens both intact`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const { page } = await open(browser, patientKey);
        await shot(page, name, "sign-in");
        await assertAccessible(page, "the sign-in screen");
        // The page names its icon, and the escrow serves it (no 404 in every tab's console).
        const icon = await page.evaluate(async () => {
          const r = await fetch(document.querySelector("link[rel=icon]").href);
          return `${r.status} ${r.headers.get("content-type")}`;
        });
        assert.equal(icon, "200 image/svg+xml");
        await signIn(page);
        await shot(page, name, "onboarding");
        await assertAccessible(page, "onboarding");
        await page.getByTestId("register").click();
        await page.waitForSelector("[data-testid=patient-page]", { timeout: T });
        // Each task has its own page and address; the patient's home is their records.
        assert.match(page.url(), /\/(#\/records)?$/);
        assert.equal(await page.title(), "Records · medledger");
        await goTo(page, "Add a record");
        assert.match(page.url(), /#\/add$/);
        await shot(page, name, "add");
        await assertAccessible(page, "the add page (file and entry forms)");

        const file = randomBytes(5 * 1024 * 1024);
        await page.setInputFiles("[data-testid=file-input]", { name: "scan.bin", mimeType: "application/octet-stream", buffer: file });
        await page.getByTestId("upload").click();
        assert.match(await done(page, "#add"), /anchored on chain/);

        const form = page.getByTestId("entry-form");
        await form.getByLabel("Name").fill("Ada Lovelace");
        await form.getByLabel("Blood group").selectOption("AB-");
        await form.getByLabel("Condition").fill("Asthma");
        // Pounds, as some patients know their weight: stored as kilograms (135.6 lb = 61.5 kg).
        await form.getByLabel("Weight unit").selectOption("lb");
        await form.getByLabel("Weight", { exact: true }).fill("135.6");
        await form.getByLabel("Height unit").selectOption("ft");
        await form.getByLabel("Height", { exact: true }).fill("5'7\"");
        await form.getByLabel("Description").fill("Wheeze on exertion.\nWorse in spring.");
        await form.getByLabel("Category").selectOption({ label: "History" });
        await page.getByTestId("save-entry").click();
        assert.match(await done(page, "#entry"), /anchored on chain/);
        // The form is empty again, the blood group included (Firefox used to keep the old choice,
        // so the next entry silently saved it).
        assert.equal(await form.getByLabel("Name").inputValue(), "");
        assert.equal(await page.getByTestId("blood-group").inputValue(), "");
        // "Since" takes a month, as people remember it; and not before the birth date.
        await form.getByLabel("Name").fill("Ada Lovelace");
        await form.getByLabel("Birth date").fill("1990-02-28");
        await form.getByLabel(/^Since/).fill("1989-06");
        await page.getByTestId("save-entry").click();
        const refused = page.locator("#entry [data-testid=note-failed]");
        await refused.waitFor({ timeout: T });
        assert.match(await refused.textContent(), /since cannot be before the birth date/);

        // A reload comes back to the page the patient was on.
        await page.reload();
        await signIn(page);
        await page.waitForSelector("[data-testid=patient-page]");
        await page.getByTestId("entry-form").waitFor({ timeout: T });
        await goTo(page, "Records");
        // The browser's back and forward buttons move between the pages.
        await page.goBack();
        await page.getByTestId("entry-form").waitFor({ timeout: T });
        await page.goForward();
        await page.getByTestId("records").waitFor({ timeout: T });
        const rows = page.locator("[data-testid=records] tbody tr");
        await until("two records listed", async () => (await rows.count()) === 2);
        shared.fileRow = await rows.filter({ hasText: "General" }).getAttribute("data-record");
        shared.entryRow = await rows.filter({ hasText: "History" }).getAttribute("data-record");
        // Each record is named by its label, opened in this browser: the entry by its condition
        // with a summary line, the file by its name; no id or hex in sight.
        const title = (row) => row.getByTestId("record-title");
        assert.equal(await title(rows.filter({ hasText: "History" })).locator(".title").textContent(), "Asthma");
        assert.equal(await title(rows.filter({ hasText: "History" })).locator(".summary").textContent(), "Ada Lovelace · blood group AB- · 61.5 kg · 170.2 cm");
        assert.equal(await title(rows.filter({ hasText: "General" })).locator(".title").textContent(), "scan.bin");
        assert.match(await title(rows.filter({ hasText: "General" })).locator(".summary").textContent(), /^file, 5\.0 MiB$/);
        assert.doesNotMatch(await page.getByTestId("records").textContent(), /0x[0-9a-fA-F]{6}/);
        // Open and Erase are reachable on a phone (the rows become cards), not off-screen.
        await assertOnScreen(page, "[data-testid=records] tbody button");

        await rows.filter({ hasText: "General" }).getByRole("button", { name: "Open" }).click();
        await page.getByTestId("opened").waitFor({ timeout: T });
        assert.match(await page.getByTestId("integrity").textContent(), /matches the chain's anchor/);
        const got = await downloadDigest(page);
        assert.equal(got.name, "scan.bin");
        assert.equal(got.length, file.length);
        assert.equal(got.sha256, sha256(file), "the downloaded file is the uploaded one");

        await rows.filter({ hasText: "History" }).getByRole("button", { name: "Open" }).click();
        await until("the entry's fields", async () => /Ada Lovelace/.test((await page.getByTestId("opened").textContent()) || ""));
        const fields = await page.getByTestId("entry-fields").textContent();
        assert.match(fields, /Blood group\s*AB-/);
        assert.match(fields, /Condition\s*Asthma/);
        assert.match(fields, /Weight \(kg\)\s*61\.5/);
        assert.match(fields, /Height \(cm\)\s*170\.2/);
        // Titled by its condition and summed up in a line, not by a file name and an id; a
        // description keeps its line breaks.
        assert.equal(await page.getByTestId("opened-title").textContent(), "Asthma");
        assert.match(await page.getByTestId("opened-summary").textContent(), /^Ada Lovelace · blood group AB- · 61\.5 kg · 170\.2 cm$/);
        const description = page.getByTestId("entry-fields").locator("dd", { hasText: "Wheeze" });
        assert.equal(await description.evaluate((dd) => getComputedStyle(dd).whiteSpace), "pre-wrap");
        assert.equal(await description.textContent(), "Wheeze on exertion.\nWorse in spring.");

        // Several files at once: each its own record, all anchored in one addRecords transaction.
        await goTo(page, "Add a record");
        const labs = ["lab-a.txt", "lab-b.txt", "lab-c.txt"].map((n) => ({ name: n, mimeType: "text/plain", buffer: randomBytes(2048) }));
        await page.setInputFiles("[data-testid=file-input]", labs);
        await page.locator("#add").getByLabel("Category").selectOption({ label: "Laboratory" });
        await page.getByTestId("upload").click();
        assert.match(await done(page, "#add"), /Stored 3 records: .*in one transaction/);
        await goTo(page, "Records");
        await until("five records listed", async () => (await rows.count()) === 5);
        const labIds = await rows.filter({ hasText: "Laboratory" }).evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-record")));
        assert.equal(labIds.length, 3);
        const added = await recordAddedLogs(stack, labIds);
        assert.equal(added.length, 3, "each record anchored once");
        assert.equal(new Set(added.map((l) => l.transactionHash)).size, 1, "all three in one transaction");
        for (const lab of labs) {
          assert.equal(await title(rows.filter({ hasText: lab.name })).locator(".title").textContent(), lab.name);
        }
        await shot(page, name, "patient");
        await assertAccessible(page, "the patient's page with an opened entry");
      } finally {
        await browser.close();
      }
    });
  });

  test(`${name}: journey 2 — a doctor applies, an admin verifies on the console, consent by category, revocation, both in the verified log`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const doc = await open(browser, doctorKey);
        await apply(doc.page, "practitioner", { name: "Dr Grace Hopper", licence: "GMC-1234567", organisation: "St Mary's Hospital" });
        await shot(doc.page, name, "awaiting-verification");
        const row = await adminVerify(stack, browser, ADMIN, doctor);
        assert.match(row, /Dr Grace Hopper.*GMC-1234567/);
        // The applicant's history on chain, so far: the application.
        assert.match(row, /registered #\d+/);
        // Each selected browser's doctor applies with this licence number: from the second one
        // on, the console flags the application as a possible duplicate of the earlier account.
        if (b > 0) assert.match(row, /possible duplicate: same licence number as 0x[0-9a-fA-F]{40} \(active\)/);
        else assert.doesNotMatch(row, /possible duplicate/);
        await doc.page.waitForSelector("[data-testid=doctor-page]", { timeout: T });

        const pat = await open(browser, patientKey);
        await signIn(pat.page);
        await goTo(pat.page, "Sharing");
        // The patient picks the doctor by name from the verified directory, not by address (once
        // the escrow's follower has seen the verification; Refresh reloads the directory).
        const listed = pat.page.locator(`[data-testid=grantee-pick] option[value="${doctor}"]`);
        await until("the verified doctor in the patient's directory", async () => {
          if ((await listed.count()) === 1) return true;
          await pat.page.getByTestId("refresh-sharing").click();
          await pat.page.waitForTimeout(300);
          return false;
        });
        // Each browser's doctor has the same name: the option tells namesakes apart by address.
        assert.match(await listed.textContent(), /^Dr Grace Hopper \(St Mary's Hospital/);
        await pat.page.getByTestId("grantee-pick").selectOption(doctor);
        assert.equal(await pat.page.getByTestId("grantee").inputValue(), doctor);
        const checks = pat.page.getByTestId("grant-form");
        // Offered first: the categories the patient has records in (a file in General, the entry
        // in History, the three lab files), not a fixed default.
        await until("the patient's own categories offered", async () =>
          (await checks.getByLabel("History").isChecked()) &&
          (await checks.getByLabel("General").isChecked()) &&
          (await checks.getByLabel("Laboratory").isChecked()));
        assert.equal(await checks.getByLabel("Vitals").isChecked(), false);
        await checks.getByLabel("General").uncheck();
        await checks.getByLabel("Laboratory").uncheck();
        await pat.page.getByTestId("grant").click();
        assert.match(await done(pat.page, "#sharing"), /Access granted/);
        assert.match(await pat.page.locator(`tr[data-grantee="${doctor}"]`).textContent(), /Dr Grace Hopper \(St Mary's Hospital[^)]*\)/);
        await shot(pat.page, name, "sharing");
        await assertAccessible(pat.page, "the sharing page");

        await doc.page.getByRole("button", { name: "Refresh" }).first().click();
        await openPatient(doc.page, patient);
        const docRows = doc.page.locator("[data-testid=doctor-records] tbody tr");
        await until("the doctor's view of the records", async () => (await docRows.count()) >= 1);
        assert.equal(await docRows.count(), 1, "only the History record is visible");
        assert.equal(await docRows.first().getAttribute("data-record"), shared.entryRow);
        // The doctor knows the patient by the name in the entry the patient shared, and the
        // record by its title.
        await until("the patient named in the doctor's list", async () =>
          /Ada Lovelace/.test(await doc.page.locator(`tr[data-patient="${patient}"]`).textContent()));
        assert.match(await doc.page.locator("#precords-h").textContent(), /^Records of Ada Lovelace$/);
        assert.equal(await docRows.first().getByTestId("record-title").locator(".title").textContent(), "Asthma");
        // The patient wrote it: named as the patient, not as an unlisted account.
        assert.equal(await docRows.first().locator("td[data-label=Author]").textContent(), "Ada Lovelace");
        await docRows.first().getByTestId("open").click();
        await until("the entry opened by the doctor", async () => /Ada Lovelace/.test((await doc.page.locator("[data-testid=opened]").textContent().catch(() => "")) || ""));
        await shot(doc.page, name, "doctor");
        await assertAccessible(doc.page, "the doctor's page with a patient's records");

        await pat.page.locator(`tr[data-grantee="${doctor}"] [data-testid=revoke]`).click();
        assert.match(await done(pat.page, "#sharing"), /Revoked/);
        await doc.page.getByRole("button", { name: "Close" }).click();
        await docRows.first().getByTestId("open").click();
        const refusal = doc.page.locator("[data-testid=patient-records] [data-testid=note-failed]");
        await refusal.waitFor({ timeout: T });
        // In words: why, and no internal code.
        const refusalText = await refusal.textContent();
        assert.match(refusalText, /The patient's consent does not \(or no longer does\) allow you to open this record/);
        assert.doesNotMatch(refusalText, /no-read-consent|403/);

        // Both the release and the refusal are in the patient's log, verified against the chain.
        await goTo(pat.page, "Access log");
        const log = pat.page.getByTestId("access-log");
        const doctorRead = (granted) => log.locator(`tbody tr[data-action=read][data-granted=${granted}][data-actor="${doctor}"]`);
        await until("both entries anchored and verified", async () => {
          await pat.page.getByTestId("load-log").click();
          await pat.page.waitForTimeout(700);
          const ok = await doctorRead(true).filter({ hasText: "verified ✓" }).count();
          const refused = await doctorRead(false).filter({ hasText: "verified ✓" }).count();
          return ok >= 1 && refused >= 1;
        }, 90_000);
        // In words, with the doctor's name and no internal code.
        assert.match(await doctorRead(true).first().textContent(), /Dr Grace Hopper \(St Mary's Hospital[^)]*\) opened your History record “Asthma”, as your sharing allows/);
        const refusedText = await doctorRead(false).first().textContent();
        assert.match(refusedText, /Dr Grace Hopper \(St Mary's Hospital[^)]*\) tried to open your History record “Asthma”: refused, because you have not shared/);
        // No internal code and no full address (a short one only tells namesakes apart).
        assert.doesNotMatch(refusedText, /no-read-consent/);
        assert.ok(!refusedText.includes(doctor), refusedText);
        // The verification column stays on screen, on a desktop and on a phone.
        await assertOnScreen(pat.page, "[data-testid=access-log] [data-testid=log-chain]");
        await shot(pat.page, name, "access-log");
        await assertAccessible(pat.page, "the access log page");
      } finally {
        await browser.close();
      }
    });
  });

  test(`${name}: journey 3 — with write consent the doctor adds a record and the patient opens it`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const pat = await open(browser, patientKey);
        await signIn(pat.page);
        await goTo(pat.page, "Sharing");
        await pat.page.getByTestId("grantee").fill(doctor);
        const form = pat.page.getByTestId("grant-form");
        await form.getByLabel("General").uncheck();
        await form.getByLabel("History").uncheck();
        await form.getByLabel("Laboratory").uncheck();
        await form.getByLabel("Encounters").check();
        await pat.page.getByTestId("allow-write").check();
        await pat.page.getByTestId("grant").click();
        assert.match(await done(pat.page, "#sharing"), /Access granted/);

        const doc = await open(browser, doctorKey);
        await signIn(doc.page);
        await openPatient(doc.page, patient, "the patient listed with write");
        const note = `Discharge letter ${randomBytes(4).toString("hex")}: follow-up in two weeks.`;
        await doc.page.getByTestId("note-text").fill(note);
        await doc.page.getByTestId("add-record").click();
        assert.match(await done(doc.page, "[data-testid=add-for-patient]"), /Added/);

        await reloadRecords(pat.page);
        const rows = pat.page.locator("[data-testid=records] tbody tr").filter({ hasText: "Encounters" });
        await until("the doctor's record in the patient's list", async () => {
          await reloadRecords(pat.page);
          return (await rows.count()) === 1;
        });
        assert.match(await rows.first().textContent(), /Dr Grace Hopper \(St Mary's Hospital[^)]*\)/);
        shared.doctorRecord = await rows.first().getAttribute("data-record");
        // A note is known by its first line.
        assert.equal(await rows.first().getByTestId("record-title").locator(".title").textContent(), note);
        await rows.first().getByRole("button", { name: "Open" }).click();
        await pat.page.getByTestId("record-text").waitFor({ timeout: T });
        assert.equal((await pat.page.getByTestId("record-text").textContent()).trim(), note);
      } finally {
        await browser.close();
      }
    });
  });

  test(`${name}: journey 4 — the patient erases a record; nobody can open it and the escrow's blob and keys are gone`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const id = shared.doctorRecord;
        assert.ok(id, "journey 3 left a record to erase");
        // The escrow keeps C2 at blobs/c2/<the id's first byte>/<id>.<upload nonce> (docs/api.md).
        const shard = join(stack.dataDir, "blobs", "c2", id.slice(2, 4).toLowerCase());
        const blobs = () => (existsSync(shard) ? readdirSync(shard).filter((f) => f.startsWith(`${id.toLowerCase()}.`)) : []);
        assert.equal(blobs().length, 1, "the escrow holds the record's blob before erasure");

        const pat = await open(browser, patientKey);
        await signIn(pat.page);
        const row = pat.page.locator(`[data-testid=records] tbody tr[data-record="${id}"]`);
        await row.getByRole("button", { name: "Erase…" }).click();
        await shot(pat.page, name, "erase-confirmation");
        await assertAccessible(pat.page, "the records page asking to confirm an erasure");
        await pat.page.getByTestId("confirm-erase").click();
        assert.match(await done(pat.page, "#records"), /Erased/);
        // Gone from the list: the escrow lists no record whose keys it destroyed.
        await until("the record gone from the list", async () => (await row.count()) === 0);

        // Nobody can open it: the escrow answers 410 to the patient and to the doctor.
        const status = async (page) => page.evaluate(async (rid) => (await fetch(`/api/records/${rid}`)).status, id);
        assert.equal(await status(pat.page), 410);
        const doc = await open(browser, doctorKey);
        await signIn(doc.page);
        assert.equal(await status(doc.page), 410);
        // The blob and the keys are gone; the patient holds the escrow's signed shred receipt.
        // The blob goes after the shred's transaction, which the list may show first.
        await until("the blob deleted", async () => blobs().length === 0);
        const receipt = await pat.page.evaluate(async (rid) => (await fetch(`/api/records/${rid}/receipt`)).json(), id);
        assert.match(receipt.receiptHash, /^0x[0-9a-f]{64}$/);
        assert.deepEqual(receipt.receipt.destroyed, ["k2", "wrapped-deks", "blob"]);
      } finally {
        await browser.close();
      }
    });
  });

  test(`${name}: emergency access — the patient opts in, a doctor without a grant for the record opens it inside a window, the patient sees the flagged access`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const pat = await open(browser, patientKey);
        await signIn(pat.page);
        await goTo(pat.page, "Emergency access");
        await pat.page.getByTestId("emergency-toggle").click();
        // Journey 1's records were stored before the opt-in: the app prepares them now.
        assert.match(await done(pat.page, "#emergency"), /Emergency access is on: [1-9]\d* existing record/);
        await goTo(pat.page, "Add a record");
        const form = pat.page.getByTestId("entry-form");
        await form.getByLabel("Name").fill("Ada Lovelace");
        await form.getByLabel("Condition").fill("Penicillin allergy");
        await form.getByLabel("Category").selectOption({ label: "Medication" });
        await pat.page.getByTestId("save-entry").click();
        assert.match(await done(pat.page, "#entry"), /anchored on chain/);

        // The doctor's grant (Encounters) does not cover Medication: the record is not theirs to
        // read until they declare an emergency.
        const doc = await open(browser, doctorKey);
        await signIn(doc.page);
        await goTo(doc.page, "Emergency access");
        const em = doc.page.locator("section", { has: doc.page.locator("#emergency-h") });
        // The doctor picks the patient from their own patients (no address to type). Their grant
        // covers only Encounters now, where the patient wrote nothing, so no shared entry names
        // the patient to them: a short address stands in.
        const offered = em.getByTestId("emergency-pick").locator(`option[value="${patient}"]`);
        await until("the patient offered", async () => (await offered.count()) === 1);
        assert.match(await offered.textContent(), /^(Ada Lovelace|Patient 0x[0-9a-fA-F]{4}…[0-9a-fA-F]{4})$/);
        await em.getByTestId("emergency-pick").selectOption(patient);
        assert.equal(await em.getByLabel(/account address/).inputValue(), patient);
        await em.getByLabel("Reason").fill("Unconscious on arrival in A&E, checking allergies");
        await em.getByRole("button", { name: "Open emergency access" }).click();
        assert.match(await done(doc.page, "section:has(#emergency-h)"), /Emergency window open until/);
        assert.match(await doc.page.getByTestId("emergency-until").textContent(), /Window ends \d{4}-\d{2}-\d{2}/);
        const rows = doc.page.locator("[data-testid=doctor-records] tbody tr").filter({ hasText: "Medication" });
        await until("the record listed under the window", async () => {
          if ((await rows.count()) === 1) return true;
          await doc.page.locator("[data-testid=patient-records]").getByRole("button", { name: "Refresh" }).click();
          return false;
        });
        await rows.first().getByTestId("open").click();
        await until("the entry opened in an emergency", async () => /Penicillin allergy/.test((await doc.page.locator("[data-testid=opened]").textContent().catch(() => "")) || ""));
        assert.match(await doc.page.locator("[data-testid=opened]").textContent(), /emergency window/);
        await shot(doc.page, name, "doctor-emergency");
        // A record stored before the opt-in (journey 1's General file is outside the doctor's
        // grant) opens in the window too.
        await doc.page.getByRole("button", { name: "Close" }).click();
        const older = doc.page.locator(`[data-testid=doctor-records] tbody tr[data-record="${shared.fileRow}"]`);
        await older.getByTestId("open").click();
        await until("the older record opened in an emergency", async () => /emergency window/.test((await doc.page.locator("[data-testid=opened]").textContent().catch(() => "")) || ""));

        // The patient's log flags it.
        await goTo(pat.page, "Access log");
        const flagged = pat.page.getByTestId("access-log").locator(`tbody tr.flagged[data-action=read][data-actor="${doctor}"]`);
        await until("the flagged emergency read in the patient's log", async () => {
          await pat.page.getByTestId("load-log").click();
          await pat.page.waitForTimeout(500);
          return (await flagged.count()) >= 1;
        });
        assert.match(await flagged.first().textContent(), /Unusual: Dr Grace Hopper \(St Mary's Hospital[^)]*\) opened your \w+ record “[^”]+” with emergency access/);
      } finally {
        await browser.close();
      }
    });
  });

  test(`${name}: no wallet, a locked wallet, an account switch: the app says what to do and follows the wallet`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        // No wallet injected at all.
        const bare = await browser.newContext({ viewport: DESKTOP });
        const page0 = await bare.newPage();
        await page0.goto(stack.url + "/");
        await page0.waitForSelector("[data-testid=no-wallet]", { timeout: T });
        assert.match(await page0.getByTestId("no-wallet").textContent(), /Install MetaMask.*chain ID 1337/s);
        await shot(page0, name, "no-wallet");
        await bare.close();

        // A locked wallet: connect screen; connecting unlocks it and the app moves on.
        const context = await browser.newContext({ viewport: DESKTOP });
        const wallet = await installWallet(context, { rpcUrl: stack.rpcUrl, chainId: stack.chainId, keys: [patientKey, doctorKey], log: stack.walletLogFile });
        const page = await context.newPage();
        await page.goto(stack.url + "/");
        await signIn(page);
        await page.waitForSelector("[data-testid=patient-page]");
        await wallet.lock();
        await page.waitForSelector("[data-testid=connect]", { timeout: T });
        await shot(page, name, "locked-wallet");
        await page.getByRole("button", { name: "Connect wallet" }).click();
        await page.waitForSelector("[data-testid=sign-in]", { timeout: T });

        await signIn(page);
        await page.waitForSelector("[data-testid=patient-page]");
        assert.match(await page.getByTestId("who").textContent(), /patient/);

        // Another account chosen in the wallet: the app drops the patient's identity (keys
        // included) and signs the doctor in, without a reload.
        await wallet.useAccount(1);
        await page.waitForSelector("[data-testid=sign-in]", { timeout: T });
        await signIn(page);
        await page.waitForSelector("[data-testid=doctor-page]", { timeout: T });
        assert.match(await page.getByTestId("who").textContent(), /practitioner/);
      } finally {
        await browser.close();
      }
    });
  });

  test(`${name}: journey 5 — a rejected signature, a chain switched away, the escrow down mid-upload: the app recovers`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const { page, wallet } = await open(browser, patientKey);
        wallet.rejectNext("eth_signTypedData_v4");
        await page.getByTestId("sign-in-button").click();
        const failed = page.locator("[data-testid=sign-in] [data-testid=note-failed]");
        await failed.waitFor({ timeout: T });
        assert.match(await failed.textContent(), /rejected the request in your wallet/);
        await shot(page, name, "rejected-signature");
        await signIn(page);
        await page.waitForSelector("[data-testid=patient-page]");

        await wallet.switchChain(1);
        await page.waitForSelector("[data-testid=wrong-network]", { timeout: T });
        await shot(page, name, "wrong-network");
        await page.getByRole("button", { name: "Switch network" }).click();
        await page.waitForSelector("[data-testid=patient-page]", { timeout: T });

        // The escrow goes down while the file is being encrypted, so the upload meets a dead
        // server; the app keeps the ciphertext and resumes when asked once the escrow is back.
        await goTo(page, "Add a record");
        const file = randomBytes(24 * 1024 * 1024);
        await page.setInputFiles("[data-testid=file-input]", { name: "mri.bin", mimeType: "application/octet-stream", buffer: file });
        await page.locator("#add").getByLabel("Category").selectOption({ label: "Imaging" });
        await page.getByTestId("upload").click();
        await page.locator("#add progress").waitFor({ timeout: T });
        await stack.stopEscrow();
        const upFailed = page.locator("#add [data-testid=note-failed]");
        await upFailed.waitFor({ timeout: T });
        assert.match(await upFailed.textContent(), /cannot be reached|Retry/);
        await shot(page, name, "upload-interrupted");
        await stack.startEscrow();
        await page.locator("#add").getByTestId("retry").click();
        assert.match(await done(page, "#add"), /anchored on chain/);
        await goTo(page, "Records");
        const rows = page.locator("[data-testid=records] tbody tr").filter({ hasText: "Imaging" });
        await until("the resumed upload listed", async () => (await rows.count()) === 1);
        await rows.first().getByRole("button", { name: "Open" }).click();
        await page.getByTestId("opened").waitFor({ timeout: T });
        const got = await downloadDigest(page);
        assert.equal(got.length, file.length);
        assert.equal(got.sha256, sha256(file), "the resumed upload opens to the original file");
      } finally {
        await browser.close();
      }
    });
  });
}

/** The core's RecordAdded logs of these record ids, from the deployment block on. */
async function recordAddedLogs(stack, recordIds) {
  const topic = keccakOfText("RecordAdded(bytes32,address,address,bytes32,uint8,bytes32)");
  const filter = { address: stack.contract, fromBlock: "0x0", toBlock: "latest", topics: [topic, recordIds] };
  return rpc(stack.rpcUrl, "eth_getLogs", [filter]);
}
