/**
 * In real Chromium: the admin area (issue 23, "Missing for an admin") at /admin, linked as `Admin` in the
 * top bar for admins only, with sections Users, Tokens, Inventories, Policies and Audit; readable at 390 px.
 * Needs `npx vite build` first. Screenshots go to `screenshotDir()` (a temp dir).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, fixture, PROXMOX_CONTENT } from '../helpers/api.ts';
import { launchBrowser, newPage, screenshotDir, signIn } from '../helpers/browser.ts';
import { startTestServer, suiteTeardown, tempDir, type TestServer } from '../helpers/server.ts';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FIXTURES } from '../helpers/api.ts';
import { submitDraft } from './hash-helpers.ts';

const PASSWORD = 'admin-e2e-pass';
const SECTIONS = ['Users', 'Tokens', 'Inventories', 'Policies', 'Audit'];

/** How much wider than the window the page is, and the widest elements that stick out (for the message). */
async function overflow(page: Page): Promise<{ px: number; culprits: string[] }> {
  return page.evaluate(() => {
    const culprits = [...document.querySelectorAll('main *')]
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
      .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} (${Math.round(el.getBoundingClientRect().right)} px)`)
      .slice(0, 8);
    return { px: document.documentElement.scrollWidth - window.innerWidth, culprits };
  });
}

describe('the admin area', () => {
  let server: TestServer;
  let browser: Browser;
  let changeTitle: string;
  const teardown = suiteTeardown();

  before(async () => {
    server = await startTestServer({ allowPrivateWebhooks: true }, (fn) => teardown.push(fn));
    await server.user('root', 'admin', PASSWORD);
    await server.user('rita', 'reviewer', PASSWORD);
    const root = apiAs(server.url, await server.user('ops-bot', 'admin'));
    await root('PUT', '/inventories/proxmox', { files: [{ path: 'user.cfg', text: fixture('proxmox/user.cfg') }] });
    const rita = apiAs(server.url, await server.user('rico', 'reviewer'));
    changeTitle = 'Console for the payment VM';
    const created = await rita<{ change: ReviewView }>('POST', '/changes', { ...PROXMOX_CONTENT, title: changeTitle });
    assert.equal((await submitDraft(rita, created.body.change.id)).status, 201);
    browser = await launchBrowser((fn) => teardown.push(fn));
  });

  it('is linked for admins only; a reviewer who opens /admin is told it is for admins', async () => {
    const page = await newPage(browser, server.url);
    await signIn(page, 'rita', PASSWORD);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Reviews' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Admin' }).count(), 0);
    await page.goto('/admin');
    await page.getByText(/The admin area is for admins: managing accounts needs the admin role/).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Users' }).count(), 0);
    await page.context().close();
  });

  it('lets an admin manage accounts, tokens, inventories, policies and the audit log', async () => {
    const page = await newPage(browser, server.url);
    await signIn(page, 'root', PASSWORD);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('heading', { name: 'Admin', level: 1 }).waitFor();
    for (const name of SECTIONS) await page.getByRole('heading', { name, level: 2 }).waitFor();

    // Users: a new account needs a chosen role; its token is shown once; role and groups change in place.
    const users = page.getByRole('region', { name: 'Users' });
    await users.getByLabel(/^Username/).fill('nadia');
    await users.getByLabel(/^Password/).fill('nadia password');
    await users.getByLabel(/^Groups \(optional/).fill('secops, net');
    await users.getByRole('combobox', { name: /^Role(?! of)/ }).selectOption('reviewer');
    await users.getByRole('button', { name: 'Create account' }).click();
    await users.getByText(/nadia was created/).waitFor();
    const token = await users.locator('code.secret').textContent();
    assert.match(token ?? '', /^acc_/);
    assert.equal((await apiAs(server.url, token!)('GET', '/me')).status, 200, 'the token shown works');
    await users.getByLabel('Role of nadia').selectOption('approver');
    await users.getByRole('button', { name: 'Save nadia' }).click();
    await users.getByText('Saved: nadia is approver in net, secops.').waitFor();
    const nadia = (await apiAs(server.url, token!)<{ user: { role: string } }>('GET', '/me')).body.user;
    assert.equal(nadia.role, 'approver');
    assert.ok(await users.getByLabel('Role of root').isDisabled(), 'an admin cannot change their own role');

    // A refused create keeps what was typed and says what to fix.
    await users.getByLabel(/^Username/).fill('nadia');
    await users.getByRole('combobox', { name: /^Role(?! of)/ }).selectOption('viewer');
    await users.getByRole('button', { name: 'Create account' }).click();
    await users.getByText('Not created: User "nadia" already exists.').waitFor();
    assert.equal(await users.getByLabel(/^Username/).inputValue(), 'nadia');

    // Tokens: a scoped, expiring token is created, shown once, and revoked.
    const tokens = page.getByRole('region', { name: 'Tokens' });
    await tokens.getByLabel('Label').fill('ci-pipeline');
    await tokens.getByLabel('Scope').selectOption('read');
    await tokens.getByRole('button', { name: 'Create token' }).click();
    await tokens.getByText(/The new token, shown this once/).waitFor();
    const ci = await tokens.locator('code.secret').textContent();
    assert.equal((await apiAs(server.url, ci!)('GET', '/changes')).status, 200);
    await tokens.getByRole('button', { name: 'Revoke token ci-pipeline of root' }).click();
    await tokens.getByText(/Token “ci-pipeline” of root is revoked/).waitFor();
    assert.equal((await apiAs(server.url, ci!)('GET', '/changes')).status, 401);
    await tokens.getByLabel('Account').selectOption('nadia');
    await tokens.getByRole('list', { name: 'Tokens of nadia' }).waitFor();

    // Inventories: an upload's warnings name file and line.
    const inventories = page.getByRole('region', { name: 'Inventories' });
    await inventories.getByText(/version 1, imported by ops-bot/).waitFor();
    const text = `${fixture('proxmox/user.cfg')}\nuser:Bad User!@pve:1:0::::::\n`;
    const line = text.split('\n').findIndex((l) => l.startsWith('user:Bad User')) + 1;
    await inventories.getByRole('combobox', { name: /^Backend/ }).selectOption('proxmox');
    await inventories.getByLabel(/^Native files/).setInputFiles({ name: 'user.cfg', mimeType: 'text/plain', buffer: Buffer.from(text) });
    await inventories.getByRole('button', { name: 'Import' }).click();
    await inventories.getByText(/Imported proxmox as version 2/).waitFor();
    await inventories.getByRole('list', { name: 'Warnings of this import' }).getByText(`user.cfg:${line}`).waitFor();

    // Policies: checked as typed, with the line of a mistake; tried on a change in review; saved.
    const policies = page.getByRole('region', { name: 'Policies' });
    await policies.getByText(/No stored policy/).waitFor();
    const yaml = policies.getByLabel(/^Policy \(YAML/);
    await yaml.fill('name: two-eyes\nclasses:\n  team:\n    role: reviewer\nrequire:\n  class: teem\n  approvals: 1\n');
    await policies.getByText('Not valid').waitFor();
    await policies.getByText(/line 6: .*teem/).waitFor();
    assert.ok(await policies.getByRole('button', { name: 'Save policy' }).isDisabled(), 'an invalid policy is not offered for saving');
    await yaml.fill('name: two-eyes\nclasses:\n  team:\n    role: reviewer\nrequire:\n  class: team\n  approvals: 2\n');
    await policies.getByLabel('Try it on a change in review').selectOption({ label: `${changeTitle} (proxmox)` });
    await policies.getByText(/Under this draft, with the votes cast so far, the change is/).waitFor();
    await policies.locator('.decision-pending').waitFor();
    await policies.getByRole('button', { name: 'Save policy' }).click();
    await policies.getByText(/Saved “two-eyes”/).waitFor();
    await policies.getByRole('button', { name: 'Edit policy two-eyes' }).waitFor();

    // Audit: newest first, filtered, and verified.
    const audit = page.getByRole('region', { name: 'Audit' });
    await audit.getByLabel(/^Action/).fill('user');
    await audit.getByRole('button', { name: 'Show' }).click();
    await audit.getByRole('list', { name: 'Audit entries, newest first' }).getByText('user.update').first().waitFor();
    await audit.getByRole('button', { name: 'Verify the log' }).click();
    await audit.getByText(/Verified: \d+ entries/).waitFor();

    await page.screenshot({ path: `${screenshotDir()}admin-desktop.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('heading', { name: 'Users', level: 2 }).waitFor();
    const wider = await overflow(page);
    assert.ok(wider.px <= 0, `the admin page is ${wider.px} px wider than a 390 px screen: ${wider.culprits.join(', ')}`);
    await page.screenshot({ path: `${screenshotDir()}admin-phone.png`, fullPage: true });
    await page.context().close();
  });

  it('connects and reads a target, and adds, rotates and deletes a webhook', async () => {
    const dir = tempDir();
    const rulesDir = join(dir, 'rules.d');
    mkdirSync(rulesDir);
    copyFileSync(`${FIXTURES}libvirt/inventory.json`, join(dir, 'inventory.json'));
    const page = await newPage(browser, server.url, { width: 390, height: 844 });
    await signIn(page, 'root', PASSWORD);
    await page.goto('/admin');

    const targets = page.getByRole('region', { name: 'Targets' });
    await targets.getByText(/No target is connected/).waitFor();
    await targets.getByLabel(/^Target name/).fill('kvm1');
    await targets.getByRole('combobox', { name: /^Backend of the target/ }).selectOption('libvirt');
    const fields = targets.getByLabel(/^Connection fields/);
    assert.match(await fields.inputValue(), /rulesDir/, 'the backend\'s fields are offered as a starting point');
    await fields.fill(JSON.stringify({ rulesDir, inventoryFile: join(dir, 'inventory.json'), actionsFile: resolve(FIXTURES, 'libvirt/org.libvirt.api.policy') }));
    await targets.getByRole('button', { name: 'Connect target' }).click();
    await targets.getByText('Connected kvm1. Read it now to record its baseline.').waitFor();
    await targets.getByRole('list', { name: 'Connected targets' }).getByText('kvm1').first().waitFor();
    await targets.getByRole('button', { name: 'Read now kvm1' }).click();
    await targets.getByText(/Read: the baseline was recorded/).waitFor();

    const hooks = page.getByRole('region', { name: 'Webhooks' });
    await hooks.getByText(/No webhook/).waitFor();
    await hooks.getByLabel(/^Receiver URL/).fill('http://127.0.0.1:9/accord');
    await hooks.getByRole('button', { name: 'Add webhook' }).click();
    await hooks.getByText('Not added: Choose at least one event to send.').waitFor();
    await hooks.getByLabel('drift was found on a target').check();
    await hooks.getByLabel('Format').selectOption('standard');
    await hooks.getByRole('button', { name: 'Add webhook' }).click();
    await hooks.getByText('The signing secret, shown this once:').waitFor();
    assert.match((await hooks.locator('code.secret').textContent()) ?? '', /^whsec_/);
    await hooks.getByRole('button', { name: 'Rotate secret of http://127.0.0.1:9/accord' }).click();
    await hooks.getByText(/The new signing secret \(the previous one still signs for 24 hours/).waitFor();
    await hooks.getByRole('button', { name: 'Delete webhook http://127.0.0.1:9/accord' }).click();
    await hooks.getByText('The webhook to http://127.0.0.1:9/accord was deleted.').waitFor();
    const listed = await apiAs(server.url, await server.user('hook-auditor', 'admin'))<{ webhooks: unknown[] }>('GET', '/webhooks');
    assert.deepEqual(listed.body.webhooks, []);

    const wider = await overflow(page);
    assert.ok(wider.px <= 0, `the admin page is ${wider.px} px wider than a 390 px screen: ${wider.culprits.join(', ')}`);
    await page.context().close();
  });
});
