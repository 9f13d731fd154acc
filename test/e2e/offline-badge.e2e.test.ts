/**
 * End to end in real headless Chromium: the review page says Offline within a second of the network
 * going away, and what waits to be sent (how many, and what: votes, annotations), whether the browser
 * notices (its `offline` event; on `localhost` neither Engine.IO nor Chromium closes the WebSocket) or
 * not (a network that silently drops everything: the page finds out when a command goes unanswered and
 * Accord's health endpoint does not answer either). Back online, what waited is sent once.
 * Needs `npx vite build` first. Screenshots (390 px and 1280 px) go to `screenshotDir()`.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { submitDraft } from './hash-helpers.ts';
import { LIVE_MS, launchBrowser, screenshotDir, signIn } from '../helpers/browser.ts';
import { freePort, startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'offline-badge-pass';
const SHOTS = screenshotDir();
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
/** The badge says Offline this soon after the browser reports the network gone. */
const BROWSER_OFFLINE_MS = 1_000;
/**
 * On a network that drops packets without a word, the page cannot know before something goes unanswered:
 * the health probe gets a second (PROBE_TIMEOUT_MS), plus a little for the page to draw it.
 */
const SILENT_OFFLINE_MS = 1_500;

describe('the review page says when it is offline and what waits', () => {
  let server: TestServer;
  let browser: Browser;
  let base = '';
  let changeId = '';
  const tokens: Record<string, string> = {};
  const teardown = suiteTeardown();

  before(async () => {
    const port = await freePort();
    base = `http://localhost:${port}`;
    server = await startTestServer({ port, publicUrl: base }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    changeId = created.body.change.id;
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    browser = await launchBrowser((fn) => teardown.push(fn));
  });

  async function openReview(context: BrowserContext, name: string): Promise<Page> {
    const page = await context.newPage();
    page.setDefaultTimeout(LIVE_MS);
    await signIn(page, name, PASSWORD);
    await page.goto(`/changes/${changeId}`);
    await badge(page).filter({ hasText: 'Connected' }).waitFor();
    return page;
  }
  const badge = (page: Page) => page.locator('.badge[role="status"]');
  const votePanel = (page: Page) => page.getByRole('region', { name: /Vote on revision/ });
  const votesOf = async (voter: string) => {
    const res = await apiAs(server.url, tokens.root!)<{ change: ReviewView }>('GET', `/changes/${changeId}`);
    return res.body.change.votes.filter((v) => v.voter === voter);
  };

  it('says Offline within a second of the browser going offline, lists what waits, and sends it once when back', async (t) => {
    const context = await browser.newContext({ viewport: DESKTOP, baseURL: base });
    try {
      const page = await openReview(context, 'ana');
      const start = Date.now();
      await context.setOffline(true);
      await badge(page).filter({ hasText: 'Offline' }).waitFor({ timeout: BROWSER_OFFLINE_MS });
      const shownAfter = Date.now() - start;
      t.diagnostic(`Offline shown ${shownAfter} ms after the browser went offline`);
      assert.ok(shownAfter <= BROWSER_OFFLINE_MS, `Offline shown after ${shownAfter} ms`);

      // What the user does meanwhile waits, and the page says what it is.
      await page.getByRole('button', { name: 'Abstain', exact: true }).click();
      await badge(page).filter({ hasText: 'Offline — 1 queued' }).waitFor();
      await votePanel(page).getByText('1 queued: Abstain revision 1 — sent when Accord is reachable again.').waitFor();
      await page.getByRole('button', { name: 'Annotate item i2' }).click();
      await page.getByLabel('Add annotation').fill('Why does carol need PVEVMUser with propagate?');
      await page.getByRole('button', { name: 'Post annotation' }).click();
      await votePanel(page).getByText('2 queued: Abstain revision 1; Annotate item i2 — sent when Accord is reachable again.').waitFor();
      await page.getByRole('list', { name: 'Annotations waiting to be sent' }).getByText('On item i2: Why does carol need PVEVMUser with propagate?').waitFor();
      await badge(page).filter({ hasText: 'Offline — 2 queued' }).waitFor();
      for (const [viewport, suffix] of [[DESKTOP, ''], [PHONE, '-phone']] as const) {
        await page.setViewportSize(viewport);
        await badge(page).scrollIntoViewIfNeeded();
        await page.screenshot({ path: `${SHOTS}offline-badge${suffix}.png` });
        await votePanel(page).scrollIntoViewIfNeeded();
        await page.screenshot({ path: `${SHOTS}offline-queued${suffix}.png` });
      }
      await page.setViewportSize(DESKTOP);
      assert.deepEqual(await votesOf('ana'), [], 'nothing reached the server while offline');

      await context.setOffline(false);
      await badge(page).filter({ hasText: 'Connected' }).waitFor();
      await page.getByRole('region', { name: 'Tally' }).getByTestId('tally-abstain').filter({ hasText: '1' }).waitFor();
      await page.getByRole('list', { name: 'Annotation threads' }).getByText('Why does carol need PVEVMUser with propagate?').waitFor();
      assert.equal(await page.getByRole('list', { name: 'Annotations waiting to be sent' }).count(), 0);
      assert.equal((await votesOf('ana')).length, 1, 'the queued vote counted once');
    } finally {
      await context.close();
    }
  });

  it('says Offline about a second after a command goes unanswered on a network that drops everything silently', async (t) => {
    const context = await browser.newContext({ viewport: DESKTOP, baseURL: base });
    try {
      // A network that swallows packets without closing anything: the WebSocket stays "open" and silent,
      // new connections never complete their handshake, HTTP requests never get an answer.
      let dropping = false;
      await context.routeWebSocket(/\/socket\.io\//, (ws) => {
        if (dropping) return; // a mocked socket that never answers: the handshake times out
        const upstream = ws.connectToServer();
        upstream.onMessage((message) => void (dropping || ws.send(message)));
        ws.onMessage((message) => void (dropping || upstream.send(message)));
      });
      await context.route('**/api/health', (route) => (dropping ? undefined : route.continue()));
      const page = await openReview(context, 'ben');

      dropping = true;
      // Idle, nothing tells the page (Socket.io's own heartbeat takes up to 45 s).
      const start = Date.now();
      await page.getByRole('button', { name: 'Approve', exact: true }).click();
      await badge(page).filter({ hasText: 'Offline' }).waitFor({ timeout: SILENT_OFFLINE_MS + 500 });
      const shownAfter = Date.now() - start;
      t.diagnostic(`Offline shown ${shownAfter} ms after the unanswered click`);
      assert.ok(shownAfter <= SILENT_OFFLINE_MS, `Offline shown ${shownAfter} ms after the click`);
      await badge(page).filter({ hasText: 'Offline — 1 queued' }).waitFor();
      await votePanel(page).getByText('1 queued: Approve revision 1 — sent when Accord is reachable again.').waitFor();

      dropping = false;
      await badge(page).filter({ hasText: 'Connected' }).waitFor();
      await page.getByRole('region', { name: 'Tally' }).getByTestId('tally-approve').filter({ hasText: '1' }).waitFor();
      assert.equal((await votesOf('ben')).length, 1, 'the vote counted once');
    } finally {
      await context.close();
    }
  });
});
