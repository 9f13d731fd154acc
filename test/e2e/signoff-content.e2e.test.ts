/**
 * In real Chromium: everything a revision's hash binds (title, justification, backend, ticket,
 * duration, environment, items with their expiry) is shown to reviewers on the review page and to the
 * approver on the sign-off panel, and stays on screen at 390 px (issue 23, defect 6). Amending is
 * offered only where it makes sense, saying what it does to a decided change; once an approved change
 * has a valid sign-off, it is no longer offered and the page says why (defect 11).
 * Needs `npx vite build` first. Screenshots go to `screenshotDir()` (a temp dir).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { launchBrowser, newPage, screenshotDir, signIn } from '../helpers/browser.ts';
import { freePort, startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { currentRevision, submitDraft, voteOverRest } from './hash-helpers.ts';

const PASSWORD = 'signoff-content-pass';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const EXPIRES = '2031-06-30T18:00:00Z';
const CONTENT = {
  ...PROXMOX_CONTENT,
  durationHours: 4,
  environment: ['production', 'payments'],
  items: [
    { ...PROXMOX_CONTENT.items[0]!, grant: { ...PROXMOX_CONTENT.items[0]!.grant, expiresAt: EXPIRES } },
    PROXMOX_CONTENT.items[1]!,
  ],
};

/** The text of the definition next to a term, inside `scope`. */
function fact(scope: Locator, term: string): Locator {
  return scope.locator(`dt:text-is("${term}") + dd`);
}

/** Every element in `scope` matched by `selector` lies inside the viewport's width (nothing cut off at the right). */
async function assertInsideWidth(page: Page, scope: Locator, selector: string, what: string): Promise<void> {
  const width = page.viewportSize()!.width;
  const boxes = await scope.locator(selector).evaluateAll((els) => els.map((e) => {
    const r = e.getBoundingClientRect();
    return { text: (e.textContent ?? '').trim().slice(0, 40), left: r.left, right: r.right };
  }));
  assert.ok(boxes.length > 0, `${what}: found nothing to measure`);
  for (const b of boxes) assert.ok(b.left >= 0 && b.right <= width + 0.5, `${what}: “${b.text}” spans ${b.left}–${b.right} px in a ${width} px window`);
}

