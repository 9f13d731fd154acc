import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ANCHOR_FILE } from '../../server/audit/anchor.ts';
import { AuditLog } from '../../server/audit/audit-log.ts';
import { evidenceJson, exportEvidence, renderEvidenceHtml } from '../../server/audit/evidence.ts';
import { loadOrCreateServerKey } from '../../server/audit/server-key.ts';
import type { Database } from '../../server/store/sql.ts';
import { DATABASES, PG_URL, freshSchema, openTestStorage, type DatabaseKind } from '../helpers/databases.ts';
import { annotations, recordChange, tempDir } from './fixtures.ts';

const exec = promisify(execFile);
const MAIN = 'server/audit/audit-cli-main.ts';
/** The CLI reads the server's database settings from the environment too: these tests say what they mean. */
const ENV = { ...process.env, ACCORD_DATABASE_URL: '', ACCORD_DATABASE_SCHEMA: '' };

const run = (args: string[]) => exec(process.execPath, [MAIN, ...args], { env: ENV });

interface Failed { code: number; stdout: string; stderr: string }

async function fails(args: string[]): Promise<Failed> {
  try {
    await run(args);
  } catch (e) {
    return e as Failed;
  }
  throw new Error(`expected ${args.join(' ')} to fail`);
}

/**
 * A data dir as the server leaves it: the database (accord.sqlite in it, or a PostgreSQL schema) with 120
 * entries (checkpoint at 100, head signed at 120), server-key.pem, and audit-anchor.jsonl (one line per
 * unit of work of 10 entries), plus a witness file. `where`: the arguments that name the database.
 */
async function dataDir(kind: DatabaseKind = 'sqlite'): Promise<{ dir: string; db: Database; key: ReturnType<typeof loadOrCreateServerKey>; log: AuditLog; witness: string; where: string[] }> {
  const { db, dataDir: dir } = await openTestStorage(kind);
  const key = loadOrCreateServerKey(dir);
  mkdirSync(join(dir, 'other-disk'));
  const witness = join(dir, 'other-disk', 'witness.jsonl');
  const log = new AuditLog(db, key, { anchorPath: join(dir, ANCHOR_FILE), witnessPath: witness });
  for (let batch = 0; batch < 12; batch++) {
    await db.transaction(async () => {
      for (let i = batch * 10 + 1; i <= batch * 10 + 10; i++) await log.append({ actor: 'alice', action: 'change.vote', subject: 'chg-2', outcome: 'ok', detail: { i } });
    });
    await log.flushAnchor();
  }
  const where = ['--data', dir];
  if (kind === 'postgres') {
    const { schema } = (await db.get<{ schema: string }>('SELECT current_schema() AS schema'))!;
    where.push('--database-url', PG_URL, '--database-schema', schema);
  }
  return { dir, db, key, log, witness, where };
}

