/**
 * Accord on PostgreSQL when the database goes away (storage issue, "Bad input and faults"): at start a
 * clear error naming the URL and a non-zero exit; while running, commands and updates are refused with
 * `storage_unavailable` and never acknowledged, the server stays up and recovers by itself, and nothing
 * it acknowledged is lost. The outage is real for this server only: its connections run through a TCP
 * relay that the test cuts (test/helpers/tcp-proxy.ts), and then its backends are terminated with
 * pg_terminate_backend on the real server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import pg from 'pg';
import * as Y from 'yjs';
import { openStorage, StorageStartError } from '../../server/store/open.ts';
import { frameSync, SYNC_UPDATE } from '../../server/sync/yjs-messages.ts';
import type { ErrorBody } from '../../server/protocol/errors.ts';
import { apiAs, currentHash, importProxmox, PROXMOX_CONTENT, submitDraft, voteOnCurrent } from '../helpers/api.ts';
import { freshSchema, PG_URL } from '../helpers/databases.ts';
import { connect, connected, startTestServer, tempDir } from '../helpers/server.ts';
import { tcpProxy } from '../helpers/tcp-proxy.ts';

const pgTarget = new URL(PG_URL);

describe('PostgreSQL down at start', () => {
  it('openStorage fails with the URL (never its password) and the cause', async () => {
    const url = 'postgres://accord:s3cret-pw@127.0.0.1:1/accord';
    await assert.rejects(openStorage({ dataDir: tempDir(), databaseUrl: url }), (err: unknown) => {
      assert.ok(err instanceof StorageStartError);
      assert.match(err.message, /cannot use PostgreSQL at postgres:\/\/accord:\*\*\*@127\.0\.0\.1:1\/accord: .*ECONNREFUSED/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
  });

  it('npm start with an unreachable ACCORD_DATABASE_URL exits non-zero and says why', { timeout: 30_000 }, async () => {
    const child = spawn(process.execPath, ['server/main.ts', '--port', '0', '--data', tempDir()], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ACCORD_DATABASE_URL: 'postgres://accord:s3cret-pw@127.0.0.1:1/accord', ACCORD_LOG_LEVEL: 'silent' },
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /accord: cannot use PostgreSQL at postgres:\/\/accord:\*\*\*@127\.0\.0\.1:1\/accord/);
    assert.doesNotMatch(stderr, /s3cret/);
  });
});

describe('PostgreSQL lost while running', () => {
  it('refuses commands and updates with storage_unavailable, stays up, recovers by itself, loses nothing acknowledged', { timeout: 90_000 }, async () => {
    const proxy = await tcpProxy({ host: pgTarget.hostname, port: Number(pgTarget.port || 5432) });
    const schema = await freshSchema();
    const viaProxy = new URL(PG_URL);
    viaProxy.port = String(proxy.port);
    const dataDir = tempDir();
    const server = await startTestServer({ dataDir, databaseUrl: viaProxy.toString(), databaseSchema: schema });
    try {
      const rita = apiAs(server.url, await server.user('rita', 'reviewer'));
      const ana = apiAs(server.url, await server.user('ana', 'reviewer'));
      const ben = apiAs(server.url, await server.user('ben', 'reviewer'));
      await importProxmox(server, await server.user('root', 'admin'));
      const created = await rita<{ change: { id: string } }>('POST', '/changes', PROXMOX_CONTENT);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const changeId = created.body.change.id;
      assert.equal((await submitDraft(rita, changeId)).status, 201);
      const revisionHash = await currentHash(rita, changeId);
      assert.equal((await voteOnCurrent(ana, changeId, { choice: 'approve' })).status, 201, 'acked before the outage');

      const socket = connect(server.url, await server.user('wes', 'reviewer'));
      await connected(socket);
      const join = (await socket.timeout(5_000).emitWithAck('doc:join', 'notes:outage')) as { ok: boolean };
      assert.equal(join.ok, true);
      const source = new Y.Doc();
      const send = async (text: string) => {
        source.getText('body').insert(source.getText('body').length, text);
        return (await socket.timeout(15_000).emitWithAck('doc:message', 'notes:outage', frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(source)))) as { ok: boolean; error?: ErrorBody };
      };
      assert.equal((await send('before.')).ok, true);

      // The database goes away.
      proxy.cut();
      const refused = await ben('POST', `/changes/${changeId}/votes`, { choice: 'approve', revisionHash });
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal((refused.body as { error: ErrorBody }).error.code, 'storage_unavailable');
      const update = await send('during.');
      assert.equal(update.ok, false, 'an update that is not stored is not acknowledged');
      assert.equal(update.error?.code, 'storage_unavailable', JSON.stringify(update));
      const health = await fetch(`${server.url}/api/health`);
      assert.equal(health.status, 503, 'the server stays up, and tells the load balancer it cannot serve');
      assert.equal(((await health.json()) as { database: string }).database, 'unavailable');

      // It comes back: the next commands work without a restart, and the refused update is stored by a retry.
      proxy.restore();
      const deadline = Date.now() + 20_000;
      let vote = await ben('POST', `/changes/${changeId}/votes`, { choice: 'approve', revisionHash });
      while (vote.status !== 201 && Date.now() < deadline) {
        assert.equal((vote.body as { error: ErrorBody }).error.code, 'storage_unavailable', JSON.stringify(vote.body));
        await new Promise((r) => setTimeout(r, 200));
        vote = await ben('POST', `/changes/${changeId}/votes`, { choice: 'approve', revisionHash });
      }
      assert.equal(vote.status, 201, `recovered: ${JSON.stringify(vote.body)}`);
      assert.equal((await fetch(`${server.url}/api/health`)).status, 200, 'healthy again');
      assert.equal((await send('after.')).ok, true);

      // Its backends are terminated on the server: whatever fails meanwhile says storage_unavailable, then it recovers.
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      const killed = await admin.query("SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = $1", [`accord:${schema}`]);
      await admin.end();
      assert.ok(Number(killed.rows[0].n) >= 1, 'the server had connections to terminate');
      let note: Awaited<ReturnType<typeof rita>> | undefined;
      for (const until = Date.now() + 20_000; Date.now() < until;) {
        note = await rita('POST', `/changes/${changeId}/annotations`, { anchor: { kind: 'item', itemId: 'i1' }, body: 'after the restart' });
        if (note.status === 201) break;
        assert.equal(note.status, 503, JSON.stringify(note.body));
        assert.equal((note.body as { error: ErrorBody }).error.code, 'storage_unavailable');
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(note?.status, 201, JSON.stringify(note?.body));
      assert.equal((await send('last.')).ok, true);
      await server.app.settle();
    } finally {
      await server.app.close();
      await proxy.close();
    }

    // Everything acknowledged is in the database: a server started afresh on it (directly) sees it.
    const again = await startTestServer({ dataDir, databaseUrl: PG_URL, databaseSchema: schema });
    const stored = await again.app.storage.documents.load('notes:outage');
    const doc = new Y.Doc();
    for (const u of stored ? (stored.snapshot ? [stored.snapshot, ...stored.updates] : stored.updates) : []) Y.applyUpdate(doc, u);
    assert.equal(doc.getText('body').toString(), 'before.during.after.last.', 'every acked update, and the refused one its retry stored');
    const row = (await again.app.db.get<{ data: string }>('SELECT data FROM changes'))!;
    const votes = (JSON.parse(row.data) as { votes: { voter: string; choice: string }[] }).votes;
    assert.deepEqual(votes.map((v) => `${v.voter}:${v.choice}`).sort(), ['ana:approve', 'ben:approve']);
    const notes = (await again.app.db.all<{ data: string }>('SELECT data FROM annotations')).map((r) => (JSON.parse(r.data) as { body: string }).body);
    assert.deepEqual(notes, ['after the restart']);
  });
});
