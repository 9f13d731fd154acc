/**
 * End to end in real headless Chromium: a joint session. A facilitator opens it from the sessions page
 * with two changes on the agenda; a reviewer joins from another browser context; both see each other;
 * the facilitator moves the room and the reviewer follows; the reviewer browses freely and comes back;
 * a decision taken in the embedded review reaches both pages' read-only decision record (never the
 * shared prose minutes); closing the session leaves nothing under discussion and no clock.
 * Needs `npx vite build` first (the server serves web/dist).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { currentRevision, submitDraft, voteOverRest } from './hash-helpers.ts';
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

  // Two lists of people, named apart: who is in the session (the room), and who has the change on screen
  // (the embedded review's presence: people in the room viewing it, and anyone on the change's own page).
  const agenda = (page: Page) => page.getByRole('region', { name: /^Agenda/ });
  const room = (page: Page) => page.getByRole('region', { name: /^In the room now/ }).getByRole('list', { name: 'In the room now' });
  const person = (page: Page, name: string) => room(page).getByRole('listitem').filter({ has: page.getByText(name, { exact: true }) });
  const record = (page: Page) => page.getByRole('list', { name: 'Decision record' });
  const minutesText = (page: Page) => page.getByRole('textbox', { name: 'Shared minutes' });
  /** The accessible names of every list on the page: none may be ambiguous. */
  const listNames = (page: Page) => page.evaluate(() => [...document.querySelectorAll('ul, ol')].flatMap((l) => {
    const by = l.getAttribute('aria-labelledby');
    const name = by ? by.split(' ').map((id) => document.getElementById(id)?.textContent?.trim() ?? '').join(' ') : l.getAttribute('aria-label');
    return name ? [name] : [];
  }));
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
    await room(fran).getByText('ana', { exact: true }).waitFor();
    await room(ana).getByText('fran', { exact: true }).waitFor();
    await ana.getByText('Waiting for the facilitator to open an item.').waitFor();
    // Only the facilitator has the controls; the reviewer has none to press.
    assert.equal(await ana.getByRole('button', { name: 'Start with item 1' }).count(), 0);
    assert.equal(await ana.getByRole('checkbox', { name: 'Follow the presenter' }).isChecked(), true, 'following is on by default');
  });

  it('the facilitator moves the room; a follower\'s page moves with it, with the item\'s clock running', async () => {
    const { fran, ana } = pages as Record<'fran' | 'ana', Page>;
    await fran.getByRole('button', { name: 'Start with item 1' }).click();
    await embeddedTitle(ana, TITLES[0]!).waitFor();
    // With the review embedded, the page holds both lists of people, under names that say which is which.
    const viewers = ana.locator('.embedded-review').getByRole('list', { name: 'Viewing this change now' });
    await viewers.getByText('fran', { exact: true }).waitFor();
    await ana.locator('.embedded-review').getByText('Viewing this change now').first().waitFor(); // a visible caption, not only a name
    const names = await listNames(ana);
    assert.ok(names.includes('In the room now') && names.includes('Viewing this change now'), names.join(', '));
    assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), [], `every list has its own name: ${names.join(', ')}`);
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

  it('a decision taken in the session reaches both pages\' read-only record, apart from the shared minutes', async () => {
    const { fran, ana } = pages as Record<'fran' | 'ana', Page>;
    await minutesText(ana).waitFor();
    await minutesText(ana).press('Control+End');
    await minutesText(ana).pressSequentially('\nAna: on-call rota confirmed with the DB team.\n');
    await fran.waitForFunction(() => (document.querySelector('textarea[aria-label="Shared minutes"]') as HTMLTextAreaElement | null)?.value.includes('rota confirmed') === true);

    await ana.locator('.embedded-review').getByRole('button', { name: 'Approve', exact: true }).click();
    const ben = apiAs(server.url, tokens.ben!);
    assert.equal((await voteOverRest(ben, changes[0]!, { choice: 'approve' })).status, 201);
    const decided = await currentRevision(ben, changes[0]!);

    for (const page of [fran, ana]) {
      const line = record(page).getByRole('listitem').filter({ hasText: /approved \(2 approve, 0 reject, 0 abstain\)/ });
      await line.waitFor();
      // Signed: who, and the revision (with its content hash) the decision is about.
      await line.getByText('ben', { exact: true }).waitFor();
      await line.getByText(`revision ${decided.number} · ${decided.hash.slice(0, 12)}`).waitFor();
      assert.equal(await line.locator('code').getAttribute('title'), `revision hash ${decided.hash}`);
      await agenda(page).getByRole('listitem').filter({ hasText: TITLES[0]! }).getByText('approved').waitFor();
    }
    // The record is not editable: no field in it, and nothing of it is in the prose anyone may edit.
    assert.equal(await record(ana).locator('input, textarea, [contenteditable]').count(), 0);

    await fran.getByLabel('Record a decision').fill('Apply after the Friday freeze.');
    await fran.getByRole('button', { name: 'Record', exact: true }).click();
    await record(ana).getByRole('listitem').filter({ hasText: 'Apply after the Friday freeze.' }).getByText('fran', { exact: true }).waitFor();
    await server.app.settle();
    const minutes = await minutesText(ana).inputValue();
    assert.match(minutes, /rota confirmed/, 'what participants wrote stays');
    assert.ok(!minutes.includes('approved (2 approve') && !minutes.includes('Friday freeze'), `Accord's decision lines stay out of the shared prose: ${minutes}`);
    await fran.evaluate(() => window.scrollTo(0, 0));
    await fran.screenshot({ path: `${SHOTS}session.png`, fullPage: false });
    await fran.getByRole('region', { name: /^Decision record/ }).screenshot({ path: `${SHOTS}session-record.png` });
    await fran.getByRole('region', { name: /^Shared minutes/ }).screenshot({ path: `${SHOTS}session-minutes.png` });
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

  it('closing the session leaves nothing under discussion and no clock; the record keeps each outcome', async () => {
    const { fran, ana } = pages as Record<'fran' | 'ana', Page>;
    await ana.getByRole('checkbox', { name: 'Follow the presenter' }).check();
    await agenda(ana).getByText('Now discussing').waitFor();
    await fran.getByRole('button', { name: 'Pause timer' }).click();
    await ana.getByRole('region', { name: 'Timer' }).getByText(/paused/).waitFor();
    fran.once('dialog', (d) => void d.accept());
    await fran.getByRole('button', { name: 'Close the session' }).click();

    for (const page of [ana, fran]) {
      await page.getByRole('status', { name: 'Session closed' }).waitFor();
      assert.equal(await agenda(page).getByText('Now discussing').count(), 0, 'no item is under discussion');
      assert.equal(await page.getByText(/paused/).count(), 0, 'no paused timer');
      assert.equal(await page.getByRole('button', { name: /timer/ }).count(), 0, 'no clock to run');
      assert.equal(await page.getByRole('checkbox', { name: 'Follow the presenter' }).count(), 0, 'nobody to follow');
      for (const title of [TITLES[1]!, TITLES[0]!, LATE]) {
        await record(page).getByRole('listitem').filter({ hasText: new RegExp(`${title}.*when the session closed`) }).waitFor();
      }
    }
    // Every item can still be read.
    await ana.getByRole('button', { name: `View item 2: ${TITLES[0]}` }).click();
    await embeddedTitle(ana, TITLES[0]!).waitFor();
    for (const width of [1280, 390]) {
      await ana.setViewportSize({ width, height: 900 });
      await ana.evaluate(() => window.scrollTo(0, 0));
      await ana.screenshot({ path: `${SHOTS}session-closed-${width}.png`, fullPage: false });
      await ana.getByRole('region', { name: /^Decision record/ }).screenshot({ path: `${SHOTS}session-closed-record-${width}.png` });
      const overflow = await ana.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `no sideways scroll at ${width} px: ${overflow}`);
    }
    await ana.setViewportSize({ width: 1360, height: 900 });
  });
});
