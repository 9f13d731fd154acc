/**
 * End to end in real headless Chromium against a real server: an author types at the start of the
 * draft's justification while a co-author (a Node SocketProvider on `draft:<id>`) keeps appending at
 * the end. Chromium moves the caret to the end whenever a script rewrites a textarea's value, so a
 * binding that rewrites it on every remote change scatters the author's words; the Y.Text binding
 * (web/lib/ytext-binding.ts) must keep the caret, and the typed text, where the author put them.
 * Needs `npx vite build` first.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import * as Y from 'yjs';
import { SocketProvider } from '../../web/lib/socket-provider.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { launchBrowser, newPage, signIn } from '../helpers/browser.ts';
import { connect, startTestServer, suiteTeardown, until, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'draft-caret-pass';
const ORIGINAL = PROXMOX_CONTENT.justification;

describe('typing in a draft while a co-author types elsewhere', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let coAuthor: SocketProvider;
  let changeId = '';
  const teardown = suiteTeardown();


  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    const tokens: Record<string, string> = {};
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    changeId = created.body.change.id;
    const invited = await rita('POST', `/changes/${changeId}/authors`, { username: 'ana' }, { 'idempotency-key': `invite-${changeId}` });
    assert.ok(invited.status < 300, JSON.stringify(invited.body));

    coAuthor = new SocketProvider(connect(server.url, tokens.ana!, {}, (fn) => teardown.push(fn)), `draft:${changeId}`);
    teardown.push(() => coAuthor.destroy());
    await coAuthor.whenSynced();
    await until(() => coAuthor.access === 'write', 'ana may write the draft');

    browser = await launchBrowser((fn) => teardown.push(fn));
    page = await newPage(browser, server.url);
    await signIn(page, 'rita', PASSWORD);
    await page.goto(`/changes/${changeId}/edit`);
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
  });

  const coAuthorText = () => coAuthor.doc.getText('justification');
  const selection = (field: Locator) => field.evaluate((el: HTMLTextAreaElement) => [el.selectionStart, el.selectionEnd]);
  /** Waits until the textarea shows `needle` (the co-author's latest change has arrived). */
  const shows = (needle: string) => page.waitForFunction(
    (text) => [...document.querySelectorAll('textarea')].some((t) => t.value.includes(text)),
    needle,
  );

  it('keeps the caret at the start while the co-author appends, each keystroke after a remote change', async () => {
    const field = page.getByLabel('Justification');
    await page.waitForFunction((text) => document.querySelector('textarea')?.value === text, ORIGINAL);
    await field.click();
    await page.keyboard.press('Control+Home');
    assert.deepEqual(await selection(field), [0, 0]);

    const typed = 'Urgent: ';
    const appended: string[] = [];
    for (const [i, ch] of [...typed].entries()) {
      const tail = ` [ana ${i}]`;
      appended.push(tail);
      coAuthorText().insert(coAuthorText().length, tail);
      await shows(tail);
      await page.keyboard.type(ch);
    }
    const expected = `${typed}${ORIGINAL}${appended.join('')}`;
    await until(() => coAuthorText().length === expected.length, 'the co-author has every keystroke');
    assert.equal(coAuthorText().toString(), expected, 'typed text contiguous at the start, for the co-author too');
    assert.equal(await field.inputValue(), expected, 'typed text contiguous at the start, the co-author\'s intact at the end');
    assert.deepEqual(await selection(field), [typed.length, typed.length], 'the caret stayed after what was typed');
  });

  it('keeps a typed run contiguous in the middle while the co-author appends freely', async () => {
    const field = page.getByLabel('Justification');
    const before = await field.inputValue();
    const at = before.indexOf(ORIGINAL) + ORIGINAL.indexOf('without');
    await field.evaluate((el: HTMLTextAreaElement, index) => el.setSelectionRange(index, index), at);

    let n = 0;
    const timer = setInterval(() => coAuthorText().insert(coAuthorText().length, ` <${n++}>`), 15);
    const typed = 'quickly and ';
    try {
      await page.keyboard.type(typed, { delay: 25 });
    } finally {
      clearInterval(timer);
    }
    assert.ok(n > 5, `the co-author typed while the author did (${n} edits)`);
    const tails = Array.from({ length: n }, (_, i) => ` <${i}>`).join('');
    await shows(` <${n - 1}>`);
    await until(() => coAuthorText().length === before.length + typed.length + tails.length, 'the co-author has every keystroke');
    const value = await field.inputValue();
    assert.equal(value, coAuthorText().toString(), 'both sides converge');
    assert.equal(value.slice(at, at + typed.length), typed, 'the typed run is where the caret was, in one piece');
    assert.ok(value.endsWith(tails), 'the co-author\'s text is intact, in order, at the end');
    assert.deepEqual(await selection(field), [at + typed.length, at + typed.length]);
  });
  it('the title is shared text too: both co-authors type in it at once and both runs survive', async () => {
    const title = page.getByLabel('Title');
    const meta = coAuthor.doc.getMap('meta');
    await until(() => meta.get('title') instanceof Y.Text, 'the server wrote the title as shared text');
    const shared = meta.get('title') as Y.Text;
    assert.equal(await title.inputValue(), PROXMOX_CONTENT.title);
    await title.click();
    await page.keyboard.press('Home');
    let n = 0;
    const timer = setInterval(() => shared.insert(shared.length, ` ${n++}`), 20);
    try {
      await page.keyboard.type('On-call: ', { delay: 25 });
    } finally {
      clearInterval(timer);
    }
    const tails = Array.from({ length: n }, (_, i) => ` ${i}`).join('');
    const expected = `On-call: ${PROXMOX_CONTENT.title}${tails}`;
    await until(() => shared.toString() === expected, 'the co-author has the author\'s keystrokes');
    await page.waitForFunction((text) => (document.querySelector('input[maxlength="200"]') as HTMLInputElement | null)?.value === text, expected);
    assert.deepEqual(await title.evaluate((el: HTMLInputElement) => [el.selectionStart, el.selectionEnd]), [9, 9], 'the caret stayed after what was typed');
  });
});
