/**
 * In real Chromium: a viewer reads along, so their home lists the changes in review (not drafts, not
 * decided ones), updated live when another change is submitted, and readable at 390 px (issue 23,
 * defect 11). Needs `npx vite build` first. Screenshots go to `screenshotDir()` (a temp dir).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { launchBrowser, newPage, screenshotDir, signIn } from '../helpers/browser.ts';
import { startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { submitDraft } from './hash-helpers.ts';

const PASSWORD = 'home-viewer-pass';
const IN_REVIEW = 'Console for on-call';
const DRAFT = 'Half-written request';
const LATER = 'Audit view for the devs';

describe("a viewer's home", () => {
  let server: TestServer;
  let browser: Browser;
  let rita: ReturnType<typeof apiAs>;
  const teardown = suiteTeardown();

  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    await server.user('vic', 'viewer', PASSWORD);
    await importProxmox(server, await server.user('root', 'admin'));
    rita = apiAs(server.url, await server.user('rita', 'reviewer'));
    const inReview = await rita<{ change: ReviewView }>('POST', '/changes', { ...PROXMOX_CONTENT, title: IN_REVIEW });
    assert.equal((await submitDraft(rita, inReview.body.change.id)).status, 201);
    assert.equal((await rita('POST', '/changes', { ...PROXMOX_CONTENT, title: DRAFT })).status, 201);
    browser = await launchBrowser((fn) => teardown.push(fn));
  });

  it('lists the changes in review, live, and nothing a viewer cannot act on as if it were theirs', async () => {
    const page = await newPage(browser, server.url, { width: 390, height: 844 });
    await signIn(page, 'vic', PASSWORD);
    const inReview = page.getByRole('region', { name: /In review/ });
    await inReview.getByRole('link', { name: IN_REVIEW }).waitFor();
    assert.equal(await inReview.getByRole('link', { name: DRAFT }).count(), 0, 'a draft is not in review');
    await inReview.getByText(/read along/i).waitFor();

    // Submitted after the page loaded: it appears without a reload.
    const later = await rita<{ change: ReviewView }>('POST', '/changes', { ...PROXMOX_CONTENT, title: LATER });
    assert.equal((await submitDraft(rita, later.body.change.id)).status, 201);
    await inReview.getByRole('link', { name: LATER }).waitFor();

    // A viewer requests nothing: no empty "My open requests" list telling them so.
    assert.equal(await page.getByText('You have no open requests.').count(), 0);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the home page is ${overflow} px wider than a 390 px screen`);
    await page.screenshot({ path: `${screenshotDir()}home-viewer-phone.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: `${screenshotDir()}home-viewer-desktop.png` });

    await inReview.getByRole('link', { name: IN_REVIEW }).click();
    await page.getByRole('heading', { name: IN_REVIEW, level: 1 }).waitFor();
    await page.context().close();
  });
});
