/**
 * The in-app notification centre: what waits for a person lands in their inbox in the unit of work of the
 * state change (no SMTP needed), arrives live on their open connections with the unread count, is theirs
 * only, and is marked read by them.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { InboxItem } from '../../server/protocol/events.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT, submitDraft } from '../helpers/api.ts';
import { connect, connected, startTestServer, until } from '../helpers/server.ts';

it('a reviewer hears live that a change needs their vote, reads it, and nobody else sees it', async () => {
  const server = await startTestServer();
  const rootToken = await server.user('root', 'admin');
  await importProxmox(server, rootToken);
  const anaToken = await server.user('ana', 'reviewer');
  const ana = apiAs(server.url, anaToken);
  const vic = apiAs(server.url, await server.user('vic', 'viewer'));
  const rita = apiAs(server.url, await server.user('rita', 'reviewer'));
  const socket = connect(server.url, anaToken);
  await connected(socket);
  const live: { notification: InboxItem; unread: number }[] = [];
  socket.on('notification:new', (n) => live.push(n));

  const created = await rita('POST', '/changes', PROXMOX_CONTENT);
  const changeId = (created.body as { change: { id: string } }).change.id;
  assert.equal((await submitDraft(rita, changeId)).status, 201);
  await until(() => live.length === 1, 'ana hears it live');
  assert.equal(live[0]!.notification.event, 'change.needs_vote');
  assert.equal(live[0]!.notification.payload.changeId, changeId);
  assert.equal(live[0]!.unread, 1);

  const list = (await ana('GET', '/notifications')).body as { notifications: InboxItem[]; unread: number };
  assert.equal(list.unread, 1);
  assert.equal(list.notifications[0]!.id, live[0]!.notification.id);
  assert.equal(((await vic('GET', '/notifications')).body as { unread: number }).unread, 0, 'a viewer does not vote: nothing for vic');
  assert.equal(((await rita('GET', '/notifications')).body as { unread: number }).unread, 0, 'the requester is not asked to vote');
  assert.equal(((await vic('POST', '/notifications/read', { ids: [list.notifications[0]!.id] })).body as { marked: number }).marked, 0, 'another person cannot mark it');
  const read = (await ana('POST', '/notifications/read', { ids: [list.notifications[0]!.id] })).body as { marked: number; unread: number };
  assert.deepEqual(read, { marked: 1, unread: 0 });
  assert.equal((await ana('POST', '/notifications/read', { ids: [] })).status, 400);
  assert.equal(((await ana('GET', '/notifications?unread=1')).body as { notifications: unknown[] }).notifications.length, 0);
});
