/**
 * Recertification campaigns end to end over REST and the live `campaign:<id>` document: a definition is
 * validated (field and reason), started on a snapshot of a Proxmox target's access (the fake API), decided
 * by its reviewers (outsiders, bulk keeps of high-risk items and reasonless revokes refused), closed by its
 * owner into a revocation change request that goes through review and is applied to the target, after
 * which the campaign closes itself; the report lists every decision.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CampaignView } from '../../server/commands/campaign-service.ts';
import type { CampaignItem } from '../../server/domain/campaign/snapshot.ts';
import { SocketProvider } from '../../web/lib/socket-provider.ts';
import { REVIEW_ORIGIN, reviewTeam, type ReviewTeam } from '../helpers/approve.ts';
import { connect, connected, startTestServer, suiteTeardown, until, type TestServer } from '../helpers/server.ts';
import { ProxmoxFake } from '../fakes/proxmox-api.ts';
import { PVE_SECRET, pveUserCfg } from '../connectors/pve-fixture.ts';

type Item = CampaignItem & { reviewers: string[]; decision: string | null; reason: string | null; decidedBy: string | null };

const DEFINITION = {
  title: 'Q1 2027 Proxmox recertification',
  scope: { backend: ['proxmox'] },
  reviewers: { users: ['ana', 'ben'] },
  recurrence: '0 9 1 1,4,7,10 *',
  durationDays: 14,
  defaultDecision: 'none',
};

describe('recertification campaigns', () => {
  let server: TestServer;
  let team: ReviewTeam;
  let fake: ProxmoxFake;
  let id = '';
  let items: Item[] = [];
  const teardown = suiteTeardown();

  before(async () => {
    // dave left the company (his account is disabled) but still holds a grant.
    fake = new ProxmoxFake({ userCfg: `${pveUserCfg()}acl:0:/vms/101:dave@pve:PVEAuditor:\n`, tokenSecrets: { 'accord@pve!apply': PVE_SECRET } });
    await fake.start();
    teardown.push(() => fake.stop());
    server = await startTestServer({ publicUrl: REVIEW_ORIGIN, applyRetryMs: '20', driftIntervalMs: 0 }, (fn) => teardown.push(fn));
    team = await reviewTeam(server);
    assert.equal((await team.api.root('POST', '/targets', { name: 'pve1', backend: 'proxmox', url: fake.url, tokenId: 'accord@pve!apply', tokenSecret: PVE_SECRET })).status, 201);
    assert.equal((await team.api.root('POST', '/targets/pve1/read')).status, 200);
  });

  it('refuses invalid definitions with the field and the reason, and an empty scope at start', async () => {
    const cases: [unknown, RegExp][] = [
      [{ ...DEFINITION, scop: {} }, /scop/],
      [{ ...DEFINITION, recurrence: 'every tuesday' }, /recurrence: not a cron expression/],
      [{ ...DEFINITION, reviewers: { users: [] } }, /reviewers: name at least one reviewer/],
      [{ ...DEFINITION, defaultDecision: 'maybe' }, /defaultDecision/],
    ];
    for (const [definition, message] of cases) {
      const res = await team.api.root('POST', '/campaigns', definition);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.error!.message, message);
    }
    assert.equal((await team.api.ana('POST', '/campaigns', DEFINITION)).status, 403, 'admins define campaigns');
    const empty = await team.api.root('POST', '/campaigns', { ...DEFINITION, title: 'Nothing here', scope: { backend: ['proxmox'], resourcePrefix: '/nowhere' } });
    assert.equal(empty.status, 201);
    const started = await team.api.root('POST', `/campaigns/${(empty.body as { campaign: CampaignView }).campaign.id}/start`);
    assert.equal(started.status, 409);
    assert.match(started.body.error!.message, /0 items is not started/);
  });

  it('takes a snapshot of the access in scope at start, each item with its reach, risk and provenance', async () => {
    const yaml = Object.entries(DEFINITION).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n');
    const created = await fetch(`${server.url}/api/campaigns`, { method: 'POST', headers: { authorization: `Bearer ${team.tokens.root}`, 'content-type': 'application/yaml' }, body: yaml });
    assert.equal(created.status, 201, await created.clone().text());
    const campaign = ((await created.json()) as { campaign: CampaignView }).campaign;
    id = campaign.id;
    assert.equal(campaign.status, 'draft');
    assert.equal(campaign.nextRuns.length, 3, 'a quarterly recurrence says when it runs next');
    const started = await team.api.root('POST', `/campaigns/${id}/start`);
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const view = (await team.api.vic('GET', `/campaigns/${id}`)).body as { campaign: CampaignView; items: Item[] };
    items = view.items;
    assert.equal(view.campaign.status, 'active');
    assert.ok(items.length >= 10, `${items.length} items`);
    assert.equal(view.campaign.progress.total, items.length);
    const ops = items.find((i) => i.grant.principal === 'ops' && i.grant.resource === '/vms');
    assert.ok(ops, 'the @ops grant on /vms is an item');
    assert.equal(ops.principalKind, 'group');
    assert.equal(ops.approvedBy, null, 'imported from the target, not approved through Accord: outside Accord');
    assert.ok(ops.highRisk, 'VMOperator opens the console: high risk');
    assert.ok(items.find((i) => i.grant.principal === 'dave@pve')?.helpers.orphaned, 'dave left the company (disabled): his grant is orphaned');
    assert.ok(items.every((i) => i.reviewers.length > 0 && i.reviewers.every((r) => r === 'ana' || r === 'ben')));
    // A change made meanwhile does not change the snapshot.
    fake.edit((cfg) => { cfg.acl.delete('/vms'); });
    assert.equal((await team.api.root('POST', '/targets/pve1/read')).status, 200);
    const again = (await team.api.vic('GET', `/campaigns/${id}`)).body as { items: Item[] };
    assert.equal(again.items.length, items.length);
    fake.setUserCfg(`${pveUserCfg()}acl:0:/vms/101:dave@pve:PVEAuditor:\n`);
    assert.equal((await team.api.root('POST', '/targets/pve1/read')).status, 200);
  });

  it('records decisions by the items\' reviewers only, live in the campaign document', async () => {
    const socket = connect(server.url, team.tokens.vic);
    await connected(socket);
    const doc = new SocketProvider(socket, `campaign:${id}`);
    after(() => doc.destroy());
    await doc.whenSynced();
    assert.equal(doc.access, 'read');
    const progress = () => (doc.doc.getMap<unknown>('campaign').get('progress') as CampaignView['progress'] | undefined);
    await until(() => progress()?.total === items.length, 'the campaign is projected');

    const plain = items.find((i) => !i.highRisk)!;
    const risky = items.filter((i) => i.highRisk);
    const decide = (who: 'ana' | 'ben' | 'rita', body: unknown) => team.api[who]('POST', `/campaigns/${id}/decisions`, body);
    assert.equal((await decide('rita', { items: [plain.id], decision: 'keep' })).status, 403, 'not a reviewer of it');
    const noReason = await decide('ana', { items: [plain.id], decision: 'revoke' });
    assert.equal(noReason.status, 400);
    assert.match(noReason.body.error!.message, /reason/);
    const bulk = await decide('ana', { items: [plain.id, risky[0]!.id], decision: 'keep' });
    assert.equal(bulk.status, 400);
    assert.match(bulk.body.error!.message, /high-risk items cannot be kept in bulk/);
    assert.equal((await decide('ana', { items: ['ci-nope'], decision: 'keep' })).status, 400);
    assert.equal((await decide('ana', { items: [plain.id], decision: 'keep' })).status, 200);
    assert.equal((await decide('ben', { items: [risky[0]!.id], decision: 'keep', reason: 'on-call needs it' })).status, 200, 'one by one, a high-risk item may be kept');
    const ops = items.find((i) => i.grant.principal === 'ops' && i.grant.resource === '/vms')!;
    const orphans = items.filter((i) => i.helpers.orphaned && i.id !== ops.id && i.id !== plain.id && i.id !== risky[0]!.id).map((i) => i.id);
    const revoke = await decide('ana', { items: [ops.id, ...orphans], decision: 'revoke', reason: 'console for all of ops is too wide; orphaned accounts' });
    assert.equal(revoke.status, 200, JSON.stringify(revoke.body));
    await until(() => progress()?.decided === 2 + 1 + orphans.length, 'progress arrives live');
    assert.equal((doc.doc.getMap<Item>('items').get(ops.id))?.decision, 'revoke');
    assert.equal((doc.doc.getMap<Item>('items').get(ops.id))?.decidedBy, 'ana');
    const mine = (await team.api.ana('GET', `/campaigns?waitingFor=me`)).body as { campaigns: CampaignView[] };
    assert.ok(mine.campaigns.some((c) => c.id === id), 'home: waiting for my review');
  });

  it('a reviewer signs their decisions with a passkey; the sign-off binds to exactly those decisions', async () => {
    const { SoftAuthenticator } = await import('../helpers/soft-authenticator.ts');
    const passkey = new SoftAuthenticator();
    const reg = (await team.api.ana('POST', '/passkeys/options')).body as { options: Parameters<InstanceType<typeof SoftAuthenticator>['createCredential']>[0] };
    assert.equal((await team.api.ana('POST', '/passkeys', { response: passkey.createCredential(reg.options, REVIEW_ORIGIN) })).status, 201, 'reviewers register passkeys');
    const mine = (await team.api.ana('GET', `/campaigns/${id}/signoffs/mine`)).body as { count: number; hash: string; attestation: string };
    assert.ok(mine.count > 0);
    assert.match(mine.attestation, /^I, ana, reviewed the \d+ item\(s\) below/);
    assert.equal((await team.api.ana('POST', `/campaigns/${id}/signoffs/options`, { decisionsHash: 'f'.repeat(64) })).status, 409, 'a hash that is not her decisions is refused');
    assert.equal((await team.api.rita('POST', `/campaigns/${id}/signoffs/options`, { decisionsHash: mine.hash })).status, 403, 'not a reviewer');
    const opts = (await team.api.ana('POST', `/campaigns/${id}/signoffs/options`, { decisionsHash: mine.hash })).body as { options: Parameters<InstanceType<typeof SoftAuthenticator>['getAssertion']>[0] };
    const signed = await team.api.ana('POST', `/campaigns/${id}/signoffs`, { response: passkey.getAssertion(opts.options, REVIEW_ORIGIN), decisionsHash: mine.hash });
    assert.equal(signed.status, 201, JSON.stringify(signed.body));
    let view = ((await team.api.vic('GET', `/campaigns/${id}`)).body as { campaign: CampaignView }).campaign;
    assert.deepEqual(view.signoffs.map((x) => [x.reviewer, x.decisions, x.current]), [['ana', mine.count, true]]);
    // A decision made after signing: the sign-off no longer covers what she decided, and says so.
    const next = items.find((i) => !i.highRisk && i.reviewers.includes('ana') && !i.decision && i.id !== items[0]!.id);
    assert.ok(next, 'an item ana has not decided yet');
    assert.equal((await team.api.ana('POST', `/campaigns/${id}/decisions`, { items: [next.id], decision: 'keep' })).status, 200);
    view = ((await team.api.vic('GET', `/campaigns/${id}`)).body as { campaign: CampaignView }).campaign;
    assert.equal(view.signoffs[0]!.current, false);
  });

  it('closes into one revocation change request that is reviewed, applied to the target, and then closes the campaign', async () => {
    assert.equal((await team.api.ana('POST', `/campaigns/${id}/close`)).status, 403, 'the owner closes it');
    const closed = await team.api.root('POST', `/campaigns/${id}/close`);
    assert.equal(closed.status, 200, JSON.stringify(closed.body));
    const { campaign, revocations } = closed.body as { campaign: CampaignView; revocations: string[] };
    assert.equal(campaign.status, 'closing');
    assert.equal(revocations.length, 1);
    assert.equal((await team.api.ana('POST', `/campaigns/${id}/decisions`, { items: [items[0]!.id], decision: 'keep' })).status, 409, 'decisions after close are refused');
    const change = await team.view(revocations[0]!);
    assert.equal(change.status, 'in_review');
    assert.match(change.title, /Revocations from campaign/);
    assert.ok(change.revisions[0]!.content.items.every((i) => i.op === 'remove'));
    assert.equal(change.revisions[0]!.blast.gained.length, 0, 'its blast radius shows only losses');
    assert.ok(change.revisions[0]!.blast.lost.length > 0);
    assert.equal((await team.api.root('POST', `/campaigns/${id}/revocations/${revocations[0]}/accept-failure`, { reason: 'x' })).status, 409, 'nothing failed yet');
    // Reviewed like any change (root requested it, so ana and ben approve), signed off, applied, verified.
    for (const voter of ['ana', 'ben'] as const) {
      const { currentHash } = await import('../helpers/api.ts');
      assert.equal((await team.api[voter]('POST', `/changes/${change.id}/votes`, { choice: 'approve', revisionHash: await currentHash(team.api[voter], change.id) })).status, 201);
    }
    const signedOff = await signOff(team, change.id);
    assert.equal(signedOff, 201);
    const applied = await team.applied(change.id);
    assert.equal(applied.apply!.state, 'verified', JSON.stringify(applied.apply));
    assert.doesNotMatch(fake.userCfg(), /^acl:1:\/vms:[^:]*@ops[,:]/m, 'the revoked grant is gone from the target');
    const deadline = Date.now() + 10_000;
    let status = '';
    while (status !== 'closed' && Date.now() < deadline) {
      status = ((await team.api.vic('GET', `/campaigns/${id}`)).body as { campaign: CampaignView }).campaign.status;
      if (status !== 'closed') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 'closed', 'the campaign closes once its revocations are applied');
  });

  it('exports a report for auditors: every item with its decision, who, when and why, as JSON and CSV', async () => {
    const json = await team.api.vic('GET', `/campaigns/${id}/report`);
    assert.equal(json.status, 200);
    const report = json.body as { format: string; items: Item[]; revocations: { changeId: string; status: string }[]; audit: { action: string }[] };
    assert.equal(report.format, 'accord-campaign-report/1');
    assert.equal(report.items.length, items.length);
    assert.equal(report.revocations[0]!.status, 'applied');
    for (const action of ['campaign.create', 'campaign.start', 'campaign.decide', 'campaign.close', 'campaign.closed']) {
      assert.ok(report.audit.some((e) => e.action === action), `audit has ${action}`);
    }
    for (const action of ['campaign.signoff']) {
      assert.ok(report.audit.some((e) => e.action === action), `audit has ${action}`);
    }
    const csv = await fetch(`${server.url}/api/campaigns/${id}/report?format=csv`, { headers: { authorization: `Bearer ${team.tokens.vic}` } });
    assert.equal(csv.status, 200);
    const lines = (await csv.text()).trim().split('\r\n');
    assert.equal(lines.length, items.length + 1);
    assert.match(lines[0]!, /^item,backend,principal,resource,role/);
    assert.ok(lines.some((l) => l.includes(',ops,/vms,') && l.includes(',revoke,') && l.includes('ana')), lines.join('\n'));
  });
});

async function signOff(team: ReviewTeam, changeId: string): Promise<number> {
  const { currentHash } = await import('../helpers/api.ts');
  const revisionHash = await currentHash(team.api.paul, changeId);
  const options = (await team.api.paul('POST', `/changes/${changeId}/signoffs/options`, { revisionHash })).body as { options: Parameters<typeof team.sign>[0] };
  return (await team.api.paul('POST', `/changes/${changeId}/signoffs`, { response: team.sign(options.options), revisionHash })).status;
}
