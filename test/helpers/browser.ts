/**
 * Real headless Chromium for the e2e tests: Debian's `chromium` driven by playwright-core (`.ci/run`
 * installs it; `ACCORD_CHROMIUM` points elsewhere), one launch per suite, one context per person.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.ACCORD_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** How long a live update may take before a test gives up (generous: CI runs other suites in parallel). */
export const LIVE_MS = 10_000;

/** Launches Chromium; closed by the suite's teardown. */
export async function launchBrowser(onTeardown: (fn: () => unknown) => void): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  onTeardown(() => browser.close());
  return browser;
}

/** A page in a fresh context (its own cookies and storage: one person), waiting at most LIVE_MS. */
export async function newPage(browser: Browser, baseURL: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
  const page = await (await browser.newContext({ baseURL, viewport })).newPage();
  page.setDefaultTimeout(LIVE_MS);
  return page;
}

/** Signs in through the form, as a person does, and waits for the home page. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Reviews', level: 1 }).waitFor();
}

/**
 * Where the e2e tests write their screenshots: a directory under the system's temp dir, so `npm test`
 * leaves the tree clean. `ACCORD_SCREENSHOTS=docs/screenshots` refreshes the README's copies on purpose.
 */
export function screenshotDir(): string {
  const dir = process.env.ACCORD_SCREENSHOTS ? resolve(process.env.ACCORD_SCREENSHOTS) : join(tmpdir(), 'accord-screenshots');
  mkdirSync(dir, { recursive: true });
  return `${dir}/`;
}
