// Licensing on the console (issue 16, docs/licensing.md), in every selected browser, against the
// real stack: the platform admin creates a hospital with one practitioner seat in the console's
// form; the hospital's own admin signs in to the console and sees that hospital only (the
// platform's sections hidden), verifies a doctor who applied in the app, and is told in words that
// a second doctor cannot be verified for lack of seats (the console asks the chain before the
// wallet, so nothing is sent). The hospital's admin offers a patient enrolment on the console; the
// patient accepts it in the app (Account, "Your hospitals") and shares a category with the doctor,
// who adds a note. The subscription then lapses by the chain's time: the doctor's next open is
// refused with the reason in words while the patient still opens the note. The platform records a
// renewal, then terminates the licence: the doctor is no longer a verified practitioner on chain,
// the console shows the licence terminated, and the doctor's pages say so in words.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Interface } from "ethers";
import { BROWSERS, selectedBrowsers } from "./lib/browsers.mjs";
import { devKeys } from "./lib/wallet.mjs";
import { rpc, startStack, withStackLogs } from "./lib/stack.mjs";
import { APP, T, address, apply, assertAccessible, done, goTo, openApp, openPatient, signIn, until } from "./lib/app.mjs";
import { consoleSignIn } from "./lib/console.mjs";

const KEYS = devKeys(10);
const ADMIN = KEYS[0];
const browsers = selectedBrowsers();
const CORE = new Interface(["function isVerifiedPractitioner(address) view returns (bool)"]);

let stack;
before(async () => {
  if (!existsSync(join(APP, "medledger_app_bg.wasm"))) throw new Error("app/dist is not built: run scripts/build-app.sh");
  stack = await startStack({ appDir: APP, anchorIntervalSecs: 0 });
});
after(async () => {
  if (stack) await stack.stop();
});

/** Whether the core says `account` is a verified practitioner now. */
async function verifiedOnChain(account) {
  const data = CORE.encodeFunctionData("isVerifiedPractitioner", [account]);
  const raw = await rpc(stack.rpcUrl, "eth_call", [{ to: stack.contract, data }, "latest"]);
  return CORE.decodeFunctionResult("isVerifiedPractitioner", raw)[0];
}

/** The console signed in as `key`, the page kept open. */
async function openConsole(browser, key) {
  const con = await openApp(stack, browser, key, { path: "/console" });
  await consoleSignIn(con.page);
  return con;
}

/** Waits for the console's status line to match `pattern`; fails with what it says otherwise. */
async function statusSays(page, pattern) {
  const line = page.locator("#status");
  try {
    await line.filter({ hasText: pattern }).waitFor({ timeout: T });
  } catch (e) {
    throw new Error(`the console's status never matched ${pattern}: it says ${JSON.stringify(await line.textContent())}`);
  }
  return line.textContent();
}

/** The organisation's row once the follower has its name (the page refreshes itself). */
async function rowNamed(page, name) {
  const row = page.locator("#orgs tr[data-organisation]", { hasText: name });
  await until(`${name} on the console`, async () => (await row.count()) === 1);
  return row;
}

/** Clicks a row's action whose prompt (or confirmation) is answered with `answer`. */
async function act(page, row, label, answer) {
  page.once("dialog", (d) => d.accept(typeof answer === "string" ? answer : undefined));
  await row.locator(`button[data-action="${label}"]`).click();
}

