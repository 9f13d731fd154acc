/**
 * In real Chromium: a reviewer approves revision 1 while, unknown to her page, the requester has just
 * submitted revision 2 (a year instead of 4 hours). The server refuses the vote (`revision_changed`);
 * the page says so next to the vote panel, shows what changed, and offers to vote on revision 2, which
 * then counts. The same for a submit that races another edit (`draft_changed`) and a sign-off that races
 * an amendment. Needs `npx vite build` first. Screenshots go to a temp dir (ACCORD_STALE_SHOTS keeps them).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Page, WebSocketRoute } from 'playwright-core';
import type { Browser } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { launchBrowser, newPage, signIn } from '../helpers/browser.ts';
import { freePort, startTestServer, suiteTeardown, tempDir, type TestServer } from '../helpers/server.ts';
import { amendAndSubmit, currentRevision, submitDraft, voteOverRest } from './hash-helpers.ts';

const PASSWORD = 'stale-vote-pass';
const CONTENT = { ...PROXMOX_CONTENT, durationHours: 4 };

/**
 * The page's Socket.io connection through a proxy that can hold what the server sends (the page then
 * keeps showing what it had: a slow network), and release it in order. What the page sends always goes through.
 */
async function holdableSocket(page: Page): Promise<{ hold(): void; release(): void }> {
  let holding = false;
  const held: { ws: WebSocketRoute; message: string | Buffer }[] = [];
  await page.routeWebSocket(/\/socket\.io\//, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((message) => {
      if (holding) held.push({ ws, message });
      else ws.send(message);
    });
  });
  return {
    hold: () => void (holding = true),
    release: () => {
      holding = false;
      for (const { ws, message } of held.splice(0)) ws.send(message);
    },
  };
}

