/**
 * Recertification campaigns in real headless Chromium against a real server (docs/campaigns.md): an
 * admin's definition refused in words on the campaigns page; two reviewers, each in their own browser
 * context, on the same live campaign see each other's presence and decisions without reloading; a bulk
 * keep that includes a high-risk item is refused in the server's words; the owner closes the campaign
 * and follows its revocation change. Needs `npx vite build` first (the server serves web/dist).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { CampaignItemView, CampaignView } from '../../web/lib/campaign-api.ts';
import { apiAs, importProxmox } from '../helpers/api.ts';
import { LIVE_MS, launchBrowser, screenshotDir } from '../helpers/browser.ts';
import { freePort, startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';

const SHOTS = screenshotDir();
const PASSWORD = 'campaign-board-pass';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

const DEFINITION = {
  title: 'Q1 Proxmox recertification',
  description: 'Every grant on the Proxmox cluster: is it still needed?',
  scope: { backend: ['proxmox'] },
  reviewers: { users: ['ana', 'ben'] },
  recurrence: '0 9 1 1,4,7,10 *',
  durationDays: 14,
  defaultDecision: 'none',
};

const nameOf = (i: CampaignItemView) => `${i.grant.principal} on ${i.grant.resource}`;

describe('recertification campaign in the browser', () => {
  let server: TestServer;
  let browser: Browser;
  let campaignId = '';
  let items: CampaignItemView[] = [];
  const tokens: Record<string, string> = {};
  const pages: Record<string, Page> = {};
  const teardown = suiteTeardown();

  before(async () => {
    const port = await freePort();
    const base = `http://localhost:${port}`;
    server = await startTestServer({ port, publicUrl: base }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['ana', 'reviewer'], ['ben', 'reviewer']] as const) {
      tokens[name] = await server.user(name, role, PASSWORD);
    }
    await importProxmox(server, tokens.root!);
    const root = apiAs(server.url, tokens.root!);
    const created = await root<{ campaign: CampaignView }>('POST', '/campaigns', DEFINITION);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    campaignId = created.body.campaign.id;
    const started = await root('POST', `/campaigns/${campaignId}/start`);
    assert.equal(started.status, 200, JSON.stringify(started.body));
    items = (await root<{ items: CampaignItemView[] }>('GET', `/campaigns/${campaignId}`)).body.items;
    assert.ok(items.filter((i) => i.highRisk).length >= 1 && items.filter((i) => !i.highRisk).length >= 2, 'the fixture has high-risk and ordinary grants');

    browser = await launchBrowser((fn) => teardown.push(fn));
    for (const name of ['root', 'ana', 'ben']) {
      const context = await browser.newContext({ viewport: DESKTOP, baseURL: base });
      pages[name] = await context.newPage();
      pages[name].setDefaultTimeout(LIVE_MS);
    }
    await Promise.all(['root', 'ana', 'ben'].map(async (name) => {
      const page = pages[name]!;
      await page.goto('/');
      await page.getByLabel('Username').fill(name);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Reviews', level: 1 }).waitFor();
    }));
  });

  const row = (page: Page, item: CampaignItemView) => page.getByRole('row', { name: nameOf(item), exact: true });

  it('shows an admin\'s refused definition in words next to the field, and lists what waits for each reviewer', async () => {
    const root = pages.root!;
    await root.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Campaigns' }).click();
    await root.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
    await root.getByRole('link', { name: DEFINITION.title }).waitFor();
    await root.getByLabel('Definition (YAML)').fill('title: Bad one\nscope: {}\nreviewers:\n  users: [ana]\nrecurrence: every tuesday\nfoo: 1\n');
    await root.getByRole('button', { name: 'Create draft' }).click();
    const error = root.locator('#campaign-yaml-error');
    await error.waitFor();
    assert.match((await error.textContent())!, /^Not created: .*(foo|recurrence)/);
    assert.equal(await root.getByLabel('Definition (YAML)').getAttribute('aria-invalid'), 'true');

    const ana = pages.ana!;
    await ana.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Campaigns' }).click();
    const waiting = ana.getByRole('region', { name: /Waiting for my review/ });
    await waiting.getByText(`${items.length} of your items undecided`).waitFor();
    await waiting.getByRole('link', { name: DEFINITION.title }).click();
    await ana.getByRole('heading', { name: DEFINITION.title, level: 1 }).waitFor();
    assert.equal(new URL(ana.url()).pathname, `/campaigns/${campaignId}`);
  });

  it('shows both reviewers each other\'s presence, and a revoke with its reason live, without a reload', async () => {
    const { ana, ben } = pages as Record<'ana' | 'ben', Page>;
    await ben.goto(`/campaigns/${campaignId}`);
    await ana.getByRole('list', { name: 'Participants' }).getByText('ben', { exact: true }).waitFor();
    await ben.getByRole('list', { name: 'Participants' }).getByText('ana', { exact: true }).waitFor();
    await ben.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    await ben.evaluate(() => ((window as unknown as { stillHere: boolean }).stillHere = true));

    const target = items.find((i) => !i.highRisk)!;
    await row(ana, target).getByRole('button', { name: `Revoke… ${nameOf(target)}` }).click();
    await row(ana, target).getByLabel(`Why revoke ${nameOf(target)}?`).fill('Left the team in March; nobody else uses this account.');
    await row(ana, target).getByRole('button', { name: `Revoke ${nameOf(target)}`, exact: true }).click();

    const decision = row(ben, target).locator('td[data-label="Decision"]');
    await decision.getByText('Revoked by ana').waitFor();
    await decision.getByText('Left the team in March').waitFor();
    await ben.getByText(`1 of ${items.length} decided: 0 kept, 1 revoked`).waitFor();
    assert.equal(await ben.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere), true, 'ben\'s page was not reloaded');
    // Presence: ana's focus on an item shows on ben's page.
    await row(ana, target).getByRole('button', { name: `Keep ${nameOf(target)}` }).focus();
    await ben.getByRole('list', { name: 'Participants' }).getByText(`looking at ${nameOf(target)}`).waitFor();
  });

  it('refuses a bulk keep that includes a high-risk item, in the server\'s words, and keeps the selection', async () => {
    const ben = pages.ben!;
    const risky = items.find((i) => i.highRisk)!;
    const plain = items.filter((i) => !i.highRisk)[1]!;
    await row(ben, risky).getByRole('checkbox', { name: `Select ${nameOf(risky)}` }).check();
    await row(ben, plain).getByRole('checkbox', { name: `Select ${nameOf(plain)}` }).check();
    await ben.getByRole('button', { name: 'Keep selected (2)' }).click();
    const refusal = ben.getByRole('alert', { name: 'Decisions the server refused' });
    await refusal.getByText(/Keep 2 items: High-risk items cannot be kept in bulk/).waitFor();
    assert.match((await refusal.textContent())!, new RegExp(`one by one \\(${nameOf(risky).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)`), 'item ids read as the items they are');
    assert.equal(await row(ben, plain).locator('td[data-label="Decision"]').getByText('Undecided').count(), 1, 'nothing of the refused decision is recorded');
    assert.equal(await ben.getByRole('button', { name: 'Keep selected (2)' }).count(), 1, 'the selection stays for a second try');
    await refusal.getByRole('button', { name: /^Dismiss/ }).click();
    await refusal.waitFor({ state: 'detached' });

    // One at a time, the high-risk item can be kept; the filters narrow the list to what is left.
    await row(ben, risky).getByRole('button', { name: `Keep ${nameOf(risky)}` }).click();
    await row(pages.ana!, risky).locator('td[data-label="Decision"]').getByText('Kept by ben').waitFor();
    await ben.getByRole('button', { name: 'Clear selection' }).click();
    await ben.getByRole('group', { name: 'Show only' }).getByLabel('Undecided').check();
    await ben.getByText(`Items 1–${items.length - 2} of ${items.length - 2} (filtered from ${items.length})`).waitFor();
    await ben.getByRole('group', { name: 'Show only' }).getByLabel('Undecided').uncheck();
  });

  it('takes the campaign page\'s screenshots at 1280 and 390 px', async () => {
    const ana = pages.ana!;
    await ana.evaluate(() => window.scrollTo(0, 0));
    // The top of the page and the first items: the header, progress, filters and the table.
    await ana.screenshot({ path: `${SHOTS}campaign.png`, fullPage: true, clip: { x: 0, y: 0, width: DESKTOP.width, height: 1240 } });
    await ana.setViewportSize(PHONE);
    await ana.getByRole('button', { name: 'Menu' }).waitFor();
    await ana.evaluate(() => document.getElementById('items-title')?.scrollIntoView());
    // No sideways scrolling on a phone: the items table becomes one card per item.
    assert.equal(await ana.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, 'nothing is wider than the phone');
    await ana.screenshot({ path: `${SHOTS}campaign-phone.png` });
    await ana.setViewportSize(DESKTOP);
  });

  it('lets the owner close the campaign after a confirmation and follow the revocation change it created', async () => {
    const { root, ana } = pages as Record<'root' | 'ana', Page>;
    assert.equal(await ana.getByRole('button', { name: 'Close campaign…' }).count(), 0, 'a reviewer does not close the campaign');
    await root.goto(`/campaigns/${campaignId}`);
    await root.getByRole('button', { name: 'Close campaign…' }).click();
    await root.getByRole('group', { name: `Close “${DEFINITION.title}” for decisions?` }).getByText(/1 revoked item goes into a revocation change request/).waitFor();
    await root.getByRole('button', { name: 'Close campaign now' }).click();
    const link = root.getByRole('list', { name: 'Revocation changes' }).getByRole('link', { name: /^Revocations on proxmox: ch-/ });
    await link.waitFor();
    await ana.getByRole('list', { name: 'Revocation changes' }).getByRole('link', { name: /^Revocations on proxmox: ch-/ }).waitFor();
    await ana.getByText('Closed for decisions; waiting for its revocations to be applied').waitFor();
    assert.equal(await ana.getByRole('button', { name: /^Keep / }).count(), 0, 'decisions are closed');
    await ana.getByText('Decisions are closed: the campaign is closing.').waitFor();
    // The report links are plain GETs: the session cookie authenticates them.
    const csv = await ana.request.get(await ana.getByRole('link', { name: 'CSV' }).getAttribute('href') ?? '');
    assert.equal(csv.status(), 200);
    assert.match(csv.headers()['content-type'] ?? '', /text\/csv/);
    assert.match(await csv.text(), /Left the team in March/);
    const json = await ana.request.get(await ana.getByRole('link', { name: 'JSON' }).getAttribute('href') ?? '');
    assert.equal(((await json.json()) as { format: string }).format, 'accord-campaign-report/1');
    await link.click();
    await root.getByRole('heading', { name: `Revocations from campaign "${DEFINITION.title}"`, level: 1 }).waitFor();
  });

  it('lets an admin define a campaign from YAML and start it, and says in words why a start is refused', async () => {
    const root = pages.root!;
    await root.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Campaigns' }).click();
    const yaml = (title: string, prefix: string) => `title: ${title}\nscope:\n  backend: [proxmox]\n  resourcePrefix: ${prefix}\nreviewers:\n  users: [ana]\nfallbackReviewers: [root]\nrecurrence: "0 9 1 * *"\ndurationDays: 7\ndefaultDecision: keep\n`;
    await root.getByLabel('Definition (YAML)').fill(yaml('Nothing in scope', '/nowhere'));
    await root.getByRole('button', { name: 'Create draft' }).click();
    await root.getByRole('link', { name: 'Nothing in scope' }).waitFor();
    await root.getByRole('button', { name: 'Start Nothing in scope' }).click();
    await root.getByRole('alert').filter({ hasText: /^Not started: .*0 items is not started/ }).waitFor();

    await root.getByLabel('Definition (YAML)').fill(yaml('Monthly VM access', '/vms'));
    await root.getByRole('button', { name: 'Create draft' }).click();
    await root.getByRole('button', { name: 'Start Monthly VM access' }).click();
    await root.getByRole('heading', { name: 'Monthly VM access', level: 1 }).waitFor();
    await root.getByText('Open for decisions').waitFor();
    assert.match(new URL(root.url()).pathname, /^\/campaigns\/cp-/);
  });
});
