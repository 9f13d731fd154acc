/**
 * End to end in real headless Chromium against a real server: the draft editor validates every item on
 * its own (an incomplete item does not hide the server's refusal of another), a new item grants nothing
 * until someone chooses what it grants (no silent defaults in an access request; submitting such a draft
 * is refused, naming the item), and the editor is readable at phone and desktop widths: the native-form
 * preview is not clipped mid-token and no dropdown cuts its choice short. Needs `npx vite build` first.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox } from '../helpers/api.ts';
import { launchBrowser, newPage, screenshotDir, signIn } from '../helpers/browser.ts';
import { startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';

const SHOTS = screenshotDir();
const PASSWORD = 'draft-validation-pass';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

describe('the draft editor validates every item on its own and has no silent defaults', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let rita: ReturnType<typeof apiAs>;
  const teardown = suiteTeardown();

  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    const tokens: Record<string, string> = {};
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer']] as const) tokens[name] = await server.user(name, role, PASSWORD);
    await importProxmox(server, tokens.root!);
    rita = apiAs(server.url, tokens.rita!);
    browser = await launchBrowser((fn) => teardown.push(fn));
    page = await newPage(browser, server.url, DESKTOP);
    await signIn(page, 'rita', PASSWORD);
  });

  /** A new empty draft (as `New change` creates it), opened in the editor. */
  async function openNewDraft(title: string): Promise<string> {
    const created = await rita<{ change: ReviewView }>('POST', '/changes', { title, justification: 'Checked by the e2e suite.', backend: 'proxmox', items: [] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.change.id;
    await page.goto(`/changes/${id}/edit`);
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    // The inventory feeds autocompletion; wait for it so the first preview has something to check against.
    await page.locator('#inventory-principals option[value="carol@ldap"]').waitFor({ state: 'attached' });
    return id;
  }
  const item = (id: string) => page.getByRole('group', { name: `Item ${id}` });
  const problems = (id: string) => page.getByRole('list', { name: `Problems with item ${id}` });
  async function addItem(): Promise<void> {
    await page.getByRole('button', { name: 'Add item' }).click();
  }
  async function fill(id: string, grant: { principal?: string; resource?: string; role?: string }): Promise<void> {
    const it = item(id);
    if (grant.principal !== undefined) await it.getByLabel('Principal').fill(grant.principal);
    if (grant.resource !== undefined) await it.getByLabel('Resource').fill(grant.resource);
    if (grant.role !== undefined) {
      await it.getByLabel('Grants').selectOption('role');
      await it.getByLabel('Role', { exact: true }).fill(grant.role);
    }
  }
  /** Ticks a common privilege (opening the list first if it is folded away). */
  async function choosePrivilege(id: string, privilege: string): Promise<void> {
    const box = item(id).getByRole('checkbox', { name: privilege, exact: true });
    if (!(await box.isVisible())) await item(id).locator('summary').filter({ hasText: /Privileges/ }).click();
    await box.check();
  }
  /** The privilege checkboxes of an item that are ticked (not `Propagate to children`). */
  const tickedPrivileges = (it: Locator) => it.evaluate((el) =>
    [...el.querySelectorAll<HTMLInputElement>('input[type="checkbox"]')]
      .filter((box) => box.checked && !(box.closest('label')?.textContent ?? '').includes('Propagate'))
      .map((box) => box.closest('label')?.textContent?.trim() ?? '?'));

  it('shows every item\'s problems at once: an empty item does not hide the unknown principal of another', async () => {
    await openNewDraft('Per-item validation');
    await addItem();
    await fill('i1', { principal: 'nobody@pve', resource: '/vms/100', role: 'PVEVMUser' });
    await addItem(); // i2 stays empty
    await addItem();
    await fill('i3', { principal: 'carol@ldap', resource: '/vms/100', role: 'PVEVMUser' });
    await addItem();
    await fill('i4', { principal: 'carol@ldap', resource: '/vms/101', role: 'NoSuchRole' });

    // Each item carries its own problems, side by side: the server's (unknown user, unknown role) and the
    // shape's (nothing filled in), none hiding another.
    await problems('i1').getByText(/unknown user 'nobody@pve'/).waitFor();
    await problems('i4').getByText(/unknown role 'NoSuchRole'/).waitFor();
    await problems('i2').getByText(/Principal/).waitFor();
    assert.match(await problems('i2').textContent() ?? '', /Resource/);
    assert.equal(await problems('i3').count(), 0, 'the complete, valid item is not blamed');

    // The preview shows what the valid items do, and says which items it leaves out.
    const native = page.getByRole('list', { name: 'Native form preview' });
    await native.getByText(/carol@ldap/).first().waitFor();
    const note = page.getByRole('region', { name: 'Native form' }).getByText(/Not in this preview/);
    await note.waitFor();
    assert.match(await note.textContent() ?? '', /i1.*i2.*i4/s);
    await page.screenshot({ path: `${SHOTS}draft-validation-desktop.png`, fullPage: true });

    // Fixing one item clears its problem and brings it into the preview; the others keep theirs.
    await fill('i1', { principal: 'alice@pve' });
    await problems('i1').waitFor({ state: 'detached' });
    await native.getByText(/alice@pve/).first().waitFor();
    await problems('i4').getByText(/unknown role 'NoSuchRole'/).waitFor();
    await problems('i2').getByText(/Principal/).waitFor();
  });

  it('starts a new item with no privilege chosen, says one must be chosen, and refuses to submit it, naming the item', async () => {
    const id = await openNewDraft('No silent defaults');
    await addItem();
    const it = item('i1');
    await it.getByLabel('Principal').waitFor();
    assert.deepEqual(await tickedPrivileges(it), [], 'a new item grants nothing by itself');
    await it.getByText(/Choose at least one privilege/).first().waitFor();
    await fill('i1', { principal: 'carol@ldap', resource: '/vms/100' });
    await problems('i1').getByText(/Choose at least one privilege/).waitFor();

    await page.getByRole('button', { name: 'Submit for review' }).click();
    const refusal = page.getByRole('region', { name: 'Submit' }).getByRole('alert');
    await refusal.waitFor();
    assert.match(await refusal.textContent() ?? '', /item i1/);
    assert.match(await refusal.textContent() ?? '', /privilege/);
    await page.getByRole('region', { name: 'Submit' }).screenshot({ path: `${SHOTS}draft-submit-incomplete.png` });
    await item('i1').locator('xpath=..').screenshot({ path: `${SHOTS}draft-item-incomplete.png` });
    assert.match(new URL(page.url()).pathname, /\/edit$/, 'still in the editor');
    const view = (await rita<{ change: ReviewView }>('GET', `/changes/${id}`)).body.change;
    assert.equal(view.revisions.length, 0, 'nothing was submitted');

    // Choosing a privilege completes the item; then it submits.
    await choosePrivilege('i1', 'vm.power');
    await problems('i1').waitFor({ state: 'detached' });
    assert.deepEqual(await tickedPrivileges(it), ['vm.power']);
    await page.getByRole('button', { name: 'Submit for review' }).click();
    await page.waitForURL(new RegExp(`/changes/${id}$`));
    const submitted = (await rita<{ change: ReviewView }>('GET', `/changes/${id}`)).body.change;
    assert.deepEqual(submitted.revisions[0]!.content.items.map((i) => i.op !== 'replace' && i.grant.privileges), [['vm.power']]);
  });

  for (const viewport of [DESKTOP, PHONE]) {
    it(`is not cramped at ${viewport.width} px: the preview is not clipped mid-token and no dropdown is cut short`, async () => {
      await page.setViewportSize(viewport);
      try {
        await openNewDraft(`Layout at ${viewport.width} px`);
        await addItem();
        // A custom role (ACR_<hash>) for a group on a deep path: the longest kind of native line.
        await fill('i1', { principal: '@devs', resource: '/sdn/zones/localnetwork/vmbr0' });
        await choosePrivilege('i1', 'vm.console');
        await choosePrivilege('i1', 'vm.snapshot.revert');
        await addItem();
        await fill('i2', { principal: 'carol@ldap', resource: '/vms/100', role: 'PVEVMUser' });
        const native = page.getByRole('list', { name: 'Native form preview' });
        await native.getByText(/carol@ldap/).first().waitFor();
        await page.screenshot({ path: `${SHOTS}draft-editor-${viewport.width}.png`, fullPage: true });
        await page.getByRole('region', { name: 'Items' }).screenshot({ path: `${SHOTS}draft-editor-${viewport.width}-items.png` });
        await page.getByRole('region', { name: 'Native form' }).screenshot({ path: `${SHOTS}draft-editor-${viewport.width}-native.png` });

        // Every line of the preview fits its box (it wraps, at token boundaries); nothing is hidden past the edge.
        const clipped = await native.evaluate((list) => {
          const box = list.getBoundingClientRect();
          return [...list.querySelectorAll('code')].filter((code) => {
            const r = code.getBoundingClientRect();
            return r.right > box.right + 0.5 || code.scrollWidth > code.clientWidth + 0.5;
          }).map((code) => code.textContent);
        });
        assert.deepEqual(clipped, [], 'lines cut off at the edge of the preview');
        assert.ok(await native.evaluate((list) => list.scrollWidth <= list.clientWidth + 0.5), 'the preview needs no sideways scrolling');

        // Every dropdown of the editor is wide enough for each of its choices.
        const cut = await page.locator('.review-main select').evaluateAll((selects) => {
          const ctx = document.createElement('canvas').getContext('2d')!;
          return (selects as HTMLSelectElement[]).flatMap((select) => {
            const style = getComputedStyle(select);
            ctx.font = style.font;
            // Chromium draws the arrow inside the right padding; the text gets the content box.
            const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
            return [...select.options].filter((o) => ctx.measureText(o.text).width > room).map((o) => `${o.text} (${Math.round(ctx.measureText(o.text).width)} px in ${Math.round(room)} px)`);
          });
        });
        assert.deepEqual(cut, [], 'dropdown choices cut short');
        assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page itself does not scroll sideways');
      } finally {
        await page.setViewportSize(DESKTOP);
      }
    });
  }
});