describe('a decision on content that moved is refused and explained', () => {
  let server: TestServer;
  let browser: Browser;
  let base = '';
  const tokens: Record<string, string> = {};
  const teardown = suiteTeardown();
  const shots = process.env.ACCORD_STALE_SHOTS ?? tempDir('accord-stale-shots-', (fn) => teardown.push(fn));

  before(async () => {
    mkdirSync(shots, { recursive: true });
    const port = await freePort();
    base = `http://localhost:${port}`;
    server = await startTestServer({ port, publicUrl: base }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['paul', 'approver']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    browser = await launchBrowser((fn) => teardown.push(fn));
  });

  async function newChange(): Promise<string> {
    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', CONTENT);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const submitted = await submitDraft(rita, created.body.change.id);
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    return created.body.change.id;
  }

  it('refuses an approve of revision 1 cast after revision 2 was submitted, shows what changed, and counts the vote on revision 2', async (t) => {
    const changeId = await newChange();
    const rita = apiAs(server.url, tokens.rita!);
    const rev1 = await currentRevision(rita, changeId);
    const page = await newPage(browser, base);
    const socket = await holdableSocket(page);
    await signIn(page, 'ana', PASSWORD);
    await page.goto(`/changes/${changeId}`);
    await page.getByRole('heading', { name: 'Vote on revision 1' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();

    // Revision 2 is submitted; ana's page has not heard of it yet when she clicks Approve.
    socket.hold();
    await amendAndSubmit(rita, changeId, { ...CONTENT, durationHours: 8760 });
    const rev2 = await currentRevision(rita, changeId);
    await page.getByRole('button', { name: 'Approve', exact: true }).click();
    await page.getByText('1 queued').or(page.getByText('Sending…')).first().waitFor();
    // Let the vote reach the server before its answer and revision 2 reach the page.
    await new Promise((r) => setTimeout(r, 300));
    socket.release();

    const notice = page.getByRole('alert').filter({ hasText: 'Not counted: the change was amended after you looked.' });
    await notice.waitFor();
    const changes = notice.getByRole('list', { name: 'What changed from revision 1 to revision 2' });
    await changes.getByText('Duration').waitFor();
    assert.match((await changes.textContent()) ?? '', /Duration: 4 h → 8,760 h/);
    assert.match((await notice.textContent()) ?? '', new RegExp(`revision 1 ${rev1.hash.slice(0, 12)}.*revision 2 ${rev2.hash.slice(0, 12)}`));
    await page.getByRole('heading', { name: 'Vote on revision 2' }).waitFor();
    // The notice sits inside the vote panel; the list at the top says it in one line.
    assert.equal(await page.getByRole('region', { name: 'Vote on revision 2' }).getByRole('alert').count(), 1);
    await page.getByRole('alert').filter({ hasText: 'Refused by the server' }).getByText('Approve revision 1: not counted').waitFor();
    assert.equal(await page.getByRole('region', { name: 'Tally' }).getByTestId('tally-approve').textContent(), '0', 'nothing counted');

    // Never re-sent by itself.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change.votes.length, 0);

    for (const [width, height] of [[390, 844], [1280, 900]] as const) {
      await page.setViewportSize({ width, height });
      await notice.scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${shots}/stale-vote-${width}.png`, fullPage: false });
    }
    t.diagnostic(`screenshots: ${shots}/stale-vote-{390,1280}.png`);

    await notice.getByRole('button', { name: 'Approve revision 2' }).click();
    await page.getByRole('region', { name: 'Tally' }).getByTestId('tally-approve').filter({ hasText: '1' }).waitFor();
    await page.getByText('You voted approve').waitFor();
    assert.equal(await notice.count(), 0, 'the notice goes once the new vote is cast');
    const view = (await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change;
    assert.deepEqual(view.votes.map((v) => [v.voter, v.choice, v.revision, v.revisionHash]), [['ana', 'approve', 2, rev2.hash]]);
    await page.context().close();
  });

  it('refuses a submit when another edit reached the draft first, and shows that edit', async () => {
    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', CONTENT);
    const changeId = created.body.change.id;
    const page = await newPage(browser, base);
    const socket = await holdableSocket(page);
    await signIn(page, 'rita', PASSWORD);
    await page.goto(`/changes/${changeId}/edit`);
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await page.getByLabel('Duration (hours)').waitFor();
    assert.equal(await page.getByLabel('Duration (hours)').inputValue(), '4');

    socket.hold();
    assert.equal((await rita('PUT', `/changes/${changeId}/draft`, { ...CONTENT, durationHours: 48 })).status, 204);
    await page.getByRole('button', { name: 'Submit for review' }).click();
    await new Promise((r) => setTimeout(r, 300));
    socket.release();

    const notice = page.getByRole('alert').filter({ hasText: 'Not submitted: the draft changed since you looked.' });
    await notice.waitFor();
    const changes = notice.getByRole('list', { name: 'What changed in the draft since you clicked Submit' });
    await changes.getByText('Duration').waitFor();
    assert.match((await changes.textContent()) ?? '', /Duration: 4 h → 48 h/);
    await page.setViewportSize({ width: 390, height: 844 });
    await notice.screenshot({ path: `${shots}/draft-changed-390.png` });
    assert.equal((await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change.revisions.length, 0, 'nothing submitted');

    await page.getByRole('button', { name: 'Submit the draft as it is now' }).click();
    await page.getByRole('heading', { name: 'Vote on revision 1' }).waitFor();
    const view = (await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change;
    assert.equal(view.revisions[0]!.content.durationHours, 48);
    await page.context().close();
  });

  it('refuses a sign-off when the change is amended during the passkey ceremony, and says which revision is current', async () => {
    const changeId = await newChange();
    const rita = apiAs(server.url, tokens.rita!);
    for (const name of ['ana', 'ben']) {
      const voted = await voteOverRest(apiAs(server.url, tokens[name]!), changeId, { choice: 'approve' });
      assert.equal(voted.status, 201, JSON.stringify(voted.body));
    }
    const rev1 = await currentRevision(rita, changeId);
    assert.equal((await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change.status, 'approved');

    const page = await newPage(browser, base);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await signIn(page, 'paul', PASSWORD);
    await page.goto(`/changes/${changeId}`);
    const panel = page.getByRole('region', { name: 'Sign-off' });
    await panel.getByLabel('Revision hash').filter({ hasText: rev1.hash }).waitFor();

    // The requester amends just as paul's challenge is requested: the request names revision 1.
    const named: string[] = [];
    await page.route('**/signoffs/options', async (route) => {
      named.push((route.request().postDataJSON() as { revisionHash: string }).revisionHash);
      await amendAndSubmit(rita, changeId, { ...CONTENT, durationHours: 24 });
      await route.continue();
    });
    await panel.getByRole('button', { name: 'Sign off' }).click();
    const notice = page.getByRole('alert').filter({ hasText: 'Nothing was signed: the change was amended.' });
    await notice.waitFor();
    assert.deepEqual(named, [rev1.hash], 'the hash shown is the hash sent');
    await notice.getByRole('list', { name: 'What changed from revision 1 to 2' }).getByText('Duration').waitFor();
    assert.match((await notice.textContent()) ?? '', /You were signing revision 1/);
    assert.match((await notice.textContent()) ?? '', /current revision is revision 2/);
    await page.setViewportSize({ width: 390, height: 844 });
    await notice.screenshot({ path: `${shots}/signoff-amended-390.png` });
    const view = (await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change;
    assert.equal(view.signoffs.length, 0);
    await page.context().close();
  });
});
