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
import { annotations, openAuditDb, recordChange, tempDir } from './fixtures.ts';

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

/**
 * A data dir as the server leaves it: accord.sqlite with 120 entries (checkpoint at 100, head signed at
 * 120), server-key.pem, and audit-anchor.jsonl (one line per batch of 10 entries), plus a witness file.
 */
async function dataDir(): Promise<{ dir: string; key: ReturnType<typeof loadOrCreateServerKey>; log: AuditLog; witness: string }> {
  const dir = tempDir();
  const db = openAuditDb(dir);
  const key = loadOrCreateServerKey(dir);
  mkdirSync(join(dir, 'other-disk'));
  const witness = join(dir, 'other-disk', 'witness.jsonl');
  const log = new AuditLog(db, key, { anchorPath: join(dir, ANCHOR_FILE), witnessPath: witness });
  for (let i = 1; i <= 120; i++) {
    log.append({ actor: 'alice', action: 'change.vote', subject: 'chg-2', outcome: 'ok', detail: { i } });
    if (i % 10 === 0) await log.flushAnchor();
  }
  return { dir, key, log, witness };
}

describe('accord audit verify (a real process)', () => {
  it('verifies a data directory against its anchor (and a witness) and prints a one-line summary', async () => {
    const { dir, key, witness } = await dataDir();
    const anchor = join(dir, ANCHOR_FILE);
    const { stdout } = await run(process.execPath, [MAIN, 'audit', 'verify', '--data', dir]);
    assert.equal(stdout, `audit: ok: 120 entries, 1 checkpoints, head signed at entry 120, key ${key.keyId}; the anchor file ${anchor}: 12 lines, up to entry 120\n`);
    const pinned = join(dir, 'published.pem');
    writeFileSync(pinned, key.publicKeyPem);
    const withWitness = await run(process.execPath, [MAIN, 'audit', 'verify', '--data', dir, '--public-key', pinned, '--witness', witness]);
    assert.match(withWitness.stdout, new RegExp(`; the witness file ${witness}: 12 lines, up to entry 120\\n$`));
  });

  it('exits 1 naming the first broken entry after the database was edited', async () => {
    const { dir } = await dataDir();
    const db = openAuditDb(dir);
    db.exec(`UPDATE audit_log SET detail = '{"i":1000}' WHERE seq = 17; DELETE FROM audit_log WHERE seq = 40;`);
    db.close();
    const r = await fails(['audit', 'verify', '--data', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'audit: entry 17 is broken: hash mismatch\n');
    assert.equal(r.stdout, '');
  });

  it('exits 1 when the tail was cut and an older signed head put back, naming what the anchor recorded', async () => {
    const { dir, witness } = await dataDir();
    const anchor = join(dir, ANCHOR_FILE);
    const line = JSON.parse(readFileSync(anchor, 'utf8').split('\n')[9]!) as { seq: number; hash: string; signature: string; keyId: string; at: string };
    const db = openAuditDb(dir);
    db.exec('DELETE FROM audit_log WHERE seq > 100; DELETE FROM audit_head;');
    db.prepare('INSERT INTO audit_head (seq, hash, signature, key_id, at) VALUES (?, ?, ?, ?, ?)').run(line.seq, line.hash, line.signature, line.keyId, line.at);
    db.close();
    const r = await fails(['audit', 'verify', '--data', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `audit: entry 101 is broken: missing (the log ends at entry 100 but the anchor file ${anchor} records entry 120 (line 12): entries after 100 were deleted)\n`);
    // Whoever cut the log may cut the anchor file too: the witness on other storage still has the lines.
    writeFileSync(anchor, readFileSync(anchor, 'utf8').split('\n').slice(0, 10).join('\n') + '\n');
    const ok = await run(process.execPath, [MAIN, 'audit', 'verify', '--data', dir]);
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
    const skipped = await run(process.execPath, [MAIN, 'audit', 'verify', '--data', dir, '--no-anchor']);
    assert.match(skipped.stdout, /^audit: ok: 120 entries, .*; anchor not checked \(--no-anchor\): a truncated tail with an older signed head put back would go unnoticed\n$/);
  });

  it('verifies an exported pack offline, as .json and .html, and fails on an edited vote', async () => {
    const { dir, key, log } = await dataDir();
    const recorded = await recordChange(log, key);
    const pack = exportEvidence(log, key, { change: recorded.change, annotations, signoffs: recorded.signoffs, actor: 'auditor' });
    const json = join(dir, 'evidence.json');
    const html = join(dir, 'evidence.html');
    writeFileSync(json, evidenceJson(pack));
    writeFileSync(html, renderEvidenceHtml(pack));
    const ok = await run(process.execPath, [MAIN, 'audit', 'verify', '--pack', json]);
    assert.equal(ok.stdout, `audit: ok: evidence pack for change chg-1: 11 entries (122 to 132), head signed at entry 132; 2 revisions, 3 votes, 1 recusals, 1 sign-offs (passkey assertions verified) match them; key ${key.keyId} (from the pack: compare it with the published key id)\n`);
    const okHtml = await run(process.execPath, [MAIN, 'audit', 'verify', '--pack', html]);
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
  });
});
