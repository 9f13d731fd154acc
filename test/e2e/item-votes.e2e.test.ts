/**
 * End to end in real headless Chromium against a real server: two reviewers in separate browser
 * contexts vote on single items of one change; each sees the other's per-item tally live, and an
 * amendment of an item marks the votes on it stale. Needs `npx vite build` first.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { submitDraft } from './hash-helpers.ts';
import { launchBrowser, newPage, signIn } from '../helpers/browser.ts';
import { startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'item-votes-pass';

describe('per-item votes in the browser', () => {
  let server: TestServer;
  let browser: Browser;
  let changeId = '';
  const tokens: Record<string, string> = {};
  const pages: Record<string, Page> = {};
  const teardown = suiteTeardown();


  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    changeId = created.body.change.id;
    assert.equal((await submitDraft(rita, changeId)).status, 201);

    browser = await launchBrowser((fn) => teardown.push(fn));
    await Promise.all(['ana', 'ben'].map(async (name) => {
      const page = (pages[name] = await newPage(browser, server.url));
      await signIn(page, name, PASSWORD);
      await page.goto(`/changes/${changeId}`);
      await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    }));
  });

  const item = (page: Page, id: string): Locator => page.getByRole('listitem', { name: `Item ${id}` });
  const count = (page: Page, id: string, choice: 'approve' | 'reject' | 'abstain') => page.getByTestId(`item-${id}-${choice}`);
  const hasCount = (locator: Locator, n: number) => locator.filter({ hasText: new RegExp(`^${n}$`) }).waitFor();

  it('shows one reviewer\'s item vote in the other\'s per-item tally live, and her own vote as text', async () => {
    const { ana, ben } = pages as Record<'ana' | 'ben', Page>;
    assert.equal(await count(ben, 'i2', 'approve').textContent(), '0');
    const approve = item(ana, 'i2').getByRole('button', { name: 'Approve item i2' });
    await approve.click();
    await hasCount(count(ben, 'i2', 'approve'), 1);
    await ben.getByRole('group', { name: 'Votes on item i2' }).getByText('(ana)').waitFor();
    await item(ana, 'i2').getByText('Your vote on item i2: approve').waitFor();
    assert.equal(await approve.getAttribute('aria-pressed'), 'true');
    assert.equal(await count(ben, 'i1', 'approve').textContent(), '0', 'the other item is untouched');
    assert.equal(await ben.getByRole('region', { name: 'Tally' }).getByTestId('tally-approve').textContent(), '0', 'not a whole-revision vote');
  });

  it('asks a reason before an item reject, with the keyboard alone', async () => {
    const { ana, ben } = pages as Record<'ana' | 'ben', Page>;
    await item(ana, 'i1').getByRole('button', { name: 'Reject item i1' }).focus();
    await ana.keyboard.press('Enter');
    const reason = ana.getByLabel('Why do you reject item i1?');
    await ana.waitForFunction(() => document.activeElement?.tagName === 'TEXTAREA');
    assert.equal(await reason.evaluate((el) => el === document.activeElement), true, 'the reason box takes focus');
    await ana.keyboard.type('Devs do not need the console on the payment VM.');
    await ana.keyboard.press('Tab');
    await ana.keyboard.press('Enter');
    await hasCount(count(ben, 'i1', 'reject'), 1);
    await item(ana, 'i1').getByText('Your vote on item i1: reject').waitFor();
    const view = (await apiAs(server.url, tokens.ana!)<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change;
    const reject = view.votes.find((v) => v.voter === 'ana' && v.itemId === 'i1');
    assert.equal(reject?.reason, 'Devs do not need the console on the payment VM.');
  });

  it('marks the votes on an amended item stale in both browsers, and keeps those on unchanged items', async () => {
    const { ana, ben } = pages as Record<'ana' | 'ben', Page>;
    const rita = apiAs(server.url, tokens.rita!);
    const amended = { ...PROXMOX_CONTENT, items: [PROXMOX_CONTENT.items[0]!, { ...PROXMOX_CONTENT.items[1]!, grant: { ...PROXMOX_CONTENT.items[1]!.grant, propagate: false } }] };
    assert.equal((await rita('PUT', `/changes/${changeId}/draft`, amended)).status, 204);
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    for (const page of [ana, ben]) {
      await item(page, 'i2').getByRole('list', { name: 'Stale votes on item i2' }).getByText('ana voted approve on revision 1').waitFor();
      await hasCount(count(page, 'i2', 'approve'), 0);
      assert.equal(await count(page, 'i1', 'reject').textContent(), '1', 'the vote on the unchanged item carries over');
      assert.equal(await item(page, 'i1').getByRole('list', { name: 'Stale votes on item i1' }).count(), 0);
    }
    await item(ana, 'i2').getByText('Your approve on revision 1 is stale: this item changed since.').waitFor();
    assert.equal(await item(ana, 'i2').getByRole('button', { name: 'Approve item i2' }).getAttribute('aria-pressed'), 'false');

    await item(ana, 'i2').getByRole('button', { name: 'Approve item i2' }).click();
    await hasCount(count(ben, 'i2', 'approve'), 1);
    await item(ana, 'i2').getByText('Your vote on item i2: approve').waitFor();
  });
});
