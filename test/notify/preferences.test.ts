/**
 * Per-user notification preferences (issue 21): each person turns events off per channel; the notifier
 * queues nothing for a pair turned off, in the inbox or by e-mail, and everyone else still hears it.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { InboxItem } from '../../server/protocol/events.ts';
import { NotificationRepository } from '../../server/store/repositories/notification-repository.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT, submitDraft } from '../helpers/api.ts';
import { freePort, startTestServer } from '../helpers/server.ts';

it('a reviewer who turned "needs my vote" off by e-mail keeps it in the app, and one who turned it off in the app gets only the e-mail', async () => {
  // An SMTP URL nobody listens on: messages are queued in the outbox (what this test reads), not delivered.
  const server = await startTestServer({ smtpUrl: `smtp://127.0.0.1:${await freePort()}` });
  const rootToken = await server.user('root', 'admin');
  await importProxmox(server, rootToken);
  const outbox = new NotificationRepository(server.app.db);
  const people: Record<string, ReturnType<typeof apiAs>> = {};
  for (const name of ['ana', 'ben', 'cal']) {
    people[name] = apiAs(server.url, await server.user(name, 'reviewer'));
    await outbox.setEmail(name, `${name}@example.test`);
  }
  const rita = apiAs(server.url, await server.user('rita', 'reviewer'));

  type Settings = { events: string[]; channels: string[]; off: { event: string; channel: string }[] };
  const initial = await people.ana!<Settings>('GET', '/me/notification-settings');
  assert.deepEqual(initial.body.off, [], 'everything is on until turned off');
  assert.ok(initial.body.events.includes('change.needs_vote') && initial.body.channels.includes('email'));
  const set = await people.ana!<Settings>('PUT', '/me/notification-settings', { off: [{ event: 'change.needs_vote', channel: 'email' }] });
  assert.deepEqual(set.body.off, [{ event: 'change.needs_vote', channel: 'email' }]);
  await people.ben!('PUT', '/me/notification-settings', { off: [{ event: 'change.needs_vote', channel: 'inbox' }] });
  const bad = await people.cal!('PUT', '/me/notification-settings', { off: [{ event: 'change.everything', channel: 'pager' }] });
  assert.equal(bad.status, 400);
  assert.deepEqual((await people.cal!<Settings>('GET', '/me/notification-settings')).body.off, [], 'a refused change stores nothing');

  const created = await rita<{ change: { id: string } }>('POST', '/changes', PROXMOX_CONTENT);
  assert.equal((await submitDraft(rita, created.body.change.id)).status, 201);

  const inboxOf = async (name: string) => ((await people[name]!<{ notifications: InboxItem[] }>('GET', '/notifications')).body.notifications).map((n) => n.event);
  assert.deepEqual(await inboxOf('ana'), ['change.needs_vote'], 'ana turned off only the e-mail');
  assert.deepEqual(await inboxOf('ben'), [], 'ben turned off the app');
  assert.deepEqual(await inboxOf('cal'), ['change.needs_vote']);
  const mailed = await server.app.db.all<{ recipient: string }>("SELECT recipient FROM notification_outbox WHERE channel = 'email' AND event = 'change.needs_vote' ORDER BY recipient");
  assert.deepEqual(mailed.map((m) => m.recipient), ['ben', 'cal'], 'ana is not mailed');
});
