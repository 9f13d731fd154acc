/**
 * In real Chromium, the approver's path on a phone (issue 23, defect 1): open an approved change, read
 * everything on its review page (every folded section opened), sign it off with the keyboard alone, then
 * read its evidence pack, at 360, 390 and 414 px. Nothing may stick out past the right edge of the
 * window except inside a code block (`pre`, the native form), which scrolls in its own box; the document
 * is exactly as wide as the window; the top bar is one line (or a compact menu) and shows who is signed in.
 * Needs `npx vite build` first. Screenshots go to `screenshotDir()` (a temp dir).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, CDPSession, Page } from 'playwright-core';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { launchBrowser, newPage, screenshotDir, signIn } from '../helpers/browser.ts';
import { freePort, startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { amendAndSubmit, submitDraft, voteOverRest } from './hash-helpers.ts';

const PASSWORD = 'phone-approver-pass';
const WIDTHS = [360, 390, 414];
/** Long words a phone cannot fit on one line unless the page lets them break. */
const RUNBOOK = 'https://wiki.example.com/runbooks/payments/restart-the-payment-vm-without-waking-the-platform-lead#on-call-escalation-procedure';
const CONTENT = {
  ...PROXMOX_CONTENT,
  justification: `On-call needs to restart the payment VM without waking the platform lead. Runbook: ${RUNBOOK}\nApproved in the weekly change advisory board; expires with the incident.`,
  durationHours: 72,
  environment: ['production', 'payments', 'pci-dss-cardholder-data-environment'],
  items: [
    { ...PROXMOX_CONTENT.items[0]!, grant: { ...PROXMOX_CONTENT.items[0]!.grant, expiresAt: '2031-06-30T18:00:00Z' } },
    PROXMOX_CONTENT.items[1]!,
    // Two more principals, one with a long resource path: the blast radius draws its principal × resource table.
    { id: 'i3', op: 'add', grant: { principal: 'erin@pve', role: 'PVEVMUser', resource: '/vms/101', propagate: false, effect: 'allow' } },
    { id: 'i4', op: 'add', grant: { principal: 'alice@pve!ci', role: 'PVESDNUser', resource: '/sdn/zones/localnetwork/vmbr0', propagate: true, effect: 'allow' } },
  ],
};

/** Opens every folded section (`details`), so the check covers everything a person can read. */
async function unfoldEverything(page: Page): Promise<void> {
  await page.evaluate(() => { for (const d of document.querySelectorAll('details')) d.open = true; });
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

/** A full-page screenshot with every item painted (items off screen skip painting: `content-visibility`). */
async function fullScreenshot(page: Page, path: string): Promise<void> {
  await page.evaluate(() => {
    for (const el of document.querySelectorAll<HTMLElement>('body *')) if (getComputedStyle(el).contentVisibility === 'auto') el.style.contentVisibility = 'visible';
  });
  await page.screenshot({ path, fullPage: true });
}

/**
 * Nothing sticks out sideways: the document is as wide as the window, and no element's right edge is
 * past it, unless the element is inside a code block (`pre`, or the native form's `.code` list) that
 * itself fits and scrolls sideways in its own box.
 */
async function assertFitsWidth(page: Page, where: string): Promise<void> {
  const report = await page.evaluate(() => {
    const root = document.documentElement;
    const vw = root.clientWidth;
    const codeBlock = (el: Element): Element | null => el.closest('pre, .code');
    const describe = (el: Element) => {
      const cls = el.getAttribute('class');
      return `<${el.tagName.toLowerCase()}${cls ? ` class="${cls}"` : ''}> “${(el.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 50)}”`;
    };
    /** Inside a visually hidden box (1 px, clipped: text for screen readers only), nothing is on screen. */
    const visuallyHidden = (el: Element): boolean => {
      for (let up: Element | null = el; up; up = up.parentElement) {
        const r = up.getBoundingClientRect();
        if (r.width <= 1 && r.height <= 1 && getComputedStyle(up).overflow !== 'visible') return true;
      }
      return false;
    };
    const offenders: string[] = [];
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || r.right <= vw + 0.5 || visuallyHidden(el)) continue;
      const block = codeBlock(el);
      if (block && block !== el) {
        const box = block.getBoundingClientRect();
        const scrolls = ['auto', 'scroll'].includes(getComputedStyle(block).overflowX);
        if (box.right <= vw + 0.5 && scrolls) continue;
        offenders.push(`${describe(el)} inside a code block that does not scroll in its own box (right edge ${Math.round(box.right)} px)`);
        continue;
      }
      offenders.push(`${describe(el)}: right edge at ${Math.round(r.right)} px`);
    }
    return { vw, innerWidth: window.innerWidth, scrollWidth: root.scrollWidth, bodyScrollWidth: document.body.scrollWidth, offenders };
  });
  assert.deepEqual(report.offenders, [], `${where}: elements past the right edge of a ${report.vw} px window`);
  assert.equal(report.scrollWidth, report.vw, `${where}: the document is ${report.scrollWidth} px wide in a ${report.vw} px window`);
  assert.ok(report.bodyScrollWidth <= report.vw, `${where}: the body is ${report.bodyScrollWidth} px wide in a ${report.vw} px window`);
}

