import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AuditLog } from '../../server/audit/audit-log.ts';
import { evidenceJson, exportEvidence, renderEvidenceHtml } from '../../server/audit/evidence.ts';
import { loadOrCreateServerKey } from '../../server/audit/server-key.ts';
import { annotations, fabricatedChange, openAuditDb, signoffs, tempDir } from './fixtures.ts';

const run = promisify(execFile);
const MAIN = 'server/audit/audit-cli-main.ts';

interface Failed { code: number; stdout: string; stderr: string }

async function fails(args: string[]): Promise<Failed> {
  try {
    await run(process.execPath, [MAIN, ...args]);
  } catch (e) {
    return e as Failed;
  }
  throw new Error(`expected ${args.join(' ')} to fail`);
}

/** A data dir as the server leaves it: accord.sqlite with 120 entries (checkpoint at 100), server-key.pem. */
function dataDir(): { dir: string; key: ReturnType<typeof loadOrCreateServerKey>; log: AuditLog } {
  const dir = tempDir();
  const db = openAuditDb(dir);
  const key = loadOrCreateServerKey(dir);
  const log = new AuditLog(db, key);
  for (let i = 1; i <= 120; i++) log.append({ actor: 'alice', action: 'vote', subject: i < 5 ? 'chg-1' : 'chg-2', outcome: 'ok', detail: { i } });
  return { dir, key, log };
}

describe('accord audit verify (a real process)', () => {
  it('verifies a data directory and prints a one-line summary', async () => {
    const { dir, key } = dataDir();
    const { stdout } = await run(process.execPath, [MAIN, 'audit', 'verify', '--data', dir]);
    assert.equal(stdout, `audit: ok: 120 entries, 1 checkpoints (last signs entry 100; 20 after it unsigned), key ${key.keyId}\n`);
    const pinned = join(dir, 'published.pem');
    writeFileSync(pinned, key.publicKeyPem);
    await run(process.execPath, [MAIN, 'audit', 'verify', '--data', dir, '--public-key', pinned]);
  });

  it('exits 1 naming the first broken entry after the database was edited', async () => {
    const { dir } = dataDir();
    const db = openAuditDb(dir);
    db.exec(`UPDATE audit_log SET detail = '{"i":1000}' WHERE seq = 17; DELETE FROM audit_log WHERE seq = 40;`);
    db.close();
    const r = await fails(['audit', 'verify', '--data', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'audit: entry 17 is broken: hash mismatch\n');
    assert.equal(r.stdout, '');
  });

  it('verifies an exported pack offline, as .json and .html, and fails on an edited vote', async () => {
    const { dir, key, log } = dataDir();
    const pack = exportEvidence(log, key, { change: fabricatedChange(), annotations, signoffs, actor: 'auditor' });
    const json = join(dir, 'evidence.json');
    const html = join(dir, 'evidence.html');
    writeFileSync(json, evidenceJson(pack));
    writeFileSync(html, renderEvidenceHtml(pack));
    const ok = await run(process.execPath, [MAIN, 'audit', 'verify', '--pack', json]);
    assert.match(ok.stdout, new RegExp(`^audit: ok: evidence pack for change chg-1: 121 entries \\(1 to 121\\), checkpoint at entry 121, key ${key.keyId} \\(from the pack`));
    const okHtml = await run(process.execPath, [MAIN, 'audit', 'verify', '--pack', html]);
    assert.match(okHtml.stdout, /^audit: ok: evidence pack for change chg-1: 121 entries/);
    const pinned = join(dir, 'published.pem');
    writeFileSync(pinned, loadOrCreateServerKey(tempDir()).publicKeyPem);
    const other = await fails(['audit', 'verify', '--pack', html, '--public-key', pinned]);
    assert.match(other.stderr, /^audit: the pack is broken: the pack is signed by key [0-9a-f]{16}, not by the pinned key/);
    writeFileSync(html, renderEvidenceHtml(pack).replace('"choice":"reject"', '"choice":"approve"'));
    const r = await fails(['audit', 'verify', '--pack', html]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^audit: entry 121 is broken: the pack's content .* differs from what this export recorded\n$/);
  });

  it('exits 2 for bad usage or a missing database', async () => {
    const missing = await fails(['audit', 'verify', '--data', join(tempDir(), 'nope')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^audit: no database at /);
    const usage = await fails(['audit', 'check']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: accord audit verify/);
  });
});
