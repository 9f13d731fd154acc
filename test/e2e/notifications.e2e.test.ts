/**
 * The notification bell in real Chromium (docs/notifications.md, "In-app notification centre"): reviewer
 * ana is signed in; rita submits a change over REST; ana's bell counts it without a reload; opening it
 * shows the message in words with a link to the change; "Mark all read" brings the count to 0.
 * Needs `npx vite build` first (the server serves web/dist).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { launchBrowser, newPage, screenshotDir, signIn } from '../helpers/browser.ts';
import { freePort, startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { submitDraft } from './hash-helpers.ts';

const SHOTS = screenshotDir();
const PASSWORD = 'notifications-pass';

describe('the notification bell', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const tokens: Record<string, string> = {};
  const teardown = suiteTeardown();

  before(async () => {
    const port = await freePort();
    const base = `http://localhost:${port}`;
    server = await startTestServer({ port, publicUrl: base }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    browser = await launchBrowser((fn) => teardown.push(fn));
    page = await newPage(browser, base);
    await signIn(page, 'ana', PASSWORD);
  });

  it('counts a new message live, says it in words with a link, and marks all read', async () => {
    const bar = page.getByRole('banner');
    await bar.getByRole('button', { name: 'Notifications (0 unread)' }).waitFor();
    await page.evaluate(() => ((window as unknown as { stillHere: boolean }).stillHere = true));

    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const changeId = created.body.change.id;
    assert.equal((await submitDraft(rita, changeId)).status, 201);

    const bell = bar.getByRole('button', { name: 'Notifications (1 unread)' });
    await bell.waitFor();
    assert.equal((await bell.innerText()).replace(/\D/g, ''), '1', 'the badge shows the number');
    assert.equal(await page.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere), true, 'the page was not reloaded');

    await bell.click();
    const list = bar.getByRole('region', { name: 'Notifications' });
    const link = list.getByRole('link', { name: `Your vote is needed: ${PROXMOX_CONTENT.title} (revision 1)` });
    await link.waitFor();
    assert.equal(await link.getAttribute('href'), `/changes/${encodeURIComponent(changeId)}`);
    await page.screenshot({ path: `${SHOTS}notifications.png` });

    await list.getByRole('button', { name: 'Mark all read' }).click();
    await bar.getByRole('button', { name: 'Notifications (0 unread)' }).waitFor();
    const after = (await apiAs(server.url, tokens.ana!)<{ unread: number }>('GET', '/notifications')).body;
    assert.equal(after.unread, 0);

    // The link leads to the change.
    await list.getByRole('link', { name: /Your vote is needed/ }).click();
    await page.waitForURL(`**/changes/${encodeURIComponent(changeId)}`);
    await page.getByRole('heading', { name: PROXMOX_CONTENT.title, level: 1 }).waitFor();
    await list.waitFor({ state: 'hidden' });
  });

  it('keeps the bell in the one-line top bar from 360 to 1280 px', async () => {
    const bar = page.getByRole('banner');
    for (const width of [360, 600, 899, 901, 1280]) {
      await page.setViewportSize({ width, height: 800 });
      const bell = bar.getByRole('button', { name: /^Notifications \(\d+ unread\)$/ });
      await bell.waitFor();
      const [barBox, bellBox] = [await bar.boundingBox(), await bell.boundingBox()];
      assert.ok(barBox && bellBox && barBox.height < 60, `${width} px: the bar is ${barBox?.height} px high`);
      assert.ok(bellBox!.x >= 0 && bellBox!.x + bellBox!.width <= width, `${width} px: the bell is cut off`);
    }
  });
});
