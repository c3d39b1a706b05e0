// FHIR R4 in and out (issue 17), in every selected browser, against the real stack: a patient
// imports a ~500-resource Bundle (checked in WASM, each resource its own record in its category,
// one bulk-import root), reads the clinical summary, and grants a doctor two categories (History,
// Medication); the doctor's summary shows exactly those parts and says the others are hidden by
// consent; the patient exports everything as one FHIR Bundle, which the independent validator
// (PyPI fhir.resources 6.4.0, R4 models: scripts/fhir_validate.py) accepts; the doctor, granted
// write, imports a file for the patient: only the resources of the categories they may write.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { devKeys } from "./lib/wallet.mjs";
import { ROOT, startStack, withStackLogs } from "./lib/stack.mjs";
import { APP, goTo, address, adminVerify, apply, assertAccessible, assertOnScreen, done, openApp, openPatient, signIn, until, DESKTOP, PHONE, SHOTS, T } from "./lib/app.mjs";
import { makeBundle } from "./lib/fhir-bundle.mjs";

const KEYS = devKeys(10);
const ADMIN = KEYS[0];
const browsers = selectedBrowsers();
const PYTHON = join(ROOT, ".venv-fhir", "bin", "python");
const bundle = makeBundle({ resources: 500, seed: 17 });
const resources = bundle.entry.map((e) => e.resource);
const count = (type, keep = () => true) => resources.filter((r) => r.resourceType === type && keep(r)).length;
const statusCode = (r) => r.clinicalStatus?.coding?.[0]?.code;
// What the summary must list, by the rules of protocol/src/fhir/summary.rs.
// The patient also saves one structured entry (History: a Patient, two Observations and an active
// Condition in its FHIR form).
const expected = {
  Problems: 1 + count("Condition", (r) => !["inactive", "resolved", "remission"].includes(statusCode(r))),
  Allergies: count("AllergyIntolerance", (r) => !["inactive", "resolved"].includes(statusCode(r))),
  Immunizations: count("Immunization", (r) => r.status === "completed"),
  Medications:
    count("MedicationStatement", (r) => ["active", "intended", "on-hold", undefined].includes(r.status)) +
    count("MedicationRequest", (r) => ["active", "intended", "on-hold", undefined].includes(r.status)),
};
let stack, work;
before(async () => {
  if (!existsSync(join(APP, "medledger_app_bg.wasm"))) throw new Error("app/dist is not built: run scripts/build-app.sh");
  execFileSync("bash", [join(ROOT, "scripts", "fhir-venv.sh")], { stdio: "inherit" });
  work = mkdtempSync(join(tmpdir(), "medledger-fhir-"));
  // Five times the escrow's default per-account rate limit (600 a minute, bursts of 120): the
  // journey still sends several times the burst (about 2,000 requests per browser: the import,
  // two summaries, two exports), so the app's pacing is still what keeps it clear of 429, which
  // the test counts; at the default it spent two thirds of its 3 to 6 minutes waiting its turn.
  stack = await startStack({ appDir: APP, anchorIntervalSecs: 0, escrowConfig: { rate_limit_per_minute: 3000, rate_limit_burst: 600 } });
});
after(async () => {
  if (stack) await stack.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Counts the escrow's 429 answers to this page: the app paces itself below the rate limit, so
 * a long run of requests is never refused. */
function countRefusals(page) {
  const refused = [];
  page.on("response", (r) => {
    if (r.status() === 429) refused.push(r.url());
  });
  return refused;
}

/** The summary's parts as shown: heading → { shown, count }. */
async function parts(page) {
  return page.locator("[data-testid=summary] .summary-part").evaluateAll((divs) =>
    Object.fromEntries(divs.map((d) => [d.dataset.part, { shown: d.dataset.shown === "true", count: Number(d.dataset.count) }])),
  );
}

/** Screenshots of one part of the page at desktop and phone width (a page listing 500 records is
 * taller than Firefox will capture whole). */
async function shotOf(page, locator, browserName, name) {
  mkdirSync(join(SHOTS, browserName), { recursive: true });
  for (const [label, size] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(size);
    await locator.screenshot({ path: join(SHOTS, browserName, `${name}-${label}.png`) });
  }
  await page.setViewportSize(DESKTOP);
}

async function buildSummary(page) {
  await page.getByTestId("build-summary").click();
  assert.match(await done(page, "[data-testid=clinical-summary]"), /Built from \d+ resources\./);
  return parts(page);
}

for (const [b, name] of browsers.entries()) {
  const [patientKey, doctorKey] = [KEYS[2 + 2 * b], KEYS[3 + 2 * b]];
  const [patient, doctor] = [patientKey, doctorKey].map(address);

  test(`${name}: a FHIR bundle imported, summarised for the patient and a doctor granted two categories, exported valid`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const doc = await openApp(stack, browser, doctorKey);
        await apply(doc.page, "practitioner", { name: "Dr Virginia Apgar", licence: `GMC-${7100000 + b}`, organisation: "Columbia Presbyterian" });
        await adminVerify(stack, browser, ADMIN, doctor);
        await doc.page.waitForSelector("[data-testid=doctor-page]", { timeout: T });

        const { page } = await openApp(stack, browser, patientKey);
        const tooMany = [page, doc.page].map(countRefusals);
        await signIn(page);
        await page.getByTestId("register").click();
        await page.waitForSelector("[data-testid=patient-page]", { timeout: T });
        await goTo(page, "Add a record");

        // A file that is not FHIR is refused with its reason, and nothing is offered to import.
        await page.setInputFiles("[data-testid=fhir-input]", { name: "notes.json", mimeType: "application/json", buffer: Buffer.from('{"hello": "world"}') });
        await page.getByTestId("fhir-check").click();
        const refused = page.locator("#fhir-import [data-testid=note-failed]");
        await refused.waitFor({ timeout: T });
        assert.match(await refused.textContent(), /not FHIR.*without a resourceType/);
        assert.equal(await page.getByTestId("fhir-import").count(), 0);

        await page.setInputFiles("[data-testid=fhir-input]", { name: "history.json", mimeType: "application/fhir+json", buffer: Buffer.from(JSON.stringify(bundle)) });
        await page.getByTestId("fhir-check").click();
        const found = page.locator("#fhir-import [data-testid=note-done]");
        await found.waitFor({ timeout: T });
        assert.match(await found.textContent(), new RegExp(`Found ${resources.length} resource\\(s\\) to import: .*${count("Observation")} Observation`));
        await assertAccessible(page, "a checked FHIR file");
        await page.getByTestId("fhir-import").click();
        assert.match(await done(page, "[data-testid=fhir-upload]"), new RegExp(`Imported ${resources.length} records: .*under one root, in one transaction`));

        // The same file again: everything is recognised as imported, nothing is offered.
        await page.getByTestId("fhir-check").click();
        const again = page.locator("#fhir-import [data-testid=note-failed]");
        await again.waitFor({ timeout: T });
        assert.match(await again.textContent(), /500 of them are already imported, 0 are new\. There is nothing new to import\./);
        assert.equal(await page.getByTestId("fhir-import").count(), 0);

        const form = page.getByTestId("entry-form");
        await form.getByLabel("Name").fill("Grace Hopper");
        await form.getByLabel("Blood group").selectOption("O-");
        await form.getByLabel("Condition").fill("Seasonal asthma");
        await form.getByLabel("Weight", { exact: true }).fill("61.5");
        await form.getByLabel("Category").selectOption({ label: "History" });
        await page.getByTestId("save-entry").click();
        assert.match(await done(page, "#entry"), /anchored on chain/);

        await goTo(page, "Records");
        await until("the imported records listed", async () => (await page.locator("[data-testid=records] tbody tr").count()) === resources.length + 1);
        const mine = await buildSummary(page);
        for (const [part, n] of Object.entries(expected)) {
          assert.deepEqual(mine[part], { shown: true, count: n }, `the patient's ${part}`);
          assert.ok(n > 0, `the bundle has ${part}`);
        }
        assert.ok(mine["Latest vitals"].count >= 4, "weight, height, blood pressure and heart rate");
        assert.equal(await page.locator("[data-testid=vital-chart][data-series='Body weight']").count(), 1);
        assert.equal(await page.locator("[data-testid=vital-chart][data-series='Blood pressure'] polyline").count(), 2);
        assert.match(await page.getByTestId("summary").textContent(), /SNOMED CT \d+/);
        await assertAccessible(page, "the clinical summary");
        await assertOnScreen(page, "[data-testid=vital-chart] svg");
        await shotOf(page, page.getByTestId("clinical-summary"), name, "fhir-summary");

        // History and Medication for the doctor.
        await goTo(page, "Sharing");
        await page.getByTestId("grantee").fill(doctor);
        const g = page.getByTestId("grant-form");
        for (const c of ["General", "Vitals", "History", "Laboratory", "Imaging", "Medication", "Encounters", "Claims"]) {
          await g.getByLabel(c, { exact: true }).setChecked(c === "History" || c === "Medication");
        }
        await page.getByTestId("allow-write").setChecked(true);
        await page.getByTestId("grant").click();
        assert.match(await done(page, "#sharing"), /Access granted/);

        await openPatient(doc.page, patient);
        const granted = 1 + count("Condition") + count("AllergyIntolerance") + count("Immunization") + count("Procedure") + count("MedicationStatement") + count("MedicationRequest") + count("Medication");
        const docRows = doc.page.locator("[data-testid=doctor-records] tbody tr");
        await until("the granted records in the doctor's view", async () => (await docRows.count()) === granted);
        const theirs = await buildSummary(doc.page);
        for (const part of ["Problems", "Allergies", "Immunizations", "Medications"]) {
          assert.deepEqual(theirs[part], mine[part], `the doctor's ${part} are the patient's`);
        }
        assert.deepEqual(theirs["Latest vitals"], { shown: false, count: 0 });
        assert.match(await doc.page.getByTestId("hidden-by-consent").textContent(), /not granted you the vitals category/);
        await shotOf(doc.page, doc.page.getByTestId("clinical-summary"), name, "fhir-summary-doctor");
        assert.equal(await doc.page.locator("[data-testid=vital-chart]").count(), 0);

        // The doctor's export: what they may open and their grant; no access log of the patient's.
        await doc.page.getByTestId("export-fhir").click();
        assert.match(await done(doc.page, "[data-testid=fhir-export]"), /Exported \d+ resources as one FHIR R4 Bundle/);
        const theirText = await doc.page.getByTestId("fhir-download").evaluate(async (a) => (await fetch(a.href)).text());
        const theirTypes = JSON.parse(theirText).entry.map((e) => e.resource.resourceType);
        assert.equal(theirTypes.filter((t) => t === "Consent").length, 1, "the doctor's grant");
        assert.equal(theirTypes.filter((t) => t === "AuditEvent").length, 0, "no access log");
        assert.equal(theirTypes.filter((t) => !["Consent"].includes(t)).length, granted + 3, "the granted records, the entry as Patient, two Observations and a Condition");
        const theirFile = join(work, `${name}-doctor-export.json`);
        writeFileSync(theirFile, theirText);
        assert.match(execFileSync(PYTHON, [join(ROOT, "scripts", "fhir_validate.py"), theirFile], { encoding: "utf8" }), /^ok: /m);

        // The export, checked by the independent R4 validator.
        await goTo(page, "Records");
        await page.getByTestId("export-fhir").click();
        assert.match(await done(page, "[data-testid=fhir-export]"), /Exported \d+ resources as one FHIR R4 Bundle/);
        const text = await page.getByTestId("fhir-download").evaluate(async (a) => (await fetch(a.href)).text());
        const exported = JSON.parse(text);
        const types = exported.entry.map((e) => e.resource.resourceType);
        const fromEntry = { Patient: 1, Observation: 2, Condition: 1 };
        for (const type of new Set(resources.map((r) => r.resourceType))) {
          assert.equal(types.filter((t) => t === type).length, count(type) + (fromEntry[type] ?? 0), `every ${type} exported`);
        }
        assert.equal(types.filter((t) => t === "Consent").length, 1, "the grant as a Consent");
        assert.ok(types.includes("AuditEvent"), "the access log as AuditEvents");
        const file = join(work, `${name}-export.json`);
        writeFileSync(file, text);
        const out = execFileSync(PYTHON, [join(ROOT, "scripts", "fhir_validate.py"), file], { encoding: "utf8" });
        assert.match(out, /^ok: /m, out);

        // The doctor, who may write History and Medication, imports another file for the patient:
        // those resources are added under one root the doctor anchors; the rest is named and left out.
        const more = makeBundle({ resources: 40, seed: 3 }).entry.map((e) => e.resource);
        const writable = more.filter((r) => ["Condition", "AllergyIntolerance", "Immunization", "Procedure", "MedicationStatement", "MedicationRequest", "Medication"].includes(r.resourceType)).length;
        await doc.page.getByTestId("doctor-fhir-input").setInputFiles({ name: "referral.json", mimeType: "application/fhir+json", buffer: Buffer.from(JSON.stringify(makeBundle({ resources: 40, seed: 3 }))) });
        await doc.page.getByTestId("doctor-fhir-check").click();
        const checkedNote = doc.page.locator("[data-testid=fhir-for-patient] [data-testid=note-done]").first();
        await checkedNote.waitFor({ timeout: T });
        const said = await checkedNote.textContent();
        assert.match(said, /^Found 40 resource\(s\) to import: /);
        assert.match(said, /Left out, as your grant does not let you add them: .*\d+ vitals/);
        await doc.page.getByTestId("doctor-fhir-import").click();
        assert.match(await done(doc.page, "[data-testid=doctor-fhir-outcome]"), new RegExp(`Imported ${writable} records for the patient, anchored under one root`));
        await until("the doctor's import in their view", async () => (await docRows.count()) === granted + writable);

        // A document's inline attachment opens as a file (the US Core fixture's notes).
        const usCore = readFileSync(join(ROOT, "protocol", "tests", "fixtures", "fhir", "us-core-bundle.json"));
        const documents = JSON.parse(usCore).entry.map((e) => e.resource).filter((r) => r.resourceType === "DocumentReference");
        await goTo(page, "Add a record");
        await page.setInputFiles("[data-testid=fhir-input]", { name: "us-core.json", mimeType: "application/fhir+json", buffer: usCore });
        await page.getByTestId("fhir-check").click();
        await page.locator("#fhir-import [data-testid=note-done]").waitFor({ timeout: T });
        await page.getByTestId("fhir-import").click();
        const imported = page.locator("[data-testid=fhir-upload] [data-testid=note-done]");
        await until("the US Core bundle imported", async () => /Imported 46 records/.test((await imported.textContent().catch(() => "")) ?? ""));
        await goTo(page, "Records");
        const docRow = page.locator("[data-testid=records] tbody tr", { hasText: "Document:" }).first();
        await until("a document listed", async () => (await docRow.count()) === 1);
        await docRow.getByRole("button", { name: "Open" }).click();
        const link = page.locator("[data-testid=attachments] a").first();
        await link.waitFor({ timeout: T });
        const offered = (await link.getAttribute("download")) ?? "";
        const attachment = documents.flatMap((d) => d.content.map((c) => c.attachment)).find((a) => a.title === offered);
        assert.ok(attachment, `an attachment of the file is offered: ${offered}`);
        const bytes = await link.evaluate(async (a) => Array.from(new Uint8Array(await (await fetch(a.href)).arrayBuffer())));
        assert.deepEqual(Buffer.from(bytes), Buffer.from(attachment.data, "base64"), "the attachment opens as it was");
        assert.deepEqual(tooMany, [[], []], "no request of the patient's or the doctor's was refused with 429");
      } finally {
        await browser.close();
      }
    });
  });
}
