/**
 * A recurring campaign starts its next run when its recurrence says (the campaign clock): a new campaign
 * with the same definition and owner and a fresh snapshot, linked both ways, once however often the clock
 * ticks; a run that started no earlier occurrence starts nothing.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { CampaignView } from '../../server/commands/campaign-service.ts';
import { CampaignClock } from '../../server/commands/campaign-clock.ts';
import { nextRuns } from '../../server/domain/campaign/definition.ts';
import { apiAs, importProxmox } from '../helpers/api.ts';
import { startTestServer } from '../helpers/server.ts';

it('a monthly campaign starts its next run once, with a fresh snapshot, owned by the same person', async () => {
  const server = await startTestServer();
  const rootToken = await server.user('root', 'admin');
  const root = apiAs(server.url, rootToken);
  await server.user('ana', 'reviewer');
  await importProxmox(server, rootToken);
  const definition = { title: 'Monthly review', scope: { backend: ['proxmox'] }, reviewers: { users: ['ana'] }, recurrence: '0 9 1 * *', durationDays: 7, remindDaysBefore: 0 };
  const created = await root('POST', '/campaigns', definition);
  const id = (created.body as { campaign: CampaignView }).campaign.id;
  const started = (await root('POST', `/campaigns/${id}/start`)).body as { campaign: CampaignView };
  const next = Date.parse(nextRuns(started.campaign.definition, new Date(started.campaign.startedAt!), 1)[0]!);
  const log = { warn: () => {}, error: (o: object) => assert.fail(JSON.stringify(o)) };
  const count = async () => ((await root('GET', '/campaigns')).body as { campaigns: CampaignView[] }).campaigns;

  await new CampaignClock({ accord: server.app.accord, log, everyMs: 60_000, now: () => next - 60_000 }).tick();
  assert.equal((await count()).length, 1, 'not before its time');
  const clock = new CampaignClock({ accord: server.app.accord, log, everyMs: 60_000, now: () => next + 1_000 });
  await clock.tick();
  await clock.tick();
  const all = await count();
  assert.equal(all.length, 2, 'one new run, however often the clock ticks');
  const run = all.find((c) => c.id !== id)!;
  assert.equal(run.status, 'active');
  assert.equal(run.owner, 'root');
  assert.deepEqual(run.definition, started.campaign.definition);
  assert.equal(run.progress.total, started.campaign.progress.total, 'a fresh snapshot of the same access');
  assert.equal(Date.parse(run.startedAt!), next + 1_000);
  const audit = await server.app.accord.audit.all();
  assert.ok(audit.some((e) => e.action === 'campaign.recur' && e.subject === `campaign:${run.id}` && (e.detail as { follows?: string }).follows === id));
});
