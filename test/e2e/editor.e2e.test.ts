/**
 * End to end in real headless Chromium against a real server: two authors write one draft together
 * (live document, inventory autocompletion, live preview, inline refusals), submit it, and an auditor
 * verifies the evidence pack in the browser, including a tampered one. Needs `npx vite build` first.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { apiAs, importProxmox } from '../helpers/api.ts';
import { voteOverRest } from './hash-helpers.ts';
import { LIVE_MS, launchBrowser, screenshotDir } from '../helpers/browser.ts';
import { startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';

const SHOTS = screenshotDir();
const PASSWORD = 'draft-editor-pass';
const DESKTOP = { width: 1280, height: 900 };
const TITLE = 'Carol may view VM 100 during the migration';

describe('draft editor and evidence view in the browser', () => {
  let server: TestServer;
  let browser: Browser;
  let changeId = '';
  const tokens: Record<string, string> = {};
  const pages: Record<string, Page> = {};
  const teardown = suiteTeardown();


  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer({}, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['carl', 'reviewer']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    browser = await launchBrowser((fn) => teardown.push(fn));
    for (const name of ['rita', 'ana']) {
      const context = await browser.newContext({ viewport: DESKTOP, baseURL: server.url });
      pages[name] = await context.newPage();
      pages[name].setDefaultTimeout(LIVE_MS);
    }
    await Promise.all(['rita', 'ana'].map(async (name) => {
      const page = pages[name]!;
      await page.goto('/');
      await page.getByLabel('Username').fill(name);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Reviews', level: 1 }).waitFor();
    }));
  });

  const item = (page: Page, id: string) => page.getByRole('group', { name: `Item ${id}` });

  it('creates a draft from the top bar and invites a co-author', async () => {
    const rita = pages.rita!;
    await rita.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'New change' }).click();
    await rita.getByLabel('Title').fill(TITLE);
    await rita.getByLabel('Backend').selectOption('proxmox');
    await rita.getByRole('button', { name: 'Create draft' }).click();
    await rita.waitForURL(/\/changes\/[^/]+\/edit$/);
    changeId = new URL(rita.url()).pathname.split('/')[2]!;
    await rita.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    assert.equal(await rita.getByLabel('Title').inputValue(), TITLE);

    await rita.getByLabel('Username to invite').fill('ana');
    await rita.getByRole('button', { name: 'Invite co-author' }).click();
    await rita.getByText('ana is now an author').waitFor();
  });

  it('lets two authors edit one draft live, with autocompletion and a live native form and blast radius', async (t) => {
    const { rita, ana } = pages as Record<'rita' | 'ana', Page>;
    await ana.goto(`/changes/${changeId}/edit`);
    await ana.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await rita.getByRole('list', { name: 'Editors' }).getByText('ana', { exact: true }).waitFor();

    await rita.getByRole('button', { name: 'Add item' }).click();
    const principal = item(rita, 'i1').getByLabel('Principal');
    // Autocompletion comes from the imported inventory.
    assert.equal(await principal.getAttribute('list'), 'inventory-principals');
    await rita.locator('#inventory-principals option[value="carol@ldap"]').waitFor({ state: 'attached' });
    await rita.locator('#inventory-resources option[value="/vms/100"]').waitFor({ state: 'attached' });
    await principal.fill('carol@ldap');
    const started = Date.now();
    await item(rita, 'i1').getByLabel('Resource').fill('/vms/100');
    // carol audits everything already (PVEAuditor on /): power is what she gains. A new item grants
    // nothing until a privilege is chosen: its list of privileges is open, waiting for a choice.
    await item(rita, 'i1').getByText(/Privileges: none chosen/).waitFor();
    await item(rita, 'i1').getByLabel('vm.power').check();

    // ana sees the item, its presence marker, and the preview follow rita's typing.
    await ana.waitForFunction(() => (document.querySelector('[aria-label="Item i1"] input[list="inventory-resources"]') as HTMLInputElement | null)?.value === '/vms/100');
    await item(ana, 'i1').getByText('rita editing', { exact: true }).waitFor();
    await ana.getByRole('list', { name: 'Editors' }).getByText('editing item i1').waitFor();
    const native = ana.getByRole('list', { name: 'Native form preview' });
    await native.getByText(/carol@ldap/).first().waitFor();
    const blast = ana.getByRole('region', { name: 'Blast radius' });
    await blast.getByText('carol@ldap').first().waitFor();
    assert.match(await blast.locator('.blast-summary').textContent() ?? '', /[1-9]\d* gained/);
    t.diagnostic(`ana saw rita's item in the preview after ${Date.now() - started} ms`);

    await ana.getByLabel('Justification').fill('Carol checks the migrated VM before cut-over.');
    await rita.waitForFunction(() => (document.querySelector('textarea') as HTMLTextAreaElement | null)?.value.includes('cut-over'));
    await ana.getByLabel('Ticket').fill('MIG-77');
    await rita.screenshot({ path: `${SHOTS}editor.png`, fullPage: true });
  });

  it('shows the server\'s refusal of an unknown principal next to its item', async () => {
    const { rita, ana } = pages as Record<'rita' | 'ana', Page>;
    await ana.getByRole('button', { name: 'Add item' }).click();
    await item(ana, 'i2').getByLabel('Principal').fill('nobody@pve');
    await item(ana, 'i2').getByLabel('Resource').fill('/vms/100');
    await item(ana, 'i2').getByLabel('vm.view').check();
    const problems = ana.getByRole('list', { name: 'Problems with item i2' });
    await problems.getByText(/unknown user 'nobody@pve'/).waitFor();
    await rita.getByRole('list', { name: 'Problems with item i2' }).getByText(/unknown user/).waitFor();
    assert.equal(await ana.getByRole('list', { name: 'Problems with item i1' }).count(), 0, 'the valid item is not blamed');
    await ana.getByRole('button', { name: 'Remove item i2' }).click();
    await problems.waitFor({ state: 'detached' });
  });

  it('submits through the command queue and opens the review at revision 1', async () => {
    const rita = pages.rita!;
    await rita.getByRole('group', { name: 'Item i2' }).waitFor({ state: 'detached' });
    await rita.getByRole('button', { name: 'Submit for review' }).click();
    await rita.waitForURL(new RegExp(`/changes/${changeId}$`));
    await rita.getByText(/revision 1 · proxmox/).waitFor();
    await rita.getByRole('heading', { name: TITLE, level: 1 }).waitFor();
    const view = (await apiAs(server.url, tokens.rita!)<{ change: { revisions: { content: { items: unknown[]; ticket?: string } }[] } }>('GET', `/changes/${changeId}`)).body.change;
    assert.equal(view.revisions.length, 1);
    assert.equal(view.revisions[0]!.content.items.length, 1);
    assert.equal(view.revisions[0]!.content.ticket, 'MIG-77');
  });

  it('verifies the evidence pack in the browser and reports a tampered vote', async () => {
    const rita = pages.rita!;
    const voted = await voteOverRest(apiAs(server.url, tokens.ben!), changeId, { choice: 'approve' });
    assert.equal(voted.status, 201, JSON.stringify(voted.body));
    await rita.getByRole('link', { name: 'Evidence pack' }).click();
    await rita.getByRole('heading', { name: 'Evidence pack', level: 1 }).waitFor();
    await rita.getByRole('table', { name: 'Votes' }).getByText('ben').waitFor();
    await rita.getByRole('button', { name: 'Verify evidence pack' }).click();
    await rita.getByRole('status').getByText(/Verified/).waitFor();
    // Exporting is a command (POST, audited once): the download is a button, not a link anyone can prefetch.
    await rita.getByRole('button', { name: 'Download HTML pack' }).waitFor();
    await rita.screenshot({ path: `${SHOTS}evidence.png`, fullPage: true });

    // Tamper in transit: ben's approval becomes a rejection.
    await rita.route('**/evidence?format=json', async (route) => {
      const response = await route.fetch();
      const pack = await response.json() as { change: { votes: { choice: string }[] } };
      pack.change.votes[0]!.choice = 'reject';
      await route.fulfill({ response, json: pack });
    });
    await rita.reload();
    await rita.getByRole('table', { name: 'Votes' }).getByText('reject').waitFor();
    await rita.getByRole('button', { name: 'Verify evidence pack' }).click();
    const verdict = rita.getByRole('status').getByText(/Broken: content/);
    await verdict.waitFor();
    assert.match(await verdict.textContent() ?? '', /differs from what this export recorded/);
  });
});
