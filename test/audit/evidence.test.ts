import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { canonicalJson } from '../../server/audit/canonical.ts';
import { signCheckpoint } from '../../server/audit/entry.ts';
import { buildEvidencePack, evidenceDigest, evidenceJson, exportEvidence, renderEvidenceHtml } from '../../server/audit/evidence.ts';
import type { EvidencePack } from '../../server/audit/evidence.ts';
import { keyIdOf } from '../../server/audit/server-key.ts';
import { verifyEvidenceHtml, verifyEvidencePack } from '../../server/audit/verify-pack.ts';
import type { PackVerifyResult } from '../../server/audit/verify-pack.ts';
import { ed25519Signer, signReceipt, type SignOffReceipt } from '../../server/auth/webauthn/receipt.ts';
import { hashContent, hashItems } from '../../server/domain/review/canonical.ts';
import { onEachDatabase } from '../helpers/databases.ts';
import { annotations, clone, exported, reseal, signoffsOf } from './fixtures.ts';

const signoffEntry = (p: EvidencePack) => p.audit.entries.find((e) => e.action === 'change.signoff')!;
const signoffDetail = (p: EvidencePack) => signoffEntry(p).detail as { receipt: SignOffReceipt; assertion: string };

function assertBroken(r: PackVerifyResult, seq: number | null, reason: RegExp): void {
  assert.equal(r.ok, false, 'verification should fail');
  if (r.ok) return;
  assert.equal(r.seq, seq, `names ${String(seq)} (got ${String(r.seq)}: ${r.reason})`);
  assert.match(r.reason, reason);
}

