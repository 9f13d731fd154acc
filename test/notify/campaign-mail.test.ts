/**
 * Campaign messages against a real SMTP server: each reviewer hears when a campaign starts how many items
 * wait for them; near the end, one reminder each for what is still undecided (however often the clock
 * ticks); at the end, the clock closes the campaign as `accord`.
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { CampaignView } from '../../server/commands/campaign-service.ts';
import { CampaignClock } from '../../server/commands/campaign-clock.ts';
import { Notifier } from '../../server/notify/notifier.ts';
import { NotificationRepository } from '../../server/store/repositories/notification-repository.ts';
import { apiAs, importProxmox } from '../helpers/api.ts';
import { startTestServer, until } from '../helpers/server.ts';

it('tells reviewers when a campaign starts, reminds them once near its end, and closes it at the end', async () => {
  const mails: { to: string; subject: string; text: string }[] = [];
  const smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, _s, cb) {
      simpleParser(stream).then((m: ParsedMail) => {
        mails.push({ to: Array.isArray(m.to) ? m.to.map((a) => a.text).join(', ') : (m.to?.text ?? ''), subject: m.subject ?? '', text: m.text ?? '' });
        cb();
      }, cb);
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  after(() => new Promise<void>((r) => smtp.close(() => r())));
  const port = (smtp.server.address() as { port: number }).port;
  const server = await startTestServer({ smtpUrl: `smtp://127.0.0.1:${port}`, publicUrl: 'https://accord.example.test' });
  const outbox = new NotificationRepository(server.app.db);
  const rootToken = await server.user('root', 'admin');
  const root = apiAs(server.url, rootToken);
  const tokens: Record<string, string> = {};
  for (const name of ['ana', 'ben']) {
    tokens[name] = await server.user(name, 'reviewer');
    await outbox.setEmail(name, `${name}@example.test`);
  }
  await importProxmox(server, rootToken);
  const created = await root('POST', '/campaigns', { title: 'Quarterly review', scope: { backend: ['proxmox'] }, reviewers: { users: ['ana', 'ben'] }, durationDays: 10, remindDaysBefore: 2 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = (created.body as { campaign: CampaignView }).campaign.id;
  const started = await root('POST', `/campaigns/${id}/start`);
  assert.equal(started.status, 200, JSON.stringify(started.body));
  const total = (started.body as { campaign: CampaignView }).campaign.progress.total;
  const to = (who: string) => mails.filter((m) => m.to.includes(`${who}@example.test`));
  await until(() => to('ana').length === 1 && to('ben').length === 1, 'both reviewers hear the campaign started');
  assert.equal(to('ana')[0]!.subject, `Access review: ${total} items wait for your decision (Quarterly review)`);
  assert.match(to('ana')[0]!.text, new RegExp(`Open it: https://accord\\.example\\.test/campaigns/${id}`));

  // Ana decides all but three items (an item is decided once, by any of its reviewers): near the end both
  // hear, once, that three still wait.
  const ana = apiAs(server.url, tokens.ana!);
  const items = ((await ana('GET', `/campaigns/${id}`)).body as { items: { id: string }[] }).items;
  for (const item of items.slice(3)) assert.equal((await ana('POST', `/campaigns/${id}/decisions`, { items: [item.id], decision: 'keep' })).status, 200);
  const endsAt = Date.parse((started.body as { campaign: CampaignView }).campaign.endsAt!);
  const notifier = new Notifier({ store: server.app.accord.store, users: server.app.users, outbox, publicUrl: 'https://accord.example.test', channels: ['email'] });
  const log = { warn: () => {}, error: (o: object) => assert.fail(JSON.stringify(o)) };
  const early = new CampaignClock({ accord: server.app.accord, notifier, log, everyMs: 60_000, now: () => endsAt - 3 * 86_400_000 });
  await early.tick();
  const near = new CampaignClock({ accord: server.app.accord, notifier, log, everyMs: 60_000, now: () => endsAt - 86_400_000 });
  await near.tick();
  await near.tick();
  await until(() => to('ben').some((m) => m.subject.startsWith('Reminder:')), 'a reminder near the end');
  await new Promise((r) => setTimeout(r, 1_500));
  assert.equal(to('ben').filter((m) => m.subject.startsWith('Reminder:')).length, 1, 'one reminder, however often the clock ticks');
  assert.equal(to('ben')[1]!.subject, 'Reminder: 3 items still wait for your decision (Quarterly review)');
  await until(() => to('ana').length === 2, 'ana is reminded too');
  assert.equal(to('ana')[1]!.subject, 'Reminder: 3 items still wait for your decision (Quarterly review)');
  assert.ok(total > 3);

  // At the end the clock closes it, as accord.
  await new CampaignClock({ accord: server.app.accord, notifier, log, everyMs: 60_000, now: () => endsAt + 1 }).tick();
  const view = ((await root('GET', `/campaigns/${id}`)).body as { campaign: CampaignView }).campaign;
  assert.equal(view.status, 'closed', 'nothing was revoked, so it closes at once');
  assert.equal(view.progress.decided, total - 3, 'defaultDecision none: the three stay undecided, and the report says so');
  const audit = await server.app.accord.audit.all();
  assert.ok(audit.some((e) => e.action === 'campaign.close' && e.actor === 'accord' && e.subject === `campaign:${id}`));
});