/**
 * The top bar is one line (every visible control shares one row), or a compact menu that the keyboard
 * opens and Escape closes; either way the signed-in user's name is on screen, whole.
 */
async function assertTopBar(page: Page, username: string, where: string, screenshot?: string): Promise<void> {
  const bar = page.getByRole('banner');
  const layout = await bar.evaluate((header, name) => {
    const vw = document.documentElement.clientWidth;
    const visible = [...header.querySelectorAll('a, button, span, nav')].filter((el) => {
      const r = el.getBoundingClientRect();
      return r.width > 1 && r.height > 1 && getComputedStyle(el).visibility !== 'hidden';
    });
    const rects = visible.map((el) => el.getBoundingClientRect());
    const oneRow = rects.length > 0 && Math.max(...rects.map((r) => r.top)) < Math.min(...rects.map((r) => r.bottom));
    const nameEl = visible.find((el) => el.children.length === 0 && (el.textContent ?? '').includes(name));
    /** The name is on screen and not cut off by a box that clips it (an ellipsis, hidden overflow). */
    const whole = (el: Element) => {
      const box = el.getBoundingClientRect();
      if (box.left < -0.5 || box.right > vw + 0.5) return false;
      for (let up = el.parentElement; up && up !== header.parentElement; up = up.parentElement) {
        if (getComputedStyle(up).overflowX === 'visible') continue;
        const clip = up.getBoundingClientRect();
        if (box.left < clip.left - 0.5 || box.right > clip.right + 0.5) return false;
      }
      return true;
    };
    return {
      oneRow,
      height: header.getBoundingClientRect().height,
      nameShown: !!nameEl && whole(nameEl),
      rows: visible.map((el, i) => `${el.tagName.toLowerCase()} “${(el.textContent ?? '').trim().slice(0, 20)}” ${Math.round(rects[i]!.top)}–${Math.round(rects[i]!.bottom)}`),
    };
  }, username);
  assert.ok(layout.oneRow, `${where}: the top bar takes more than one line (${layout.height} px high): ${layout.rows.join('; ')}`);
  assert.ok(layout.nameShown, `${where}: the top bar does not show “${username}” in full`);

  const reviews = bar.getByRole('link', { name: 'Reviews', exact: true });
  if (await reviews.isVisible()) return; // the whole menu fits on the line
  const menu = bar.getByRole('button', { name: /menu/i });
  assert.ok(await menu.isVisible(), `${where}: the navigation is hidden and there is no menu button`);
  assert.equal(await menu.getAttribute('aria-expanded'), 'false');
  await menu.focus();
  await page.keyboard.press('Enter');
  assert.equal(await menu.getAttribute('aria-expanded'), 'true');
  await reviews.waitFor();
  await bar.getByRole('button', { name: 'Sign out' }).waitFor();
  if (screenshot) await page.screenshot({ path: screenshot });
  await page.keyboard.press('Escape');
  await reviews.waitFor({ state: 'hidden' });
  assert.equal(await menu.getAttribute('aria-expanded'), 'false');
  assert.ok(await menu.evaluate((el) => el === document.activeElement), `${where}: Escape returns focus to the menu button`);
}

