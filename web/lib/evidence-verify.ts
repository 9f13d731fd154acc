/**
 * Verifies an evidence pack in the browser, as `server/audit/verify.ts` `verifyEvidencePack` does:
 * the audit hash chain (entryHash over canonical JSON), the Ed25519 checkpoint signature over the
 * last entry (WebCrypto, with the pack's SPKI key), the content digest recorded by the
 * `evidence.export` entry, and each vote's revision hash. Reports the first broken part.
 */
import { canonicalJson, sha256Hex } from './canonical.ts';
import type { EvidencePack } from './types.ts';

export type PackVerdict =
  | { ok: true; entries: number; lastSeq: number; keyId: string; digest: string }
  | { ok: false; seq: number | null; part: string; reason: string };

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const HEX64 = /^[0-9a-f]{64}$/;
const GENESIS_HASH = '0'.repeat(64);
const FORMAT = 'accord-evidence/1';

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

export async function verifyPack(pack: EvidencePack): Promise<PackVerdict> {
  if (pack?.format !== FORMAT) return broken('format', null, `not an ${FORMAT} pack`);
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

  // 2. The signed checkpoint over the last entry, with the pack's own key.
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
  for (const vote of change.votes) {
    const revision = change.revisions.find((r) => r.number === vote.revision);
    if (!revision || revision.hash !== vote.revisionHash) return broken('votes', binding.seq, `vote by ${vote.voter} names revision ${vote.revision}, whose hash is not ${vote.revisionHash}`);
  }
  return { ok: true, entries: entries.length, lastSeq: last.seq, keyId, digest };
}

