/**
 * End to end in real headless Chromium: typing indicators are presence. While one reviewer writes an
 * annotation, the other sees "typing…" next to their name; it clears when they post or empty the box.
 * Needs `npx vite build` first (the server serves web/dist).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { submitDraft } from './hash-helpers.ts';
import { startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { launchBrowser, newPage, signIn } from '../helpers/browser.ts';

const PASSWORD = 'review-board-pass';

describe('typing indicators', () => {
  let server: TestServer;
  let browser: Browser;
  let changeId = '';
  const pages: Record<string, Page> = {};
  const teardown = suiteTeardown();

  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    const tokens: Record<string, string> = {};
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    changeId = created.body.change.id;
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    browser = await launchBrowser((fn) => teardown.push(fn));
    for (const name of ['ana', 'ben']) {
      const page = await newPage(browser, server.url);
      await signIn(page, name, PASSWORD);
      await page.goto(`/changes/${changeId}`);
      pages[name] = page;
    }
  });

  it('shows who is writing an annotation, and clears when they post or empty the box', async () => {
    const { ana, ben } = pages as Record<'ana' | 'ben', Page>;
    const anaOnBen = ben.getByRole('list', { name: 'Participants' }).getByRole('listitem').filter({ has: ben.getByText('ana', { exact: true }) });
    await anaOnBen.waitFor();
    assert.equal(await anaOnBen.getByText('typing…').count(), 0);

    await ana.getByLabel('Add annotation').pressSequentially('Is VM 300 ');
    await anaOnBen.getByText('typing…').waitFor();
    await ana.getByLabel('Add annotation').fill('');
    await ana.getByLabel('Add annotation').press('End'); // fill('') fires input: the box is empty
    await anaOnBen.getByText('typing…').waitFor({ state: 'detached' });

    await ana.getByLabel('Add annotation').pressSequentially('Is VM 300 in scope?');
    await anaOnBen.getByText('typing…').waitFor();
    await ana.getByRole('button', { name: 'Post annotation' }).click();
    await anaOnBen.getByText('typing…').waitFor({ state: 'detached' });
    await ben.getByRole('list', { name: 'Annotation threads' }).getByText('Is VM 300 in scope?').waitFor();
  });
});
