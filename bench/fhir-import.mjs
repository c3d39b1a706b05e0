// FHIR import in a real browser (bench/README.md "FHIR import"): a patient in headless Chromium
// imports a generated FHIR R4 Bundle of N resources (e2e/lib/fhir-bundle.mjs, seeded) against the
// real stack (Ganache, the escrow), and, as the anchor in the same run, uploads the same bytes as
// one file through the Add files form. It prints the time to check the file (read and parse in
// WASM), to import it (encrypt each resource, upload, anchor), the transactions the import sent,
// and the import's time over the anchor's. Two escrows: the shipped per-account rate limit (600
// requests a minute, burst 120: an import paces itself to it), and one without a practical limit
// (what the browser and the escrow do on their own). Then the time to build the clinical summary,
// which opens and decrypts every imported record.
//
//   node bench/fhir-import.mjs [resources, default 5000] [both | shipped | unlimited, default both]
// Needs app/dist (scripts/build-app.sh) and the escrow's debug binary (cargo build -p
// medledger-escrow-api --bin escrow-api).
import { readFileSync } from "node:fs";
import { BROWSERS } from "../e2e/lib/browsers.mjs";
import { devKeys } from "../e2e/lib/wallet.mjs";
import { startStack } from "../e2e/lib/stack.mjs";
import { APP, goTo, address, done, openApp, signIn, T } from "../e2e/lib/app.mjs";
import { makeBundle } from "../e2e/lib/fhir-bundle.mjs";

const N = Number(process.argv[2] || 5000);
const bundle = Buffer.from(JSON.stringify(makeBundle({ resources: N, seed: 5 })));
const KEYS = devKeys(10);
const WHICH = process.argv[3] || "both";
const MODES = [
  ["shipped", "shipped rate limit (600/min, burst 120)", {}],
  ["unlimited", "no practical rate limit", { rate_limit_per_minute: 10_000_000, rate_limit_burst: 1_000_000 }],
].filter(([key]) => WHICH === "both" || WHICH === key);

/** Transactions the wallet log says `who` sent. */
function sentBy(stack, who) {
  return readFileSync(stack.walletLogFile, "utf8").split("\n").filter((l) => l.includes(`send from ${who}`)).length;
}

async function run(label, escrowConfig) {
  const stack = await startStack({ appDir: APP, anchorIntervalSecs: 0, escrowConfig });
  const browser = await BROWSERS.chromium.launch();
  try {
    const key = KEYS[2];
    const { page } = await openApp(stack, browser, key);
    // Requests the escrow refused for the account's rate (each costs a wait of a second or more).
    let refused = 0;
    page.on("response", (r) => {
      if (r.status() === 429) refused += 1;
    });
    await signIn(page);
    await page.getByTestId("register").click();
    await page.waitForSelector("[data-testid=patient-page]", { timeout: T });
    await goTo(page, "Add a record");

    let t = performance.now();
    await page.setInputFiles("[data-testid=file-input]", { name: "bundle.json", mimeType: "application/json", buffer: bundle });
    await page.getByTestId("upload").click();
    await done(page, "#add");
    const anchorMs = performance.now() - t;

    await page.setInputFiles("[data-testid=fhir-input]", { name: "bundle.json", mimeType: "application/fhir+json", buffer: bundle });
    t = performance.now();
    await page.getByTestId("fhir-check").click();
    await page.locator("#fhir-import [data-testid=note-done]").waitFor({ timeout: T });
    const checkMs = performance.now() - t;

    const before = sentBy(stack, address(key));
    t = performance.now();
    // When the progress first says "Uploaded": the end of encrypting (and wrapping) every record.
    let encryptedMs = null;
    const watch = setInterval(async () => {
      const label = await page.locator("[data-testid=fhir-upload] .progress").textContent().catch(() => "");
      if (encryptedMs === null && /Uploaded/.test(label ?? "")) encryptedMs = performance.now() - t;
    }, 100);
    await page.getByTestId("fhir-import").click();
    const note = await done(page, "[data-testid=fhir-upload]").finally(() => clearInterval(watch));
    const importMs = performance.now() - t;
    const transactions = sentBy(stack, address(key)) - before;

    // The clinical summary of what was imported: every record opened and decrypted.
    await goTo(page, "Records");
    t = performance.now();
    await page.getByTestId("build-summary").click();
    const built = await done(page, "[data-testid=clinical-summary]");
    const summaryMs = performance.now() - t;
    // What the patient's access log says of it: the escrow logs each run of refusals once.
    const limitedEntries = await page.evaluate(async () => {
      const log = await (await fetch("/api/access-log")).json();
      return log.entries.filter((e) => e.reason === "rate-limited").length;
    });
    return { label, anchorMs, checkMs, importMs, encryptedMs, transactions, note, summaryMs, built, refused, limitedEntries };
  } finally {
    await browser.close();
    await stack.stop();
  }
}

console.log(`FHIR import of ${N} resources (${(bundle.length / 1e6).toFixed(1)} MB), Chromium ${process.env.MEDLEDGER_BROWSERS ?? ""}`);
for (const [, label, config] of MODES) {
  const r = await run(label, config);
  console.log(`\n${r.label}`);
  console.log(`  anchor: the same bytes as one file     ${(r.anchorMs / 1000).toFixed(1)} s`);
  console.log(`  check (read + parse in WASM)           ${(r.checkMs / 1000).toFixed(1)} s`);
  console.log(`  import (encrypt, upload, anchor)       ${(r.importMs / 1000).toFixed(1)} s = ${(r.importMs / r.anchorMs).toFixed(1)} × the anchor, ${(N / (r.importMs / 1000)).toFixed(0)} resources/s`);
  console.log(`    of which encrypting and wrapping       ${((r.encryptedMs ?? NaN) / 1000).toFixed(1)} s; uploading and anchoring the rest`);
  console.log(`  transactions sent by the import        ${r.transactions}`);
  console.log(`  the app said: ${r.note}`);
  console.log(`  requests refused with 429 (all steps)  ${r.refused}; "rate-limited" entries in the patient's log: ${r.limitedEntries}`);
  console.log(`  clinical summary (open every record)   ${(r.summaryMs / 1000).toFixed(1)} s = ${(r.summaryMs / r.anchorMs).toFixed(1)} × the anchor, ${(N / (r.summaryMs / 1000)).toFixed(0)} records/s; ${r.built}`);
}
