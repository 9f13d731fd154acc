/**
 * `CampaignSession` in Node against a real server (docs/campaigns.md): two reviewers read the live
 * `campaign:<id>` document, see each other's decisions without reloading, are refused a bulk keep of
 * high-risk items in the server's words, and the rule book (shared with the server) says who may decide
 * and close. The list helpers filter and page a campaign of ~18,000 items.
 */
import './svelte-loader.ts';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, importProxmox } from '../helpers/api.ts';
import { connect, startTestServer, suiteTeardown, until, type TestServer } from '../helpers/server.ts';
import type { CampaignItemView, CampaignView } from '../../web/lib/campaign-api.ts';

const { LiveConnection } = await import('../../web/state/live-connection.svelte.ts');
const { CampaignSession, filterItems, pageOf, grantWords, NO_FILTER, PAGE_SIZE } = await import('../../web/state/campaign.svelte.ts');

class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(key: string) { return this.map.get(key) ?? null; }
  setItem(key: string, value: string) { this.map.set(key, value); }
  removeItem(key: string) { this.map.delete(key); }
}

const DEFINITION = {
  title: 'Q1 Proxmox recertification',
  scope: { backend: ['proxmox'] },
  reviewers: { users: ['ana', 'ben'] },
  recurrence: '0 9 1 1,4,7,10 *',
  durationDays: 14,
  defaultDecision: 'none',
};

function syntheticItem(n: number): CampaignItemView {
  return {
    id: `ci-${n.toString(16).padStart(16, '0')}`, backend: 'proxmox',
    grant: { principal: `user${n}@pve`, resource: `/vms/${n}`, role: 'PVEVMUser', propagate: false, effect: 'allow' },
    principalKind: 'user', privileges: ['VM.Console'], highRisk: n % 10 === 0, reach: { resources: 1, vms: 1 },
    approvedBy: n % 3 === 0 ? `cr-${n}` : null, expiresAt: null, helpers: { orphaned: n % 7 === 0, peers: 0 },
    reviewers: n % 2 === 0 ? ['ana'] : ['ben'], decision: n % 5 === 0 ? 'keep' : null, reason: null, decidedBy: null, decidedAt: null,
  };
}

describe('campaign list helpers', () => {
  const items = Array.from({ length: 18_000 }, (_, n) => syntheticItem(n));
  it('filters by mine, undecided, high risk, outside Accord, orphaned and text, each narrowing further', () => {
    assert.equal(filterItems(items, NO_FILTER, 'ana').length, 18_000);
    assert.equal(filterItems(items, { ...NO_FILTER, mine: true }, 'ana').length, 9_000);
    assert.equal(filterItems(items, { ...NO_FILTER, undecided: true }, 'ana').length, 14_400);
    assert.equal(filterItems(items, { ...NO_FILTER, highRisk: true }, 'ana').length, 1_800);
    assert.ok(filterItems(items, { ...NO_FILTER, outsideAccord: true }, 'ana').every((i) => i.approvedBy === null));
    assert.ok(filterItems(items, { ...NO_FILTER, orphaned: true }, 'ana').every((i) => i.helpers.orphaned));
    assert.deepEqual(filterItems(items, { ...NO_FILTER, text: 'USER17999@' }, 'ana').map((i) => i.grant.principal), ['user17999@pve']);
    assert.equal(filterItems(items, { ...NO_FILTER, text: '/vms/1234' }, 'ana').length, 11, '/vms/1234 and /vms/12340-12349');
    const both = filterItems(items, { ...NO_FILTER, mine: true, highRisk: true, undecided: true }, 'ben');
    assert.equal(both.length, 0, 'ben reviews the odd items, none of which is high risk');
  });
  it('renders one page of PAGE_SIZE items at a time, the page clamped to the pages there are', () => {
    const first = pageOf(items, 0);
    assert.equal(first.items.length, PAGE_SIZE);
    assert.deepEqual([first.from, first.to, first.pages], [1, 100, 180]);
    const last = pageOf(items, 999);
    assert.deepEqual([last.page, last.from, last.to], [179, 17_901, 18_000]);
    assert.deepEqual(pageOf([], 3), { items: [], page: 0, pages: 1, from: 0, to: 0 });
  });
  it('says what a grant gives: its role or its privileges', () => {
    assert.equal(grantWords(syntheticItem(1)), 'role PVEVMUser');
    const own = syntheticItem(2);
    assert.equal(grantWords({ ...own, grant: { ...own.grant, role: undefined, privileges: ['vm.power', 'vm.console'] } }), 'privileges vm.power, vm.console');
  });
});

