import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { AuditLog } from '../../server/audit/audit-log.ts';
import { entryHash, signCheckpoint } from '../../server/audit/entry.ts';
import { buildEvidencePack, evidenceDigest, evidenceJson, exportEvidence, renderEvidenceHtml } from '../../server/audit/evidence.ts';
import type { EvidencePack } from '../../server/audit/evidence.ts';
import { keyIdOf, loadOrCreateServerKey } from '../../server/audit/server-key.ts';
import type { ServerKey } from '../../server/audit/server-key.ts';
import { verifyEvidenceHtml, verifyEvidencePack } from '../../server/audit/verify-pack.ts';
import type { VerifyResult } from '../../server/audit/verify.ts';
import { annotations, fabricatedChange, openAuditDb, signoffs, tempDir } from './fixtures.ts';

/** A log where chg-1's entries are interleaved with another change's, then an export of chg-1. */
function exported(): { pack: EvidencePack; key: ServerKey; log: AuditLog } {
  const dir = tempDir();
  const key = loadOrCreateServerKey(dir);
  const log = new AuditLog(openAuditDb(dir), key, { checkpointEvery: 4 });
  log.append({ actor: 'zoe', action: 'revision.submit', subject: 'chg-0', outcome: 'ok', detail: { revision: 1 } });
  for (const [actor, action, subject] of [
    ['alice', 'revision.submit', 'chg-1'], ['dave', 'vote', 'chg-1'], ['zoe', 'vote', 'chg-0'], ['erin', 'vote', 'chg-1'],
    ['alice', 'revision.submit', 'chg-1'], ['mallory', 'vote', 'chg-1'], ['erin', 'vote', 'chg-1'], ['grace', 'signoff', 'chg-1'],
  ] as const) {
    log.append({ actor, action, subject, outcome: actor === 'mallory' ? 'refused' : 'ok', detail: { by: actor } });
  }
  const pack = exportEvidence(log, key, { change: fabricatedChange(), annotations, signoffs, actor: 'auditor' });
  return { pack, key, log };
}

const clone = (p: EvidencePack): EvidencePack => JSON.parse(evidenceJson(p)) as EvidencePack;

function assertBroken(r: VerifyResult, seq: number | null, reason: RegExp): void {
  assert.equal(r.ok, false, 'verification should fail');
  if (r.ok) return;
  assert.equal(r.seq, seq, `names ${String(seq)} (got ${String(r.seq)}: ${r.reason})`);
  assert.match(r.reason, reason);
}

