/**
 * End to end in real headless Chromium against a real server: two reviewers and an approver, each in
 * their own browser context, review one change live; the approver signs off with a passkey held by
 * Chromium's virtual authenticator. Needs `npx vite build` first (the server serves web/dist).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { submitDraft } from './hash-helpers.ts';
import { LIVE_MS, launchBrowser, screenshotDir } from '../helpers/browser.ts';
import { freePort, startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';

const SHOTS = screenshotDir();
const PASSWORD = 'review-board-pass';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

describe('review board in the browser', () => {
  let server: TestServer;
  let base = '';
  let browser: Browser;
  let changeId = '';
  const tokens: Record<string, string> = {};
  const pages: Record<string, Page> = {};
  const contexts: Record<string, BrowserContext> = {};
  const teardown = suiteTeardown();


  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const port = await freePort();
    base = `http://localhost:${port}`;
    server = await startTestServer({ port, publicUrl: base }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['paul', 'approver']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    changeId = created.body.change.id;
    const submitted = await submitDraft(rita, changeId);
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));

    browser = await launchBrowser((fn) => teardown.push(fn));
    for (const name of ['ana', 'ben', 'paul']) {
      contexts[name] = await browser.newContext({ viewport: DESKTOP, baseURL: base });
      pages[name] = await contexts[name].newPage();
      pages[name].setDefaultTimeout(LIVE_MS);
    }
  });

  async function signIn(page: Page, username: string, screenshot?: string): Promise<void> {
    await page.goto('/');
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    if (screenshot) await page.screenshot({ path: `${SHOTS}${screenshot}` });
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Reviews', level: 1 }).waitFor();
  }

  const tallyCount = (page: Page, choice: 'approve' | 'reject' | 'abstain') =>
    page.getByRole('region', { name: 'Tally' }).getByTestId(`tally-${choice}`);

  it('signs everyone in through the form and lists what waits for them', async () => {
    await signIn(pages.ana!, 'ana', 'sign-in.png');
    await Promise.all([signIn(pages.ben!, 'ben'), signIn(pages.paul!, 'paul')]);
    const waiting = pages.ana!.getByRole('region', { name: /Waiting for my vote/ });
    await waiting.getByRole('link', { name: PROXMOX_CONTENT.title }).waitFor();
    await pages.ana!.screenshot({ path: `${SHOTS}home.png` });
    // The approver has nothing to vote on yet and nothing to sign.
    await pages.paul!.getByText('Nothing waits for your sign-off.').waitFor();
  });

  it('shows both reviewers each other\'s presence, focus and annotations live', async () => {
    const { ana, ben } = pages as Record<'ana' | 'ben', Page>;
    await ana.getByRole('region', { name: /Waiting for my vote/ }).getByRole('link', { name: PROXMOX_CONTENT.title }).click();
    await ben.goto(`/changes/${changeId}`);
    await ana.getByRole('list', { name: 'Participants' }).getByText('ben', { exact: true }).waitFor();
    await ben.getByRole('list', { name: 'Participants' }).getByText('ana', { exact: true }).waitFor();
    await ana.getByRole('status').filter({ hasText: 'Connected' }).waitFor();

    await ana.getByRole('button', { name: 'Annotate item i2' }).focus();
    await ben.getByRole('list', { name: 'Participants' }).getByText('looking at item i2').waitFor();

    await ana.getByRole('button', { name: 'Annotate item i2' }).click();
    await ana.getByLabel('Add annotation').fill('carol gains PVEVMUser on /vms/300 with propagate: is that intended?');
    await ana.getByRole('button', { name: 'Post annotation' }).click();
    const threadOnBen = ben.getByRole('list', { name: 'Annotation threads' }).getByText('is that intended?');
    await threadOnBen.waitFor();
    await ben.getByRole('button', { name: 'Reply' }).click();
    await ben.getByLabel('Add annotation').fill('Yes: carol is on call for VM 300 this quarter.');
    await ben.getByRole('button', { name: 'Post reply' }).click();
    await ana.getByRole('article', { name: 'Reply by ben' }).waitFor();

    await ben.getByRole('button', { name: 'Annotate line 1', exact: true }).click();
    await ben.getByLabel('Add annotation').fill('This line replaces nothing; fine.');
    await ben.getByRole('button', { name: 'Post annotation' }).click();
    await ana.getByRole('article', { name: /Annotation by ben on line 1/ }).waitFor();
  });

  it('shows a vote in the other reviewer\'s tally live, without a reload', async (t) => {
    const { ana, ben } = pages as Record<'ana' | 'ben', Page>;
    assert.equal(await tallyCount(ben, 'approve').textContent(), '0');
    const started = Date.now();
    await ana.getByRole('button', { name: 'Approve', exact: true }).click();
    await ben.waitForFunction(() => document.querySelector('[data-testid="tally-approve"]')?.textContent === '1', null, { timeout: LIVE_MS, polling: 'raf' });
    // The 1 s target is measured by bench/web (timing belongs in benchmarks); here it is reported only.
    t.diagnostic(`ben saw ana's vote after ${Date.now() - started} ms`);
    await ben.getByRole('region', { name: 'Tally' }).getByText('ana').waitFor();
    await ana.getByText('You voted approve').waitFor();
  });

  it('marks the whole-revision vote stale in both browsers when an amendment is submitted, and shows the item diff', async () => {
    const rita = apiAs(server.url, tokens.rita!);
    const amended = { ...PROXMOX_CONTENT, items: [PROXMOX_CONTENT.items[0]!, { ...PROXMOX_CONTENT.items[1]!, grant: { ...PROXMOX_CONTENT.items[1]!.grant, propagate: false } }] };
    assert.equal((await rita('PUT', `/changes/${changeId}/draft`, amended)).status, 204);
    const submitted = await submitDraft(rita, changeId);
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    for (const page of [pages.ana!, pages.ben!]) {
      const stale = page.getByRole('list', { name: 'Stale votes' });
      await stale.getByText(/ana voted approve on revision 1/).waitFor();
      await page.getByRole('list', { name: 'Changes from revision 1 to 2' }).getByText('changed', { exact: true }).waitFor();
      assert.equal(await tallyCount(page, 'approve').textContent(), '0');
    }
  });

  it('keeps a vote cast while the server is down and sends it once it is back', async () => {
    const ana = pages.ana!;
    const port = server.port;
    const dataDir = server.dataDir;
    await server.app.close();
    await ana.getByRole('status').filter({ hasText: 'Offline' }).waitFor();
    await ana.getByRole('button', { name: 'Approve', exact: true }).click();
    await ana.getByRole('status').filter({ hasText: 'Offline — 1 queued' }).waitFor();
    assert.equal(await ana.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('accord:commands:')).length), 1, 'the queued vote is in localStorage');
    server = await startTestServer({ port, publicUrl: base, dataDir }, (fn) => teardown.push(fn));
    await tallyCount(ana, 'approve').filter({ hasText: '1' }).waitFor({ timeout: 15_000 });
    await ana.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    const view = (await apiAs(server.url, tokens.ana!)<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change;
    assert.equal(view.votes.filter((v) => v.voter === 'ana' && v.revision === 2).length, 1, 'sent once, recorded once');
    await tallyCount(pages.ben!, 'approve').filter({ hasText: '1' }).waitFor({ timeout: 15_000 });
    await pages.ben!.getByRole('list', { name: 'Participants' }).getByText('ana', { exact: true }).waitFor();
    await ana.getByRole('list', { name: 'Participants' }).getByText('ben', { exact: true }).waitFor();
  });
  it('lets a reviewer vote with the keyboard alone, which approves the change under the policy', async () => {
    const { ana, ben } = pages as Record<'ana' | 'ben', Page>;
    await ben.locator('body').focus();
    let reached = false;
    for (let i = 0; i < 120 && !reached; i++) {
      await ben.keyboard.press('Tab');
      reached = await ben.evaluate(() => document.activeElement?.textContent?.trim() === 'Approve');
    }
    assert.ok(reached, 'Tab reaches the Approve button');
    await ben.keyboard.press('Enter');
    const policy = ben.getByRole('region', { name: 'Policy' });
    await policy.getByText('approved', { exact: true }).waitFor();
    assert.equal(await policy.getByText('✗ Not met').count(), 0, 'every requirement is met');
    await ana.getByRole('region', { name: 'Policy' }).getByText('approved', { exact: true }).waitFor();
    await ben.evaluate(() => window.scrollTo(0, 0));
    await ben.screenshot({ path: `${SHOTS}review.png` });
  });

  it('lets the approver sign off with a passkey from the virtual authenticator, on a phone-sized screen', async () => {
    const paul = pages.paul!;
    const cdp = await contexts.paul!.newCDPSession(paul);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    // The home page updated live when the change was approved.
    await paul.getByRole('region', { name: /Waiting for my sign-off/ }).getByRole('link', { name: PROXMOX_CONTENT.title }).click();
    const panel = paul.getByRole('region', { name: 'Sign-off' });
    await panel.getByRole('button', { name: 'Sign off' }).waitFor();
    const view = (await apiAs(server.url, tokens.paul!)<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change;
    await panel.getByText(view.revisions[1]!.hash).waitFor();
    await paul.screenshot({ path: `${SHOTS}sign-off.png` });
    await paul.setViewportSize(PHONE);
    await paul.screenshot({ path: `${SHOTS}sign-off-phone.png` });

    await panel.getByRole('button', { name: 'Sign off' }).focus();
    await paul.keyboard.press('Enter');
    await panel.getByText('Signed off revision 2 with your passkey').waitFor({ timeout: 15_000 });
    const credentials = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.credentials.length, 1, 'a passkey was registered on first sign-off');
    const signed = (await apiAs(server.url, tokens.paul!)<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change;
    assert.equal(signed.signoffs.length, 1);
    assert.equal(signed.signoffs[0]!.approver, 'paul');
    assert.equal(signed.signoffs[0]!.valid, true);
    assert.equal(signed.signoffs[0]!.revisionHash, view.revisions[1]!.hash);
    await pages.ana!.getByText(/paul signed revision 2/).waitFor();
  });


  it('keeps shared notes working at /notes/<name>', async () => {
    const { ana, ben } = pages as Record<'ana' | 'ben', Page>;
    await Promise.all([ana.goto('/notes/e2e-minutes'), ben.goto('/notes/e2e-minutes')]);
    await ana.getByRole('list', { name: 'Participants' }).getByText(/ben/).waitFor();
    await ana.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await ana.getByLabel('Notes').fill('CAB minutes: change approved and signed off.');
    await ben.waitForFunction(() => (document.querySelector('textarea[aria-label="Notes"]') as HTMLTextAreaElement | null)?.value.includes('signed off'));
  });
});