describe('the approver path fits a phone: open, read everything, sign with the keyboard, read the evidence', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let cdp: CDPSession;
  let base = '';
  const changes: Record<number, string> = {};
  const tokens: Record<string, string> = {};
  const teardown = suiteTeardown();
  const shots = screenshotDir();

  before(async () => {
    const port = await freePort();
    base = `http://localhost:${port}`;
    server = await startTestServer({ port, publicUrl: base }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['paul', 'approver']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    const [rita, ana, ben] = (['rita', 'ana', 'ben'] as const).map((n) => apiAs(server.url, tokens[n]!));
    // One approved change per width (each is signed off by its test): two revisions, a stale item vote,
    // an unresolved annotation, so every section of the page has something in it.
    for (const width of WIDTHS) {
      const title = `Payments on-call can power and console VM 100 (${width} px)`;
      const created = await rita!<{ change: ReviewView }>('POST', '/changes', { ...CONTENT, title, durationHours: 4 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.change.id;
      assert.equal((await submitDraft(rita!, id)).status, 201);
      assert.equal((await voteOverRest(ana!, id, { choice: 'approve', item: 'i1' })).status, 201);
      await amendAndSubmit(rita!, id, { ...CONTENT, title });
      const note = await ana!('POST', `/changes/${id}/annotations`, {
        anchor: { kind: 'item', itemId: 'i2' },
        body: `Does carol still need this after the incident? See ${RUNBOOK}`,
      });
      assert.equal(note.status, 201, JSON.stringify(note.body));
      for (const voter of [ana!, ben!]) assert.equal((await voteOverRest(voter, id, { choice: 'approve' })).status, 201);
      assert.equal((await rita!<{ change: ReviewView }>('GET', `/changes/${id}`)).body.change.status, 'approved');
      changes[width] = id;
    }
    browser = await launchBrowser((fn) => teardown.push(fn));
    // One phone for paul: its platform authenticator keeps the passkey he registers on his first sign-off.
    page = await newPage(browser, base, { width: WIDTHS[0]!, height: 800 });
    cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await signIn(page, 'paul', PASSWORD);
  });

  for (const width of WIDTHS) {
    it(`at ${width} px: the review reads in full, the sign-off works by keyboard, the evidence reads in full`, async () => {
      const id = changes[width]!;
      await page.setViewportSize({ width, height: 800 });
      await page.goto('/');
      await page.getByRole('heading', { name: 'Reviews', level: 1 }).waitFor();
      await assertTopBar(page, 'paul', `home at ${width} px`, `${shots}phone-menu-${width}.png`);

      // Open: the review of an approved change, sign-off first.
      await page.goto(`/changes/${id}`);
      const panel = page.getByRole('region', { name: 'Sign-off' });
      await panel.getByRole('button', { name: 'Sign off' }).waitFor();
      await panel.getByRole('group', { name: 'What you sign' }).waitFor();
      await page.getByRole('list', { name: /^Native form, revision 2/ }).waitFor();
      await page.getByRole('list', { name: 'Stale votes', exact: true }).waitFor();
      await page.getByText(/Does carol still need this/).first().waitFor();
      await assertTopBar(page, 'paul', `review at ${width} px`);

      // Read everything: every folded section open, nothing cut off at the right.
      await unfoldEverything(page);
      await assertFitsWidth(page, `review at ${width} px`);
      await fullScreenshot(page, `${shots}phone-review-${width}.png`);

      // Sign: from the top of the page, Tab reaches Sign off (every stop on screen), Enter signs.
      await page.goto(`/changes/${id}`);
      await panel.getByRole('button', { name: 'Sign off' }).waitFor();
      let reached = false;
      for (let i = 0; i < 80 && !reached; i++) {
        await page.keyboard.press('Tab');
        const focused = await page.evaluate(() => {
          const el = document.activeElement as HTMLElement | null;
          const r = el?.getBoundingClientRect();
          return { text: el?.textContent?.trim().slice(0, 40) ?? '', tag: el?.tagName ?? '', left: r?.left ?? 0, right: r?.right ?? 0, vw: document.documentElement.clientWidth };
        });
        assert.ok(focused.right <= focused.vw + 0.5 && focused.left >= -0.5, `focus stop ${i + 1} (${focused.tag} “${focused.text}”) is off screen at ${focused.left}–${focused.right} px`);
        reached = focused.tag === 'BUTTON' && focused.text === 'Sign off';
      }
      assert.ok(reached, 'Tab reaches the Sign off button');
      await page.keyboard.press('Enter');
      await panel.getByText('Signed off revision 2 with your passkey').waitFor({ timeout: 15_000 }).catch(async (err) => {
        throw new Error(`not signed off; the panel says: ${await panel.innerText()}`, { cause: err });
      });
      await unfoldEverything(page);
      await assertFitsWidth(page, `signed-off review at ${width} px`);

      // The evidence pack, verified, with its tables and the sign-off receipt.
      await page.getByRole('link', { name: 'Evidence pack' }).click();
      await page.getByRole('heading', { name: 'Evidence pack', level: 1 }).waitFor();
      await page.getByRole('table', { name: 'Audit entries' }).waitFor();
      await page.getByRole('button', { name: 'Verify evidence pack' }).click();
      await page.getByText(/✓ Verified/).waitFor({ timeout: 15_000 });
      await assertTopBar(page, 'paul', `evidence at ${width} px`);
      await unfoldEverything(page);
      await assertFitsWidth(page, `evidence at ${width} px`);
      // The item vote on revision 1 is stale on the evidence page as on the review page (the duration changed).
      const itemVote = page.getByRole('table', { name: 'Votes' }).getByRole('row').filter({ hasText: 'item i1' });
      assert.match(await itemVote.innerText(), /stale/);
      await fullScreenshot(page, `${shots}phone-evidence-${width}.png`);
      // Laid out as cards, the tables are still tables to a screen reader (Chromium's accessibility tree).
      const { nodes } = await cdp.send('Accessibility.getFullAXTree');
      for (const name of ['Votes', 'Audit entries']) {
        assert.ok(nodes.some((n) => n.role?.value === 'table' && n.name?.value === name), `the ${name} table keeps its table role at ${width} px`);
      }
      const rows = await page.locator('table[aria-label="Votes"] tr, table[aria-label="Audit entries"] tr').count();
      const axRows = nodes.filter((n) => n.role?.value === 'row').length;
      assert.ok(axRows >= rows, `its ${rows} rows stay rows (${axRows} in the accessibility tree)`);

      if (width === 390) {
        // The same pages on a tablet (still nothing sideways) and on a desktop, for the eye.
        await page.setViewportSize({ width: 768, height: 1000 });
        await assertTopBar(page, 'paul', 'evidence at 768 px');
        await assertFitsWidth(page, 'evidence at 768 px');
        await page.setViewportSize({ width: 1280, height: 900 });
        await fullScreenshot(page, `${shots}phone-evidence-desktop.png`);
        await page.goto(`/changes/${id}`);
        await page.getByRole('region', { name: 'Sign-off' }).waitFor();
        await page.getByRole('list', { name: /^Native form, revision 2/ }).waitFor();
        await fullScreenshot(page, `${shots}phone-review-desktop.png`);
        await page.setViewportSize({ width: 768, height: 1000 });
        await unfoldEverything(page);
        await assertFitsWidth(page, 'review at 768 px');
        await fullScreenshot(page, `${shots}phone-review-768.png`);
      }
    });
  }
});