describe('what the signature binds is on screen; amending follows the decision', () => {
  let server: TestServer;
  let browser: Browser;
  let base = '';
  let changeId = '';
  const tokens: Record<string, string> = {};
  const teardown = suiteTeardown();
  const shots = screenshotDir();

  before(async () => {
    const port = await freePort();
    base = `http://localhost:${port}`;
    server = await startTestServer({ port, publicUrl: base }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['paul', 'approver']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', CONTENT);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    changeId = created.body.change.id;
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    browser = await launchBrowser((fn) => teardown.push(fn));
  });

  /** Checks every bound field in `scope` (a region of the page). */
  async function assertBoundFields(scope: Locator, opts: { title: boolean; items: boolean }): Promise<void> {
    if (opts.title) assert.equal((await fact(scope, 'Title').innerText()).trim(), CONTENT.title);
    assert.equal((await fact(scope, 'Backend').innerText()).trim(), 'proxmox');
    assert.equal((await fact(scope, 'Ticket').innerText()).trim(), 'OPS-1234');
    assert.match(await fact(scope, 'Duration').innerText(), /^4 hours\b/);
    const env = await fact(scope, 'Environment').innerText();
    assert.match(env, /production/);
    assert.match(env, /payments/);
    assert.match(await fact(scope, 'Justification').innerText(), /On-call needs to restart the payment VM/);
    if (opts.items) {
      const items = await fact(scope, 'Items').innerText();
      assert.match(items, /i1/);
      assert.match(items, /devs/);
      assert.match(items, /i2/);
      assert.match(items, /carol@ldap/);
    }
    // The item expiry is part of the item hash: it is shown in words.
    assert.match(await scope.innerText(), /i1[^]*2031-06-30 18:00 UTC/);
    for (const term of ['Backend', 'Ticket', 'Duration', 'Environment', 'Justification']) {
      assert.ok(await fact(scope, term).isVisible(), `${term} is visible, not folded away`);
    }
  }

  it('shows a reviewer the duration and every other bound field, readable at 390 px', async () => {
    const page = await newPage(browser, base, PHONE);
    await signIn(page, 'ana', PASSWORD);
    await page.goto(`/changes/${changeId}`);
    const request = page.getByRole('region', { name: 'Request' });
    await request.waitFor();
    await assertBoundFields(request, { title: false, items: false });
    await page.getByRole('heading', { name: CONTENT.title, level: 1 }).waitFor();
    await assertInsideWidth(page, request, 'dt, dd', 'the request at 390 px');
    await page.screenshot({ path: `${shots}signoff-content-review-phone.png`, fullPage: true });
    await request.screenshot({ path: `${shots}signoff-content-request-phone.png` });
    await page.setViewportSize(DESKTOP);
    await page.screenshot({ path: `${shots}signoff-content-review-desktop.png` });
    await page.context().close();
  });

  it('shows the approver everything the signature binds on the sign-off panel, readable at 390 px', async () => {
    const rita = apiAs(server.url, tokens.rita!);
    for (const who of ['ana', 'ben']) assert.equal((await voteOverRest(apiAs(server.url, tokens[who]!), changeId, { choice: 'approve' })).status, 201);
    assert.equal((await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change.status, 'approved');

    const page = await newPage(browser, base, PHONE);
    await signIn(page, 'paul', PASSWORD);
    await page.goto(`/changes/${changeId}`);
    const panel = page.getByRole('region', { name: 'Sign-off' });
    await panel.getByRole('button', { name: 'Sign off' }).waitFor();
    const signed = panel.getByRole('group', { name: 'What you sign' });
    await signed.waitFor();
    await assertBoundFields(signed, { title: true, items: true });
    await panel.getByText((await currentRevision(rita, changeId)).hash).waitFor();
    await assertInsideWidth(page, signed, 'dt, dd, li', 'the sign-off panel at 390 px');
    await page.screenshot({ path: `${shots}signoff-content-panel-phone.png`, fullPage: true });
    await signed.screenshot({ path: `${shots}signoff-content-bound-phone.png` });
    await page.setViewportSize(DESKTOP);
    await page.screenshot({ path: `${shots}signoff-content-panel-desktop.png` });
    await page.context().close();
  });

  it('offers amending an approved change with what it does, and stops offering it once it is signed off', async () => {
    const page = await newPage(browser, base, DESKTOP);
    await signIn(page, 'rita', PASSWORD);
    await page.goto(`/changes/${changeId}`);
    const amend = page.getByRole('link', { name: 'Amend the draft' });
    await amend.waitFor();
    await page.getByText(/Amending reopens the review/).waitFor();

    // paul signs off revision 1 (over REST, with a software passkey): rita's page follows live.
    const paul = apiAs(server.url, tokens.paul!);
    const auth = new SoftAuthenticator();
    const reg = (await paul('POST', '/passkeys/options')).body as { options: Parameters<SoftAuthenticator['createCredential']>[0] };
    assert.equal((await paul('POST', '/passkeys', { response: auth.createCredential(reg.options, base) })).status, 201);
    const { hash } = await currentRevision(paul, changeId);
    const opts = (await paul('POST', `/changes/${changeId}/signoffs/options`, { revisionHash: hash })).body as { options: Parameters<SoftAuthenticator['getAssertion']>[0] };
    const signed = await paul('POST', `/changes/${changeId}/signoffs`, { response: auth.getAssertion(opts.options, base), revisionHash: hash });
    assert.equal(signed.status, 201, JSON.stringify(signed.body));

    await amend.waitFor({ state: 'detached' });
    await page.getByText(/Signed off by paul: revision 1 is final/).waitFor();
    assert.equal(await page.getByRole('link', { name: /Amend|Edit the draft/ }).count(), 0);
    await page.screenshot({ path: `${shots}signoff-content-final.png` });
    await page.context().close();
  });

  it('offers amending a rejected change, saying it reopens the review', async () => {
    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', { ...CONTENT, title: 'Console for the payments team' });
    const id = created.body.change.id;
    assert.equal((await submitDraft(rita, id)).status, 201);
    const rejected = await voteOverRest(apiAs(server.url, tokens.ana!), id, { choice: 'reject', reason: 'Too broad for on-call.' });
    assert.equal(rejected.status, 201, JSON.stringify(rejected.body));
    assert.equal((await rita<{ change: ReviewView }>('GET', `/changes/${id}`)).body.change.status, 'rejected');

    const page = await newPage(browser, base, DESKTOP);
    await signIn(page, 'rita', PASSWORD);
    await page.goto(`/changes/${id}`);
    await page.getByRole('link', { name: 'Amend the draft' }).waitFor();
    await page.getByText(/Amending reopens the review/).waitFor();
    await page.context().close();
  });
});
