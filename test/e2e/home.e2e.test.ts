/**
 * End to end in real headless Chromium: the home page's search and filters narrow every list, the
 * server-computed ones (waiting for my vote) included, and high-risk changes say so in words.
 * Needs `npx vite build` first (the server serves web/dist).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { submitDraft } from './hash-helpers.ts';
import { startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { launchBrowser, newPage, signIn } from '../helpers/browser.ts';

const PASSWORD = 'review-board-pass';
const RISKY = 'Console for on-call';
const CALM = 'Audit view for the devs';

describe('home page filters', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const teardown = suiteTeardown();

  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    await server.user('ana', 'reviewer', PASSWORD);
    const root = await server.user('root', 'admin');
    await importProxmox(server, root);
    const rita = apiAs(server.url, await server.user('rita', 'reviewer'));
    for (const content of [
      { ...PROXMOX_CONTENT, title: RISKY },
      { ...PROXMOX_CONTENT, title: CALM, items: [{ id: 'i1', op: 'add', grant: { principal: 'devs', privileges: ['vm.view'], resource: '/vms/100', propagate: false, effect: 'allow' } }] },
    ]) {
      const created = await rita<{ change: ReviewView }>('POST', '/changes', content);
      assert.equal((await submitDraft(rita, created.body.change.id)).status, 201);
    }
    browser = await launchBrowser((fn) => teardown.push(fn));
    page = await newPage(browser, server.url);
    await signIn(page, 'ana', PASSWORD);
  });

  it('narrows the lists by risk and by title, and says the lists are filtered', async () => {
    const waiting = page.getByRole('region', { name: /Waiting for my vote/ });
    await waiting.getByRole('link', { name: RISKY }).waitFor();
    await waiting.getByRole('link', { name: CALM }).waitFor();
    await waiting.getByRole('listitem').filter({ hasText: RISKY }).getByText('HIGH RISK').waitFor();
    assert.equal(await waiting.getByRole('listitem').filter({ hasText: CALM }).getByText('HIGH RISK').count(), 0);

    await page.getByLabel('Risk').selectOption('high');
    await waiting.getByRole('link', { name: CALM }).waitFor({ state: 'detached' });
    await waiting.getByRole('link', { name: RISKY }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Filtered lists' }).waitFor();

    await page.getByLabel('Risk').selectOption('');
    await page.getByLabel('Search').fill('audit');
    await waiting.getByRole('link', { name: RISKY }).waitFor({ state: 'detached' });
    await waiting.getByRole('link', { name: CALM }).waitFor();

    await page.getByLabel('Search').fill('');
    await waiting.getByRole('link', { name: RISKY }).waitFor();
    assert.equal(await page.getByRole('status').filter({ hasText: 'Filtered lists' }).count(), 0);
  });
});
