// The escrow's /console page: signing an admin in with the page's wallet, through the licence
// agreement when the account has not accepted its current version (docs/licensing.md "The
// agreement"): the page then shows only the agreement, and its accept button signs it (EIP-712).
import { PATIENCE_MS } from "./stack.mjs";

/**
 * Presses "Sign in with wallet" on the console and waits until it is signed in and showing its
 * data, accepting the licence agreement on the way when the console asks for it. Returns whether
 * it asked.
 */
export async function consoleSignIn(page) {
  await page.locator("#signin").click();
  return afterConsoleSignIn(page);
}

/** Waits for the console to be signed in (after a sign-in or a reload), accepting the agreement
 *  when it is shown. Returns whether it was. */
export async function afterConsoleSignIn(page) {
  const signedIn = page.locator("#status").filter({ hasText: /^signed in/ });
  const agreement = page.locator("#agreement:not([hidden])");
  await signedIn.or(agreement).first().waitFor({ timeout: PATIENCE_MS });
  const asked = await agreement.isVisible();
  if (asked) {
    await page.locator("#agreement-accept").click();
    await signedIn.waitFor({ timeout: PATIENCE_MS });
  }
  return asked;
}
