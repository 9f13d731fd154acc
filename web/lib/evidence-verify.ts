/**
 * Verifies an evidence pack in the browser, as `server/audit/verify-pack.ts` `verifyEvidencePack` does:
 * the audit hash chain (entryHash over canonical JSON), the Ed25519 signature over the last entry
 * (WebCrypto, with the pack's SPKI key), the content digest recorded by the `evidence.export` entry, that
 * the revisions (hashes recomputed from their content), votes, recusals, status and sign-offs are exactly
 * what the change's audit entries record (the server's own rules: server/audit/pack-content.ts), and each
 * sign-off's receipt: the server's signature, the assertion hash and the challenge commitment. The
 * approver's passkey signature itself (COSE keys, several algorithms) is checked only by
 * `accord audit verify --pack`. Reports the first broken part.
 */
import { checkContent } from '../../server/audit/pack-content.ts';
import type { ComputedHashes, RecordedSignOff } from '../../server/audit/pack-content.ts';
import { canonicalJson, sha256Hex } from './canonical.ts';
import type { EvidencePack } from './types.ts';

export type PackVerdict =
  | { ok: true; entries: number; lastSeq: number; keyId: string; digest: string; votes: number; signoffs: number }
  | { ok: false; seq: number | null; part: string; reason: string };

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const HEX64 = /^[0-9a-f]{64}$/;
const GENESIS_HASH = '0'.repeat(64);
const FORMAT = 'accord-evidence/2';
/** server/auth/webauthn/receipt.ts and challenge.ts: what the server signs, and what a sign-off challenge commits to. */
const RECEIPT_DOMAIN = 'accord-receipt:v1\n';
const CHALLENGE_DOMAIN = 'accord-signoff:v1';

const broken = (part: string, seq: number | null, reason: string): PackVerdict => ({ ok: false, seq, part, reason });

type Entry = EvidencePack['audit']['entries'][number];

/** The hash the server computed for an entry (server/audit/entry.ts `entryHash`). */
export function entryHash(e: Omit<Entry, 'hash'>): Promise<string> {
  return sha256Hex(canonicalJson({
    seq: e.seq, at: e.at, actor: e.actor, action: e.action, subject: e.subject,
    outcome: e.outcome, detail: e.detail ?? null, prevHash: e.prevHash,
  }));
}

/** SHA-256 over the canonical JSON of the pack's content (server/audit/evidence.ts `evidenceDigest`). */
export function evidenceDigest(pack: Pick<EvidencePack, 'format' | 'change' | 'annotations' | 'signoffs'>): Promise<string> {
  return sha256Hex(canonicalJson({ format: pack.format, change: pack.change, annotations: pack.annotations, signoffs: pack.signoffs }));
}

