/**
 * One connection's commands are applied in the order they were sent (Socket.io), on either database:
 * a queue flushed on reconnect (approve, then reject on second thought) ends as the user last decided,
 * and neither command is refused for racing the other. On PostgreSQL, units of work run concurrently,
 * so without ordering the two votes race (one is refused as a concurrent modification, or lands first).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, currentHash, importProxmox, PROXMOX_CONTENT, submitDraft } from '../helpers/api.ts';
import { connect, connected, startTestServer } from '../helpers/server.ts';

type Ack = { ok: true; data: ReviewView } | { ok: false; error: { code: string; message: string } };

describe('command order on one connection', () => {
  it('applies commands sent back to back in the order they were sent', async () => {
    const server = await startTestServer();
    const rita = apiAs(server.url, await server.user('rita', 'reviewer'));
    const anaToken = await server.user('ana', 'reviewer');
    await importProxmox(server, await server.user('root', 'admin'));
    const socket = connect(server.url, anaToken);
    await connected(socket);
    for (let round = 0; round < 5; round++) {
      const id = (await rita<{ change: ReviewView }>('POST', '/changes', { ...PROXMOX_CONTENT, title: `Order ${round}` })).body.change.id;
      assert.equal((await submitDraft(rita, id)).status, 201);
      const revisionHash = await currentHash(rita, id);
      const order: string[] = [];
      // Sent without waiting: what an offline queue does when the connection comes back.
      const sent = ['approve', 'abstain', 'reject'].map((choice) =>
        (socket.timeout(10_000).emitWithAck('vote:cast', { changeId: id, choice, revisionHash, reason: 'second thoughts' }) as Promise<Ack>).then((ack) => (order.push(choice), ack)));
      const acks = await Promise.all(sent);
      for (const ack of acks) assert.equal(ack.ok, true, JSON.stringify(ack));
      assert.deepEqual(order, ['approve', 'abstain', 'reject'], 'answered in the order sent');
      const votes = (await rita<{ change: ReviewView }>('GET', `/changes/${id}`)).body.change.votes.filter((v) => v.voter === 'ana');
      assert.deepEqual(votes.map((v) => v.choice), ['approve', 'abstain', 'reject'], 'recorded in the order sent; the last one counts');
    }
  });
});
