/**
 * A campaign reviewer signs their decisions with a passkey in real Chromium (docs/campaigns.md, "Sign-off by
 * each reviewer"): the page shows the attestation, the count and the hash; a virtual authenticator registers
 * the passkey and signs; the signed state appears; a decision made afterwards marks the sign-off as no
 * longer covering the latest decisions. Needs `npx vite build` first (the server serves web/dist).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { CampaignItemView, CampaignView } from '../../web/lib/campaign-api.ts';
import { apiAs, importProxmox } from '../helpers/api.ts';
import { launchBrowser, newPage, screenshotDir, signIn } from '../helpers/browser.ts';
import { freePort, startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';

const SHOTS = screenshotDir();
const PASSWORD = 'campaign-signoff-pass';
const DEFINITION = {
  title: 'Q2 Proxmox recertification',
  scope: { backend: ['proxmox'] },
  reviewers: { users: ['ana', 'ben'] },
  recurrence: '0 9 1 1,4,7,10 *',
  durationDays: 14,
  defaultDecision: 'none',
};

describe('a campaign reviewer signs their decisions with a passkey', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let campaignId = '';
  let items: CampaignItemView[] = [];
  const tokens: Record<string, string> = {};
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
    items = (await root<{ items: CampaignItemView[] }>('GET', `/campaigns/${campaignId}`)).body.items.filter((i) => !i.highRisk);
    assert.ok(items.length >= 2, 'the fixture has two ordinary grants');

    browser = await launchBrowser((fn) => teardown.push(fn));
    page = await newPage(browser, base);
    await signIn(page, 'ana', PASSWORD);
  });

  it('shows what ana signs, registers her passkey, signs, and shows the signed state', async () => {
    const ana = apiAs(server.url, tokens.ana!);
    const decided = await ana('POST', `/campaigns/${campaignId}/decisions`, { items: [items[0]!.id], decision: 'revoke', reason: 'Left the team in March.' });
    assert.equal(decided.status, 200, JSON.stringify(decided.body));
    const mine = (await ana<{ count: number; hash: string; attestation: string }>('GET', `/campaigns/${campaignId}/signoffs/mine`)).body;
    assert.equal(mine.count, 1);

    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });

    await page.goto(`/campaigns/${campaignId}`);
    const panel = page.getByRole('region', { name: 'Reviewer sign-offs' });
    await panel.getByText(mine.attestation).waitFor();
    assert.equal((await panel.getByLabel('Decisions hash').innerText()).trim(), mine.hash);
    await panel.getByText('Nobody has signed their decisions yet.').waitFor();

    await panel.getByRole('button', { name: 'Sign my 1 decision' }).click();
    await panel.getByRole('status').filter({ hasText: 'Signed your 1 decision with your passkey' }).waitFor({ timeout: 15_000 });
    const list = panel.getByRole('list', { name: 'Who signed' });
    await list.getByText(/ana \(you\)\s*signed 1 decision/).waitFor();
    await list.getByText('covers your current decisions').waitFor();
    await page.screenshot({ path: `${SHOTS}campaign-signoff.png`, fullPage: true });

    const view = (await ana<{ campaign: CampaignView }>('GET', `/campaigns/${campaignId}`)).body.campaign;
    assert.deepEqual(view.signoffs.map((s) => [s.reviewer, s.decisions, s.decisionsHash, s.current]), [['ana', 1, mine.hash, true]]);
  });

  it('says the sign-off no longer covers her latest decisions once she decides more, and offers to sign again', async () => {
    const ana = apiAs(server.url, tokens.ana!);
    const decided = await ana('POST', `/campaigns/${campaignId}/decisions`, { items: [items[1]!.id], decision: 'revoke', reason: 'No longer on call.' });
    assert.equal(decided.status, 200, JSON.stringify(decided.body));
    const panel = page.getByRole('region', { name: 'Reviewer sign-offs' });
    await panel.getByText('no longer covers your latest decisions — sign again').waitFor();
    await panel.getByRole('button', { name: 'Sign my 2 decisions' }).click();
    await panel.getByRole('status').filter({ hasText: 'Signed your 2 decisions with your passkey' }).waitFor({ timeout: 15_000 });
    const view = (await ana<{ campaign: CampaignView }>('GET', `/campaigns/${campaignId}`)).body.campaign;
    assert.ok(view.signoffs.some((s) => s.reviewer === 'ana' && s.decisions === 2 && s.current), JSON.stringify(view.signoffs));
  });
});
