// Sponsored transactions (issue 18, docs/api.md "Sponsored transactions"), in every selected
// browser, against the real stack: a patient whose wallet holds no ether at all registers, uploads
// a file and grants a doctor access. Each of the three transactions is signed as an ERC-2771
// forward request (no fee asked of the wallet) and sent by the escrow's relayer; the app says after
// each which transaction the relayer paid for, and the patient's balance is still zero at the end.
// Each browser has its own patient (a new random account) and doctor on one shared stack.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Wallet } from "ethers";
import { BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { devKeys } from "./lib/wallet.mjs";
import { rpc, startStack, withStackLogs } from "./lib/stack.mjs";
import { APP, T, address, adminVerify, apply, done, goTo, openApp, shot, signIn } from "./lib/app.mjs";

const KEYS = devKeys(10);

let stack;
before(async () => {
  if (!existsSync(join(APP, "medledger_app_bg.wasm"))) {
    throw new Error("app/dist is not built: run scripts/build-app.sh (the test command does)");
  }
  stack = await startStack({ appDir: APP, anchorIntervalSecs: 0 });
});
after(async () => {
  if (stack) await stack.stop();
});

const balance = async (account) => BigInt(await rpc(stack.rpcUrl, "eth_getBalance", [account, "latest"]));

/** The notice of who paid, once it names `fn`. */
async function paidFor(page, fn) {
  const notice = page.getByTestId("paid-by").filter({ hasText: `(${fn})` });
  await notice.waitFor({ timeout: T });
  const text = await notice.textContent();
  assert.match(text, /medledger's relayer \(0x[0-9a-fA-F]{4}…[0-9a-fA-F]{4}\) paid the network fee/);
  assert.match(text, /you paid nothing/);
  return text;
}

for (const [b, name] of selectedBrowsers().entries()) {
  test(`${name}: a patient with no ether registers, uploads and grants through the relayer`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        const patientKey = Wallet.createRandom().privateKey;
        const patient = address(patientKey);
        const doctorKey = KEYS[2 + b];
        const doctor = address(doctorKey);
        assert.equal(await balance(patient), 0n, "a new account holds no ether");

        // The doctor applies and an admin verifies them (the grant shares the record's key with
        // them, which the escrow takes only for a reader the contract lets read).
        const doc = await openApp(stack, browser, doctorKey);
        await apply(doc.page, "practitioner", { name: "Dr Ruth Okafor", licence: `GMC-77${b}`, organisation: "Riverside Clinic" });
        await adminVerify(stack, browser, KEYS[0], doctor);

        const { page } = await openApp(stack, browser, patientKey);
        await signIn(page);
        await page.getByTestId("register").click();
        await page.waitForSelector("[data-testid=patient-page]", { timeout: T });
        assert.match(await paidFor(page, "registerPatient"), /1 of the \d+ transactions/);

        await goTo(page, "Add a record");
        const file = randomBytes(64 * 1024);
        await page.setInputFiles("[data-testid=file-input]", { name: "letter.bin", mimeType: "application/octet-stream", buffer: file });
        await page.getByTestId("upload").click();
        assert.match(await done(page, "#add"), /anchored on chain/);
        await paidFor(page, "addRecord");

        await goTo(page, "Sharing");
        await page.getByTestId("grantee").fill(doctor);
        await page.getByTestId("grant").click();
        assert.match(await done(page, "#sharing"), /Access granted/);
        assert.match(await paidFor(page, "grant"), /3 of the \d+ transactions/);
        await shot(page, name, "sponsored-grant");

        assert.equal(await balance(patient), 0n, "the relayer paid every fee");
      } finally {
        await browser.close();
      }
    });
  });
}
