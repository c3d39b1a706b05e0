// Bulk import (issue 14), in every selected browser, against the real stack: a patient imports
// three files as one bulk import — encrypted in the browser, uploaded naming their places under
// one Merkle root, anchored by one anchorRecordRoot (one signature, no RecordAdded) — sees all
// three committed and opens one intact (its h1 checked by canReadRooted); a verified doctor granted
// the category (with write) opens another through the same check, and is offered no Amend. An
// escrow lying about a rooted record (another h1, another record's ciphertext) is refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { id as keccakOfText } from "ethers";
import { BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { devKeys } from "./lib/wallet.mjs";
import { rpc, startStack, withStackLogs } from "./lib/stack.mjs";
import { APP, goTo, address, adminVerify, apply, done, downloadDigest, openApp, openPatient, signIn, until, T } from "./lib/app.mjs";

const KEYS = devKeys(10);
const ADMIN = KEYS[0];
const browsers = selectedBrowsers();
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
let stack;
before(async () => {
  if (!existsSync(join(APP, "medledger_app_bg.wasm"))) throw new Error("app/dist is not built: run scripts/build-app.sh");
  stack = await startStack({ appDir: APP, anchorIntervalSecs: 0 });
});
after(async () => {
  if (stack) await stack.stop();
});

/** The core's logs of `signature` whose first indexed topic is one of `firsts`. */
async function logsOf(signature, firsts) {
  const filter = { address: stack.contract, fromBlock: "0x0", toBlock: "latest", topics: [keccakOfText(signature), firsts] };
  return rpc(stack.rpcUrl, "eth_getLogs", [filter]);
}

for (const [b, name] of browsers.entries()) {
  const [patientKey, doctorKey] = [KEYS[2 + 2 * b], KEYS[3 + 2 * b]];
  const [patient, doctor] = [patientKey, doctorKey].map(address);

  test(`${name}: a bulk import of three files under one root, opened by the patient and by a granted doctor`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const doc = await openApp(stack, browser, doctorKey);
        await apply(doc.page, "practitioner", { name: "Dr Rosalind Franklin", licence: `GMC-${7000000 + b}`, organisation: "King's College Hospital" });
        await adminVerify(stack, browser, ADMIN, doctor);
        await doc.page.waitForSelector("[data-testid=doctor-page]", { timeout: T });

        const { page } = await openApp(stack, browser, patientKey);
        await signIn(page);
        await page.getByTestId("register").click();
        await page.waitForSelector("[data-testid=patient-page]", { timeout: T });
        await goTo(page, "Add a record");
        const files = ["old-lab-1.txt", "old-lab-2.txt", "old-lab-3.txt"].map((n) => ({ name: n, mimeType: "text/plain", buffer: randomBytes(3000) }));
        await page.setInputFiles("[data-testid=file-input]", files);
        await page.locator("#add").getByLabel("Category").selectOption({ label: "Laboratory" });
        await page.getByTestId("bulk-import").check();
        await page.getByTestId("upload").click();
        assert.match(await done(page, "#add"), /Imported 3 records: .*under one root, in one transaction/);

        await goTo(page, "Records");
        const rows = page.locator("[data-testid=records] tbody tr");
        await until("three records listed", async () => (await rows.count()) === 3);
        const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-record")));
        assert.equal((await logsOf("RecordAdded(bytes32,address,address,bytes32,uint8,bytes32)", ids)).length, 0, "no record anchored alone");
        const patientTopic = "0x" + patient.slice(2).toLowerCase().padStart(64, "0");
        const anchored = await rpc(stack.rpcUrl, "eth_getLogs", [{
          address: stack.contract, fromBlock: "0x0", toBlock: "latest",
          topics: [keccakOfText("RecordRootAnchored(bytes32,address,address,uint32,uint256)"), null, patientTopic],
        }]);
        assert.equal(anchored.length, 1, "one root anchored for the patient");

        const second = rows.filter({ hasText: "old-lab-2.txt" });
        await second.getByRole("button", { name: "Open" }).click();
        await until("the imported file opened", async () => (await page.getByTestId("download").count()) === 1);
        const digest = await downloadDigest(page);
        assert.equal(digest.length, files[1].buffer.length);
        assert.equal(digest.sha256, sha256(files[1].buffer), "the imported file opens intact");

        // An escrow that lies about a record under a root is caught in the browser, before anything
        // is decrypted: the first record released with another h1 in its headers, then with the
        // second record's ciphertext and headers in its place. canReadRooted proves neither leaf
        // under the patient's root, so each is refused with the reason.
        const first = rows.filter({ hasText: "old-lab-1.txt" });
        const [firstId, secondId] = [await first.getAttribute("data-record"), await second.getAttribute("data-record")];
        const lies = [
          ["another h1", async (route) => {
            const response = await route.fetch();
            await route.fulfill({ response, headers: { ...response.headers(), "x-medledger-h1": "0x" + "ab".repeat(32) } });
          }],
          ["another record's ciphertext", async (route) => {
            const response = await route.fetch({ url: route.request().url().replace(firstId, secondId) });
            await route.fulfill({ response });
          }],
        ];
        const note = (kind) => page.locator(`#records [data-testid=note-${kind}]`);
        for (const [lie, handler] of lies) {
          await page.route(`**/api/records/${firstId}`, handler);
          await first.getByRole("button", { name: "Open" }).click();
          await until(`the lie (${lie}) refused`, async () => (await note("failed").count()) === 1);
          assert.match(await note("failed").textContent(), /integrity check failed: the ciphertext's hash is not the one anchored on chain/, lie);
          await page.unroute(`**/api/records/${firstId}`);
          // The honest answer opens, and replaces the refusal's note.
          await second.getByRole("button", { name: "Open" }).click();
          await until("the honest answer opened", async () => (await note("done").count()) === 1 && (await note("failed").count()) === 0);
        }

        // The patient grants the doctor Laboratory; the app wraps the imported records' keys.
        await goTo(page, "Sharing");
        await page.getByTestId("grantee").fill(doctor);
        const g = page.getByTestId("grant-form");
        for (const c of ["General", "Vitals", "History", "Laboratory", "Imaging", "Medication", "Encounters", "Claims"]) {
          await g.getByLabel(c, { exact: true }).setChecked(c === "Laboratory");
        }
        await page.getByTestId("allow-write").setChecked(true);
        await page.getByTestId("grant").click();
        assert.match(await done(page, "#sharing"), /Access granted/);

        await openPatient(doc.page, patient);
        const docRows = doc.page.locator("[data-testid=doctor-records] tbody tr");
        await until("the imported records in the doctor's view", async () => (await docRows.count()) === 3);
        // The doctor may write Laboratory, yet an imported record offers no Amend: the chain
        // cannot supersede a record under a root.
        await doc.page.getByTestId("add-for-patient").waitFor({ timeout: T });
        assert.equal(await docRows.getByRole("button", { name: "Amend" }).count(), 0);
        const third = docRows.filter({ hasText: "old-lab-3.txt" });
        await third.getByTestId("open").click();
        await until("the imported file opened by the doctor", async () => (await doc.page.getByTestId("download").count()) === 1);
        const seen = await downloadDigest(doc.page);
        assert.equal(seen.sha256, sha256(files[2].buffer), "the doctor opens it intact");
      } finally {
        await browser.close();
      }
    });
  });
}
