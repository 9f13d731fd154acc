import './svelte-loader.ts';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
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
    await apiAs(server.url, rita)('POST', `/changes/${changeId}/submit`);

    const socket = connect(server.url, ana);
    socket.disconnect(); // start offline
    const storage = new MemoryStorage();
    const queue = new CommandQueue(socket, 'accord:commands:ana', storage);
    after(() => queue.dispose());

    const outcome = queue.send('vote:cast', { changeId, choice: 'approve', revision: 1 }, 'Approve revision 1');
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

    const refused = await queue.send('vote:cast', { changeId, choice: 'reject', revision: 1 }, 'Reject revision 1');
    assert.equal(refused.ok, false);
    await until(() => queue.refused.length === 1, 'refusal kept');
    assert.equal(queue.refused[0]!.label, 'Reject revision 1');
    assert.equal(queue.refused[0]!.error.code, 'invalid_payload', 'the default policy asks a reason for a rejection');
  });
});
