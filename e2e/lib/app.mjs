// Shared by the app's browser journeys: opening the app with the test wallet, signing in (accepting
// the licence agreement when asked), waiting for an action's outcome, screenshots at desktop and
// phone width, polling, reading what an opened record's download link holds, the console's admin
// verification, and accessibility checks with axe-core.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { getAddress, Wallet } from "ethers";
import { installWallet } from "./wallet.mjs";
import { ROOT, PATIENCE_MS, tail } from "./stack.mjs";
import { consoleSignIn } from "./console.mjs";
import { makeBundle } from "./fhir-bundle.mjs";

export const APP = join(ROOT, "app", "dist");
export const SHOTS = join(ROOT, "e2e", "screenshots");
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };
/** How long one wait for the page may take: see PATIENCE_MS. */
export const T = PATIENCE_MS;

export const address = (key) => getAddress(new Wallet(key).address);

// The test wallet of each page opened with openApp, for what done() says when no outcome comes.
const walletOf = new WeakMap();

/**
 * A browser context with the test wallet on account `key` (logging to the stack's wallet.log), and
 * a page on the app at `path`.
 */
export async function openApp(stack, browser, key, { viewport = DESKTOP, path = "/" } = {}) {
  const context = await browser.newContext({ viewport });
  const wallet = await installWallet(context, { rpcUrl: stack.rpcUrl, chainId: stack.chainId, keys: [key], log: stack.walletLogFile });
  const page = await context.newPage();
  walletOf.set(page, wallet);
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  await page.goto(stack.url + path);
  return { context, wallet, page };
}

/**
 * On a patient's page: imports a made-up FHIR history of `resources` resources (makeBundle's
 * `seed`) from *Add a record*, checks the file, imports it and asserts every one was stored.
 */
export async function importHistory(page, { resources, seed }) {
  await goTo(page, "Add a record");
  const bundle = makeBundle({ resources, seed });
  await page.setInputFiles("[data-testid=fhir-input]", { name: "history.json", mimeType: "application/fhir+json", buffer: Buffer.from(JSON.stringify(bundle)) });
  await page.getByTestId("fhir-check").click();
  await page.locator("#fhir-import [data-testid=note-done]").waitFor({ timeout: T });
  await page.getByTestId("fhir-import").click();
  assert.match(await done(page, "[data-testid=fhir-upload]"), new RegExp(`Imported ${resources} records`));
}

/** The screens the app shows a signed-in account that has accepted the licence agreement. */
export const AFTER_SIGN_IN =
  "[data-testid=choose-role], [data-testid=patient-page], [data-testid=doctor-page], [data-testid=awaiting], [data-testid=insurer-page]";

/**
 * Presses Sign in and waits for the screen after it. When the app asks for the licence agreement
 * first (a new account, or a new version), accepts it (acceptAgreement) and waits for the screen
 * after that.
 */
export async function signIn(page) {
  await page.getByTestId("sign-in-button").click();
  await page.waitForSelector(`[data-testid=agreement], ${AFTER_SIGN_IN}`, { timeout: T });
  if (await page.getByTestId("agreement").isVisible()) await acceptAgreement(page);
}

/** A failure the agreement screen shows (its note, or the text not matching its hash). */
const AGREEMENT_FAILED = "[data-testid=agreement] [data-testid=note-failed], [data-testid=agreement-mismatch]";

/**
 * On the agreement screen: waits for the text and its button, presses "I accept" (the test wallet
 * signs) and waits for the screen after it. Fails with what the screen says when it shows a
 * failure instead.
 */
export async function acceptAgreement(page) {
  const failed = page.locator(AGREEMENT_FAILED).first();
  const said = async () => `the agreement screen says: ${await failed.textContent()}`;
  await page.waitForSelector(`[data-testid=accept-agreement], ${AGREEMENT_FAILED}`, { timeout: T });
  if (await failed.isVisible()) throw new Error(await said());
  await page.getByTestId("accept-agreement").click();
  await page.waitForSelector(`${AFTER_SIGN_IN}, ${AGREEMENT_FAILED}`, { timeout: T });
  if (await failed.isVisible()) throw new Error(await said());
}

