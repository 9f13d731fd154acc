/**
 * End to end in real headless Chromium against a real server: live documents are kept in the
 * browser's IndexedDB per user. Notes typed while the server is down survive closing the tab and reach
 * the server (and another user) on the next visit; a page shows its local copy before the server
 * answers; signing out deletes the user's databases. Needs `npx vite build` first.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { SocketProvider } from '../../web/lib/socket-provider.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { submitDraft } from './hash-helpers.ts';
import { LIVE_MS, launchBrowser, signIn } from '../helpers/browser.ts';
import { connect, startTestServer, suiteTeardown, until, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'offline-docs-pass';
const NOTES = 'notes:offline-e2e';
const ONLINE = 'Typed online.';
const OFFLINE = ' Typed while the server was down.';

/** Names of this origin's IndexedDB databases. */
const databases = (page: Page) => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ''));

/** True once the y-indexeddb database `name` (which must exist) stores an update containing `needle`. */
const storesText = (page: Page, name: string, needle: string) => page.evaluate(async ([dbName, text]) => {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const open = indexedDB.open(dbName!);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  try {
    const updates = await new Promise<Uint8Array[]>((resolve, reject) => {
      const read = db.transaction('updates', 'readonly').objectStore('updates').getAll();
      read.onsuccess = () => resolve(read.result as Uint8Array[]);
      read.onerror = () => reject(read.error);
    });
    // Yjs stores inserted text as UTF-8 inside the update: one insertion is one contiguous run.
    const decoder = new TextDecoder();
    return updates.some((u) => decoder.decode(u).includes(text!));
  } finally {
    db.close();
  }
}, [name, needle]);

/** Polls an async condition (no fixed sleeps): resolves when it holds, fails after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = LIVE_MS): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('offline documents in the browser', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let changeId = '';
  const tokens: Record<string, string> = {};
  const teardown = suiteTeardown();


  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    changeId = created.body.change.id;
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    browser = await launchBrowser((fn) => teardown.push(fn));
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: server.url });
    context.setDefaultTimeout(LIVE_MS);
  });

  const notesValue = (page: Page) => page.getByLabel('Notes').inputValue();

  it('keeps notes typed offline across closing the tab, shows them before the server answers, and sends them on the next visit', async () => {
    // ben follows the notes from Node, over the server.
    const benProvider = new SocketProvider(connect(server.url, tokens.ben!, {}, (fn) => teardown.push(fn)), NOTES);
    teardown.push(() => benProvider.destroy());
    const benText = () => benProvider.doc.getText('body').toString();

    let page = await context.newPage();
    await signIn(page, 'ana', PASSWORD);
    await page.goto(`/notes/${NOTES.slice('notes:'.length)}`);
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await page.getByLabel('Notes').fill(ONLINE);
    await until(() => benText() === ONLINE, 'ben sees the online text');
    assert.ok((await databases(page)).includes(`accord:ana:${NOTES}`), 'the notes have a database named for ana and the document');

    // The server goes down; ana keeps typing, and the local copy keeps what she types.
    const { port, dataDir } = server;
    await server.app.close();
    await page.getByRole('status').filter({ hasText: 'Offline' }).waitFor();
    await until(() => benProvider.status === 'offline', 'ben is offline too');
    await page.getByLabel('Notes').fill(ONLINE + OFFLINE);
    await eventually(() => storesText(page, `accord:ana:${NOTES}`, OFFLINE), 'the offline text stored in IndexedDB');
    await page.close();

    server = await startTestServer({ port, dataDir }, (fn) => teardown.push(fn));
    await until(() => benProvider.status === 'synced', 'ben synced again after the restart');
    assert.equal(benText(), ONLINE, 'the server has not seen the offline text yet: it exists only in ana\'s browser');

    // With the socket held (never answered), the page still shows the local copy.
    page = await context.newPage();
    await page.routeWebSocket(/\/socket\.io\//, () => { /* never connect: the server stays silent */ });
    await page.goto(`/notes/${NOTES.slice('notes:'.length)}`);
    await page.waitForFunction((text) => (document.querySelector('textarea[aria-label="Notes"]') as HTMLTextAreaElement | null)?.value === text, ONLINE + OFFLINE);
    assert.equal(await page.getByRole('status').getAttribute('data-state'), 'syncing', 'shown from the local copy, not from the server');
    await page.close();

    // A normal visit: the provider sends what the server misses, and ben gets it from the server.
    page = await context.newPage();
    await page.goto(`/notes/${NOTES.slice('notes:'.length)}`);
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    assert.equal(await notesValue(page), ONLINE + OFFLINE);
    await until(() => benText() === ONLINE + OFFLINE, 'ben sees the text typed offline');
    const late = new SocketProvider(connect(server.url, tokens.ben!, {}, (fn) => teardown.push(fn)), NOTES);
    teardown.push(() => late.destroy());
    await late.whenSynced();
    assert.equal(late.doc.getText('body').toString(), ONLINE + OFFLINE, 'stored by the server, not only relayed');
    await page.close();
  });

  it('shows a review from the local copy before the server answers', async () => {
    let page = await context.newPage();
    await page.goto(`/changes/${changeId}`);
    await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    await eventually(async () => (await databases(page)).includes(`accord:ana:review:${changeId}`), 'the review cached');
    await page.close();

    page = await context.newPage();
    await page.routeWebSocket(/\/socket\.io\//, () => { /* never connect */ });
    await page.goto(`/changes/${changeId}`);
    await page.getByRole('heading', { name: PROXMOX_CONTENT.title, level: 1 }).waitFor();
    await page.getByRole('listitem', { name: 'Item i2' }).waitFor();
    assert.match(await page.getByRole('status').first().getAttribute('data-state') ?? '', /^(offline|syncing)$/, 'not connected: this is the local copy');
    await page.close();
  });

  it('deletes the user\'s databases on sign-out, and keeps each account\'s copies apart', async () => {
    const page = await context.newPage();
    await page.goto(`/notes/${NOTES.slice('notes:'.length)}`);
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    const before = (await databases(page)).filter((n) => n.startsWith('accord:ana:'));
    assert.deepEqual(before.sort(), [`accord:ana:${NOTES}`, `accord:ana:review:${changeId}`].sort());
    assert.ok(await page.evaluate(() => localStorage.getItem('accord:docs:ana')), 'the list of ana\'s databases is kept');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Username').waitFor();
    await eventually(async () => (await databases(page)).every((n) => !n.startsWith('accord:ana:')), 'ana\'s databases deleted');
    assert.equal(await page.evaluate(() => localStorage.getItem('accord:docs:ana')), null);

    // ben signs in on the same browser: his copy is his own database.
    await signIn(page, 'ben', PASSWORD);
    await page.goto(`/notes/${NOTES.slice('notes:'.length)}`);
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    assert.equal(await notesValue(page), ONLINE + OFFLINE);
    await eventually(async () => (await databases(page)).includes(`accord:ben:${NOTES}`), 'ben\'s database created');
    assert.deepEqual((await databases(page)).filter((n) => n.startsWith('accord:ana:')), []);
    await page.close();
  });
});
