/**
 * Several nodes (issue 18): two real Accord nodes on one PostgreSQL schema and one real Redis server
 * (its keys under a prefix of their own), clients on different nodes. Documents, presence, facts and
 * credential revocation cross nodes; a node cut off from Redis catches up from PostgreSQL.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as Y from 'yjs';
import { frameSync, SYNC_UPDATE } from '../../server/sync/yjs-messages.ts';
import { SERVER_KEY_FILE } from '../../server/audit/server-key.ts';
import { apiAs, PROXMOX_CONTENT, importProxmox } from '../helpers/api.ts';
import { freshSchema, PG_URL } from '../helpers/databases.ts';
import { connect, connected, openProvider, startTestServer, tempDir, until, type TestServer } from '../helpers/server.ts';
import { tcpProxy } from '../helpers/tcp-proxy.ts';
import type { Config } from '../../server/config.ts';
import { REVIEW_ORIGIN, reviewTeam } from '../helpers/approve.ts';
import { currentHash, submitDraft, voteOnCurrent } from '../helpers/api.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../helpers/server.ts';

/** A private redis-server (nothing on disk) on its own port, so a test may kill and restart it. */
async function privateRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  after(() => void child.kill('SIGKILL'));
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://127.0.0.1:${port}`).then(() => true, (err: { cause?: { code?: string } }) => err.cause?.code !== 'ECONNREFUSED');
    if (up) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not start on port ${port}`);
}

const REDIS = { host: '127.0.0.1', port: 6379 };

/** Two nodes of one cluster; node B reaches Redis through `proxy` so a test can cut it off. */
async function cluster(extra: Partial<Config> = {}): Promise<{ a: TestServer; b: TestServer; cutB: () => void; restoreB: () => void }> {
  const schema = await freshSchema();
  const proxy = await tcpProxy(REDIS);
  after(() => proxy.close());
  const prefix = `accord-test-${randomBytes(6).toString('hex')}`;
  // Compaction after 3 updates: both nodes keep compacting documents they share (one at a time: a lease each).
  const shared = { databaseUrl: PG_URL, databaseSchema: schema, redisPrefix: prefix, compactAfterUpdates: 3, compactDelayMs: 0, ...extra };
  const a = await startTestServer({ ...shared, redisUrl: `redis://${REDIS.host}:${REDIS.port}` });
  const dirB = tempDir();
  copyFileSync(join(a.dataDir, SERVER_KEY_FILE), join(dirB, SERVER_KEY_FILE));
  const b = await startTestServer({ ...shared, dataDir: dirB, redisUrl: `redis://127.0.0.1:${proxy.port}` });
  return { a, b, cutB: () => proxy.cut(), restoreB: () => proxy.restore() };
}