/**
 * Follows the app's page navigation to the page labelled `label` (a link, as a person would), and
 * waits until the app shows it as the current page.
 */
export async function goTo(page, label) {
  await page.getByTestId("pages").getByRole("link", { name: label, exact: true }).click();
  await page.getByTestId("pages").locator("a[aria-current=page]", { hasText: label }).waitFor({ timeout: T });
}

/**
 * Waits for an action's outcome note inside `scope`, success or failure, and fails with the
 * failure's text. It waits for as long as the app is at work on it: its wallet answering the page's
 * requests (the app looks for its transaction's receipt a few times a second until the chain has
 * mined it, mined 50 blocks without it, or stopped: app/src/web/chain.rs), or the progress it shows
 * moving. Only PATIENCE_MS in which nothing moved ends the wait, with a failure that says what the
 * page showed and what its wallet was doing (unanswered requests, the account's last transaction;
 * the wallet's log has the rest). So a slow machine makes the wait longer, never a failure.
 */
export async function done(page, scope = "body") {
  const note = page.locator(`${scope} [data-testid=note-done], ${scope} [data-testid=note-failed]`).last();
  const wallet = walletOf.get(page);
  let mark = null;
  let movedAt = Date.now();
  while (!(await note.isVisible())) {
    const now = `${wallet ? wallet.activity().answered : "-"} ${await shownProgress(page, scope)}`;
    if (now !== mark) {
      mark = now;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > PATIENCE_MS) {
      throw new Error(`no outcome in ${scope}: nothing moved for ${PATIENCE_MS / 1000} s; ${await whatTheAppIsDoing(page, scope)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const text = await note.textContent();
  assert.equal(await note.getAttribute("data-testid"), "note-done", `expected success, got: ${text}`);
  return text;
}

/** The progress bars shown in `scope`: their labels and values ("" when none). */
async function shownProgress(page, scope) {
  return page
    .locator(`${scope} .progress`)
    .evaluateAll((els) => els.map((e) => `${e.textContent.trim()} (${e.querySelector("progress")?.value ?? "?"} %)`).join("; "));
}

/** What the page shows in `scope` and what its test wallet is doing, in words, for a failure. */
async function whatTheAppIsDoing(page, scope) {
  const shown = await shownProgress(page, scope).catch((e) => `(could not read the page: ${e.message})`);
  const wallet = walletOf.get(page);
  if (!wallet) return `the page shows ${shown ? `"${shown}"` : "no progress"}`;
  const { answered, inFlight, lastSent } = wallet.activity();
  const waiting = inFlight.length ? inFlight.map((r) => `${r.method} for ${Math.round(r.ms / 1000)} s`).join(", ") : "none";
  const lines = lastSent && wallet.logFile ? tail(wallet.logFile, 400).split("\n").filter((l) => l.includes(lastSent.hash)) : [];
  return [
    `the page shows ${shown ? `"${shown}"` : "no progress"}`,
    `its wallet answered ${answered} request(s); unanswered: ${waiting}`,
    lastSent ? `the account's last transaction ${lastSent.hash} (nonce ${lastSent.nonce})${lines.length ? `: ${lines.map((l) => l.replace(/^\S+ /, "")).join(" | ")}` : ""}` : "no transaction sent from this page's wallet",
    wallet.logFile ? `(wallet log: ${wallet.logFile})` : "",
  ]
    .filter(Boolean)
    .join("; ");
}

/** Full-page screenshots at desktop and phone width into e2e/screenshots/<browser>/. */
export async function shot(page, browserName, name) {
  const dir = join(SHOTS, browserName);
  mkdirSync(dir, { recursive: true });
  for (const [label, size] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(dir, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * Runs axe-core over the page (WCAG 2.0/2.1 A and AA rules) and fails on any serious or critical
 * violation, naming the rule and the first elements. The script is evaluated by the automation
 * protocol, outside the page's content-security policy, so the page needs no exception for it.
 */
export async function assertAccessible(page, what) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }),
  );
  assert.ok(result.passes.length > 0, `${what}: axe-core checked nothing`);
  if (process.env.MEDLEDGER_AXE_REPORT) {
    console.log(`axe ${what}: ${result.passes.length} rules passed; violations: ${result.violations.map((v) => `${v.id}/${v.impact}`).join(", ") || "none"}`);
  }
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const said = bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  assert.equal(bad.length, 0, `${what}: ${said.join("; ")}`);
}

/**
 * Asserts that every element matching `selector` lies inside the viewport's width, at desktop
 * and at phone width (nothing a person needs sits off-screen), then restores the desktop size.
 */
export async function assertOnScreen(page, selector) {
  for (const size of [DESKTOP, PHONE]) {
    await page.setViewportSize(size);
    const boxes = await page.locator(selector).evaluateAll((els) => els.map((e) => e.getBoundingClientRect().right));
    if (boxes.length === 0) throw new Error(`nothing matches ${selector}`);
    for (const right of boxes) {
      if (right > size.width + 1) throw new Error(`${selector} ends at x=${right}, past the ${size.width}px viewport`);
    }
  }
  await page.setViewportSize(DESKTOP);
}

/** Polls `fn` until it returns something truthy. */
export async function until(what, fn, timeoutMs = T) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * SHA-256 and length of what the opened record's download link holds (the decrypted blob the user
 * saves). Read in the page through the link's object URL: Firefox under WebDriver BiDi reports no
 * download events, and this checks the same bytes in both browsers.
 */
