/**
 * End to end in real headless Chromium: a joint session. A facilitator opens it from the sessions page
 * with two changes on the agenda; a reviewer joins from another browser context; both see each other;
 * the facilitator moves the room and the reviewer follows; the reviewer browses freely and comes back;
 * a decision taken in the embedded review reaches both pages' decisions and the shared minutes.
 * Needs `npx vite build` first (the server serves web/dist).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { submitDraft, voteOverRest } from './hash-helpers.ts';
import { startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { launchBrowser, newPage, signIn, screenshotDir } from '../helpers/browser.ts';

const SHOTS = screenshotDir();
const PASSWORD = 'review-board-pass';
const TITLES = ['Power for the on-call team', 'Console for the database team'];
/** In review but not on the agenda at first: the facilitator adds it later. */
const LATE = 'Backup operator for the weekend';

describe('joint session in the browser', () => {
  let server: TestServer;
  let browser: Browser;
  const tokens: Record<string, string> = {};
  const pages: Record<string, Page> = {};
  const changes: string[] = [];
  let sessionUrl = '';
  const teardown = suiteTeardown();


  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer({}, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['fran', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    const rita = apiAs(server.url, tokens.rita!);
    for (const title of [...TITLES, LATE]) {
      const created = await rita<{ change: ReviewView }>('POST', '/changes', { ...PROXMOX_CONTENT, title });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      changes.push(created.body.change.id);
      assert.equal((await submitDraft(rita, created.body.change.id)).status, 201);
    }
    browser = await launchBrowser((fn) => teardown.push(fn));
    for (const name of ['fran', 'ana']) pages[name] = await newPage(browser, server.url, { width: 1360, height: 900 });
  });

  // The embedded review has its own participants list; the session's is in its Participants region.
  const agenda = (page: Page) => page.getByRole('region', { name: /^Agenda/ });
  const person = (page: Page, name: string) =>
    page.getByRole('region', { name: /^Participants/ }).getByRole('list', { name: 'Participants' }).getByRole('listitem').filter({ has: page.getByText(name, { exact: true }) });
  const embeddedTitle = (page: Page, title: string) => page.locator('.embedded-review').getByRole('heading', { name: title, level: 1 });

  it('a facilitator opens a session from the sessions page; a reviewer joins; both see each other', async () => {
    const { fran, ana } = pages as Record<'fran' | 'ana', Page>;
    await Promise.all([signIn(fran, 'fran', PASSWORD), signIn(ana, 'ana', PASSWORD)]);
    await fran.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sessions' }).click();
    await fran.getByLabel('Title').fill('Weekly CAB');
    for (const title of TITLES) await fran.getByRole('checkbox', { name: new RegExp(title) }).check();
    await fran.getByRole('button', { name: 'Open session' }).click();
    await fran.getByRole('heading', { name: 'Weekly CAB', level: 1 }).waitFor();
    sessionUrl = new URL(fran.url()).pathname;
    assert.match(sessionUrl, /^\/sessions\/s-[0-9a-f]+$/);

    await ana.goto(sessionUrl);
    await ana.getByRole('heading', { name: 'Weekly CAB', level: 1 }).waitFor();
    await fran.getByRole('region', { name: /^Participants/ }).getByRole('list', { name: 'Participants' }).getByText('ana', { exact: true }).waitFor();
    await ana.getByRole('region', { name: /^Participants/ }).getByRole('list', { name: 'Participants' }).getByText('fran', { exact: true }).waitFor();
    await ana.getByText('Waiting for the facilitator to open an item.').waitFor();
    // Only the facilitator has the controls; the reviewer has none to press.
    assert.equal(await ana.getByRole('button', { name: 'Start with item 1' }).count(), 0);
    assert.equal(await ana.getByRole('checkbox', { name: 'Follow the presenter' }).isChecked(), true, 'following is on by default');
  });

  it('the facilitator moves the room; a follower\'s page moves with it, with the item\'s clock running', async () => {
    const { fran, ana } = pages as Record<'fran' | 'ana', Page>;
    await fran.getByRole('button', { name: 'Start with item 1' }).click();
    await embeddedTitle(ana, TITLES[0]!).waitFor();
    await agenda(ana).getByRole('listitem').filter({ hasText: TITLES[0]! }).getByText('Now discussing').waitFor();
    await ana.getByRole('region', { name: 'Timer' }).getByText(/left of 10 min/).waitFor();

    await fran.getByRole('button', { name: `Discuss item 2: ${TITLES[1]}` }).click();
    await embeddedTitle(ana, TITLES[1]!).waitFor();
    await person(fran, 'ana').getByText(`following: ${TITLES[1]}`).waitFor();
    await fran.getByRole('button', { name: `Discuss item 1: ${TITLES[0]}` }).click();
    await embeddedTitle(ana, TITLES[0]!).waitFor();
  });

  it('a participant browses freely with one click, the facilitator sees it, and one click brings them back', async () => {
    const { fran, ana } = pages as Record<'fran' | 'ana', Page>;
    await ana.getByRole('button', { name: `View item 2: ${TITLES[1]}` }).click();
    await embeddedTitle(ana, TITLES[1]!).waitFor();
    assert.equal(await ana.getByRole('checkbox', { name: 'Follow the presenter' }).isChecked(), false);
    await person(fran, 'ana').getByText(`browsing: ${TITLES[1]}`).waitFor();
    // The room stays where the facilitator put it.
    await embeddedTitle(fran, TITLES[0]!).waitFor();
    await ana.getByRole('button', { name: 'Back to the room (item 1)' }).click();
    await embeddedTitle(ana, TITLES[0]!).waitFor();
    await person(fran, 'ana').getByText(`following: ${TITLES[0]}`).waitFor();
  });

  it('a follower\'s page scrolls to the item the presenter looks at inside the change', async () => {
    const { fran, ana } = pages as Record<'fran' | 'ana', Page>;
    await ana.setViewportSize({ width: 1360, height: 560 });
    await embeddedTitle(ana, TITLES[0]!).waitFor();
    await ana.evaluate(() => window.scrollTo(0, 0));
    const inView = (id: string) => ana.evaluate((itemId) => {
      const box = document.querySelector(`.embedded-review [data-item="${itemId}"]`)?.getBoundingClientRect();
      return box !== undefined && box.top >= 0 && box.bottom <= window.innerHeight;
    }, id);
    assert.equal(await inView('i2'), false, 'item i2 starts below the fold');
    await fran.locator('.embedded-review').getByRole('listitem', { name: 'Item i2' }).hover();
    await ana.waitForFunction(() => {
      const box = document.querySelector('.embedded-review [data-item="i2"]')?.getBoundingClientRect();
      return box !== undefined && box.top >= 0 && box.bottom <= window.innerHeight;
    });
    await ana.locator('.embedded-review').getByRole('listitem', { name: 'Item i2' }).getByText('fran looking').waitFor();
    await ana.setViewportSize({ width: 1360, height: 900 });
  });

  it('a decision taken in the session reaches both pages and the shared minutes as it happens', async () => {
    const { fran, ana } = pages as Record<'fran' | 'ana', Page>;
    await ana.getByRole('textbox', { name: 'Minutes' }).waitFor();
    await ana.getByRole('textbox', { name: 'Minutes' }).press('End');
    await ana.getByRole('textbox', { name: 'Minutes' }).pressSequentially('\nAna: on-call rota confirmed with the DB team.\n');
    await fran.waitForFunction(() => (document.querySelector('textarea[aria-label="Minutes"]') as HTMLTextAreaElement | null)?.value.includes('rota confirmed') === true);

    await ana.locator('.embedded-review').getByRole('button', { name: 'Approve', exact: true }).click();
    const ben = apiAs(server.url, tokens.ben!);
    assert.equal((await voteOverRest(ben, changes[0]!, { choice: 'approve' })).status, 201);

    for (const page of [fran, ana]) {
      await page.getByRole('list', { name: 'Decisions' }).getByText(/approved \(2 approve, 0 reject, 0 abstain\)/).waitFor();
      await agenda(page).getByRole('listitem').filter({ hasText: TITLES[0]! }).getByText('approved').waitFor();
    }
    await ana.waitForFunction(() => /approved \(2 approve/.test((document.querySelector('textarea[aria-label="Minutes"]') as HTMLTextAreaElement | null)?.value ?? ''));

    await fran.getByLabel('Record a decision').fill('Apply after the Friday freeze.');
    await fran.getByRole('button', { name: 'Record', exact: true }).click();
    await ana.getByRole('list', { name: 'Decisions' }).getByText('Apply after the Friday freeze.').waitFor();
    const minutes = await ana.getByRole('textbox', { name: 'Minutes' }).inputValue();
    assert.ok(minutes.indexOf('rota confirmed') < minutes.indexOf('approved (2 approve'), 'what participants wrote stays; Accord appends after it');
    assert.match(minutes, /Apply after the Friday freeze\. \(fran\)/);
    await fran.evaluate(() => window.scrollTo(0, 0));
    await fran.screenshot({ path: `${SHOTS}session.png`, fullPage: false });
  });
  it('the facilitator reorders and extends the agenda; everyone sees it, and a browsing participant keeps their change', async () => {
    const { fran, ana } = pages as Record<'fran' | 'ana', Page>;
    const order = (page: Page) => agenda(page).locator('.agenda-title').allTextContents();
    await ana.getByRole('button', { name: `View item 2: ${TITLES[1]}` }).click();
    await embeddedTitle(ana, TITLES[1]!).waitFor();
    await fran.getByRole('button', { name: 'Move item 2 up' }).click();
    await ana.waitForFunction((first) => document.querySelector('.agenda .agenda-title')?.textContent === first, TITLES[1]);
    assert.deepEqual(await order(ana), [TITLES[1], TITLES[0]]);
    await embeddedTitle(ana, TITLES[1]!).waitFor(); // still the change ana chose, now item 1
    await fran.getByLabel('Add to agenda').selectOption({ label: LATE });
    await fran.getByRole('button', { name: 'Add', exact: true }).click();
    await ana.waitForFunction((n) => document.querySelectorAll('.agenda .agenda-title').length === n, 3);
    assert.deepEqual(await order(ana), [TITLES[1], TITLES[0], LATE]);
    assert.equal(await ana.getByRole('button', { name: 'Move item 1 down' }).count(), 0, 'only the facilitator edits the agenda');
  });
});