describe('several nodes', () => {
  it('a document and presence written on one node reach a client of the other, live', async () => {
    const { a, b } = await cluster();
    const ana = await a.user('ana', 'reviewer');
    const ben = await a.user('ben', 'reviewer');
    const onA = await openProvider(connect(a.url, ana), 'notes:cluster');
    const onB = await openProvider(connect(b.url, ben), 'notes:cluster');
    onA.doc.getText('body').insert(0, 'written on node A');
    await until(() => onB.doc.getText('body').toString() === 'written on node A', 'node B\'s client sees node A\'s text');
    onB.doc.getText('body').insert(0, 'B: ');
    await until(() => onA.doc.getText('body').toString() === 'B: written on node A', 'and back');

    onA.awareness.setLocalStateField('cursor', 7);
    await until(() => [...onB.awareness.getStates().values()].some((s) => s.cursor === 7), 'presence crosses nodes');
    const state = [...onB.awareness.getStates().values()].find((s) => s.cursor === 7)!;
    assert.equal((state.user as { name: string }).name, 'ana', 'stamped with the sender\'s identity by the node it is connected to');

    // A third client joining on B later gets the whole document from B's copy.
    // (Its clients may have seen A's text relayed before B's own copy took it from the stream: wait for that.)
    const late = await openProvider(connect(b.url, ben), 'notes:cluster');
    await until(() => late.doc.getText('body').toString() === 'B: written on node A', 'a client joining B later holds the whole document');

    // Many small writes from both sides, compacted along the way: the stored document is the whole text.
    for (let i = 0; i < 20; i++) (i % 2 ? onA : onB).doc.getText('body').insert(0, String(i % 10));
    await until(() => onA.doc.getText('body').toString() === onB.doc.getText('body').toString() && onB.doc.getText('body').length === 40, 'both sides converge');
    await onA.whenAcked();
    await onB.whenAcked();
    await new Promise((r) => setTimeout(r, 300));
    const row = await a.app.db.get<{ snapshot: Uint8Array | null }>("SELECT snapshot FROM documents WHERE id = 'notes:cluster'");
    assert.ok(row?.snapshot, 'the document was compacted');
    const stored = await a.app.sync.registry.batcher.flush().then(async () => {
      const rows = await a.app.db.all<{ data: Uint8Array }>("SELECT data FROM document_updates WHERE doc_id = 'notes:cluster' ORDER BY seq");
      const doc = new Y.Doc();
      Y.applyUpdate(doc, Y.mergeUpdates([row.snapshot!, ...rows.map((r) => r.data)]));
      return doc.getText('body').toString();
    });
    assert.equal(stored, onA.doc.getText('body').toString(), 'nothing a compaction dropped is missing from the database');
  });

  it('facts and broadcasts reach sockets on every node (Socket.io Redis streams adapter)', async () => {
    const { a, b } = await cluster();
    const root = await a.user('root', 'admin');
    await importProxmox(a, root);
    const rita = apiAs(a.url, await a.user('rita', 'reviewer'));
    const vic = connect(b.url, await a.user('vic', 'viewer'));
    await connected(vic);
    const seen: string[] = [];
    vic.on('change:created', (fact) => seen.push(String((fact as { changeId: string }).changeId)));
    await new Promise((r) => setTimeout(r, 300)); // the adapter's subscription is up
    const created = await rita<{ change: { id: string } }>('POST', '/changes', PROXMOX_CONTENT);
    assert.equal(created.status, 201);
    await until(() => seen.includes(created.body.change.id), 'a viewer on node B hears the change created on node A');
  });

  it('a token revoked on one node disconnects its sockets on the other at once', async () => {
    const { a, b } = await cluster();
    const tom = apiAs(a.url, await a.user('tom', 'reviewer'));
    const minted = await tom<{ token: string; tokens: { id: string; label: string }[] }>('POST', '/tokens', { label: 'bot', scope: 'read' });
    const socket = connect(b.url, minted.body.token);
    await connected(socket);
    socket.io.reconnection(false);
    const id = minted.body.tokens.find((t) => t.label === 'bot')!.id;
    assert.equal((await tom('DELETE', `/tokens/${id}`)).status, 204);
    // Each node also re-checks every 15 s; the control message makes it immediate.
    await until(() => socket.disconnected, 'node B disconnects the revoked token\'s socket', 5_000);
  });

  it('a node cut off from Redis still converges from PostgreSQL, and says so in its health', async () => {
    const { a, b, cutB, restoreB } = await cluster();
    const ana = await a.user('ana', 'reviewer');
    const onA = await openProvider(connect(a.url, ana), 'notes:outage');
    const onB = await openProvider(connect(b.url, ana), 'notes:outage');
    const health = async (s: TestServer) => (await fetch(`${s.url}/api/health`)).json() as Promise<{ redis: string; database: string }>;
    assert.equal((await health(b)).redis, 'ok');

    cutB();
    let h = await health(b);
    for (let i = 0; i < 50 && h.redis !== 'unavailable'; i++) { await new Promise((r) => setTimeout(r, 100)); h = await health(b); }
    assert.equal(h.redis, 'unavailable');
    const res = await fetch(`${b.url}/api/health`);
    assert.equal(res.status, 200, 'the node still serves: it reads from PostgreSQL');

    onA.doc.getText('body').insert(0, 'while B was away');
    await until(() => onB.doc.getText('body').toString() === 'while B was away', 'node B catches up from PostgreSQL', 10_000);
    onB.doc.getText('body').insert(0, '+');
    await until(() => onA.doc.getText('body').toString() === '+while B was away', 'node B\'s own write reaches A through PostgreSQL', 10_000);

    restoreB();
    for (let i = 0; i < 50 && h.redis !== 'ok'; i++) { await new Promise((r) => setTimeout(r, 100)); h = await health(b); }
    assert.equal(h.redis, 'ok');
    onA.doc.getText('body').insert(0, '!');
    await until(() => onB.doc.getText('body').toString() === '!+while B was away', 'fan-out resumes');
    // Both documents are the same state, not only the same text.
    assert.deepEqual(Y.encodeStateVector(onA.doc), Y.encodeStateVector(onB.doc));
  });

  it('sign-in throttles count for the cluster, not per node', async () => {
    const { a, b } = await cluster();
    await a.user('pia', 'reviewer', 'the right password');
    const attempt = (s: TestServer) => fetch(`${s.url}/api/session`, {
      method: 'POST', headers: { 'content-type': 'application/json', origin: s.url }, body: JSON.stringify({ username: 'pia', password: 'a wrong guess' }),
    }).then((r) => r.status);
    // Ten guesses per account per five minutes: six on A and four on B are answered as wrong passwords...
    for (let i = 0; i < 6; i++) assert.equal(await attempt(a), 401);
    for (let i = 0; i < 4; i++) assert.equal(await attempt(b), 401);
    // ...and the eleventh is refused, on either node, though B alone has seen only four.
    assert.equal(await attempt(b), 429);
    assert.equal(await attempt(a), 429);
  });

  it('Redis restarted during a session: nothing acknowledged is lost, fan-out resumes, no client stays stale', async () => {
    const port = await freePort();
    let redis = await privateRedis(port);
    const schema = await freshSchema();
    const shared = { databaseUrl: PG_URL, databaseSchema: schema, redisUrl: `redis://127.0.0.1:${port}`, redisPrefix: 'restart' };
    const a = await startTestServer(shared);
    const dirB = tempDir();
    copyFileSync(join(a.dataDir, SERVER_KEY_FILE), join(dirB, SERVER_KEY_FILE));
    const b = await startTestServer({ ...shared, dataDir: dirB });
    const ana = await a.user('ana', 'reviewer');
    const onA = await openProvider(connect(a.url, ana), 'notes:restart');
    const onB = await openProvider(connect(b.url, ana), 'notes:restart');
    const text = (p: { doc: Y.Doc }) => p.doc.getText('body').toString();
    onA.doc.getText('body').insert(0, 'a');
    await until(() => text(onB) === 'a', 'fan-out before the restart');

    redis.kill('SIGKILL');
    await new Promise((r) => redis.once('exit', r));
    // Written while Redis is down: acknowledged (PostgreSQL committed), delivered through the database.
    onA.doc.getText('body').insert(1, 'b');
    onB.doc.getText('body').insert(0, '>');
    await onA.whenAcked();
    await onB.whenAcked();
    const fills = a.app.sync.registry.clusterStats.fills + b.app.sync.registry.clusterStats.fills;
    await until(() => text(onA) === '>ab' && text(onB) === '>ab', 'both converge while Redis is down', 10_000);
    assert.ok(a.app.sync.registry.clusterStats.fills + b.app.sync.registry.clusterStats.fills > fills, 'through the database');

    redis = await privateRedis(port); // empty: it kept nothing
    const health = async (s: TestServer) => ((await fetch(`${s.url}/api/health`)).json() as Promise<{ redis: string }>);
    for (let i = 0; i < 100 && ((await health(a)).redis !== 'ok' || (await health(b)).redis !== 'ok'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await health(a)).redis, 'ok');
    assert.equal((await health(b)).redis, 'ok');
    const viaStream = b.app.sync.registry.clusterStats.remote;
    onA.doc.getText('body').insert(3, 'c');
    await until(() => text(onB) === '>abc', 'fan-out resumes after the restart');
    await until(() => b.app.sync.registry.clusterStats.remote > viaStream, 'node B took the update from the Redis stream again');
    // A client joining B afterwards gets everything that was acknowledged.
    const late = await openProvider(connect(b.url, ana), 'notes:restart');
    await until(() => text(late) === '>abc', 'a client joining B afterwards holds everything acknowledged');
  });

  it('an update that depends on one its node does not hold yet is stored as sent, before its ack', async () => {
    const { a, b, cutB } = await cluster();
    const ana = await a.user('ana', 'reviewer');
    const onA = await openProvider(connect(a.url, ana), 'notes:pending');
    const onB = await openProvider(connect(b.url, ana), 'notes:pending');
    cutB(); // B hears of A's commits only by reading the database now (every 2 s)
    onA.doc.getText('body').insert(0, 'U');
    await onA.whenAcked();
    // A client of B that saw U elsewhere (another node's early relay, or kept across a failover) writes
    // after it at once: B holds the update without U, Yjs keeps it pending, and no update event fires.
    const seen = new Y.Doc();
    Y.applyUpdate(seen, Y.encodeStateAsUpdate(onA.doc));
    const before = Y.encodeStateVector(seen);
    seen.getText('body').insert(1, 'V');
    const v = Y.encodeStateAsUpdate(seen, before);
    const raw = connect(b.url, ana);
    await new Promise<void>((resolve, reject) => raw.emit('doc:join', 'notes:pending', (r: { ok: boolean }) => (r.ok ? resolve() : reject(new Error('join')))));
    await new Promise<void>((resolve, reject) => raw.emit('doc:message', 'notes:pending', frameSync(SYNC_UPDATE, v), (r: { ok: boolean }) => (r.ok ? resolve() : reject(new Error('refused')))));
    // Acknowledged, so in PostgreSQL: read it there, on its own.
    const rows = await b.app.db.all<{ data: Uint8Array }>("SELECT data FROM document_updates WHERE doc_id = 'notes:pending' ORDER BY seq");
    const stored = new Y.Doc();
    Y.applyUpdate(stored, Y.mergeUpdates(rows.map((r) => r.data)));
    assert.equal(stored.getText('body').toString(), 'UV', 'V is stored though B took U only later, in a transaction not the client\'s');
    await until(() => onB.doc.getText('body').toString() === 'UV', 'and B\'s clients converge once B reads U from the database', 10_000);
  });

  it('a review across nodes: votes, annotations and the sign-off made on either node are live on the other; a retried command is applied once', async () => {
    const { a, b } = await cluster({ publicUrl: REVIEW_ORIGIN });
    const team = await reviewTeam(a);
    const onB = (name: keyof typeof team.tokens) => apiAs(b.url, team.tokens[name]);
    await importProxmox(a, team.tokens.root);
    const created = await team.api.rita<{ change: { id: string } }>('POST', '/changes', PROXMOX_CONTENT);
    const id = created.body.change.id;
    assert.equal((await submitDraft(team.api.rita, id)).status, 201);

    // Watching from node B: the facts, and the live review document.
    const facts: string[] = [];
    const vic = connect(b.url, team.tokens.vic);
    for (const name of ['vote:recorded', 'annotation:created', 'signoff:recorded', 'status:changed'] as const) vic.on(name, () => facts.push(name));
    const review = await openProvider(vic, `review:${id}`);
    const status = () => review.doc.getMap('review').get('status');
    // The submit's projection is written after its commit, on node A: node B's copy has it once it crossed.
    await until(() => status() === 'in_review', 'node B\'s copy of the review document shows the submitted revision');

    // ana votes on B; a retry with the same idempotency key reaches A (the load balancer moved her): one vote.
    const key = { 'idempotency-key': 'cross-node-vote-0001' };
    assert.equal((await voteOnCurrent(onB('ana'), id, { choice: 'approve' }, key)).status, 201);
    assert.equal((await voteOnCurrent(team.api.ana, id, { choice: 'approve' }, key)).status, 201);
    // ben votes on A, and annotates on B.
    assert.equal((await voteOnCurrent(team.api.ben, id, { choice: 'approve' })).status, 201);
    assert.equal((await onB('ben')('POST', `/changes/${id}/annotations`, { anchor: { kind: 'item', itemId: 'i1' }, body: 'checked on node B' })).status, 201);
    await until(() => status() === 'approved', 'node B\'s copy of the review document says approved (projected on whichever node ran the vote)');
    const view = await team.view(id);
    assert.equal(view.votes.filter((v: { voter: string }) => v.voter === 'ana').length, 1, 'the retried vote is one vote');

    // paul asks for the challenge on A and answers it on B (the challenge lives in PostgreSQL).
    const revisionHash = await currentHash(team.api.paul, id);
    const options = (await team.api.paul<{ options: Parameters<typeof team.sign>[0] }>('POST', `/changes/${id}/signoffs/options`, { revisionHash })).body.options;
    const signed = await onB('paul')('POST', `/changes/${id}/signoffs`, { response: team.sign(options), revisionHash });
    assert.equal(signed.status, 201, JSON.stringify(signed.body));
    await until(() => ['vote:recorded', 'annotation:created', 'signoff:recorded'].every((f) => facts.includes(f)), `node B's viewer heard every fact (${facts.join(', ')})`);
  });

  it('the per-user socket cap holds for the cluster, and a socket that leaves frees its place on every node', async () => {
    const { a, b } = await cluster({ maxSocketsPerUser: 2 });
    const token = await a.user('ana', 'reviewer');
    const first = connect(a.url, token);
    const second = connect(a.url, token);
    await connected(first);
    await connected(second);
    await new Promise((r) => setTimeout(r, 200)); // node A's count reaches Redis
    const third = connect(b.url, token);
    third.io.reconnection(false);
    await assert.rejects(connected(third), /too_many_connections/, 'two on node A: a third on node B is over the cap');
    first.disconnect();
    await new Promise((r) => setTimeout(r, 200));
    const again = connect(b.url, token);
    await connected(again);
  });
});