describe('evidence pack (JSON)', () => {
  it('holds the segment from the change\'s first entry to a signed checkpoint, and verifies offline', () => {
    const { pack, key } = exported();
    assert.deepEqual(pack.audit.entries.map((e) => e.seq), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(pack.audit.entries.at(-1)!.action, 'evidence.export');
    assert.deepEqual(pack.audit.entries.at(-1)!.detail, { format: 'accord-evidence/1', digest: evidenceDigest(pack) });
    assert.equal(pack.audit.checkpoint.seq, 10);
    assert.equal(pack.audit.keyId, key.keyId);
    const r = verifyEvidencePack(JSON.parse(evidenceJson(pack)) as unknown);
    assert.deepEqual(r, { ok: true, entries: 9, checkpoints: 1, lastSeq: 10, lastCheckpointSeq: 10, keyId: key.keyId });
    assert.equal(verifyEvidencePack(clone(pack), { publicKeyPem: key.publicKeyPem }).ok, true);
  });

  it('fails when a vote is edited, naming the export entry that recorded the content', () => {
    const { pack } = exported();
    const edited = clone(pack);
    edited.change.votes[1]!.choice = 'approve';
    assertBroken(verifyEvidencePack(edited), 10, /content .* differs from what this export recorded/);
    const dropped = clone(pack);
    dropped.signoffs = [];
    assertBroken(verifyEvidencePack(dropped), 10, /differs/);
  });

  it('fails when an audit entry in the pack is edited or removed, naming it', () => {
    const { pack } = exported();
    const edited = clone(pack);
    edited.audit.entries[5]!.outcome = 'ok';
    assertBroken(verifyEvidencePack(edited), 7, /^hash mismatch$/);
    const removed = clone(pack);
    removed.audit.entries.splice(3, 1);
    assertBroken(verifyEvidencePack(removed), 5, /missing \(the log jumps from entry 4 to 6\)/);
  });

  it('fails when the checkpoint signature or key id is altered', () => {
    const { pack } = exported();
    const forged = clone(pack);
    forged.audit.checkpoint.signature = signCheckpoint({ ...forged.audit.checkpoint }, generateKeyPairSync('ed25519').privateKey).signature;
    assertBroken(verifyEvidencePack(forged), 10, /checkpoint signature does not verify/);
    const relabelled = clone(pack);
    relabelled.audit.keyId = '0123456789abcdef';
    assertBroken(verifyEvidencePack(relabelled), null, /is not the id of its public key/);
  });

  it('a pack re-made under another key verifies only until the signer is pinned', () => {
    const { pack, key } = exported();
    const mallory = generateKeyPairSync('ed25519');
    const pem = mallory.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const fake = clone(pack);
    fake.change.votes[1]!.choice = 'approve';
    const last = fake.audit.entries.at(-1)!;
    last.detail = { format: 'accord-evidence/1', digest: evidenceDigest(fake) };
    const { hash: _old, ...fields } = last;
    last.hash = entryHash(fields);
    fake.audit.publicKeyPem = pem;
    fake.audit.keyId = keyIdOf(pem);
    fake.audit.checkpoint = signCheckpoint({ seq: last.seq, hash: last.hash, keyId: fake.audit.keyId, at: last.at }, mallory.privateKey);
    assert.equal(verifyEvidencePack(fake).ok, true, 'self-consistent: this is why the key id must be compared');
    assertBroken(verifyEvidencePack(fake, { publicKeyPem: key.publicKeyPem }), null, /not by the pinned key/);
  });

  it('rejects what is not a pack, and builds only packs that would verify', () => {
    assertBroken(verifyEvidencePack({ format: 'other' }), null, /not an accord-evidence\/1 pack/);
    const { pack, log, key } = exported();
    const input = { change: fabricatedChange(), annotations, signoffs, auditEntries: pack.audit.entries, checkpoint: pack.audit.checkpoint, publicKeyPem: key.publicKeyPem, keyId: key.keyId };
    assert.equal(verifyEvidencePack(buildEvidencePack(input)).ok, true);
    const changed = fabricatedChange();
    changed.status = 'rejected';
    assert.throws(() => buildEvidencePack({ ...input, change: changed }), /no evidence.export entry records this content's digest/);
    assert.throws(() => buildEvidencePack({ ...input, auditEntries: pack.audit.entries.slice(0, -1) }), /must end at its checkpoint/);
    assert.throws(() => buildEvidencePack({ ...input, auditEntries: log.range(1, 10) }), /must start at the change's first entry/);
  });
});

describe('evidence page (HTML)', () => {
  it('is readable, escaped, script-free, and verifies through its embedded pack', () => {
    const { pack } = exported();
    const html = renderEvidenceHtml(pack);
    assert.equal(verifyEvidenceHtml(html).ok, true);
    const scripts = html.match(/<script[^>]*>/g) ?? [];
    assert.deepEqual(scripts, ['<script type="application/json" id="evidence">']);
    assert.ok(!html.includes('<img'), 'annotation HTML is escaped');
    assert.ok(!html.includes('<b>x</b>'), 'native form is escaped');
    assert.ok(html.includes('Incident response &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; more'));
    assert.match(html, /<span class="ln">2<\/span>acl:0:\/vms\/101:bob@pve:&#60;\/pre&#62;/);
    assert.match(html, /<tr class="risk">.*VM\.Console.*HIGH RISK/);
    assert.match(html, /<tr class="stale"><td>erin<\/td><td><strong>reject<\/strong><\/td><td>i2<\/td><td>too broad<\/td><td>1<\/td>/);
    assert.match(html, /<td>dave<\/td><td><strong>approve<\/strong><\/td><td>i1<\/td><td><\/td><td>1<\/td>.*<td>current<\/td>/);
    assert.match(html, /<tr class="refused"><td>7<\/td>.*mallory/);
    assert.match(html, /npm run accord -- audit verify --pack/);
    assert.match(html, /server-receipt-sig/);
  });

  it('fails when a vote is edited in the visible table or in the embedded pack', () => {
    const { pack } = exported();
    const html = renderEvidenceHtml(pack);
    const visible = html.replace('<td>erin</td><td><strong>reject</strong>', '<td>erin</td><td><strong>approve</strong>');
    assert.notEqual(visible, html);
    assertBroken(verifyEvidenceHtml(visible), null, /differs from the rendering of its verified pack at line \d+/);
    const embedded = html.replace('"choice":"reject"', '"choice":"approve"');
    assert.notEqual(embedded, html);
    assertBroken(verifyEvidenceHtml(embedded), 10, /differs from what this export recorded/);
    assertBroken(verifyEvidenceHtml('<html></html>'), null, /no embedded evidence pack/);
  });
});