export async function downloadDigest(page) {
  return page.getByTestId("download").evaluate(async (a) => {
    const buf = await (await fetch(a.href)).arrayBuffer();
    const d = await crypto.subtle.digest("SHA-256", buf);
    return { length: buf.byteLength, sha256: Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join(""), name: a.getAttribute("download") };
  });
}

/** A practitioner or insurer applies from the app's onboarding (role: "practitioner" | "insurer"). */
export async function apply(page, role, { name, licence, organisation }) {
  await signIn(page);
  await page.getByLabel(role === "insurer" ? /an insurer/ : /a doctor or other practitioner/).check();
  await page.getByLabel("Full name").fill(name);
  await page.getByLabel("Licence number").fill(licence);
  await page.getByLabel("Organisation").fill(organisation);
  await page.getByTestId("register").click();
  await page.waitForSelector("[data-testid=pending]", { timeout: T });
}

/** The admin signs in on /console and verifies `account`, all through the wallet. */
/** On the doctor's page: waits (refreshing) until `patient` is listed, then opens their records. */
export async function openPatient(page, patient, what = "the patient in the doctor's list") {
  const select = page.locator(`tr[data-patient="${patient}"] [data-testid=select-patient]`);
  await until(what, async () => {
    if ((await select.count()) === 1) return true;
    await page.getByRole("button", { name: "Refresh" }).first().click();
    return false;
  });
  await select.click();
}

export async function adminVerify(stack, browser, adminKey, account) {
  const admin = await openApp(stack, browser, adminKey, { path: "/console" });
  await consoleSignIn(admin.page);
  const signedIn = admin.page.locator("#status").filter({ hasText: /^signed in/ });
  const verify = admin.page.locator(`button[data-action=verify][data-account="${account}"]`);
  await until(`${account}'s application on the console`, async () => {
    if ((await verify.count()) === 1) return true;
    // The follower indexes an application within a block or two: reload, let the page sign back
    // in from the session cookie, and look again.
    await admin.page.reload();
    await signedIn.waitFor({ timeout: T });
    return false;
  });
  const row = await admin.page.locator(`tr[data-account="${account}"]`).textContent();
  await assertAccessible(admin.page, "the console");
  await verify.click();
  await admin.page.locator("#status").filter({ hasText: /verify done/ }).waitFor({ timeout: T });
  await admin.context.close();
  return row;
}
