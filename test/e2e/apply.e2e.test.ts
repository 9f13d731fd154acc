/**
 * End to end in real headless Chromium: apply through a connected target and drift on the home page
 * (docs/targets.md, docs/web.md). The target is the fake Proxmox API (test/fakes/proxmox-api.ts), so no
 * hypervisor and no polkitd are needed. An admin applies an approved, signed-off change from the review
 * page and sees it verified, item by item, live (and so does a reviewer, who gets no Apply button); a
 * time-bound change counts down and then says when it was revoked; a grant made on the target by hand is
 * listed as drift on everyone's home page, an admin adopts one finding and reverts another (the revert
 * links to the change request it opened). Needs `npx vite build` first (the server serves web/dist).
 * Screenshots: `ACCORD_SCREENSHOTS=docs/screenshots` refreshes docs/screenshots/{apply,apply-phone,drift,drift-phone}.png.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, currentHash, submitDraft, voteOnCurrent } from '../helpers/api.ts';
import { freePort, startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { launchBrowser, LIVE_MS, screenshotDir } from '../helpers/browser.ts';
import { ProxmoxFake } from '../fakes/proxmox-api.ts';

const SHOTS = screenshotDir();
const PASSWORD = 'review-board-pass';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const TARGET = 'pve1';

const FIXTURE = readFileSync(new URL('../fixtures/proxmox/user.cfg', import.meta.url), 'utf8');
const SECRET = '5d2b6a3e-0c1f-4e8a-9b7d-3f6e2a1c9d04';
const TOKEN = 'accord@pve!apply';
/** The fixture with Accord's own API token and its ACL (users and tokens first, so ACL lines can name them). */
const USER_CFG = [
  'user:accord@pve:1:0:::::', `token:${TOKEN}:0:1:Accord connector:`,
  FIXTURE,
  'acl:1:/:accord@pve:Administrator:', `acl:1:/:${TOKEN}:Administrator:`,
].join('\n');

type Api = ReturnType<typeof apiAs>;

const grantOn = (principal: string, resource: string) => ({ principal, role: 'PVEVMUser', resource, propagate: false, effect: 'allow' });

