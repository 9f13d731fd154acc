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

describe('LiveConnection notices a lost network itself', () => {
  async function setup() {
    const server = await startTestServer();
    const root = await server.user('root', 'admin');
    const rita = await server.user('rita', 'reviewer');
    const ana = await server.user('ana', 'reviewer');
    await importProxmox(server, root);
    const created = await apiAs(server.url, rita)<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
    const changeId = created.body.change.id;
    assert.equal((await submitDraft(apiAs(server.url, rita), changeId)).status, 201);
    const votesOf = async (voter: string) => (await apiAs(server.url, root)<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change.votes.filter((v) => v.voter === voter);
    return { server, ana, changeId, votesOf };
  }

  it('is offline the moment the browser says so, says what waits, and sends it once when back', async () => {
    const { server, ana, changeId, votesOf } = await setup();
    const network = new EventTarget();
    const live = new LiveConnection('ana', { socket: connect(server.url, ana), storage: new MemoryStorage(), network, probe: async () => true });
    const session = new ReviewSession(changeId, { id: 0, username: 'ana', role: 'reviewer' }, live);
    try {
      await until(() => session.isLoaded && session.connection === 'connected', 'the review is live');
      assert.equal(session.connectionLabel, 'Connected');

      network.dispatchEvent(new Event('offline'));
      // At once, not after Socket.io's heartbeat gives up (up to 45 s).
      assert.equal(live.isConnected, false);
      assert.equal(session.connection, 'offline');
      assert.equal(session.connectionLabel, 'Offline');

      const voted = session.castVote('abstain');
      const annotated = session.annotate({ kind: 'item', itemId: 'i1' }, 'Is the console needed?');
      assert.deepEqual(session.queuedCommands.map((c) => c.label), ['Abstain revision 1', 'Annotate item i1']);
      assert.equal(session.queuedSummary, '1 vote and 1 annotation');
      assert.equal(session.connectionLabel, 'Offline — 2 queued (1 vote and 1 annotation)');

      network.dispatchEvent(new Event('online'));
      assert.equal((await voted).ok, true);
      assert.equal((await annotated).ok, true);
      await until(() => session.connection === 'connected', 'back online');
      assert.equal(session.connectionLabel, 'Connected');
      assert.equal((await votesOf('ana')).length, 1);
    } finally {
      session.dispose();
      live.dispose();
    }
  });

  it('is offline about a second after a command goes unanswered while Accord does not answer either, and resends it on the next connection', async () => {
    const { server, ana, changeId, votesOf } = await setup();
    const probeMs = 1_000;
    let reachable = true;
    const probe = () => new Promise<boolean>((resolve) => (reachable ? resolve(true) : setTimeout(() => resolve(false), probeMs)));
    const live = new LiveConnection('ana', { socket: connect(server.url, ana), storage: new MemoryStorage(), network: null, probe });
    const session = new ReviewSession(changeId, { id: 0, username: 'ana', role: 'reviewer' }, live);
    try {
      await until(() => session.isLoaded && session.connection === 'connected', 'the review is live');
      // The network swallows what this connection sends, without closing it; the health check times out.
      const engine = live.socket.io.engine as unknown as { write: (...args: unknown[]) => void };
      engine.write = () => {};
      reachable = false;
      // What the badge says the moment the connection is dropped (Socket.io reconnects quickly here).
      let shown = '';
      live.socket.once('disconnect', () => (shown = session.connectionLabel));
      const start = Date.now();
      const voted = session.castVote('approve');
      await until(() => shown !== '', 'offline after the unanswered vote', 5_000);
      const after = Date.now() - start;
      assert.ok(after < probeMs + 300, `offline after ${after} ms`);
      assert.equal(shown, 'Offline — 1 queued (1 vote)');

      // Socket.io reconnects on its own (a new transport): the vote goes out again, with the same key, once.
      reachable = true;
      assert.equal((await voted).ok, true);
      await until(() => session.connection === 'connected', 'back');
      assert.equal((await votesOf('ana')).length, 1);
    } finally {
      session.dispose();
      live.dispose();
    }
  });
});
