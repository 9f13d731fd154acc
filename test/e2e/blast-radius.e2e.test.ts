/**
 * In real Chromium (issue 22, issue 23 defect 7): a change with a very large blast radius (the access
 * bench's 5,000-VM Proxmox inventory and its sweeping 10-item change: about 760,000 rows) shows grouped,
 * each group with its reason; a group opens to its resources a page at a time; the page stays usable (the
 * lookup answers, the person × resource picture grows on request); at 390 px nothing sticks out sideways.
 * Needs `npx vite build` first. Screenshots go to `screenshotDir()`.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { backend as proxmox } from '../../server/backends/proxmox/index.ts';
import { proxmox as generateProxmox, validChange } from '../../bench/access/generate.ts';
import { apiAs } from '../helpers/api.ts';
import { launchBrowser, newPage, screenshotDir, signIn } from '../helpers/browser.ts';
import { startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { submitDraft } from './hash-helpers.ts';

const SHOTS = screenshotDir();
const PASSWORD = 'blast-radius-pass';
/** The bench's large Proxmox inventory (bench/access/run.ts `BIG`). */
const BIG = { vms: 5000, users: 2000, groups: 200, grants: 20_000 };

describe('a very large blast radius in the browser', () => {
  let server: TestServer;
  let browser: Browser;
  let changeId = '';
  let rev: ReviewView['revisions'][number];
  const teardown = suiteTeardown();

  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    const root = apiAs(server.url, await server.user('root', 'admin'));
    const rita = apiAs(server.url, await server.user('rita', 'reviewer', PASSWORD));
    const generated = generateProxmox(BIG);
    const imported = await root('PUT', '/inventories/proxmox', { files: generated.files });
    assert.equal(imported.status, 200, JSON.stringify(imported.body).slice(0, 500));
    const model = proxmox.import(generated.files);
    const change = validChange(proxmox, model, generated.change(model).items);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', {
      title: 'Sweeping access change across the fleet', justification: 'Bench change: ten items high in the tree.', backend: 'proxmox', items: change.items,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body).slice(0, 500));
    changeId = created.body.change.id;
    const submitted = await submitDraft(rita, changeId);
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body).slice(0, 500));
    rev = (await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change.revisions[0]!;
    browser = await launchBrowser((fn) => teardown.push(fn));
  });

  async function openReview(width: number): Promise<Page> {
    const page = await newPage(browser, server.url, { width, height: 900 });
    await signIn(page, 'rita', PASSWORD);
    await page.goto(`/changes/${changeId}`);
    return page;
  }

  it('stores groups and a digest of the rows, not 760,000 row objects', () => {
    const groups = rev.blastGroups!;
    assert.ok(groups.rows.gained > 500_000, `rows gained: ${groups.rows.gained}`);
    assert.deepEqual(rev.blast.truncated, groups.rows);
    assert.ok(rev.blast.gained.length < 2_000, `digest rows: ${rev.blast.gained.length}`);
    assert.ok(groups.groups.length < 1_000, `groups: ${groups.groups.length}`);
  });

  it('shows the blast radius grouped, opens a group to its resources, and stays usable', async () => {
    const page = await openReview(1280);
    const blast = page.getByRole('region', { name: 'Blast radius' });
    const summary = blast.locator('.blast-summary');
    await summary.waitFor();
    const total = rev.blastGroups!.rows.gained.toLocaleString('en');
    assert.match(await summary.textContent() ?? '', new RegExp(`${total} gained`));
    assert.match(await summary.textContent() ?? '', /HIGH RISK/, 'high risk said in words');
    const gained = blast.getByRole('list', { name: 'Gained privileges, grouped' });
    const groups = gained.locator(':scope > li');
    assert.ok(await groups.count() >= 1);
    assert.ok(await groups.count() <= 40, 'a page of groups, not every group');
    const first = groups.first();
    assert.match(await first.locator('summary').first().textContent() ?? '', /Why: .+/);
    assert.match(await first.locator('summary').first().textContent() ?? '', /on [\d,]+ resources/);
    assert.equal(await first.locator('details').first().getAttribute('open'), null, 'a broad change starts closed');

    // Opening the largest group with the keyboard shows its resources, 50 at a time.
    await first.locator('summary').first().focus();
    await page.keyboard.press('Enter');
    const resources = first.getByRole('list', { name: /^Resources of / }).first();
    await resources.waitFor();
    assert.equal(await resources.locator('li').count(), 50);
    const more = first.getByRole('button', { name: /^Show 200 more of [\d,]+ resources$/ }).first();
    await more.click();
    assert.equal(await resources.locator('li').count(), 250);
    await page.screenshot({ path: `${SHOTS}blast-radius.png` });

    // Another control responds: the lookup answers from the groups.
    const g = rev.blastGroups!.groups[0]!;
    const resource = rev.blastGroups!.resourceSets[g.resources]!.at(-1)!;
    await blast.getByLabel('Principal').fill(g.principals[0]!);
    await blast.getByLabel(/^Privilege/).fill(g.privileges[0]!);
    await blast.getByLabel('Resource', { exact: true }).fill(resource);
    await blast.getByRole('button', { name: 'Check' }).click();
    const answer = blast.getByRole('status').filter({ hasText: g.principals[0]! });
    await answer.waitFor();
    assert.match(await answer.textContent() ?? '', /Yes:/);
    assert.match(await answer.textContent() ?? '', new RegExp(`\\+ gains ${g.privileges[0]!.replace(/\./g, '\\.')}`));
    await blast.getByLabel('Resource', { exact: true }).fill('/no/such/resource');
    await blast.getByRole('button', { name: 'Check' }).click();
    await blast.getByRole('status').filter({ hasText: 'No change:' }).waitFor();

    // The person × resource picture: a page of people, all of them on request.
    const picture = blast.getByRole('table', { name: /person × resource/ });
    const rowsBefore = await picture.locator('tbody tr').count();
    assert.equal(rowsBefore, 12);
    await blast.getByRole('button', { name: /^Show all [\d,]+ people in the picture$/ }).click();
    assert.ok(await picture.locator('tbody tr').count() > rowsBefore);
    await page.screenshot({ path: `${SHOTS}blast-radius-full.png`, fullPage: true });
  });

  it('fits a 390 px phone', async () => {
    const page = await openReview(390);
    const blast = page.getByRole('region', { name: 'Blast radius' });
    await blast.locator('.blast-summary').waitFor();
    await blast.getByRole('list', { name: 'Gained privileges, grouped' }).locator('summary').first().click();
    await blast.getByRole('list', { name: /^Resources of / }).first().waitFor();
    const overflow = await page.evaluate(() => {
      const vw = document.documentElement.clientWidth;
      const out: string[] = [];
      /** Inside a visually hidden box (1 px, clipped: the table's column headers for screen readers), nothing is on screen. */
      const hidden = (el: Element): boolean => {
        for (let up: Element | null = el; up; up = up.parentElement) {
          const r = up.getBoundingClientRect();
          if (r.width <= 1 && r.height <= 1 && getComputedStyle(up).overflow !== 'visible') return true;
        }
        return false;
      };
      for (const el of document.querySelectorAll('.blast *')) {
        if (el.closest('pre, .code') || hidden(el)) continue;
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.right > vw + 1) out.push(`${el.tagName.toLowerCase()}.${el.className}: ${Math.round(r.right)} > ${vw}`);
      }
      return { vw, doc: document.documentElement.scrollWidth, out: out.slice(0, 5) };
    });
    assert.deepEqual(overflow.out, [], JSON.stringify(overflow));
    assert.equal(overflow.doc, overflow.vw);
    await blast.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}blast-radius-phone.png` });
  });
});
