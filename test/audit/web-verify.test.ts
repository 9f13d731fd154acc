/**
 * The browser's pack verifier (web/lib/evidence-verify.ts), run here on Node's WebCrypto: it must agree
 * with the server's verifier on the checks it mirrors.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evidenceDigest } from '../../server/audit/evidence.ts';
import type { EvidencePack } from '../../server/audit/evidence.ts';
import { verifyEvidencePack } from '../../server/audit/verify-pack.ts';
import type { SignOffReceipt } from '../../server/auth/webauthn/receipt.ts';
import { verifyPack } from '../../web/lib/evidence-verify.ts';
import type { PackVerdict } from '../../web/lib/evidence-verify.ts';
import { clone, exported, reseal, signoffsOf } from './fixtures.ts';

function assertBroken(v: PackVerdict, part: string, reason: RegExp): void {
  assert.equal(v.ok, false, 'verification should fail');
  if (v.ok) return;
  assert.equal(v.part, part, v.reason);
  assert.match(v.reason, reason);
}

const receiptsOf = (p: EvidencePack): SignOffReceipt[] => [
  (p.audit.entries.find((e) => e.action === 'change.signoff')!.detail as { receipt: SignOffReceipt }).receipt,
  signoffsOf(p)[0]!.receipt as SignOffReceipt,
];

describe('verifying a pack in the browser', () => {
  it('accepts an exported pack, with its votes and sign-off receipt', async () => {
    const { pack, key } = await exported();
    assert.deepEqual(await verifyPack(clone(pack)), { ok: true, entries: 11, lastSeq: 12, keyId: key.keyId, digest: evidenceDigest(pack), votes: 3, signoffs: 1 });
  });

  it('fails what the server fails: a vote no entry records, a status, a revision content, a re-signed receipt, a /1 pack', async () => {
    const { pack, key } = await exported();
    const vote = clone(pack);
    vote.change.votes.push({ voter: 'mallory', choice: 'approve', revision: 2, revisionHash: vote.change.revisions[1]!.hash, castAt: '2025-03-02T13:00:00.000Z' });
    assertBroken(await verifyPack(reseal(vote, key)), 'derived from the audit entries', /^the change has a vote by mallory \(approve on revision 2\) that no audit entry records$/);
    const status = clone(pack);
    status.change.status = 'applied';
    assertBroken(await verifyPack(reseal(status, key)), 'derived from the audit entries', /status is applied/);
    const content = clone(pack);
    content.change.revisions[0]!.content.items[0]!.id = 'i9';
    assertBroken(await verifyPack(reseal(content, key)), 'derived from the audit entries', /^revision 1's hash is not the hash of its content/);
    const receipt = clone(pack);
    for (const r of receiptsOf(receipt)) r.signedAt = '2025-01-01T00:00:00.000Z';
    signoffsOf(receipt)[0]!.at = '2025-01-01T00:00:00.000Z';
    const resealed = reseal(receipt, key);
    assertBroken(await verifyPack(resealed), 'sign-offs', /in entry 11 does not verify: receipt signature does not verify with the server key$/);
    const server = await verifyEvidencePack(resealed);
    assert.equal(server.ok, false);
    const nonce = clone(pack);
    for (const r of receiptsOf(nonce)) r.revisionHash = r.revisionHash.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'));
    assertBroken(await verifyPack(reseal(nonce, key)), 'derived from the audit entries', /its receipt is for revision hash/);
    assertBroken(await verifyPack({ ...clone(pack), format: 'accord-evidence/1' as never }), 'format', /accord-evidence\/1 pack: .* export the change again/);
  });
});
