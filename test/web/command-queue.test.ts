import './svelte-loader.ts';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { amendAndSubmit, currentRevision, submitDraft } from '../e2e/hash-helpers.ts';
import { connect, connected, startTestServer, until } from '../helpers/server.ts';
import type { ReviewView } from '../../server/commands/review-view.ts';

const { CommandQueue } = await import('../../web/state/command-queue.svelte.ts');

/** localStorage stand-in: a Map with the Storage methods the queue uses. */
class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(key: string) { return this.map.get(key) ?? null; }
  setItem(key: string, value: string) { this.map.set(key, value); }
  removeItem(key: string) { this.map.delete(key); }
}

describe('CommandQueue against a real server', () => {
  it('sends with an idempotency key, keeps commands while offline, persists them, and reports refusals', async () => {
    const server = await startTestServer();
    const root = await server.user('root', 'admin');
    const rita = await server.user('rita', 'reviewer');
    const ana = await server.user('ana', 'reviewer');
    await importProxmox(server, root);
    const created = await apiAs(server.url, rita)<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    const changeId = created.body.change.id;
    assert.equal((await submitDraft(apiAs(server.url, rita), changeId)).status, 201);
    const rev1 = await currentRevision(apiAs(server.url, rita), changeId);

    const socket = connect(server.url, ana);
    socket.disconnect(); // start offline
    const storage = new MemoryStorage();
    const queue = new CommandQueue(socket, 'accord:commands:ana', storage);
    after(() => queue.dispose());

    const outcome = queue.send('vote:cast', { changeId, choice: 'approve', revisionHash: rev1.hash, revision: 1 }, 'Approve revision 1');
    assert.equal(queue.pending.length, 1);
    assert.equal(JSON.parse(storage.getItem('accord:commands:ana')!).length, 1, 'kept in storage while offline');

    // A second queue over the same storage (a reload) sees the same pending command.
    const other = connect(server.url, ana);
    other.disconnect();
    const reloaded = new CommandQueue(other, 'accord:commands:ana', storage);
    assert.equal(reloaded.pending[0]!.key, queue.pending[0]!.key);
    reloaded.dispose();

    socket.connect();
    await connected(socket);
    const result = await outcome;
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(queue.pending.length, 0);
    assert.equal(storage.getItem('accord:commands:ana'), null, 'storage cleared once answered');

    // Sent once per connection with one key: the server records one vote.
    const view = (await apiAs(server.url, ana)<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change;
    assert.equal(view.votes.filter((v) => v.voter === 'ana').length, 1);

    // A double click: the same vote twice while the first is pending is one command, answered to both.
    const before = (await apiAs(server.url, ana)<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change.votes.length;
    const clicks = [1, 2].map(() => queue.send('vote:cast', { changeId, choice: 'abstain', revisionHash: rev1.hash, revision: 1 }, 'Abstain revision 1'));
    assert.equal(queue.pending.length, 1, 'queued once');
    const answers = await Promise.all(clicks);
    assert.deepEqual(answers.map((a) => a.ok), [true, true]);
    const afterClicks = (await apiAs(server.url, ana)<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change.votes.length;
    assert.equal(afterClicks, before + 1, 'one vote recorded');

    const refused = await queue.send('vote:cast', { changeId, choice: 'reject', revisionHash: rev1.hash, revision: 1 }, 'Reject revision 1');
    assert.equal(refused.ok, false);
    await until(() => queue.refused.length === 1, 'refusal kept');
    assert.equal(queue.refused[0]!.label, 'Reject revision 1');
    assert.equal(queue.refused[0]!.error.code, 'invalid_payload', 'the default policy asks a reason for a rejection');
  });

  it('keeps the revision hash a queued vote was cast with: amended meanwhile, it is refused as revision_changed, not counted', async () => {
    const server = await startTestServer();
    const root = await server.user('root', 'admin');
    const rita = apiAs(server.url, await server.user('rita', 'reviewer'));
    const ana = await server.user('ana', 'reviewer');
    await importProxmox(server, root);
    const created = await rita<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    const changeId = created.body.change.id;
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    const rev1 = await currentRevision(rita, changeId);

    const socket = connect(server.url, ana);
    socket.disconnect();
    const storage = new MemoryStorage();
    const queue = new CommandQueue(socket, 'accord:commands:ana', storage);
    after(() => queue.dispose());
    const payload = { changeId, choice: 'approve' as const, revisionHash: rev1.hash, revision: 1 };
    const outcome = queue.send('vote:cast', payload, 'Approve revision 1');
    payload.revisionHash = 'f'.repeat(64); // the caller's object changing later does not change what was queued
    const queued = queue.pending[0]!;
    assert.equal(queued.name, 'vote:cast');
    if (queued.name === 'vote:cast') assert.equal(queued.payload.revisionHash, rev1.hash);
    assert.equal(JSON.parse(storage.getItem('accord:commands:ana')!)[0].payload.revisionHash, rev1.hash, 'stored with the hash it was cast with');

    // The requester amends while ana is offline: her queued vote names revision 1.
    await amendAndSubmit(rita, changeId, { ...PROXMOX_CONTENT, durationHours: 8760 });
    socket.connect();
    await connected(socket);
    const result = await outcome;
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.error.code, 'revision_changed', JSON.stringify(result));
    assert.equal(queue.refused[0]!.name, 'vote:cast');
    const view = (await apiAs(server.url, ana)<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change;
    assert.equal(view.votes.length, 0, 'nothing was counted');
  });
});