for (const [b, name] of browsers.entries()) {
  // Accounts of their own per browser (an account administers one organisation at most).
  const orgAdminKey = KEYS[4 + b];
  const [doctorKey, secondDoctorKey] = [KEYS[6 + 2 * b], KEYS[7 + 2 * b]];
  const patientKey = KEYS[2 + b];
  const [orgAdmin, doctor, secondDoctor, patient] = [orgAdminKey, doctorKey, secondDoctorKey, patientKey].map(address);
  const hospital = `St Mary's ${name}`;

  test(`${name}: a hospital with one practitioner seat, run from the console by the platform and by its own admin`, async () => {
    await withStackLogs(stack, async () => {
      const browser = await BROWSERS[name].launch();
      try {
        for (const [key, who] of [[doctorKey, "A"], [secondDoctorKey, "B"]]) {
          const { context, page } = await openApp(stack, browser, key);
          await apply(page, "practitioner", { name: `Dr ${who} ${name}`, licence: `GMC-${b}${who}`, organisation: hospital });
          await context.close();
        }

        const patientApp = await openApp(stack, browser, patientKey);
        await signIn(patientApp.page);
        await patientApp.page.getByTestId("register").click();
        await patientApp.page.waitForSelector("[data-testid=patient-page]", { timeout: T });

        // The platform admin creates the hospital in the form.
        const platform = await openConsole(browser, ADMIN);
        const p = platform.page;
        assert.equal(await p.locator("#org-scope").getAttribute("data-scope"), "platform");
        // A year after the chain's own time (the date input is whole days, UTC).
        const head = await rpc(stack.rpcUrl, "eth_getBlockByNumber", ["latest", false]);
        const inAYear = new Date((Number(head.timestamp) + 365 * 86_400) * 1000).toISOString().slice(0, 10);
        await p.locator("#org-name").fill(hospital);
        await p.locator("#org-admin").fill(orgAdmin);
        await p.locator("#org-seats-admins").fill("1");
        await p.locator("#org-seats-practitioners").fill("1");
        await p.locator("#org-seats-patients").fill("10");
        await p.locator("#org-paid-until").fill(inAYear);
        await p.locator("#org-create-button").click();
        await statusSays(p, /createOrganisation done/);
        const platformRow = await rowNamed(p, hospital);
        const organisation = await platformRow.getAttribute("data-organisation");
        assert.equal(await platformRow.getAttribute("data-status"), "active");
        await assertAccessible(p, "the console's organisations");

        // Its own admin sees it alone, without the platform's sections.
        const own = await openConsole(browser, orgAdminKey);
        const o = own.page;
        assert.equal(await o.locator("#org-scope").getAttribute("data-scope"), organisation);
        assert.equal(await o.locator("#orgs tr[data-organisation]").count(), 1);
        assert.equal(await o.locator("#summary").isVisible(), false, "the platform's sections are hidden");
        const ownRow = await rowNamed(o, hospital);
        await act(o, ownRow, "Verify practitioner", doctor);
        await statusSays(o, /verifyPractitioner done/);
        await until("the doctor verified on chain", () => verifiedOnChain(doctor));
        await until("the seat counted", async () => (await ownRow.locator("td").nth(7).textContent()) === "1 / 1");
        // The hospital's admin sees who holds its seats, the doctor with a Release button.
        const member = o.locator(`#orgs tr[data-members-of="${organisation}"] [data-member="${doctor}"]`);
        await until("the doctor among the hospital's members", async () => (await member.count()) === 1);
        assert.equal(await member.locator("button[data-action=Release]").count(), 1);

        // The second doctor: refused in words, and nothing sent.
        const sent = own.wallet.requests.filter((r) => r.method === "eth_sendTransaction").length;
        await act(o, ownRow, "Verify practitioner", secondDoctor);
        const said = await statusSays(o, /^Refused/);
        assert.match(said, /every seat of that kind is taken/);
        assert.match(said, /NoSeatLeft/);
        assert.equal(own.wallet.requests.filter((r) => r.method === "eth_sendTransaction").length, sent, "no transaction was sent");
        assert.equal(await verifiedOnChain(secondDoctor), false);

        // The hospital offers the patient enrolment; the patient accepts it in the app.
        await act(o, ownRow, "Offer enrolment", patient);
        await statusSays(o, /enrolPatient done/);
        const pp = patientApp.page;
        await goTo(pp, "Account");
        const offer = pp.locator(`[data-testid=hospitals] li[data-organisation="${organisation}"]`);
        await until("the hospital's offer in the patient's Account page", async () => {
          if ((await offer.count()) === 1) return true;
          await pp.locator("[data-testid=hospitals]").getByRole("button", { name: "Refresh" }).click();
          return false;
        });
        assert.equal(await offer.getAttribute("data-enrolled"), "false");
        assert.match(await offer.textContent(), new RegExp(`${hospital} asks to enrol you`));
        await offer.getByTestId("accept-enrolment").click();
        await done(pp, "[data-testid=hospitals]");
        await until("the enrolment shown", async () => (await offer.getAttribute("data-enrolled")) === "true");
        assert.match(await offer.textContent(), new RegExp(`Enrolled with ${hospital}`));
        await assertAccessible(pp, "the patient's hospitals");
        await until("the patient seat counted", async () => (await ownRow.locator("td").nth(8).textContent()) === "1 / 10");

        // The patient shares Encounters with the doctor, adding records too; the doctor adds a note.
        await goTo(pp, "Sharing");
        await pp.getByTestId("grantee").fill(doctor);
        const form = pp.getByTestId("grant-form");
        for (const category of ["General", "History", "Laboratory"]) await form.getByLabel(category).uncheck();
        await form.getByLabel("Encounters").check();
        await pp.getByTestId("allow-write").check();
        await pp.getByTestId("grant").click();
        assert.match(await done(pp, "#sharing"), /Access granted/);
        const doc = await openApp(stack, browser, doctorKey);
        const dp = doc.page;
        await signIn(dp);
        await openPatient(dp, patient, "the patient listed for the hospital's doctor");
        const note = `Seen in clinic (${name}): review in a year.`;
        await dp.getByTestId("note-text").fill(note);
        await dp.getByTestId("add-record").click();
        assert.match(await done(dp, "[data-testid=add-for-patient]"), /Added/);
        const docRows = dp.locator("[data-testid=doctor-records] tbody tr");
        await until("the doctor's note in the patient's records", async () => {
          if ((await docRows.count()) === 1) return true;
          await dp.locator("[data-testid=patient-records]").getByRole("button", { name: "Refresh" }).click();
          return false;
        });
        await docRows.first().getByTestId("open").click();
        await until("the note opened by the doctor", async () => (await dp.locator("[data-testid=opened]").textContent().catch(() => "")).includes(note));
        await dp.getByRole("button", { name: "Close" }).click();

        // The subscription lapses: the chain's time passes the paid-until date. The doctor's next
        // open is refused with the reason in words; the patient still opens everything.
        await rpc(stack.rpcUrl, "evm_increaseTime", [367 * 86_400]);
        await rpc(stack.rpcUrl, "evm_mine", []);
        await docRows.first().getByTestId("open").click();
        const refusal = dp.locator("[data-testid=patient-records] [data-testid=note-failed]");
        await refusal.waitFor({ timeout: T });
        const refusalText = await refusal.textContent();
        assert.match(refusalText, /Your hospital's licence to use medledger has lapsed or was terminated/);
        assert.doesNotMatch(refusalText, /licence-inactive|403/);
        await until("the licence shown lapsed", async () => (await platformRow.getAttribute("data-status")) === "lapsed");
        await goTo(pp, "Records");
        const patientRows = pp.locator("[data-testid=records] tbody tr").filter({ hasText: "Encounters" });
        await until("the doctor's note in the patient's records", async () => {
          if ((await patientRows.count()) === 1) return true;
          await pp.locator("#records").getByRole("button", { name: "Refresh" }).click();
          return false;
        });
        await patientRows.first().getByRole("button", { name: "Open" }).click();
        await pp.getByTestId("record-text").waitFor({ timeout: T });
        assert.equal((await pp.getByTestId("record-text").textContent()).trim(), note);
        await doc.context.close();

        // The platform records a renewal (a year after the chain's time now): licensed again.
        const later = await rpc(stack.rpcUrl, "eth_getBlockByNumber", ["latest", false]);
        const renewedUntil = new Date((Number(later.timestamp) + 365 * 86_400) * 1000).toISOString().slice(0, 10);
        await act(p, platformRow, "Record renewal", renewedUntil);
        await statusSays(p, /recordRenewal done/);
        await until("the licence shown active again", async () => (await platformRow.getAttribute("data-status")) === "active");
        assert.equal(await verifiedOnChain(doctor), true, "renewed: the doctor is verified again");

        // The platform terminates the licence: the doctor is no longer verified, from that block.
        await act(p, platformRow, "Terminate", true);
        await statusSays(p, /terminateLicence done/);
        assert.equal(await verifiedOnChain(doctor), false);
        await until("the licence shown terminated", async () => (await platformRow.getAttribute("data-status")) === "terminated");
        // The doctor's pages say why nothing opens any more.
        const doctorApp = await openApp(stack, browser, doctorKey);
        await signIn(doctorApp.page);
        const notice = doctorApp.page.getByTestId("licence-notice");
        await notice.waitFor({ timeout: T });
        assert.match(await notice.textContent(), new RegExp(`The licence of ${hospital} to use medledger was terminated on \\d{4}-\\d{2}-\\d{2}`));
        await doctorApp.context.close();
        await patientApp.context.close();
        await own.context.close();
        await platform.context.close();
      } finally {
        await browser.close();
      }
    });
  });
}
