/**
 * `accord db copy --to postgres://...`: a SQLite installation moved to PostgreSQL keeps everything (users
 * and their tokens, changes with votes and annotations, joint sessions, the audit chain, Yjs documents),
 * the copied audit chain verifies, and a server started on the copy carries on where the old one stopped.
 * `accord db migrate` creates the tables of an empty schema. Real CLI processes, real PostgreSQL.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { apiAs, currentHash, importProxmox, PROXMOX_CONTENT, submitDraft, voteOnCurrent } from '../helpers/api.ts';
import { freshSchema, PG_URL } from '../helpers/databases.ts';
import { connect, openProvider, startTestServer, tempDir } from '../helpers/server.ts';

const run = promisify(execFile);
const accord = (...args: string[]) => run(process.execPath, ['server/cli.ts', ...args], { env: { ...process.env, ACCORD_DATABASE_URL: '', ACCORD_DATA: '' } });

describe('accord db copy and db migrate', () => {
  it('moves a SQLite installation to PostgreSQL whole, verifies its audit chain, and a server carries on from it', { timeout: 120_000 }, async () => {
    const dataDir = tempDir();
    // A SQLite installation with some history.
    const before = await startTestServer({ dataDir, databaseUrl: '' });
    const tokens = { rita: await before.user('rita', 'reviewer'), ana: await before.user('ana', 'reviewer'), root: await before.user('root', 'admin') };
    await importProxmox(before, tokens.root);
    const rita = apiAs(before.url, tokens.rita);
    const ana = apiAs(before.url, tokens.ana);
    const created = await rita<{ change: { id: string } }>('POST', '/changes', PROXMOX_CONTENT);
    const id = created.body.change.id;
    assert.equal((await submitDraft(rita, id)).status, 201);
    assert.equal((await rita('POST', `/changes/${id}/annotations`, { anchor: { kind: 'item', itemId: 'i1' }, body: 'first' })).status, 201);
    assert.equal((await rita('POST', `/changes/${id}/annotations`, { anchor: { kind: 'item', itemId: 'i2' }, body: 'second' })).status, 201);
    assert.equal((await voteOnCurrent(ana, id, { choice: 'approve' })).status, 201);
    const session = await apiAs(before.url, tokens.root)<{ session: { id: string } }>('POST', '/joint-sessions', { title: 'Weekly', agenda: [id] });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    const notes = await openProvider(connect(before.url, tokens.rita), 'notes:handover');
    notes.doc.getText('body').insert(0, 'kept across the move');
    await notes.whenAcked();
    notes.destroy();
    const view = (await rita<{ change: unknown }>('GET', `/changes/${id}`)).body.change;
    await before.app.close();

    const schema = await freshSchema();
    const copied = await accord('db', 'copy', '--data', dataDir, '--to', PG_URL, '--to-schema', schema);
    assert.match(copied.stdout, /^users: 3 rows$/m);
    assert.match(copied.stdout, /^annotations: 2 rows$/m);
    assert.match(copied.stdout, /^audit chain verified on .*: \d+ entries, head signed at \d+ by key /m);

    // The same data dir (its key and anchor) with the PostgreSQL copy: everything is there.
    const after = await startTestServer({ dataDir, databaseUrl: PG_URL, databaseSchema: schema });
    const rita2 = apiAs(after.url, tokens.rita);
    assert.deepEqual((await rita2<{ change: unknown }>('GET', `/changes/${id}`)).body.change, view, 'the change, its votes and annotations (in order)');
    const stored = await after.app.storage.documents.load('notes:handover');
    assert.ok(stored, 'the notes document was copied');
    const verify = await accord('audit', 'verify', '--data', dataDir, '--database-url', PG_URL, '--database-schema', schema);
    assert.match(verify.stdout, /ok/i);
    // It carries on: new users get fresh ids, new commands chain onto the copied log.
    const ben = apiAs(after.url, await after.user('ben', 'reviewer'));
    assert.equal((await ben('POST', `/changes/${id}/votes`, { choice: 'approve', revisionHash: await currentHash(rita2, id) })).status, 201);
    await after.app.settle();
    assert.match((await accord('audit', 'verify', '--data', dataDir, '--database-url', PG_URL, '--database-schema', schema)).stdout, /ok/i);

    // A second copy into the same (now used) schema is refused and changes nothing.
    await assert.rejects(accord('db', 'copy', '--data', dataDir, '--to', PG_URL, '--to-schema', schema), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /the target database is not empty/);
      return true;
    });
  });

  it('db migrate creates the tables of an empty PostgreSQL schema, and says where', async () => {
    const schema = await freshSchema();
    const out = await accord('db', 'migrate', '--data', tempDir(), '--database-url', PG_URL, '--database-schema', schema);
    assert.match(out.stdout, /postgres:\/\/.*: tables are up to date/);
    const again = await startTestServer({ databaseUrl: PG_URL, databaseSchema: schema });
    assert.equal(Number((await again.app.db.get<{ n: number }>('SELECT count(*) AS n FROM users'))!.n), 0);
  });
});