describe('accord audit verify (a real process)', () => {
  it('verifies a data directory against its anchor (and a witness) and prints a one-line summary', async () => {
    const { dir, key, witness } = await dataDir();
    const anchor = join(dir, ANCHOR_FILE);
    const { stdout } = await run(['audit', 'verify', '--data', dir]);
    assert.equal(stdout, `audit: ok: 120 entries, 1 checkpoints, head signed at entry 120, key ${key.keyId}; the anchor file ${anchor}: 12 lines, up to entry 120\n`);
    const pinned = join(dir, 'published.pem');
    writeFileSync(pinned, key.publicKeyPem);
    const withWitness = await run(['audit', 'verify', '--data', dir, '--public-key', pinned, '--witness', witness]);
    assert.match(withWitness.stdout, new RegExp(`; the witness file ${witness}: 12 lines, up to entry 120\\n$`));
  });

  it('exits 1 naming the first broken entry after the database was edited', async () => {
    const { dir, db } = await dataDir();
    await db.run(`UPDATE audit_log SET detail = '{"i":1000}' WHERE seq = 17`);
    await db.run('DELETE FROM audit_log WHERE seq = 40');
    const r = await fails(['audit', 'verify', '--data', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'audit: entry 17 is broken: hash mismatch\n');
    assert.equal(r.stdout, '');
  });

  it('exits 1 when the tail was cut and an older signed head put back, naming what the anchor recorded', async () => {
    const { dir, db, witness } = await dataDir();
    const anchor = join(dir, ANCHOR_FILE);
    const line = JSON.parse(readFileSync(anchor, 'utf8').split('\n')[9]!) as { seq: number; hash: string; signature: string; keyId: string; at: string };
    await db.run('DELETE FROM audit_log WHERE seq > 100');
    await db.run('DELETE FROM audit_head');
    await db.run('INSERT INTO audit_head (seq, hash, signature, key_id, at) VALUES (?, ?, ?, ?, ?)', [line.seq, line.hash, line.signature, line.keyId, line.at]);
    const r = await fails(['audit', 'verify', '--data', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `audit: entry 101 is broken: missing (the log ends at entry 100 but the anchor file ${anchor} records entry 120 (line 12): entries after 100 were deleted)\n`);
    // Whoever cut the log may cut the anchor file too: the witness on other storage still has the lines.
    writeFileSync(anchor, readFileSync(anchor, 'utf8').split('\n').slice(0, 10).join('\n') + '\n');
    const ok = await run(['audit', 'verify', '--data', dir]);
    assert.match(ok.stdout, /^audit: ok: 100 entries/);
    const w = await fails(['audit', 'verify', '--data', dir, '--witness', witness]);
    assert.match(w.stderr, new RegExp(`^audit: entry 101 is broken: missing \\(the log ends at entry 100 but the witness file ${witness} records entry 120`));
  });

  it('exits 1 when the anchor file is missing, unless --no-anchor says to skip it', async () => {
    const { dir } = await dataDir();
    const anchor = join(dir, ANCHOR_FILE);
    rmSync(anchor);
    const r = await fails(['audit', 'verify', '--data', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^audit: the log is broken: the anchor file ${anchor} does not exist, but the log has 120 entries: it was deleted or moved, or the server ran without anchoring`));
    const skipped = await run(['audit', 'verify', '--data', dir, '--no-anchor']);
    assert.match(skipped.stdout, /^audit: ok: 120 entries, .*; anchor not checked \(--no-anchor\): a truncated tail with an older signed head put back would go unnoticed\n$/);
  });

  it('verifies an exported pack offline, as .json and .html, and fails on an edited vote', async () => {
    const { dir, key, log } = await dataDir();
    const recorded = await recordChange(log, key);
    const pack = await exportEvidence(log, key, { change: recorded.change, annotations, signoffs: recorded.signoffs, actor: 'auditor' });
    const json = join(dir, 'evidence.json');
    const html = join(dir, 'evidence.html');
    writeFileSync(json, evidenceJson(pack));
    writeFileSync(html, renderEvidenceHtml(pack));
    const ok = await run(['audit', 'verify', '--pack', json]);
    assert.equal(ok.stdout, `audit: ok: evidence pack for change chg-1: 11 entries (122 to 132), head signed at entry 132; 2 revisions, 3 votes, 1 recusals, 1 sign-offs (passkey assertions verified) match them; key ${key.keyId} (from the pack: compare it with the published key id)\n`);
    const okHtml = await run(['audit', 'verify', '--pack', html]);
    assert.match(okHtml.stdout, /^audit: ok: evidence pack for change chg-1: 11 entries/);
    const pinned = join(dir, 'published.pem');
    writeFileSync(pinned, loadOrCreateServerKey(tempDir()).publicKeyPem);
    const other = await fails(['audit', 'verify', '--pack', html, '--public-key', pinned]);
    assert.match(other.stderr, /^audit: the pack is broken: the pack is signed by key [0-9a-f]{16}, not by the pinned key/);
    writeFileSync(html, renderEvidenceHtml(pack).replace('"choice":"reject"', '"choice":"approve"'));
    const r = await fails(['audit', 'verify', '--pack', html]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^audit: entry 132 is broken: the pack's content .* differs from what this export recorded\n$/);
    writeFileSync(json, evidenceJson({ ...pack, format: 'accord-evidence/1' as never }));
    const old = await fails(['audit', 'verify', '--pack', json]);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /^audit: the pack is broken: this is an accord-evidence\/1 pack: .* export the change again/);
  });

  it('exits 2 for bad usage or a missing database', async () => {
    const missing = await fails(['audit', 'verify', '--data', join(tempDir(), 'nope')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^audit: no database at /);
    const usage = await fails(['audit', 'check']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: accord audit verify/);
    const both = await fails(['audit', 'verify', '--pack', 'x.json', '--no-anchor']);
    assert.equal(both.code, 2);
    const packOnDatabase = await fails(['audit', 'verify', '--pack', 'x.json', '--database-url', PG_URL]);
    assert.equal(packOnDatabase.code, 2);
    const schemaAlone = await fails(['audit', 'verify', '--data', tempDir(), '--database-schema', 'accord']);
    assert.equal(schemaAlone.code, 2);
    assert.match(schemaAlone.stderr, /^audit: --database-schema names a schema of the --database-url database/);
  });
});

describe('accord audit verify --database-url (an installation on PostgreSQL)', { skip: !DATABASES.includes('postgres') && 'ACCORD_TEST_DATABASES leaves PostgreSQL out' }, () => {
  it('verifies the log in PostgreSQL against the data directory\'s key, anchor and a witness', async () => {
    const { key, witness, where, dir } = await dataDir('postgres');
    const { stdout } = await run(['audit', 'verify', ...where, '--witness', witness]);
    assert.equal(stdout, `audit: ok: 120 entries, 1 checkpoints, head signed at entry 120, key ${key.keyId}; ` +
      `the anchor file ${join(dir, ANCHOR_FILE)}: 12 lines, up to entry 120; the witness file ${witness}: 12 lines, up to entry 120\n`);
  });

  it('takes the database from ACCORD_DATABASE_URL and ACCORD_DATABASE_SCHEMA as the server does', async () => {
    const { key, where } = await dataDir('postgres');
    const [, dir, , url, , schema] = where;
    const { stdout } = await exec(process.execPath, [MAIN, 'audit', 'verify', '--data', dir!], { env: { ...ENV, ACCORD_DATABASE_URL: url, ACCORD_DATABASE_SCHEMA: schema } });
    assert.match(stdout, new RegExp(`^audit: ok: 120 entries, 1 checkpoints, head signed at entry 120, key ${key.keyId};`));
  });

  it('exits 1 naming the first broken entry, and when the tail was cut with an older head put back', async () => {
    const { db, dir, where } = await dataDir('postgres');
    await db.run(`UPDATE audit_log SET detail = '{"i":1000}' WHERE seq = 17`);
    const edited = await fails(['audit', 'verify', ...where]);
    assert.equal(edited.code, 1);
    assert.equal(edited.stderr, 'audit: entry 17 is broken: hash mismatch\n');
    await db.run(`UPDATE audit_log SET detail = '{"i":17}' WHERE seq = 17`);
    const anchor = join(dir, ANCHOR_FILE);
    const line = JSON.parse(readFileSync(anchor, 'utf8').split('\n')[9]!) as { seq: number; hash: string; signature: string; keyId: string; at: string };
    await db.run('DELETE FROM audit_log WHERE seq > 100');
    await db.run('UPDATE audit_head SET seq = ?, hash = ?, signature = ?, key_id = ?, at = ?', [line.seq, line.hash, line.signature, line.keyId, line.at]);
    const cut = await fails(['audit', 'verify', ...where]);
    assert.equal(cut.code, 1);
    assert.equal(cut.stderr, `audit: entry 101 is broken: missing (the log ends at entry 100 but the anchor file ${anchor} records entry 120 (line 12): entries after 100 were deleted)\n`);
  });

  it('needs nothing but reading: a role granted SELECT on the audit tables verifies, one without is told so', async () => {
    const { key, where, db } = await dataDir('postgres');
    const schema = where.at(-1)!;
    const role = `${schema}_auditor`; // generated identifiers: DDL takes no parameters
    const asRole = (args: string[]) => args.map((a) => (a === PG_URL ? Object.assign(new URL(PG_URL), { username: role }).toString() : a));
    await db.run(`CREATE ROLE ${role} LOGIN`);
    try {
      await db.run(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
      const denied = await fails(['audit', 'verify', ...asRole(where)]);
      assert.equal(denied.code, 2);
      assert.match(denied.stderr, /^audit: cannot use PostgreSQL at .*: permission denied for table audit_/);
      await db.run(`GRANT SELECT ON audit_log, audit_checkpoints, audit_head TO ${role}`);
      const { stdout } = await run(['audit', 'verify', ...asRole(where)]);
      assert.match(stdout, new RegExp(`^audit: ok: 120 entries, 1 checkpoints, head signed at entry 120, key ${key.keyId};`));
    } finally {
      await db.run(`DROP OWNED BY ${role}`);
      await db.run(`DROP ROLE ${role}`);
    }
  });

  it('exits 2, creating nothing, for a schema without the audit log, and for a server it cannot reach', async () => {
    const { dir } = await dataDir('postgres');
    const empty = await freshSchema();
    const none = await fails(['audit', 'verify', '--data', dir, '--database-url', PG_URL, '--database-schema', empty]);
    assert.equal(none.code, 2);
    assert.equal(none.stderr, `audit: no audit log in ${PG_URL} (schema ${empty})\n`);
    const again = await fails(['audit', 'verify', '--data', dir, '--database-url', PG_URL, '--database-schema', empty]);
    assert.equal(again.stderr, none.stderr, 'verifying created no table');
    const bad = await fails(['audit', 'verify', '--data', dir, '--database-url', PG_URL, '--database-schema', 'Not-A-Schema']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^audit: cannot use PostgreSQL at .*: invalid schema name Not-A-Schema/);
    const unreachable = await fails(['audit', 'verify', '--data', dir, '--database-url', 'postgres://accord:secret@127.0.0.1:1/accord']);
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.stderr, /^audit: cannot use PostgreSQL at postgres:\/\/accord:\*\*\*@127\.0\.0\.1:1\/accord: /);
    assert.doesNotMatch(unreachable.stderr, /secret/);
  });
});