describe('apply and drift in the browser', () => {
  let server: TestServer;
  let fake: ProxmoxFake;
  let base = '';
  let browser: Browser;
  const api: Record<string, Api> = {};
  const pages: Record<string, Page> = {};
  const authenticator = new SoftAuthenticator();
  const teardown = suiteTeardown();
  let timeBound = '';

  before(async () => {
    fake = new ProxmoxFake({ userCfg: USER_CFG, tokenSecrets: { [TOKEN]: SECRET } });
    await fake.start();
    teardown.push(async () => {
      await fake.stop();
      assert.deepEqual(fake.errors, [], 'the fake Proxmox API itself failed');
    });
    // The browser's origin is the WebAuthn origin and the one the socket accepts.
    const port = await freePort();
    base = `http://localhost:${port}`;
    server = await startTestServer({ port, publicUrl: base, applyRetryMs: '20,50', expirySweepMs: 200, driftIntervalMs: 0 }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['paul', 'approver']] as const) {
      api[name] = apiAs(server.url, await server.user(name, role, PASSWORD));
    }
    const options = (await api.paul!('POST', '/passkeys/options')).body as { options: Parameters<SoftAuthenticator['createCredential']>[0] };
    const registered = await api.paul!('POST', '/passkeys', { response: authenticator.createCredential(options.options, base) });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));

    const created = await api.root!('POST', '/targets', { name: TARGET, backend: 'proxmox', url: fake.url, tokenId: TOKEN, tokenSecret: SECRET });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const read = await api.root!('POST', `/targets/${TARGET}/read`);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.equal((read.body as { baseline: string }).baseline, 'recorded');

    browser = await launchBrowser((fn) => teardown.push(fn));
    for (const name of ['root', 'ana']) {
      const context = await browser.newContext({ viewport: DESKTOP, baseURL: base });
      pages[name] = await context.newPage();
      pages[name].setDefaultTimeout(LIVE_MS);
      await signIn(pages[name], name);
    }
  });

  async function signIn(page: Page, username: string): Promise<void> {
    await page.goto('/');
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Reviews', level: 1 }).waitFor();
  }

  /** Submitted by rita, approved by ana and ben, signed off by paul with his passkey: ready to apply. */
  async function approved(content: Record<string, unknown>): Promise<string> {
    const created = await api.rita!('POST', '/changes', content);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = (created.body as { change: ReviewView }).change.id;
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
    for (const voter of ['ana', 'ben']) assert.equal((await voteOnCurrent(api[voter]!, id, { choice: 'approve' })).status, 201);
    const revisionHash = await currentHash(api.paul!, id);
    const challenge = (await api.paul!('POST', `/changes/${id}/signoffs/options`, { revisionHash })).body as { options: Parameters<SoftAuthenticator['getAssertion']>[0] };
    const signed = await api.paul!('POST', `/changes/${id}/signoffs`, { response: authenticator.getAssertion(challenge.options, base), revisionHash });
    assert.equal(signed.status, 201, JSON.stringify(signed.body));
    return id;
  }

  const applyPanel = (page: Page) => page.getByRole('region', { name: /^Apply/ });
  const applyState = (page: Page) => page.getByTestId('apply-state');
  const findings = (page: Page) => page.getByRole('region', { name: /^Drift/ }).getByRole('list', { name: 'Open drift findings' });
  /** user.cfg holds `role` for `principal` on `path` (the fake writes one ACL line per path, role and propagate, principals joined). */
  const holds = (path: string, principal: string, role: string) =>
    fake.userCfg().split('\n').some((l) => { const [kind, , p, who, r] = l.split(':'); return kind === 'acl' && p === path && r === role && (who ?? '').split(',').includes(principal); });

  /** Nothing on the page reaches past the right edge of the viewport. */
  async function fitsWidth(page: Page): Promise<void> {
    const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    assert.ok(scroll <= client, `the page is ${scroll} px wide in a ${client} px viewport`);
  }

  it('offers Apply to an admin only; pressing it applies, verifies, and shows each item and step, live for everyone', async () => {
    const id = await approved({
      title: 'Carol uses VM 100', justification: 'Contract work on the payment VM.', backend: 'proxmox', target: TARGET, ticket: 'OPS-2001',
      items: [{ id: 'i1', op: 'add', grant: grantOn('carol@ldap', '/vms/100') }],
    });
    const { root, ana } = pages as Record<'root' | 'ana', Page>;
    await Promise.all([root.goto(`/changes/${id}`), ana.goto(`/changes/${id}`)]);
    const button = root.getByRole('button', { name: `Apply to ${TARGET}`, exact: true });
    await button.waitFor();
    // The reviewer reads the same page with no Apply panel at all (no run yet, and the rule book says no).
    await ana.getByRole('heading', { name: 'Carol uses VM 100', level: 1 }).waitFor();
    await ana.getByRole('region', { name: 'Tally' }).waitFor();
    assert.equal(await ana.getByRole('button', { name: /^Apply/ }).count(), 0, 'a reviewer is not offered Apply');
    assert.equal(await applyPanel(ana).count(), 0);

    await button.click();
    await applyState(root).getByText('Verified', { exact: true }).waitFor();
    // The reviewer's page follows the run live, through the review document.
    await applyState(ana).getByText('Verified', { exact: true }).waitFor();
    const items = applyPanel(root).getByRole('list', { name: 'Items' });
    await items.getByRole('listitem').filter({ hasText: 'i1' }).getByText('applied', { exact: true }).waitFor();
    const steps = applyPanel(root).getByRole('list', { name: 'Steps' });
    await steps.getByRole('listitem').filter({ hasText: 'add role PVEVMUser for carol@ldap on /vms/100' }).getByText('done', { exact: true }).waitFor();
    await root.getByText('applied', { exact: true }).first().waitFor(); // the status chip
    assert.ok(holds('/vms/100', 'carol@ldap', 'PVEVMUser'), 'the grant reached the target');
    // Applied: the button is gone (the rule book: only an approved or apply_failed change is applied).
    assert.equal(await root.getByRole('button', { name: /^Apply to/ }).count(), 0);
    await root.setViewportSize(PHONE);
    await fitsWidth(root);
    await root.setViewportSize(DESKTOP);
  });

  it('counts down a time-bound grant each second, with a way to request an extension', async () => {
    timeBound = await approved({
      title: 'Carol checks VM 101 briefly', justification: 'A short look at a failing backup.', backend: 'proxmox', target: TARGET, durationHours: 0.01,
      items: [{ id: 'i1', op: 'add', grant: grantOn('carol@ldap', '/vms/101') }],
    });
    const { root } = pages as Record<'root', Page>;
    await root.goto(`/changes/${timeBound}`);
    await root.getByRole('button', { name: `Apply to ${TARGET}`, exact: true }).click();
    await applyState(root).getByText('Verified', { exact: true }).waitFor();
    assert.ok(holds('/vms/101', 'carol@ldap', 'PVEVMUser'), 'the time-bound grant reached the target');
    const granted = applyPanel(root).getByRole('list', { name: 'Access granted' });
    const left = granted.getByTestId('time-left');
    await left.waitFor();
    const first = await left.textContent();
    assert.match(first ?? '', /^ends in \d+ s$/, `a 36-second grant counts down in seconds: ${first}`);
    await root.waitForFunction((before) => document.querySelector('[data-testid="time-left"]')?.textContent !== before, first, { timeout: 3_000 });
    const extension = applyPanel(root).getByRole('link', { name: 'Request an extension' });
    assert.match((await extension.getAttribute('href')) ?? '', /^\/changes\/new\?title=Extend/);
    await root.screenshot({ path: `${SHOTS}apply.png` });
    await root.setViewportSize(PHONE);
    await fitsWidth(root);
    await applyPanel(root).getByRole('heading', { name: `Apply to ${TARGET}` }).scrollIntoViewIfNeeded();
    await root.screenshot({ path: `${SHOTS}apply-phone.png` });
    await root.setViewportSize(DESKTOP);
  });

  it('lists drift on everyone\'s home page; an admin adopts one finding and reverts another', async () => {
    // Two grants made on the target by hand, outside Accord.
    fake.edit((cfg) => {
      cfg.acl.get('/vms/100')!.users.set('erin@pve', new Map([['PVEVMUser', 0]]));
      cfg.acl.get('/vms/101')!.users.set('alice@pve', new Map([['PVEVMAdmin', 0]]));
    });
    const read = await api.root!('POST', `/targets/${TARGET}/read`);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    const opened = (read.body as { opened: { detail: { summary: string } }[] }).opened.map((f) => f.detail.summary);
    assert.equal(opened.length, 2, JSON.stringify(opened));
    const erin = opened.find((s) => s.includes('erin@pve'))!;
    const alice = opened.find((s) => s.includes('alice@pve'))!;

    const { root, ana } = pages as Record<'root' | 'ana', Page>;
    await Promise.all([root.goto('/'), ana.goto('/')]);
    for (const page of [root, ana]) {
      const row = findings(page).getByRole('listitem').filter({ hasText: erin });
      await row.waitFor();
      await row.getByText('added outside Accord').waitFor();
      await row.getByText(`target ${TARGET}`).waitFor();
      await row.getByText(/detected (just now|\d+ min ago)/).waitFor();
    }
    assert.equal(await ana.getByRole('button', { name: /^Adopt/ }).count(), 0, 'a reviewer reads drift, does not resolve it');
    assert.equal(await ana.getByRole('button', { name: /^Revert/ }).count(), 0);

    const drift = root.getByRole('region', { name: /^Drift/ });
    await root.screenshot({ path: `${SHOTS}drift.png` });
    await root.setViewportSize(PHONE);
    await fitsWidth(root);
    await root.screenshot({ path: `${SHOTS}drift-phone.png` });
    await root.setViewportSize(DESKTOP);

    // Adopt asks first: unreviewed access would become approved.
    const erinRow = findings(root).getByRole('listitem').filter({ hasText: erin });
    await erinRow.getByRole('button', { name: /^Adopt/ }).click();
    await erinRow.getByRole('button', { name: /^Confirm adopt/ }).click();
    await erinRow.waitFor({ state: 'detached' });
    await drift.getByRole('status').getByText(`Adopted on ${TARGET}: ${erin}`, { exact: false }).waitFor();

    const aliceRow = findings(root).getByRole('listitem').filter({ hasText: alice });
    await aliceRow.getByRole('button', { name: /^Revert \(opens a change request\)/ }).click();
    await aliceRow.waitFor({ state: 'detached' });
    const link = drift.getByRole('status').getByRole('link', { name: 'Review the change request' });
    const href = (await link.getAttribute('href')) ?? '';
    assert.match(href, /^\/changes\/[^/]+$/);
    const all = ((await api.ana!('GET', '/drift?state=all')).body as { findings: { state: string; detail: { summary: string }; changeId: string | null }[] }).findings;
    assert.equal(all.find((f) => f.detail.summary === erin)?.state, 'adopted');
    const reverted = all.find((f) => f.detail.summary === alice);
    assert.equal(reverted?.state, 'reverted');
    assert.equal(href, `/changes/${reverted?.changeId}`);
    await link.click();
    await root.getByRole('heading', { level: 1, name: `Revert drift on ${TARGET}` }).waitFor();

    // The reviewer's home page no longer lists them once it reads drift again (on a fact, or on load).
    await ana.reload();
    await ana.getByRole('region', { name: /^Drift/ }).getByText('No open drift', { exact: false }).waitFor();
  });

  it('says when the time-bound grant was revoked, live', async () => {
    const { root } = pages as Record<'root', Page>;
    await root.goto(`/changes/${timeBound}`);
    const granted = applyPanel(root).getByRole('list', { name: 'Access granted' });
    await granted.getByText(/^revoked at /).waitFor({ timeout: 60_000 });
    assert.ok(!holds('/vms/101', 'carol@ldap', 'PVEVMUser'), 'the grant is gone from the target');
    assert.equal(await granted.getByTestId('time-left').count(), 0);
  });
});
