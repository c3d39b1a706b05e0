// The licence agreement (issue 16, docs/licensing.md), in every selected browser, against the real
// stack: a new account signs in and is shown the agreement before anything else — the text of
// docs/eula/v1.md, its version and the hash it is published by (keccak256 of the file, computed
// here) — and the escrow refuses its other requests with `agreement-required` until it accepts.
// It accepts (its wallet signs the hash), reaches the next screen, registers as a patient, and is
// not asked again at its next sign-in. The operator then publishes version 2 (`agreement_dir` in
// the escrow's config, the escrow restarted) while the patient is signed in: the patient's next
// request is refused and the app shows version 2 at once; the patient declines and signs out, signs
// in again, is shown version 2 again, accepts it and goes on. Each browser runs on a stack of its
// own, since a published version is the whole deployment's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { keccak256 } from "ethers";
import { BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { ROOT, startStack, withStackLogs } from "./lib/stack.mjs";
import { AFTER_SIGN_IN, APP, T, acceptAgreement, address, assertAccessible, openApp, shot } from "./lib/app.mjs";

const V1_FILE = join(ROOT, "docs", "eula", "v1.md");
const V1 = readFileSync(V1_FILE, "utf8");
// Version 2: the same agreement with its title and one section changed, and one added.
const V2 = V1.replace("version 1", "version 2").replace(
  "## 9. Acceptance",
  "## 9. Data retention\nThe access log is kept for ten years after the last entry about you.\n\n## 10. Acceptance",
);
const hashOf = (text) => keccak256(Buffer.from(text, "utf8"));

/** What the page's own request to `path` gets from the escrow: its status and JSON body. */
async function fromThePage(page, path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p, { credentials: "same-origin" });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, path);
}

/** Presses Sign in and waits for the agreement screen or the next screen; says which. */
async function pressSignIn(page) {
  await page.getByTestId("sign-in-button").click();
  await page.waitForSelector(`[data-testid=agreement], ${AFTER_SIGN_IN}`, { timeout: T });
  return (await page.getByTestId("agreement").isVisible()) ? "agreement" : "next";
}

/** Signs out with the header's button and waits for the sign-in screen. */
async function signOut(page) {
  await page.locator("header").getByRole("button", { name: "Sign out" }).click();
  await page.getByTestId("sign-in-button").waitFor({ timeout: T });
}

/** Waits for the agreement screen's text and checks its version, hash and a heading. */
async function shows(page, { version, text, heading }) {
  const title = page.getByTestId("agreement-title");
  await title.waitFor({ timeout: T });
  assert.equal(await title.getAttribute("data-version"), String(version));
  assert.equal(await title.textContent(), `Licence agreement, version ${version}`);
  assert.equal((await page.getByTestId("agreement-hash").textContent()).trim(), hashOf(text));
  const body = page.getByTestId("agreement-text");
  await body.getByRole("heading", { name: heading, exact: true }).waitFor({ timeout: T });
  // The first heading of the file is the text's own title.
  assert.equal(await body.locator("h3").first().textContent(), text.split("\n")[0].replace(/^#\s*/, ""));
}

for (const name of selectedBrowsers()) {
  test(`${name}: a new account accepts the licence agreement before anything else, and each new version again`, async () => {
    if (!existsSync(join(APP, "medledger_app_bg.wasm"))) throw new Error("app/dist is not built: run scripts/build-app.sh");
    const stack = await startStack({ appDir: APP, anchorIntervalSecs: 0 });
    const browser = await BROWSERS[name].launch();
    try {
      await withStackLogs(stack, async () => {
        const key = stack.keys[2];
        const me = address(key);
        const { context, page, wallet } = await openApp(stack, browser, key);

        // Version 1, before anything else.
        assert.equal(await pressSignIn(page), "agreement");
        await shows(page, { version: 1, text: V1, heading: "1. What medledger is" });
        assert.match(await page.getByTestId("agreement").textContent(), /Before you use medledger/);
        assert.equal(await page.locator(AFTER_SIGN_IN).count(), 0);
        // Until it accepts, the escrow refuses the account everything else.
        const refused = await fromThePage(page, `/api/records?patient=${me}`);
        assert.equal(refused.status, 403, JSON.stringify(refused));
        assert.equal(refused.body?.error, "agreement-required");
        const session = await fromThePage(page, "/api/auth/session");
        assert.deepEqual(session.body?.agreement, { current: 1, accepted: null });
        await assertAccessible(page, "the licence agreement");
        await shot(page, name, "agreement");

        const signed = () => wallet.requests.filter((r) => r.method === "eth_signTypedData_v4").length;
        const before = signed();
        await acceptAgreement(page);
        assert.equal(signed(), before + 1, "the wallet signed the acceptance");
        await page.getByTestId("choose-role").waitFor({ timeout: T });
        assert.deepEqual((await fromThePage(page, "/api/auth/session")).body?.agreement, { current: 1, accepted: 1 });
        const agreed = await fromThePage(page, "/api/agreement");
        assert.equal(agreed.status, 200);
        assert.equal(agreed.body.textHash, hashOf(V1));
        assert.equal(agreed.body.accepted, 1);
        await page.getByTestId("register").click();
        await page.getByTestId("patient-page").waitFor({ timeout: T });

        // The next sign-in goes straight on.
        await signOut(page);
        assert.equal(await pressSignIn(page), "next");
        await page.getByTestId("patient-page").waitFor({ timeout: T });
        assert.equal(await page.getByTestId("agreement").count(), 0);

        // The operator publishes version 2 while the patient is signed in.
        const dir = join(stack.dir, "agreement");
        mkdirSync(dir, { recursive: true });
        copyFileSync(V1_FILE, join(dir, "v1.md"));
        writeFileSync(join(dir, "v2.md"), V2);
        appendFileSync(join(stack.dir, "escrow.toml"), `agreement_dir = ${JSON.stringify(dir)}\n`);
        await stack.restartEscrow();

        // The patient's next request is refused for want of it: the app shows version 2 at once.
        // (Its link followed; the page it leads to is replaced by the agreement at once.)
        await page.getByTestId("pages").getByRole("link", { name: "Access log", exact: true }).click();
        await shows(page, { version: 2, text: V2, heading: "9. Data retention" });
        assert.match(await page.getByTestId("agreement").textContent(), /changed since you accepted version 1/);
        assert.equal((await fromThePage(page, `/api/records?patient=${me}`)).body?.error, "agreement-required");
        await shot(page, name, "agreement-v2");
        // The patient can decline and sign out.
        await page.getByTestId("decline-agreement").click();
        await page.getByTestId("sign-in-button").waitFor({ timeout: T });

        // Signing in again, version 2 is asked for; accepted, the patient goes on.
        assert.equal(await pressSignIn(page), "agreement");
        await shows(page, { version: 2, text: V2, heading: "10. Acceptance" });
        await acceptAgreement(page);
        await page.getByTestId("patient-page").waitFor({ timeout: T });
        assert.deepEqual((await fromThePage(page, "/api/auth/session")).body?.agreement, { current: 2, accepted: 2 });
        await context.close();
      });
    } finally {
      await browser.close();
      await stack.stop();
    }
  });
}
