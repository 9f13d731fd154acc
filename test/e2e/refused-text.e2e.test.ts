/**
 * End to end in real headless Chromium (issue 23, defect 3): what a person typed is never lost to a
 * refusal. Ana writes an annotation on item i2 while offline; meanwhile the requester submits a revision
 * without item i2; back online the queued post is refused, and her words are back in the box with the
 * server's reason listed beside it. The composer says its limit before anyone reaches it.
 * Needs `npx vite build` first.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { amendAndSubmit, submitDraft } from './hash-helpers.ts';
import { LIVE_MS, launchBrowser, signIn } from '../helpers/browser.ts';
import { freePort, startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'refused-text-pass';
const WORDS = 'Why does carol need PVEVMUser with propagate on /vms/300?';

describe('refused words come back to the box', () => {
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
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    const rita = apiAs(server.url, tokens.rita!);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    changeId = created.body.change.id;
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    browser = await launchBrowser((fn) => teardown.push(fn));
  });

  it('keeps an annotation refused after it waited offline in the box, with the reason, and shows the limit', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: base });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(LIVE_MS);
      await signIn(page, 'ana', PASSWORD);
      await page.goto(`/changes/${changeId}`);
      await page.locator('.badge[role="status"]').filter({ hasText: 'Connected' }).waitFor();
      const box = page.getByLabel('Add annotation');
      await page.getByText('Up to 10,000 characters').waitFor();
      assert.equal(await box.getAttribute('maxlength'), '10000', 'the box itself stops at the limit');

      await context.setOffline(true);
      await page.getByRole('button', { name: 'Annotate item i2' }).click();
      await box.fill(WORDS);
      await page.getByRole('button', { name: 'Post annotation' }).click();
      await page.getByRole('list', { name: 'Annotations waiting to be sent' }).getByText(`On item i2: ${WORDS}`).waitFor();
      assert.equal(await box.inputValue(), '', 'posted: the box is free while the post waits');

      // Meanwhile the requester submits a revision without item i2.
      const { items } = PROXMOX_CONTENT;
      assert.equal((await amendAndSubmit(apiAs(server.url, tokens.rita!), changeId, { ...PROXMOX_CONTENT, items: [items[0]!] })).status, 201);

      await context.setOffline(false);
      const refused = page.getByRole('alert').filter({ hasText: 'Refused by the server' });
      await refused.getByText(/no item i2/).waitFor();
      await page.waitForFunction((words) => (document.querySelector('#annotation-body') as HTMLTextAreaElement | null)?.value === words, WORDS);
      assert.equal(await box.inputValue(), WORDS, 'her words are back, to post again where they belong');
      const annotations = await apiAs(server.url, tokens.root!)<{ change: ReviewView }>('GET', `/changes/${changeId}`);
      assert.equal(annotations.body.change.annotations.length, 0, 'nothing was stored');
    } finally {
      await context.close();
    }
  });
});