/** A revision's content hash and item hashes (server/domain/review/canonical.ts), recomputed here. */
async function revisionHashes(content: EvidencePack['change']['revisions'][number]['content']): Promise<ComputedHashes> {
  try {
    const items: [string, string][] = [];
    for (const item of content.items) {
      if (items.some(([id]) => id === item.id)) return { error: `duplicate item id ${JSON.stringify(item.id)}` };
      items.push([item.id, await sha256Hex(canonicalJson(item))]);
    }
    return { contentHash: await sha256Hex(canonicalJson(content)), itemHashes: Object.fromEntries(items) };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

function pemToDer(pem: string): Uint8Array<ArrayBuffer> | null {
  const match = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(pem);
  if (!match) return null;
  try {
    return Uint8Array.from(atob(match[1]!.replace(/\s+/g, '')), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function base64ToBytes(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    // Only the one canonical spelling (as the server checks): no padding games.
    return btoa(String.fromCharCode(...bytes)) === text ? bytes : null;
  } catch {
    return null;
  }
}

function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  return base64ToBytes(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
}

function bytesToBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** server/auth/webauthn/challenge.ts `signOffChallenge`, with WebCrypto. */
async function signOffChallenge(changeId: string, revision: number, revisionHash: string, nonce: Uint8Array): Promise<string> {
  const u32 = (n: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b; };
  const text = (t: string) => { const b = new TextEncoder().encode(t); return [u32(b.length), b]; };
  const parts = [new TextEncoder().encode(CHALLENGE_DOMAIN), ...text(changeId), u32(revision), ...text(revisionHash), nonce];
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => { all.set(p, at); return at + p.length; }, 0);
  return bytesToBase64Url(new Uint8Array(await crypto.subtle.digest('SHA-256', all)));
}

/**
 * What the browser can check of a sign-off (server/auth/webauthn/evidence.ts does the rest): the
 * server's Ed25519 signature over the receipt, that the stored assertion is the one the receipt hashes,
 * and that the challenge commits to the receipt's revision hash. Problems found (empty = fine).
 */
async function receiptProblems(s: RecordedSignOff, key: CryptoKey): Promise<string[]> {
  const problems: string[] = [];
  const { signature, ...body } = s.receipt;
  const sig = typeof signature === 'string' ? base64UrlToBytes(signature) : null;
  const message = new TextEncoder().encode(RECEIPT_DOMAIN + canonicalJson(body));
  if (!sig || !(await crypto.subtle.verify('Ed25519', key, sig, message))) problems.push('receipt signature does not verify with the server key');
  if ((await sha256Hex(s.assertion)) !== body.assertionHash) problems.push('assertion does not match the receipt assertionHash');
  const nonce = typeof body.nonce === 'string' ? base64UrlToBytes(body.nonce) : null;
  if (!nonce || nonce.length !== 16 || typeof body.changeId !== 'string' || typeof body.revision !== 'number' || typeof body.revisionHash !== 'string' ||
    (await signOffChallenge(body.changeId, body.revision, body.revisionHash, nonce)) !== body.challenge) {
    problems.push('challenge does not commit to the receipt revision hash');
  }
  return problems;
}

export async function verifyPack(pack: EvidencePack): Promise<PackVerdict> {
  const format = (pack as { format?: unknown } | null)?.format;
  if (format === 'accord-evidence/1') {
    return broken('format', null, 'this is an accord-evidence/1 pack: its votes and sign-offs are not bound to audit entries, so it cannot be verified; export the change again');
  }
  if (format !== FORMAT) return broken('format', null, `not an ${FORMAT} pack`);
  const entries = pack.audit?.entries;
  if (!Array.isArray(entries) || entries.length === 0) return broken('audit', null, 'the pack has no audit entries');

  // 1. The hash chain, entry by entry.
  let prev: Entry | undefined;
  for (const e of entries) {
    const expected = prev ? prev.seq + 1 : entries[0]!.seq;
    if (e.seq !== expected) return broken('audit chain', expected, prev ? `missing (the log jumps from entry ${prev.seq} to ${e.seq})` : 'malformed seq');
    if (typeof e.at !== 'string' || !ISO.test(e.at)) return broken('audit chain', e.seq, 'malformed: at is not an ISO 8601 UTC time');
    if (e.outcome !== 'ok' && e.outcome !== 'refused') return broken('audit chain', e.seq, 'malformed: outcome is neither ok nor refused');
    if (!HEX64.test(e.prevHash) || !HEX64.test(e.hash)) return broken('audit chain', e.seq, 'malformed: hash or prevHash is not SHA-256 hex');
    const { hash, ...fields } = e;
    if ((await entryHash(fields)) !== hash) return broken('audit chain', e.seq, 'hash mismatch: the entry was changed after it was written');
    if (prev && e.prevHash !== prev.hash) return broken('audit chain', e.seq, `chain broken: prevHash is not the hash of entry ${prev.seq}`);
    if (!prev && e.seq === 1 && e.prevHash !== GENESIS_HASH) return broken('audit chain', 1, 'chain broken: entry 1 does not start from the genesis hash');
    if (prev && e.at < prev.at) return broken('audit chain', e.seq, `out of order: recorded earlier than entry ${prev.seq}`);
    prev = e;
  }
  const last = prev!;

  // 2. The signed head over the last entry, with the pack's own key.
  const der = pemToDer(pack.audit.publicKeyPem);
  if (!der) return broken('signature', null, 'the public key is not a PEM public key');
  const keyId = (await sha256Hex(der)).slice(0, 16);
  if (keyId !== pack.audit.keyId) return broken('signature', null, `the pack's key id ${pack.audit.keyId} is not the id of its public key (${keyId})`);
  const cp = pack.audit.checkpoint;
  if (cp.keyId !== keyId) return broken('signature', cp.seq, `checkpoint signed by key ${cp.keyId}, not by ${keyId}`);
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('spki', der, { name: 'Ed25519' }, false, ['verify']);
  } catch {
    return broken('signature', null, 'the public key is not an Ed25519 key (or this browser lacks Ed25519)');
  }
  const signature = base64ToBytes(cp.signature);
  const message = new TextEncoder().encode(canonicalJson({ type: 'accord-audit-checkpoint/1', seq: cp.seq, hash: cp.hash, keyId: cp.keyId, at: cp.at }));
  if (!signature || !(await crypto.subtle.verify('Ed25519', key, signature, message))) return broken('signature', cp.seq, 'checkpoint signature does not verify');
  if (cp.seq !== last.seq) return broken('signature', cp.seq, "the pack's checkpoint does not sign the end of its audit segment");
  if (cp.hash !== last.hash) return broken('signature', cp.seq, 'hash does not match its signed checkpoint (rewritten after signing)');

  // 3. The content, bound by the last evidence.export entry about this change.
  const change = pack.change;
  if (pack.audit.subject !== change.id) return broken('content', null, `the audit segment is about ${pack.audit.subject}, the change is ${change.id}`);
  if (entries[0]!.subject !== change.id) return broken('content', entries[0]!.seq, `the audit segment does not start with an entry about ${change.id}`);
  const binding = entries.findLast((e) => e.action === 'evidence.export' && e.subject === change.id && e.outcome === 'ok');
  if (!binding) return broken('content', null, 'no evidence.export entry in the signed segment binds the pack\'s content');
  const digest = await evidenceDigest(pack);
  if ((binding.detail as { digest?: unknown } | null)?.digest !== digest) {
    return broken('content', binding.seq, "the pack's content (change, votes, annotations, sign-offs) differs from what this export recorded");
  }

  // 4. The content is what the change's audit entries record (before the export).
  const computed = await Promise.all(change.revisions.map((r) => revisionHashes(r.content)));
  const checked = checkContent({ change, signoffs: pack.signoffs, entries: entries.filter((e) => e.seq < binding.seq), computed, keyId });
  if (!checked.ok) return broken('derived from the audit entries', null, checked.reason);

  // 5. Each sign-off's receipt (its passkey assertion is checked by `accord audit verify --pack`).
  for (const s of checked.signoffs) {
    const problems = await receiptProblems(s, key);
    if (problems.length > 0) return broken('sign-offs', null, `the sign-off by ${s.approver} (revision ${s.revision}) in entry ${s.entry.seq} does not verify: ${problems.join('; ')}`);
  }
  return { ok: true, entries: entries.length, lastSeq: last.seq, keyId, digest, votes: checked.votes, signoffs: checked.signoffs.length };
}