onEachDatabase('evidence pack (JSON)', (kind) => {
  it("holds the segment from the change's creation to the signed head, and verifies offline", async () => {
    const { pack, key, log } = await exported(kind);
    assert.equal(pack.format, 'accord-evidence/2');
    assert.deepEqual(pack.audit.entries.map((e) => e.seq), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.equal(pack.audit.entries[0]!.action, 'change.create');
    assert.equal(pack.audit.entries.at(-1)!.action, 'evidence.export');
    assert.deepEqual(pack.audit.entries.at(-1)!.detail, { format: 'accord-evidence/2', digest: evidenceDigest(pack) });
    assert.deepEqual(pack.audit.checkpoint, await log.head(), 'the checkpoint is the signed head');
    assert.equal(pack.audit.keyId, key.keyId);
    const r = await verifyEvidencePack(JSON.parse(evidenceJson(pack)) as unknown);
    assert.deepEqual(r, { ok: true, entries: 11, lastSeq: 12, checkpointSeq: 12, keyId: key.keyId, revisions: 2, votes: 3, recusals: 1, signoffs: 1 });
    assert.equal((await verifyEvidencePack(clone(pack), { publicKeyPem: key.publicKeyPem })).ok, true);
    assert.equal((await log.all()).filter((e) => e.action === 'evidence.export').length, 1, 'one entry per export');
  });

  it('fails when a vote is edited, naming the export entry that recorded the content', async () => {
    const { pack } = await exported(kind);
    const edited = clone(pack);
    edited.change.votes[1]!.choice = 'approve';
    assertBroken(await verifyEvidencePack(edited), 12, /content .* differs from what this export recorded/);
    const dropped = clone(pack);
    dropped.signoffs = [];
    assertBroken(await verifyEvidencePack(dropped), 12, /differs/);
  });

  it('fails when an audit entry in the pack is edited or removed, naming it', async () => {
    const { pack } = await exported(kind);
    const edited = clone(pack);
    edited.audit.entries[7]!.outcome = 'ok';
    assertBroken(await verifyEvidencePack(edited), 9, /^hash mismatch$/);
    const removed = clone(pack);
    removed.audit.entries.splice(3, 1);
    assertBroken(await verifyEvidencePack(removed), 5, /missing \(the log jumps from entry 4 to 6\)/);
  });

  it('fails when the checkpoint signature or key id is altered', async () => {
    const { pack } = await exported(kind);
    const forged = clone(pack);
    forged.audit.checkpoint.signature = signCheckpoint({ ...forged.audit.checkpoint }, generateKeyPairSync('ed25519').privateKey).signature;
    assertBroken(await verifyEvidencePack(forged), 12, /checkpoint signature does not verify/);
    const relabelled = clone(pack);
    relabelled.audit.keyId = '0123456789abcdef';
    assertBroken(await verifyEvidencePack(relabelled), null, /is not the id of its public key/);
  });

  it('a pack re-made under another key (receipts re-signed too) verifies only until the signer is pinned', async () => {
    const { pack, key } = await exported(kind);
    const mallory = generateKeyPairSync('ed25519');
    const pem = mallory.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const signer = { privateKey: mallory.privateKey, keyId: keyIdOf(pem), publicKeyPem: pem };
    const fake = clone(pack);
    const { signature: _s, ...body } = signoffDetail(fake).receipt;
    const receipt = signReceipt({ ...body, keyId: signer.keyId }, ed25519Signer(mallory.privateKey, signer.keyId));
    signoffDetail(fake).receipt = receipt;
    signoffsOf(fake)[0]!.receipt = receipt;
    reseal(fake, signer);
    assert.equal((await verifyEvidencePack(fake)).ok, true, 'self-consistent: this is why the key id must be compared');
    assertBroken(await verifyEvidencePack(fake, { publicKeyPem: key.publicKeyPem }), null, /not by the pinned key/);
  });

  it('refuses accord-evidence/1 packs and what is not a pack', async () => {
    const { pack } = await exported(kind);
    const old = { ...clone(pack), format: 'accord-evidence/1' };
    assertBroken(await verifyEvidencePack(old), null,
      /^this is an accord-evidence\/1 pack: its votes and sign-offs are not bound to audit entries, so it cannot be verified; export the change again \(accord-evidence\/2\)$/);
    assertBroken(await verifyEvidencePack({ format: 'other' }), null, /not an accord-evidence\/2 pack/);
  });

  it('builds only packs that would verify', async () => {
    const { pack, log, key, recorded } = await exported(kind);
    const input = { change: recorded.change, annotations, signoffs: recorded.signoffs, auditEntries: pack.audit.entries, checkpoint: pack.audit.checkpoint, publicKeyPem: key.publicKeyPem, keyId: key.keyId };
    assert.equal((await verifyEvidencePack(buildEvidencePack(input))).ok, true);
    assert.throws(() => buildEvidencePack({ ...input, annotations: [] }), /no evidence.export entry records this content's digest/);
    assert.throws(() => buildEvidencePack({ ...input, change: { ...recorded.change, status: 'rejected' } }), /the change's status is rejected, but its audit entries record approved \(entry 10\)/);
    assert.throws(() => buildEvidencePack({ ...input, auditEntries: pack.audit.entries.slice(0, -1) }), /must end at its checkpoint/);
    const all = await log.range(1, 12);
    assert.throws(() => buildEvidencePack({ ...input, auditEntries: all }), /must start at the change's first entry/);
  });
});

describe('evidence packs are derived from audit entries (findings 5 and 8)', () => {
  it('counts a vote cast again (a `repeated` entry) once', async () => {
    const { log, key, recorded } = await exported();
    await log.append({ actor: 'erin', action: 'change.vote', subject: 'chg-1', outcome: 'ok', detail: { repeated: { castAt: recorded.change.votes[2]!.castAt }, status: 'approved' } });
    const pack = await exportEvidence(log, key, { change: recorded.change, annotations, signoffs: recorded.signoffs, actor: 'auditor' });
    assert.equal((await verifyEvidencePack(pack)).ok, true);
  });

  it('refuses to export a change whose vote entries predate votes in entries', async () => {
    const { log, key, recorded } = await exported();
    await log.append({ actor: 'dave', action: 'change.vote', subject: 'chg-1', outcome: 'ok', detail: { choice: 'approve', revision: 2, item: null, status: 'approved' } });
    await assert.rejects(exportEvidence(log, key, { change: recorded.change, annotations, signoffs: recorded.signoffs, actor: 'auditor' }),
      /refusing to export chg-1: the change\.vote entry 13 records no vote \(written by an Accord version before packs were derived from entries\)/);
  });

  it('refuses to export a vote that no audit entry records (written straight into the changes row)', async () => {
    const { log, key, recorded } = await exported();
    const before = (await log.all()).length;
    const change = structuredClone(recorded.change);
    change.votes.push({ voter: 'mallory', choice: 'approve', revision: 2, revisionHash: change.revisions[1]!.hash, castAt: '2025-03-02T13:00:00.000Z' });
    await assert.rejects(exportEvidence(log, key, { change, annotations, signoffs: recorded.signoffs, actor: 'auditor' }),
      /^EvidenceRefused: evidence: refusing to export chg-1: the stored change has a vote by mallory \(approve on revision 2\) that no audit entry records$/);
    assert.equal((await log.all()).length, before, 'a refused export appends nothing');
  });

  it('refuses to export a sign-off row with a junk receipt and assertion', async () => {
    const { log, key, recorded } = await exported();
    const junk = { ...recorded.signoffs[0]!, approver: 'mallory', credentialId: 'junk', receipt: { signature: 'junk' }, assertion: { id: 'junk' } };
    await assert.rejects(exportEvidence(log, key, { change: recorded.change, annotations, signoffs: [...recorded.signoffs, junk], actor: 'auditor' }),
      /refusing to export chg-1: the stored sign-off by mallory \(revision 2\) is recorded by no change\.signoff audit entry/);
    const edited = { ...recorded.signoffs[0]!, receipt: { ...(recorded.signoffs[0]!.receipt as SignOffReceipt), signedAt: '2020-01-01T00:00:00.000Z' } };
    await assert.rejects(exportEvidence(log, key, { change: recorded.change, annotations, signoffs: [edited], actor: 'auditor' }),
      /the stored sign-off by grace \(revision 2\) differs from its change\.signoff entry 11: receipt$/);
  });

  it('refuses to export a status or a revision the audit entries do not record', async () => {
    const { log, key, recorded } = await exported();
    const applied = { ...recorded.change, status: 'applied' as const };
    await assert.rejects(exportEvidence(log, key, { change: applied, annotations, signoffs: recorded.signoffs, actor: 'auditor' }),
      /the change's status is applied, but its audit entries record approved \(entry 10\)/);
    const rewritten = structuredClone(recorded.change);
    rewritten.revisions[0]!.content.justification = 'something else';
    await assert.rejects(exportEvidence(log, key, { change: rewritten, annotations, signoffs: recorded.signoffs, actor: 'auditor' }),
      /revision 1's hash is not the hash of its content/);
  });

  it('a pack from an edited database, bound and signed by the server key as before, fails naming the vote', async () => {
    const { pack, key } = await exported();
    const extra = clone(pack);
    extra.change.votes.push({ voter: 'mallory', choice: 'approve', revision: 2, revisionHash: extra.change.revisions[1]!.hash, castAt: '2025-03-02T13:00:00.000Z' });
    assertBroken(await verifyEvidencePack(reseal(extra, key)), null, /^the change has a vote by mallory \(approve on revision 2\) that no audit entry records$/);
    const missing = clone(pack);
    missing.change.votes.splice(1, 1);
    assertBroken(await verifyEvidencePack(reseal(missing, key)), null, /^the vote by erin \(reject on revision 1\) recorded in entry 7 is missing from the change$/);
    const swapped = clone(pack);
    swapped.change.votes.reverse();
    assertBroken(await verifyEvidencePack(reseal(swapped, key)), null, /^the change's votes are not in the order of their audit entries \(the vote by erin \(approve on revision 2\)/);
    const recusals = clone(pack);
    recusals.change.recusals = [];
    assertBroken(await verifyEvidencePack(reseal(recusals, key)), null, /^the recusal by frank recorded in entry 6 is missing from the change$/);
  });

  it('fails a pack whose status, revision content or revision hashes the entries do not record', async () => {
    const { pack, key } = await exported();
    const status = clone(pack);
    status.change.status = 'applied';
    assertBroken(await verifyEvidencePack(reseal(status, key)), null, /^the change's status is applied, but its audit entries record approved \(entry 10\)$/);
    const content = clone(pack);
    content.change.revisions[1]!.content.ticket = 'OPS-666';
    assertBroken(await verifyEvidencePack(reseal(content, key)), null, /^revision 2's hash is not the hash of its content \(content edited\?\)$/);
    const rehashed = clone(pack);
    const rev = rehashed.change.revisions[1]!;
    rev.content.ticket = 'OPS-666';
    rev.hash = hashContent(rev.content);
    for (const v of rehashed.change.votes) if (v.revision === 2) v.revisionHash = rev.hash;
    assertBroken(await verifyEvidencePack(reseal(rehashed, key)), null, /^revision 2's hash [0-9a-f]{12}… is not the one submitted in entry 8 \([0-9a-f]{12}…\)$/);
    const items = clone(pack);
    items.change.revisions[0]!.itemHashes = hashItems([]);
    assertBroken(await verifyEvidencePack(reseal(items, key)), null, /^revision 1's item hashes are not the hashes of its items$/);
  });

  it('fails a junk sign-off, and a recorded sign-off whose receipt or passkey assertion does not verify', async () => {
    const { pack, key } = await exported();
    const junk = clone(pack);
    signoffsOf(junk).push({ ...signoffsOf(junk)[0]!, approver: 'mallory', credentialId: 'junk', receipt: { signature: 'junk' }, assertion: { id: 'junk' } });
    assertBroken(await verifyEvidencePack(reseal(junk, key)), null, /^the sign-off by mallory \(revision 2\) is recorded by no change\.signoff audit entry$/);

    // Forged in the pack and in its entry alike (what only the key holder could bind): the crypto still fails.
    const receipt = clone(pack);
    for (const r of [signoffDetail(receipt).receipt, signoffsOf(receipt)[0]!.receipt as SignOffReceipt]) r.revision = 1;
    const rr = await verifyEvidencePack(reseal(receipt, key));
    assertBroken(rr, null, /^the sign-off by grace \(revision 2\) in entry 11: its receipt is for revision 1$/);

    const resigned = clone(pack);
    for (const r of [signoffDetail(resigned).receipt, signoffsOf(resigned)[0]!.receipt as SignOffReceipt]) r.signedAt = '2025-01-01T00:00:00.000Z';
    signoffsOf(resigned)[0]!.at = '2025-01-01T00:00:00.000Z';
    assertBroken(await verifyEvidencePack(reseal(resigned, key)), null, /^the sign-off by grace \(revision 2\) in entry 11 does not verify: receipt signature does not verify with the server key$/);

    const assertion = clone(pack);
    const parsed = JSON.parse(signoffDetail(assertion).assertion) as { response: { authenticatorData: string } };
    const authData = Buffer.from(parsed.response.authenticatorData, 'base64url');
    authData[36]! ^= 0x01;
    parsed.response.authenticatorData = authData.toString('base64url');
    signoffDetail(assertion).assertion = canonicalJson(parsed);
    signoffsOf(assertion)[0]!.assertion = parsed;
    assertBroken(await verifyEvidencePack(reseal(assertion, key)), null,
      /^the sign-off by grace \(revision 2\) in entry 11 does not verify: assertion does not match the receipt assertionHash; passkey signature does not verify$/);
  });
});

describe('evidence page (HTML)', () => {
  it('is readable, escaped, script-free, and verifies through its embedded pack', async () => {
    const { pack } = await exported();
    const html = renderEvidenceHtml(pack);
    assert.equal((await verifyEvidenceHtml(html)).ok, true);
    const scripts = html.match(/<script[^>]*>/g) ?? [];
    assert.deepEqual(scripts, ['<script type="application/json" id="evidence">']);
    assert.ok(!html.includes('<img'), 'annotation HTML is escaped');
    assert.ok(!html.includes('<b>x</b>'), 'native form is escaped');
    assert.ok(html.includes('Incident response &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; more'));
    assert.match(html, /<span class="ln">2<\/span>acl:0:\/vms\/101:bob@pve:&#60;\/pre&#62;/);
    assert.match(html, /<tr class="risk">.*VM\.Console.*HIGH RISK/);
    assert.match(html, /<tr class="stale"><td>erin<\/td><td><strong>reject<\/strong><\/td><td>i2<\/td><td>too broad<\/td><td>1<\/td>/);
    assert.match(html, /<td>dave<\/td><td><strong>approve<\/strong><\/td><td>i1<\/td><td><\/td><td>1<\/td>.*<td>current<\/td>/);
    assert.match(html, /<tr class="refused"><td>9<\/td>.*mallory/);
    assert.match(html, /npm run accord -- audit verify --pack/);
    assert.ok(html.includes(signoffsOf(pack)[0]!.credentialId));
  });

  it('fails when a vote is edited in the visible table or in the embedded pack', async () => {
    const { pack } = await exported();
    const html = renderEvidenceHtml(pack);
    const visible = html.replace('<td>erin</td><td><strong>reject</strong>', '<td>erin</td><td><strong>approve</strong>');
    assert.notEqual(visible, html);
    assertBroken(await verifyEvidenceHtml(visible), null, /differs from the rendering of its verified pack at line \d+/);
    const embedded = html.replace('"choice":"reject"', '"choice":"approve"');
    assert.notEqual(embedded, html);
    assertBroken(await verifyEvidenceHtml(embedded), 12, /differs from what this export recorded/);
    assertBroken(await verifyEvidenceHtml('<html></html>'), null, /no embedded evidence pack/);
  });
});