describe('CampaignSession against a real server', () => {
  let server: TestServer;
  const tokens: Record<string, string> = {};
  const teardown = suiteTeardown();
  let campaignId = '';

  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    tokens.root = await server.user('root', 'admin');
    tokens.ana = await server.user('ana', 'reviewer');
    tokens.ben = await server.user('ben', 'reviewer');
    tokens.vic = await server.user('vic', 'viewer');
    await importProxmox(server, tokens.root);
    const root = apiAs(server.url, tokens.root);
    const created = await root<{ campaign: CampaignView }>('POST', '/campaigns', DEFINITION);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    campaignId = created.body.campaign.id;
    const started = await root('POST', `/campaigns/${campaignId}/start`);
    assert.equal(started.status, 200, JSON.stringify(started.body));
  });

  const open = async (name: string, role: string, id = 0) => {
    const live = new LiveConnection(name, { socket: connect(server.url, tokens[name], {}, (fn) => teardown.push(fn)), storage: new MemoryStorage() });
    const session = new CampaignSession(campaignId, { id, username: name, role }, live);
    teardown.push(() => session.dispose());
    // A loaded CI machine (the PostgreSQL pass runs beside other suites) may take longer than the default 10 s.
    await until(() => session.isLoaded && session.items.length === session.view!.progress.total && session.items.length > 0, `${name}'s campaign loaded`, 30_000);
    return session;
  };

  it('shows each reviewer the other\'s decisions and presence live, refuses bulk keeps of high-risk items in words, and closes for the owner', async () => {
    const ana = await open('ana', 'reviewer', 2);
    const ben = await open('ben', 'reviewer', 3);
    const vic = await open('vic', 'viewer', 4);
    assert.equal(ana.view?.status, 'active');
    assert.equal(ana.items.length, 10);
    const order = ana.items.map((i) => i.id);

    // The rule book decides: reviewers of an item may decide it; a viewer reads along; only the owner or an admin closes.
    const first = ana.items.find((i) => !i.highRisk)!;
    assert.deepEqual(ana.mayDecide([first]), { allowed: true, why: null });
    assert.equal(vic.mayDecide([first]).allowed, false);
    assert.match(vic.mayDecide([first]).why!, /^You are not a reviewer of these items\.$|scope|viewer/);
    assert.deepEqual(ana.mayClose, { allowed: false, why: 'Only the campaign\'s owner or an admin closes it.' });

    await until(() => ben.participants.some((p) => p.name === 'ana') && ana.participants.some((p) => p.name === 'ben'), 'each sees the other here');

    const revoked = await ana.decideItems([first.id], 'revoke', 'left the team in March');
    assert.equal(revoked.ok, true, JSON.stringify(revoked));
    await until(() => ben.item(first.id)?.decision === 'revoke', 'ben sees ana\'s revoke');
    assert.equal(ben.item(first.id)?.decidedBy, 'ana');
    assert.equal(ben.item(first.id)?.reason, 'left the team in March');
    await until(() => ben.view?.progress.decided === 1, 'ben sees the progress move');
    assert.deepEqual(ana.items.map((i) => i.id), order, 'a decision does not reorder the list');

    // A bulk keep that includes a high-risk item: refused, in the server's words, and listed until dismissed.
    const risky = ana.items.find((i) => i.highRisk)!;
    const other = ana.items.find((i) => !i.highRisk && i.id !== first.id)!;
    const refused = await ben.decideItems([risky.id, other.id], 'keep', '');
    assert.equal(refused.ok, false);
    assert.match(refused.ok ? '' : refused.error.message, /high-risk items cannot be kept in bulk/);
    assert.equal(ben.refused.length, 1);
    assert.equal(ben.refused[0]!.label, 'Keep 2 items');
    ben.dismissRefusal(ben.refused[0]!.key);
    assert.equal(ben.refused.length, 0);
    assert.equal(ana.item(other.id)?.decision, null, 'nothing of a refused decision is recorded');

    // The owner (an admin) closes it: the revocation change appears for everyone, and decisions are closed.
    const root = await open('root', 'admin', 1);
    assert.deepEqual(root.mayClose, { allowed: true, why: null });
    const closed = await root.close();
    assert.equal(closed.ok, true, JSON.stringify(closed));
    await until(() => ana.view?.status === 'closing' && ana.view.revocations.length === 1, 'ana sees the campaign closing with its revocation change');
    assert.match(ana.view!.revocations[0]!.changeId, /^ch-/);
    assert.deepEqual(ana.mayDecide([other]), { allowed: false, why: 'Decisions are closed: the campaign is closing.' });
  });

  it('says in words why a campaign that does not exist cannot be opened', async () => {
    const live = new LiveConnection('ana', { socket: connect(server.url, tokens.ana, {}, (fn) => teardown.push(fn)), storage: new MemoryStorage() });
    const session = new CampaignSession('cp-nothere', { id: 2, username: 'ana', role: 'reviewer' }, live);
    teardown.push(() => session.dispose());
    await until(() => session.loadError !== null, 'the refusal arrives');
    assert.equal(session.loadError, 'No such campaign.');
    assert.equal(session.connection, 'refused');
  });
});
