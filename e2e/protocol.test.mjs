// The protocol crate in real browsers: every committed test vector (envelope through both the
// WASM aes-gcm path and the WebCrypto path, HPKE wrapping, key derivation, SIWE, escrow requests,
// tier 2, recovery shares) checked inside headless Chromium and Firefox ESR by the WASM harness
// (e2e/wasm-harness), built beforehand by scripts/build-wasm.sh into target-wasm/harness.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { serve, BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { PATIENCE_MS } from "./lib/patience.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const PKG = join(ROOT, "target-wasm", "harness");
const VECTORS = join(ROOT, "protocol", "tests", "vectors");

let server;
before(async () => {
  assert.ok(existsSync(join(PKG, "medledger_wasm_harness_bg.wasm")), `${PKG} is empty: run scripts/build-wasm.sh medledger-wasm-harness target-wasm/harness`);
  server = await serve({ "/pkg/": PKG, "/": join(ROOT, "e2e", "wasm-harness", "www") });
});
after(async () => server && server.close());

const vectorFiles = ["envelope.json", "wrap.json", "identity.json", "tier2.json", "recovery.json"].map((f) => readFileSync(join(VECTORS, f), "utf8"));

for (const name of selectedBrowsers()) {
  test(`protocol vectors in ${name}`, async () => {
    const browser = await BROWSERS[name].launch();
    try {
      const page = await browser.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction(() => window.harness !== undefined, null, { timeout: PATIENCE_MS });
      const report = JSON.parse(await page.evaluate((files) => window.harness.check_vectors(...files), vectorFiles));
      assert.deepEqual(report.failures, [], `${name}: failed checks`);
      // 5 envelope cases x 13 checks (WebCrypto opening in two framings), 3 with 51 chunks in
      // flight, 4 chunk views, 2 wrap cases x 5, 10 identity (a moved identity's key among them),
      // 4 tier 2, 7 recovery shares (one re-sealed for the recovering wallet among them).
      assert.equal(report.passed, 5 * 13 + 3 + 4 + 2 * 5 + 10 + 4 + 7, `${name}: every check ran`);
      assert.deepEqual(errors, [], `${name}: page errors`);
    } finally {
      await browser.close();
    }
  });
}
