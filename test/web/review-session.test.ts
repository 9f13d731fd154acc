import './svelte-loader.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { amendAndSubmit, submitDraft } from '../e2e/hash-helpers.ts';
import { connect, connected, startTestServer, until } from '../helpers/server.ts';
import type { ReviewView } from '../../server/commands/review-view.ts';
import type { QueuedCommand } from '../../web/state/command-queue.svelte.ts';

const { LiveConnection } = await import('../../web/state/live-connection.svelte.ts');
const { ReviewSession } = await import('../../web/state/review-session.svelte.ts');

/** localStorage stand-in: a Map with the Storage methods the queue uses. */
class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(key: string) { return this.map.get(key) ?? null; }
  setItem(key: string, value: string) { this.map.set(key, value); }
  removeItem(key: string) { this.map.delete(key); }
}

describe('ReviewSession item votes against a real server', () => {
  it('casts per-item votes through the command queue, tallies them per item for everyone, and marks them stale after an amendment', async () => {
    const server = await startTestServer();
    const root = await server.user('root', 'admin');
    const rita = await server.user('rita', 'reviewer');
    const tokens = { ana: await server.user('ana', 'reviewer'), ben: await server.user('ben', 'reviewer') };
    await importProxmox(server, root);
    const created = await apiAs(server.url, rita)<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    const changeId = created.body.change.id;
    assert.equal((await submitDraft(apiAs(server.url, rita), changeId)).status, 201);

    const open = async (name: 'ana' | 'ben') => {
      const storage = new MemoryStorage();
      const live = new LiveConnection(name, { socket: connect(server.url, tokens[name]), storage });
      const session = new ReviewSession(changeId, { id: 0, username: name, role: 'reviewer' }, live);
      await until(() => session.isLoaded && session.current?.number === 1, `${name}'s review loaded`);
      return { live, session, storage };
    };
    const ana = await open('ana');
    const ben = await open('ben');
    try {
      // Node has no IndexedDB: nothing is persisted, the provider works online only.
      assert.equal(ana.live.localDocs.enabled, false);
      assert.equal(ana.live.localDocs.open('review:x', new Y.Doc()), null);
      assert.equal(ana.session.rules.requireRejectReason, true, 'the default policy asks a reason for a reject');

      const approved = await ana.session.castItemVote('i2', 'approve');
      assert.equal(approved.ok, true, JSON.stringify(approved));
      await until(() => ben.session.itemTally('i2').approve.includes('ana'), "ben sees ana's item vote");
      assert.deepEqual(ben.session.itemTally('i1'), { approve: [], reject: [], abstain: [] }, 'only the voted item moves');
      assert.deepEqual(ben.session.tally?.whole.approve, [], 'an item vote is not a whole-revision vote');
      await until(() => ana.session.myItemVote('i2')?.choice === 'approve', 'ana sees her own item vote');
      assert.equal(ana.session.myVote, undefined);

      // Offline: the item vote waits in the queue (and storage) with its idempotency key, then is sent once.
      ana.live.socket.disconnect();
      const rejected = ana.session.castItemVote('i1', 'reject', 'no console for devs');
      assert.deepEqual(ana.session.pendingItemVote('i1'), { choice: 'reject', revision: 1, revisionHash: ana.session.current!.hash });
      const stored = JSON.parse(ana.storage.getItem('accord:commands:ana')!) as QueuedCommand[];
      assert.equal(stored.length, 1);
      const rev1 = ana.session.current!;
      assert.deepEqual(stored[0]!.payload, { changeId, choice: 'reject', revisionHash: rev1.hash, revision: 1, itemId: 'i1', reason: 'no console for devs' });
      assert.match(stored[0]!.key, /^[A-Za-z0-9_-]{8,100}$/);
      ana.live.socket.connect();
      await connected(ana.live.socket);
      assert.equal((await rejected).ok, true);
      assert.equal(ana.session.pendingItemVote('i1'), undefined);
      await until(() => ben.session.itemTally('i1').reject.includes('ana'), "ben sees ana's queued item reject");

      // Amend item i2 only: ana's vote on i2 goes stale, her vote on the unchanged i1 carries over.
      const amended = { ...PROXMOX_CONTENT, items: [PROXMOX_CONTENT.items[0]!, { ...PROXMOX_CONTENT.items[1]!, grant: { ...PROXMOX_CONTENT.items[1]!.grant, propagate: false } }] };
      await amendAndSubmit(apiAs(server.url, rita), changeId, amended);
      await until(() => ben.session.current?.number === 2 && ben.session.staleItemVotes('i2').length === 1, 'the i2 vote is stale for ben');
      const [stale] = ben.session.staleItemVotes('i2');
      assert.equal(stale!.voter, 'ana');
      assert.equal(stale!.choice, 'approve');
      assert.equal(stale!.revision, 1);
      assert.deepEqual(ben.session.itemTally('i2').approve, [], 'a stale vote is not counted');
      assert.deepEqual(ben.session.itemTally('i1').reject, ['ana'], 'a vote on an unchanged item carries over');
      await until(() => ana.session.current?.number === 2, 'ana sees revision 2');
      assert.equal(ana.session.myItemVote('i2'), undefined);
      assert.equal(ana.session.myItemVote('i1')?.choice, 'reject');
      assert.deepEqual(ana.session.staleItemVotes('i1'), []);

      // A new vote on the amended item counts again.
      const again = await ana.session.castItemVote('i2', 'abstain');
      assert.equal(again.ok, true, JSON.stringify(again));
      await until(() => ben.session.itemTally('i2').abstain.includes('ana'), 'the new i2 vote counts');
    } finally {
      for (const side of [ana, ben]) {
        side.session.dispose();
        side.live.dispose();
      }
    }
  });
});
